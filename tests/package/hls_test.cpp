// HLS playlists against RFC 8216 rules, on hand-built models (no encoding).
#include <clocale>
#include <cmath>
#include <locale>

#include "ladder_fixture.hpp"
#include "support/manifest_parse.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;
using namespace streamlet::test::manifest;

namespace {

struct Entry {
  int64_t extinf_us = 0;
  std::optional<std::string> byterange;
  std::string uri;
};

// The entries of a media playlist, REQUIREing that each EXTINF is followed
// (after an optional EXT-X-BYTERANGE) by its URI line.
std::vector<Entry> entries(const std::vector<std::string>& ls) {
  std::vector<Entry> out;
  for (size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].rfind("#EXTINF:", 0) != 0) continue;
    Entry e;
    std::string value = ls[i].substr(8);
    REQUIRE_MESSAGE(value.back() == ',', "EXTINF without ',': " << ls[i]);
    e.extinf_us = parse_micros(value.substr(0, value.size() - 1));
    REQUIRE(i + 1 < ls.size());
    if (ls[i + 1].rfind("#EXT-X-BYTERANGE:", 0) == 0) e.byterange = ls[++i].substr(17);
    REQUIRE(i + 1 < ls.size());
    e.uri = ls[++i];
    REQUIRE_MESSAGE((!e.uri.empty() && e.uri[0] != '#'), "EXTINF not followed by a URI");
    out.push_back(e);
  }
  return out;
}

int version_of(const std::vector<std::string>& ls) {
  auto v = tag_value(ls, "#EXT-X-VERSION");
  REQUIRE(v);
  return std::stoi(*v);
}

// Round half up: RFC 8216 4.3.3.1 says "rounded to the nearest integer".
int64_t rounded_seconds(int64_t us) {
  return (us + 500000) / 1000000;
}

void check_vod_media_playlist(const package::Track& t, const std::string& text) {
  auto ls = lines(text);
  REQUIRE(!ls.empty());
  CHECK(ls.front() == "#EXTM3U");
  CHECK(ls.back() == "#EXT-X-ENDLIST");
  for (const char* once : {"#EXT-X-VERSION:", "#EXT-X-TARGETDURATION:", "#EXT-X-PLAYLIST-TYPE:VOD",
                           "#EXT-X-MAP:URI=\"init.mp4\"", "#EXT-X-ENDLIST"})
    CHECK_MESSAGE(count_lines_starting(ls, once) == 1, once << " in " << t.id);
  auto es = entries(ls);
  REQUIRE(es.size() == t.segments.size());
  int64_t target = std::stoll(*tag_value(ls, "#EXT-X-TARGETDURATION"));
  int64_t largest = 0;
  for (size_t i = 0; i < es.size(); ++i) {
    CHECK(es[i].uri == t.segment_name(static_cast<uint32_t>(i)));
    CHECK(!es[i].byterange);
    largest = std::max(largest, rounded_seconds(es[i].extinf_us));
  }
  CHECK(target == largest);
}

}  // namespace

TEST_CASE("every media playlist is a complete VOD CMAF playlist") {
  auto p = ladder_with_audio();
  for (const auto& t : p.video) check_vod_media_playlist(t, package::hls_media_playlist(t));
  check_vod_media_playlist(*p.audio, package::hls_media_playlist(*p.audio));
  // Segments are independently decodable; a player may then switch at any boundary.
  CHECK(package::hls_media_playlist(p.video[0]).find("#EXT-X-INDEPENDENT-SEGMENTS\n") !=
        std::string::npos);
}

TEST_CASE("EXT-X-VERSION is the lowest the playlist's features need") {
  auto p = ladder_with_audio();
  // EXT-X-MAP without EXT-X-I-FRAMES-ONLY needs 6 (RFC 8216 section 7).
  for (const auto& t : {p.video[0], p.video[2], *p.audio}) {
    CHECK(version_of(lines(package::hls_media_playlist(t))) == 6);
    CHECK(package::hls_media_playlist_version(t, false) == 6);
  }
  // I-FRAMES-ONLY and BYTERANGE need 4; EXT-X-MAP in an I-frame playlist needs 5.
  CHECK(version_of(lines(package::hls_iframe_playlist(p.video[0]))) == 5);
  CHECK(package::hls_media_playlist_version(p.video[0], true) == 5);
  // Nothing a master playlist carries (EXT-X-MEDIA, AVERAGE-BANDWIDTH, FRAME-RATE,
  // AUDIO, I-FRAME-STREAM-INF, INDEPENDENT-SEGMENTS) is listed in section 7.
  CHECK(version_of(lines(package::hls_master_playlist(p))) == 1);
}

TEST_CASE("EXT-X-TARGETDURATION is the largest EXTINF rounded to the nearest integer") {
  auto target = [](const std::vector<int64_t>& ms) {
    auto ls = lines(package::hls_media_playlist(track_with_millis(ms)));
    return std::stoll(*tag_value(ls, "#EXT-X-TARGETDURATION"));
  };
  CHECK(target({6400, 6500, 6000}) == 7);  // 6.5 rounds up
  CHECK(target({6400, 6000, 6499}) == 6);  // 6.4 and 6.499 round down
  CHECK(target({6400}) == 6);
  CHECK(target({2000, 2000, 5501}) == 6);
  CHECK(target({10000, 9000}) == 10);
  // The ladder's 6.006 s segments.
  auto ls = lines(package::hls_media_playlist(ladder_720p()));
  CHECK(*tag_value(ls, "#EXT-X-TARGETDURATION") == "6");
}

TEST_CASE("EXTINF durations add up to the track duration") {
  auto check_sum = [](const package::Track& t) {
    auto es = entries(lines(package::hls_media_playlist(t)));
    REQUIRE(es.size() == t.segments.size());
    int64_t sum = 0;
    for (size_t i = 0; i < es.size(); ++i) {
      double exact = t.segments[i].duration * 1e6 / t.timescale;
      // Each within a microsecond of the segment...
      CHECK(std::fabs(es[i].extinf_us - exact) <= 1.0);
      sum += es[i].extinf_us;
    }
    // ...and the sum within half a microsecond of the whole track: no drift.
    double exact_total = static_cast<double>(t.duration()) * 1e6 / t.timescale;
    CHECK(std::fabs(sum - exact_total) <= 0.5);
  };
  check_sum(ladder_720p());
  check_sum(ladder_audio());

  // 1200 segments of 540541 / 90000 = 6.00601111... s: a per-segment rounding
  // would be off by 0.11 ms after 1200 segments.
  package::Track drift = ladder_720p();
  drift.segments.clear();
  for (int i = 0; i < 1200; ++i) drift.segments.push_back({i * 540541LL, 540541, 1000});
  check_sum(drift);

  // AAC frames at 44.1 kHz: 258 frames of 1024 samples per segment.
  package::Track aac = ladder_audio();
  aac.timescale = 44100;
  aac.segments.clear();
  for (int i = 0; i < 500; ++i) aac.segments.push_back({i * 264192LL, 264192, 1000});
  aac.segments.push_back({500 * 264192LL, 1024 * 7, 100});
  check_sum(aac);
}

TEST_CASE("the I-frame playlist addresses each I-frame by byte range") {
  package::Track t = ladder_720p();
  auto ls = lines(package::hls_iframe_playlist(t));
  CHECK(ls.front() == "#EXTM3U");
  CHECK(ls.back() == "#EXT-X-ENDLIST");
  for (const char* once : {"#EXT-X-I-FRAMES-ONLY", "#EXT-X-PLAYLIST-TYPE:VOD",
                           "#EXT-X-MAP:URI=\"init.mp4\"", "#EXT-X-TARGETDURATION:"})
    CHECK_MESSAGE(count_lines_starting(ls, once) == 1, once);
  // I-frames every 2.002 s, the last one 0.498 s.
  CHECK(*tag_value(ls, "#EXT-X-TARGETDURATION") == "2");
  auto es = entries(ls);
  REQUIRE(es.size() == 17);  // 5 segments x 3 + 2
  CHECK(es[0].extinf_us == 2002000);
  CHECK(es[16].extinf_us == 498000);
  CHECK(es[16].uri == "seg_00006.m4s");
  int64_t sum = 0;
  for (size_t i = 0; i < es.size(); ++i) {
    const package::IFrame& f = t.iframes[i];
    REQUIRE(es[i].byterange);
    CHECK(*es[i].byterange == std::to_string(f.length) + "@" + std::to_string(f.offset));
    CHECK(es[i].uri == t.segment_name(f.segment));
    sum += es[i].extinf_us;
  }
  CHECK(sum == 32530000);
  CHECK(*es[7].byterange == "60060@400000");  // segment 3, second I-frame
}

TEST_CASE("master playlist: one audio group and one variant per rendition, highest first") {
  auto ls = lines(package::hls_master_playlist(ladder_with_audio()));
  CHECK(ls.front() == "#EXTM3U");
  CHECK(count_lines_starting(ls, "#EXT-X-INDEPENDENT-SEGMENTS") == 1);

  REQUIRE(count_lines_starting(ls, "#EXT-X-MEDIA:") == 1);
  auto media = attributes(*tag_value(ls, "#EXT-X-MEDIA"));
  CHECK(media["TYPE"] == "AUDIO");
  CHECK(media["GROUP-ID"] == "aud");
  CHECK(media["NAME"] == "audio");
  CHECK(media["LANGUAGE"] == "en");
  CHECK(media["DEFAULT"] == "YES");
  CHECK(media["AUTOSELECT"] == "YES");
  CHECK(media["CHANNELS"] == "2");
  CHECK(media["URI"] == "audio/index.m3u8");

  struct Expected {
    const char* uri;
    const char* codecs;
    const char* resolution;
    uint64_t bandwidth, average;
  };
  // Peak video + peak audio, average video + average audio (ladder_fixture.hpp):
  // audio peak 133334, audio average 128985.
  const Expected expected[] = {
      {"720p/index.m3u8", "avc1.64001f,mp4a.40.2", "1280x720", 5000000 + 133334, 3338334 + 128985},
      {"480p/index.m3u8", "avc1.64001e,mp4a.40.2", "854x480", 1500000 + 133334, 1500000 + 128985},
      {"360p/index.m3u8", "avc1.640015,mp4a.40.2", "640x360", 800000 + 133334, 800000 + 128985},
  };
  size_t n = 0;
  for (size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].rfind("#EXT-X-STREAM-INF:", 0) != 0) continue;
    REQUIRE(n < 3);
    auto a = attributes(ls[i].substr(18));
    const Expected& e = expected[n++];
    REQUIRE(i + 1 < ls.size());
    CHECK(ls[i + 1] == e.uri);
    CHECK(std::stoull(a["BANDWIDTH"]) == e.bandwidth);
    CHECK(std::stoull(a["AVERAGE-BANDWIDTH"]) == e.average);
    CHECK(std::stoull(a["BANDWIDTH"]) >= std::stoull(a["AVERAGE-BANDWIDTH"]));
    CHECK(a["CODECS"] == e.codecs);
    CHECK(a["RESOLUTION"] == e.resolution);
    CHECK(a["FRAME-RATE"] == "29.970");
    CHECK(a["AUDIO"] == "aud");
  }
  CHECK(n == 3);

  // Only 720p has I-frames in the fixture. Peak 31125 bytes over 0.498 s =
  // 500000 b/s; average 1032125 bytes = 8257000 bits / 32.53 s = 253827.2 -> 253828.
  REQUIRE(count_lines_starting(ls, "#EXT-X-I-FRAME-STREAM-INF:") == 1);
  auto iframe = attributes(*tag_value(ls, "#EXT-X-I-FRAME-STREAM-INF"));
  CHECK(iframe["BANDWIDTH"] == "500000");
  CHECK(iframe["AVERAGE-BANDWIDTH"] == "253828");
  CHECK(iframe["CODECS"] == "avc1.64001f");
  CHECK(iframe["RESOLUTION"] == "1280x720");
  CHECK(iframe["URI"] == "720p/iframes.m3u8");
}

TEST_CASE("master playlist without audio has no audio group and video-only CODECS") {
  auto ls = lines(package::hls_master_playlist(ladder_video_only()));
  CHECK(count_lines_starting(ls, "#EXT-X-MEDIA") == 0);
  CHECK(count_lines_starting(ls, "#EXT-X-STREAM-INF:") == 3);
  auto top = attributes(*tag_value(ls, "#EXT-X-STREAM-INF"));
  CHECK(top.count("AUDIO") == 0);
  CHECK(top["CODECS"] == "avc1.64001f");
  CHECK(top["BANDWIDTH"] == "5000000");
  CHECK(top["AVERAGE-BANDWIDTH"] == "3338334");
}

TEST_CASE("master playlist lists variants highest first whatever the input order") {
  auto p = ladder_with_audio();
  std::swap(p.video[0], p.video[2]);  // 360p, 480p, 720p
  std::vector<std::string> uris;
  auto ls = lines(package::hls_master_playlist(p));
  for (size_t i = 0; i + 1 < ls.size(); ++i)
    if (ls[i].rfind("#EXT-X-STREAM-INF:", 0) == 0) uris.push_back(ls[i + 1]);
  CHECK(uris == std::vector<std::string>{"720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"});
}

TEST_CASE("track ids and names cannot break URIs or quoted strings") {
  auto p = ladder_with_audio();
  p.video[0].id = "my track\"1";
  p.audio->language = "en\"x";
  auto ls = lines(package::hls_master_playlist(p));
  auto media = attributes(*tag_value(ls, "#EXT-X-MEDIA"));  // REQUIREs a well-formed list
  CHECK(media["LANGUAGE"].find('"') == std::string::npos);
  bool found = false;
  for (const auto& l : ls) found = found || l == "my%20track%221/index.m3u8";
  CHECK(found);
  auto iframe = attributes(*tag_value(ls, "#EXT-X-I-FRAME-STREAM-INF"));
  CHECK(iframe["URI"] == "my%20track%221/iframes.m3u8");
}

namespace {
// A numeric facet that would turn 6.006 into "6,006" and 1000000 into "1.000.000".
struct CommaNumpunct : std::numpunct<char> {
  char do_decimal_point() const override { return ','; }
  char do_thousands_sep() const override { return '.'; }
  std::string do_grouping() const override { return "\3"; }
};
}  // namespace

TEST_CASE("manifests do not depend on the C++ global locale") {
  auto p = ladder_with_audio();
  const std::string master = package::hls_master_playlist(p);
  const std::string media = package::hls_media_playlist(p.video[0]);
  const std::string mpd = package::dash_manifest(p);

  std::locale previous =
      std::locale::global(std::locale(std::locale::classic(), new CommaNumpunct));
  const std::string master2 = package::hls_master_playlist(p);
  const std::string media2 = package::hls_media_playlist(p.video[0]);
  const std::string mpd2 = package::dash_manifest(p);
  std::locale::global(previous);

  CHECK(master2 == master);
  CHECK(media2 == media);
  CHECK(mpd2 == mpd);
  CHECK(master.find("FRAME-RATE=29.970") != std::string::npos);
}

TEST_CASE("manifests do not depend on the C locale (de_DE.UTF-8, decimal comma)") {
  auto p = ladder_with_audio();
  const std::string master = package::hls_master_playlist(p);
  const std::string media = package::hls_media_playlist(p.video[0]);
  const std::string mpd = package::dash_manifest(p);

  // Built here when the system has not generated it (Debian: package 'locales').
  TempDir dir;
  std::string c_locale = std::setlocale(LC_ALL, nullptr);
  bool have_de = std::setlocale(LC_ALL, "de_DE.UTF-8") != nullptr;
  if (!have_de &&
      run({"localedef", "-i", "de_DE", "-f", "UTF-8", (dir / "de_DE.UTF-8").string()}).exit_code ==
          0) {
    ::setenv("LOCPATH", dir.path().c_str(), 1);
    have_de = std::setlocale(LC_ALL, "de_DE.UTF-8") != nullptr;
    ::unsetenv("LOCPATH");
  }
  if (!have_de)
    STREAMLET_SKIP("no de_DE.UTF-8 locale and localedef cannot build one (Debian: locales)");
  REQUIRE(std::string(std::localeconv()->decimal_point) == ",");  // really a decimal comma
  const std::string master2 = package::hls_master_playlist(p);
  const std::string media2 = package::hls_media_playlist(p.video[0]);
  const std::string mpd2 = package::dash_manifest(p);
  std::setlocale(LC_ALL, c_locale.c_str());

  CHECK(master2 == master);
  CHECK(media2 == media);
  CHECK(mpd2 == mpd);
}

TEST_CASE("an EVENT playlist grows by appending and becomes the VOD one when it ends") {
  const package::Track full = ladder_720p();
  package::LiveManifests live;
  live.target_duration_seconds = 6;
  std::string before;
  for (size_t n = 1; n <= full.segments.size(); ++n) {
    package::Track part = full;
    part.segments.resize(n);
    const std::string text = package::hls_event_playlist(part, live);
    auto ls = lines(text);
    CHECK(tag_value(ls, "#EXT-X-PLAYLIST-TYPE") == "EVENT");
    CHECK(count_lines_starting(ls, "#EXT-X-ENDLIST") == 0);
    CHECK(entries(ls).size() == n);
    // RFC 8216bis 6.2.1: the version and the target duration never change, lines are only
    // appended (6.006 s rounds to 6, so the target stays the fixed 6).
    CHECK(version_of(ls) == 6);
    CHECK(tag_value(ls, "#EXT-X-TARGETDURATION") == "6");
    CHECK(text.substr(0, before.size()) == before);
    before = text;
  }
  // The finished playlist is the VOD one: the type changes and ENDLIST is added.
  auto vod = lines(package::hls_media_playlist(full));
  CHECK(tag_value(vod, "#EXT-X-PLAYLIST-TYPE") == "VOD");
  CHECK(vod.back() == "#EXT-X-ENDLIST");
  CHECK(entries(vod).size() == entries(lines(before)).size());
}

TEST_CASE("an EVENT playlist raises its target only when a segment needs it") {
  package::Track t = ladder_720p();
  t.segments.resize(2);
  package::LiveManifests live;
  live.target_duration_seconds = 4;  // below the 6.006 s segments: 6 wins
  CHECK(tag_value(lines(package::hls_event_playlist(t, live)), "#EXT-X-TARGETDURATION") == "6");
  live.target_duration_seconds = 8;
  CHECK(tag_value(lines(package::hls_event_playlist(t, live)), "#EXT-X-TARGETDURATION") == "8");
}
