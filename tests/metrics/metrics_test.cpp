// The /metrics text as a Prometheus scraper reads it: parsed here by a small
// parser written from the exposition format rules, independent of the renderer.
#include <cmath>
#include <map>
#include <stdexcept>
#include <thread>

#include "streamlet/metrics.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;  // family -> unescaped help
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;

  // The value of the one sample with this name and these labels (exactly).
  double at(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    const Sample* found = nullptr;
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) {
        REQUIRE_MESSAGE(found == nullptr, "duplicate sample " << name);
        found = &s;
      }
    }
    REQUIRE_MESSAGE(found != nullptr, "no sample " << name);
    return found->value;
  }
};

double parse_number(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  size_t used = 0;
  double v = std::stod(s, &used);
  if (used != s.size()) throw std::runtime_error("bad number " + s);
  return v;
}

// Text format 0.0.4: comments, then `name{label="value",...} value` lines.
Exposition parse(const std::string& text) {
  Exposition e;
  REQUIRE_MESSAGE((!text.empty() && text.back() == '\n'), "the exposition ends with a newline");
  size_t pos = 0;
  std::string family_in_progress;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    REQUIRE_MESSAGE(!line.empty(), "no empty lines");
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      REQUIRE(sp != std::string::npos);
      std::string name = rest.substr(0, sp), body = rest.substr(sp + 1);
      if (line[2] == 'H') {
        std::string help;
        for (size_t i = 0; i < body.size(); ++i) {
          if (body[i] == '\\') {
            REQUIRE(i + 1 < body.size());
            char n = body[++i];
            REQUIRE((n == '\\' || n == 'n'));
            help += n == 'n' ? '\n' : '\\';
          } else {
            help += body[i];
          }
        }
        CHECK_MESSAGE(e.help.count(name) == 0, "HELP once per family: " << name);
        e.help[name] = help;
      } else {
        CHECK_MESSAGE(e.type.count(name) == 0, "TYPE once per family: " << name);
        e.type[name] = body;
        family_in_progress = name;
      }
      continue;
    }
    REQUIRE_MESSAGE(line[0] != '#', line);
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        std::string lname;
        while (line[i] != '=') lname += line[i++];
        ++i;
        REQUIRE(line[i] == '"');
        ++i;
        std::string value;
        while (line[i] != '"') {
          if (line[i] == '\\') {
            char n = line[++i];
            REQUIRE_MESSAGE((n == '\\' || n == '"' || n == 'n'), "bad escape in " << line);
            value += n == 'n' ? '\n' : n;
          } else {
            REQUIRE_MESSAGE(line[i] != '\n', "raw newline in a label value");
            value += line[i];
          }
          ++i;
        }
        ++i;
        CHECK_MESSAGE(s.labels.count(lname) == 0, "label repeated: " << line);
        s.labels[lname] = value;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    REQUIRE(line[i] == ' ');
    s.value = parse_number(line.substr(i + 1));
    // Samples follow their family's TYPE line (histogram suffixes belong to it).
    CHECK_MESSAGE(s.name.rfind(family_in_progress, 0) == 0, s.name << " outside its family");
    e.samples.push_back(std::move(s));
  }
  return e;
}

}  // namespace

TEST_CASE("metrics: counters and gauges render with HELP/TYPE and increase as used") {
  metrics::Registry r;
  auto* requests = r.counter("streamlet_http_requests_total", "HTTP requests served",
                             {"route", "method", "status"})
                       .value();
  auto* bytes = r.counter("streamlet_upload_bytes_total", "Bytes received by uploads").value();
  auto* depth = r.gauge("streamlet_queue_depth", "Jobs waiting").value();

  auto e = parse(r.render());
  CHECK(e.type["streamlet_http_requests_total"] == "counter");
  CHECK(e.type["streamlet_queue_depth"] == "gauge");
  CHECK(e.help["streamlet_upload_bytes_total"] == "Bytes received by uploads");
  CHECK(e.at("streamlet_upload_bytes_total") == 0);  // unlabelled series exist from the start

  requests->labels({"/v1/videos", "GET", "200"}).inc();
  requests->labels({"/v1/videos", "GET", "200"}).inc();
  requests->labels({"/v1/videos", "POST", "201"}).inc(3);
  requests->labels({"/v1/videos", "POST", "201"}).inc(-5);  // ignored: counters never go down
  bytes->get().inc(1048576);
  depth->get().set(7);
  depth->get().inc();
  depth->get().dec(3);

  e = parse(r.render());
  CHECK(e.at("streamlet_http_requests_total",
             {{"route", "/v1/videos"}, {"method", "GET"}, {"status", "200"}}) == 2);
  CHECK(e.at("streamlet_http_requests_total",
             {{"route", "/v1/videos"}, {"method", "POST"}, {"status", "201"}}) == 3);
  CHECK(e.at("streamlet_upload_bytes_total") == 1048576);
  CHECK(e.at("streamlet_queue_depth") == 5);

  // Stable output: families by name, series by label values, same text twice.
  std::string a = r.render(), b = r.render();
  CHECK(a == b);
  CHECK(a.find("streamlet_http_requests_total") < a.find("streamlet_queue_depth"));
  CHECK(a.find("streamlet_queue_depth") < a.find("streamlet_upload_bytes_total"));
  CHECK(a.find("method=\"GET\"") < a.find("method=\"POST\""));
}

TEST_CASE("metrics: histogram buckets are cumulative, count and sum match the observations") {
  metrics::Registry r;
  auto* latency =
      r.histogram("streamlet_http_request_duration_seconds", "Request latency", {"route"}).value();
  const std::vector<double> values = {0.001, 0.005, 0.007, 0.03, 0.2, 0.2, 0.9, 3, 12, 100};
  auto& h = latency->labels({"/v1/videos"});
  for (double v : values) h.observe(v);
  latency->labels({"/metrics"}).observe(0.002);

  auto e = parse(r.render());
  CHECK(e.type["streamlet_http_request_duration_seconds"] == "histogram");
  const auto bounds = metrics::default_latency_buckets();
  REQUIRE(bounds.size() == 11);
  double previous = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    std::string le;
    double bound = INFINITY;
    if (i < bounds.size()) {
      bound = bounds[i];
      // Find the le text as rendered, compared numerically.
      for (const auto& s : e.samples)
        if (s.name == "streamlet_http_request_duration_seconds_bucket" &&
            s.labels.at("route") == "/v1/videos" && parse_number(s.labels.at("le")) == bound)
          le = s.labels.at("le");
      REQUIRE_MESSAGE(!le.empty(), "no bucket for le=" << bound);
    } else {
      le = "+Inf";
    }
    double want = 0;
    for (double v : values) want += v <= bound ? 1 : 0;  // le is inclusive
    double got = e.at("streamlet_http_request_duration_seconds_bucket",
                      {{"route", "/v1/videos"}, {"le", le}});
    CHECK_MESSAGE(got == want, "le=" << le);
    CHECK(got >= previous);
    previous = got;
  }
  CHECK(e.at("streamlet_http_request_duration_seconds_count", {{"route", "/v1/videos"}}) ==
        values.size());
  double sum = 0;
  for (double v : values) sum += v;
  CHECK(e.at("streamlet_http_request_duration_seconds_sum", {{"route", "/v1/videos"}}) ==
        doctest::Approx(sum));
  CHECK(e.at("streamlet_http_request_duration_seconds_count", {{"route", "/metrics"}}) == 1);
}

TEST_CASE("metrics: label values and help text are escaped and read back exactly") {
  metrics::Registry r;
  auto* c = r.counter("odd_total", "help with \\ backslash\nand a newline", {"path"}).value();
  const std::string nasty = "a\\b \"quoted\"\nnext line {x=\"y\"},";
  c->labels({nasty}).inc();
  std::string text = r.render();
  auto e = parse(text);
  CHECK(e.help["odd_total"] == "help with \\ backslash\nand a newline");
  CHECK(e.at("odd_total", {{"path", nasty}}) == 1);
  // Every sample stays on one line.
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
}

TEST_CASE("metrics: concurrent increments from 4 threads sum exactly") {
  metrics::Registry r;
  auto* c = r.counter("work_total", "Work done", {"kind"}).value();
  auto* h = r.histogram("work_seconds", "Work time", {}, {0.5, 1}).value();
  constexpr int kThreads = 4, kEach = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = c->labels({"k" + std::to_string(t % 2)});
      for (int i = 0; i < kEach; ++i) {
        mine.inc();
        c->labels({"shared"}).inc();  // lookup path as well
        h->get().observe(i % 2 ? 0.25 : 0.75);
      }
    });
  }
  // Scrapes while the writers run must parse too.
  for (int i = 0; i < 20; ++i) parse(r.render());
  for (auto& t : threads) t.join();
  auto e = parse(r.render());
  CHECK(e.at("work_total", {{"kind", "shared"}}) == kThreads * kEach);
  CHECK(e.at("work_total", {{"kind", "k0"}}) == 2 * kEach);
  CHECK(e.at("work_total", {{"kind", "k1"}}) == 2 * kEach);
  CHECK(e.at("work_seconds_count") == kThreads * kEach);
  CHECK(e.at("work_seconds_bucket", {{"le", "0.5"}}) == kThreads * kEach / 2);
  CHECK(e.at("work_seconds_sum") == doctest::Approx(kThreads * kEach * 0.5));
}

TEST_CASE("metrics: callback gauges are read at scrape time") {
  metrics::Registry r;
  std::map<std::string, int> jobs = {{"queued", 2}, {"running", 1}};
  REQUIRE(r.gauge_callback("streamlet_jobs", "Jobs by state", {"state"}, [&] {
             std::vector<metrics::GaugeSample> out;
             for (auto& [state, n] : jobs) out.push_back({{state}, double(n)});
             return out;
           }).ok());
  auto e = parse(r.render());
  CHECK(e.type["streamlet_jobs"] == "gauge");
  CHECK(e.at("streamlet_jobs", {{"state", "queued"}}) == 2);
  jobs["queued"] = 0;
  jobs["done"] = 9;
  e = parse(r.render());
  CHECK(e.at("streamlet_jobs", {{"state", "queued"}}) == 0);
  CHECK(e.at("streamlet_jobs", {{"state", "done"}}) == 9);
}

TEST_CASE("metrics: malformed names and conflicting registrations are errors, not crashes") {
  metrics::Registry r;
  CHECK(r.counter("9starts_with_digit", "x").status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.counter("has-dash", "x").status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"__reserved"}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"a", "a"}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.histogram("h", "x", {"le"}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.histogram("h", "x", {}, {1, 0.5}).status().code() == ErrorCode::kInvalidArgument);
  auto first = r.counter("ok_total", "x", {"a"});
  REQUIRE(first.ok());
  auto again = r.counter("ok_total", "x", {"a"});
  REQUIRE(again.ok());
  CHECK(*first == *again);
  CHECK(r.gauge("ok_total", "x", {"a"}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"b"}).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("metrics: promtool accepts the exposition (when installed)") {
  // promtool comes with the whole Prometheus server (Debian package 'prometheus', which
  // starts a daemon where systemd runs), so install-deps leaves it out by default:
  // `scripts/install-deps.sh prometheus` makes this case run.
  if (run_shell("command -v promtool").exit_code != 0)
    STREAMLET_SKIP("promtool is not installed (Debian package 'prometheus')");
  metrics::Registry r;
  r.counter("streamlet_http_requests_total", "HTTP requests", {"route", "method", "status"})
      .value()
      ->labels({"/v1/videos", "GET", "200"})
      .inc();
  r.histogram("streamlet_http_request_duration_seconds", "Latency", {"route"})
      .value()
      ->labels({"/v1/videos"})
      .observe(0.03);
  r.gauge("streamlet_queue_depth", "Jobs waiting").value()->get().set(3);
  TempDir dir;
  write_file(dir / "metrics.txt", r.render());
  auto res = run_shell("promtool check metrics < " + shell_quote((dir / "metrics.txt").string()));
  CHECK_MESSAGE(res.exit_code == 0, res.output);
}
