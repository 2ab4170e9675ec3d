// Hot-path cost of metrics updates: a counter increment and a histogram
// observation through a kept series reference, and through a label lookup,
// on 1 and 2 threads (contention on the same series).
#include <benchmark/benchmark.h>

#include "streamlet/metrics.hpp"

namespace {

streamlet::metrics::Registry& registry() {
  static streamlet::metrics::Registry r;
  return r;
}

void BM_CounterInc(benchmark::State& state) {
  auto& c = registry().counter("bench_requests_total", "x", {"route"}).value()->labels({"/a"});
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_CounterIncWithLookup(benchmark::State& state) {
  auto* family = registry().counter("bench_lookup_total", "x", {"route", "status"}).value();
  const std::vector<std::string> labels = {"/v1/videos", "200"};
  for (auto _ : state) family->labels(labels).inc();
}
BENCHMARK(BM_CounterIncWithLookup)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  auto& h = registry().histogram("bench_latency_seconds", "x", {"route"}).value()->labels({"/a"});
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.013;  // walk across every bucket
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_Render(benchmark::State& state) {
  streamlet::metrics::Registry r;
  auto* h = r.histogram("latency_seconds", "x", {"route"}).value();
  for (int i = 0; i < 20; ++i) h->labels({"/route/" + std::to_string(i)}).observe(0.1);
  for (auto _ : state) benchmark::DoNotOptimize(r.render());
}
BENCHMARK(BM_Render);

}  // namespace

BENCHMARK_MAIN();
