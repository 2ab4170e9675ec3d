// Independent checks on transcoder output, done with ffprobe/ffmpeg rather
// than with the library that wrote it.
#pragma once

#include <string>
#include <vector>

#include "support/support.hpp"

namespace streamlet::test {

struct ProbedPacket {
  double pts = 0;
  double dts = 0;
  bool key = false;
  int size = 0;
};

// Media segment files of one track directory, in order.
std::vector<fs::path> segment_files(const fs::path& track_dir);
// init.mp4 followed by the given segments, as one file in `scratch`.
fs::path join_track(const fs::path& track_dir, const fs::path& scratch,
                    const std::vector<fs::path>& segments);
fs::path join_track(const fs::path& track_dir, const fs::path& scratch);
// Packets of the first stream of `file`, as ffprobe reads them.
std::vector<ProbedPacket> probe_packets(const fs::path& file);
// Decodes with ffmpeg to the end; returns "" when clean, else what ffmpeg said.
std::string decode_errors(const fs::path& file_or_manifest, const std::vector<std::string>& extra = {});
// The duration of every sample, in track timescale units, as the fragments of
// `track_dir`'s segments declare them (trun, else tfhd's or trex's default);
// read with a box reader of its own rather than the writer's code or FFmpeg
// (whose fMP4 reader leaves the last sample of each fragment without one).
std::vector<uint32_t> fragment_sample_durations(const fs::path& track_dir);
// Frames ffprobe counts in the first video stream.
int64_t count_video_frames(const fs::path& file);

// A transcode of `input` with CLI `args`, made once per build tree under a lock
// so parallel test processes share it; returns the output directory.
fs::path cached_cli_transcode(const std::string& name, const fs::path& input,
                              const std::vector<std::string>& args);

}  // namespace streamlet::test
