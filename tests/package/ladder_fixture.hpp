// Hand-built packaging models: what the transcoder would report for a short
// 30000/1001 fps ladder, with byte counts chosen so that bit rates are easy
// to work out by hand (the expected values in the tests come from these notes).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "streamlet/package.hpp"

namespace streamlet::test {

// 6.006 s at 90 kHz, the segment length a 2.002 s GOP cadence gives at 29.97 fps.
inline constexpr int64_t kSeg = 540540;
// The short last segment: 2.5 s.
inline constexpr int64_t kLast = 225000;
// 5 x 6.006 + 2.5 = 32.53 s.
inline constexpr int kFullSegments = 5;

inline package::Track video_track(const char* id, const char* codecs, int w, int h,
                                  const std::vector<uint64_t>& bytes) {
  package::Track t;
  t.kind = package::TrackKind::kVideo;
  t.id = id;
  t.codecs = codecs;
  t.timescale = 90000;
  t.width = w;
  t.height = h;
  t.frame_rate = 30000.0 / 1001.0;
  int64_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    int64_t d = i + 1 < bytes.size() ? kSeg : kLast;
    t.segments.push_back({start, d, bytes[i]});
    start += d;
  }
  return t;
}

// 720p bytes per segment and the bit rate each gives (bits / seconds):
//   3003000 -> 24024000 / 6.006 = 4000000
//   2252250 -> 18018000 / 6.006 = 3000000
//   3003000 -> 4000000, 2252250 -> 3000000
//   1501500 -> 12012000 / 6.006 = 2000000
//   1562500 (last, 2.5 s) -> 12500000 / 2.5 = 5000000   <- the peak is the short one
// total 13574500 bytes = 108596000 bits over 32.53 s = 3338333.85 -> 3338334 rounded up.
//
// I-frames every 2.002 s (180180 ticks), three per full segment, two in the last
// (2.002 s and 0.498 s = 44820 ticks). Lengths: 60060 (-> 480480 / 2.002 = 240000 b/s),
// except segment 2's first I-frame, 100100 (-> 400000 b/s), and the last, 31125
// (-> 249000 / 0.498 = 500000 b/s, the peak).
inline package::Track ladder_720p() {
  auto t = video_track("720p", "avc1.64001f", 1280, 720,
                       {3003000, 2252250, 3003000, 2252250, 1501500, 1562500});
  constexpr int64_t kGop = 180180;
  for (uint32_t s = 0; s < t.segments.size(); ++s) {
    int64_t start = t.segments[s].start;
    int64_t end = start + t.segments[s].duration;
    uint64_t offset = 0;
    for (int64_t at = start; at < end; at += kGop) {
      package::IFrame f;
      f.segment = s;
      f.offset = offset;
      f.length = (s == 2 && at == start) ? 100100 : 60060;
      f.start = at;
      f.duration = std::min(kGop, end - at);
      if (f.duration != kGop) f.length = 31125;
      offset += 400000;  // the rest of the GOP follows the I-frame
      t.iframes.push_back(f);
    }
  }
  return t;
}

// 1500000 b/s in every segment: 1126125 bytes / 6.006 s and 468750 bytes / 2.5 s.
inline package::Track ladder_480p() {
  return video_track("480p", "avc1.64001e", 854, 480,
                     {1126125, 1126125, 1126125, 1126125, 1126125, 468750});
}

// 800000 b/s in every segment: 600600 bytes / 6.006 s and 250000 bytes / 2.5 s.
inline package::Track ladder_360p() {
  return video_track("360p", "avc1.640015", 640, 360,
                     {600600, 600600, 600600, 600600, 600600, 250000});
}

// AAC at 48 kHz: 288288 samples = 6.006 s, last 120000 = 2.5 s.
// 96096 bytes / 6.006 s = 128000 b/s; segment 3 has 100100 bytes:
// 800800 / 6.006 = 133333.33 -> peak 133334 rounded up; last 40000 / 2.5 = 128000.
// total 4 x 96096 + 100100 + 40000 = 524484 bytes = 4195872 bits / 32.53 s
// = 128984.69 -> 128985.
inline package::Track ladder_audio() {
  package::Track t;
  t.kind = package::TrackKind::kAudio;
  t.id = "audio";
  t.codecs = "mp4a.40.2";
  t.timescale = 48000;
  t.sample_rate = 48000;
  t.channels = 2;
  t.language = "en";
  std::vector<uint64_t> bytes = {96096, 96096, 96096, 100100, 96096, 40000};
  int64_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    int64_t d = i + 1 < bytes.size() ? 288288 : 120000;
    t.segments.push_back({start, d, bytes[i]});
    start += d;
  }
  return t;
}

inline package::Presentation ladder_with_audio() {
  package::Presentation p;
  p.video = {ladder_720p(), ladder_480p(), ladder_360p()};
  p.audio = ladder_audio();
  return p;
}

inline package::Presentation ladder_video_only() {
  package::Presentation p;
  p.video = {ladder_720p(), ladder_480p(), ladder_360p()};
  return p;
}

// A track whose segments last `millis` each, at a 1 kHz timescale.
inline package::Track track_with_millis(const std::vector<int64_t>& millis) {
  package::Track t;
  t.id = "v";
  t.codecs = "avc1.64001f";
  t.timescale = 1000;
  int64_t start = 0;
  for (int64_t ms : millis) {
    t.segments.push_back({start, ms, 1000});
    start += ms;
  }
  return t;
}

}  // namespace streamlet::test
