// What the transcoder does in two halves, so a chunked transcode (chunked.cpp) can run the
// first half on several parts of the source side by side and the second half once:
// encode_span() encodes one span of the source timeline into tracks, write_output() turns
// the (joined) tracks into manifests, summary.json and a published output.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/package.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"

namespace streamlet::transcode::detail {

// A part of the source timeline, in presentation ticks (90 kHz, 0 = the first frame). The
// decoder starts at the keyframe before `from`; output frames before `from` and at or after
// `to` are dropped, and the first kept frame opens a segment (a segment boundary, since a
// chunk is a whole number of segments). The whole source is the default.
struct Span {
  int64_t from = 0;
  int64_t to = INT64_MAX;
  // Frames this long before `from` and after `to` are encoded too and their packets dropped:
  // the encoder's rate control and VBV reach the joint in the state a whole encode has there.
  int64_t preroll = 0;
  int64_t postroll = 0;
  uint32_t first_segment_number = 1;  // names of the span's segments (seg_<n>.m4s)
  bool video = true;    // encode the video renditions
  bool audio = true;    // encode the audio track (always over the whole source)
  bool extras = true;   // poster and storyboard (whole source only)
  // x264 vbv-init: the VBV buffer fullness the encoder assumes at the span's first frame
  // (0 = x264's default, 0.9). See chunked.cpp for why chunks after the first differ.
  double vbv_init = 0;
  int threads = 0;      // graph workers for this span; 0 = Options::threads
};

// What one span produced. Tracks are as their writers recorded them.
struct EncodedSpan {
  std::vector<package::Track> video;  // one per planned rendition, highest first (if Span::video)
  std::optional<package::Track> audio;
  int64_t frames = 0;         // output frames sent to the renditions
  int64_t source_frames = 0;  // frames decoded from the source inside the span
  double end_seconds = 0;     // presentation time after the span's last frame
  double frame_rate = 0;
  bool frame_rate_converted = false;
  bool poster = false;        // poster.jpg written
  bool storyboard = false;    // storyboard.vtt written
};

// "<track>/init.mp4": what every chunk writes alike and the join writes once.
inline bool is_init_segment(std::string_view name) {
  constexpr std::string_view kInit = "/init.mp4";
  return name.size() > kInit.size() && name.substr(name.size() - kInit.size()) == kInit;
}

// How the result names what was written: keys, or (the directory overload) absolute paths.
using NameOf = std::function<std::string(const std::string& name)>;

// `pub` must accept create() from several threads at once (the transcoder's SerialPublication).
Result<EncodedSpan> encode_span(const std::string& input, const media::MediaInfo& info,
                                storage::Publication& pub, const Options& options,
                                const Span& span, ProgressCallback progress, CancelToken cancel);

// Manifests, summary.json, then publish. `encoded` is the whole source (tracks joined).
Result<TranscodeResult> write_output(storage::Publication& pub, const std::string& output_label,
                                     const NameOf& name_of, const Options& options,
                                     const media::MediaInfo& info, const EncodedSpan& encoded,
                                     double wall_seconds, const ProgressCallback& progress,
                                     const CancelToken& cancel);

// The chunked transcode (Options::chunk_seconds > 0), into the same `pub` as run() would.
Result<TranscodeResult> run_chunked(const std::string& input, const media::MediaInfo& info,
                                    storage::Publication& pub, const std::string& output_label,
                                    const NameOf& name_of, const Options& options,
                                    ProgressCallback progress, CancelToken cancel);

// How a chunked transcode cuts the source: spans[0] is job 0 (audio, poster, storyboard over
// the whole source), spans[1..chunks] the video of each chunk. chunks == 0: not chunked (one
// chunk, or a variable-frame-rate source), encode it whole.
struct ChunkPlan {
  std::vector<Span> spans;
  size_t chunks = 0;
  uint32_t segments_per_chunk = 0;
  bool need_job0 = false;  // audio, poster or storyboard to make
  double duration = 0;     // of the video stream, seconds
};
ChunkPlan plan_chunks(const media::MediaInfo& info, const Options& options);

// Joins what the spans of `plan` encoded (results[j] for spans[j]; results[0] unused without
// job 0) with the init segments each one wrote (by name), checking that it is the unchunked
// ladder; writes one init segment per track into `pub`. kInternal when it is not.
Result<EncodedSpan> join_chunks(const ChunkPlan& plan, const std::vector<const EncodedSpan*>& results,
                                const std::vector<std::map<std::string, std::string>>& inits,
                                storage::Publication& pub);

// Everything transcode() checks about its options (kInvalidArgument).
Status check_transcode_options(const Options& options);

// Options::chunk_seconds and chunk_workers: kInvalidArgument with a readable message.
Status check_chunk_options(const Options& options);

// Chunk workers for Options::chunk_workers == 0 on this machine (see transcode.hpp).
int auto_chunk_workers(int hardware_threads, size_t renditions);

}  // namespace streamlet::transcode::detail
