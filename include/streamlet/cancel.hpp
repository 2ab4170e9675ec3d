// A shared cancellation flag, for long work (a transcode, a job, an upload) that another
// thread may stop.
#pragma once

#include <atomic>
#include <memory>

namespace streamlet {

// Copy it freely: copies share one flag. cancel() from any thread or a signal handler (it
// only stores an atomic).
class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() const { flag_->store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace streamlet
