// TEMPORARY: replaced by hls.cpp/dash.cpp/track.cpp from the package branch.
#include <cstdio>
#include "streamlet/package.hpp"
namespace streamlet::package {
std::string Track::segment_name(uint32_t index) const {
  char b[32]; std::snprintf(b, sizeof b, "seg_%05u.m4s", first_segment_number + index); return b;
}
int64_t Track::duration() const { int64_t d = 0; for (auto& s : segments) d += s.duration; return d; }
double Track::duration_seconds() const { return double(duration()) / timescale; }
uint64_t Track::total_bytes() const { uint64_t b = 0; for (auto& s : segments) b += s.bytes; return b; }
uint64_t Track::average_bitrate() const { return duration_seconds() > 0 ? total_bytes() * 8 / duration_seconds() : 0; }
uint64_t Track::peak_bitrate() const { uint64_t p = 0; for (auto& s : segments) p = std::max<uint64_t>(p, s.bytes * 8.0 / (double(s.duration) / timescale)); return p; }
std::string hls_master_playlist(const Presentation&) { return "#EXTM3U\n"; }
std::string hls_media_playlist(const Track& t) {
  std::string o = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n";
  for (size_t i = 0; i < t.segments.size(); ++i) { char b[64]; std::snprintf(b, sizeof b, "#EXTINF:%.6f,\n", double(t.segments[i].duration)/t.timescale); o += b; o += t.segment_name(i) + "\n"; }
  return o + "#EXT-X-ENDLIST\n";
}
std::string hls_iframe_playlist(const Track&) { return "#EXTM3U\n"; }
std::string dash_manifest(const Presentation&) { return "<MPD/>"; }
}
