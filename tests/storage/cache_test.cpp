// The origin's local object cache (storage::open_cached) over a real local storage seen
// through a wrapper that hides its descriptors, as a remote store has none, and counts the
// calls that reach it (it only observes; every byte comes from the real storage).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "streamlet/metrics.hpp"
#include "streamlet/origin.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/storage_cache.hpp"
#include "support/remote_like_storage.hpp"
#include "support/support.hpp"

using namespace streamlet;
using streamlet::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Counts {
  std::atomic<int> opens{0}, stats{0}, reads{0};
  std::atomic<int> read_delay_ms{0};
  // After this many read_at calls every further one blocks forever (a fetch cut by a crash).
  std::atomic<int> hang_after_reads{-1};
};

struct Fixture {
  TempDir tmp;
  Counts counts;
  std::shared_ptr<storage::Storage> local;   // the real bytes
  std::shared_ptr<storage::Storage> remote;  // the same, without descriptors, counted
  Fixture() {
    auto l = storage::open_local({.root = tmp.path() / "store", .durable = false});
    REQUIRE_MESSAGE(l.ok(), l.status().to_string());
    local = l.value();
    // No descriptors, every call counted; small pieces, as ranged GETs would come.
    remote = std::make_shared<streamlet::test::RemoteLikeStorage>(
        local, streamlet::test::RemoteLikeHooks{
                   .before_open = [this] { ++counts.opens; },
                   .before_stat = [this] { ++counts.stats; },
                   .before_read =
                       [this] {
                         int n = ++counts.reads;
                         if (counts.hang_after_reads >= 0 && n > counts.hang_after_reads)
                           for (;;) ::pause();
                         if (counts.read_delay_ms > 0)
                           std::this_thread::sleep_for(
                               std::chrono::milliseconds(counts.read_delay_ms.load()));
                       },
                   .max_read = 4096});
  }
  fs::path cache_dir() const { return tmp.path() / "cache"; }
  std::shared_ptr<storage::CachedStorage> cache(uint64_t max_bytes = 1 << 20,
                                                storage::CacheOptions o = {}) {
    o.dir = cache_dir();
    o.max_bytes = max_bytes;
    auto c = storage::open_cached(remote, std::move(o));
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    return c.value();
  }
};

std::string bytes_of(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(seed + (i * 7) % 251);
  return s;
}

std::string read_all(const storage::Reader& r) {
  std::string out(r.info().size, '\0');
  size_t done = 0;
  while (done < out.size()) {
    auto n = r.read_at(done, out.data() + done, out.size() - done);
    REQUIRE(n.ok());
    if (n.value() == 0) break;
    done += n.value();
  }
  out.resize(done);
  return out;
}

// Through the descriptor, as sendfile would.
std::string read_fd(const storage::Reader& r) {
  REQUIRE(r.fd() >= 0);
  std::string out(r.info().size, '\0');
  ssize_t n = ::pread(r.fd(), out.data(), out.size(), 0);
  REQUIRE(n == ssize_t(out.size()));
  return out;
}

uint64_t cached_file_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".obj") total += e.file_size();
  return total;
}

int count_files(const fs::path& dir, std::string_view ext) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) ++n;
  return n;
}

}  // namespace

TEST_CASE("the second read of a media object is a hit with a descriptor and no inner read") {
  Fixture f;
  const std::string body = bytes_of(100000, 'a');
  REQUIRE(f.local->put("media/v1/720p/seg_00001.m4s", body).ok());
  auto cache = f.cache();

  auto first = cache->open("media/v1/720p/seg_00001.m4s");
  REQUIRE_MESSAGE(first.ok(), first.status().to_string());
  CHECK(read_fd(**first) == body);
  CHECK(f.counts.opens == 1);

  auto second = cache->open("media/v1/720p/seg_00001.m4s");
  REQUIRE(second.ok());
  CHECK(f.counts.opens == 1);  // no second fetch
  CHECK(read_all(**second) == body);
  CHECK(read_fd(**second) == body);
  // The identity is the inner object's, so every origin node sends the same ETag.
  auto inner_info = f.local->stat("media/v1/720p/seg_00001.m4s").value();
  CHECK((*second)->info().size == inner_info.size);
  CHECK((*second)->info().modified_ms == inner_info.modified_ms);
  CHECK((*second)->info().key == "media/v1/720p/seg_00001.m4s");

  auto s = cache->stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 1);
  CHECK(s.fetches == 1);
  CHECK(s.bytes == body.size());
  CHECK(s.objects == 1);
}

TEST_CASE("keys outside the predicate go straight to the inner storage") {
  Fixture f;
  REQUIRE(f.local->put("uploads/u1.bin", "upload bytes").ok());
  auto cache = f.cache();
  for (int i = 0; i < 2; ++i) {
    auto r = cache->open("uploads/u1.bin");
    REQUIRE(r.ok());
    CHECK((*r)->fd() < 0);  // the inner reader itself
    CHECK(read_all(**r) == "upload bytes");
  }
  CHECK(f.counts.opens == 2);
  CHECK(cache->stats().objects == 0);
  CHECK(count_files(f.cache_dir(), ".obj") == 0);
}

TEST_CASE("concurrent misses on one key fetch it from the inner storage once") {
  Fixture f;
  const std::string body = bytes_of(64 * 1024, 'c');
  REQUIRE(f.local->put("media/v1/720p/seg_00002.m4s", body).ok());
  auto cache = f.cache();
  f.counts.read_delay_ms = 5;  // 16 pieces: the fetch takes ~80 ms, long enough to pile up

  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      auto r = cache->open("media/v1/720p/seg_00002.m4s");
      if (r.ok() && (*r)->fd() >= 0 && read_all(**r) == body) ++good;
    });
  for (auto& t : threads) t.join();
  CHECK(good == kThreads);
  CHECK(f.counts.opens == 1);
  CHECK(cache->stats().fetches == 1);
  CHECK(count_files(f.cache_dir(), ".obj") == 1);
}

TEST_CASE("eviction keeps the cached total under max_bytes, least recently used first") {
  Fixture f;
  constexpr uint64_t kMax = 10000;
  for (int i = 0; i < 10; ++i)
    REQUIRE(
        f.local->put("media/v1/seg_" + std::to_string(i) + ".m4s", bytes_of(2000, 'a' + i)).ok());
  auto cache = f.cache(kMax);
  for (int i = 0; i < 10; ++i) {
    auto r = cache->open("media/v1/seg_" + std::to_string(i) + ".m4s");
    REQUIRE(r.ok());
    CHECK(read_all(**r) == bytes_of(2000, 'a' + i));
    // seg_0 is played again and again: the most recently used, never the victim.
    REQUIRE(cache->open("media/v1/seg_0.m4s").ok());
    auto s = cache->stats();
    CHECK(s.bytes <= kMax);
    CHECK(cached_file_bytes(f.cache_dir()) <= kMax);
  }
  auto s = cache->stats();
  CHECK(s.evictions == 5);
  CHECK(s.objects == 5);
  const int opens = f.counts.opens;
  REQUIRE(cache->open("media/v1/seg_0.m4s").ok());
  REQUIRE(cache->open("media/v1/seg_9.m4s").ok());
  CHECK(f.counts.opens == opens);  // both still cached
  REQUIRE(cache->open("media/v1/seg_1.m4s").ok());
  CHECK(f.counts.opens == opens + 1);  // evicted: fetched again

  // An object bigger than a quarter of the cache is read through, never cached.
  REQUIRE(f.local->put("media/v1/big.mp4", bytes_of(3000, 'z')).ok());
  auto big = cache->open("media/v1/big.mp4");
  REQUIRE(big.ok());
  CHECK((*big)->fd() < 0);
  CHECK(read_all(**big) == bytes_of(3000, 'z'));
  CHECK(cache->stats().bytes <= kMax);
}

TEST_CASE("a reader open on an evicted object still reads all of it") {
  Fixture f;
  REQUIRE(f.local->put("media/v1/a.m4s", bytes_of(4000, 'a')).ok());
  REQUIRE(f.local->put("media/v1/b.m4s", bytes_of(4000, 'b')).ok());
  REQUIRE(f.local->put("media/v1/c.m4s", bytes_of(4000, 'c')).ok());
  auto cache = f.cache(8000, {.max_object_bytes = 4000});
  auto held = cache->open("media/v1/a.m4s");
  REQUIRE(held.ok());
  REQUIRE(cache->open("media/v1/b.m4s").ok());
  REQUIRE(cache->open("media/v1/c.m4s").ok());  // a goes
  CHECK(cache->stats().evictions == 1);
  CHECK(cached_file_bytes(f.cache_dir()) == 8000);
  CHECK(read_all(**held) == bytes_of(4000, 'a'));
  CHECK(read_fd(**held) == bytes_of(4000, 'a'));
}

TEST_CASE("an object replaced in the inner storage is never served stale") {
  Fixture f;
  const std::string key = "media/v1/720p/playlist.m3u8";
  REQUIRE(f.local->put(key, "#EXTM3U\nold\n").ok());
  auto cache = f.cache();
  REQUIRE(read_all(*cache->open(key).value()) == "#EXTM3U\nold\n");

  // Another node republishes: a different size.
  REQUIRE(f.local->put(key, "#EXTM3U\nnew, longer\n").ok());
  CHECK(read_all(*cache->open(key).value()) == "#EXTM3U\nnew, longer\n");

  // The same size, another modification time.
  REQUIRE(f.local->put(key, "#EXTM3U\nNEW, LONGER\n").ok());
  const fs::path file = f.tmp.path() / "store" / key;
  struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
  auto r = cache->open(key);
  REQUIRE(r.ok());
  CHECK(read_all(**r) == "#EXTM3U\nNEW, LONGER\n");
  CHECK((*r)->info().modified_ms == 1700000000000);
  CHECK(cache->stats().invalidations == 2);
  CHECK(count_files(f.cache_dir(), ".obj") == 1);

  // Removed behind the cache's back: not found, and the copy goes.
  REQUIRE(f.local->remove(key).ok());
  auto gone = cache->open(key);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == ErrorCode::kNotFound);
  CHECK(cache->stats().objects == 0);
  CHECK(count_files(f.cache_dir(), ".obj") == 0);
}

TEST_CASE("remove, remove_prefix, writes and publications through the cache drop its entries") {
  Fixture f;
  // Trust entries for a long time, so only the invalidations can make these pass.
  auto cache = f.cache(1 << 20, {.revalidate_after = std::chrono::hours(1)});
  REQUIRE(cache->put("media/v1/master.m3u8", "v1 master").ok());
  REQUIRE(cache->put("media/v1/720p/seg_1.m4s", "v1 segment").ok());
  REQUIRE(cache->put("media/v2/master.m3u8", "v2 master").ok());
  for (auto k : {"media/v1/master.m3u8", "media/v1/720p/seg_1.m4s", "media/v2/master.m3u8"})
    REQUIRE(cache->open(k).ok());
  CHECK(cache->stats().objects == 3);
  const int stats_before = f.counts.stats;
  REQUIRE(cache->open("media/v2/master.m3u8").ok());
  CHECK(f.counts.stats == stats_before);  // trusted: no round trip

  SUBCASE("remove") {
    REQUIRE(cache->remove("media/v2/master.m3u8").ok());
    CHECK(cache->open("media/v2/master.m3u8").status().code() == ErrorCode::kNotFound);
    CHECK(cache->stats().objects == 2);
  }
  SUBCASE("remove_prefix") {
    REQUIRE(cache->remove_prefix("media/v1/").ok());
    CHECK(cache->open("media/v1/master.m3u8").status().code() == ErrorCode::kNotFound);
    CHECK(cache->open("media/v1/720p/seg_1.m4s").status().code() == ErrorCode::kNotFound);
    CHECK(read_all(*cache->open("media/v2/master.m3u8").value()) == "v2 master");
    CHECK(cache->stats().objects == 1);
  }
  SUBCASE("write") {
    REQUIRE(cache->put("media/v2/master.m3u8", "v2 master, rewritten").ok());
    CHECK(read_all(*cache->open("media/v2/master.m3u8").value()) == "v2 master, rewritten");
  }
  SUBCASE("publish") {
    auto p = cache->publish("media/v1/");
    REQUIRE(p.ok());
    auto w = (*p)->create("master.m3u8").value();
    REQUIRE(w->write("v1 master, republished", 22).ok());
    REQUIRE(w->commit().ok());
    REQUIRE((*p)->publish({"master.m3u8"}).ok());
    CHECK(read_all(*cache->open("media/v1/master.m3u8").value()) == "v1 master, republished");
    // The old output is gone with the publication: its segment is not served from the cache.
    CHECK(cache->open("media/v1/720p/seg_1.m4s").status().code() == ErrorCode::kNotFound);
    CHECK(read_all(*cache->open("media/v2/master.m3u8").value()) == "v2 master");
  }
  CHECK(cached_file_bytes(f.cache_dir()) == cache->stats().bytes);
}

TEST_CASE("the cache survives a restart and drops a fetch cut short by a crash") {
  Fixture f;
  const std::string body = bytes_of(50000, 'r');
  REQUIRE(f.local->put("media/v1/seg_1.m4s", body).ok());
  REQUIRE(f.local->put("media/v1/seg_2.m4s", bytes_of(50000, 's')).ok());
  {
    auto cache = f.cache();
    REQUIRE(cache->open("media/v1/seg_1.m4s").ok());
  }

  // A child process starts fetching seg_2 and dies (kill -9) with part of it written.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    f.counts.hang_after_reads = f.counts.reads + 3;  // 3 pieces of 4 KiB, then the "network" stalls
    auto c = storage::open_cached(f.remote, {.dir = f.cache_dir(), .max_bytes = 1 << 20});
    if (c.ok()) (void)(*c)->open("media/v1/seg_2.m4s");
    ::_exit(0);
  }
  bool partial = false;
  for (int i = 0; i < 500 && !partial; ++i) {
    for (const auto& e : fs::directory_iterator(f.cache_dir()))
      if (e.path().extension() == ".obj" && e.file_size() > 0 && e.file_size() < 50000)
        partial = true;
    if (!partial) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(partial);
  CHECK(count_files(f.cache_dir(), ".obj") == 2);

  // A record claiming more than its file holds (a torn write on some filesystem).
  {
    std::ofstream(f.cache_dir() / "900.obj") << "short";
    std::ofstream(f.cache_dir() / "900.meta")
        << "streamlet-cache-entry 1\nsize 50000\nmodified_ms 0\nkey media/v1/seg_3.m4s\n";
    std::ofstream(f.cache_dir() / "901.meta.tmp") << "streamlet-cache-entry 1\n";
  }

  auto cache = f.cache();
  CHECK(count_files(f.cache_dir(), ".obj") == 1);  // only the whole one
  CHECK_FALSE(fs::exists(f.cache_dir() / "900.meta"));
  CHECK_FALSE(fs::exists(f.cache_dir() / "901.meta.tmp"));
  CHECK(cache->stats().objects == 1);
  const int opens = f.counts.opens;
  CHECK(read_fd(*cache->open("media/v1/seg_1.m4s").value()) == body);
  CHECK(f.counts.opens == opens);  // served from before the restart
  CHECK(read_all(*cache->open("media/v1/seg_2.m4s").value()) == bytes_of(50000, 's'));
  CHECK(f.counts.opens == opens + 1);  // fetched again, whole
}

TEST_CASE("range requests through the origin match the inner bytes, with the same validators") {
  Fixture f;
  const std::string body = bytes_of(300000, 'o');
  REQUIRE(f.local->put("media/v1/720p/seg_00003.m4s", body).ok());
  auto cache = f.cache(4 << 20);
  origin::Origin origin;
  origin::OriginRequest req;
  req.path = "720p/seg_00003.m4s";
  req.headers["range"] = "bytes=1000-199999";

  auto direct = origin.serve(*f.remote, "media/v1/", "v1", req);
  REQUIRE(direct.status == 206);
  for (int round = 0; round < 2; ++round) {  // a miss, then a hit
    auto res = origin.serve(*cache, "media/v1/", "v1", req);
    REQUIRE(res.status == 206);
    REQUIRE(res.has_file());
    CHECK(res.file->fd() >= 0);  // the front can sendfile again
    CHECK(*res.header("Content-Range") == "bytes 1000-199999/300000");
    CHECK(*res.header("ETag") == *direct.header("ETag"));
    CHECK(*res.header("Last-Modified") == *direct.header("Last-Modified"));
    std::string got(res.length, '\0');
    REQUIRE(::pread(res.file->fd(), got.data(), got.size(), off_t(res.offset)) ==
            ssize_t(got.size()));
    CHECK(got == body.substr(1000, 199000));
  }
  CHECK(f.counts.opens == 2);  // one for `direct`, one fetch into the cache
}

TEST_CASE("bad options and keys get clear errors, a foreign directory is never cleaned") {
  Fixture f;
  auto no_inner = storage::open_cached(nullptr, {.dir = f.cache_dir()});
  CHECK(no_inner.status().code() == ErrorCode::kInvalidArgument);
  auto no_dir = storage::open_cached(f.remote, {});
  CHECK(no_dir.status().code() == ErrorCode::kInvalidArgument);
  auto zero = storage::open_cached(f.remote, {.dir = f.cache_dir(), .max_bytes = 0});
  CHECK(zero.status().code() == ErrorCode::kInvalidArgument);

  // Someone's data directory given by mistake: refused, nothing deleted.
  fs::create_directories(f.tmp.path() / "data");
  std::ofstream(f.tmp.path() / "data" / "1.obj") << "precious";
  auto foreign = storage::open_cached(f.remote, {.dir = f.tmp.path() / "data"});
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.status().code() == ErrorCode::kInvalidArgument);
  CHECK(foreign.status().message().find("not a cache directory") != std::string::npos);
  CHECK(fs::exists(f.tmp.path() / "data" / "1.obj"));

  auto cache = f.cache();
  for (auto bad : {"media/../etc/passwd", "media//x", "/media/x", ""})
    CHECK(cache->open(bad).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("metrics count hits, misses, evictions and cached bytes") {
  Fixture f;
  metrics::Registry registry;
  REQUIRE(f.local->put("media/v1/a.m4s", bytes_of(3000, 'a')).ok());
  REQUIRE(f.local->put("media/v1/b.m4s", bytes_of(3000, 'b')).ok());
  auto cache = f.cache(4000, {.max_object_bytes = 3000, .metrics = &registry});
  REQUIRE(cache->open("media/v1/a.m4s").ok());
  REQUIRE(cache->open("media/v1/a.m4s").ok());
  REQUIRE(cache->open("media/v1/b.m4s").ok());
  const std::string text = registry.render();
  CHECK(text.find("streamlet_storage_cache_hits_total 1") != std::string::npos);
  CHECK(text.find("streamlet_storage_cache_misses_total 2") != std::string::npos);
  CHECK(text.find("streamlet_storage_cache_evictions_total 1") != std::string::npos);
  CHECK(text.find("streamlet_storage_cache_bytes 3000") != std::string::npos);
}

TEST_CASE("origin_storage caches a remote storage and leaves a local one as it is") {
  Fixture f;
  auto local = storage::origin_storage(f.local, f.tmp.path() / "node", 1 << 20);
  REQUIRE(local.ok());
  CHECK(local->get() == f.local.get());
  auto remote = storage::origin_storage(f.remote, f.tmp.path() / "node", 1 << 20);
  REQUIRE(remote.ok());
  CHECK(remote->get() != f.remote.get());
  CHECK(fs::exists(f.tmp.path() / "node" / "cache" / "origin" / ".streamlet-cache"));
  auto off = storage::origin_storage(f.remote, f.tmp.path() / "node", 0);
  CHECK(off->get() == f.remote.get());
}

TEST_CASE("with revalidate_after, entries from before a restart are still checked once") {
  Fixture f;
  const std::string key = "media/v1/720p/playlist.m3u8";
  REQUIRE(f.local->put(key, "#EXTM3U\nbefore\n").ok());
  const storage::CacheOptions trusting{.revalidate_after = std::chrono::hours(1)};
  {
    auto cache = f.cache(1 << 20, trusting);
    REQUIRE(read_all(*cache->open(key).value()) == "#EXTM3U\nbefore\n");
  }
  // Republished by another node while this one was down.
  REQUIRE(f.local->put(key, "#EXTM3U\nafter the restart\n").ok());
  auto cache = f.cache(1 << 20, trusting);
  CHECK(read_all(*cache->open(key).value()) == "#EXTM3U\nafter the restart\n");
  const int stats = f.counts.stats;
  CHECK(read_all(*cache->open(key).value()) == "#EXTM3U\nafter the restart\n");
  CHECK(f.counts.stats == stats);  // now trusted for the hour
}

TEST_CASE("readers, writers and evictions at once: every read is one whole version") {
  Fixture f;
  constexpr int kKeys = 12;
  auto key = [](int i) { return "media/v1/seg_" + std::to_string(i) + ".m4s"; };
  // Version v of an object: (1000 + 37 v) bytes, all the letter 'a' + v % 26.
  auto version = [](int v) { return std::string(1000 + 37 * (v % 50), char('a' + v % 26)); };
  for (int i = 0; i < kKeys; ++i) REQUIRE(f.local->put(key(i), version(i)).ok());
  constexpr uint64_t kMax = 8000;  // room for a few objects: constant eviction
  auto cache = f.cache(kMax, {.max_object_bytes = 3000});

  std::atomic<int> bad{0}, reads{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      unsigned seed = 17u * unsigned(t + 1);
      while (!stop) {
        seed = seed * 1103515245u + 12345u;
        const int i = int(seed >> 8) % kKeys;
        auto r = cache->open(key(i));
        if (!r.ok()) {
          ++bad;
          continue;
        }
        std::string got = read_all(**r);
        if (got.size() != (*r)->info().size || got.empty() ||
            got.find_first_not_of(got[0]) != std::string::npos)
          ++bad;
        ++reads;
      }
    });
  // A writer republishes objects through the cache and behind its back.
  for (int v = kKeys; v < kKeys + 200; ++v) {
    auto& store = v % 2 ? *f.local : static_cast<storage::Storage&>(*cache);
    REQUIRE(store.put(key(v % kKeys), version(v)).ok());
  }
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(bad == 0);
  CHECK(reads > 0);
  auto s = cache->stats();
  CHECK(s.bytes <= kMax);
  CHECK(cached_file_bytes(f.cache_dir()) == s.bytes);
  CHECK(count_files(f.cache_dir(), ".obj") == int(s.objects));
  // After the dust settles every key reads as its last version.
  for (int i = 0; i < kKeys; ++i) {
    int last = kKeys + 200 - 1;
    while (last % kKeys != i) --last;
    CHECK(read_all(*cache->open(key(i)).value()) == version(last));
  }
}

TEST_CASE("a writer or publication may outlive the last handle on the cache") {
  Fixture f;
  std::unique_ptr<storage::Writer> w;
  std::unique_ptr<storage::Publication> p;
  {
    auto cache = f.cache();
    w = cache->write("media/v1/poster.jpg").value();
    p = cache->publish("media/v2/").value();
  }
  REQUIRE(w->write("jpeg", 4).ok());
  CHECK(w->commit().ok());
  auto pw = p->create("master.m3u8").value();
  REQUIRE(pw->write("#EXTM3U\n", 8).ok());
  REQUIRE(pw->commit().ok());
  CHECK(p->publish({"master.m3u8"}).ok());
  CHECK(f.local->get("media/v1/poster.jpg").value() == "jpeg");
  CHECK(f.local->get("media/v2/master.m3u8").value() == "#EXTM3U\n");
}
