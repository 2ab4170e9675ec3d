// The API on connections the origin front hands over. streamlet-server's routes live in a
// cpp-httplib Server; the front owns the public socket, so httplib never accepts: each
// handed-over connection runs httplib's own request processing on one of our threads,
// over a Stream that first replays the bytes the front already read.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace streamlet::server {

struct ConnectionLimits {
  std::chrono::seconds read_timeout{30};   // a request's bytes must keep coming
  std::chrono::seconds write_timeout{30};  // the client must keep reading
  std::chrono::seconds keep_alive{5};      // idle wait for the next request
  size_t max_requests = 100;               // requests per connection
};

// True when the request at the start of `head` is a long-lived one (an SSE progress
// stream) that should not occupy a thread of the API pool for its whole life.
bool is_long_lived_request(std::string_view head);

// Threads for long-lived requests, one each, up to a limit: a page following a transcode
// holds its SSE stream for minutes, and a fixed pool of such streams would starve every
// other API call. wait() joins them at shutdown.
class StreamThreads {
 public:
  explicit StreamThreads(size_t max) : max_(max) {}
  ~StreamThreads() { wait(); }
  // Runs `fn` on a new thread; false (nothing started) when `max` are running.
  bool spawn(std::function<void()> fn);
  void wait();

 private:
  size_t max_;
  std::mutex mu_;
  std::condition_variable idle_;
  size_t running_ = 0;
};

class ApiServer : public httplib::Server {
 public:
  ~ApiServer() override { end_handoffs(); }
  // httplib ends streamed answers (SSE, content providers) as soon as its listening
  // socket is gone, and with handed-over connections it never listens: a placeholder
  // socket stands for "serving" from begin_handoffs() until end_handoffs().
  bool begin_handoffs();
  void end_handoffs();

  // Serves `fd` until the client leaves, a limit is reached, or `stopping` is set (then
  // after the request in progress), and closes it. With `give_back`, a connection that
  // is between requests goes back to the front instead (give_back owns it then), so an
  // idle keep-alive connection holds no thread. Blocks; run it on a worker.
  void serve_connection(int fd, std::string already_read, const ConnectionLimits& limits,
                        const std::atomic<bool>& stopping,
                        const std::function<void(int fd)>& give_back = {});
};

}  // namespace streamlet::server
