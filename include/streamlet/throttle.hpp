// Per-caller limits kept in memory: a token-bucket rate limiter and the login throttle.
//
// Both hold state per key (a client address, a user id, an account name) in a table of
// bounded size: when it is full, the least recently used key is forgotten, so a client
// with many addresses cannot grow it without bound (it can only make its own older keys
// start over, which fresh keys give it anyway). State is per process and lost on restart.
//
// Every call takes `now` so tests can drive the clock; it defaults to the steady clock.
// Thread safety: all member functions may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace streamlet::throttle {

using Clock = std::chrono::steady_clock;

// The key a client address is limited under: an IPv4 address as is (also when written
// IPv4-mapped, "::ffff:192.0.2.1"), an IPv6 address by its /64 prefix ("2001:db8:1:2::/64"),
// since one subscriber usually holds a whole /64. Anything unparsable is returned as is.
std::string address_key(std::string_view address);

// `events` per `window` for each key, at most `events` at once (a token bucket of that
// size refilled evenly over the window). events <= 0 means no limit.
class RateLimiter {
 public:
  RateLimiter(int events, std::chrono::seconds window, size_t max_keys = 100000);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one event for `key`: 0 when allowed, else how long until one would be (rounded
  // up to whole seconds, at least 1); a refused call takes nothing.
  std::chrono::seconds acquire(std::string_view key, Clock::time_point now = Clock::now());
  // Keys currently remembered (at most max_keys).
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Online password guessing, slowed down per client address and per account.
//
// Every attempt counts as a failure from the moment it is let through (so concurrent
// guesses cannot slip past) until succeeded() takes it back. After `address_free` failures
// from one address (whatever the accounts), its next attempt waits `first_delay`, doubling
// with each further failure up to `max_delay`. After `account_free` failures on one account
// (whatever the addresses), an address that has itself failed on that account waits the
// same way, the delay growing with the account's count; an address that has not failed on
// it goes through. So guesses spread over many addresses slow down on the account, while
// its owner, signing in from a place that has not been guessing, is never locked out.
// A correct password clears the account's count and that address's count on it, but not
// the address's own count (else signing in to an account of one's own would wipe out the
// failures on others). Counters of a key quiet for `forget_after` start over.
struct LoginThrottleOptions {
  int address_free = 5;   // failures per address before it is slowed down
  int account_free = 10;  // failures per account before failing addresses are slowed down
  std::chrono::seconds first_delay{1};
  std::chrono::seconds max_delay{15 * 60};
  std::chrono::seconds forget_after{60 * 60};
  size_t max_keys = 100000;  // per table (addresses, accounts, address+account pairs)
};

class LoginThrottle {
 public:
  explicit LoginThrottle(LoginThrottleOptions options = {});
  ~LoginThrottle();
  LoginThrottle(const LoginThrottle&) = delete;
  LoginThrottle& operator=(const LoginThrottle&) = delete;

  // Before checking a password for `account` from `address` (an address_key; "" = unknown,
  // then only the account is looked at): 0 to go ahead, the attempt now counted as a
  // failure; else how long to wait (whole seconds, at least 1), nothing counted.
  std::chrono::seconds begin(std::string_view address, std::string_view account,
                             Clock::time_point now = Clock::now());
  // The password was right: undoes that attempt's failure and clears the account.
  void succeeded(std::string_view address, std::string_view account,
                 Clock::time_point now = Clock::now());

  const LoginThrottleOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::throttle
