// Writes one CMAF track: init.mp4 plus numbered media segments, each made of
// one or more fragments (moof+mdat). The caller decides where segments and
// fragments start (segment boundaries are decided once, upstream); this class
// only obeys, and records what it wrote as a package::Track.
// Not thread-safe: one writer per track, used from one serial graph node.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "media/av.hpp"
#include "streamlet/package.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::package::detail {

struct CmafTrackConfig {
  // The track's objects are written into `out` (which outlives the writer) under `dir`
  // ("720p" -> "720p/init.mp4", "720p/seg_00001.m4s"), each committed when complete.
  storage::Publication* out = nullptr;
  std::string dir;
  TrackKind kind = TrackKind::kVideo;
  std::string id;
  const AVCodecContext* encoder = nullptr;  // opened, with global header (extradata)
  uint32_t timescale = 90000;      // media timescale of the track
  int64_t presentation_time_offset = 0;     // in `timescale` units
  uint32_t first_segment_number = 1;        // the first segment's name (a chunk starts later)
  // Called (on the writer's thread) after each media segment is committed and recorded in
  // track(); optional. Progressive publishing shows the segment from there.
  std::function<void()> on_segment;
};

class CmafTrackWriter {
 public:
  static Result<std::unique_ptr<CmafTrackWriter>> open(const CmafTrackConfig& config);
  ~CmafTrackWriter();

  // Writes one encoded packet (timestamps in the encoder's time base).
  // `new_segment` closes the current segment first; `new_fragment` starts a
  // fragment inside it (an I-frame for the I-frame playlist when video).
  Status write(AVPacket* packet, bool new_segment, bool new_fragment);
  // Flushes the last fragment, commits the last segment.
  Status finish();

  const Track& track() const { return track_; }

 private:
  CmafTrackWriter() = default;
  static int write_callback(void* opaque, uint8_t* buf, int size);
  Status flush_fragment();
  Status open_segment();
  Status close_segment();

  CmafTrackConfig config_;
  Track track_;
  media::detail::OutputFormatPtr format_;
  media::detail::IoContextPtr io_;
  AVRational encoder_time_base_{1, 1};
  AVRational stream_time_base_{1, 1};

  Status create(const std::string& name);  // the object the muxer's bytes go to next
  Status commit();

  std::unique_ptr<storage::Writer> out_;  // the object the muxer's bytes go to now
  std::string out_name_;                  // its key, for errors
  uint64_t fd_bytes_ = 0;                 // bytes written into it so far
  Status write_error_;

  bool segment_open_ = false;
  bool fragment_open_ = false;
  bool first_in_fragment_is_key_ = false;
  uint64_t fragment_offset_ = 0;     // where the current fragment starts in the segment file
  uint64_t fragment_sample_bytes_ = 0;
  uint64_t fragment_first_sample_bytes_ = 0;
  int64_t fragment_start_ = 0;       // stream time base
  int64_t segment_start_ = 0;
  int64_t segment_end_ = 0;          // max pts + duration seen in the segment
  bool finished_ = false;
};

}  // namespace streamlet::package::detail
