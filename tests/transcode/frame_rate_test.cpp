// Variable-frame-rate sources (phones, screen recorders, edited clips that
// join different rates) come out at one constant, natural frame rate (Apple's
// HLS authoring spec 1.14/1.15), so players and FFmpeg see monotonic, evenly
// spaced timestamps. Constant-rate sources keep every frame as it was.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "media/input.hpp"
#include "streamlet/transcode.hpp"
#include "support/media_check.hpp"
#include "transcode/stages.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace tc = streamlet::transcode;

namespace {

tc::Options small_options() {
  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k,144p:150k").value();
  o.preset = "veryfast";
  o.segment_seconds = 2;
  o.keyframe_interval_seconds = 1;
  return o;
}

// Two testsrc2 runs at different rates joined into one file whose timestamps
// change spacing where they meet, plus a tone over the whole length.
fs::path joined_rates(const std::string& name, int first_rate, double first_seconds,
                      int second_rate, double second_seconds) {
  std::ostringstream a, b, tone;
  a << "testsrc2=size=320x240:rate=" << first_rate << ":duration=" << first_seconds;
  b << "testsrc2=size=320x240:rate=" << second_rate << ":duration=" << second_seconds;
  tone << "sine=frequency=440:sample_rate=48000:duration=" << first_seconds + second_seconds;
  return fixture(name, {"-f",
                        "lavfi",
                        "-i",
                        a.str(),
                        "-f",
                        "lavfi",
                        "-i",
                        b.str(),
                        "-f",
                        "lavfi",
                        "-i",
                        tone.str(),
                        "-filter_complex",
                        "[0:v][1:v]concat=n=2:v=1:a=0[v]",
                        "-map",
                        "[v]",
                        "-map",
                        "2:a",
                        "-fps_mode",
                        "vfr",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "aac"});
}

struct VideoTiming {
  std::string avg_frame_rate, r_frame_rate;
  std::vector<int64_t> pts;  // sorted, in the stream's time base
  int time_base_den = 0;
};

// Video packet timing of `file` as ffprobe reads it.
VideoTiming video_timing(const fs::path& file) {
  VideoTiming t;
  auto j = ffprobe(file, {"-select_streams", "v:0", "-show_packets"});
  REQUIRE_MESSAGE(j.contains("streams"), file);
  REQUIRE(j["streams"].size() == 1);
  auto s = j["streams"][0];
  t.avg_frame_rate = s["avg_frame_rate"].get<std::string>();
  t.r_frame_rate = s["r_frame_rate"].get<std::string>();
  std::string tb = s["time_base"].get<std::string>();
  t.time_base_den = std::stoi(tb.substr(tb.find('/') + 1));
  for (const auto& p : j["packets"]) {
    t.pts.push_back(p["pts"].get<int64_t>());
  }
  std::sort(t.pts.begin(), t.pts.end());
  return t;
}

// What ffmpeg says (warnings included) when it reads `manifest` to the end.
std::string read_warnings(const fs::path& manifest) {
  auto r = run({"ffmpeg", "-nostdin", "-hide_banner", "-v", "warning", "-i", manifest.string(),
                "-map", "0", "-f", "null", "-"});
  if (r.exit_code != 0 && r.output.empty())
    return "ffmpeg exited with " + std::to_string(r.exit_code);
  return r.output;
}

// Every promise a VFR source's output must keep, checked with ffprobe/ffmpeg.
void expect_constant_rate(const fs::path& out, const tc::TranscodeResult& r,
                          const std::string& rate, int64_t ticks_per_frame, double source_seconds) {
  CHECK(r.frame_rate_converted);
  CHECK(r.frame_rate == doctest::Approx(90000.0 / ticks_per_frame));
  // The container's duration, not the last frame's start.
  CHECK(std::fabs(r.duration_seconds - source_seconds) < 0.05);
  for (std::string manifest : {"master.m3u8", "manifest.mpd"}) {
    std::string said = read_warnings(out / manifest);
    CHECK_MESSAGE(said.find("non monotonically increasing dts") == std::string::npos,
                  manifest << ": " << said);
    CHECK_MESSAGE(said.find("Non-monotonous DTS") == std::string::npos, manifest << ": " << said);
    CHECK_MESSAGE(said == "", manifest << ": " << said);
  }
  TempDir scratch;
  std::vector<std::vector<double>> starts;
  for (const auto& v : r.video) {
    INFO("rendition " << v.id);
    auto t = video_timing(join_track(out / v.id, scratch.path()));
    CHECK(t.avg_frame_rate == rate);
    CHECK(t.r_frame_rate == rate);
    REQUIRE(t.time_base_den == 90000);
    auto durations = fragment_sample_durations(out / v.id);
    CHECK(durations.size() == t.pts.size());
    CHECK(std::set<uint32_t>(durations.begin(), durations.end()) ==
          std::set<uint32_t>{uint32_t(ticks_per_frame)});
    std::set<int64_t> gaps;
    for (size_t i = 1; i < t.pts.size(); ++i) gaps.insert(t.pts[i] - t.pts[i - 1]);
    CHECK(gaps == std::set<int64_t>{ticks_per_frame});
    // As many frames as the rate and the duration make.
    CHECK(std::llabs(int64_t(t.pts.size()) -
                     std::llround(source_seconds * 90000 / ticks_per_frame)) <= 1);
    // Every segment opens on a keyframe at the same instant in every rendition.
    std::vector<double> s;
    for (const auto& seg : segment_files(out / v.id)) {
      auto pkts = probe_packets(join_track(out / v.id, scratch.path(), {seg}));
      REQUIRE_FALSE(pkts.empty());
      CHECK_MESSAGE(pkts.front().key, seg << " does not start with a keyframe");
      s.push_back(std::min_element(pkts.begin(), pkts.end(), [](auto& x, auto& y) {
                    return x.pts < y.pts;
                  })->pts);
    }
    starts.push_back(s);
  }
  for (size_t i = 1; i < starts.size(); ++i) CHECK(starts[i] == starts[0]);
  REQUIRE(r.audio.has_value());
  auto asegs = segment_files(out / "audio");
  REQUIRE(asegs.size() == starts[0].size());
  for (size_t i = 0; i < asegs.size(); ++i) {
    auto a = probe_packets(join_track(out / "audio", scratch.path(), {asegs[i]}));
    CHECK_MESSAGE(std::fabs(a.front().pts - starts[0][i]) <= 1024.0 / 48000 + 1e-3,
                  "segment " << i);
  }
}

// Indices of the decoded frames (as 32x24 grey) that differ visibly from the one before.
std::vector<int64_t> picture_changes(const fs::path& file,
                                     const std::vector<std::string>& output_args) {
  std::vector<std::string> argv = {
      "ffmpeg",      "-nostdin", "-v",    "error", "-i",
      file.string(), "-map",     "0:v:0", "-vf",   "scale=32:24,format=gray"};
  argv.insert(argv.end(), output_args.begin(), output_args.end());
  TempDir scratch;
  argv.insert(argv.end(), {"-f", "rawvideo", (scratch / "grey.raw").string()});
  auto r = run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::string px = read_file(scratch / "grey.raw");
  const size_t n = 32 * 24;
  std::vector<int64_t> out;
  for (size_t f = 0; (f + 1) * n <= px.size(); ++f) {
    double diff = 0;
    for (size_t i = 0; f > 0 && i < n; ++i)
      diff += std::abs(int(static_cast<unsigned char>(px[f * n + i])) -
                       int(static_cast<unsigned char>(px[(f - 1) * n + i])));
    // testsrc2 moves by about 2 grey levels per frame; re-encoded duplicates by well under 1.
    if (f == 0 || diff / n > 0.8) out.push_back(static_cast<int64_t>(f));
  }
  return out;
}

}  // namespace

TEST_CASE("VFR fixtures really change rate mid-file") {
  // Without this the tests below could pass on a constant-rate source.
  auto gaps = [](const fs::path& f) {
    auto t = video_timing(f);
    std::map<double, int> seconds;  // frame spacing -> how often
    for (size_t i = 1; i < t.pts.size(); ++i)
      ++seconds[std::round(double(t.pts[i] - t.pts[i - 1]) / t.time_base_den * 1e4) / 1e4];
    return seconds;
  };
  auto speeds_up = gaps(joined_rates("vfr_25_60.mp4", 25, 2, 60, 4));
  CHECK(speeds_up[0.04] >= 45);
  CHECK(speeds_up[0.0167] >= 230);
  auto mostly_30 = gaps(joined_rates("vfr_30_60.mp4", 30, 4, 60, 2));
  CHECK(mostly_30[0.0333] >= 115);
  CHECK(mostly_30[0.0167] >= 110);
  auto p = streamlet::media::probe(joined_rates("vfr_25_60.mp4", 25, 2, 60, 4).string());
  REQUIRE(p.ok());
  CHECK(p->video[0].variable_frame_rate);
}

TEST_CASE("VFR: 2 s at 25 fps then 4 s at 60 fps comes out at a constant 60 fps") {
  auto src = joined_rates("vfr_25_60.mp4", 25, 2, 60, 4);
  TempDir d;
  auto r = tc::transcode(src.string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  expect_constant_rate(d / "out", *r, "60/1", 1500, 6.0);
}

TEST_CASE("VFR: 4 s at 30 fps then 2 s at 60 fps comes out at a constant 30 fps") {
  auto src = joined_rates("vfr_30_60.mp4", 30, 4, 60, 2);
  TempDir d;
  auto r = tc::transcode(src.string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  expect_constant_rate(d / "out", *r, "30/1", 3000, 6.0);
}

TEST_CASE("VFR: a source with dropped frames keeps its timing on a constant 30 fps grid") {
  // 4 of every 10 frames of a 30 fps source survive (a gap of 7 frame periods):
  // the picture must still change at the source's instants.
  auto vfr = fixture("vfr.mkv", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4",
                                 "-vf", "select='lt(mod(n\\,10)\\,4)+lt(n\\,10)'", "-fps_mode",
                                 "vfr", "-c:v", "libx264", "-preset", "ultrafast"});
  TempDir d;
  tc::Options o = small_options();
  auto r = tc::transcode(vfr.string(), (d / "out").string(), o);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->frame_rate_converted);
  CHECK(r->frame_rate == doctest::Approx(30.0));
  double source_seconds = std::stod(ffprobe(vfr)["format"]["duration"].get<std::string>());
  CHECK(r->duration_seconds == doctest::Approx(source_seconds).epsilon(0.01));
  CHECK(decode_errors(d / "out" / "master.m3u8") == "");
  TempDir scratch;
  auto t = video_timing(join_track(d / "out" / "240p", scratch.path()));
  auto durations = fragment_sample_durations(d / "out" / "240p");
  CHECK(std::set<uint32_t>(durations.begin(), durations.end()) == std::set<uint32_t>{3000});
  std::set<int64_t> gaps;
  for (size_t i = 1; i < t.pts.size(); ++i) gaps.insert(t.pts[i] - t.pts[i - 1]);
  CHECK(gaps == std::set<int64_t>{3000});
  // New pictures appear where they do when ffmpeg itself resamples the source
  // to 30 fps: a duplicate never looks new and no source frame is lost.
  auto want = picture_changes(vfr, {"-fps_mode", "cfr", "-r", "30"});
  auto got = picture_changes(d / "out" / "240p" / "index.m3u8", {"-fps_mode", "passthrough"});
  CHECK(want.size() >= 50);  // the source has 54 frames
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    CHECK_MESSAGE(std::llabs(got[i] - want[i]) <= 1,
                  "picture " << i << ": frame " << got[i] << " not " << want[i]);
}

TEST_CASE("CFR: a constant-rate source keeps every frame and its rate") {
  TempDir d;
  auto r = tc::transcode(clip_small().string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK_FALSE(r->frame_rate_converted);
  CHECK(r->frame_rate == doctest::Approx(25.0));
  CHECK(count_video_frames(d / "out" / "240p" / "index.m3u8") == count_video_frames(clip_small()));
  // A Matroska file rounds 29.97 fps to whole milliseconds (33, 33, 34 ms):
  // that is timestamp rounding, not a variable rate.
  auto mkv = fixture("ntsc_ms.mkv",
                     {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001:duration=3",
                      "-c:v", "libx264", "-preset", "ultrafast"});
  auto p = streamlet::media::probe(mkv.string());
  REQUIRE(p.ok());
  CHECK_FALSE(p->video[0].variable_frame_rate);
  CHECK(p->video[0].common_frame_rate == doctest::Approx(30000.0 / 1001).epsilon(0.001));
  auto r2 = tc::transcode(mkv.string(), (d / "out2").string(), small_options());
  REQUIRE_MESSAGE(r2.ok(), r2.status().to_string());
  CHECK_FALSE(r2->frame_rate_converted);
  CHECK(count_video_frames(d / "out2" / "240p" / "index.m3u8") == count_video_frames(mkv));
}

TEST_CASE("natural frame rate: typical rates stay, others go to the typical rate that fits best") {
  using streamlet::transcode::detail::natural_frame_rate;
  auto is = [](AVRational got, int num, int den) {
    return got.num * int64_t(den) == int64_t(num) * got.den;
  };
  // Apple's typical rates are kept exactly (29.97 is not 30).
  CHECK(is(natural_frame_rate(30000.0 / 1001), 30000, 1001));
  CHECK(is(natural_frame_rate(30), 30, 1));
  CHECK(is(natural_frame_rate(24000.0 / 1001), 24000, 1001));
  CHECK(is(natural_frame_rate(50), 50, 1));
  CHECK(is(natural_frame_rate(60000.0 / 1001), 60000, 1001));
  // Near a typical rate: that rate (capture jitter, a few dropped frames).
  CHECK(is(natural_frame_rate(29.5), 30000, 1001));
  CHECK(is(natural_frame_rate(24.4), 24, 1));
  CHECK(is(natural_frame_rate(47), 50, 1));
  // Slow sources: each frame shown a whole number of times, at the lowest such rate.
  CHECK(is(natural_frame_rate(15), 30, 1));
  CHECK(is(natural_frame_rate(15000.0 / 1001), 30000, 1001));
  CHECK(is(natural_frame_rate(12), 24, 1));
  CHECK(is(natural_frame_rate(12.5), 25, 1));
  CHECK(is(natural_frame_rate(10), 30, 1));
  CHECK(is(natural_frame_rate(1), 24, 1));
  CHECK(is(natural_frame_rate(7), 24000, 1001));  // no whole multiple: the nearest
  // Never above 60 (1.15): every 2nd frame where that fits, else 60.
  CHECK(is(natural_frame_rate(120), 60, 1));
  CHECK(is(natural_frame_rate(120000.0 / 1001), 60000, 1001));
  CHECK(is(natural_frame_rate(100), 50, 1));
  CHECK(is(natural_frame_rate(240), 60, 1));
  CHECK(is(natural_frame_rate(90), 60, 1));
  // Nonsense in, a sane rate out.
  CHECK(is(natural_frame_rate(0), 25, 1));
  CHECK(is(natural_frame_rate(std::nan("")), 25, 1));
}

TEST_CASE("frame timing: rounding is not a variable rate, a change of spacing is") {
  using streamlet::media::detail::frame_timing_of;
  // 29.97 fps in milliseconds: 33, 33, 34 ms.
  std::vector<int64_t> ms;
  for (int i = 0; i < 300; ++i) ms.push_back(std::llround(i * 1001.0 / 30));
  auto t = frame_timing_of(ms, AVRational{1, 1000});
  CHECK_FALSE(t.variable);
  CHECK(1 / t.common_interval == doctest::Approx(30000.0 / 1001).epsilon(0.001));
  // 1 s at 25 fps, then 3 s at 60 fps (90 kHz): variable, and mostly 60.
  std::vector<int64_t> ticks;
  for (int i = 0; i < 25; ++i) ticks.push_back(i * 3600);
  for (int i = 0; i < 180; ++i) ticks.push_back(90000 + i * 1500);
  t = frame_timing_of(ticks, AVRational{1, 90000});
  CHECK(t.variable);
  CHECK(1 / t.common_interval == doctest::Approx(60));
  // A single frame has no spacing to speak of.
  t = frame_timing_of({0}, AVRational{1, 90000});
  CHECK_FALSE(t.variable);
  CHECK(t.common_interval == 0);
}
