// Manifest generation for a 2 h presentation: 4 video renditions + audio,
// 6 s segments, an I-frame every 2 s. Manifests are rewritten whenever a
// video is (re)packaged, so this should stay far below a millisecond per MB.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "streamlet/package.hpp"

namespace {

using namespace streamlet::package;

constexpr int kSegmentSeconds = 6;
constexpr int kSegments = 2 * 3600 / kSegmentSeconds;  // 1200

Track make_video(const char* id, const char* codecs, int w, int h, int kbps) {
  Track t;
  t.kind = TrackKind::kVideo;
  t.id = id;
  t.codecs = codecs;
  t.timescale = 90000;
  t.width = w;
  t.height = h;
  t.frame_rate = 30;
  t.target_bitrate = kbps * 1000;
  const int64_t seg = kSegmentSeconds * 90000;
  const int64_t gop = 2 * 90000;
  for (uint32_t i = 0; i < kSegments; ++i) {
    // Vary sizes (+-25%) so the peak search has work to do.
    uint64_t bytes =
        static_cast<uint64_t>(kbps) * 125 * kSegmentSeconds * (75 + (i * 37) % 50) / 100;
    t.segments.push_back({i * seg, seg, bytes});
    for (int64_t at = 0; at < seg; at += gop)
      t.iframes.push_back(
          {i, static_cast<uint64_t>(at / gop) * 200000, bytes / 20, i * seg + at, gop});
  }
  return t;
}

Presentation make_presentation() {
  Presentation p;
  p.video = {make_video("1080p", "avc1.640028", 1920, 1080, 5000),
             make_video("720p", "avc1.64001f", 1280, 720, 2800),
             make_video("480p", "avc1.64001e", 854, 480, 1400),
             make_video("360p", "avc1.640015", 640, 360, 800)};
  Track a;
  a.kind = TrackKind::kAudio;
  a.id = "audio";
  a.codecs = "mp4a.40.2";
  a.timescale = 48000;
  a.sample_rate = 48000;
  a.channels = 2;
  // 6 s of AAC is 281.25 frames: segments alternate 281 and 282 frames, which
  // defeats the @r compression the way real audio does.
  int64_t start = 0;
  for (int i = 0; i < kSegments; ++i) {
    int64_t d = 1024 * (i % 4 == 3 ? 282 : 281);
    a.segments.push_back({start, d, 96000});
    start += d;
  }
  p.audio = a;
  return p;
}

const Presentation& presentation() {
  static const Presentation p = make_presentation();
  return p;
}

void BM_HlsMaster(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(hls_master_playlist(presentation()));
}
BENCHMARK(BM_HlsMaster)->Unit(benchmark::kMicrosecond);

void BM_HlsMediaPlaylists(benchmark::State& state) {
  const Presentation& p = presentation();
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const Track& t : p.video) bytes += hls_media_playlist(t).size();
    bytes += hls_media_playlist(*p.audio).size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_HlsMediaPlaylists)->Unit(benchmark::kMicrosecond);

void BM_HlsIframePlaylists(benchmark::State& state) {
  const Presentation& p = presentation();
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const Track& t : p.video) bytes += hls_iframe_playlist(t).size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_HlsIframePlaylists)->Unit(benchmark::kMicrosecond);

void BM_DashManifest(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) bytes = dash_manifest(presentation()).size();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_DashManifest)->Unit(benchmark::kMicrosecond);

// Everything the packager writes at the end of a job.
void BM_AllManifests(benchmark::State& state) {
  const Presentation& p = presentation();
  for (auto _ : state) {
    benchmark::DoNotOptimize(hls_master_playlist(p));
    for (const Track& t : p.video) {
      benchmark::DoNotOptimize(hls_media_playlist(t));
      benchmark::DoNotOptimize(hls_iframe_playlist(t));
    }
    benchmark::DoNotOptimize(hls_media_playlist(*p.audio));
    benchmark::DoNotOptimize(dash_manifest(p));
  }
}
BENCHMARK(BM_AllManifests)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
