// Hot stages of the pipeline, one at a time, on frames generated in memory:
// the per-rendition scale + x264 encode step, and a whole small transcode.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "media/av.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"
#include "transcode/stages.hpp"

namespace fs = std::filesystem;
namespace tc = streamlet::transcode;
using namespace streamlet::media::detail;

namespace {

SharedFrame make_source_frame(int w, int h) {
  FramePtr f = make_frame();
  f->format = AV_PIX_FMT_YUV420P;
  f->width = w;
  f->height = h;
  av_frame_get_buffer(f.get(), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) f->data[0][y * f->linesize[0] + x] = static_cast<uint8_t>((x * 7 + y * 3) & 0xff);
  for (int y = 0; y < h / 2; ++y)
    for (int x = 0; x < w / 2; ++x) {
      f->data[1][y * f->linesize[1] + x] = static_cast<uint8_t>(128 + ((x + y) & 31));
      f->data[2][y * f->linesize[2] + x] = static_cast<uint8_t>(128 - ((x - y) & 31));
    }
  return share_frame(std::move(f));
}

const bool quiet = [] {
  streamlet::media::set_libav_log_level(streamlet::media::LibavLogLevel::kQuiet);
  return true;
}();

// One rendition's per-frame work: 1080p source scaled to the rung, x264 veryfast, CMAF mux
// into a publication of a throwaway local store (not durable: the disk's fsync is not the
// encoder's cost), as a transcode writes it.
void BM_RenditionEncode(benchmark::State& state) {
  const int height = static_cast<int>(state.range(0));
  auto ladder = tc::parse_ladder(std::to_string(height) + "p").value();
  auto plan = tc::plan_ladder(ladder, 1920, 1080);
  fs::path dir = fs::temp_directory_path() / ("bench-rendition-" + std::to_string(height));
  fs::remove_all(dir);
  auto store = streamlet::storage::open_local({.root = dir, .durable = false});
  if (!store.ok()) return state.SkipWithError(store.status().to_string().c_str());
  auto pub = (*store)->publish("out/");
  if (!pub.ok()) return state.SkipWithError(pub.status().to_string().c_str());
  tc::detail::VideoRenditionEncoder::Config c;
  c.plan = plan.front();
  c.frame_rate = AVRational{30, 1};
  c.keyframe_interval_frames = 60;
  c.out = pub->get();
  c.dir = c.plan.rendition.name;
  c.threads = 1;
  auto enc = tc::detail::VideoRenditionEncoder::open(c);
  if (!enc.ok()) {
    state.SkipWithError(enc.status().to_string().c_str());
    return;
  }
  SharedFrame src = make_source_frame(1920, 1080);
  int64_t n = 0;
  for (auto _ : state) {
    tc::detail::VideoFrame f;
    f.frame = src;
    f.pts = 90000 + n * 3000;
    f.duration = 3000;
    f.keyframe = f.segment_start = (n % 180 == 0);
    auto s = (*enc)->encode(f);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    ++n;
  }
  if (auto s = (*enc)->finish(); !s.ok()) state.SkipWithError(s.to_string().c_str());
  state.SetItemsProcessed(state.iterations());
  state.counters["fps"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["segments"] = static_cast<double>((*enc)->track().segments.size());
  fs::remove_all(dir);
}
BENCHMARK(BM_RenditionEncode)->Arg(720)->Arg(360)->Unit(benchmark::kMillisecond)->UseRealTime();

// A whole transcode of a small generated clip through the flow graph.
void BM_TranscodeClip(benchmark::State& state) {
  fs::path dir = fs::temp_directory_path() / "bench-transcode";
  fs::create_directories(dir);
  fs::path src = dir / "src.mp4";
  if (!fs::exists(src)) {
    std::string cmd = "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=4 "
                      "-f lavfi -i sine=duration=4 -c:v libx264 -preset ultrafast -c:a aac " + src.string();
    if (std::system(cmd.c_str()) != 0) {
      state.SkipWithError("ffmpeg could not make the source clip");
      return;
    }
  }
  tc::Options o;
  o.ladder = tc::parse_ladder("360p,240p:400k").value();
  for (auto _ : state) {
    auto r = tc::transcode(src.string(), (dir / "out").string(), o);
    if (!r.ok()) state.SkipWithError(r.status().to_string().c_str());
  }
  state.counters["video_s_per_s"] = benchmark::Counter(4.0 * state.iterations(), benchmark::Counter::kIsRate);
  fs::remove_all(dir);
}
BENCHMARK(BM_TranscodeClip)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
