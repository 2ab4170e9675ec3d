// The packaging model: what the transcoder wrote (CMAF tracks and their
// segments) and the pure functions that turn it into HLS and DASH manifests.
// Manifests are functions of this model only; nothing here touches files, so
// they are tested against the specs' rules without encoding anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace streamlet::package {

// One CMAF media segment of one track. Times are in the track's timescale and
// on the track's media timeline (what tfdt / sample times say).
struct Segment {
  int64_t start = 0;      // presentation time of the first sample
  int64_t duration = 0;   // presentation duration of all samples
  uint64_t bytes = 0;     // size of the segment file
};

// A random-access point inside a segment, for HLS I-frame playlists: the byte
// range [offset, offset + length) of the segment file holds the moof, the
// mdat header and the whole I-frame, so a player can fetch and decode it alone.
struct IFrame {
  uint32_t segment = 0;   // index into Track::segments
  uint64_t offset = 0;
  uint64_t length = 0;
  int64_t start = 0;      // presentation time, track timescale
  int64_t duration = 0;   // until the next I-frame (or the end of the track)
};

enum class TrackKind { kVideo, kAudio };

// One CMAF track (a video rendition or the shared audio track): an init
// segment plus numbered media segments in its own directory.
struct Track {
  TrackKind kind = TrackKind::kVideo;
  std::string id;                   // "720p", "audio"; also the directory name
  std::string codecs;               // RFC 6381, e.g. "avc1.64001f", "mp4a.40.2"
  uint32_t timescale = 90000;
  // Media time at which presentation starts (DASH presentationTimeOffset):
  // every track of a presentation shares the same instant, in its own timescale.
  int64_t presentation_time_offset = 0;
  uint32_t first_segment_number = 1;

  // video
  int width = 0;
  int height = 0;
  double frame_rate = 0;            // measured average frames per second
  // audio
  int sample_rate = 0;
  int channels = 0;
  std::string language = "und";

  int target_bitrate = 0;           // what the encoder was asked for, bits/s (informational)
  std::vector<Segment> segments;
  std::vector<IFrame> iframes;      // video only

  // File names inside the track directory, shared by HLS and DASH.
  static constexpr const char* kInitName = "init.mp4";
  static constexpr const char* kDashMediaTemplate = "seg_$Number%05d$.m4s";
  std::string segment_name(uint32_t index) const;  // index into segments -> "seg_00001.m4s"

  int64_t duration() const;          // sum of segment durations, timescale units
  double duration_seconds() const;
  uint64_t total_bytes() const;
  // Bits per second over the whole track, and over its most demanding segment.
  uint64_t average_bitrate() const;
  uint64_t peak_bitrate() const;
};

// Everything a set of manifests describes: the video ladder (highest first)
// and at most one audio track shared by every rendition.
struct Presentation {
  std::vector<Track> video;
  std::optional<Track> audio;
  double target_segment_seconds = 6.0;   // what segmentation aimed for
  std::string hls_media_playlist_name = "index.m3u8";     // inside each track directory
  std::string hls_iframe_playlist_name = "iframes.m3u8";  // inside each video track directory

  double duration_seconds() const;       // the longest track
};

// RFC 8216 playlists. Each function returns the whole playlist text.
// EXT-X-VERSION is the lowest the playlist's features need.
std::string hls_master_playlist(const Presentation& presentation);
std::string hls_media_playlist(const Track& track);
std::string hls_iframe_playlist(const Track& track);
// The lowest EXT-X-VERSION for a media playlist of `track` (iframes_only for the I-frame one).
int hls_media_playlist_version(const Track& track, bool iframes_only);

// ISO/IEC 23009-1 static MPD (isoff-live profile): SegmentTemplate with
// SegmentTimeline per representation, one video and at most one audio
// adaptation set. URLs are relative to the MPD's directory.
std::string dash_manifest(const Presentation& presentation);

// @bandwidth as DASH defines it: the lowest constant bit rate at which a
// client that buffered `min_buffer_seconds` never stalls.
uint64_t dash_bandwidth(const Track& track, double min_buffer_seconds);

// Manifests of a presentation still being transcoded (progressive publishing), listing the
// segments written so far; players start from the first while the rest is encoded. The
// finished output is described by the functions above, unchanged.
struct LiveManifests {
  // EXT-X-TARGETDURATION must not change while a playlist grows (RFC 8216bis 4.4.3.1,
  // 6.2.1): it is fixed up front at this many whole seconds (raised only if a segment so far
  // needs more). The segmenter's target, rounded.
  int64_t target_duration_seconds = 6;
  // DASH: the wall-clock instant (Unix seconds) at which media time 0 of the period became
  // available, and when this MPD was made.
  int64_t availability_start_unix = 0;
  int64_t publish_time_unix = 0;
  // How soon a DASH client should fetch the MPD again, seconds (about one segment).
  double minimum_update_period_seconds = 6.0;
  // DASH: where a client reads the server's clock (a <UTCTiming> of the http-head scheme: the
  // Date header of a HEAD answer), relative to the MPD. A dynamic MPD must name one (DASH-IF
  // timing model 13.1); without it dash.js asks time.akamai.com. Empty: none is written.
  std::string clock_url = "manifest.mpd";
};

// RFC 8216 EVENT media playlist: EXT-X-PLAYLIST-TYPE:EVENT, no EXT-X-ENDLIST; each version
// only appends to the one before.
std::string hls_event_playlist(const Track& track, const LiveManifests& live);
// A dynamic MPD (type="dynamic", availabilityStartTime, publishTime, minimumUpdatePeriod, no
// mediaPresentationDuration) whose SegmentTimelines grow; no timeShiftBufferDepth, so every
// segment since the start stays available and playback can begin at 0; a UTCTiming naming
// `clock_url`.
std::string dash_dynamic_manifest(const Presentation& presentation, const LiveManifests& live);

}  // namespace streamlet::package
