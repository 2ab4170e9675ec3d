// RFC 8216 playlists (with the Apple HLS authoring rules for CMAF/fMP4).
// Durations come from integer ticks; each EXTINF is the difference of the
// rounded cumulative end times, so the printed durations add up to the track
// duration (to the microsecond) instead of drifting one rounding per segment.
#include <algorithm>
#include <string>
#include <vector>

#include "package/text.hpp"
#include "streamlet/package.hpp"

namespace streamlet::package {
namespace {

using detail::append_int;
using detail::append_uint;

constexpr int64_t kMicros = 1000000;

// The EXTINF value of each entry, in microseconds, from entry durations in ticks.
std::vector<int64_t> extinf_micros(const std::vector<int64_t>& durations, uint32_t timescale) {
  std::vector<int64_t> out;
  out.reserve(durations.size());
  int64_t elapsed = 0;
  int64_t printed = 0;
  for (int64_t d : durations) {
    elapsed += d;
    int64_t end = detail::ticks_to_micros(elapsed, timescale);
    out.push_back(end - printed);
    printed = end;
  }
  return out;
}

// RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer must be <= the
// target duration. Never 0: a 0 target is legal for tiny segments but confuses players.
int64_t target_duration(const std::vector<int64_t>& extinfs) {
  int64_t target = 1;
  for (int64_t us : extinfs) target = std::max(target, (us + kMicros / 2) / kMicros);
  return target;
}

std::vector<int64_t> segment_durations(const Track& track) {
  std::vector<int64_t> d;
  d.reserve(track.segments.size());
  for (const Segment& s : track.segments) d.push_back(s.duration);
  return d;
}

std::vector<int64_t> iframe_durations(const Track& track) {
  std::vector<int64_t> d;
  d.reserve(track.iframes.size());
  for (const IFrame& f : track.iframes) d.push_back(f.duration);
  return d;
}

// RFC 8216 section 7, applied to the tags our media playlists contain.
int media_version(bool iframes_only, bool has_map, bool fractional_extinf) {
  int version = 1;
  if (fractional_extinf) version = std::max(version, 3);
  if (iframes_only) version = std::max(version, 4);  // EXT-X-I-FRAMES-ONLY, EXT-X-BYTERANGE
  if (has_map) version = std::max(version, iframes_only ? 5 : 6);
  return version;
}

bool any_fractional(const std::vector<int64_t>& extinfs) {
  return std::any_of(extinfs.begin(), extinfs.end(), [](int64_t us) { return us % kMicros != 0; });
}

// A master playlist's own tags (EXT-X-MEDIA, STREAM-INF attributes including
// AVERAGE-BANDWIDTH / FRAME-RATE / AUDIO, I-FRAME-STREAM-INF, INDEPENDENT-SEGMENTS)
// are all backward compatible to version 1 (RFC 8216 section 7; Apple QA1752):
// each media playlist states the version it needs itself.
constexpr int kMasterVersion = 1;

void header(std::string& out, int version, int64_t target, const char* type = "VOD") {
  out += "#EXTM3U\n#EXT-X-VERSION:";
  append_int(out, version);
  out += "\n#EXT-X-TARGETDURATION:";
  append_int(out, target);
  out += "\n#EXT-X-PLAYLIST-TYPE:";
  out += type;
  out += '\n';
}

struct IFrameRates {
  uint64_t peak = 0;
  uint64_t average = 0;
};

IFrameRates iframe_rates(const Track& track) {
  IFrameRates r;
  uint64_t bytes = 0;
  int64_t ticks = 0;
  for (const IFrame& f : track.iframes) {
    r.peak = std::max(r.peak, detail::bitrate(f.length, f.duration, track.timescale));
    bytes += f.length;
    ticks += f.duration;
  }
  r.average = detail::bitrate(bytes, ticks, track.timescale);
  return r;
}

std::string uri_in(const Track& track, const std::string& file) {
  return detail::url_segment(track.id) + "/" + detail::hls_quoted(file);
}

void attr(std::string& out, const char* name, uint64_t value) {
  out += ',';
  out += name;
  out += '=';
  append_uint(out, value);
}

void quoted_attr(std::string& out, const char* name, const std::string& value) {
  out += ',';
  out += name;
  out += "=\"";
  out += detail::hls_quoted(value);
  out += '"';
}

void resolution_attr(std::string& out, const Track& t) {
  if (t.width <= 0 || t.height <= 0) return;
  out += ",RESOLUTION=";
  append_int(out, t.width);
  out += 'x';
  append_int(out, t.height);
}

}  // namespace

int hls_media_playlist_version(const Track& track, bool iframes_only) {
  auto extinfs = iframes_only ? extinf_micros(iframe_durations(track), track.timescale)
                              : extinf_micros(segment_durations(track), track.timescale);
  // Every CMAF playlist carries EXT-X-MAP: the init segment is never inside a media segment.
  return media_version(iframes_only, /*has_map=*/true, any_fractional(extinfs));
}

namespace {

// A VOD playlist (ended), or an EVENT one still growing with a fixed target duration.
std::string media_playlist(const Track& track, const LiveManifests* live) {
  auto extinfs = extinf_micros(segment_durations(track), track.timescale);
  std::string out;
  out.reserve(64 + track.segments.size() * 36);
  // EXT-X-MAP makes the version 6 whatever the EXTINFs are, so it stays as a playlist grows.
  const int version = media_version(false, true, any_fractional(extinfs));
  if (live)
    header(out, version, std::max(live->target_duration_seconds, target_duration(extinfs)),
           "EVENT");
  else
    header(out, version, target_duration(extinfs));
  // Every CMAF segment starts with a sync sample (IDR for video, any AAC frame
  // for audio), and the master already declares this for all its playlists.
  out += "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"";
  out += Track::kInitName;
  out += "\"\n";
  for (size_t i = 0; i < track.segments.size(); ++i) {
    out += "#EXTINF:";
    out += detail::seconds_from_micros(extinfs[i]);
    out += ",\n";
    out += track.segment_name(static_cast<uint32_t>(i));
    out += '\n';
  }
  if (!live) out += "#EXT-X-ENDLIST\n";
  return out;
}

}  // namespace

std::string hls_media_playlist(const Track& track) {
  return media_playlist(track, nullptr);
}

std::string hls_event_playlist(const Track& track, const LiveManifests& live) {
  return media_playlist(track, &live);
}

std::string hls_iframe_playlist(const Track& track) {
  auto extinfs = extinf_micros(iframe_durations(track), track.timescale);
  std::string out;
  out.reserve(96 + track.iframes.size() * 64);
  header(out, media_version(true, true, any_fractional(extinfs)), target_duration(extinfs));
  out += "#EXT-X-I-FRAMES-ONLY\n#EXT-X-MAP:URI=\"";
  out += Track::kInitName;
  out += "\"\n";
  for (size_t i = 0; i < track.iframes.size(); ++i) {
    const IFrame& f = track.iframes[i];
    out += "#EXTINF:";
    out += detail::seconds_from_micros(extinfs[i]);
    out += ",\n#EXT-X-BYTERANGE:";
    append_uint(out, f.length);
    out += '@';
    append_uint(out, f.offset);
    out += '\n';
    out += track.segment_name(f.segment);
    out += '\n';
  }
  out += "#EXT-X-ENDLIST\n";
  return out;
}

std::string hls_master_playlist(const Presentation& p) {
  const std::string& media_name = p.hls_media_playlist_name;
  std::string out = "#EXTM3U\n#EXT-X-VERSION:";
  append_int(out, kMasterVersion);
  out += "\n#EXT-X-INDEPENDENT-SEGMENTS\n";

  // Audio only: the audio playlist is the one variant, there is no group to select from.
  if (p.video.empty()) {
    if (p.audio) {
      const Track& a = *p.audio;
      out += "\n#EXT-X-STREAM-INF:BANDWIDTH=";
      append_uint(out, a.peak_bitrate());
      attr(out, "AVERAGE-BANDWIDTH", a.average_bitrate());
      quoted_attr(out, "CODECS", a.codecs);
      out += '\n' + uri_in(a, media_name) + '\n';
    }
    return out;
  }

  uint64_t audio_peak = 0, audio_average = 0;
  if (p.audio) {
    const Track& a = *p.audio;
    audio_peak = a.peak_bitrate();
    audio_average = a.average_bitrate();
    out += "\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\"";
    quoted_attr(out, "NAME", a.id);
    if (!a.language.empty()) quoted_attr(out, "LANGUAGE", a.language);
    out += ",DEFAULT=YES,AUTOSELECT=YES";
    if (a.channels > 0) quoted_attr(out, "CHANNELS", std::to_string(a.channels));
    quoted_attr(out, "URI", uri_in(a, media_name));
    out += '\n';
  }

  // Players start with the first variant; the contract orders the ladder
  // highest first, and a stable sort by BANDWIDTH keeps that promise for any input.
  struct Variant {
    const Track* track;
    uint64_t peak;
  };
  std::vector<Variant> variants;
  for (const Track& v : p.video) variants.push_back({&v, v.peak_bitrate() + audio_peak});
  std::stable_sort(variants.begin(), variants.end(),
                   [](const Variant& a, const Variant& b) { return a.peak > b.peak; });

  out += '\n';
  for (const Variant& var : variants) {
    const Track& v = *var.track;
    out += "#EXT-X-STREAM-INF:BANDWIDTH=";
    append_uint(out, var.peak);
    attr(out, "AVERAGE-BANDWIDTH", v.average_bitrate() + audio_average);
    quoted_attr(out, "CODECS", p.audio ? v.codecs + "," + p.audio->codecs : v.codecs);
    resolution_attr(out, v);
    if (v.frame_rate > 0) out += ",FRAME-RATE=" + detail::fixed(v.frame_rate, 3);
    if (p.audio) out += ",AUDIO=\"aud\"";
    out += '\n' + uri_in(v, media_name) + '\n';
  }

  bool first_iframe = true;
  for (const Variant& var : variants) {
    const Track& v = *var.track;
    if (v.iframes.empty()) continue;
    if (first_iframe) out += '\n';
    first_iframe = false;
    IFrameRates rates = iframe_rates(v);
    out += "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=";
    append_uint(out, rates.peak);
    attr(out, "AVERAGE-BANDWIDTH", rates.average);
    quoted_attr(out, "CODECS", v.codecs);
    resolution_attr(out, v);
    quoted_attr(out, "URI", uri_in(v, p.hls_iframe_playlist_name));
    out += '\n';
  }
  return out;
}

}  // namespace streamlet::package
