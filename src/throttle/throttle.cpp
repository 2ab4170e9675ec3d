#include "streamlet/throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <list>
#include <mutex>
#include <unordered_map>

namespace streamlet::throttle {

namespace {

// Key -> value with a size bound: the least recently touched key goes first.
template <typename V>
class LruTable {
 public:
  explicit LruTable(size_t max_keys) : max_(std::max<size_t>(1, max_keys)) {}

  // The value of `key`, made (default) if absent; the key becomes the most recent.
  V& touch(std::string_view key) {
    auto it = index_.find(std::string(key));
    if (it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return it->second->second;
    }
    order_.emplace_front(std::string(key), V{});
    index_.emplace(order_.front().first, order_.begin());
    while (index_.size() > max_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return order_.front().second;
  }
  V* find(std::string_view key) {
    auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &it->second->second;
  }
  void erase(std::string_view key) {
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }
  size_t size() const { return index_.size(); }

 private:
  size_t max_;
  std::list<std::pair<std::string, V>> order_;  // most recent first
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

std::chrono::seconds whole_seconds_until(Clock::duration d) {
  auto s = std::chrono::ceil<std::chrono::seconds>(d);
  return std::max(s, std::chrono::seconds(1));
}

}  // namespace

std::string address_key(std::string_view address) {
  const std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  const unsigned char* b = v6.s6_addr;
  const bool mapped = std::all_of(b, b + 10, [](unsigned char c) { return c == 0; }) &&
                      b[10] == 0xff && b[11] == 0xff;
  if (mapped) {
    char out[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, b + 12, out, sizeof out);
    return out;
  }
  char out[64];
  std::snprintf(out, sizeof out, "%x:%x:%x:%x::/64", (b[0] << 8) | b[1], (b[2] << 8) | b[3],
                (b[4] << 8) | b[5], (b[6] << 8) | b[7]);
  return out;
}

// ---- RateLimiter ------------------------------------------------------------------------

// The generic cell rate algorithm: each key keeps the time its bucket would be empty again
// ("theoretical arrival time"); a request is let through while that lies at most
// (events - 1) intervals ahead. Integer clock arithmetic only, so nothing drifts.
struct RateLimiter::Impl {
  int events;
  Clock::duration interval{};   // window / events: the time one event is worth
  Clock::duration tolerance{};  // (events - 1) intervals: the burst
  mutable std::mutex mu;
  LruTable<Clock::time_point> due;  // key -> theoretical arrival time
  Impl(int e, std::chrono::seconds window, size_t max_keys) : events(e), due(max_keys) {
    if (e > 0) {
      interval = std::chrono::duration_cast<Clock::duration>(window) / e;
      tolerance = interval * (e - 1);
    }
  }
};

RateLimiter::RateLimiter(int events, std::chrono::seconds window, size_t max_keys)
    : impl_(std::make_unique<Impl>(events, window, max_keys)) {}
RateLimiter::~RateLimiter() = default;

std::chrono::seconds RateLimiter::acquire(std::string_view key, Clock::time_point now) {
  Impl& s = *impl_;
  if (s.events <= 0) return std::chrono::seconds(0);
  std::lock_guard lock(s.mu);
  auto& tat = s.due.touch(key);  // a new key: epoch, i.e. long past
  const auto start = std::max(tat, now);
  if (start - now > s.tolerance) return whole_seconds_until(start - s.tolerance - now);
  tat = start + s.interval;
  return std::chrono::seconds(0);
}

size_t RateLimiter::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->due.size();
}

// ---- LoginThrottle ------------------------------------------------------------------------

struct LoginThrottle::Impl {
  struct Failures {
    int count = 0;
    Clock::time_point last{};
  };
  LoginThrottleOptions o;
  std::mutex mu;
  LruTable<Failures> addresses, accounts, pairs;
  explicit Impl(LoginThrottleOptions options)
      : o(options), addresses(o.max_keys), accounts(o.max_keys), pairs(o.max_keys) {}

  // first_delay * 2^(over) capped at max_delay; over >= 0.
  Clock::duration delay(int over) const {
    const int shift = std::min(over, 30);
    const auto d = o.first_delay * (int64_t{1} << shift);
    return std::min<Clock::duration>(d, o.max_delay);
  }
  // The entry's count, forgetting it when it has been quiet long enough.
  Failures* live(LruTable<Failures>& t, std::string_view key, Clock::time_point now) {
    Failures* f = t.find(key);
    if (f && now - f->last >= o.forget_after) {
      t.erase(key);
      return nullptr;
    }
    return f;
  }
  static std::string pair_key(std::string_view address, std::string_view account) {
    std::string k(account);
    k += '\n';
    k += address;
    return k;
  }
};

LoginThrottle::LoginThrottle(LoginThrottleOptions options)
    : impl_(std::make_unique<Impl>(options)) {}
LoginThrottle::~LoginThrottle() = default;

const LoginThrottleOptions& LoginThrottle::options() const {
  return impl_->o;
}

std::chrono::seconds LoginThrottle::begin(std::string_view address, std::string_view account,
                                          Clock::time_point now) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  const std::string pair = Impl::pair_key(address, account);
  if (!address.empty()) {
    if (auto* a = s.live(s.addresses, address, now); a && a->count >= s.o.address_free) {
      const auto until = a->last + s.delay(a->count - s.o.address_free);
      if (until > now) return whole_seconds_until(until - now);
    }
  }
  if (auto* acc = s.live(s.accounts, account, now); acc && acc->count >= s.o.account_free) {
    // Only addresses that have failed on this account wait: the owner elsewhere does not.
    if (auto* p = s.live(s.pairs, pair, now); p && p->count > 0) {
      const auto until = p->last + s.delay(acc->count - s.o.account_free);
      if (until > now) return whole_seconds_until(until - now);
    }
  }
  auto count = [now](Impl::Failures& f) {
    ++f.count;
    f.last = now;
  };
  if (!address.empty()) count(s.addresses.touch(address));
  count(s.accounts.touch(account));
  count(s.pairs.touch(pair));
  return std::chrono::seconds(0);
}

void LoginThrottle::succeeded(std::string_view address, std::string_view account,
                              Clock::time_point) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  if (!address.empty())
    if (auto* a = s.addresses.find(address); a && a->count > 0) --a->count;
  s.accounts.erase(account);
  s.pairs.erase(Impl::pair_key(address, account));
}

}  // namespace streamlet::throttle
