// Opening user-supplied media safely: local file only, an allow-list of
// demuxers, no external references. Shared by probe and transcode.
#pragma once

#include <string>

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

}  // namespace streamlet::media::detail
