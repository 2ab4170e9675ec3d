// The catalog's common calls on either backend: a lookup by id, a listing page, a search
// over 5,000 videos, a view beacon, a library's analytics, and lookups from 8 threads at once
// (the PostgreSQL pool against SQLite's one connection behind a mutex).
// STREAMLET_BENCH_CATALOG picks the backend: a postgresql:// URL (an empty database;
// bench/catalog_side_by_side.sh makes one) or, unset, a SQLite file in a temporary directory.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "streamlet/catalog.hpp"
#include "streamlet/postgres.hpp"

namespace sc = streamlet::catalog;

namespace {

constexpr int kVideos = 5000;

struct Fixture {
  std::shared_ptr<sc::Catalog> catalog;
  std::vector<std::string> ids;
  std::string owner;
  std::filesystem::path dir;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    const char* url = std::getenv("STREAMLET_BENCH_CATALOG");
    if (url && std::string(url).rfind("postgres", 0) == 0) {
      auto c = streamlet::postgres::open_catalog(url, {.size = 8});
      if (!c.ok()) {
        std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
        std::exit(1);
      }
      f.catalog = *c;
    } else {
      f.dir = std::filesystem::temp_directory_path() /
              ("streamlet-bench-catalog-" + std::to_string(::getpid()));
      std::filesystem::create_directories(f.dir);
      auto c = sc::open_sqlite_catalog((f.dir / "catalog.db").string());
      if (!c.ok()) std::exit(1);
      f.catalog = std::move(c).value();
      std::atexit([] { std::filesystem::remove_all(fixture().dir); });
    }
    f.owner = f.catalog->create_user({"bencher", "", "$argon2id$x"}).value().id;
    const char* words[] = {"ocean", "forest", "city", "night", "river", "mountain", "école"};
    for (int i = 0; i < kVideos; ++i) {
      std::string title = std::string(words[i % 7]) + " walk " + std::to_string(i);
      auto v = f.catalog->create_video({f.owner, title, "a description of clip " + std::to_string(i),
                                        sc::Visibility::kPublic, sc::VideoStatus::kQueued});
      f.ids.push_back(v.value().id);
    }
    return f;
  }();
  return f;
}

void BM_GetVideo(benchmark::State& state) {
  auto& f = fixture();
  size_t i = state.thread_index() * 997;
  for (auto _ : state) benchmark::DoNotOptimize(f.catalog->get_video(f.ids[i++ % f.ids.size()]));
}
BENCHMARK(BM_GetVideo)->Threads(1)->Threads(8)->UseRealTime();

void BM_ListPage(benchmark::State& state) {
  auto& f = fixture();
  sc::VideoQuery q;
  q.visible_to = "";
  q.visibility = sc::Visibility::kPublic;
  for (auto _ : state) benchmark::DoNotOptimize(f.catalog->list_videos(q));
}
BENCHMARK(BM_ListPage)->UseRealTime();

void BM_Search(benchmark::State& state) {
  auto& f = fixture();
  sc::VideoQuery q;
  q.text = "ecol wal";  // prefix of a folded word + prefix of a common one: ~700 matches
  for (auto _ : state) benchmark::DoNotOptimize(f.catalog->list_videos(q));
}
BENCHMARK(BM_Search)->UseRealTime();

void BM_RecordView(benchmark::State& state) {
  auto& f = fixture();
  size_t i = state.thread_index() * 997;
  for (auto _ : state) {
    sc::ViewBeacon b{f.ids[i % f.ids.size()], "viewer" + std::to_string(i % 50), 5, ""};
    benchmark::DoNotOptimize(f.catalog->record_view(b));
    ++i;
  }
}
BENCHMARK(BM_RecordView)->Threads(1)->Threads(8)->UseRealTime();

// A library's analytics (the /analytics page): an owner of 100 videos, each watched by 5
// viewers a day for 30 days (15,000 day rows), asked for the last 28 days and its top 10.
void BM_LibraryStats(benchmark::State& state) {
  static const std::string owner = [] {
    auto& f = fixture();
    const std::string id = f.catalog->create_user({"analyst", "", "$argon2id$x"}).value().id;
    for (int v = 0; v < 100; ++v) {
      auto video = f.catalog->create_video({id, "watched " + std::to_string(v), "",
                                            sc::Visibility::kPublic, sc::VideoStatus::kReady});
      for (int day = 1; day <= 30; ++day)
        for (int viewer = 0; viewer < 5; ++viewer) {
          char date[16];
          std::snprintf(date, sizeof date, "2026-11-%02d", day);
          (void)f.catalog->record_view(
              {video.value().id, "viewer" + std::to_string((v + viewer) % 40), 30, date});
        }
    }
    return id;
  }();
  auto& f = fixture();
  for (auto _ : state)
    benchmark::DoNotOptimize(f.catalog->library_view_stats(owner, "2026-11-03", "2026-11-30", 10));
}
BENCHMARK(BM_LibraryStats)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
