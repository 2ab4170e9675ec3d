// What users feed a video platform: bad files get a clear error and leave
// nothing behind; odd but valid videos come out right.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "streamlet/transcode.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
using streamlet::ErrorCode;
namespace tc = streamlet::transcode;

namespace {

tc::Options small_options() {
  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k,144p:150k").value();
  o.preset = "veryfast";
  return o;
}

// The transcode fails with `code`, says something about the file, and leaves
// neither the output directory nor a hidden work directory behind.
void expect_rejected(const fs::path& input, ErrorCode code, const std::string& says) {
  TempDir dir;
  fs::path out = dir / "out";
  auto r = tc::transcode(input.string(), out.string(), small_options());
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.status().code() == code, r.status().to_string());
  CHECK_MESSAGE(r.status().message().find(input.filename().string()) != std::string::npos,
                "error does not name the file: " << r.status().to_string());
  CHECK_MESSAGE(r.status().message().find(says) != std::string::npos, r.status().to_string());
  CHECK_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir.path()))
    FAIL_CHECK("left behind: " << e.path());
}

}  // namespace

TEST_CASE("bad input: a missing file") {
  TempDir d;
  expect_rejected(d / "nope.mp4", ErrorCode::kNotFound, "no such file");
}

TEST_CASE("bad input: an empty file") {
  TempDir d;
  write_file(d / "empty.mp4", "");
  expect_rejected(d / "empty.mp4", ErrorCode::kInvalidMedia, "empty");
}

TEST_CASE("bad input: a text file") {
  TempDir d;
  write_file(d / "notes.mp4", "These are my holiday notes, not a video.\n");
  expect_rejected(d / "notes.mp4", ErrorCode::kInvalidMedia, "not");
}

TEST_CASE("bad input: a PNG image") {
  auto png = fixture("still.png", {"-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"});
  expect_rejected(png, ErrorCode::kInvalidMedia, "image");
}

TEST_CASE("bad input: a truncated MP4 (index at the end, cut off)") {
  TempDir d;
  std::string bytes = read_file(clip_small());
  write_file(d / "cut.mp4", bytes.substr(0, bytes.size() / 2));
  expect_rejected(d / "cut.mp4", ErrorCode::kInvalidMedia, "cut.mp4");
}

TEST_CASE("bad input: a truncated MP4 (index first, media cut off)") {
  auto faststart = fixture("faststart.mp4", {"-i", clip_small().string(), "-c", "copy", "-movflags", "+faststart"});
  TempDir d;
  std::string bytes = read_file(faststart);
  write_file(d / "cut-faststart.mp4", bytes.substr(0, bytes.size() * 6 / 10));
  expect_rejected(d / "cut-faststart.mp4", ErrorCode::kInvalidMedia, "truncated");
}

TEST_CASE("bad input: an HLS playlist pointing at a real video is refused, not followed") {
  TempDir d;
  write_file(d / "sneaky.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4,\n" +
                                    clip_small().string() + "\n#EXT-X-ENDLIST\n");
  expect_rejected(d / "sneaky.m3u8", ErrorCode::kInvalidMedia, "playlist");
}

TEST_CASE("bad input: an ffconcat list pointing at a real video is refused, not followed") {
  TempDir d;
  write_file(d / "list.txt", "ffconcat version 1.0\nfile '" + clip_small().string() + "'\n");
  expect_rejected(d / "list.txt", ErrorCode::kInvalidMedia, "concat");
}

TEST_CASE("bad input: an audio-only file") {
  auto m4a = fixture("tone.m4a", {"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac"});
  expect_rejected(m4a, ErrorCode::kInvalidMedia, "audio only");
}

TEST_CASE("an existing directory that is not a Streamlet output is never replaced") {
  TempDir d;
  fs::create_directories(d / "photos");
  write_file(d / "photos" / "keep.txt", "precious");
  auto r = tc::transcode(clip_small().string(), (d / "photos").string(), small_options());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAlreadyExists);
  CHECK(read_file(d / "photos" / "keep.txt") == "precious");
}

TEST_CASE("a second run replaces an earlier output as a whole") {
  TempDir d;
  auto first = tc::transcode(clip_small().string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(first.ok(), first.status().to_string());
  tc::Options one = small_options();
  one.ladder = tc::parse_ladder("144p:150k").value();
  auto second = tc::transcode(clip_small().string(), (d / "out").string(), one);
  REQUIRE_MESSAGE(second.ok(), second.status().to_string());
  CHECK_FALSE(fs::exists(d / "out" / "240p"));
  CHECK(fs::exists(d / "out" / "144p" / "init.mp4"));
  int entries = 0;
  for (const auto& e : fs::directory_iterator(d.path())) (void)e, ++entries;
  CHECK(entries == 1);  // no old copy or work directory left beside it
}

TEST_CASE("odd input: video without audio gets a video-only ladder and manifests") {
  auto silent = fixture("silent.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
                                       "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"});
  TempDir d;
  auto r = tc::transcode(silent.string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK_FALSE(r->audio.has_value());
  CHECK_FALSE(fs::exists(d / "out" / "audio"));
  std::string master = read_file(d / "out" / "master.m3u8");
  CHECK(master.find("EXT-X-MEDIA") == std::string::npos);
  CHECK(master.find("mp4a") == std::string::npos);
  CHECK(read_file(d / "out" / "manifest.mpd").find("contentType=\"audio\"") == std::string::npos);
  CHECK(decode_errors(d / "out" / "master.m3u8") == "");
  CHECK(decode_errors(d / "out" / "manifest.mpd") == "");
}

TEST_CASE("odd input: odd dimensions below every rung give one even-sized rendition") {
  auto odd = fixture("odd.mkv", {"-f", "lavfi", "-i", "testsrc2=size=321x241:rate=25:duration=2",
                                 "-c:v", "ffv1"});
  TempDir d;
  auto r = tc::transcode(odd.string(), (d / "out").string(), tc::Options{});  // default ladder
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  REQUIRE(r->video.size() == 1);
  TempDir scratch;
  auto s = ffprobe(join_track(d / "out" / r->video[0].id, scratch.path()))["streams"][0];
  int w = s["width"], h = s["height"];
  CHECK(w % 2 == 0);
  CHECK(h % 2 == 0);
  CHECK(h <= 241);
  CHECK(std::fabs(double(w) / h - 321.0 / 241.0) < 0.02);
  CHECK(decode_errors(d / "out" / "master.m3u8") == "");
}

TEST_CASE("odd input: a rotated phone video comes out upright") {
  // Left half red, right half blue, stored landscape with a 90-degree display rotation.
  auto flat = fixture("halves.mp4", {"-f", "lavfi", "-i", "color=red:size=160x240:rate=25:duration=2",
                                     "-f", "lavfi", "-i", "color=blue:size=160x240:rate=25:duration=2",
                                     "-filter_complex", "[0][1]hstack", "-c:v", "libx264", "-preset",
                                     "ultrafast", "-pix_fmt", "yuv420p"});
  auto rotated = fixture("rotated.mp4", {"-i", flat.string(), "-c", "copy", "-metadata:s:v:0", "rotate=90"});
  auto info = streamlet::media::probe(rotated.string());
  REQUIRE(info.ok());
  CHECK(info->video[0].rotation % 180 == 90);
  CHECK(info->video[0].display_width == 240);
  CHECK(info->video[0].display_height == 320);

  TempDir d;
  auto r = tc::transcode(rotated.string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  REQUIRE(r->video.size() >= 1);
  CHECK(r->video[0].width == 240);  // portrait: the rung is the short side
  CHECK(r->video[0].height == 320);
  // The picture must be turned the way players turn it: ffmpeg's own autorotate
  // of the source is the reference. Compare the top and bottom colours.
  auto top_bottom = [&](const fs::path& in, const std::string& name) {
    fs::path rgb = d / (name + ".rgb");
    auto px = run({"ffmpeg", "-v", "error", "-i", in.string(), "-frames:v", "1", "-vf", "scale=1:2",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", rgb.string()});
    REQUIRE_MESSAGE(px.exit_code == 0, px.output);
    std::string p = read_file(rgb);
    REQUIRE(p.size() == 6);
    auto red = [&](int i) { return static_cast<unsigned char>(p[i]) > static_cast<unsigned char>(p[i + 2]); };
    return std::make_pair(red(0), red(3));  // is the top red? is the bottom red?
  };
  auto want = top_bottom(rotated, "ref");
  CHECK(want.first != want.second);  // the reference really has one half of each
  CHECK(top_bottom(d / "out" / "master.m3u8", "ours") == want);
}

TEST_CASE("odd input: 10-bit 4:2:2 becomes 8-bit 4:2:0 High profile") {
  auto hi = fixture("tenbit.mp4", {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                                   "-pix_fmt", "yuv422p10le", "-c:v", "libx264", "-preset", "ultrafast"});
  auto info = streamlet::media::probe(hi.string());
  REQUIRE(info.ok());
  CHECK(info->video[0].bit_depth == 10);
  CHECK(info->video[0].chroma_subsampling == "4:2:2");
  TempDir d;
  auto r = tc::transcode(hi.string(), (d / "out").string(), small_options());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  TempDir scratch;
  auto s = ffprobe(join_track(d / "out" / "240p", scratch.path()))["streams"][0];
  CHECK(s["pix_fmt"] == "yuv420p");
  CHECK(s["profile"] == "High");
}
