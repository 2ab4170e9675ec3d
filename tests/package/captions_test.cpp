// Caption files in (WebVTT, SRT), WebVTT out, and the HLS/DASH edits, on hand-written text.
#include "streamlet/captions.hpp"

#include <doctest/doctest.h>

#include "ladder_fixture.hpp"
#include "streamlet/package.hpp"

using namespace streamlet;
namespace cc = streamlet::captions;

TEST_CASE("captions: bad files are refused naming the line") {
  struct Bad {
    std::string text;
    std::string says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"WEBVTT\n\n00:00:04.000 --> 00:00:01.000\nbackwards\n", "line 3: the cue ends before"},
           {"1\n00:00:01,000 --> 00:00:01,000\nzero length\n", "line 2: the cue ends before"},
           {"WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhalf an arrow\n", "line 3"},
           {"WEBVTT\n\n00:01:61.000 --> 00:01:62.000\nsixty-one seconds\n", "line 3"},
           {"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nstill\n00:00:03.000 --> 00:00:04.000\n",
            "line 5: a cue's text cannot hold '-->'"},
           {"caf\xE9 is latin-1\n", "not UTF-8"},
           {"just some words\nand more\n", "line 1"},
           {"", "neither WebVTT"},
       }) {
    CAPTURE(b.text);
    auto r = cc::parse(b.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
    CHECK_MESSAGE(r.status().message().find(b.says) != std::string::npos, r.status().message());
  }
  auto big = cc::parse(std::string(cc::kMaxBytes + 1, 'a'));
  CHECK(big.status().code() == ErrorCode::kTooLarge);
}

TEST_CASE("captions: SRT becomes WebVTT, cues sorted, comments and ids dropped") {
  const std::string srt =
      "\xEF\xBB\xBF"
      "2\r\n00:00:05,500 --> 00:00:07,000\r\nSecond \xC3\xA9\r\ntwo lines\r\n\r\n"
      "1\r\n00:00:01,000 --> 00:00:03,250\r\nFirst\r\n\r\n";
  auto cues = cc::parse(srt).value();
  REQUIRE(cues.size() == 2);
  CHECK(cues[0].start_ms == 1000);
  CHECK(cues[0].end_ms == 3250);
  CHECK(cues[1].text == "Second \xC3\xA9\ntwo lines");
  CHECK(cc::to_webvtt(cues) ==
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.250\nFirst\n\n"
        "00:00:05.500 --> 00:00:07.000\nSecond \xC3\xA9\ntwo lines\n\n");
  auto vtt = cc::parse("WEBVTT - a title\n\nNOTE a comment\nover lines\n\nintro\n01:02.5"
                       "00 --> 01:04.000 line:90% align:start\nHi\n")
                 .value();
  REQUIRE(vtt.size() == 1);
  CHECK(vtt[0].start_ms == 62500);
  CHECK(vtt[0].settings == "line:90% align:start");
  // What we write parses back to the same cues.
  auto again = cc::parse(cc::to_webvtt(vtt)).value();
  CHECK(again[0].start_ms == 62500);
  CHECK(again[0].text == "Hi");
}

TEST_CASE("captions: language tags are BCP 47, in canonical case") {
  for (auto [in, out] : {std::pair{"en", "en"}, {"pt-br", "pt-BR"}, {"zh-hant-tw", "zh-Hant-TW"},
                         {"es-419", "es-419"}, {"SR-latn", "sr-Latn"}, {"de-CH-1996", "de-CH-1996"},
                         {"en-x-sdh", "en-x-sdh"}}) {
    CAPTURE(in);
    CHECK(cc::canonical_language(in).value() == out);
  }
  for (const char* bad : {"", "e", "english-", "en_US", "en/../x", "123", "en-a", "en--us",
                          "toolongsubtag-en", "fr\xC3\xA7"}) {
    CAPTURE(bad);
    CHECK(cc::canonical_language(bad).status().code() == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("captions: segmented WebVTT follows the media segments, cues repeated across a cut") {
  auto cues = cc::parse("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n\n"
                        "00:00:03.500 --> 00:00:04.500\nacross\n\n"
                        "00:00:09.000 --> 00:00:20.000\nlate\n")
                  .value();
  auto s = cc::segment(cues, {4.0, 4.0, 2.5}, 7200);
  REQUIRE(s.segments.size() == 3);
  CHECK(s.segments[0].rfind("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:7200,LOCAL:00:00:00.000\n\n", 0) == 0);
  CHECK(s.segments[0].find("\na\n") != std::string::npos);
  CHECK(s.segments[0].find("across") != std::string::npos);
  CHECK(s.segments[1].find("across") != std::string::npos);
  CHECK(s.segments[1].find("\na\n") == std::string::npos);
  CHECK(s.segments[2].find("late") != std::string::npos);  // past the end: the last segment
  CHECK(s.playlist.find("#EXT-X-TARGETDURATION:4\n") != std::string::npos);
  CHECK(s.playlist.find("#EXTINF:2.500000,\nseg_00003.vtt\n#EXT-X-ENDLIST\n") != std::string::npos);
}

TEST_CASE("captions: the master gains a SUBTITLES group and loses it again") {
  const package::Presentation p = [] { auto p = test::ladder_with_audio(); p.video[0].presentation_time_offset = 1800; return p; }();
  const std::string master = package::hls_master_playlist(p);
  std::vector<cc::TextTrack> tracks = {{"en", "English", "subs/en/index.m3u8", "subs/en.vtt"},
                                       {"pt-BR", "Portugu\xC3\xAAs \"BR\"", "subs/pt-BR/index.m3u8",
                                        "subs/pt-BR.vtt"}};
  const std::string with = cc::hls_master_with_subtitles(master, tracks);
  CHECK(with.find("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\","
                  "DEFAULT=NO,AUTOSELECT=YES,URI=\"subs/en/index.m3u8\"\n") != std::string::npos);
  CHECK(with.find("NAME=\"Portugu\xC3\xAAs BR\"") != std::string::npos);  // no quote inside
  size_t variants = 0, named = 0;
  for (size_t at = 0; (at = with.find("#EXT-X-STREAM-INF:", at)) != std::string::npos; ++at) {
    ++variants;
    const std::string line = with.substr(at, with.find('\n', at) - at);
    if (line.find("SUBTITLES=\"subs\"") != std::string::npos) ++named;
  }
  CHECK(variants == p.video.size());
  CHECK(named == variants);
  const size_t iframes = with.find("#EXT-X-I-FRAME-STREAM-INF");
  if (iframes != std::string::npos)
    CHECK(with.substr(iframes).find("SUBTITLES") == std::string::npos);
  // Idempotent, and an empty list gives the original back.
  CHECK(cc::hls_master_with_subtitles(with, tracks) == with);
  CHECK(cc::hls_master_with_subtitles(with, {}) == master);
  CHECK(cc::first_variant_uri(master) == p.video.front().id + "/index.m3u8");

  const std::string mpd = package::dash_manifest(p);
  const std::string dash = cc::dash_with_text_tracks(mpd, tracks);
  CHECK(dash.find("contentType=\"text\" mimeType=\"text/vtt\" lang=\"pt-BR\"") != std::string::npos);
  CHECK(dash.find("<BaseURL>subs/en.vtt</BaseURL>") != std::string::npos);
  CHECK(dash.find("<Label>Portugu\xC3\xAAs &quot;BR&quot;</Label>") != std::string::npos);
  CHECK(dash.find("</AdaptationSet>\n  </Period>") != std::string::npos);
  CHECK(cc::dash_with_text_tracks(dash, tracks) == dash);
  CHECK(cc::dash_with_text_tracks(dash, {}) == mpd);
  CHECK(cc::presentation_start_90k(mpd) ==
        p.video.front().presentation_time_offset * 90000 / p.video.front().timescale);
}
