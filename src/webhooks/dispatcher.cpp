// WebhookDispatcher: one thread delivering due attempts in time order, with
// an optional append-only journal (JSON lines) so a restart resumes pending
// deliveries. The journal is compacted at start: it only ever holds what was
// pending at the last start plus what happened since.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "streamlet/webhooks.hpp"

namespace streamlet::webhooks {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kJournalName = "webhooks.jsonl";

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Delivery {
  uint64_t id = 0;
  std::string url, event, body;
  int attempts = 0;       // made so far
  int64_t due_ms = 0;     // wall clock, for the journal
  Clock::time_point due;  // steady clock, for waiting
};

// Retry only what may succeed later: no answer, server errors, 408, 429.
bool retryable(int status) {
  return status == 0 || status >= 500 || status == 408 || status == 429;
}

}  // namespace

struct WebhookDispatcher::Impl {
  Options options;
  std::shared_ptr<HttpPost> transport;
  fs::path journal_path;
  int journal_fd = -1;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Delivery> pending;
  uint64_t next_id = 1;
  bool accepting = true;
  bool stopping = false;
  Clock::time_point drain_deadline = Clock::time_point::max();
  Stats stats;
  std::thread worker;

  ~Impl() {
    if (journal_fd >= 0) ::close(journal_fd);
  }

  std::chrono::milliseconds backoff(int failed_attempts) const {
    double ms = double(options.backoff_base.count()) * std::pow(2.0, failed_attempts - 1);
    return std::chrono::milliseconds(
        static_cast<int64_t>(std::min(ms, double(options.backoff_cap.count()))));
  }

  // Appends one record; a torn last line is skipped when the journal is read.
  void journal(const nlohmann::json& record) {
    if (journal_fd < 0) return;
    std::string line = streamlet::detail::json_text(record) + "\n";
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::write(journal_fd, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // best effort: delivery goes on even if the disk does not
      off += static_cast<size_t>(n);
    }
    ::fdatasync(journal_fd);
  }

  static nlohmann::json add_record(const Delivery& d) {
    return {{"op", "add"},       {"id", d.id},     {"url", d.url},
            {"event", d.event},  {"body", d.body}, {"attempts", d.attempts},
            {"due_ms", d.due_ms}};
  }

  // Applies one journal record. One that is JSON but not a record we write (wrong types, an
  // unknown op) was not torn by a crash: something else changed the file, and guessing what
  // it meant could drop or repeat deliveries, so it is refused with what is wrong.
  Status replay(const nlohmann::json& r, int64_t now_ms) {
    const std::string fix =
        "; fix or remove the line (removing the file drops every pending delivery)";
    auto bad = [&](const std::string& what) {
      return Status(ErrorCode::kInvalidArgument, what + fix);
    };
    if (!r.is_object()) return bad("not a journal record (a JSON object)");
    if (!r.contains("op") || !r["op"].is_string()) return bad("\"op\" must be a string");
    if (!r.contains("id") || !r["id"].is_number_unsigned())
      return bad("\"id\" must be a non-negative integer");
    for (const char* key : {"url", "event", "body"})
      if (r.contains(key) && !r[key].is_string())
        return bad("\"" + std::string(key) + "\" must be a string");
    if (r.contains("attempts") && !r["attempts"].is_number_unsigned())
      return bad("\"attempts\" must be a non-negative integer");
    if (r.contains("due_ms") && !r["due_ms"].is_number_integer())
      return bad("\"due_ms\" must be an integer");
    const uint64_t id = r["id"].get<uint64_t>();
    const std::string op = r["op"].get<std::string>();
    auto attempts = [&] {
      return static_cast<int>(std::min<uint64_t>(r.value("attempts", uint64_t{0}), 1u << 20));
    };
    if (op == "add") {
      Delivery d;
      d.id = id;
      d.url = r.value("url", "");
      d.event = r.value("event", "");
      d.body = r.value("body", "");
      d.attempts = attempts();
      d.due_ms = r.value("due_ms", now_ms);
      pending[id] = std::move(d);
    } else if (op == "retry") {
      if (auto it = pending.find(id); it != pending.end()) {
        it->second.attempts = attempts();
        it->second.due_ms = r.value("due_ms", now_ms);
      }
    } else if (op == "done") {
      pending.erase(id);
    } else {
      return bad("unknown op \"" + op + "\"");
    }
    next_id = std::max(next_id, id + 1);
    return Status::Ok();
  }

  Status open_journal() {
    if (options.state_dir.empty()) return Status::Ok();
    std::error_code ec;
    fs::create_directories(options.state_dir, ec);
    if (ec)
      return Status(ErrorCode::kIo, "webhooks: create " + options.state_dir + ": " + ec.message());
    journal_path = fs::path(options.state_dir) / kJournalName;
    std::ifstream in(journal_path);
    const int64_t now_ms = unix_ms_now();
    size_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      auto r = nlohmann::json::parse(line, nullptr, false);
      // What is not JSON at all is a torn append (a crash, a full disk): nothing to resume.
      if (r.is_discarded()) continue;
      STREAMLET_RETURN_IF_ERROR(replay(r, now_ms).with_context(journal_path.string() + " line " +
                                                               std::to_string(line_no)));
    }
    std::string compacted;
    const auto now = Clock::now();
    for (auto& [id, d] : pending) {
      d.due = now + std::chrono::milliseconds(std::max<int64_t>(0, d.due_ms - now_ms));
      compacted += streamlet::detail::json_text(add_record(d)) + "\n";
    }
    STREAMLET_RETURN_IF_ERROR(streamlet::detail::write_file_atomic(journal_path, compacted));
    journal_fd = ::open(journal_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (journal_fd < 0)
      return streamlet::detail::errno_status(errno, "webhooks journal", journal_path);
    stats.pending = pending.size();
    return Status::Ok();
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      if (pending.empty()) {
        if (stopping) return;
        cv.wait(lock);
        continue;
      }
      auto next = std::min_element(
          pending.begin(), pending.end(),
          [](const auto& a, const auto& b) { return a.second.due < b.second.due; });
      const auto now = Clock::now();
      if (stopping && (now >= drain_deadline || next->second.due > drain_deadline)) return;
      if (next->second.due > now) {
        cv.wait_until(lock,
                      stopping ? std::min(next->second.due, drain_deadline) : next->second.due);
        continue;
      }
      Delivery d = next->second;
      lock.unlock();
      AttemptReport report = attempt(d);
      lock.lock();
      // Book-keeping first, so a report's reader sees stats that include it.
      ++stats.attempts;
      auto it = pending.find(d.id);
      if (it != pending.end()) {
        if (report.final) {
          pending.erase(it);
          ++(report.delivered ? stats.delivered : stats.failed);
          journal({{"op", "done"}, {"id", d.id}});
        } else {
          it->second.attempts = report.attempt;
          it->second.due = Clock::now() + report.retry_in;
          it->second.due_ms = unix_ms_now() + report.retry_in.count();
          journal({{"op", "retry"},
                   {"id", d.id},
                   {"attempts", report.attempt},
                   {"due_ms", it->second.due_ms}});
        }
      }
      stats.pending = pending.size();
      if (options.on_attempt) {
        lock.unlock();
        options.on_attempt(report);
        lock.lock();
      }
      cv.notify_all();
    }
  }

  AttemptReport attempt(const Delivery& d) {
    AttemptReport r;
    r.delivery_id = d.id;
    r.url = d.url;
    r.event = d.event;
    r.attempt = d.attempts + 1;
    Headers headers = {{"Content-Type", "application/json"},
                       {"User-Agent", "streamlet-webhooks/1"},
                       {"Streamlet-Event", d.event},
                       {"Streamlet-Delivery", std::to_string(d.id)}};
    if (!options.secret.empty()) {
      // A fresh timestamp per attempt: a retry an hour later still verifies.
      const int64_t t = unix_ms_now() / 1000;
      headers.emplace_back("Streamlet-Signature", sign(options.secret, t, d.body));
    }
    auto result = transport->post(d.url, headers, d.body, options.timeout);
    bool give_up_now = false;
    if (result.ok()) {
      r.status = *result;
      r.delivered = r.status >= 200 && r.status < 300;
      give_up_now = !r.delivered && !retryable(r.status);
    } else {
      r.error = result.status().to_string();
      // A URL we can never reach (bad scheme, malformed) will not get better.
      give_up_now = result.status().code() == ErrorCode::kUnsupported ||
                    result.status().code() == ErrorCode::kInvalidArgument;
    }
    r.final = r.delivered || give_up_now || r.attempt >= options.max_attempts;
    if (!r.final) r.retry_in = backoff(r.attempt);
    return r;
  }
};

WebhookDispatcher::WebhookDispatcher() : impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::start(Options options) {
  if (options.max_attempts < 1)
    return Status(ErrorCode::kInvalidArgument, "webhooks: max_attempts must be at least 1");
  if (options.backoff_base.count() < 0 || options.backoff_cap.count() < 0 ||
      options.timeout.count() <= 0)
    return Status(ErrorCode::kInvalidArgument, "webhooks: negative backoff or no timeout");
  std::unique_ptr<WebhookDispatcher> d(new WebhookDispatcher());
  Impl& impl = *d->impl_;
  impl.transport =
      options.transport ? options.transport : std::shared_ptr<HttpPost>(make_http_post());
  impl.options = std::move(options);
  STREAMLET_RETURN_IF_ERROR(impl.open_journal());
  impl.worker = std::thread([&impl] { impl.run(); });
  return d;
}

WebhookDispatcher::~WebhookDispatcher() {
  stop(std::chrono::milliseconds(0));
}

Status WebhookDispatcher::enqueue(std::string_view event, std::string body) {
  if (event.empty()) return Status(ErrorCode::kInvalidArgument, "webhooks: empty event name");
  std::lock_guard lock(impl_->mu);
  if (!impl_->accepting) return Status(ErrorCode::kCancelled, "webhooks: dispatcher stopped");
  const auto now = Clock::now();
  const int64_t now_ms = unix_ms_now();
  for (const auto& url : impl_->options.urls) {
    Delivery d;
    d.id = impl_->next_id++;
    d.url = url;
    d.event = std::string(event);
    d.body = body;
    d.due = now;
    d.due_ms = now_ms;
    impl_->journal(Impl::add_record(d));
    impl_->pending.emplace(d.id, std::move(d));
  }
  impl_->stats.pending = impl_->pending.size();
  impl_->cv.notify_all();
  return Status::Ok();
}

void WebhookDispatcher::stop(std::chrono::milliseconds drain) {
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

WebhookDispatcher::Stats WebhookDispatcher::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace streamlet::webhooks
