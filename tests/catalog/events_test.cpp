#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "streamlet/events.hpp"
#include "support/support.hpp"

namespace se = streamlet::events;
using namespace std::chrono_literals;

namespace {
se::Event progress(const std::string& video, double percent) {
  se::Event e;
  e.type = "progress";
  e.video_id = video;
  e.percent = percent;
  return e;
}
}  // namespace

TEST_CASE("events: subscribers get their video's events in order, others are filtered") {
  se::InProcessBus bus;
  auto mine = bus.subscribe("v1");
  auto all = bus.subscribe();
  bus.publish(progress("v1", 10));
  bus.publish(progress("v2", 20));
  bus.publish(progress("v1", 30));

  auto a = mine.next(1s);
  auto b = mine.next(1s);
  REQUIRE((a && b));
  CHECK(a->percent == 10);
  CHECK(b->percent == 30);
  CHECK(a->sequence < b->sequence);
  CHECK(a->time_ms > 0);
  CHECK_FALSE(mine.next(20ms).has_value());  // v2's event never arrives here

  int seen = 0;
  while (all.next(20ms)) ++seen;
  CHECK(seen == 3);
}

TEST_CASE("events: next() wakes when an event is published from another thread") {
  se::InProcessBus bus;
  auto sub = bus.subscribe("v1");
  const long reader = streamlet::test::this_thread_id();
  std::atomic<bool> reader_was_waiting{false};
  std::thread publisher([&] {
    // Publish only once the reader is asleep inside next(), so next() must be woken.
    reader_was_waiting = streamlet::test::wait_until_blocked(reader, [] { return false; });
    bus.publish(progress("v1", 42));
  });
  auto start = std::chrono::steady_clock::now();
  auto e = sub.next(120s);
  auto waited = std::chrono::steady_clock::now() - start;
  publisher.join();
  CHECK(reader_was_waiting);
  REQUIRE(e.has_value());
  CHECK(e->percent == 42);
  CHECK(waited < 120s);  // woken by the publish, not by the timeout
}

TEST_CASE("events: a full queue drops its oldest events instead of blocking the publisher") {
  se::InProcessBus bus;
  auto slow = bus.subscribe("", 4);
  for (int i = 0; i < 10; ++i) bus.publish(progress("v", i));  // returns although nobody reads
  CHECK(slow.dropped() == 6);
  auto first = slow.next(1s);
  REQUIRE(first);
  CHECK(first->percent == 6);  // the newest four are kept
}

TEST_CASE("events: unsubscribing stops delivery, and closing waits for a running callback") {
  se::InProcessBus bus;
  std::atomic<int> calls{0};
  std::atomic<bool> in_callback{false}, release{false};
  auto sub = bus.subscribe("v", [&](const se::Event&) {
    in_callback = true;
    while (!release) std::this_thread::sleep_for(1ms);
    ++calls;
    in_callback = false;
  });
  std::thread publisher([&] { bus.publish(progress("v", 1)); });
  while (!in_callback) std::this_thread::sleep_for(1ms);
  std::atomic<bool> closed{false};
  std::atomic<long> closer_id{0};
  std::atomic<bool> callback_ran_after_close{false};
  std::thread closer([&] {
    closer_id = streamlet::test::this_thread_id();
    sub.close();
    closed = true;
    if (in_callback) callback_ran_after_close = true;  // close() returned too early
  });
  while (closer_id == 0) std::this_thread::yield();
  // Nothing else holds a bus lock now, so the closer can only sleep in close()
  // waiting for the callback; a close() that does not wait returns instead.
  REQUIRE(streamlet::test::wait_until_blocked(closer_id, [&] { return closed.load(); }));
  CHECK_FALSE(closed.load());  // still waiting for the callback in flight
  release = true;
  closer.join();
  publisher.join();
  CHECK(calls == 1);
  CHECK_FALSE(callback_ran_after_close.load());
  bus.publish(progress("v", 2));
  CHECK(calls == 1);
  CHECK_FALSE(sub.active());

  {
    auto scoped = bus.subscribe("v", [&](const se::Event&) { ++calls; });
    bus.publish(progress("v", 3));
  }
  bus.publish(progress("v", 4));  // the scoped subscription is gone
  CHECK(calls == 2);
}

TEST_CASE("events: a callback may publish and close itself, and subscriptions may outlive the bus") {
  auto bus = std::make_unique<se::InProcessBus>();
  se::Subscription self;
  int calls = 0;
  self = bus->subscribe("v", [&](const se::Event& e) {
    ++calls;
    if (e.percent < 3) bus->publish(progress("v", e.percent + 1));
    if (e.percent == 3) self.close();
  });
  bus->publish(progress("v", 1));
  CHECK(calls == 3);
  bus->publish(progress("v", 1));
  CHECK(calls == 3);

  auto orphan = bus->subscribe("v");
  bus.reset();
  CHECK_FALSE(orphan.next(10ms).has_value());
  CHECK_FALSE(orphan.active());
}

TEST_CASE("events: with many threads publishing at once, every subscriber sees sequence order") {
  se::InProcessBus bus;
  auto queued = bus.subscribe("", 100'000);
  std::vector<uint64_t> via_callback;
  auto called = bus.subscribe("", [&](const se::Event& e) { via_callback.push_back(e.sequence); });
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> publishers;
  for (int t = 0; t < kThreads; ++t)
    publishers.emplace_back([&bus, t] {
      for (int i = 0; i < kEach; ++i) {
        se::Event e;
        e.type = "progress";
        e.video_id = "v" + std::to_string(t);
        bus.publish(e);
      }
    });
  for (auto& p : publishers) p.join();
  uint64_t last = 0;
  int seen = 0, out_of_order = 0;
  while (auto e = queued.next(0ms)) {
    if (e->sequence <= last) ++out_of_order;
    last = e->sequence;
    ++seen;
  }
  CHECK(seen == kThreads * kEach);
  CHECK(out_of_order == 0);
  REQUIRE(via_callback.size() == size_t(kThreads * kEach));
  CHECK(std::is_sorted(via_callback.begin(), via_callback.end()));
}
