// ISO/IEC 23009-1 static MPD, isoff-live profile: one SegmentTemplate with a
// SegmentTimeline per Representation, so the MPD lists the exact segment
// durations the muxer wrote rather than a nominal @duration.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/time_format.hpp"
#include "package/text.hpp"
#include "streamlet/package.hpp"

namespace streamlet::package {
namespace {

using detail::append_int;
using detail::append_uint;
using detail::xml_escape;

// xs:duration with millisecond precision. Upper bounds (maxSegmentDuration)
// round up so they stay bounds; the presentation duration rounds to nearest.
std::string iso_duration_ms(int64_t ms) {
  std::string out = "PT";
  append_int(out, ms / 1000);
  out += '.';
  std::string frac = std::to_string(ms % 1000);
  out += std::string(3 - frac.size(), '0') + frac;
  out += 'S';
  return out;
}

int64_t ceil_ms(int64_t ticks, uint32_t timescale) {
  if (timescale == 0 || ticks <= 0) return 0;
  return static_cast<int64_t>(
      detail::ceil_div(static_cast<unsigned __int128>(ticks) * 1000, timescale));
}

// @frameRate is FrameRateType: an integer or a fraction, never a decimal.
// Measured averages are snapped to the integer or NTSC (N*1000/1001) rate
// they are within 0.01% of; anything else becomes a fraction over 1000.
std::string frame_rate_fraction(double fps) {
  if (!(fps > 0)) return "0";
  double n = std::round(fps);
  if (n >= 1 && std::fabs(fps - n) <= fps * 1e-4) return std::to_string(static_cast<int64_t>(n));
  double ntsc = std::round(fps * 1.001);
  if (ntsc >= 1 && std::fabs(fps - ntsc * 1000 / 1001) <= fps * 1e-4)
    return std::to_string(static_cast<int64_t>(ntsc) * 1000) + "/1001";
  int64_t num = std::llround(fps * 1000);
  int64_t g = std::gcd(num, int64_t{1000});
  std::string out = std::to_string(num / g);
  if (1000 / g != 1) out += "/" + std::to_string(1000 / g);
  return out;
}

void attr(std::string& out, const char* name, const std::string& value) {
  out += ' ';
  out += name;
  out += "=\"";
  out += xml_escape(value);
  out += '"';
}

void attr(std::string& out, const char* name, int64_t value) {
  out += ' ';
  out += name;
  out += "=\"";
  append_int(out, value);
  out += '"';
}

// Runs of contiguous, equal-duration segments become one <S d r>; @t is given
// on the first S and wherever a gap or overlap breaks continuity.
void segment_timeline(std::string& out, const Track& t, const char* indent) {
  struct Run {
    bool explicit_start;
    int64_t start, duration, repeat;
  };
  std::vector<Run> runs;
  int64_t next = 0;
  for (size_t i = 0; i < t.segments.size(); ++i) {
    const Segment& s = t.segments[i];
    bool continuous = i > 0 && s.start == next;
    if (continuous && s.duration == runs.back().duration) {
      ++runs.back().repeat;
    } else {
      runs.push_back({!continuous, s.start, s.duration, 0});
    }
    next = s.start + s.duration;
  }
  out += indent;
  out += "<SegmentTimeline>\n";
  for (const Run& r : runs) {
    out += indent;
    out += "  <S";
    if (r.explicit_start) attr(out, "t", r.start);
    attr(out, "d", r.duration);
    if (r.repeat > 0) attr(out, "r", r.repeat);
    out += "/>\n";
  }
  out += indent;
  out += "</SegmentTimeline>\n";
}

void representation(std::string& out, const Track& t, double min_buffer) {
  const std::string id = detail::url_segment(t.id);
  out += "      <Representation";
  attr(out, "id", id);
  attr(out, "bandwidth",
       static_cast<int64_t>(
           std::min<uint64_t>(dash_bandwidth(t, min_buffer), std::numeric_limits<int64_t>::max())));
  attr(out, "codecs", t.codecs);
  if (t.kind == TrackKind::kVideo) {
    if (t.width > 0 && t.height > 0) {
      attr(out, "width", t.width);
      attr(out, "height", t.height);
    }
    if (t.frame_rate > 0) attr(out, "frameRate", frame_rate_fraction(t.frame_rate));
  } else if (t.sample_rate > 0) {
    attr(out, "audioSamplingRate", t.sample_rate);
  }
  out += ">\n        <SegmentTemplate";
  attr(out, "timescale", t.timescale);
  attr(out, "presentationTimeOffset", t.presentation_time_offset);
  attr(out, "initialization", id + "/" + Track::kInitName);
  attr(out, "media", id + "/" + Track::kDashMediaTemplate);
  attr(out, "startNumber", t.first_segment_number);
  out += ">\n";
  segment_timeline(out, t, "          ");
  out += "        </SegmentTemplate>\n      </Representation>\n";
}

int64_t max_segment_ticks_ms(const Track& t) {
  int64_t ms = 0;
  for (const Segment& s : t.segments) ms = std::max(ms, ceil_ms(s.duration, t.timescale));
  return ms;
}

}  // namespace

uint64_t dash_bandwidth(const Track& track, double min_buffer_seconds) {
  if (track.segments.empty() || track.timescale == 0) return 0;
  // With no buffer the first segment would have to arrive instantly.
  if (!(min_buffer_seconds > 0)) return std::numeric_limits<uint64_t>::max();
  // Segment k must be fully downloaded when its presentation starts, at
  // min_buffer + (start_k - start_0) seconds: B >= cumbits_k / that deadline.
  // Work in ticks; when min_buffer is a whole number of ticks (the usual case)
  // the division is exact integer arithmetic.
  const long double buffer_ticks = static_cast<long double>(min_buffer_seconds) * track.timescale;
  const long double rounded = std::round(buffer_ticks);
  const bool exact = std::fabs(buffer_ticks - rounded) < 1e-6L;
  const int64_t start0 = track.segments.front().start;
  unsigned __int128 cumbits = 0;
  uint64_t best = 0;
  for (const Segment& s : track.segments) {
    cumbits += static_cast<unsigned __int128>(s.bytes) * 8;
    const int64_t rel = s.start - start0;
    uint64_t need;
    if (exact) {
      const __int128 deadline = static_cast<__int128>(rounded) + rel;
      if (deadline <= 0) return std::numeric_limits<uint64_t>::max();
      need = detail::ceil_div(cumbits * track.timescale, static_cast<unsigned __int128>(deadline));
    } else {
      const long double deadline = buffer_ticks + rel;
      if (deadline <= 0) return std::numeric_limits<uint64_t>::max();
      need = static_cast<uint64_t>(
          std::ceil(static_cast<long double>(cumbits) * track.timescale / deadline));
    }
    best = std::max(best, need);
  }
  return best;
}

namespace {

// The static MPD of a finished presentation, or (live) a dynamic one that is still growing.
std::string mpd(const Presentation& p, const LiveManifests* live) {
  // minBufferTime is the target segment duration: a player holds at least one
  // whole segment before it starts, and @bandwidth is computed against the
  // exact (millisecond) value printed here, so the pair is self-consistent.
  const int64_t min_buffer_ms =
      p.target_segment_seconds > 0 ? std::llround(p.target_segment_seconds * 1000) : 2000;
  const double min_buffer = static_cast<double>(min_buffer_ms) / 1000;

  int64_t max_segment_ms = 0;
  for (const Track& v : p.video) max_segment_ms = std::max(max_segment_ms, max_segment_ticks_ms(v));
  if (p.audio) max_segment_ms = std::max(max_segment_ms, max_segment_ticks_ms(*p.audio));

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD";
  attr(out, "xmlns", "urn:mpeg:dash:schema:mpd:2011");
  attr(out, "profiles", "urn:mpeg:dash:profile:isoff-live:2011");
  if (live) {
    attr(out, "type", "dynamic");
    attr(out, "availabilityStartTime", streamlet::detail::rfc3339(live->availability_start_unix));
    attr(out, "publishTime", streamlet::detail::rfc3339(live->publish_time_unix));
    attr(out, "minimumUpdatePeriod",
         iso_duration_ms(std::llround(live->minimum_update_period_seconds * 1000)));
  } else {
    attr(out, "type", "static");
    attr(out, "mediaPresentationDuration",
         iso_duration_ms(std::llround(p.duration_seconds() * 1000)));
  }
  attr(out, "minBufferTime", iso_duration_ms(min_buffer_ms));
  attr(out, "maxSegmentDuration", iso_duration_ms(max_segment_ms));
  out += ">\n  <Period id=\"0\" start=\"PT0S\">\n";

  if (!p.video.empty()) {
    int max_w = 0, max_h = 0;
    double max_fps = 0;
    for (const Track& v : p.video) {
      max_w = std::max(max_w, v.width);
      max_h = std::max(max_h, v.height);
      max_fps = std::max(max_fps, v.frame_rate);
    }
    out +=
        "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\""
        " segmentAlignment=\"true\" startWithSAP=\"1\"";
    if (max_w > 0 && max_h > 0) {
      attr(out, "maxWidth", max_w);
      attr(out, "maxHeight", max_h);
    }
    if (max_fps > 0) attr(out, "maxFrameRate", frame_rate_fraction(max_fps));
    out += ">\n";
    for (const Track& v : p.video) representation(out, v, min_buffer);
    out += "    </AdaptationSet>\n";
  }

  if (p.audio) {
    const Track& a = *p.audio;
    out += "    <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\"";
    if (!a.language.empty()) attr(out, "lang", a.language);
    out += " segmentAlignment=\"true\" startWithSAP=\"1\">\n";
    if (a.channels > 0) {
      out += "      <AudioChannelConfiguration";
      attr(out, "schemeIdUri", "urn:mpeg:dash:23003:3:audio_channel_configuration:2011");
      attr(out, "value", a.channels);
      out += "/>\n";
    }
    representation(out, a, min_buffer);
    out += "    </AdaptationSet>\n";
  }
  out += "  </Period>\n";
  if (live && !live->clock_url.empty()) {
    // After the Periods, as the MPD schema orders it.
    out += "  <UTCTiming";
    attr(out, "schemeIdUri", "urn:mpeg:dash:utc:http-head:2014");
    attr(out, "value", live->clock_url);
    out += "/>\n";
  }
  out += "</MPD>\n";
  return out;
}

}  // namespace

std::string dash_manifest(const Presentation& p) {
  return mpd(p, nullptr);
}

std::string dash_dynamic_manifest(const Presentation& p, const LiveManifests& live) {
  return mpd(p, &live);
}

}  // namespace streamlet::package
