// The event bus across hosts: InProcessBus for this process's subscribers, NOTIFY/LISTEN on
// one channel for everyone else's. An event is delivered here when it is published here,
// and sent as JSON tagged with this bus's id; the listener hands on what other buses sent
// and skips its own, so each process gets each event once.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "postgres/listener.hpp"
#include "postgres/pool.hpp"
#include "streamlet/postgres.hpp"

namespace streamlet::postgres {

namespace {

using json = nlohmann::json;

// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (the default build).
constexpr size_t kMaxPayload = 7999;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
void cut_utf8(std::string& s, size_t n) {
  if (s.size() <= n) return;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

class PgEventBus final : public events::InProcessBus {
 public:
  PgEventBus(std::shared_ptr<detail::Pool> pool, EventBusConfig config)
      : pool_(std::move(pool)), config_(std::move(config)), origin_(streamlet::detail::random_id(16)) {}

  ~PgEventBus() override {
    listener_.reset();
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_all();
    if (sender_.joinable()) sender_.join();
  }

  Status start(const std::string& url) {
    detail::ListenerCallbacks cb;
    cb.on_notify = [this](std::string_view payload) { received(payload); };
    STREAMLET_ASSIGN_OR_RETURN(listener_, detail::Listener::start(url, config_.channel, cb));
    sender_ = std::thread([this] { send_loop(); });
    return Status::Ok();
  }

  void publish(events::Event event) override {
    event.state = streamlet::detail::to_valid_utf8(event.state);
    event.message = streamlet::detail::to_valid_utf8(event.message);
    event.time_ms = streamlet::detail::now_ms();
    std::string wire = encode(event);
    // Stamped and delivered under one lock, so local subscribers see sequence order even
    // while the listener thread delivers other hosts' events.
    std::lock_guard in_order(order_);
    {
      std::lock_guard lock(mutex_);
      event.sequence = ++sequence_;
      if (!wire.empty()) {
        if (pending_.size() >= std::max<size_t>(1, config_.max_pending)) pending_.pop_front();
        pending_.push_back(std::move(wire));
      }
    }
    ready_.notify_one();
    deliver(event);
  }

 private:
  // The event as JSON for other hosts, under the payload limit; "" when even its fixed
  // fields are too long to send (it then stays local).
  std::string encode(const events::Event& e) const {
    json j = {{"o", origin_},   {"t", e.type},    {"v", e.video_id}, {"j", e.job_id},
              {"s", e.state},   {"p", e.percent}, {"f", e.fps},      {"x", e.speed},
              {"m", e.message}, {"ms", e.time_ms}, {"n", ++wire_seq_}};
    if (!e.json.empty()) j["d"] = e.json;
    std::string text = dump(j);
    if (text.size() <= kMaxPayload) return text;
    j.erase("d");
    std::string message = e.message;
    for (int round = 0; round < 64; ++round) {
      text = dump(j);
      if (text.size() <= kMaxPayload) return text;
      if (message.empty()) break;
      // Escapes make the JSON longer than the text: cut by the excess, at least 64 bytes.
      const size_t excess = text.size() - kMaxPayload;
      cut_utf8(message, message.size() > excess + 64 ? message.size() - excess - 64 : 0);
      j["m"] = message + "…";
    }
    return {};
  }

  void received(std::string_view payload) {
    json j = json::parse(payload, nullptr, false);
    if (!j.is_object() || !j.contains("o") || j["o"] == origin_) return;  // ours, or not an event
    events::Event e;
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
    e.type = str("t");
    e.video_id = str("v");
    e.job_id = str("j");
    e.state = str("s");
    e.message = str("m");
    e.json = str("d");
    e.percent = num("p");
    e.fps = num("f");
    e.speed = num("x");
    e.time_ms = j.contains("ms") && j["ms"].is_number_integer() ? j["ms"].get<int64_t>() : 0;
    std::lock_guard in_order(order_);
    {
      std::lock_guard lock(mutex_);
      e.sequence = ++sequence_;
    }
    deliver(e);
  }

  // One sender keeps one publisher's order; an event that cannot be sent yet (the database is
  // away) waits at the front while newer ones may push the oldest out.
  void send_loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      ready_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      std::string wire = pending_.front();
      lock.unlock();
      auto sent = pool_->exec("SELECT pg_notify($1, $2)", {config_.channel, wire});
      lock.lock();
      if (sent.ok()) {
        if (!pending_.empty() && pending_.front() == wire) pending_.pop_front();
      } else {
        ready_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_; });
      }
    }
  }

  std::shared_ptr<detail::Pool> pool_;
  EventBusConfig config_;
  std::string origin_;
  mutable std::atomic<uint64_t> wire_seq_{0};  // makes every payload distinct
  std::recursive_mutex order_;  // held from stamping an event to the end of its delivery
  std::mutex mutex_;  // guards sequence_, pending_, stop_
  std::condition_variable ready_;
  uint64_t sequence_ = 0;
  std::deque<std::string> pending_;
  bool stop_ = false;
  std::thread sender_;
  std::unique_ptr<detail::Listener> listener_;
};

}  // namespace

Result<std::shared_ptr<events::EventBus>> open_event_bus(const std::string& url,
                                                         const EventBusConfig& config) {
  if (!detail::Listener::valid_channel(config.channel))
    return error(ErrorCode::kInvalidArgument,
                 "event bus: a channel name is 1..63 of [a-z0-9_], not '" + config.channel + "'");
  STREAMLET_ASSIGN_OR_RETURN(auto pool, detail::Pool::open(url, {.size = 2}));
  auto bus = std::make_shared<PgEventBus>(std::move(pool), config);
  STREAMLET_RETURN_IF_ERROR(bus->start(url));
  return std::shared_ptr<events::EventBus>(std::move(bus));
}

}  // namespace streamlet::postgres
