// In-process publish/subscribe for progress and state changes, so the server
// (SSE), the CLI and embedding apps can follow what the workers do.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace streamlet::events {

// One notification. Types published by Streamlet itself:
//   "job"      a job changed state: `state` is queued, running, succeeded,
//              failed (dead-lettered) or cancelled; `message` says why.
//   "progress" a running job advanced: `percent` and `fps` are set.
//   "status"   a video's catalog status changed: `state` is uploading, queued,
//              processing, ready or failed; `message` is the reason.
// publish() makes `state` and `message` well-formed UTF-8 (bad bytes become U+FFFD), so a
// subscriber can put them in JSON as they are.
struct Event {
  std::string type;       // see above; apps may publish their own types
  std::string video_id;   // "" for events not about one video
  std::string job_id;     // ""
  std::string state;      // ""
  double percent = 0;     // 0..100
  double fps = 0;         // source frames per second of wall time
  double speed = 0;       // media seconds per wall-clock second ("2.5x")
  std::string message;    // ""
  std::string json;       // extra payload as a JSON document; ""
  uint64_t sequence = 0;  // set by publish(): increasing per bus
  int64_t time_ms = 0;    // set by publish(): Unix epoch milliseconds
};

namespace detail {
struct BusState;
struct Subscriber;
}  // namespace detail

// A live subscription; unsubscribes when destroyed (or on close()). Movable,
// not copyable. May outlive the bus: it then simply receives nothing more.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  // Queue subscriptions only: waits up to `timeout` for the next event.
  // nullopt on timeout or when the subscription is closed. Call from one thread.
  std::optional<Event> next(std::chrono::milliseconds timeout);
  // Events dropped because the queue was full (the oldest go first).
  uint64_t dropped() const;
  bool active() const;
  // After close() returns, the callback (if any) is not running and will not run again.
  void close();

 private:
  friend class InProcessBus;
  Subscription(std::weak_ptr<detail::BusState> bus, std::shared_ptr<detail::Subscriber> sub);
  std::weak_ptr<detail::BusState> bus_;
  std::shared_ptr<detail::Subscriber> sub_;
};

// Where events go: an interface, so a networked bus (PostgreSQL LISTEN/NOTIFY, say) can carry
// them between processes; InProcessBus is the embedded default. Thread safe: publish and
// subscribe from any thread.
//
// Publishers are never blocked by slow subscribers: a queue subscription has a bounded queue
// that drops its oldest event when full (see dropped()), and a callback subscription runs its
// callback on the delivering thread outside the bus lock, so callbacks must be quick (hand
// work to another thread if not). A callback may publish or close its own subscription.
class EventBus {
 public:
  virtual ~EventBus() = default;
  // Events for `video_id` only, or every event when it is "".
  virtual Subscription subscribe(std::string video_id = "", size_t max_queued = 256) = 0;
  virtual Subscription subscribe(std::string video_id,
                                 std::function<void(const Event&)> callback) = 0;
  // Stamps `sequence` and `time_ms` and delivers the event to every matching subscriber.
  virtual void publish(Event event) = 0;
};

// The in-process bus: subscribers of this process only. Also the local fan-out a networked
// bus builds on: it publishes to its wire, and hands what arrives from there to deliver().
class InProcessBus : public EventBus {
 public:
  InProcessBus();
  ~InProcessBus() override;
  InProcessBus(const InProcessBus&) = delete;
  InProcessBus& operator=(const InProcessBus&) = delete;

  Subscription subscribe(std::string video_id = "", size_t max_queued = 256) override;
  Subscription subscribe(std::string video_id,
                         std::function<void(const Event&)> callback) override;
  void publish(Event event) override;

 protected:
  // To this process's subscribers, as it is (sequence and time already set).
  void deliver(const Event& event);

 private:
  std::shared_ptr<detail::BusState> state_;
};

}  // namespace streamlet::events
