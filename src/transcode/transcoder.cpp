// The transcode graph (oneTBB flow graph):
//
//   demux (input_node) -> limiter -> video decode (serial) -+-> rendition 1 (serial: scale, x264, CMAF)
//                                 \                         +-> rendition 2 ...
//                                  -> audio (serial: decode, resample, AAC, CMAF)
//
// Every packet holds a token from the limiter until every stage is done with
// it and the frames decoded from it, so memory is bounded by max_in_flight
// whatever the video's length. Segment boundaries and forced keyframes are
// decided once, in the decode stage, from the source timeline; the renditions
// get them on each frame, the audio stage reads them from SegmentBoundaries.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "media/input.hpp"
#include "transcode/span.hpp"
#include "transcode/live_publisher.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode {

namespace fs = std::filesystem;
using namespace detail;
using media::detail::av_status;

namespace {

using Clock = std::chrono::steady_clock;

// First error wins; any error or a user cancel stops every stage.
class RunState {
 public:
  explicit RunState(CancelToken cancel) : cancel_(std::move(cancel)) {}
  bool stopped() const { return failed_.load(std::memory_order_relaxed) || cancel_.cancelled(); }
  void fail(Status s) {
    std::lock_guard lock(mu_);
    if (status_.ok()) status_ = std::move(s);
    failed_.store(true);
  }
  Status status() const {
    std::lock_guard lock(mu_);
    if (!status_.ok()) return status_;
    if (cancel_.cancelled()) return Status(ErrorCode::kCancelled, "transcode cancelled");
    return Status::Ok();
  }
  // Runs a stage body; exceptions become a failed run instead of escaping into TBB.
  template <typename F>
  void guard(const char* stage, F&& f) {
    if (stopped()) return;
    try {
      Status s = f();
      if (!s.ok()) fail(std::move(s));
    } catch (const std::exception& e) {
      fail(Status(ErrorCode::kInternal, std::string(stage) + ": " + e.what()));
    } catch (...) {
      fail(Status(ErrorCode::kInternal, std::string(stage) + ": unknown exception"));
    }
  }

 private:
  CancelToken cancel_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  Status status_;
};

// Gives a limiter place back when the last holder of a token lets go. The
// limiter pointer is cleared before the graph dies, so late releases are no-ops.
struct TokenReturn {
  std::mutex mu;
  tbb::flow::limiter_node<struct PacketMsg>* limiter = nullptr;
  void release() {
    std::lock_guard lock(mu);
    if (limiter) limiter->decrementer().try_put(tbb::flow::continue_msg());
  }
};

struct PacketMsg {
  std::shared_ptr<AVPacket> packet;  // null at end of input
  std::shared_ptr<void> token;
  bool end = false;
};

std::shared_ptr<void> make_token(const std::shared_ptr<TokenReturn>& ret) {
  return std::shared_ptr<void>(reinterpret_cast<void*>(1), [ret](void*) { ret->release(); });
}

// Decode stage: packets in, upright frames with segment/keyframe decisions out.
class VideoDecodeStage {
 public:
  // `resample_to` (a frame rate, or {0, 1} for none) puts every frame on that
  // constant grid: for variable-frame-rate sources.
  VideoDecodeStage(const AVStream* stream, CodecContextPtr decoder, int rotation,
                   double origin_seconds, int64_t offset, const Options& options,
                   double duration_seconds, double fps, AVRational resample_to,
                   std::unique_ptr<StoryboardBuilder> storyboard, SegmentBoundaries& boundaries,
                   const Span& span)
      : stream_(stream),
        decoder_(std::move(decoder)),
        orienter_(rotation),
        origin_(origin_seconds),
        offset_(offset),
        boundaries_(boundaries),
        key_ticks_(std::llround(options.keyframe_interval_seconds * kVideoTimescale)),
        default_duration_(std::max<int64_t>(1, std::llround(kVideoTimescale / fps))),
        slot_(resample_to.num > 0 ? av_inv_q(resample_to) : AVRational{0, 1}),
        poster_(duration_seconds),
        storyboard_(std::move(storyboard)),
        from_(span.from),
        to_(span.to),
        first_(std::max<int64_t>(0, span.from - span.preroll)),
        last_(span.to > INT64_MAX - span.postroll ? INT64_MAX : span.to + span.postroll),
        frame_(media::detail::make_frame()) {}

  template <typename Emit>
  Status on_packet(const PacketMsg& msg, Emit&& emit) {
    if (msg.end) {
      avcodec_send_packet(decoder_.get(), nullptr);
      STREAMLET_RETURN_IF_ERROR(receive(msg.token, emit));
      if (held_) {
        // The last frame lasts as long as the container says, else one frame period.
        int64_t d = held_duration_hint_ > 0 ? held_duration_hint_ : default_duration_;
        STREAMLET_RETURN_IF_ERROR(release_held(held_->pts + d, emit));
      }
      VideoFrame end;
      end.end = true;
      emit(std::move(end));
      return Status::Ok();
    }
    if (msg.packet->stream_index != stream_->index || past_end()) return Status::Ok();
    int err = avcodec_send_packet(decoder_.get(), msg.packet.get());
    if (err < 0 && err != AVERROR(EAGAIN) && err != AVERROR_INVALIDDATA)
      return av_status(err, "decode video");
    return receive(msg.token, emit);
  }

  int64_t end_pts() const { return end_pts_; }  // output timeline, after the last frame
  int64_t frames() const { return index_; }     // frames sent to the renditions
  int64_t source_frames() const { return decoded_; }  // frames decoded from the source
  const PosterPicker& poster() const { return poster_; }
  // The span's end was reached (the demuxer can stop reading).
  bool past_end() const { return past_end_.load(std::memory_order_relaxed); }
  StoryboardBuilder* storyboard() const { return storyboard_.get(); }

 private:
  template <typename Emit>
  Status receive(const std::shared_ptr<void>& token, Emit& emit) {
    for (;;) {
      int err = avcodec_receive_frame(decoder_.get(), frame_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
      if (err == AVERROR_INVALIDDATA) continue;
      if (err < 0) return av_status(err, "decode video");
      int64_t ts = frame_->best_effort_timestamp;
      if (ts == AV_NOPTS_VALUE) ts = frame_->pts;
      int64_t pts;
      if (ts == AV_NOPTS_VALUE) {
        pts = held_ ? held_->pts + default_duration_ : offset_;
      } else {
        double rel = ts * av_q2d(stream_->time_base) - origin_;
        if (rel < -0.0005) {  // before presentation starts (edit lists, pre-roll)
          av_frame_unref(frame_.get());
          continue;
        }
        pts = offset_ + std::llround(std::max(0.0, rel) * kVideoTimescale);
      }
      if (pts - offset_ < first_ || past_end()) {  // before the span and its pre-roll
        av_frame_unref(frame_.get());
        continue;
      }
      if (held_ && pts <= held_->pts) pts = held_->pts + 1;  // keep time moving forward
      if (pts - offset_ >= last_) {  // past the span and its post-roll: it ends the last frame
        if (held_) STREAMLET_RETURN_IF_ERROR(release_held(pts, emit));
        past_end_.store(true, std::memory_order_relaxed);
        av_frame_unref(frame_.get());
        continue;
      }
      if (pts - offset_ >= from_ && pts - offset_ < to_) ++decoded_;
      int64_t hint = frame_->pkt_duration > 0
                         ? av_rescale_q(frame_->pkt_duration, stream_->time_base, kVideoTimeBase)
                         : 0;
      FramePtr owned = media::detail::make_frame();
      av_frame_move_ref(owned.get(), frame_.get());
      STREAMLET_ASSIGN_OR_RETURN(owned, orienter_.apply(std::move(owned)));
      if (held_) STREAMLET_RETURN_IF_ERROR(release_held(pts, emit));
      VideoFrame v;
      v.frame = media::detail::share_frame(std::move(owned));
      v.pts = pts;
      v.token = token;
      held_ = std::move(v);
      held_duration_hint_ = hint;
    }
  }

  // A frame's duration is known once the next frame arrives (exact for VFR).
  template <typename Emit>
  Status release_held(int64_t next_pts, Emit& emit) {
    VideoFrame v = std::move(*held_);
    held_.reset();
    if (slot_.num == 0) return send(std::move(v), std::max<int64_t>(1, next_pts - v.pts), emit);
    // Constant-rate grid: slot k starts at offset + k * slot. A frame fills the
    // slots whose start rounds into its display interval (libavfilter's fps
    // filter, round=near): repeated across long intervals, dropped from short ones.
    const int64_t first = std::max(next_slot_, slot_at(v.pts));
    int64_t end = slot_at(next_pts);
    if (index_ == 0 && end <= first) end = first + 1;  // the first picture is always shown
    for (int64_t k = first; k < end; ++k) {
      VideoFrame copy = v;  // shares the picture and the in-flight token
      copy.pts = slot_pts(k);
      STREAMLET_RETURN_IF_ERROR(send(std::move(copy), slot_pts(k + 1) - slot_pts(k), emit));
    }
    next_slot_ = std::max(next_slot_, end);
    return Status::Ok();
  }

  int64_t slot_at(int64_t pts) const {
    return av_rescale_q_rnd(pts - offset_, kVideoTimeBase, slot_, AV_ROUND_NEAR_INF);
  }
  int64_t slot_pts(int64_t k) const { return offset_ + av_rescale_q(k, slot_, kVideoTimeBase); }

  // Segment and keyframe decisions for one output frame, then out to every rendition.
  template <typename Emit>
  Status send(VideoFrame v, int64_t duration, Emit& emit) {
    v.duration = duration;
    const int64_t t = v.pts - offset_;
    if (t < from_ || t >= to_) {
      // A chunk's pre-roll (x264's rate control and VBV warm up on it) or post-roll (the next
      // chunk's first frames, an IDR first as in the whole encode): encoded, never written.
      v.discard = true;
      v.keyframe = t >= to_ && !post_key_sent_;
      post_key_sent_ = post_key_sent_ || v.keyframe;
      emit(std::move(v));
      return Status::Ok();
    }
    v.segment_start = boundaries_.decide(t);  // for every track: the renditions get it here
    // Forced keyframe once the interval has elapsed (half a frame early, so CFR lands on time).
    v.keyframe = v.segment_start || t - last_key_ >= key_ticks_ - v.duration / 2;
    if (v.keyframe) last_key_ = t;
    v.index = index_++;
    end_pts_ = v.pts + v.duration;
    poster_.offer(v.frame, double(t) / kVideoTimescale);
    if (storyboard_) STREAMLET_RETURN_IF_ERROR(storyboard_->offer(v.frame, double(t) / kVideoTimescale));
    emit(std::move(v));
    return Status::Ok();
  }

  const AVStream* stream_;
  CodecContextPtr decoder_;
  Orienter orienter_;
  double origin_;
  int64_t offset_;
  SegmentBoundaries& boundaries_;
  int64_t key_ticks_;
  int64_t default_duration_;
  AVRational slot_;        // output frame period when resampling, else {0, 1}
  int64_t next_slot_ = 0;  // first grid slot not yet filled
  int64_t decoded_ = 0;
  PosterPicker poster_;
  std::unique_ptr<StoryboardBuilder> storyboard_;  // null when not asked for
  const int64_t from_, to_;        // the span, presentation ticks
  const int64_t first_, last_;     // with its pre- and post-roll
  bool post_key_sent_ = false;
  std::atomic<bool> past_end_{false};
  FramePtr frame_;
  std::optional<VideoFrame> held_;
  int64_t held_duration_hint_ = 0;
  int64_t last_key_ = 0;
  int64_t index_ = 0;
  int64_t end_pts_ = 0;
};

// Throttled, serialized progress reports from whichever stage finishes work.
class ProgressReporter {
 public:
  ProgressReporter(ProgressCallback cb, double duration, double fps_hint)
      : cb_(std::move(cb)), duration_(duration), start_(Clock::now()) {
    (void)fps_hint;
  }
  template <typename Snapshot>
  void maybe_report(Snapshot&& snapshot, bool force = false) {
    if (!cb_) return;
    auto now = Clock::now();
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    if (!force && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    Progress p = snapshot();
    double wall = std::chrono::duration<double>(now - start_).count();
    p.fraction = duration_ > 0 ? std::clamp(p.media_seconds / duration_, 0.0, 1.0) : 0;
    p.fps = wall > 0 ? p.frames / wall : 0;
    p.speed = wall > 0 ? p.media_seconds / wall : 0;
    cb_(p);
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  ProgressCallback cb_;
  double duration_;
  Clock::time_point start_;
  Clock::time_point last_{};
  std::mutex mu_;
};

// ---- output directory: replaced only when it is (or was) a Streamlet output ----------

bool is_replaceable_output(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (!fs::is_directory(dir, ec)) return false;
  if (fs::is_empty(dir, ec)) return true;
  return fs::exists(dir / "summary.json", ec);
}

TrackSummary summarize(const package::Track& t) {
  TrackSummary s;
  s.id = t.id;
  s.codecs = t.codecs;
  s.width = t.width;
  s.height = t.height;
  s.target_bitrate = t.target_bitrate;
  s.average_bitrate = t.average_bitrate();
  s.peak_bitrate = t.peak_bitrate();
  s.segments = t.segments.size();
  s.duration_seconds = t.duration_seconds();
  return s;
}

// The renditions and audio run side by side, and a Publication belongs to one thread at a
// time: this one lets one caller at a time create, open or commit (writes stay parallel, each
// Writer is used by its own stage). Cheap: that is a few calls per segment.
class SerialPublication final : public storage::Publication {
 public:
  explicit SerialPublication(storage::Publication& out) : out_(out) {}

  Result<std::unique_ptr<storage::Writer>> create(std::string_view name) override {
    std::lock_guard lock(mu_);
    STREAMLET_ASSIGN_OR_RETURN(auto w, out_.create(name));
    return std::unique_ptr<storage::Writer>(new SerialWriter(mu_, std::move(w)));
  }
  Result<std::unique_ptr<storage::Reader>> open(std::string_view name) override {
    std::lock_guard lock(mu_);
    return out_.open(name);
  }
  Status publish(const std::vector<std::string>& last) override {
    std::lock_guard lock(mu_);
    return out_.publish(last);
  }
  Status reveal(std::string_view name) override {
    std::lock_guard lock(mu_);
    return out_.reveal(name);
  }

 private:
  class SerialWriter final : public storage::Writer {
   public:
    SerialWriter(std::mutex& mu, std::unique_ptr<storage::Writer> w) : mu_(mu), w_(std::move(w)) {}
    ~SerialWriter() override {
      std::lock_guard lock(mu_);
      w_.reset();
    }
    Status write(const char* data, size_t size) override { return w_->write(data, size); }
    Status commit() override {
      std::lock_guard lock(mu_);
      return w_->commit();
    }
    uint64_t bytes_written() const override { return w_->bytes_written(); }

   private:
    std::mutex& mu_;
    std::unique_ptr<storage::Writer> w_;
  };

  storage::Publication& out_;
  std::mutex mu_;
};

Status check_options(const Options& options) {
  if (options.segment_seconds < 1 || options.segment_seconds > 60)
    return Status(ErrorCode::kInvalidArgument, "segment duration must be between 1 and 60 seconds");
  if (options.keyframe_interval_seconds <= 0 ||
      options.keyframe_interval_seconds > options.segment_seconds)
    return Status(ErrorCode::kInvalidArgument,
                  "keyframe interval must be positive and at most the segment duration");
  if (options.storyboard_interval_seconds < 0 || options.storyboard_interval_seconds > 3600)
    return Status(ErrorCode::kInvalidArgument,
                  "storyboard interval must be 0 (auto) or up to 3600 seconds");
  if (options.storyboard_tile_width < 16 || options.storyboard_tile_width > 1280)
    return Status(ErrorCode::kInvalidArgument, "storyboard tile width must be 16..1280 pixels");
  if (options.ladder.empty()) return Status(ErrorCode::kInvalidArgument, "the ladder is empty");
  STREAMLET_RETURN_IF_ERROR(check_chunk_options(options));
  return Status::Ok();
}

Result<TranscodeResult> run(const std::string& input, const media::MediaInfo& info,
                            storage::Publication& pub, const std::string& output_label,
                            const NameOf& name_of, const Options& options,
                            ProgressCallback progress, CancelToken cancel);

}  // namespace

Status detail::check_transcode_options(const Options& options) { return check_options(options); }

int in_flight_window(int requested, int renditions) {
  renditions = std::max(1, renditions);
  // Measured on 2 cores (docs/performance.md, "Every ladder shape"): one 1080p rung runs as fast
  // with 4 packets in flight as with 24, at 62 MB less peak memory (a 1080p frame is 3 MB).
  // A ladder keeps the 24 it has always run with: its rungs' paces differ, and the window
  // absorbs that.
  const int window = requested > 0 ? requested : renditions == 1 ? 4 : 24;
  // Held at once: the frame the decoder keeps until the next gives its duration, one frame in
  // each rung, the packet being read. Fewer tokens than that and nothing runs.
  return std::max(window, 2 + renditions);
}

size_t remove_abandoned_work_dirs(const std::string& parent) {
  return streamlet::detail::remove_stale_work_dirs(parent, "");
}

Result<TranscodeResult> transcode(const std::string& input, const std::string& output_dir,
                                  const Options& options, ProgressCallback progress,
                                  CancelToken cancel) {
  STREAMLET_RETURN_IF_ERROR(check_options(options));
  if (output_dir.empty()) return Status(ErrorCode::kInvalidArgument, "no output directory given");

  // Validate everything about the input before any work starts.
  STREAMLET_ASSIGN_OR_RETURN(media::MediaInfo info, media::probe(input));

  fs::path target = fs::absolute(fs::path(output_dir)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  if (!is_replaceable_output(target))
    return Status(ErrorCode::kAlreadyExists,
                  target.string() + " exists and is not a Streamlet output; refusing to replace it");
  // The parent is a local store; the output is one publication on "<name>/" in it (built in
  // a hidden sibling, swapped in at the end, exactly as before storage existed).
  STREAMLET_ASSIGN_OR_RETURN(auto store,
                             storage::open_local({.root = target.parent_path(), .durable = true}));
  STREAMLET_ASSIGN_OR_RETURN(auto pub, store->publish(target.filename().string() + "/"));
  return run(input, info, *pub, target.string(),
             [&](const std::string& name) { return (target / name).string(); }, options,
             std::move(progress), std::move(cancel));
}

Result<TranscodeResult> transcode(const std::string& input, storage::Storage& out,
                                  std::string_view prefix, const Options& options,
                                  ProgressCallback progress, CancelToken cancel) {
  STREAMLET_RETURN_IF_ERROR(check_options(options));
  if (prefix.empty() || prefix.back() != '/')
    return Status(ErrorCode::kInvalidArgument,
                  "the output prefix must name a directory, ending with '/': " + std::string(prefix));
  STREAMLET_RETURN_IF_ERROR(storage::check_key(prefix.substr(0, prefix.size() - 1)));
  STREAMLET_ASSIGN_OR_RETURN(media::MediaInfo info, media::probe(input));
  STREAMLET_ASSIGN_OR_RETURN(auto pub, out.publish(prefix));
  const std::string p(prefix);
  return run(input, info, *pub, p, [&](const std::string& name) { return p + name; }, options,
             std::move(progress), std::move(cancel));
}

namespace {

Result<TranscodeResult> run(const std::string& input, const media::MediaInfo& info,
                            storage::Publication& output, const std::string& output_label,
                            const NameOf& name_of, const Options& options,
                            ProgressCallback progress, CancelToken cancel) {
  SerialPublication pub(output);  // outlives every stage that writes into it
  if (options.chunk_seconds > 0)
    return run_chunked(input, info, pub, output_label, name_of, options, std::move(progress),
                       std::move(cancel));
  const auto start = Clock::now();
  STREAMLET_ASSIGN_OR_RETURN(EncodedSpan whole,
                             encode_span(input, info, pub, options, Span{}, progress, cancel));
  return write_output(pub, output_label, name_of, options, info, whole,
                      std::chrono::duration<double>(Clock::now() - start).count(), progress,
                      cancel);
}

}  // namespace

Result<EncodedSpan> detail::encode_span(const std::string& input, const media::MediaInfo& info,
                                        storage::Publication& pub, const Options& options,
                                        const Span& span, ProgressCallback progress,
                                        CancelToken cancel) {
  STREAMLET_ASSIGN_OR_RETURN(auto in, media::detail::open_input(input));
  const auto& vinfo = info.video.front();

  AVFormatContext* fc = in.format.get();
  const AVStream* vstream = fc->streams[in.video_stream];
  const AVStream* astream = in.audio_stream >= 0 ? fc->streams[in.audio_stream] : nullptr;

  // Plan: the ladder for this source, frame rate, timeline origin.
  auto plan = plan_ladder(options.ladder, vinfo.display_width, vinfo.display_height);
  AVRational fr = av_guess_frame_rate(fc, const_cast<AVStream*>(vstream), nullptr);
  if (fr.num <= 0 || fr.den <= 0 || av_q2d(fr) > 240) fr = AVRational{25, 1};
  // A variable-rate source is put on a constant grid at a natural rate (Apple
  // HLS authoring 1.14); a constant-rate one keeps its frames as they are.
  AVRational resample_to{0, 1};
  if (vinfo.variable_frame_rate) {
    fr = resample_to = natural_frame_rate(vinfo.common_frame_rate > 0 ? vinfo.common_frame_rate
                                                                      : vinfo.frame_rate);
  }
  const double fps = av_q2d(fr);
  const double origin = vstream->start_time != AV_NOPTS_VALUE
                            ? vstream->start_time * av_q2d(vstream->time_base)
                            : 0.0;
  const double duration = vinfo.duration_seconds > 0 ? vinfo.duration_seconds : info.duration_seconds;
  // Presentation starts 1 s (or 4 frames, if longer) into the output timeline.
  const double offset_seconds = std::max(1.0, std::ceil(4.0 / fps));
  const int64_t offset = std::llround(offset_seconds * kVideoTimescale);

  const int workers = span.threads > 0      ? span.threads
                      : options.threads > 0 ? options.threads
                                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<int> x264_threads = encoder_threads(plan, workers);

  // Progressive: segments and growing manifests are shown as every track completes each one.
  // A chunked transcode is not progressive: its chunks finish out of order (each span is a
  // part of the source there, and only the whole source is shown as it grows).
  const bool whole_source = span.from == 0 && span.to == INT64_MAX && span.video && span.audio;
  std::unique_ptr<LivePublisher> live;
  if (options.progressive && whole_source) {
    LivePublisher::Config c;
    c.out = &pub;
    c.video_tracks = plan.size();
    c.audio = astream != nullptr;
    c.segment_seconds = options.segment_seconds;
    c.hls = options.write_hls;
    c.dash = options.write_dash;
    c.on_playable = options.on_playable;
    live = std::make_unique<LivePublisher>(std::move(c));
  }
  auto live_track = [&](size_t index) -> std::function<void(const package::Track&)> {
    if (!live) return {};
    return [&live, index](const package::Track& t) { live->on_segment(index, t); };
  };

  std::vector<std::unique_ptr<VideoRenditionEncoder>> renditions;
  for (size_t i = 0; i < (span.video ? plan.size() : 0); ++i) {
    const auto& p = plan[i];
    VideoRenditionEncoder::Config c;
    c.plan = p;
    c.frame_rate = fr;
    c.keyframe_interval_frames = std::max(1, static_cast<int>(std::lround(options.keyframe_interval_seconds * fps)));
    c.preset = options.preset;
    c.threads = x264_threads[i];
    c.out = &pub;
    c.dir = p.rendition.name;
    c.presentation_offset = offset;
    c.primaries = vstream->codecpar->color_primaries;
    c.transfer = vstream->codecpar->color_trc;
    c.colorspace = vstream->codecpar->color_space;
    c.first_segment_number = span.first_segment_number;
    c.vbv_init = span.vbv_init;
    c.on_segment = live_track(renditions.size());
    STREAMLET_ASSIGN_OR_RETURN(auto r, VideoRenditionEncoder::open(c));
    renditions.push_back(std::move(r));
  }
  // Decided by the video decode stage, obeyed by every rendition and the audio track.
  SegmentBoundaries boundaries(std::llround(options.segment_seconds * kVideoTimescale), span.from);
  std::unique_ptr<AudioTrackEncoder> audio;
  if (astream && span.audio) {
    AudioTrackEncoder::Config c;
    c.stream = astream;
    c.source_path = input;
    c.bitrate = options.audio_bitrate;
    c.boundaries = &boundaries;
    c.out = &pub;
    c.dir = "audio";
    c.origin_seconds = origin;
    c.offset_seconds = offset_seconds;
    c.limit_seconds = vinfo.duration_seconds > 0 ? vinfo.duration_seconds + 0.5 : 0;
    c.on_segment = live_track(plan.size());
    STREAMLET_ASSIGN_OR_RETURN(audio, AudioTrackEncoder::open(c));
  }
  STREAMLET_ASSIGN_OR_RETURN(
      auto decoder, media::detail::open_decoder(vstream, options.threads > 0 ? workers : 0, input));
  std::unique_ptr<StoryboardBuilder> storyboard;
  if (options.write_storyboard && span.extras) {
    StoryboardBuilder::Config c;
    c.out = &pub;
    c.interval_seconds = options.storyboard_interval_seconds > 0
                             ? options.storyboard_interval_seconds
                             : StoryboardBuilder::auto_interval(duration);
    c.tile_width = options.storyboard_tile_width;
    c.display_width = vinfo.display_width;
    c.display_height = vinfo.display_height;
    storyboard = std::make_unique<StoryboardBuilder>(c);
  }
  VideoDecodeStage decode(vstream, std::move(decoder), in.rotation, origin, offset, options,
                          duration, fps, resample_to, std::move(storyboard), boundaries, span);
  if (span.from - span.preroll > 0) {
    // Start decoding at the keyframe at or before the span's pre-roll (frames before it are dropped).
    const double at = origin + double(span.from - span.preroll) / kVideoTimescale;
    const int64_t ts = std::llround(at / av_q2d(vstream->time_base));
    int err = avformat_seek_file(fc, in.video_stream, INT64_MIN, ts, ts, 0);
    if (err < 0) return av_status(err, "seek to " + std::to_string(at) + " s", input);
  }

  RunState state(cancel);
  ProgressReporter reporter(progress, duration, fps);
  auto snapshot = [&]() {
    Progress p;
    int64_t done = INT64_MAX, frames = INT64_MAX;
    for (const auto& r : renditions) {
      done = std::min(done, r->done_pts());
      frames = std::min(frames, r->frames());
    }
    if (renditions.empty()) done = offset + span.from, frames = 0;
    double seconds = std::max<double>(0, double(done - offset - span.from) / kVideoTimescale);
    if (audio) seconds = renditions.empty() ? audio->done_seconds() : std::min(seconds, audio->done_seconds());
    p.media_seconds = seconds;
    p.frames = frames;
    return p;
  };

  auto token_return = std::make_shared<TokenReturn>();
  // A rung with x264 frame threads blocks its graph thread while they work: it gets a
  // graph thread of its own, so decoding, scaling and muxing always have the cores.
  const int arena_threads =
      workers + static_cast<int>(std::count_if(x264_threads.begin(), x264_threads.end(),
                                               [](int t) { return t > 1; }));
  tbb::task_arena arena(arena_threads);
  arena.execute([&] {
    tbb::flow::graph g;
    bool end_sent = false;
    tbb::flow::input_node<PacketMsg> demux(g, [&](tbb::flow_control& fc_) -> PacketMsg {
      if (end_sent || state.stopped()) {
        fc_.stop();
        return {};
      }
      for (;;) {
        auto pkt = std::shared_ptr<AVPacket>(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
        int err = decode.past_end() ? AVERROR_EOF : av_read_frame(fc, pkt.get());
        if (err == AVERROR_EOF) {
          end_sent = true;
          return PacketMsg{nullptr, make_token(token_return), true};
        }
        if (err < 0) {
          state.fail(Status(ErrorCode::kInvalidMedia,
                            av_status(err, "read", input).message() + " (truncated or corrupt input)"));
          fc_.stop();
          return {};
        }
        if (pkt->stream_index == in.video_stream || pkt->stream_index == in.audio_stream)
          return PacketMsg{std::move(pkt), make_token(token_return), false};
      }
    });
    tbb::flow::limiter_node<PacketMsg> limiter(
        g, static_cast<size_t>(in_flight_window(options.max_in_flight,
                                                static_cast<int>(renditions.size()))));
    token_return->limiter = &limiter;

    using DecodeNode = tbb::flow::multifunction_node<PacketMsg, std::tuple<VideoFrame>>;
    DecodeNode video(g, tbb::flow::serial, [&](const PacketMsg& msg, DecodeNode::output_ports_type& out) {
      state.guard("decode", [&] {
        return decode.on_packet(msg, [&](VideoFrame&& f) { std::get<0>(out).try_put(std::move(f)); });
      });
    });
    std::vector<std::unique_ptr<tbb::flow::function_node<VideoFrame>>> encode_nodes;
    for (auto& r : renditions) {
      VideoRenditionEncoder* enc = r.get();
      encode_nodes.push_back(std::make_unique<tbb::flow::function_node<VideoFrame>>(
          g, tbb::flow::serial, [&, enc](const VideoFrame& f) {
            state.guard("encode", [&] { return enc->encode(f); });
            reporter.maybe_report(snapshot);
          }));
    }
    std::unique_ptr<tbb::flow::function_node<PacketMsg>> audio_node;
    if (audio) {
      audio_node = std::make_unique<tbb::flow::function_node<PacketMsg>>(
          g, tbb::flow::serial, [&](const PacketMsg& msg) {
            if (msg.end || msg.packet->stream_index != in.audio_stream) return;
            state.guard("audio", [&] { return audio->decode(msg.packet.get()); });
          });
    }

    tbb::flow::make_edge(demux, limiter);
    tbb::flow::make_edge(limiter, video);
    if (audio_node) tbb::flow::make_edge(limiter, *audio_node);
    for (auto& n : encode_nodes) tbb::flow::make_edge(tbb::flow::output_port<0>(video), *n);
    demux.activate();
    g.wait_for_all();
    std::lock_guard lock(token_return->mu);
    token_return->limiter = nullptr;
  });
  STREAMLET_RETURN_IF_ERROR(state.status());
  const bool whole = span.from == 0 && span.to == INT64_MAX;
  if (decode.frames() == 0 && (whole || span.from == 0))
    return Status(ErrorCode::kInvalidMedia, input + ": no video frame could be decoded");
  // The container said how many frames it holds; far fewer means the data was cut off.
  if (whole && vinfo.frame_count > 10 && decode.source_frames() < vinfo.frame_count * 9 / 10)
    return Status(ErrorCode::kInvalidMedia,
                  input + ": truncated: " + std::to_string(decode.source_frames()) + " of " +
                      std::to_string(vinfo.frame_count) + " frames could be read");

  EncodedSpan encoded;
  encoded.end_seconds = decode.frames() > 0 ? double(decode.end_pts() - offset) / kVideoTimescale
                                            : double(span.from) / kVideoTimescale;
  encoded.frames = decode.frames();
  encoded.source_frames = decode.source_frames();
  encoded.frame_rate = fps;
  encoded.frame_rate_converted = resample_to.num > 0;
  for (const auto& r : renditions) encoded.video.push_back(r->track());
  if (audio) {
    if (cancel.cancelled()) return Status(ErrorCode::kCancelled, "transcode cancelled");
    STREAMLET_RETURN_IF_ERROR(audio->finish(encoded.end_seconds));
    encoded.audio = audio->track();
  }
  if (options.write_poster && span.extras && decode.poster().best()) {
    auto [w, h] = poster_size(plan.front().width, plan.front().height);
    STREAMLET_RETURN_IF_ERROR(
        write_jpeg(decode.poster().best().get(), w, h, pub, "poster.jpg"));
    encoded.poster = true;
  }
  if (StoryboardBuilder* sb = decode.storyboard()) {
    STREAMLET_RETURN_IF_ERROR(sb->finish(encoded.end_seconds));
    encoded.storyboard = sb->tiles() > 0;
  }
  // A backend that cannot reveal is simply not progressive; any other failure to show is one.
  if (live && !live->status().ok() && live->status().code() != ErrorCode::kUnsupported)
    return live->status();
  return encoded;
}

Result<TranscodeResult> detail::write_output(storage::Publication& pub,
                                             const std::string& output_label,
                                             const NameOf& name_of, const Options& options,
                                             const media::MediaInfo& info,
                                             const EncodedSpan& encoded, double wall_seconds,
                                             const ProgressCallback& progress,
                                             const CancelToken& cancel) {
  const double video_seconds = encoded.end_seconds;
  package::Presentation presentation;
  presentation.target_segment_seconds = options.segment_seconds;
  presentation.video = encoded.video;
  presentation.audio = encoded.audio;

  TranscodeResult result;
  result.output_dir = output_label;
  std::vector<std::string> manifests;  // published last where a backend cannot swap at once
  auto put_manifest = [&](const std::string& name, const std::string& text) {
    manifests.push_back(name);
    return put_object(pub, name, text);
  };
  result.source = info;
  result.duration_seconds = video_seconds;
  result.frame_rate = encoded.frame_rate;
  result.frame_rate_converted = encoded.frame_rate_converted;
  if (options.write_hls) {
    auto write_media = [&](const package::Track& t) -> Status {
      STREAMLET_RETURN_IF_ERROR(put_manifest(t.id + "/" + presentation.hls_media_playlist_name,
                                             package::hls_media_playlist(t)));
      if (!t.iframes.empty())
        STREAMLET_RETURN_IF_ERROR(put_manifest(t.id + "/" + presentation.hls_iframe_playlist_name,
                                               package::hls_iframe_playlist(t)));
      return Status::Ok();
    };
    for (const auto& t : presentation.video) STREAMLET_RETURN_IF_ERROR(write_media(t));
    if (presentation.audio) STREAMLET_RETURN_IF_ERROR(write_media(*presentation.audio));
    // The master names the media playlists: it goes after them.
    STREAMLET_RETURN_IF_ERROR(put_manifest(std::string(kHlsMasterName), package::hls_master_playlist(presentation)));
    result.hls_master = name_of(std::string(kHlsMasterName));
  }
  if (options.write_dash) {
    STREAMLET_RETURN_IF_ERROR(put_manifest(std::string(kDashManifestName), package::dash_manifest(presentation)));
    result.dash_manifest = name_of(std::string(kDashManifestName));
  }
  if (encoded.poster) result.poster = name_of("poster.jpg");
  if (encoded.storyboard) result.storyboard = name_of(StoryboardBuilder::kVttName);
  for (const auto& t : presentation.video) result.video.push_back(summarize(t));
  if (presentation.audio) result.audio = summarize(*presentation.audio);
  result.wall_seconds = wall_seconds;
  result.fps = result.wall_seconds > 0 ? encoded.source_frames / result.wall_seconds : 0;
  result.speed = result.wall_seconds > 0 ? video_seconds / result.wall_seconds : 0;
  if (progress) {
    Progress p;
    p.media_seconds = video_seconds;
    p.frames = encoded.frames;
    p.fraction = 1;
    p.fps = result.fps;
    p.speed = result.speed;
    progress(p);
  }

  if (cancel.cancelled()) return Status(ErrorCode::kCancelled, "transcode cancelled");
  // summary.json marks a finished Streamlet output: the very last object.
  STREAMLET_RETURN_IF_ERROR(put_object(pub, "summary.json", result.to_json()));
  manifests.push_back("summary.json");
  STREAMLET_RETURN_IF_ERROR(pub.publish(manifests));
  return result;
}


std::string TranscodeResult::to_json(int indent) const {
  auto track = [](const TrackSummary& t) {
    nlohmann::json j = {{"id", t.id},
                        {"codecs", t.codecs},
                        {"target_bitrate", t.target_bitrate},
                        {"average_bitrate", t.average_bitrate},
                        {"peak_bitrate", t.peak_bitrate},
                        {"segments", t.segments},
                        {"duration_seconds", t.duration_seconds}};
    if (t.width > 0) {
      j["width"] = t.width;
      j["height"] = t.height;
    }
    return j;
  };
  nlohmann::json j;
  j["output_dir"] = output_dir;
  j["hls_master"] = hls_master;
  j["dash_manifest"] = dash_manifest;
  j["poster"] = poster;
  j["storyboard"] = storyboard;
  j["duration_seconds"] = duration_seconds;
  j["frame_rate"] = frame_rate;
  j["frame_rate_converted"] = frame_rate_converted;
  j["video"] = nlohmann::json::array();
  for (const auto& v : video) j["video"].push_back(track(v));
  j["audio"] = audio ? track(*audio) : nlohmann::json(nullptr);
  j["wall_seconds"] = wall_seconds;
  j["fps"] = fps;
  j["speed"] = speed;
  j["source"] = nlohmann::json::parse(source.to_json(-1));
  return streamlet::detail::json_text(j, indent);
}

}  // namespace streamlet::transcode
