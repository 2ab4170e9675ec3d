// Inspecting source media. probe() opens a local file with a restricted set
// of container formats (never a playlist, a concat list or a URL), checks that
// it holds a decodable video stream, and describes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "streamlet/log.hpp"
#include "streamlet/status.hpp"

namespace streamlet::media {

struct VideoStreamInfo {
  int index = -1;                // stream index in the container
  std::string codec;             // "h264", "hevc", "vp9", ...
  std::string profile;           // "High", "Main 10", ... (empty if unknown)
  std::string pixel_format;      // "yuv420p", "yuv420p10le", ...
  int width = 0;                 // coded size, before rotation
  int height = 0;
  int display_width = 0;         // as shown: square pixels, rotation applied
  int display_height = 0;
  int rotation = 0;              // clockwise degrees to apply for display: 0, 90, 180, 270
  int bit_depth = 8;
  std::string chroma_subsampling;  // "4:2:0", "4:2:2", "4:4:4"
  double frame_rate = 0;         // average frames per second
  // 1 / the most common frame interval, weighted by how long each interval
  // lasts, measured from every frame's timestamp (0 if fewer than two frames).
  double common_frame_rate = 0;
  // Frame intervals differ by more than timestamp rounding (one tick of the
  // stream's time base) anywhere in the stream: the transcoder resamples it.
  bool variable_frame_rate = false;
  int64_t bit_rate = 0;          // bits/s, 0 if unknown
  int64_t frame_count = 0;       // 0 if the container does not say
  double duration_seconds = 0;
};

struct AudioStreamInfo {
  int index = -1;
  std::string codec;
  std::string profile;
  int sample_rate = 0;
  int channels = 0;
  std::string channel_layout;    // "stereo", "5.1", ...
  int64_t bit_rate = 0;
  double duration_seconds = 0;
};

// What a source file holds. `video` is non-empty for anything probe() accepts;
// the first entry is the stream Streamlet transcodes (likewise `audio`).
struct MediaInfo {
  std::string path;
  std::string container;         // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string container_long_name;
  double duration_seconds = 0;
  int64_t size_bytes = 0;
  int64_t bit_rate = 0;
  std::vector<VideoStreamInfo> video;
  std::vector<AudioStreamInfo> audio;

  std::string to_json(int indent = 2) const;
};

// Reads the file's headers and decodes its first video frame. Errors:
// kNotFound (no such file), kInvalidMedia (empty, not a container we accept,
// a playlist/concat list, no video stream, undecodable), kPermissionDenied.
Result<MediaInfo> probe(const std::string& path);

// The demuxers probe() and transcode() accept (libav names), comma-separated.
const char* accepted_containers();

}  // namespace streamlet::media

namespace streamlet::media {
// How much libav may print on stderr (process-wide; libav's own setting).
enum class LibavLogLevel { kQuiet, kError, kWarning, kInfo, kDebug };
void set_libav_log_level(LibavLogLevel level);
// The program's level applied to libav: error and warn print libav's errors only, info adds
// its warnings and notes (x264's statistics after each encode), debug its debugging output.
void set_log_level(LogLevel level);
}  // namespace streamlet::media
