// The in-memory limiters behind 429 answers, driven by an explicit clock.
#include "streamlet/throttle.hpp"
#include "support/support.hpp"

using namespace std::chrono_literals;
namespace th = streamlet::throttle;

namespace {
const th::Clock::time_point t0 = th::Clock::time_point() + 1000h;
}

TEST_CASE("rate limiter: a burst of N, then one per window/N, per key") {
  th::RateLimiter limit(3, 60s);  // 3 a minute: one every 20 s once the burst is spent
  for (int i = 0; i < 3; ++i) CHECK(limit.acquire("alice", t0) == 0s);
  auto wait = limit.acquire("alice", t0);
  CHECK(wait == 20s);
  CHECK(limit.acquire("bob", t0) == 0s);  // keys are independent
  CHECK(limit.acquire("alice", t0 + 19s) == 1s);
  CHECK(limit.acquire("alice", t0 + 20s) == 0s);
  CHECK(limit.acquire("alice", t0 + 20s) > 0s);
  // A long quiet time refills the bucket, but never beyond its size.
  for (int i = 0; i < 3; ++i) CHECK(limit.acquire("alice", t0 + 1h) == 0s);
  CHECK(limit.acquire("alice", t0 + 1h) > 0s);
  // No limit at all when events <= 0.
  th::RateLimiter open(0, 60s);
  for (int i = 0; i < 1000; ++i) REQUIRE(open.acquire("x", t0) == 0s);
}

TEST_CASE("rate limiter: many distinct keys cannot grow its memory past max_keys") {
  th::RateLimiter limit(1, 60s, /*max_keys=*/100);
  for (int i = 0; i < 10000; ++i) limit.acquire("addr" + std::to_string(i), t0);
  CHECK(limit.size() == 100);
  // The most recent keys are the ones remembered.
  CHECK(limit.acquire("addr9999", t0) > 0s);
}

TEST_CASE("login throttle: failures from one address slow it down exponentially") {
  th::LoginThrottle t;  // 5 free failures per address, then 1 s doubling, capped at 15 min
  auto now = t0;
  for (int i = 0; i < 5; ++i)
    REQUIRE(t.begin("198.51.100.7", "alice" + std::to_string(i), now) == 0s);
  CHECK(t.begin("198.51.100.7", "zoe", now) == 1s);
  CHECK(t.begin("198.51.100.8", "zoe", now) == 0s);  // another address is not affected
  now += 1s;
  CHECK(t.begin("198.51.100.7", "zoe", now) == 0s);  // the 6th failure
  CHECK(t.begin("198.51.100.7", "zoe", now) == 2s);
  now += 2s;
  CHECK(t.begin("198.51.100.7", "zoe", now) == 0s);  // the 7th
  CHECK(t.begin("198.51.100.7", "zoe", now) == 4s);
  // Capped: after many failures the wait is max_delay, never more.
  for (int i = 0; i < 30; ++i) {
    now += 15min;
    REQUIRE(t.begin("198.51.100.7", "zoe", now) == 0s);
  }
  CHECK(t.begin("198.51.100.7", "zoe", now) == 15min);
  // Quiet for forget_after: the address starts over.
  now += 1h + 15min;
  for (int i = 0; i < 5; ++i) CHECK(t.begin("198.51.100.7", "zoe", now) == 0s);
  CHECK(t.begin("198.51.100.7", "zoe", now) > 0s);
}

TEST_CASE("login throttle: a correct password takes back only its own attempt") {
  th::LoginThrottle t;
  for (int i = 0; i < 4; ++i) REQUIRE(t.begin("192.0.2.1", "victim", t0) == 0s);
  // The guesser signs in to its own account in between: that success must not wipe out
  // the four failures on the victim.
  REQUIRE(t.begin("192.0.2.1", "mine", t0) == 0s);
  t.succeeded("192.0.2.1", "mine", t0);
  REQUIRE(t.begin("192.0.2.1", "victim", t0) == 0s);  // the 5th failure
  CHECK(t.begin("192.0.2.1", "victim", t0) == 1s);
}

TEST_CASE("login throttle: spread guesses slow the account, the owner elsewhere goes through") {
  th::LoginThrottleOptions o;
  th::LoginThrottle t(o);  // 10 free failures per account
  auto now = t0;
  for (int i = 0; i < 10; ++i)
    REQUIRE(t.begin("203.0.113." + std::to_string(i), "alice", now) == 0s);
  // The account is over its free failures: an address that failed on it waits ...
  CHECK(t.begin("203.0.113.0", "alice", now) == 1s);
  // ... one that has not (the owner at home) goes through.
  CHECK(t.begin("198.51.100.50", "alice", now) == 0s);
  t.succeeded("198.51.100.50", "alice", now);
  // The owner's success clears the account: the guessers start from zero again.
  CHECK(t.begin("203.0.113.0", "alice", now) == 0s);
  // Fresh addresses each get their attempt, and every one grows the account's delay.
  for (int i = 0; i < 15; ++i) REQUIRE(t.begin("10.1.0." + std::to_string(i), "bob", now) == 0s);
  CHECK(t.begin("10.1.0.0", "bob", now) == 32s);  // 2^(15-10) s
  now += 32s;
  CHECK(t.begin("10.1.0.0", "bob", now) == 0s);
}

TEST_CASE("login throttle: memory stays bounded under many addresses and names") {
  th::LoginThrottleOptions o;
  o.max_keys = 50;
  th::LoginThrottle t(o);
  for (int i = 0; i < 5000; ++i)
    t.begin("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
            "user" + std::to_string(i), t0);
  // Only the recent ones are remembered: a recent address is still counted.
  for (int i = 0; i < 4; ++i) REQUIRE(t.begin("10.0.19.135", "x" + std::to_string(i), t0) == 0s);
  CHECK(t.begin("10.0.19.135", "y", t0) == 1s);
}

TEST_CASE("address keys: IPv4 as is, IPv6 by its /64") {
  CHECK(th::address_key("192.0.2.1") == "192.0.2.1");
  CHECK(th::address_key("::ffff:192.0.2.1") == "192.0.2.1");
  CHECK(th::address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(th::address_key("2001:db8:1:2:bbbb::9") == th::address_key("2001:db8:1:2:aaaa::1"));
  CHECK(th::address_key("2001:db8:1:3::1") != th::address_key("2001:db8:1:2::1"));
  CHECK(th::address_key("not an address") == "not an address");
}
