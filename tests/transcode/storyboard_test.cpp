// Storyboard thumbnails as a player's thumbnail plugin reads them: the WebVTT
// track parsed here, the sprite sheets decoded by ffprobe/ffmpeg, and the
// pixels of a tile compared with what the source shows at the cue's time.
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "streamlet/transcode.hpp"
#include "support/support.hpp"

namespace fs = std::filesystem;
using namespace streamlet;
using namespace streamlet::test;

namespace {

struct Cue {
  double start = 0, end = 0;
  std::string sheet;
  int x = 0, y = 0, w = 0, h = 0;
};

double parse_time(const std::string& s) {
  std::smatch m;
  static const std::regex re(R"((\d\d):(\d\d):(\d\d)\.(\d\d\d))");
  REQUIRE_MESSAGE(std::regex_match(s, m, re), "bad WebVTT timestamp: " << s);
  return std::stoi(m[1]) * 3600.0 + std::stoi(m[2]) * 60.0 + std::stoi(m[3]) +
         std::stoi(m[4]) / 1000.0;
}

// A strict little reader for the thumbnails-track subset of WebVTT.
std::vector<Cue> parse_vtt(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(!lines.empty());
  CHECK(lines[0] == "WEBVTT");
  static const std::regex timing(R"((\S+) --> (\S+))");
  static const std::regex payload(R"(([A-Za-z0-9_.]+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+))");
  std::vector<Cue> cues;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    std::smatch t, p;
    REQUIRE_MESSAGE(std::regex_match(lines[i], t, timing), "line " << i << ": " << lines[i]);
    REQUIRE(i + 1 < lines.size());
    REQUIRE_MESSAGE(std::regex_match(lines[i + 1], p, payload), "line " << i + 1);
    Cue c;
    c.start = parse_time(t[1]);
    c.end = parse_time(t[2]);
    c.sheet = p[1];
    c.x = std::stoi(p[2]);
    c.y = std::stoi(p[3]);
    c.w = std::stoi(p[4]);
    c.h = std::stoi(p[5]);
    cues.push_back(c);
    ++i;
  }
  return cues;
}

struct Rgb {
  int r = 0, g = 0, b = 0;
};

// Mean colour of a region of a JPEG, computed by ffmpeg (area scaling to 1x1).
Rgb mean_colour(const fs::path& jpeg, int x, int y, int w, int h, const fs::path& scratch) {
  fs::path raw = scratch / "pixel.rgb";
  auto r = run({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", jpeg.string(), "-vf",
                "crop=" + std::to_string(w) + ":" + std::to_string(h) + ":" + std::to_string(x) +
                    ":" + std::to_string(y) + ",scale=1:1:flags=area,format=rgb24",
                "-f", "rawvideo", raw.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::string bytes = read_file(raw);
  REQUIRE(bytes.size() == 3);
  return {static_cast<unsigned char>(bytes[0]), static_cast<unsigned char>(bytes[1]),
          static_cast<unsigned char>(bytes[2])};
}

// Red for 4 s then blue for 4 s, 320x180 at 25 fps: the cut is at frame 100, t = 4.000.
fs::path red_then_blue() {
  return fixture("red_then_blue.mp4",
                 {"-f", "lavfi", "-i", "color=c=red:size=320x180:rate=25:duration=4", "-f", "lavfi",
                  "-i", "color=c=blue:size=320x180:rate=25:duration=4", "-filter_complex",
                  "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264", "-preset", "ultrafast",
                  "-pix_fmt", "yuv420p"});
}

transcode::Options small_options(const std::string& ladder) {
  transcode::Options o;
  o.ladder = transcode::parse_ladder(ladder).value();
  o.preset = "ultrafast";
  o.write_dash = false;
  o.threads = 2;
  return o;
}

// Checks everything a player relies on; returns the cues.
std::vector<Cue> check_storyboard(const fs::path& out, double duration, double interval) {
  REQUIRE(fs::exists(out / "storyboard.vtt"));
  auto cues = parse_vtt(read_file(out / "storyboard.vtt"));
  REQUIRE(!cues.empty());
  CHECK(cues.size() == static_cast<size_t>(std::ceil(duration / interval - 1e-6)));
  // Contiguous from 0 to the end of the video, each as long as the interval but the last.
  CHECK(cues.front().start == 0);
  for (size_t i = 0; i < cues.size(); ++i) {
    CHECK(cues[i].end > cues[i].start);
    if (i + 1 < cues.size()) {
      CHECK(cues[i].end == cues[i + 1].start);
      CHECK(std::abs(cues[i].end - cues[i].start - interval) < 0.0015);
    }
  }
  CHECK(std::abs(cues.back().end - duration) < 0.0015);

  // Sheets decode, and every tile lies inside its sheet; no tile is used twice.
  std::map<std::string, std::pair<int, int>> sizes;
  std::set<std::tuple<std::string, int, int>> tiles;
  for (const auto& c : cues) {
    if (!sizes.count(c.sheet)) {
      REQUIRE_MESSAGE(fs::exists(out / c.sheet), c.sheet);
      auto j = ffprobe(out / c.sheet);
      REQUIRE(j["streams"].size() == 1);
      CHECK(j["streams"][0]["codec_name"] == "mjpeg");
      sizes[c.sheet] = {j["streams"][0]["width"].get<int>(), j["streams"][0]["height"].get<int>()};
    }
    auto [sw, sh] = sizes[c.sheet];
    CHECK(c.w > 0);
    CHECK(c.h > 0);
    CHECK(c.x + c.w <= sw);
    CHECK(c.y + c.h <= sh);
    CHECK(tiles.insert({c.sheet, c.x, c.y}).second);
  }
  CHECK(tiles.size() == cues.size());
  // Sheets are numbered from 1 with no gaps and no strays; at most 100 tiles each.
  CHECK(sizes.size() == (cues.size() + 99) / 100);
  for (size_t n = 1; n <= sizes.size(); ++n)
    CHECK(sizes.count("storyboard_" + std::to_string(n) + ".jpg"));
  CHECK_FALSE(fs::exists(out / ("storyboard_" + std::to_string(sizes.size() + 1) + ".jpg")));
  return cues;
}

}  // namespace

TEST_CASE("storyboard: default interval, a WebVTT thumbnails track over decodable sprite sheets") {
  TempDir dir;
  auto r = transcode::transcode(clip_480p_audio().string(), (dir / "out").string(),
                                small_options("360p"));
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  fs::path out = dir / "out";
  CHECK(r->storyboard == (out / "storyboard.vtt").string());
  auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  CHECK(summary["storyboard"] == r->storyboard);

  // 8 s at the default 2 s: 4 tiles of 160x90 (854x480 kept), on one row of one sheet.
  auto cues = check_storyboard(out, r->duration_seconds, 2.0);
  REQUIRE(cues.size() == 4);
  for (size_t i = 0; i < cues.size(); ++i) {
    CHECK(cues[i].sheet == "storyboard_1.jpg");
    CHECK(cues[i].w == 160);
    CHECK(cues[i].h == 90);
    CHECK(cues[i].x == 160 * static_cast<int>(i));
    CHECK(cues[i].y == 0);
  }
  auto sheet = ffprobe(out / "storyboard_1.jpg")["streams"][0];
  CHECK(sheet["width"] == 640);  // a partial sheet is cropped to the tiles it holds
  CHECK(sheet["height"] == 90);
}

TEST_CASE("storyboard: tiles show the picture at their cue's time, across several sheets") {
  TempDir dir;
  auto options = small_options("180p:200k");
  options.storyboard_interval_seconds = 0.05;  // 160 tiles: a full 10x10 sheet and 6 rows
  options.storyboard_tile_width = 64;
  auto r = transcode::transcode(red_then_blue().string(), (dir / "out").string(), options);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  fs::path out = dir / "out";
  auto cues = check_storyboard(out, r->duration_seconds, 0.05);
  REQUIRE(cues.size() == 160);
  CHECK(cues[0].w == 64);
  CHECK(cues[0].h == 36);
  auto s1 = ffprobe(out / "storyboard_1.jpg")["streams"][0];
  CHECK(s1["width"] == 640);
  CHECK(s1["height"] == 360);
  auto s2 = ffprobe(out / "storyboard_2.jpg")["streams"][0];
  CHECK(s2["width"] == 640);
  CHECK(s2["height"] == 216);

  TempDir scratch;
  auto colour_at = [&](double t) {
    const Cue* cue = nullptr;
    for (const auto& c : cues)
      if (c.start <= t + 1e-9 && t < c.end) cue = &c;
    REQUIRE(cue);
    // A few pixels in from the edges: JPEG blocks straddle neighbouring tiles.
    return mean_colour(out / cue->sheet, cue->x + 4, cue->y + 4, cue->w - 8, cue->h - 8,
                       scratch.path());
  };
  auto is_red = [](Rgb c) { return c.r > 180 && c.g < 60 && c.b < 60; };
  auto is_blue = [](Rgb c) { return c.b > 180 && c.r < 60 && c.g < 60; };
  for (double t : {0.0, 2.0, 3.95}) {
    Rgb c = colour_at(t);
    CHECK_MESSAGE(is_red(c), "t=" << t << " rgb=" << c.r << "," << c.g << "," << c.b);
  }
  for (double t : {4.0, 6.0, 7.95}) {  // 6.0 lies on the second sheet
    Rgb c = colour_at(t);
    CHECK_MESSAGE(is_blue(c), "t=" << t << " rgb=" << c.r << "," << c.g << "," << c.b);
  }
}

TEST_CASE("storyboard: off when not asked for, and bad settings are refused before any work") {
  TempDir dir;
  auto options = small_options("180p:200k");
  options.write_storyboard = false;
  auto r = transcode::transcode(red_then_blue().string(), (dir / "out").string(), options);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->storyboard.empty());
  CHECK_FALSE(fs::exists(dir / "out" / "storyboard.vtt"));
  CHECK_FALSE(fs::exists(dir / "out" / "storyboard_1.jpg"));

  auto bad = small_options("180p:200k");
  bad.storyboard_interval_seconds = -1;
  auto e = transcode::transcode(red_then_blue().string(), (dir / "bad").string(), bad);
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().code() == ErrorCode::kInvalidArgument);
  bad = small_options("180p:200k");
  bad.storyboard_tile_width = 8;
  e = transcode::transcode(red_then_blue().string(), (dir / "bad").string(), bad);
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().code() == ErrorCode::kInvalidArgument);
  CHECK_FALSE(fs::exists(dir / "bad"));
}
