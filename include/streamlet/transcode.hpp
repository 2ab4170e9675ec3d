// Transcoding a source file into an adaptive-streaming ladder: one decode,
// every rendition encoded side by side with H.264, audio encoded once as AAC,
// all written as CMAF fMP4 segments cut at the same instants and described by
// an HLS master playlist and a DASH MPD.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/cancel.hpp"
#include "streamlet/media.hpp"
#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::transcode {

// One rung of the ladder. `height` is the short side of the output picture
// (so "1080p" is 1920x1080 for landscape and 1080x1920 for portrait video).
struct Rendition {
  std::string name;            // "720p"; also the track directory name
  int height = 0;
  int64_t bitrate = 0;         // target video bits/s
  // VBV: maxrate = bitrate * maxrate_factor, buffer = bitrate * buffer_factor.
  double maxrate_factor = 1.07;
  double buffer_factor = 1.5;
  std::string profile = "high";
};

// 1080p 5000k, 720p 2800k, 480p 1400k, 360p 800k (common authoring practice).
std::vector<Rendition> default_ladder();

// "1080p,720p,480p" picks rungs of the default ladder; "240p:400k" adds a custom
// rung (height, bitrate in k or M). kInvalidArgument on anything else.
Result<std::vector<Rendition>> parse_ladder(std::string_view spec);

struct Options;
// The platform's chunk duration for `options` on a machine of `hardware_threads` (0 = this
// one): 0 (no chunking) when the automatic chunk_workers would be 1, else the smallest whole
// number of segments that lasts at least 60 s (so a joint every minute or more).
double auto_chunk_seconds(const Options& options, int hardware_threads = 0);

// The graph's window (Options::max_in_flight) for a ladder of `renditions` video rungs:
// `requested`, or the automatic one when it is 0, never below 2 + renditions.
int in_flight_window(int requested, int renditions);

// A rendition as planned for a given source: sizes are even, aspect ratio is
// kept, and rungs above the source are dropped (never upscale).
struct PlannedRendition {
  Rendition rendition;
  int width = 0;
  int height = 0;
};
// If every rung is above the source, one rung at the source size is kept,
// with the lowest rung's bitrate scaled down by pixel count.
std::vector<PlannedRendition> plan_ladder(const std::vector<Rendition>& ladder, int display_width,
                                          int display_height);

// What the manifests are called at the top of an output (the HLS master, the DASH MPD).
inline constexpr std::string_view kHlsMasterName = "master.m3u8";
inline constexpr std::string_view kDashManifestName = "manifest.mpd";

struct Options {
  std::vector<Rendition> ladder = default_ladder();
  double segment_seconds = 6.0;          // Apple HLS authoring spec recommendation
  double keyframe_interval_seconds = 2.0;  // a keyframe at least this often inside segments
  std::string preset = "veryfast";       // x264 preset
  int64_t audio_bitrate = 128000;        // AAC-LC stereo
  bool write_hls = true;
  bool write_dash = true;
  bool write_poster = true;
  // Scrub previews: storyboard.vtt (WebVTT thumbnails track) plus sprite sheets
  // storyboard_1.jpg, storyboard_2.jpg, ... of 10x10 tiles, next to poster.jpg.
  bool write_storyboard = true;
  // One tile per this many seconds; 0 = auto: 2 s up to 10 minutes, then
  // duration/300 rounded up (so at most about 300 tiles, three sheets).
  double storyboard_interval_seconds = 0;
  // Tile width in pixels (even, 16..1280); the height follows the aspect ratio.
  int storyboard_tile_width = 160;
  // Packets (and so decoded frames) in flight through the graph at once; bounds memory.
  // 0 = automatic (transcode::in_flight_window): 4 for one rung, whose x264 threads
  // pipeline frames themselves, 24 for a ladder (their paces differ).
  // A value below 2 + the rungs is raised to it: fewer tokens than the frames the stages
  // hold at once would stall the graph.
  int max_in_flight = 0;
  // Cores to use; 0 = all hardware threads. x264 gets 1.5 threads per core, shared
  // among the rungs by their pixels; with N > 0 the decoder uses N threads too.
  int threads = 0;
  // Chunk-parallel encoding: 0 = none. Otherwise the video is cut into chunks of this many
  // seconds (a whole multiple of segment_seconds, so chunks join at segment boundaries), each
  // encoded on its own, and joined into the ladder an unchunked run writes: the same
  // segments, manifests and keyframes (docs/architecture.md, "Chunk-parallel encoding").
  double chunk_seconds = 0;
  // Chunks encoded at once, sharing `threads`; 0 = auto: one per 2 hardware threads per
  // rendition of the planned ladder (so 1 for the default 4-rung ladder below 16 threads).
  int chunk_workers = 0;
  // Watchable before the end: once every track has each segment,
  // the segments are shown under the prefix, then HLS EVENT media playlists (no ENDLIST), the
  // master (once) and a dynamic DASH MPD listing them (storage::Publication::reveal). The
  // finished output replaces them with exactly what an unprogressive run publishes; a failed
  // or cancelled transcode withdraws all of it. Ignored (not progressive) on a backend that
  // cannot reveal, and for a chunked transcode (its chunks finish out of order). Default: off.
  bool progressive = false;
  // Progressive only: called once, from an encoder's thread, right after the first segments
  // and manifests are shown (the output can be played from then on). Optional.
  std::function<void()> on_playable;
};

struct Progress {
  double fraction = 0;         // 0..1 of the source duration, all renditions included
  double media_seconds = 0;    // source time fully encoded by every track
  double fps = 0;              // source frames per wall-clock second
  double speed = 0;            // media seconds per wall-clock second ("2.5x")
  int64_t frames = 0;          // source frames encoded by every rendition
};

// Called from a worker thread, never concurrently with itself, a few times a second.
using ProgressCallback = std::function<void(const Progress&)>;

// Shared cancellation flag (see streamlet/cancel.hpp).
using CancelToken = streamlet::CancelToken;

struct TrackSummary {
  std::string id;              // "720p", "audio"
  std::string codecs;
  int width = 0, height = 0;
  int64_t target_bitrate = 0;
  uint64_t average_bitrate = 0;  // measured from the segments
  uint64_t peak_bitrate = 0;
  size_t segments = 0;
  double duration_seconds = 0;
};

struct TranscodeResult {
  std::string output_dir;
  std::string hls_master;      // absolute paths of what was written ("" if not asked for);
                               // storage keys from the storage overload of transcode()
  std::string dash_manifest;
  std::string poster;
  std::string storyboard;      // storyboard.vtt; its sheets are storyboard_N.jpg beside it
  double duration_seconds = 0;
  // Frames per second of every video rendition. A constant-rate source keeps
  // its own rate; a variable-rate one gets a natural constant rate (below).
  double frame_rate = 0;
  // The source had a variable frame rate and was resampled to `frame_rate`
  // (frames repeated or dropped on a constant grid, Apple HLS authoring 1.14).
  bool frame_rate_converted = false;
  std::vector<TrackSummary> video;
  std::optional<TrackSummary> audio;
  double wall_seconds = 0;
  double fps = 0;
  double speed = 0;
  media::MediaInfo source;

  std::string to_json(int indent = 2) const;
};

// Transcodes `input` into `output_dir`. The directory appears complete or not
// at all: work happens in a hidden sibling that is renamed into place at the
// end. An existing output_dir is replaced only if it is empty or an earlier
// Streamlet output (it holds summary.json); otherwise kAlreadyExists.
// Errors: those of media::probe, kCancelled, kIo, kResourceExhausted, kInternal.
Result<TranscodeResult> transcode(const std::string& input, const std::string& output_dir,
                                  const Options& options = {}, ProgressCallback progress = {},
                                  CancelToken cancel = {});

// Transcodes `input` into `out` under `prefix` ("media/<video>/", ending with '/'), as one
// storage::Publication: segments, init segments, manifests, poster, storyboard and
// summary.json are written through it and appear together, replacing whatever the prefix held
// (manifests are named last for a backend that cannot swap a whole prefix). A failed or
// cancelled transcode leaves the prefix as it was. In the result, output_dir is `prefix` and
// the paths (hls_master, ...) are keys ("media/v1/master.m3u8").
// Errors: kInvalidArgument (options, prefix), those of media::probe, kCancelled, kIo,
// kResourceExhausted, kInternal, and the backend's own.
Result<TranscodeResult> transcode(const std::string& input, storage::Storage& out,
                                  std::string_view prefix, const Options& options = {},
                                  ProgressCallback progress = {}, CancelToken cancel = {});

// A chunked transcode as separate jobs of a cluster (the platform's "transcode-chunk" and
// "transcode-join" jobs): parts encoded anywhere, in any order, retried alone, into one
// staging prefix of a shared storage, then joined into one publication.
//   part 0     : audio, poster and storyboard over the whole source
//   part 1..n  : the video ladder of chunk k (Options::chunk_seconds), as run_chunked cuts it
// Each part writes its segments (and poster, storyboard) under their final names below
// `staging` ("chunks/<video>/"), its init segments below "part_<k>/" and what it encoded
// (tracks, frames, end) as "part_<k>.json" last, so a part whose JSON is there is whole.
// Rewriting a part (a retry) replaces it.

// The number of parts (1 + chunks) for `input` at `options`; 0 when it is not chunked there
// (chunk_seconds 0, one chunk, or a variable-frame-rate source): transcode() it whole.
// Errors: kInvalidArgument (options), those of media::probe.
Result<int> chunk_parts(const std::string& input, const Options& options);
// Encodes part `part` (0..parts-1) of `input` into `staging`. Options::progressive is ignored.
Status encode_part(const std::string& input, storage::Storage& out, std::string_view staging,
                   const Options& options, int part, ProgressCallback progress = {},
                   CancelToken cancel = {});
// Joins the parts staged under `staging` into one publication of `prefix`, as the storage
// overload of transcode() publishes it (manifests last), after the checks of the in-process
// join (kInternal: a part missing, segments that do not follow, codec headers that differ).
// Removes the staging once published.
Result<TranscodeResult> join_parts(const std::string& input, storage::Storage& out,
                                   std::string_view staging, std::string_view prefix,
                                   const Options& options, ProgressCallback progress = {},
                                   CancelToken cancel = {});

// Removes the hidden work directories (".<name>.streamlet-tmp-<pid>-<n>") that transcodes into
// `parent` left behind when their process died (a crash, kill -9); those of processes still
// running are left alone. A transcode does this for its own output name when it starts; this
// sweeps every name, for outputs that will not be transcoded again. Returns how many it removed.
size_t remove_abandoned_work_dirs(const std::string& parent);

// A poster from an image of the owner's: JPEG or PNG (sniffed from its first bytes, decoded
// without any demuxer), scaled as the generated poster is (at most 1280 pixels wide) and
// encoded as JPEG. kInvalidMedia for anything that is not such an image or does not decode,
// kTooLarge past kMaxPosterBytes.
inline constexpr size_t kMaxPosterBytes = 16u << 20;
Result<std::string> poster_from_image(std::string_view image);
// A poster from the frame of the video file at `path` (opened like any input) on screen
// `seconds` after its first frame (the last frame if the video is shorter), as a JPEG
// scaled like the generated poster. Meant for a rendition Streamlet wrote (already upright).
Result<std::string> poster_from_video(const std::string& path, double seconds);

}  // namespace streamlet::transcode
