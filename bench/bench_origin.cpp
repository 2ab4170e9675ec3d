// Origin::serve on the hot paths of playback: a ranged segment request (what
// players and CDNs send most), and signed manifests, which are read and
// rewritten on every request. Each request also opens the object through the local
// storage backend (its path walk and fstat), so this measures syscalls, not just parsing.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "streamlet/origin.hpp"
#include "streamlet/package.hpp"
#include "streamlet/storage.hpp"

namespace {

namespace fs = std::filesystem;
using namespace streamlet;

constexpr int64_t kNow = 1700000000;

package::Track make_track(package::TrackKind kind, const char* id, int height, int segments) {
  package::Track t;
  t.kind = kind;
  t.id = id;
  t.codecs = kind == package::TrackKind::kVideo ? "avc1.64001f" : "mp4a.40.2";
  t.timescale = 90000;
  t.height = height;
  t.width = height * 16 / 9;
  t.frame_rate = 30;
  for (int i = 0; i < segments; ++i) {
    t.segments.push_back({i * 540000LL, 540000, 1500000});
    if (kind == package::TrackKind::kVideo)
      for (int k = 0; k < 3; ++k)
        t.iframes.push_back(
            {static_cast<uint32_t>(i), k * 400000ull, 60000, i * 540000LL + k * 180000, 180000});
  }
  return t;
}

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// A 2 h video (1200 six-second segments per track), written once per process.
struct Video {
  fs::path dir;
  fs::path root;
  std::shared_ptr<storage::Storage> store;  // local, on `dir`; the video is under "video/"
  Video() {
    char tmpl[] = "/tmp/bench_origin_XXXXXX";
    dir = ::mkdtemp(tmpl);
    root = dir / "video";
    package::Presentation p;
    for (auto [id, h] : {std::pair{"1080p", 1080}, {"720p", 720}, {"480p", 480}, {"360p", 360}})
      p.video.push_back(make_track(package::TrackKind::kVideo, id, h, 1200));
    p.audio = make_track(package::TrackKind::kAudio, "audio", 0, 1200);
    write(root / "master.m3u8", package::hls_master_playlist(p));
    write(root / "manifest.mpd", package::dash_manifest(p));
    write(root / "720p" / "index.m3u8", package::hls_media_playlist(p.video[1]));
    write(root / "720p" / "seg_00001.m4s", std::string(1500000, 'x'));
    auto opened = storage::open_local({.root = dir, .durable = false});
    if (!opened.ok()) std::abort();
    store = std::move(*opened);
  }
  ~Video() { fs::remove_all(dir); }
};

const Video& video() {
  static Video v;
  return v;
}

origin::OriginOptions options() {
  origin::OriginOptions o;
  o.signing_key = "bench-key-0123456789abcdef0123456789";
  o.clock = [] { return kNow; };
  return o;
}

void BM_SegmentRange(benchmark::State& state) {
  origin::Origin o(options());
  origin::OriginRequest req;
  req.path = "720p/seg_00001.m4s";
  req.headers["range"] = "bytes=100000-199999";
  for (auto _ : state) {
    origin::OriginResponse r = o.serve(*video().store, "video/", "vid", req);
    if (r.status != 206) state.SkipWithError("expected 206");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SegmentRange);

void BM_SignedSegment(benchmark::State& state) {
  origin::Origin o(options());
  origin::OriginRequest req;
  req.path = "720p/seg_00001.m4s";
  req.query = o.sign("vid", kNow + 3600).value();
  origin::AccessPolicy priv;
  priv.is_private = true;
  for (auto _ : state) {
    origin::OriginResponse r = o.serve(*video().store, "video/", "vid", req, priv);
    if (r.status != 200) state.SkipWithError("expected 200");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SignedSegment);

void BM_SignedManifest(benchmark::State& state, const char* path) {
  origin::Origin o(options());
  origin::OriginRequest req;
  req.path = path;
  req.query = o.sign("vid", kNow + 3600).value();
  origin::AccessPolicy priv;
  priv.is_private = true;
  uint64_t bytes = 0;
  for (auto _ : state) {
    origin::OriginResponse r = o.serve(*video().store, "video/", "vid", req, priv);
    if (r.status != 200) state.SkipWithError("expected 200");
    bytes += r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK_CAPTURE(BM_SignedManifest, master, "master.m3u8");
BENCHMARK_CAPTURE(BM_SignedManifest, media_2h, "720p/index.m3u8");
BENCHMARK_CAPTURE(BM_SignedManifest, mpd_2h, "manifest.mpd");

}  // namespace

BENCHMARK_MAIN();
