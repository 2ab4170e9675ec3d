// Segment boundaries are decided once, from the video's keyframe decision, and
// every track obeys them: the audio playlist and every video playlist list the
// same number of segments, segment i of each track starts at the same instant
// (audio within one AAC frame, the finest it can be cut), the HLS and DASH
// durations are what ffprobe measures in the segment files, and the audio
// track lasts as long as the video. Checked with ffprobe on small lavfi sources
// whose frame rate does not put a frame on every multiple of the segment
// duration, and whose audio is longer, shorter, later than the video, or absent.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "streamlet/transcode.hpp"
#include "transcode/stages.hpp"
#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace tc = streamlet::transcode;
namespace mf = streamlet::test::manifest;

namespace {

// What ffprobe sees in one track: where each segment starts and how long it lasts.
struct ProbedTrack {
  std::string id;
  std::vector<double> starts;
  std::vector<double> durations;
  double end = 0;  // where the last sample of the last segment ends
};


// Each segment alone (init + segment), as a player fetches it: where ffprobe
// says it starts. A segment lasts until the next one starts; the last one
// until the track's last sample ends, which is the first start plus what the
// fragments declare (trun durations, read by the test's own box reader: FFmpeg
// reports a shortened last AAC frame as a whole one).
ProbedTrack probe_track(const fs::path& dir, const fs::path& scratch) {
  ProbedTrack t;
  t.id = dir.filename().string();
  auto segs = segment_files(dir);
  REQUIRE_MESSAGE(!segs.empty(), dir << " has no segments");
  for (const auto& seg : segs) {
    auto pkts = probe_packets(join_track(dir, scratch, {seg}));
    REQUIRE_MESSAGE(!pkts.empty(), seg << " holds no packet");
    double start = pkts.front().pts;
    for (auto& p : pkts) start = std::min(start, p.pts);
    t.starts.push_back(start);
  }
  auto tb = ffprobe(dir / "init.mp4")["streams"][0]["time_base"].get<std::string>();  // "1/48000"
  const double timescale = std::stod(tb.substr(tb.find('/') + 1));
  uint64_t ticks = 0;
  for (uint32_t d : fragment_sample_durations(dir)) ticks += d;
  t.end = t.starts.front() + ticks / timescale;
  for (size_t i = 0; i < t.starts.size(); ++i)
    t.durations.push_back((i + 1 < t.starts.size() ? t.starts[i + 1] : t.end) - t.starts[i]);
  return t;
}

std::vector<double> hls_durations(const fs::path& playlist) {
  std::vector<double> out;
  for (const auto& l : mf::lines(read_file(playlist)))
    if (l.rfind("#EXTINF:", 0) == 0) out.push_back(std::stod(l.substr(8, l.find(',') - 8)));
  return out;
}

// Representation id -> segment durations in seconds, from the SegmentTimeline.
std::map<std::string, std::vector<double>> dash_durations(const fs::path& mpd_path) {
  std::string error;
  auto mpd = mf::parse_xml(read_file(mpd_path), error);
  REQUIRE_MESSAGE(mpd, error);
  std::map<std::string, std::vector<double>> out;
  for (const auto* set : mpd->one("Period").all("AdaptationSet")) {
    for (const auto* rep : set->all("Representation")) {
      const auto& tmpl = rep->one("SegmentTemplate");
      double timescale = tmpl.has("timescale") ? std::stod(tmpl.attr("timescale")) : 1;
      auto& d = out[rep->attr("id")];
      for (const auto* s : tmpl.one("SegmentTimeline").all("S")) {
        int repeat = s->has("r") ? std::stoi(s->attr("r")) : 0;
        for (int i = 0; i <= repeat; ++i) d.push_back(std::stod(s->attr("d")) / timescale);
      }
    }
  }
  return out;
}

double video_stream_seconds(const fs::path& source) {
  auto j = ffprobe(source);
  for (const auto& s : j["streams"])
    if (s["codec_type"] == "video") return std::stod(s["duration"].get<std::string>());
  FAIL("no video stream in " << source);
  return 0;
}

struct Case {
  std::string name;
  fs::path source;
  double segment_seconds = 3;
  bool audio = true;
  size_t segments = 0;  // expected per track
};

tc::Options options_for(const Case& c) {
  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k,144p:150k").value();
  o.preset = "veryfast";
  o.segment_seconds = c.segment_seconds;
  o.keyframe_interval_seconds = std::min(1.0, c.segment_seconds);
  o.write_poster = false;
  o.write_storyboard = false;
  return o;
}

// Transcodes the case and checks every promise of the file comment.
void check_boundaries(const Case& c) {
  TempDir work;
  fs::path out = work / "out";
  auto result = tc::transcode(c.source.string(), out.string(), options_for(c));
  REQUIRE_MESSAGE(result.ok(), result.status().message());
  REQUIRE(result->video.size() == 2);
  REQUIRE(result->audio.has_value() == c.audio);

  TempDir scratch;
  std::vector<ProbedTrack> tracks;
  for (const auto& v : result->video) tracks.push_back(probe_track(out / v.id, scratch.path()));
  if (c.audio) tracks.push_back(probe_track(out / "audio", scratch.path()));
  const auto dash = dash_durations(out / "manifest.mpd");
  const ProbedTrack& reference = tracks.front();
  MESSAGE(c.name << ": " << reference.id << " segments start at "
                 << [&] {
                      std::ostringstream s;
                      for (double x : reference.starts) s << x << " ";
                      return s.str();
                    }());

  // One AAC frame is the finest an audio cut can be; the video tracks agree exactly
  // (one 90 kHz tick of rounding in ffprobe's printout).
  const double aac_frame = c.audio ? 1024.0 / std::stod(ffprobe(out / "audio" / "init.mp4")["streams"][0]
                                                            ["sample_rate"].get<std::string>())
                                   : 0;
  for (const auto& t : tracks) {
    const bool is_audio = t.id == "audio";
    const double tolerance = is_audio ? aac_frame + 1e-4 : 1e-4;
    CHECK_MESSAGE(t.starts.size() == (c.segments ? c.segments : reference.starts.size()),
                  c.name << ": " << t.id << " has " << t.starts.size() << " segments");
    for (size_t i = 0; i < std::min(t.starts.size(), reference.starts.size()); ++i)
      CHECK_MESSAGE(std::fabs(t.starts[i] - reference.starts[i]) <= tolerance,
                    c.name << ": segment " << i << " of " << t.id << " starts at " << t.starts[i]
                           << ", of " << reference.id << " at " << reference.starts[i]);

    // What the playlists say each segment lasts is what the files hold (EXTINF
    // is printed to the microsecond, DASH in the track's timescale).
    auto hls = hls_durations(out / t.id / "index.m3u8");
    REQUIRE_MESSAGE(hls.size() == t.durations.size(), c.name << ": " << t.id << " HLS lists "
                                                           << hls.size() << " segments");
    REQUIRE_MESSAGE(dash.count(t.id), c.name << ": no DASH representation " << t.id);
    const auto& d = dash.at(t.id);
    REQUIRE_MESSAGE(d.size() == t.durations.size(), c.name << ": " << t.id << " DASH lists "
                                                         << d.size() << " segments");
    for (size_t i = 0; i < t.durations.size(); ++i) {
      CHECK_MESSAGE(std::fabs(hls[i] - t.durations[i]) <= 1e-3,
                    c.name << ": " << t.id << " segment " << i << " EXTINF " << hls[i]
                           << " s, ffprobe " << t.durations[i] << " s");
      CHECK_MESSAGE(std::fabs(d[i] - t.durations[i]) <= 1e-3,
                    c.name << ": " << t.id << " segment " << i << " DASH " << d[i]
                           << " s, ffprobe " << t.durations[i] << " s");
    }
  }

  // Every video track lasts as long as the source's video (to within the one
  // frame a variable-rate source may gain on its constant-rate grid), and the
  // audio track as long as the video, to within an AAC frame: its first frame
  // carries the encoder's priming and starts that much early.
  const double source_seconds = video_stream_seconds(c.source);
  const double frame = 1 / result->frame_rate;
  for (const auto& t : tracks) {
    const double span = t.end - t.starts.front();
    if (t.id == "audio") {
      const double video_span = reference.end - reference.starts.front();
      CHECK_MESSAGE(span <= video_span + aac_frame + 1e-3,
                    c.name << ": audio lasts " << span << " s, the video " << video_span);
      CHECK_MESSAGE(span >= video_span - 1e-3,
                    c.name << ": audio lasts " << span << " s, the video " << video_span);
      CHECK_MESSAGE(std::fabs(t.end - reference.end) <= 1e-3,
                    c.name << ": audio ends at " << t.end << ", video at " << reference.end);
    } else {
      CHECK_MESSAGE(std::fabs(span - source_seconds) <= frame + 1e-3,
                    c.name << ": " << t.id << " lasts " << span << " s, the source " << source_seconds);
    }
  }
}

std::string lavfi_video(double rate, double seconds) {
  std::ostringstream s;
  s << "testsrc2=size=320x240:rate=" << rate << ":duration=" << seconds;
  return s.str();
}

std::string lavfi_tone(double seconds, int sample_rate = 48000) {
  std::ostringstream s;
  s << "sine=frequency=440:sample_rate=" << sample_rate << ":duration=" << seconds;
  return s.str();
}

// H.264 + AAC in MP4; `audio_filter` shapes the tone (delay, ...).
fs::path av_fixture(const std::string& name, const std::string& video, const std::string& tone,
                    const std::string& audio_filter = "anull") {
  return fixture(name, {"-f", "lavfi", "-i", video, "-f", "lavfi", "-i", tone, "-filter_complex",
                        "[1:a]" + audio_filter + ",aformat=channel_layouts=stereo[a]", "-map", "0:v",
                        "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                        "yuv420p", "-c:a", "aac", "-b:a", "96k"});
}

}  // namespace

// 12.5 fps: no frame at 3 s or 9 s, so the video's segments start at 3.04 s and
// 9.04 s; an audio grid of its own would cut 40 ms (two AAC frames) too early.
TEST_CASE("frame rate off the segment grid: audio is cut where the video is") {
  check_boundaries({"off-grid", av_fixture("bound_offgrid.mp4", lavfi_video(12.5, 10), lavfi_tone(10)), 3,
                    true, 4});
}

TEST_CASE("audio longer than the video: cut at the video's end, same segments") {
  check_boundaries({"audio-longer",
                    av_fixture("bound_audio_longer.mp4", lavfi_video(12.5, 7), lavfi_tone(9)), 3, true, 3});
}

TEST_CASE("audio shorter than the video: padded to the video's end, same segments") {
  check_boundaries({"audio-shorter",
                    av_fixture("bound_audio_shorter.mp4", lavfi_video(12.5, 7), lavfi_tone(2.5)), 3, true,
                    3});
}

TEST_CASE("audio starting late: silence first, same segments") {
  check_boundaries({"audio-late",
                    av_fixture("bound_audio_late.mp4", lavfi_video(12.5, 7), lavfi_tone(5.7),
                               "adelay=1300|1300"),
                    3, true, 3});
}

TEST_CASE("no audio: every rendition has the same segments") {
  fs::path src = fixture("bound_no_audio.mp4", {"-f", "lavfi", "-i", lavfi_video(12.5, 7), "-c:v", "libx264",
                                                "-preset", "ultrafast", "-pix_fmt", "yuv420p"});
  check_boundaries({"no-audio", src, 3, false, 3});
}

// Frames 1/24 s apart, then 1/30 s apart: resampled to a constant rate first.
TEST_CASE("variable frame rate source: audio and video share the boundaries") {
  fs::path src = fixture("bound_vfr.mp4",
                         {"-f", "lavfi", "-i", lavfi_video(24, 3.5), "-f", "lavfi", "-i", lavfi_video(30, 3.5),
                          "-f", "lavfi", "-i", lavfi_tone(7), "-filter_complex",
                          "[0:v][1:v]concat=n=2:v=1:a=0[v];[2:a]aformat=channel_layouts=stereo[a]", "-map",
                          "[v]", "-map", "[a]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
                          "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"});
  check_boundaries({"vfr", src, 2, true, 4});
}

TEST_CASE("a clip shorter than one segment: one segment in every track") {
  check_boundaries({"short", av_fixture("bound_short.mp4", lavfi_video(25, 1.5), lavfi_tone(1.5)), 6, true, 1});
}

// 61 frames at 60 fps, 1 s segments: the last video segment is one frame
// (16.7 ms), shorter than an AAC frame at 44.1 kHz (23.2 ms), and no AAC frame
// starts at or after 1 s; the audio must still have a second segment, opened by
// the AAC frame that holds the instant.
TEST_CASE("a last segment shorter than one AAC frame: audio still has it") {
  check_boundaries({"tiny-last",
                    av_fixture("bound_tiny_last61.mp4", lavfi_video(60, 2) + ",trim=end_frame=61",
                               lavfi_tone(61.0 / 60, 44100)),
                    1, true, 2});
}

// The same, with audio running on past the video's end: the AAC frame that
// holds the last segment's start has a successor (cut away at the end), and
// must still open the segment.
TEST_CASE("a last segment shorter than one AAC frame, audio running on: audio still has it") {
  check_boundaries({"tiny-last-long-audio",
                    av_fixture("bound_tiny_last_long_audio.mp4", lavfi_video(60, 2) + ",trim=end_frame=61",
                               lavfi_tone(3, 44100)),
                    1, true, 2});
}

// The decision alone, as the decode stage makes it: the first frame opens a
// segment, then the first frame at or after each multiple of the segment
// duration; a gap longer than a segment opens one segment, not several; what
// is decided is readable (by the audio stage) as soon as it is decided.
TEST_CASE("segment boundaries: the first frame at or after each multiple of the segment duration") {
  namespace d = streamlet::transcode::detail;
  d::SegmentBoundaries b(3 * d::kVideoTimescale);  // 3 s segments
  const int64_t frame = d::kVideoTimescale * 2 / 25;  // 12.5 fps: no frame at 3 s
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < 125; ++i) {
    const int64_t t = i * frame;
    CHECK_FALSE(b.decided_through(t));
    if (b.decide(t)) starts.push_back(t);
    CHECK(b.decided_through(t));
  }
  CHECK(starts == std::vector<int64_t>{0, 38 * frame, 75 * frame, 113 * frame});  // 0, 3.04, 6, 9.04 s
  for (size_t i = 0; i < starts.size(); ++i) CHECK(b.at(i) == starts[i]);
  CHECK_FALSE(b.at(starts.size()).has_value());
  // A frame 4 s after the last one crosses the 12 s mark only: one new segment.
  CHECK(b.decide(124 * frame + 4 * d::kVideoTimescale));
  CHECK_FALSE(b.at(5).has_value());
}
