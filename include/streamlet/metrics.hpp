// Process metrics in the Prometheus text exposition format (version 0.0.4),
// for the server's GET /metrics or any embedding app's own endpoint.
//
//   metrics::Registry registry;
//   auto* requests = registry.counter("streamlet_http_requests_total", "HTTP requests served",
//                                     {"route", "method", "status"}).value();
//   requests->labels({"/v1/videos", "GET", "200"}).inc();
//   std::string body = registry.render();   // Content-Type: metrics::kContentType
//
// Thread safety: everything here may be used from any number of threads.
// Updating a series is a few atomic operations; labels() takes a per-family
// lock for the lookup, so hot paths keep the returned reference, which stays
// valid as long as the Registry lives (series are never removed).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::metrics {

// What a /metrics response should carry as Content-Type.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds), the usual latency buckets.
std::vector<double> default_latency_buckets();

// A monotonically increasing value (requests served, bytes received).
class Counter {
 public:
  // Negative increments are ignored: a counter never goes down.
  void inc(double amount = 1) {
    if (amount > 0) value_.fetch_add(amount, std::memory_order_relaxed);
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (queue depth, jobs in a state, current fps).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, inclusive), plus
// their sum and count, rendered as cumulative `_bucket{le=...}` series.
class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void observe(double value);
  // Consistent enough for a scrape: count is the sum of the bucket counts.
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), then +Inf
  std::atomic<double> sum_{0};
};

namespace detail {
class FamilyBase;
}

// A metric name with its label names; one series per distinct set of label
// values. Values are given in the order of the label names; missing ones are
// empty strings, extra ones are ignored.
template <typename Series>
class Family {
 public:
  Series& labels(const std::vector<std::string>& values);
  // The one series of a family without labels (for a labelled family: the
  // series whose label values are all empty).
  Series& get() { return unlabelled_ ? *unlabelled_ : labels({}); }

 private:
  friend class Registry;
  explicit Family(detail::FamilyBase* base);
  detail::FamilyBase* base_;
  Series* unlabelled_;  // set only when the family has no labels: no lock on that path
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// One sample of a callback gauge: label values (in label-name order) and the value.
struct GaugeSample {
  std::vector<std::string> label_values;
  double value = 0;
};
// Evaluated at every render(), on the rendering thread, with no Registry lock
// held; it must not block for long.
using GaugeCallback = std::function<std::vector<GaugeSample>()>;

// Owns every metric family and renders them. Families live as long as the
// Registry; register them once at startup and keep the pointers.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name again with the same kind and label names returns the
  // same family; a different kind or labels, or a malformed name, is
  // kInvalidArgument. Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names:
  // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not "le" for histograms.
  Result<CounterFamily*> counter(const std::string& name, const std::string& help,
                                 const std::vector<std::string>& label_names = {});
  Result<GaugeFamily*> gauge(const std::string& name, const std::string& help,
                             const std::vector<std::string>& label_names = {});
  // `bounds` must be strictly increasing and finite; empty = default_latency_buckets().
  Result<HistogramFamily*> histogram(const std::string& name, const std::string& help,
                                     const std::vector<std::string>& label_names = {},
                                     std::vector<double> bounds = {});
  // A gauge whose samples come from `callback` at scrape time (e.g. jobs by
  // state read from the queue). Registering the name again replaces the callback.
  Status gauge_callback(const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names, GaugeCallback callback);

  // Every family sorted by name, series sorted by label values: HELP and
  // TYPE lines, escaped label values, histograms as _bucket/_sum/_count.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::metrics
