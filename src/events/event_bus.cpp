#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "streamlet/events.hpp"

namespace streamlet::events {
namespace detail {

struct Subscriber {
  std::string video_id;
  std::function<void(const Event&)> callback;  // empty for a queue subscription
  size_t max_queued = 256;

  std::mutex mutex;  // guards everything below
  std::condition_variable ready;
  std::deque<Event> queue;
  bool closed = false;
  uint64_t dropped = 0;

  // Held while the callback runs, so close() can wait for a delivery in
  // flight; recursive so a callback may publish to itself or close itself.
  std::recursive_mutex delivering;

  bool wants(const Event& e) const { return video_id.empty() || video_id == e.video_id; }
};

struct BusState {
  std::mutex mutex;
  // Held from stamping an event to the end of its delivery, so every subscriber sees events
  // in sequence order even when several threads publish at once. Recursive: a callback may
  // publish.
  std::recursive_mutex order;
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  uint64_t sequence = 0;
};

}  // namespace detail

namespace {

void mark_closed(detail::Subscriber& sub) {
  {
    std::lock_guard lock(sub.mutex);
    sub.closed = true;
    sub.queue.clear();
  }
  sub.ready.notify_all();
}

}  // namespace

Subscription::Subscription(std::weak_ptr<detail::BusState> bus,
                           std::shared_ptr<detail::Subscriber> sub)
    : bus_(std::move(bus)), sub_(std::move(sub)) {}

Subscription::Subscription(Subscription&& other) noexcept
    : bus_(std::move(other.bus_)), sub_(std::move(other.sub_)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    close();
    bus_ = std::move(other.bus_);
    sub_ = std::move(other.sub_);
  }
  return *this;
}

Subscription::~Subscription() {
  close();
}

std::optional<Event> Subscription::next(std::chrono::milliseconds timeout) {
  if (!sub_) return std::nullopt;
  std::unique_lock lock(sub_->mutex);
  sub_->ready.wait_for(lock, timeout, [&] { return sub_->closed || !sub_->queue.empty(); });
  if (sub_->queue.empty()) return std::nullopt;
  Event e = std::move(sub_->queue.front());
  sub_->queue.pop_front();
  return e;
}

uint64_t Subscription::dropped() const {
  if (!sub_) return 0;
  std::lock_guard lock(sub_->mutex);
  return sub_->dropped;
}

bool Subscription::active() const {
  if (!sub_) return false;
  std::lock_guard lock(sub_->mutex);
  return !sub_->closed;
}

void Subscription::close() {
  if (!sub_) return;
  if (auto bus = bus_.lock()) {
    std::lock_guard lock(bus->mutex);
    auto& subs = bus->subscribers;
    subs.erase(std::remove(subs.begin(), subs.end(), sub_), subs.end());
  }
  mark_closed(*sub_);
  // Wait out a callback that is running on another thread right now.
  { std::lock_guard wait(sub_->delivering); }
  sub_.reset();
  bus_.reset();
}

InProcessBus::InProcessBus() : state_(std::make_shared<detail::BusState>()) {}

InProcessBus::~InProcessBus() {
  std::vector<std::shared_ptr<detail::Subscriber>> subs;
  {
    std::lock_guard lock(state_->mutex);
    subs.swap(state_->subscribers);
  }
  // Wake anyone blocked in next(): nothing more will come.
  for (auto& s : subs) mark_closed(*s);
}

Subscription InProcessBus::subscribe(std::string video_id, size_t max_queued) {
  auto sub = std::make_shared<detail::Subscriber>();
  sub->video_id = std::move(video_id);
  sub->max_queued = std::max<size_t>(1, max_queued);
  std::lock_guard lock(state_->mutex);
  state_->subscribers.push_back(sub);
  return Subscription(state_, sub);
}

Subscription InProcessBus::subscribe(std::string video_id, std::function<void(const Event&)> callback) {
  auto sub = std::make_shared<detail::Subscriber>();
  sub->video_id = std::move(video_id);
  sub->callback = std::move(callback);
  std::lock_guard lock(state_->mutex);
  state_->subscribers.push_back(sub);
  return Subscription(state_, sub);
}

void InProcessBus::publish(Event event) {
  // Subscribers put these in JSON (SSE frames, webhooks): they are text whatever made them.
  event.state = streamlet::detail::to_valid_utf8(event.state);
  event.message = streamlet::detail::to_valid_utf8(event.message);
  std::lock_guard in_order(state_->order);
  {
    std::lock_guard lock(state_->mutex);
    event.sequence = ++state_->sequence;
    event.time_ms = streamlet::detail::now_ms();
  }
  deliver(event);
}

void InProcessBus::deliver(const Event& event) {
  std::vector<std::shared_ptr<detail::Subscriber>> targets;
  {
    std::lock_guard lock(state_->mutex);
    for (auto& s : state_->subscribers)
      if (s->wants(event)) targets.push_back(s);
  }
  // Delivery happens outside the bus lock: a slow subscriber cannot stall
  // other publishers or subscribe/unsubscribe calls.
  for (auto& s : targets) {
    if (s->callback) {
      std::lock_guard delivering(s->delivering);
      {
        std::lock_guard lock(s->mutex);
        if (s->closed) continue;
      }
      try {
        s->callback(event);
      } catch (...) {
        // A throwing subscriber must not take the publisher (a worker) down.
      }
      continue;
    }
    {
      std::lock_guard lock(s->mutex);
      if (s->closed) continue;
      if (s->queue.size() >= s->max_queued) {
        s->queue.pop_front();
        ++s->dropped;
      }
      s->queue.push_back(event);
    }
    s->ready.notify_one();
  }
}

}  // namespace streamlet::events
