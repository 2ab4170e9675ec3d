// Mailer: one thread sending due messages in time order, retrying with exponential backoff.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "core/crypto.hpp"
#include "streamlet/mail.hpp"

namespace streamlet::mail {

namespace {
using Clock = std::chrono::steady_clock;

struct Pending {
  std::string from, to, wire;
  int attempts = 0;
  Clock::time_point due;
};
}  // namespace

struct Mailer::Impl {
  MailerOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Pending> pending;
  uint64_t next_id = 1;
  bool accepting = true;
  bool stopping = false;
  Clock::time_point drain_deadline = Clock::time_point::max();
  Stats stats;
  std::thread worker;

  std::chrono::milliseconds backoff(int failed_attempts) const {
    const double ms = double(options.backoff_base.count()) * std::pow(2.0, failed_attempts - 1);
    return std::chrono::milliseconds(
        static_cast<int64_t>(std::min(ms, double(options.backoff_cap.count()))));
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      if (pending.empty()) {
        if (stopping) return;
        cv.wait(lock);
        continue;
      }
      auto next = std::min_element(pending.begin(), pending.end(), [](const auto& a, const auto& b) {
        return a.second.due < b.second.due;
      });
      const auto now = Clock::now();
      if (stopping && (now >= drain_deadline || next->second.due > drain_deadline)) {
        stats.abandoned += pending.size();
        pending.clear();
        stats.pending = 0;
        return;
      }
      if (next->second.due > now) {
        cv.wait_until(lock, stopping ? std::min(next->second.due, drain_deadline) : next->second.due);
        continue;
      }
      const uint64_t id = next->first;
      Pending m = next->second;
      lock.unlock();
      const Status sent = options.transport->send(m.from, m.to, m.wire);
      lock.lock();
      AttemptReport r;
      r.id = id;
      r.to = m.to;
      r.attempt = m.attempts + 1;
      r.sent = sent.ok();
      r.error = sent.ok() ? "" : sent.to_string();
      const bool refused = sent.code() == ErrorCode::kInvalidArgument ||
                           sent.code() == ErrorCode::kPermissionDenied;
      r.final = r.sent || refused || r.attempt >= options.max_attempts;
      ++stats.attempts;
      auto it = pending.find(id);
      if (r.final) {
        pending.erase(it);
        ++(r.sent ? stats.sent : stats.failed);
      } else {
        r.retry_in = backoff(r.attempt);
        it->second.attempts = r.attempt;
        it->second.due = Clock::now() + r.retry_in;
        ++stats.retries;
      }
      stats.pending = pending.size();
      if (options.on_attempt) {
        lock.unlock();
        options.on_attempt(r);
        lock.lock();
      }
      cv.notify_all();
    }
  }
};

Mailer::Mailer() : impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<Mailer>> Mailer::start(MailerOptions options) {
  if (!options.transport) return Status(ErrorCode::kInvalidArgument, "mail: no transport");
  if (options.max_attempts < 1)
    return Status(ErrorCode::kInvalidArgument, "mail: max_attempts must be at least 1");
  if (options.backoff_base.count() < 0 || options.backoff_cap.count() < 0)
    return Status(ErrorCode::kInvalidArgument, "mail: negative backoff");
  std::unique_ptr<Mailer> m(new Mailer());
  m->impl_->options = std::move(options);
  Impl& impl = *m->impl_;
  impl.worker = std::thread([&impl] { impl.run(); });
  return m;
}

Mailer::~Mailer() {
  stop(std::chrono::milliseconds(0));
}

Result<uint64_t> Mailer::enqueue(const Message& message) {
  // The id's domain part says who made it; the random part makes it unique.
  const std::string message_id = detail::random_id(24) + "@streamlet";
  STREAMLET_ASSIGN_OR_RETURN(std::string wire, render(message, message_id));
  std::unique_lock lock(impl_->mu);
  if (!impl_->accepting) return Status(ErrorCode::kCancelled, "mail: the mailer is stopped");
  if (impl_->pending.size() >= impl_->options.max_pending) {
    // Not silently: counted failed and reported like a last attempt.
    ++impl_->stats.failed;
    AttemptReport r{.id = impl_->next_id++, .to = message.to, .final = true,
                    .error = "mail: " + std::to_string(impl_->pending.size()) +
                             " messages already waiting; this one is dropped"};
    lock.unlock();
    if (impl_->options.on_attempt) impl_->options.on_attempt(r);
    return Status(ErrorCode::kResourceExhausted, r.error);
  }
  const uint64_t id = impl_->next_id++;
  impl_->pending.emplace(id, Pending{message.from, message.to, std::move(wire), 0, Clock::now()});
  impl_->stats.pending = impl_->pending.size();
  impl_->cv.notify_all();
  return id;
}

void Mailer::stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->accepting = false;
    if (!impl_->stopping || Clock::now() + drain < impl_->drain_deadline)
      impl_->drain_deadline = Clock::now() + drain;
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->worker.joinable()) impl_->worker.join();
}

Mailer::Stats Mailer::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace streamlet::mail
