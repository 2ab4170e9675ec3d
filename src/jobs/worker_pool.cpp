#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "streamlet/jobs.hpp"

namespace streamlet::jobs {

struct WorkerPool::Impl {
  // What the pool knows about a job one of its threads is running.
  struct Running {
    CancelToken token;
    bool user_cancelled = false;  // cancel() was called on the queue
    bool requeue = false;         // stop(true) asked for it to go back to the queue
    bool lease_lost = false;      // another instance took it over: do not finish it
  };

  std::shared_ptr<JobQueue> queue;
  JobHandler handler;
  WorkerPoolOptions options;
  std::shared_ptr<events::EventBus> bus;

  std::mutex mutex;
  std::condition_variable wake_cv;
  uint64_t wake_generation = 0;
  bool started = false;
  bool stopping = false;
  bool monitor_stop = false;
  bool notified = false;  // the queue calls wake() itself: poll only as a safety net
  std::map<std::string, Running> running;
  std::vector<std::thread> workers;
  std::thread monitor;

  void publish_job(const Job& job, std::string message = {}) {
    if (handler.on_state_change) {
      try {
        handler.on_state_change(job);
      } catch (...) {
        // An observer's failure must not kill the worker thread.
      }
    }
    if (!bus) return;
    events::Event e;
    e.type = "job";
    e.video_id = job.video_id;
    e.job_id = job.id;
    e.state = std::string(to_string(job.state));
    e.message = message.empty() ? job.last_error : std::move(message);
    bus->publish(std::move(e));
  }

  // Idle wait: until the poll interval passes, wake() is called (since `gen` was read,
  // before the claim that found nothing, so a wake-up in between is not lost), or we stop.
  void idle(uint64_t gen) {
    std::unique_lock lock(mutex);
    const auto every =
        notified ? std::max(options.poll_interval, options.notified_poll_interval)
                 : options.poll_interval;
    wake_cv.wait_for(lock, every,
                     [&] { return stopping || wake_generation != gen; });
  }

  void worker_loop() {
    while (true) {
      uint64_t gen = 0;
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
        gen = wake_generation;
      }
      auto claimed = queue->claim(options.kinds);
      if (!claimed.ok() || !claimed->has_value()) {
        // A claim error (database busy past its timeout, disk trouble) is
        // retried at the next poll rather than ending the worker.
        idle(gen);
        continue;
      }
      Job job = std::move(**claimed);
      CancelToken token;
      {
        std::lock_guard lock(mutex);
        if (stopping) {
          (void)queue->release(job.id);
          return;
        }
        running[job.id].token = token;
      }
      publish_job(job);
      run_one(job, token);
    }
  }

  void run_one(const Job& job, const CancelToken& token) {
    ProgressFn progress = [&](double fraction, double fps, double speed) {
      if (!bus) return;
      events::Event e;
      e.type = "progress";
      e.video_id = job.video_id;
      e.job_id = job.id;
      e.state = "running";
      e.percent = std::clamp(fraction, 0.0, 1.0) * 100.0;
      e.fps = fps;
      e.speed = speed;
      bus->publish(std::move(e));
    };
    Status status;
    try {
      status = handler.run ? handler.run(job, token, progress)
                           : error(ErrorCode::kInternal, "worker pool has no handler");
    } catch (const std::exception& ex) {
      status = error(ErrorCode::kInternal, std::string("job handler threw: ") + ex.what());
    } catch (...) {
      status = error(ErrorCode::kInternal, "job handler threw");
    }

    Running info;
    {
      std::lock_guard lock(mutex);
      info = running[job.id];
      running.erase(job.id);
    }
    if (info.lease_lost) return;  // its new owner reports on it

    Result<Job> after = error(ErrorCode::kInternal, "unset");
    if (status.ok()) {
      Status done = queue->complete(job.id);
      if (!done.ok()) return;
      after = queue->get(job.id);
    } else if (info.user_cancelled) {
      after = queue->acknowledge_cancel(job.id);
    } else if (info.requeue) {
      Status released = queue->release(job.id);
      if (!released.ok()) return;
      after = queue->get(job.id);
    } else {
      after = queue->fail(job.id, status.to_string(), is_retryable(status));
    }
    if (after.ok()) publish_job(*after);
  }

  void monitor_loop() {
    const auto lease = queue->lease_duration();
    // Renew well before expiry so one slow renewal does not lose the lease.
    const auto renew_every = std::max(std::chrono::milliseconds(10), lease / 3);
    auto next_renew = std::chrono::steady_clock::now() + renew_every;
    // Other instances' jobs whose lease ran out are taken back once a lease (claim() only
    // queues them again; this also ends those out of attempts, and says so).
    auto next_recover = std::chrono::steady_clock::now() + lease;
    while (true) {
      std::vector<std::string> ids;
      {
        std::unique_lock lock(mutex);
        wake_cv.wait_for(lock, options.poll_interval, [&] { return monitor_stop; });
        if (monitor_stop) return;
        for (auto& [id, r] : running) ids.push_back(id);
      }
      const bool renew = std::chrono::steady_clock::now() >= next_renew;
      if (renew) next_renew = std::chrono::steady_clock::now() + renew_every;
      if (options.recover_on_start && std::chrono::steady_clock::now() >= next_recover) {
        next_recover = std::chrono::steady_clock::now() + lease;
        if (auto moved = queue->recover(); moved.ok())
          for (const Job& job : *moved) publish_job(job);
      }
      for (const auto& id : ids) {
        // A read is enough to see a cancel; the lease is only written when due.
        auto job = renew ? queue->renew_lease(id) : queue->get(id);
        std::lock_guard lock(mutex);
        auto it = running.find(id);
        if (it == running.end()) continue;
        if (!job.ok()) {
          if (job.status().code() == ErrorCode::kConflict) {
            it->second.lease_lost = true;
            it->second.token.cancel();
          }
          continue;
        }
        if (job->cancel_requested && !it->second.user_cancelled) {
          it->second.user_cancelled = true;
          it->second.token.cancel();
        }
      }
    }
  }
};

WorkerPool::WorkerPool(std::shared_ptr<JobQueue> queue, JobHandler handler,
                       WorkerPoolOptions options, std::shared_ptr<events::EventBus> bus)
    : impl_(std::make_unique<Impl>()) {
  impl_->queue = std::move(queue);
  impl_->handler = std::move(handler);
  impl_->options = std::move(options);
  impl_->bus = std::move(bus);
}

WorkerPool::~WorkerPool() {
  stop(true);
}

Status WorkerPool::start() {
  if (!impl_->queue) return error(ErrorCode::kInvalidArgument, "worker pool needs a queue");
  if (!impl_->handler.run) return error(ErrorCode::kInvalidArgument, "worker pool needs a handler");
  if (impl_->options.workers < 1)
    return error(ErrorCode::kInvalidArgument, "worker pool needs at least one worker");
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started) return error(ErrorCode::kConflict, "worker pool already started");
    impl_->started = true;
  }
  if (impl_->options.recover_on_start) {
    auto moved = impl_->queue->recover();
    if (!moved.ok()) return moved.status().with_context("recovering orphaned jobs");
    // A job dead-lettered here is as final as one a worker failed: its observers must hear.
    for (const Job& job : *moved) impl_->publish_job(job);
  }
  impl_->notified = impl_->queue->set_wake_callback([this] { wake(); });
  impl_->monitor = std::thread([this] { impl_->monitor_loop(); });
  for (int i = 0; i < impl_->options.workers; ++i)
    impl_->workers.emplace_back([this] { impl_->worker_loop(); });
  return Status::Ok();
}

void WorkerPool::wake() {
  {
    std::lock_guard lock(impl_->mutex);
    ++impl_->wake_generation;
  }
  impl_->wake_cv.notify_all();
}

void WorkerPool::stop(bool requeue_running) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->started || impl_->stopping) return;
    impl_->stopping = true;
    if (requeue_running) {
      for (auto& [id, r] : impl_->running) {
        r.requeue = true;
        r.token.cancel();
      }
    }
  }
  impl_->wake_cv.notify_all();
  if (impl_->notified) (void)impl_->queue->set_wake_callback({});
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  // The monitor outlives the workers: draining jobs still need lease renewals and cancels.
  {
    std::lock_guard lock(impl_->mutex);
    impl_->monitor_stop = true;
  }
  impl_->wake_cv.notify_all();
  if (impl_->monitor.joinable()) impl_->monitor.join();
}

}  // namespace streamlet::jobs
