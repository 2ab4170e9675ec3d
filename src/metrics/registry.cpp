// Registry and text exposition (Prometheus format 0.0.4).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>

#include "streamlet/metrics.hpp"

namespace streamlet::metrics {

namespace detail {

enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge };

const char* type_name(Kind k) {
  switch (k) {
    case Kind::kCounter:
      return "counter";
    case Kind::kHistogram:
      return "histogram";
    default:
      return "gauge";
  }
}

// Everything about one metric name. Series are created under `mu` and never
// removed, so references handed out stay valid for the Registry's life.
class FamilyBase {
 public:
  std::string name, help;
  Kind kind = Kind::kCounter;
  std::vector<std::string> label_names;
  std::shared_ptr<const std::vector<double>> bounds;  // histograms

  mutable std::mutex mu;
  std::map<std::vector<std::string>, std::unique_ptr<Counter>> counters;
  std::map<std::vector<std::string>, std::unique_ptr<Gauge>> gauges;
  std::map<std::vector<std::string>, std::unique_ptr<Histogram>> histograms;
  std::shared_ptr<GaugeCallback> callback;

  std::unique_ptr<CounterFamily> counter_family;
  std::unique_ptr<GaugeFamily> gauge_family;
  std::unique_ptr<HistogramFamily> histogram_family;

  std::vector<std::string> normalize(const std::vector<std::string>& values) const {
    std::vector<std::string> v(values.begin(),
                               values.begin() + std::min(values.size(), label_names.size()));
    v.resize(label_names.size());
    return v;
  }
  template <typename Series>
  Series& series(const std::vector<std::string>& values);
};

namespace {
template <typename Series, typename Map, typename Make>
Series& find_or_add(FamilyBase& f, Map& map, const std::vector<std::string>& values, Make make) {
  std::lock_guard lock(f.mu);
  if (values.size() == f.label_names.size()) {  // the usual case: no copy of the key
    auto it = map.find(values);
    if (it != map.end()) return *it->second;
  }
  auto& slot = map[f.normalize(values)];
  if (!slot) slot = make();
  return *slot;
}
}  // namespace

template <>
Counter& FamilyBase::series<Counter>(const std::vector<std::string>& values) {
  return find_or_add<Counter>(*this, counters, values, [] { return std::make_unique<Counter>(); });
}
template <>
Gauge& FamilyBase::series<Gauge>(const std::vector<std::string>& values) {
  return find_or_add<Gauge>(*this, gauges, values, [] { return std::make_unique<Gauge>(); });
}
template <>
Histogram& FamilyBase::series<Histogram>(const std::vector<std::string>& values) {
  return find_or_add<Histogram>(*this, histograms, values,
                                [this] { return std::make_unique<Histogram>(bounds); });
}

}  // namespace detail

using detail::FamilyBase;
using detail::Kind;

std::vector<double> default_latency_buckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

// ---- Histogram ---------------------------------------------------------------

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::observe(double value) {
  // First bound >= value: a bucket counts observations less than or equal to its bound.
  const auto& b = *bounds_;
  size_t i = std::isnan(value)
                 ? b.size()
                 : static_cast<size_t>(std::lower_bound(b.begin(), b.end(), value) - b.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- Family ------------------------------------------------------------------

template <typename Series>
Family<Series>::Family(detail::FamilyBase* base)
    // A family without labels renders its one series even before first use (a
    // 0 counter is information); labelled series appear on first use.
    : base_(base), unlabelled_(base->label_names.empty() ? &base->series<Series>({}) : nullptr) {}

template <typename Series>
Series& Family<Series>::labels(const std::vector<std::string>& values) {
  if (unlabelled_) return *unlabelled_;
  return base_->series<Series>(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----------------------------------------------------------------

struct Registry::Impl {
  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<FamilyBase>> families;  // sorted: stable output

  Result<FamilyBase*> add(const std::string& name, const std::string& help, Kind kind,
                          const std::vector<std::string>& label_names,
                          std::shared_ptr<const std::vector<double>> bounds);
};

namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Shortest text that reads back as the same double; Prometheus spellings for the rest.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape_help(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// `{a="x",b="y"}`, with an optional extra label (le) last; "" when there are none.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label_value(i < values.size() ? values[i] : "") + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += std::string(extra_name) + "=\"" + escape_label_value(extra_value) + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

void render_family(const FamilyBase& f, std::string& out) {
  std::vector<GaugeSample> samples;
  std::shared_ptr<GaugeCallback> callback;
  {
    std::lock_guard lock(f.mu);
    callback = f.callback;
  }
  if (callback && *callback) {
    samples = (*callback)();  // no lock held: it may take its time or use other locks
    std::stable_sort(
        samples.begin(), samples.end(),
        [](const GaugeSample& a, const GaugeSample& b) { return a.label_values < b.label_values; });
  }
  out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
  out += "# TYPE " + f.name + " " + detail::type_name(f.kind) + "\n";
  std::lock_guard lock(f.mu);
  switch (f.kind) {
    case Kind::kCounter:
      for (const auto& [values, c] : f.counters)
        out += f.name + label_set(f.label_names, values) + " " + format_value(c->value()) + "\n";
      break;
    case Kind::kGauge:
      for (const auto& [values, g] : f.gauges)
        out += f.name + label_set(f.label_names, values) + " " + format_value(g->value()) + "\n";
      break;
    case Kind::kCallbackGauge:
      for (const auto& s : samples)
        out +=
            f.name + label_set(f.label_names, s.label_values) + " " + format_value(s.value) + "\n";
      break;
    case Kind::kHistogram:
      for (const auto& [values, h] : f.histograms) {
        auto snap = h->snapshot();
        const auto& b = h->bounds();
        for (size_t i = 0; i <= b.size(); ++i) {
          std::string le = i < b.size() ? format_value(b[i]) : "+Inf";
          out += f.name + "_bucket" + label_set(f.label_names, values, "le", le) + " " +
                 std::to_string(snap.cumulative[i]) + "\n";
        }
        out += f.name + "_sum" + label_set(f.label_names, values) + " " + format_value(snap.sum) +
               "\n";
        out += f.name + "_count" + label_set(f.label_names, values) + " " +
               std::to_string(snap.count) + "\n";
      }
      break;
  }
}

}  // namespace

Result<FamilyBase*> Registry::Impl::add(const std::string& name, const std::string& help, Kind kind,
                                        const std::vector<std::string>& label_names,
                                        std::shared_ptr<const std::vector<double>> bounds) {
  if (!valid_metric_name(name))
    return Status(ErrorCode::kInvalidArgument, "metrics: bad metric name '" + name + "'");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const auto& l = label_names[i];
    if (!valid_label_name(l) || (kind == Kind::kHistogram && l == "le"))
      return Status(ErrorCode::kInvalidArgument, "metrics: bad label name '" + l + "' for " + name);
    if (std::find(label_names.begin(), label_names.begin() + i, l) != label_names.begin() + i)
      return Status(ErrorCode::kInvalidArgument, "metrics: label '" + l + "' repeated in " + name);
  }
  std::lock_guard lock(mu);
  auto it = families.find(name);
  if (it != families.end()) {
    FamilyBase& f = *it->second;
    bool same = f.kind == kind && f.label_names == label_names &&
                (kind != Kind::kHistogram || *f.bounds == *bounds);
    if (!same)
      return Status(ErrorCode::kInvalidArgument,
                    "metrics: " + name + " is already registered with another type or labels");
    return &f;
  }
  auto f = std::make_unique<FamilyBase>();
  f->name = name;
  f->help = help;
  f->kind = kind;
  f->label_names = label_names;
  f->bounds = std::move(bounds);
  FamilyBase* raw = f.get();
  switch (kind) {
    case Kind::kCounter:
      f->counter_family.reset(new CounterFamily(raw));
      break;
    case Kind::kGauge:
      f->gauge_family.reset(new GaugeFamily(raw));
      break;
    case Kind::kHistogram:
      f->histogram_family.reset(new HistogramFamily(raw));
      break;
    case Kind::kCallbackGauge:
      break;
  }
  families.emplace(name, std::move(f));
  return raw;
}

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Result<CounterFamily*> Registry::counter(const std::string& name, const std::string& help,
                                         const std::vector<std::string>& label_names) {
  STREAMLET_ASSIGN_OR_RETURN(FamilyBase * f,
                             impl_->add(name, help, Kind::kCounter, label_names, {}));
  return f->counter_family.get();
}

Result<GaugeFamily*> Registry::gauge(const std::string& name, const std::string& help,
                                     const std::vector<std::string>& label_names) {
  STREAMLET_ASSIGN_OR_RETURN(FamilyBase * f, impl_->add(name, help, Kind::kGauge, label_names, {}));
  return f->gauge_family.get();
}

Result<HistogramFamily*> Registry::histogram(const std::string& name, const std::string& help,
                                             const std::vector<std::string>& label_names,
                                             std::vector<double> bounds) {
  if (bounds.empty()) bounds = default_latency_buckets();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
      return Status(ErrorCode::kInvalidArgument,
                    "metrics: " + name + ": bucket bounds must be finite and strictly increasing");
  }
  auto shared = std::make_shared<const std::vector<double>>(std::move(bounds));
  STREAMLET_ASSIGN_OR_RETURN(FamilyBase * f,
                             impl_->add(name, help, Kind::kHistogram, label_names, shared));
  return f->histogram_family.get();
}

Status Registry::gauge_callback(const std::string& name, const std::string& help,
                                const std::vector<std::string>& label_names,
                                GaugeCallback callback) {
  STREAMLET_ASSIGN_OR_RETURN(FamilyBase * f,
                             impl_->add(name, help, Kind::kCallbackGauge, label_names, {}));
  std::lock_guard lock(f->mu);
  f->callback = std::make_shared<GaugeCallback>(std::move(callback));
  return Status::Ok();
}

std::string Registry::render() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [name, f] : impl_->families) families.push_back(f.get());
  }
  std::string out;
  for (const FamilyBase* f : families) render_family(*f, out);
  return out;
}

}  // namespace streamlet::metrics
