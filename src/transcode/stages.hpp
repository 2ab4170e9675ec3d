// The stages of the transcode graph, each usable (and testable) on its own.
// Every stage is stateful (codec contexts), so each runs in a serial node.
#pragma once

#include <atomic>
#include <filesystem>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "media/av.hpp"
#include "package/cmaf_writer.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"

namespace streamlet::transcode::detail {

namespace fs = std::filesystem;
using media::detail::CodecContextPtr;
using media::detail::FramePtr;
using media::detail::SharedFrame;

// All video timestamps downstream of the decoder are on one output timeline in
// 90 kHz units; presentation starts at kVideoTimescale * offset seconds so
// that B-frame decode times never go negative (tfdt is unsigned).
constexpr int kVideoTimescale = 90000;
constexpr AVRational kVideoTimeBase{1, kVideoTimescale};

// The constant rate a variable-frame-rate source is resampled to, from its most
// common rate: a typical rate of Apple's HLS authoring spec (1.14: 23.976, 24,
// 25, 29.97, 30, 50, 59.94, 60; 1.15: never above 60). Slow sources get a rate
// that repeats each frame a whole number of times (15 -> 30), fast ones one
// that keeps every 2nd frame (120 -> 60, 100 -> 50); otherwise the nearest.
AVRational natural_frame_rate(double fps);

// Where the segments of every track start, decided once, upstream, by the video
// decode stage and obeyed by every track writer (as Shaka Packager's chunking
// handler does): a segment starts at the first output frame at or after each
// multiple of the segment duration (an IDR in every rendition). The renditions
// get the decision on each frame (VideoFrame::segment_start); the audio track,
// which runs beside the video, reads it here and cuts at the first AAC frame at
// or after each instant. Instants are presentation ticks (90 kHz, 0 = start of
// presentation). Thread-safe: the decode stage decides, any stage reads.
class SegmentBoundaries {
 public:
  // `first`: where the first segment starts (a chunk's start; see transcode/span.hpp).
  explicit SegmentBoundaries(int64_t segment_ticks, int64_t first = 0)
      : segment_ticks_(segment_ticks), first_instant_(first) {}

  // Decode stage only, frames in presentation order: whether the frame at `t`
  // opens a segment. Afterwards every boundary at or before `t` is known; once
  // the graph has run, all of them are.
  bool decide(int64_t t);

  // Boundary `index` (0 is the first frame), if it is decided.
  std::optional<int64_t> at(size_t index) const;
  // Whether every boundary at or before `t` is known.
  bool decided_through(int64_t t) const;

 private:
  const int64_t segment_ticks_;
  const int64_t first_instant_;
  bool first_ = true;  // decode stage only
  int64_t next_ = 0;   // decode stage only: the next multiple of the segment duration
  mutable std::mutex mu_;
  std::vector<int64_t> instants_;
  int64_t decided_ = INT64_MIN;
};

// A decoded, upright source frame on its way to every rendition. Immutable once sent.
struct VideoFrame {
  SharedFrame frame;
  int64_t pts = 0;             // output timeline, 90 kHz
  int64_t duration = 0;        // 90 kHz
  bool segment_start = false;  // first frame of a segment: IDR in every rendition
  bool keyframe = false;       // forced IDR (segment start, or keyframe interval elapsed)
  int64_t index = 0;           // output frame number
  std::shared_ptr<void> token; // holds a place in the graph's in-flight budget
  bool end = false;            // no more frames: flush
  bool discard = false;        // encode (a chunk's pre- or post-roll) but write nothing
};

// Rotates frames upright (display matrix) with libavfilter; absent for rotation 0.
class Orienter {
 public:
  explicit Orienter(int rotation) : rotation_(rotation) {}
  // Returns the upright frame (the input frame itself when no rotation is needed).
  Result<FramePtr> apply(FramePtr frame);

 private:
  Status build(const AVFrame* frame);
  int rotation_;
  media::detail::FilterGraphPtr graph_;
  AVFilterContext* source_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  int width_ = 0, height_ = 0, format_ = -1;
};

// x264 threads for each rung of `plan` (same order) on `workers` cores: each
// rung's share of the ladder's pixels (every rung encodes every frame) of a
// budget of 1.5 threads per core (rounded down, x264's own default), and at least one.
std::vector<int> encoder_threads(const std::vector<PlannedRendition>& plan, int workers);

// scale -> x264 -> CMAF for one rung of the ladder.
class VideoRenditionEncoder {
 public:
  struct Config {
    PlannedRendition plan;
    AVRational frame_rate{25, 1};
    int keyframe_interval_frames = 50;
    std::string preset = "veryfast";
    int threads = 1;               // x264 threads, sized against the graph's workers
    storage::Publication* out = nullptr;  // the track's objects go here, under `dir`
    std::string dir;
    int64_t presentation_offset = 0;  // 90 kHz
    AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
    AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
    AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
    uint32_t first_segment_number = 1;  // a chunk's segments are numbered from its place
    double vbv_init = 0;                // x264 vbv-init; 0 = x264's default
    // After each segment is committed, with track() as it is then (on the encoder's thread).
    std::function<void(const package::Track&)> on_segment;
  };
  static Result<std::unique_ptr<VideoRenditionEncoder>> open(const Config& config);

  Status encode(const VideoFrame& frame);
  Status finish();
  package::Track track() const;
  int64_t done_pts() const { return done_pts_.load(std::memory_order_relaxed); }
  int64_t frames() const { return frames_.load(std::memory_order_relaxed); }

 private:
  Status drain(bool flushing);
  Config config_;
  CodecContextPtr encoder_;
  media::detail::SwsPtr sws_;
  std::unique_ptr<package::detail::CmafTrackWriter> writer_;
  media::detail::PacketPtr packet_;
  std::map<int64_t, int64_t> durations_;   // pts -> duration of frames inside the encoder
  std::set<int64_t> segment_starts_;
  std::set<int64_t> fragment_starts_;
  std::set<int64_t> discards_;             // pts of frames whose packets are dropped
  std::atomic<int64_t> done_pts_{0};
  std::atomic<int64_t> frames_{0};
  int64_t frame_rate_num_ = 0;
};

// decode -> resample -> AAC -> CMAF, once for all renditions.
class AudioTrackEncoder {
 public:
  struct Config {
    const AVStream* stream = nullptr;
    std::string source_path;
    int64_t bitrate = 128000;
    const SegmentBoundaries* boundaries = nullptr;  // where to cut; required
    storage::Publication* out = nullptr;  // the track's objects go here, under `dir`
    std::string dir;
    double origin_seconds = 0;     // source time that maps to the start of presentation
    double offset_seconds = 0;     // where presentation starts on the output timeline
    double limit_seconds = 0;      // drop source audio after this much presentation (0 = none)
    // After each segment is committed, with track() as it is then (on the encoder's thread).
    std::function<void(const package::Track&)> on_segment;
  };
  static Result<std::unique_ptr<AudioTrackEncoder>> open(const Config& config);

  Status decode(const AVPacket* packet);
  // Pads with silence (or trims) to `end_seconds` of presentation, flushes, closes the track.
  Status finish(double end_seconds);
  package::Track track() const;
  // Presentation seconds encoded so far.
  double done_seconds() const { return done_seconds_.load(std::memory_order_relaxed); }

 private:
  Status push_samples(const AVFrame* frame);
  Status push_silence(int64_t samples);
  Status encode_available(bool final);
  Status encode_frame(AVFrame* frame);
  Status drain();
  // Writes the held packets whose segment is decided; at the end (`final`)
  // all of them, up to `end` (output samples) and no further.
  Status write_decided(bool final, int64_t end = INT64_MAX);

  Config config_;
  CodecContextPtr decoder_;
  CodecContextPtr encoder_;
  media::detail::SwrPtr swr_;
  media::detail::AudioFifoPtr fifo_;
  std::unique_ptr<package::detail::CmafTrackWriter> writer_;
  FramePtr decoded_;
  int sample_rate_ = 48000;
  int64_t offset_samples_ = 0;     // output timeline position of presentation start
  int64_t queued_samples_ = 0;     // presentation samples accepted into the fifo so far
  int64_t encoded_samples_ = 0;
  int64_t limit_samples_ = 0;
  int64_t drop_ = 0;               // source samples still to drop before presentation start
  // Encoded packets waiting for the video to decide whether a segment starts at them.
  std::deque<media::detail::PacketPtr> held_;
  size_t next_boundary_ = 1;       // index in config_.boundaries of the next cut to make
  bool wrote_any_ = false;
  bool started_ = false;
  std::atomic<double> done_seconds_{0};
};

// Keeps the most telling frame seen at a few sample points (not a black fade).
class PosterPicker {
 public:
  explicit PosterPicker(double duration_seconds);
  void offer(const SharedFrame& frame, double seconds);
  const SharedFrame& best() const { return best_; }

 private:
  std::vector<double> targets_;
  size_t next_ = 0;
  SharedFrame best_;
  double best_score_ = -1;
};

// Encodes `frame` (any size and pixel format swscale reads) as a width x height
// JPEG and commits it as `name` in `out`. Serves the poster and the storyboard sheets.
Status write_jpeg(const AVFrame* frame, int width, int height, storage::Publication& out,
                  const std::string& name);
// The same JPEG as bytes; `label` names it in errors.
Result<std::string> encode_jpeg(const AVFrame* frame, int width, int height,
                                const std::string& label);
// The poster's size for a picture of width x height: at most 1280 wide, even dimensions.
std::pair<int, int> poster_size(int width, int height);

// Writes and commits the object `name` of `out` in one piece (manifests, summary.json).
Status put_object(storage::Publication& out, const std::string& name, std::string_view bytes);

// Scrub-preview thumbnails: one tile every `interval` seconds of presentation,
// tiled row by row into sprite sheets (storyboard_1.jpg, ...) and described by
// storyboard.vtt, whose cues point into the sheets with `#xywh=`. Only the
// sheet being filled is in memory; full sheets are written as soon as they fill.
// Fed in presentation order by the (serial) decode stage; not thread-safe.
class StoryboardBuilder {
 public:
  struct Config {
    storage::Publication* out = nullptr;  // where the sheets and storyboard.vtt are written
    double interval_seconds = 2;   // > 0; see auto_interval()
    int tile_width = 160;          // even; the height follows the display aspect ratio
    int display_width = 0;         // upright picture size of the source
    int display_height = 0;
    int columns = 10;
    int rows = 10;
  };
  static constexpr const char* kVttName = "storyboard.vtt";

  // 2 s up to 10 minutes, then sparser so a video never needs more than ~300 tiles.
  static double auto_interval(double duration_seconds);
  static std::string sheet_name(int index);  // 0-based index -> "storyboard_1.jpg"

  explicit StoryboardBuilder(Config config);
  // `seconds` is the frame's presentation time; frames come in increasing order.
  Status offer(const SharedFrame& frame, double seconds);
  // Fills the tiles up to `end_seconds` with the last frame, writes the last
  // (partial, cropped) sheet and then storyboard.vtt.
  Status finish(double end_seconds);
  int tiles() const { return tiles_; }
  int tile_height() const { return tile_height_; }

 private:
  double next_time() const { return tiles_ * config_.interval_seconds; }
  Status capture(const AVFrame* frame);
  Status flush_sheet();

  Config config_;
  int tile_height_ = 0;
  int tiles_ = 0;             // tiles captured so far (all sheets)
  int in_sheet_ = 0;          // tiles in the sheet being filled
  FramePtr sheet_;
  media::detail::SwsPtr sws_;
  SharedFrame last_;
};

}  // namespace streamlet::transcode::detail
