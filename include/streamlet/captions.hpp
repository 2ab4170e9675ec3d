// Captions and subtitles: what an owner uploads (WebVTT or SRT), checked and turned into one
// WebVTT form, and what a published video gains from it without re-encoding anything: an HLS
// SUBTITLES group of segmented WebVTT cut at the media segments' instants, and a DASH text
// adaptation set (a WebVTT sidecar). Everything here is a pure function of text, so it is
// tested against the formats' rules without a video; the platform stores the results.
//
//   auto cues = streamlet::captions::parse(body).value();      // kInvalidArgument: "line 7: ..."
//   std::string vtt = streamlet::captions::to_webvtt(cues);
//   auto segs = streamlet::captions::segment(cues, durations, mpegts);  // HLS playlist + files
//   master = streamlet::captions::hls_master_with_subtitles(master, tracks);
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::captions {

// The largest caption file taken (a feature film's subtitles are ~100 KiB).
inline constexpr size_t kMaxBytes = 1u << 20;
// The most cues one file may hold.
inline constexpr size_t kMaxCues = 20000;
// A label (the CC menu's name for a track): one line of UTF-8, at most this many bytes.
inline constexpr size_t kMaxLabel = 100;

// One cue. Times are milliseconds from the start of the video (0 <= start < end).
struct Cue {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string settings;  // WebVTT cue settings ("line:90% align:center"); "" for SRT
  std::string text;      // one or more lines joined by '\n'; never a blank line inside
};

// A WebVTT (starts with "WEBVTT") or SRT file, UTF-8 with or without a BOM, CRLF or LF.
// kTooLarge past kMaxBytes; kInvalidArgument, naming the line, for text that is not UTF-8,
// a timing line that does not parse, a cue that ends before it starts, more than kMaxCues.
// Cues come back ordered by start time (a stable sort: the file's order among equals).
Result<std::vector<Cue>> parse(std::string_view text);

// The cues as a WebVTT file ("WEBVTT\n\n" then one block per cue).
std::string to_webvtt(const std::vector<Cue>& cues);

// A BCP 47 language tag (RFC 5646 syntax: "en", "pt-BR", "zh-Hant-TW", "sr-Latn",
// "es-419"), in its canonical case (language lower, script title, region upper); or
// kInvalidArgument naming the tag.
Result<std::string> canonical_language(std::string_view tag);

// HLS subtitles of one language: a media playlist naming one WebVTT file per media segment
// (the same durations as the video's segments, so a player switches at the same instants),
// each carrying the cues that overlap it and X-TIMESTAMP-MAP=MPEGTS:<mpegts>,LOCAL:00:00:00.000
// so that cue time 0 is the media time `mpegts` (90 kHz) where the presentation starts: for
// fMP4 media, the video track's presentationTimeOffset in 90 kHz.
struct SegmentedSubtitles {
  std::string playlist;               // "#EXTM3U ..." naming segment_name(i)
  std::vector<std::string> segments;  // the WebVTT files, in order
  static std::string segment_name(size_t index);  // 0 -> "seg_00001.vtt"
};
SegmentedSubtitles segment(const std::vector<Cue>& cues, const std::vector<double>& durations,
                           int64_t mpegts);

// One published caption track as the manifests name it.
struct TextTrack {
  std::string language;  // canonical BCP 47
  std::string label;     // "English", shown in the CC menu
  std::string hls_uri;   // the subtitle playlist, relative to the master ("subs/en/index.m3u8")
  std::string dash_uri;  // the whole WebVTT, relative to the MPD ("subs/en.vtt")
};

// What the HLS master of a video looks like with `tracks` as its SUBTITLES group "subs": any
// group this function added before is replaced (so an empty list removes it), every
// EXT-X-STREAM-INF names the group when there is one. Other lines stay as they are.
std::string hls_master_with_subtitles(std::string_view master, const std::vector<TextTrack>& tracks);

// The same for a DASH MPD: one text/vtt AdaptationSet per track (contentType "text", lang,
// Role "subtitle", Label) in the first Period, replacing the ones added before.
std::string dash_with_text_tracks(std::string_view mpd, const std::vector<TextTrack>& tracks);

// What captions need to know of a published video: the segment durations (seconds) of the
// first variant of its HLS master (read from that variant's media playlist, which the caller
// fetched) and the media time (90 kHz) at which its presentation starts.
std::string first_variant_uri(std::string_view master);  // "" when there is none
std::vector<double> segment_durations(std::string_view media_playlist);
// From the MPD's first video SegmentTemplate (presentationTimeOffset / timescale); 0 if none.
int64_t presentation_start_90k(std::string_view mpd);

}  // namespace streamlet::captions
