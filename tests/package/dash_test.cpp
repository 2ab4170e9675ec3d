// DASH MPD against ISO/IEC 23009-1 rules, on hand-built models (no encoding).
#include <cstdio>
#include <regex>
#include <set>

#include "ladder_fixture.hpp"
#include "support/manifest_parse.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;
using namespace streamlet::test::manifest;

namespace {

std::unique_ptr<XmlElement> parse_mpd(const std::string& text) {
  std::string error;
  auto root = parse_xml(text, error);
  INFO(text);
  REQUIRE_MESSAGE(root, "MPD is not well-formed XML: " << error);
  REQUIRE(root->name == "MPD");
  return root;
}

// Representation id -> element, over every adaptation set.
std::map<std::string, const XmlElement*> representations(const XmlElement& mpd) {
  std::map<std::string, const XmlElement*> out;
  for (const XmlElement* set : mpd.one("Period").all("AdaptationSet"))
    for (const XmlElement* rep : set->all("Representation"))
      REQUIRE_MESSAGE(out.emplace(rep->attr("id"), rep).second, "duplicate id " << rep->attr("id"));
  return out;
}

// (start, duration) of every segment a SegmentTimeline describes.
std::vector<std::pair<int64_t, int64_t>> expand(const XmlElement& timeline) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t next = 0;
  bool first = true;
  for (const auto& s : timeline.children) {
    REQUIRE(s->name == "S");
    REQUIRE_MESSAGE((!first || s->has("t")), "the first S must carry @t");
    int64_t t = s->has("t") ? std::stoll(s->attr("t")) : next;
    int64_t d = std::stoll(s->attr("d"));
    int64_t r = s->has("r") ? std::stoll(s->attr("r")) : 0;
    REQUIRE(d > 0);
    REQUIRE(r >= 0);  // a VOD timeline is finite: no open-ended r="-1"
    for (int64_t k = 0; k <= r; ++k) out.push_back({t + k * d, d});
    next = t + (r + 1) * d;
    first = false;
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> segments_of(const package::Track& t) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& s : t.segments) out.push_back({s.start, s.duration});
  return out;
}

// "PT6.000S" -> 6.0; only the seconds-only form this writer is expected to use.
double seconds_of(const std::string& duration) {
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_match(duration, m, std::regex(R"(PT(\d+(\.\d+)?)S)")),
                  "unexpected xs:duration " << duration);
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("the MPD is well-formed XML") {
  for (const auto& p : {ladder_with_audio(), ladder_video_only()})
    parse_mpd(package::dash_manifest(p));
}

TEST_CASE("xmllint finds the MPD well-formed") {
  if (run_shell("command -v xmllint >/dev/null 2>&1").exit_code != 0)
    STREAMLET_SKIP("xmllint is not installed (Debian: libxml2-utils)");
  for (const auto& p : {ladder_with_audio(), ladder_video_only()}) {
    TempDir dir;
    write_file(dir / "manifest.mpd", package::dash_manifest(p));
    auto lint = run({"xmllint", "--noout", (dir / "manifest.mpd").string()});
    CHECK_MESSAGE(lint.exit_code == 0, lint.output);
  }
}

TEST_CASE("MPD: static isoff-live presentation with durations in xs:duration form") {
  auto mpd = parse_mpd(package::dash_manifest(ladder_with_audio()));
  CHECK(mpd->attr("xmlns") == "urn:mpeg:dash:schema:mpd:2011");
  CHECK(mpd->attr("profiles") == "urn:mpeg:dash:profile:isoff-live:2011");
  CHECK(mpd->attr("type") == "static");
  CHECK(mpd->attr("mediaPresentationDuration") == "PT32.530S");  // 5 x 6.006 + 2.5
  CHECK(mpd->attr("maxSegmentDuration") == "PT6.006S");
  CHECK(seconds_of(mpd->attr("minBufferTime")) > 0);
  const XmlElement& period = mpd->one("Period");
  CHECK(period.attr("start") == "PT0S");
  CHECK(period.has("id"));
  CHECK(period.all("AdaptationSet").size() == 2);
}

TEST_CASE("MPD: a video adaptation set with every rendition and an audio one") {
  auto mpd = parse_mpd(package::dash_manifest(ladder_with_audio()));
  auto sets = mpd->one("Period").all("AdaptationSet");
  REQUIRE(sets.size() == 2);
  const XmlElement& video = *sets[0];
  CHECK(video.attr("contentType") == "video");
  CHECK(video.attr("mimeType") == "video/mp4");
  CHECK(video.attr("segmentAlignment") == "true");
  CHECK(video.attr("startWithSAP") == "1");
  CHECK(video.attr("maxWidth") == "1280");
  CHECK(video.attr("maxHeight") == "720");
  CHECK(video.attr("maxFrameRate") == "30000/1001");
  auto reps = video.all("Representation");
  REQUIRE(reps.size() == 3);
  CHECK(reps[0]->attr("id") == "720p");
  CHECK(reps[0]->attr("codecs") == "avc1.64001f");
  CHECK(reps[0]->attr("width") == "1280");
  CHECK(reps[0]->attr("height") == "720");
  CHECK(reps[2]->attr("id") == "360p");
  CHECK(reps[2]->attr("width") == "640");
  for (const XmlElement* r : reps) CHECK(r->attr("frameRate") == "30000/1001");

  const XmlElement& audio = *sets[1];
  CHECK(audio.attr("contentType") == "audio");
  CHECK(audio.attr("mimeType") == "audio/mp4");
  CHECK(audio.attr("lang") == "en");
  const XmlElement& channels = audio.one("AudioChannelConfiguration");
  CHECK(channels.attr("schemeIdUri") == "urn:mpeg:dash:23003:3:audio_channel_configuration:2011");
  CHECK(channels.attr("value") == "2");
  const XmlElement& a = audio.one("Representation");
  CHECK(a.attr("id") == "audio");
  CHECK(a.attr("codecs") == "mp4a.40.2");
  CHECK(a.attr("audioSamplingRate") == "48000");
}

TEST_CASE("MPD: a presentation without audio has only the video adaptation set") {
  auto mpd = parse_mpd(package::dash_manifest(ladder_video_only()));
  auto sets = mpd->one("Period").all("AdaptationSet");
  REQUIRE(sets.size() == 1);
  CHECK(sets[0]->attr("contentType") == "video");
}

TEST_CASE("MPD: segment templates resolve to the files HLS references") {
  auto p = ladder_with_audio();
  p.video[1].first_segment_number = 0;
  p.audio->presentation_time_offset = 1024;
  auto mpd = parse_mpd(package::dash_manifest(p));
  auto reps = representations(*mpd);
  std::vector<const package::Track*> tracks = {&p.video[0], &p.video[1], &p.video[2], &*p.audio};
  for (const package::Track* t : tracks) {
    REQUIRE(reps.count(t->id));
    const XmlElement& tmpl = reps[t->id]->one("SegmentTemplate");
    CHECK(tmpl.attr("timescale") == std::to_string(t->timescale));
    CHECK(tmpl.attr("initialization") == t->id + "/init.mp4");
    CHECK(tmpl.attr("presentationTimeOffset") == std::to_string(t->presentation_time_offset));
    const std::string media = tmpl.attr("media");
    CHECK(media == t->id + "/seg_$Number%05d$.m4s");
    // $Number%05d$ for each segment must name the same file as the HLS playlist.
    const int64_t start_number = std::stoll(tmpl.attr("startNumber"));
    for (uint32_t i : {0u, 3u}) {
      char number[16];
      std::snprintf(number, sizeof number, "%05lld", static_cast<long long>(start_number + i));
      std::string url = std::regex_replace(media, std::regex(R"(\$Number%05d\$)"), number);
      CHECK(url == t->id + "/" + t->segment_name(i));
    }
  }
}

TEST_CASE("MPD: every SegmentTimeline expands back to exactly the segment list") {
  auto p = ladder_with_audio();
  // 360p: a gap after segment 1 and an overlap after segment 3, which only an
  // explicit @t can express, and durations that change between runs.
  package::Track& odd = p.video[2];
  odd.segments = {{0, 100, 1},  {100, 100, 1}, {250, 100, 1}, {350, 90, 1},
                  {430, 90, 1}, {520, 90, 1},  {610, 100, 1}};
  auto mpd = parse_mpd(package::dash_manifest(p));
  auto reps = representations(*mpd);
  std::vector<const package::Track*> tracks = {&p.video[0], &p.video[1], &p.video[2], &*p.audio};
  for (const package::Track* t : tracks) {
    CAPTURE(t->id);
    const XmlElement& timeline = reps[t->id]->one("SegmentTemplate").one("SegmentTimeline");
    CHECK(expand(timeline) == segments_of(*t));
  }
  // Runs of equal durations are compressed with @r: 5 x 6.006 s + the short one.
  CHECK(reps["720p"]->one("SegmentTemplate").one("SegmentTimeline").children.size() == 2);
  CHECK(reps["audio"]->one("SegmentTemplate").one("SegmentTimeline").children.size() == 2);
  // 360p: t=0 d=100 r=1 | t=250 d=100 | d=90 | t=430 d=90 r=1 | d=100.
  CHECK(reps["360p"]->one("SegmentTemplate").one("SegmentTimeline").children.size() == 5);
}

TEST_CASE("MPD: every adaptation set describes the same number of segments") {
  auto mpd = parse_mpd(package::dash_manifest(ladder_with_audio()));
  std::set<size_t> counts;
  for (const auto& [id, rep] : representations(*mpd))
    counts.insert(expand(rep->one("SegmentTemplate").one("SegmentTimeline")).size());
  CHECK(counts == std::set<size_t>{6});
}

TEST_CASE("dash_bandwidth on a hand-worked example") {
  // Three 2 s segments of 1000, 3000 and 500 bytes (8000, 24000, 4000 bits).
  // With 2 s of buffer, segment k must have arrived by 2 + 2k seconds:
  //   k=0:  8000 bits by 2 s -> 4000 b/s
  //   k=1: 32000 bits by 4 s -> 8000 b/s   <- the binding one
  //   k=2: 36000 bits by 6 s -> 6000 b/s
  // With 4 s of buffer: 8000/4 = 2000, 32000/6 = 5333.3, 36000/8 = 4500 -> 5334 (rounded up).
  package::Track t;
  t.timescale = 1;
  t.segments = {{0, 2, 1000}, {2, 2, 3000}, {4, 2, 500}};
  CHECK(package::dash_bandwidth(t, 2.0) == 8000u);
  CHECK(package::dash_bandwidth(t, 4.0) == 5334u);
  // Same media at 90 kHz and starting at a non-zero media time: only relative times count.
  package::Track scaled = t;
  scaled.timescale = 90000;
  scaled.segments = {{900000, 180000, 1000}, {1080000, 180000, 3000}, {1260000, 180000, 500}};
  CHECK(package::dash_bandwidth(scaled, 2.0) == 8000u);
  CHECK(package::dash_bandwidth(scaled, 4.0) == 5334u);
  // A buffer that is not a whole number of ticks: 1.5 s -> 8000/1.5 = 5333.3,
  // 32000/3.5 = 9142.9, 36000/5.5 = 6545.5 -> 9143.
  CHECK(package::dash_bandwidth(t, 1.5) == 9143u);
}

TEST_CASE("MPD: @bandwidth is dash_bandwidth at the MPD's own minBufferTime") {
  auto p = ladder_with_audio();
  auto mpd = parse_mpd(package::dash_manifest(p));
  const double min_buffer = seconds_of(mpd->attr("minBufferTime"));
  auto reps = representations(*mpd);
  std::vector<const package::Track*> tracks = {&p.video[0], &p.video[1], &p.video[2], &*p.audio};
  for (const package::Track* t : tracks) {
    CAPTURE(t->id);
    CHECK(reps[t->id]->attr("bandwidth") ==
          std::to_string(package::dash_bandwidth(*t, min_buffer)));
  }
}

TEST_CASE("MPD: frame rates are integers or fractions, never decimals") {
  auto p = ladder_video_only();
  p.video[0].frame_rate = 25.0;
  p.video[1].frame_rate = 24000.0 / 1001.0;
  p.video[2].frame_rate = 12.5;
  auto mpd = parse_mpd(package::dash_manifest(p));
  auto reps = representations(*mpd);
  CHECK(reps["720p"]->attr("frameRate") == "25");
  CHECK(reps["480p"]->attr("frameRate") == "24000/1001");
  CHECK(reps["360p"]->attr("frameRate") == "25/2");
  CHECK(mpd->one("Period").one("AdaptationSet").attr("maxFrameRate") == "25");
}

TEST_CASE("MPD: text from the model is escaped") {
  auto p = ladder_with_audio();
  p.audio->language = "en\"<&>'";
  p.video[0].codecs = "avc1.64001f&x";
  auto mpd = parse_mpd(package::dash_manifest(p));
  auto sets = mpd->one("Period").all("AdaptationSet");
  CHECK(sets[1]->attr("lang") == "en\"<&>'");
  CHECK(representations(*mpd)["720p"]->attr("codecs") == "avc1.64001f&x");
}

TEST_CASE("MPD: a dynamic MPD of the segments so far, static again when finished") {
  package::Presentation p = ladder_with_audio();
  for (auto& v : p.video) v.segments.resize(2);
  p.audio->segments.resize(2);
  package::LiveManifests live;
  live.availability_start_unix = 1'800'000'000;  // 2027-01-15T08:00:00Z
  live.publish_time_unix = 1'800'000'012;
  live.minimum_update_period_seconds = 6;
  const std::string text = package::dash_dynamic_manifest(p, live);
  auto mpd = parse_mpd(text);
  CHECK(mpd->attr("type") == "dynamic");
  CHECK(mpd->attr("availabilityStartTime") == "2027-01-15T08:00:00Z");
  CHECK(mpd->attr("publishTime") == "2027-01-15T08:00:12Z");
  CHECK(mpd->attr("minimumUpdatePeriod") == "PT6.000S");
  CHECK_FALSE(mpd->has("mediaPresentationDuration"));
  CHECK_FALSE(mpd->has("timeShiftBufferDepth"));  // infinite: playable from the start
  // The clock a client synchronises with is the server's (the MPD's own Date header), after
  // the Period as the schema orders it; the static MPD names none.
  const XmlElement& clock = mpd->one("UTCTiming");
  CHECK(clock.attr("schemeIdUri") == "urn:mpeg:dash:utc:http-head:2014");
  CHECK(clock.attr("value") == "manifest.mpd");
  CHECK(text.find("<UTCTiming") > text.find("</Period>"));
  CHECK(parse_mpd(package::dash_manifest(p))->all("UTCTiming").empty());
  // Each SegmentTimeline names exactly the segments written so far.
  for (const XmlElement* set : mpd->one("Period").all("AdaptationSet"))
    for (const XmlElement* rep : set->all("Representation")) {
      int64_t count = 0;
      for (const XmlElement* s : rep->one("SegmentTemplate").one("SegmentTimeline").all("S"))
        count += 1 + (s->has("r") ? std::stoll(s->attr("r")) : 0);
      CHECK(count == 2);
    }
  CHECK(parse_mpd(package::dash_manifest(ladder_with_audio()))->attr("type") == "static");
}
