// The ladder a user gets from a real source, checked with ffprobe/ffmpeg and
// by reading the manifests as a player would.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace mf = streamlet::test::manifest;

namespace {

// 854x480 30 fps, 8 s, stereo: the default ladder keeps 480p and 360p.
fs::path main_output() { return cached_cli_transcode("main", clip_480p_audio(), {}); }

std::vector<std::pair<std::string, double>> extinfs(const fs::path& playlist) {
  std::vector<std::pair<std::string, double>> out;
  auto ls = mf::lines(read_file(playlist));
  for (size_t i = 0; i + 1 < ls.size(); ++i) {
    if (ls[i].rfind("#EXTINF:", 0) == 0) {
      std::string v = ls[i].substr(8, ls[i].find(',') - 8);
      out.emplace_back(ls[i + 1], std::stod(v));
    }
  }
  return out;
}

double sum_seconds(const std::vector<std::pair<std::string, double>>& e) {
  double s = 0;
  for (auto& [uri, d] : e) s += d;
  return s;
}

}  // namespace

TEST_CASE("default ladder: rungs above the source are dropped, sizes and codecs are right") {
  fs::path out = main_output();
  auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  REQUIRE(summary["video"].size() == 2);
  CHECK(summary["video"][0]["id"] == "480p");
  CHECK(summary["video"][1]["id"] == "360p");
  CHECK_FALSE(fs::exists(out / "1080p"));
  CHECK_FALSE(fs::exists(out / "720p"));

  TempDir scratch;
  struct Want { std::string id; int w, h; };
  for (const auto& want : {Want{"480p", 854, 480}, Want{"360p", 640, 360}}) {
    auto j = ffprobe(join_track(out / want.id, scratch.path()));
    REQUIRE(j["streams"].size() == 1);
    auto s = j["streams"][0];
    CHECK(s["codec_name"] == "h264");
    CHECK(s["profile"] == "High");
    CHECK(s["pix_fmt"] == "yuv420p");
    CHECK(s["width"] == want.w);
    CHECK(s["height"] == want.h);
  }
  auto a = ffprobe(join_track(out / "audio", scratch.path()))["streams"][0];
  CHECK(a["codec_name"] == "aac");
  CHECK(a["profile"] == "LC");
  CHECK(a["channels"] == 2);
  CHECK(a["sample_rate"] == "48000");
}

TEST_CASE("segments: 6 s each, every one opens on a keyframe aligned across renditions") {
  fs::path out = main_output();
  TempDir scratch;
  std::vector<std::vector<double>> keyframes;
  std::vector<std::vector<double>> segment_starts;
  for (std::string id : {"480p", "360p"}) {
    auto segs = segment_files(out / id);
    REQUIRE(segs.size() == 2);  // 8 s at 6 s per segment
    std::vector<double> starts;
    for (const auto& seg : segs) {
      auto pkts = probe_packets(join_track(out / id, scratch.path(), {seg}));
      REQUIRE_FALSE(pkts.empty());
      CHECK_MESSAGE(pkts.front().key, seg << " does not start with a keyframe");
      starts.push_back(std::min_element(pkts.begin(), pkts.end(), [](auto& x, auto& y) {
                         return x.pts < y.pts;
                       })->pts);
    }
    CHECK(starts[1] - starts[0] == doctest::Approx(6.0).epsilon(0.001));
    segment_starts.push_back(starts);

    auto pkts = probe_packets(join_track(out / id, scratch.path()));
    std::vector<double> keys;
    for (auto& p : pkts)
      if (p.key) keys.push_back(p.pts);
    std::sort(keys.begin(), keys.end());
    for (size_t i = 1; i < keys.size(); ++i)
      CHECK_MESSAGE(keys[i] - keys[i - 1] <= 2.0 + 1e-3, "keyframe gap in " << id << " at " << keys[i]);
    keyframes.push_back(keys);

    auto e = extinfs(out / id / "index.m3u8");
    REQUIRE(e.size() == 2);
    CHECK(e[0].second == doctest::Approx(6.0).epsilon(0.001));
  }
  CHECK(keyframes[0] == keyframes[1]);
  CHECK(segment_starts[0] == segment_starts[1]);
}

TEST_CASE("duration and frames survive: every track lasts as long as the source") {
  fs::path out = main_output();
  const double source_seconds = 8.0;
  const int64_t source_frames = count_video_frames(clip_480p_audio());
  for (std::string id : {"480p", "360p"}) {
    CHECK(sum_seconds(extinfs(out / id / "index.m3u8")) == doctest::Approx(source_seconds).epsilon(0.001));
    CHECK(count_video_frames(out / id / "index.m3u8") == source_frames);
  }
  // Audio may differ by the AAC frame that carries its last samples.
  CHECK(std::fabs(sum_seconds(extinfs(out / "audio" / "index.m3u8")) - source_seconds) < 0.05);
}

TEST_CASE("audio is cut at the video's segment boundaries and stays in sync") {
  fs::path out = main_output();
  TempDir scratch;
  auto vsegs = segment_files(out / "480p");
  auto asegs = segment_files(out / "audio");
  REQUIRE(asegs.size() == vsegs.size());
  for (size_t i = 0; i < vsegs.size(); ++i) {
    auto v = probe_packets(join_track(out / "480p", scratch.path(), {vsegs[i]}));
    auto a = probe_packets(join_track(out / "audio", scratch.path(), {asegs[i]}));
    double vstart = std::min_element(v.begin(), v.end(), [](auto& x, auto& y) { return x.pts < y.pts; })->pts;
    // One AAC frame (1024 samples) is the finest an audio cut can be.
    CHECK_MESSAGE(std::fabs(a.front().pts - vstart) <= 1024.0 / 48000 + 1e-3,
                  "segment " << i << ": audio " << a.front().pts << " video " << vstart);
  }
}

TEST_CASE("HLS master and media playlists carry what players need") {
  fs::path out = main_output();
  auto master = mf::lines(read_file(out / "master.m3u8"));
  REQUIRE(master.front() == "#EXTM3U");
  CHECK(mf::tag_value(master, "#EXT-X-VERSION").has_value());
  CHECK(mf::count_lines_starting(master, "#EXT-X-INDEPENDENT-SEGMENTS") == 1);
  CHECK(mf::count_lines_starting(master, "#EXT-X-MEDIA:TYPE=AUDIO") == 1);
  CHECK(mf::count_lines_starting(master, "#EXT-X-STREAM-INF:") == 2);
  CHECK(mf::count_lines_starting(master, "#EXT-X-I-FRAME-STREAM-INF:") == 2);

  TempDir scratch;
  for (size_t i = 0; i < master.size(); ++i) {
    if (master[i].rfind("#EXT-X-STREAM-INF:", 0) != 0) continue;
    auto attrs = mf::attributes(master[i].substr(18));
    std::string uri = master[i + 1];
    std::string id = uri.substr(0, uri.find('/'));
    for (auto name : {"BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE", "AUDIO"})
      CHECK_MESSAGE(attrs.count(name), name << " missing for " << id);
    CHECK(std::stoll(attrs["BANDWIDTH"]) >= std::stoll(attrs["AVERAGE-BANDWIDTH"]));
    CHECK(attrs["FRAME-RATE"] == "30.000");
    // CODECS must describe the real stream: profile High (0x64) and ffprobe's level.
    auto s = ffprobe(join_track(out / id, scratch.path()))["streams"][0];
    char expect[32];
    std::snprintf(expect, sizeof expect, "avc1.64%s%02X", "00", s["level"].get<int>());
    std::string codecs = attrs["CODECS"];
    std::transform(codecs.begin(), codecs.end(), codecs.begin(), ::toupper);
    std::string want = expect;
    std::transform(want.begin(), want.end(), want.begin(), ::toupper);
    CHECK(codecs == want + ",MP4A.40.2");
    CHECK(attrs["RESOLUTION"] == std::to_string(s["width"].get<int>()) + "x" +
                                     std::to_string(s["height"].get<int>()));

    auto media = mf::lines(read_file(out / uri));
    CHECK(mf::tag_value(media, "#EXT-X-PLAYLIST-TYPE") == "VOD");
    CHECK(mf::count_lines_starting(media, "#EXT-X-ENDLIST") == 1);
    CHECK(mf::tag_value(media, "#EXT-X-MAP") == "URI=\"init.mp4\"");
    int target = std::stoi(*mf::tag_value(media, "#EXT-X-TARGETDURATION"));
    long max_rounded = 0;
    for (auto& [u, d] : extinfs(out / uri)) max_rounded = std::max(max_rounded, std::lround(d));
    CHECK(target == max_rounded);
    CHECK(std::stoi(*mf::tag_value(media, "#EXT-X-VERSION")) >= 6);  // EXT-X-MAP needs 6
  }
}

TEST_CASE("declared bitrates are within 10% of what the segments carry") {
  fs::path out = main_output();
  auto master = mf::lines(read_file(out / "master.m3u8"));
  auto bits = [&](const fs::path& dir) {
    std::vector<double> per_second;
    double total_bits = 0, total_seconds = 0;
    for (auto& [uri, d] : extinfs(dir / "index.m3u8")) {
      double b = 8.0 * fs::file_size(dir / uri);
      per_second.push_back(b / d);
      total_bits += b;
      total_seconds += d;
    }
    return std::make_pair(*std::max_element(per_second.begin(), per_second.end()), total_bits / total_seconds);
  };
  auto [audio_peak, audio_avg] = bits(out / "audio");
  for (size_t i = 0; i < master.size(); ++i) {
    if (master[i].rfind("#EXT-X-STREAM-INF:", 0) != 0) continue;
    auto attrs = mf::attributes(master[i].substr(18));
    std::string id = master[i + 1].substr(0, master[i + 1].find('/'));
    auto [peak, avg] = bits(out / id);
    double declared_peak = std::stod(attrs["BANDWIDTH"]);
    double declared_avg = std::stod(attrs["AVERAGE-BANDWIDTH"]);
    CHECK_MESSAGE(std::fabs(declared_avg / (avg + audio_avg) - 1) < 0.10, id);
    CHECK_MESSAGE(std::fabs(declared_peak / (peak + audio_peak) - 1) < 0.10, id);
    // And the encoder hit its target: 480p at 1400k, 360p at 800k (x264 ABR, within 10%).
    double target = id == "480p" ? 1'400'000 : 800'000;
    CHECK_MESSAGE(std::fabs(avg / target - 1) < 0.10, id << " carries " << avg);
  }
}

TEST_CASE("DASH MPD: one video and one audio set, timelines match the segment files") {
  fs::path out = main_output();
  std::string error;
  auto mpd = mf::parse_xml(read_file(out / "manifest.mpd"), error);
  REQUIRE_MESSAGE(mpd, error);
  CHECK(mpd->attr("type") == "static");
  CHECK(mpd->has("maxSegmentDuration"));
  CHECK(mpd->has("mediaPresentationDuration"));
  const auto& period = mpd->one("Period");
  auto sets = period.all("AdaptationSet");
  REQUIRE(sets.size() == 2);
  std::vector<size_t> counts;
  for (const auto* set : sets) {
    for (const auto* rep : set->all("Representation")) {
      CHECK(rep->has("codecs"));
      CHECK(rep->has("bandwidth"));
      const auto& tmpl = rep->one("SegmentTemplate");
      size_t n = 0;
      for (const auto* s : tmpl.one("SegmentTimeline").all("S"))
        n += 1 + (s->has("r") ? std::stoul(s->attr("r")) : 0);
      std::string id = rep->attr("id");
      CHECK(n == segment_files(out / id).size());
      CHECK(tmpl.attr("initialization") == id + "/init.mp4");
      counts.push_back(n);
    }
  }
  CHECK(std::adjacent_find(counts.begin(), counts.end(), std::not_equal_to<>()) == counts.end());
}

TEST_CASE("an independent player (ffmpeg) decodes HLS and DASH to the end without errors") {
  fs::path out = main_output();
  CHECK(decode_errors(out / "master.m3u8") == "");
  CHECK(decode_errors(out / "manifest.mpd") == "");
  auto hls = ffprobe(out / "master.m3u8");
  CHECK(hls["format"]["duration"].get<std::string>().substr(0, 3) == "8.0");
}

TEST_CASE("I-frame playlists address byte ranges that hold a whole keyframe") {
  fs::path out = main_output();
  TempDir scratch;
  auto ls = mf::lines(read_file(out / "480p" / "iframes.m3u8"));
  CHECK(mf::count_lines_starting(ls, "#EXT-X-I-FRAMES-ONLY") == 1);
  int entries = 0;
  for (size_t i = 0; i + 1 < ls.size(); ++i) {
    if (ls[i].rfind("#EXT-X-BYTERANGE:", 0) != 0) continue;
    std::string range = ls[i].substr(17);
    uint64_t length = std::stoull(range.substr(0, range.find('@')));
    uint64_t offset = std::stoull(range.substr(range.find('@') + 1));
    std::string bytes = read_file(out / "480p" / ls[i + 1]).substr(offset, length);
    REQUIRE(bytes.size() == length);
    CHECK(bytes.substr(4, 4) == "moof");
    // init + this range alone must decode to one picture.
    fs::path piece = scratch / ("iframe" + std::to_string(entries) + ".mp4");
    write_file(piece, read_file(out / "480p" / "init.mp4") + bytes);
    fs::path png = scratch / ("iframe" + std::to_string(entries) + ".png");
    auto r = run({"ffmpeg", "-v", "quiet", "-i", piece.string(), "-frames:v", "1", png.string()});
    CHECK_MESSAGE(fs::exists(png), "I-frame " << entries << " did not decode");
    ++entries;
  }
  CHECK(entries == 4);  // 8 s with a keyframe every 2 s
}

TEST_CASE("a JPEG poster at the top rendition's size") {
  fs::path out = main_output();
  auto j = ffprobe(out / "poster.jpg");
  REQUIRE(j["streams"].size() == 1);
  CHECK(j["streams"][0]["codec_name"] == "mjpeg");
  CHECK(j["streams"][0]["width"] == 854);
  CHECK(j["streams"][0]["height"] == 480);
}
