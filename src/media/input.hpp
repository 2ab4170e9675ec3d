// Opening user-supplied media safely: local file only, an allow-list of
// demuxers, no external references. Shared by probe and transcode.
#pragma once

#include <string>
#include <vector>

#include "media/av.hpp"
#include "streamlet/media.hpp"

namespace streamlet::media::detail {

struct OpenedInput {
  InputFormatPtr format;
  int video_stream = -1;   // best video stream (never a cover picture)
  int audio_stream = -1;   // best audio stream, -1 if none
  int rotation = 0;        // clockwise degrees for display
};

// Opens `path` and finds its streams. Fails with kInvalidMedia and a message
// that names the file when it is not a video we accept.
Result<OpenedInput> open_input(const std::string& path);

// A decoder for `stream`, opened with `threads` (0 = auto).
Result<CodecContextPtr> open_decoder(const AVStream* stream, int threads, const std::string& path);

// Rotation (clockwise degrees, multiple of 90) from the stream's display matrix.
int stream_rotation(const AVStream* stream);

MediaInfo describe(const OpenedInput& input, const std::string& path);

// How a video stream's frames are spaced, from every frame's timestamp.
struct FrameTiming {
  int stream = -1;
  int64_t frames = 0;          // frames with a timestamp
  double common_interval = 0;  // seconds; the most common spacing, weighted by time (0: < 2 frames)
  bool variable = false;       // spacings differ by more than one tick of the time base
};
// Reads the timestamps of every video frame of a freshly opened `input` (it is
// consumed): from the sample index when the container has a complete one
// (MP4/MOV), otherwise by demuxing with the other streams discarded.
Result<std::vector<FrameTiming>> measure_frame_timing(OpenedInput& input, const std::string& path);
// The timing of sorted, distinct timestamps in units of `time_base` (exposed for tests).
FrameTiming frame_timing_of(const std::vector<int64_t>& sorted_timestamps, AVRational time_base);

}  // namespace streamlet::media::detail
