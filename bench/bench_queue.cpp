// The job queue on SQLite and PostgreSQL: pick-up latency (enqueue by one queue instance, as
// an API node does -> a waiting worker pool on another instance has the job in its handler)
// and throughput (claims + completes per second with 8 competing instances).
// PostgreSQL runs when STREAMLET_BENCH_POSTGRES holds a URL to a database that may be
// emptied (bench/queue_bench.sh starts a throwaway server and sets it).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "postgres/pool.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/postgres.hpp"

namespace sj = streamlet::jobs;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

enum class Backend { kSqlite, kPostgres };

std::string pg_url() {
  const char* v = std::getenv("STREAMLET_BENCH_POSTGRES");
  return v ? v : "";
}

struct Store {
  Backend backend;
  fs::path dir;
  explicit Store(Backend b) : backend(b) {
    if (b == Backend::kSqlite) {
      dir = fs::temp_directory_path() / ("bench_queue_" + std::to_string(::getpid()));
      fs::remove_all(dir);
      fs::create_directories(dir);
    } else {
      auto pool = streamlet::postgres::detail::Pool::open(pg_url(), {.size = 1});
      // Each benchmark starts from an empty queue (the migration runs again on open).
      if (pool.ok()) {
        (void)(*pool)->exec("DROP TABLE IF EXISTS jobs, job_owners");
        (void)(*pool)->exec("DELETE FROM schema_migrations WHERE component = 'jobs'");
      }
    }
  }
  ~Store() {
    if (!dir.empty()) fs::remove_all(dir);
  }
  std::shared_ptr<sj::JobQueue> open() const {
    auto q = backend == Backend::kSqlite
                 ? sj::open_sqlite_job_queue((dir / "q.db").string())
                 : streamlet::postgres::open_job_queue(pg_url(), {.connections = 2});
    if (!q.ok()) return nullptr;
    return std::shared_ptr<sj::JobQueue>(std::move(q).value());
  }
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

void BM_PickupLatency(benchmark::State& state, Backend backend) {
  if (backend == Backend::kPostgres && pg_url().empty()) {
    state.SkipWithError("STREAMLET_BENCH_POSTGRES not set");
    return;
  }
  Store store(backend);
  auto worker_side = store.open();
  auto api_side = store.open();
  if (!worker_side || !api_side) {
    state.SkipWithError("cannot open the queue");
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  int64_t started_ns = 0;
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const auto&, const auto&) {
    std::lock_guard lock(mu);
    started_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    cv.notify_all();
    return streamlet::Status::Ok();
  };
  sj::WorkerPool pool(worker_side, handler);  // default options: 250 ms poll, 5 s when notified
  if (!pool.start().ok()) {
    state.SkipWithError("pool start failed");
    return;
  }
  std::vector<double> ms;
  for (auto _ : state) {
    std::this_thread::sleep_for(20ms);  // idle: the workers are waiting
    {
      std::lock_guard lock(mu);
      started_ns = 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    sj::NewJob j;
    j.kind = "transcode";
    if (!api_side->enqueue(j).ok()) {
      state.SkipWithError("enqueue failed");
      break;
    }
    std::unique_lock lock(mu);
    cv.wait_for(lock, 10s, [&] { return started_ns != 0; });
    ms.push_back((started_ns - t0.time_since_epoch().count()) / 1e6);
    state.SetIterationTime(ms.back() / 1e3);
  }
  pool.stop();
  if (ms.empty()) return;
  state.counters["median_ms"] = percentile(ms, 0.5);
  state.counters["p99_ms"] = percentile(ms, 0.99);
  state.counters["max_ms"] = percentile(ms, 1.0);
}

void BM_ClaimThroughput(benchmark::State& state, Backend backend) {
  if (backend == Backend::kPostgres && pg_url().empty()) {
    state.SkipWithError("STREAMLET_BENCH_POSTGRES not set");
    return;
  }
  constexpr int kWorkers = 8;
  const int jobs = static_cast<int>(state.range(0));
  Store store(backend);
  std::vector<std::shared_ptr<sj::JobQueue>> queues;
  for (int i = 0; i < kWorkers; ++i) queues.push_back(store.open());
  if (!queues.back()) {
    state.SkipWithError("cannot open the queue");
    return;
  }
  int64_t claimed_total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < jobs; ++i) (void)queues[0]->enqueue(sj::NewJob{});
    state.ResumeTiming();
    std::atomic<int64_t> claimed{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWorkers; ++w)
      threads.emplace_back([&, w] {
        while (true) {
          auto c = queues[w]->claim();
          if (!c.ok()) continue;  // SQLite busy: try again
          if (!c->has_value()) return;
          (void)queues[w]->complete((*c)->id);
          ++claimed;
        }
      });
    for (auto& t : threads) t.join();
    claimed_total += claimed;
  }
  state.counters["claims_per_s"] =
      benchmark::Counter(static_cast<double>(claimed_total), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_PickupLatency, sqlite, Backend::kSqlite)
    ->UseManualTime()->Iterations(100)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PickupLatency, postgres, Backend::kPostgres)
    ->UseManualTime()->Iterations(200)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ClaimThroughput, sqlite, Backend::kSqlite)
    ->Arg(2000)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ClaimThroughput, postgres, Backend::kPostgres)
    ->Arg(2000)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
