// Chunk-parallel encoding: the source timeline is cut at segment boundaries into chunks
// that are encoded independently (each seeks to the source keyframe before its pre-roll,
// encodes pre-roll, chunk and post-roll, and writes only the chunk) and joined into the
// tracks an unchunked run writes.
//
//   job 0: audio, poster, storyboard over the whole source (one continuous AAC stream: no
//          joint exists in the audio, so there is no priming gap or click to hide)
//   job 1..n: the video ladder of chunk k, segments named from its place (seg_<1 + k*m>)
//
// Jobs run on `chunk_workers` threads side by side, each with its share of Options::threads.
// The join checks what makes the result the unchunked one: every chunk but the last holds
// exactly chunk/segment segments, each chunk starts where the previous one ended, and every
// chunk's encoder wrote the same init segment (so one init.mp4 serves the whole track).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "transcode/span.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

namespace {

using Clock = std::chrono::steady_clock;

// A chunk after the first starts encoding this long before its first frame (one keyframe
// interval: in the whole encode an IDR starts there) and the packets of that pre-roll are
// dropped, so x264's rate control and VBV model have history at the joint instead of a cold
// start. Without it, the first frames after each joint were 5 dB worse than in the whole
// encode (docs/performance.md).
double preroll_seconds(const Options& o) { return o.keyframe_interval_seconds; }
// A chunk before the last encodes this much of the next one (its IDR first) and drops it, so
// the lookahead sees the same future at the chunk's end as in the whole encode.
constexpr double kPostrollSeconds = 1.0;
// x264's vbv-init for the pre-roll of a chunk after the first: the buffer fullness assumed
// where encoding starts. Its default, 0.9, starts with credit a stream in its steady state
// does not have; half full is closer to where the whole encode is there (measured:
// docs/performance.md, "Chunk-parallel encoding").
constexpr double kJointVbvInit = 0.5;

// A chunk's view of the output: its segments go straight through, its init segments are kept
// in memory (every chunk writes one per track; the join checks they agree and writes one).
class ChunkPublication final : public storage::Publication {
 public:
  explicit ChunkPublication(storage::Publication& out) : out_(out) {}

  Result<std::unique_ptr<storage::Writer>> create(std::string_view name) override {
    if (!is_init_segment(name)) return out_.create(name);
    return std::unique_ptr<storage::Writer>(new MemoryWriter(*this, std::string(name)));
  }
  Result<std::unique_ptr<storage::Reader>> open(std::string_view name) override {
    return out_.open(name);
  }
  Status publish(const std::vector<std::string>&) override {
    return Status(ErrorCode::kInternal, "a chunk does not publish");
  }
  // Committed init segments by name.
  std::map<std::string, std::string> inits() const {
    std::lock_guard lock(mu_);
    return inits_;
  }

 private:
  class MemoryWriter final : public storage::Writer {
   public:
    MemoryWriter(ChunkPublication& owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    Status write(const char* data, size_t size) override {
      bytes_.append(data, size);
      return Status::Ok();
    }
    Status commit() override {
      std::lock_guard lock(owner_.mu_);
      owner_.inits_[name_] = bytes_;
      return Status::Ok();
    }
    uint64_t bytes_written() const override { return bytes_.size(); }

   private:
    ChunkPublication& owner_;
    std::string name_;
    std::string bytes_;
  };

  storage::Publication& out_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> inits_;
};

// Sums the chunks' progress into one report for the caller (throttled, serialized).
class ChunkProgress {
 public:
  ChunkProgress(ProgressCallback cb, size_t jobs, double duration)
      : cb_(std::move(cb)), seconds_(jobs), frames_(jobs), duration_(duration), start_(Clock::now()) {}
  ProgressCallback for_job(size_t job) {
    if (!cb_) return {};
    return [this, job](const Progress& p) {
      seconds_[job].store(p.media_seconds, std::memory_order_relaxed);
      frames_[job].store(p.frames, std::memory_order_relaxed);
      report();
    };
  }

 private:
  void report() {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    Progress p;
    // Job 0 (audio and extras) runs beside the video and is not counted.
    for (size_t j = 1; j < seconds_.size(); ++j) {
      p.media_seconds += seconds_[j].load(std::memory_order_relaxed);
      p.frames += frames_[j].load(std::memory_order_relaxed);
    }
    double wall = std::chrono::duration<double>(Clock::now() - start_).count();
    p.fraction = duration_ > 0 ? std::clamp(p.media_seconds / duration_, 0.0, 1.0) : 0;
    p.fps = wall > 0 ? p.frames / wall : 0;
    p.speed = wall > 0 ? p.media_seconds / wall : 0;
    cb_(p);
  }

  ProgressCallback cb_;
  std::vector<std::atomic<double>> seconds_;
  std::vector<std::atomic<int64_t>> frames_;
  double duration_;
  Clock::time_point start_;
  std::mutex mu_;
};

Status join_error(const std::string& what) {
  return Status(ErrorCode::kInternal, "chunked transcode: " + what);
}

// Appends a chunk's track to the joined one, checking it starts where the joined one ends.
Status append_track(package::Track& joined, const package::Track& chunk, size_t chunk_index) {
  if (!joined.segments.empty()) {
    const auto& last = joined.segments.back();
    if (chunk.segments.front().start != last.start + last.duration)
      return join_error("chunk " + std::to_string(chunk_index + 1) + " of " + chunk.id +
                        " starts at " + std::to_string(chunk.segments.front().start) +
                        ", the previous one ends at " + std::to_string(last.start + last.duration));
  }
  const uint32_t base = static_cast<uint32_t>(joined.segments.size());
  if (chunk.first_segment_number != joined.first_segment_number + base)
    return join_error("chunk " + std::to_string(chunk_index + 1) + " of " + chunk.id +
                      " was numbered from " + std::to_string(chunk.first_segment_number) +
                      " after " + std::to_string(base) + " segments");
  joined.segments.insert(joined.segments.end(), chunk.segments.begin(), chunk.segments.end());
  for (package::IFrame f : chunk.iframes) {
    f.segment += base;
    joined.iframes.push_back(f);
  }
  return Status::Ok();
}

}  // namespace

Status check_chunk_options(const Options& options) {
  if (options.chunk_workers < 0)
    return Status(ErrorCode::kInvalidArgument, "chunk workers must be 0 (auto) or more");
  if (options.chunk_seconds == 0) return Status::Ok();
  const double segments = options.chunk_seconds / options.segment_seconds;
  if (!(options.chunk_seconds > 0) || std::fabs(segments - std::round(segments)) > 1e-6 ||
      std::round(segments) < 1) {
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  "chunk duration (%g s) must be 0 (no chunking) or a whole multiple of the "
                  "segment duration (%g s)",
                  options.chunk_seconds, options.segment_seconds);
    return Status(ErrorCode::kInvalidArgument, msg);
  }
  return Status::Ok();
}

int auto_chunk_workers(int hardware_threads, size_t renditions) {
  return std::max(1, hardware_threads / (2 * std::max<int>(1, static_cast<int>(renditions))));
}

}  // namespace streamlet::transcode::detail

namespace streamlet::transcode {

double auto_chunk_seconds(const Options& options, int hardware_threads) {
  int threads = options.threads > 0 ? options.threads : hardware_threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options.chunk_workers == 1) return 0;
  if (options.chunk_workers == 0 && detail::auto_chunk_workers(threads, options.ladder.size()) < 2)
    return 0;
  return std::ceil(60.0 / options.segment_seconds - 1e-9) * options.segment_seconds;
}

}  // namespace streamlet::transcode

namespace streamlet::transcode::detail {

ChunkPlan plan_chunks(const media::MediaInfo& info, const Options& options) {
  ChunkPlan plan;
  const auto& vinfo = info.video.front();
  plan.duration = vinfo.duration_seconds > 0 ? vinfo.duration_seconds : info.duration_seconds;
  const int64_t chunk_ticks = std::llround(options.chunk_seconds * kVideoTimescale);
  plan.chunks = static_cast<size_t>(
      std::max(1.0, std::ceil(plan.duration / options.chunk_seconds - 1e-6)));
  // One chunk, or a variable-rate source (its frames are put on a grid that starts with the
  // first one): encoded whole, as without chunking.
  if (plan.chunks == 1 || vinfo.variable_frame_rate) {
    plan.chunks = 0;
    return plan;
  }
  plan.segments_per_chunk =
      static_cast<uint32_t>(std::llround(options.chunk_seconds / options.segment_seconds));
  const int64_t preroll = std::llround(preroll_seconds(options) * kVideoTimescale);
  const int64_t postroll = std::llround(kPostrollSeconds * kVideoTimescale);
  // Job 0: audio and extras over the whole source; jobs 1..n: the chunks' video.
  plan.spans.resize(plan.chunks + 1);
  plan.spans[0].video = false;
  for (size_t k = 0; k < plan.chunks; ++k) {
    Span& s = plan.spans[k + 1];
    s.from = static_cast<int64_t>(k) * chunk_ticks;
    s.to = k + 1 < plan.chunks ? s.from + chunk_ticks : INT64_MAX;
    s.first_segment_number = 1 + static_cast<uint32_t>(k) * plan.segments_per_chunk;
    s.audio = s.extras = false;
    s.vbv_init = k > 0 ? kJointVbvInit : 0;
    s.preroll = k > 0 ? preroll : 0;
    s.postroll = k + 1 < plan.chunks ? postroll : 0;
  }
  plan.need_job0 = !info.audio.empty() || options.write_poster || options.write_storyboard;
  return plan;
}

Result<EncodedSpan> join_chunks(const ChunkPlan& plan, const std::vector<const EncodedSpan*>& results,
                                const std::vector<std::map<std::string, std::string>>& inits,
                                storage::Publication& pub) {
  const size_t chunks = plan.chunks;
  const uint32_t segments_per_chunk = plan.segments_per_chunk;
  // Join the chunks' video tracks, rendition by rendition.
  EncodedSpan joined;
  const EncodedSpan& first = *results[1];
  joined.frame_rate = first.frame_rate;
  joined.video.resize(first.video.size());
  for (size_t i = 0; i < first.video.size(); ++i) {
    joined.video[i] = first.video[i];
    joined.video[i].segments.clear();
    joined.video[i].iframes.clear();
  }
  for (size_t k = 0; k < chunks; ++k) {
    const EncodedSpan& c = *results[k + 1];
    if (c.frames == 0) {  // the source ended before this chunk (its duration was rounded up)
      if (k == 0) return join_error("the first chunk has no frame");
      continue;
    }
    if (joined.frames > 0 && results[k]->frames == 0)
      return join_error("chunk " + std::to_string(k) + " is empty but chunk " +
                        std::to_string(k + 1) + " is not");
    if (c.video.size() != joined.video.size())
      return join_error("chunk " + std::to_string(k + 1) + " has " +
                        std::to_string(c.video.size()) + " renditions, chunk 1 has " +
                        std::to_string(joined.video.size()));
    for (size_t i = 0; i < c.video.size(); ++i) {
      const package::Track& t = c.video[i];
      if (k + 1 < chunks && results[k + 2]->frames > 0 && t.segments.size() != segments_per_chunk)
        return join_error("chunk " + std::to_string(k + 1) + " of " + t.id + " has " +
                          std::to_string(t.segments.size()) + " segments, expected " +
                          std::to_string(segments_per_chunk));
      STREAMLET_RETURN_IF_ERROR(append_track(joined.video[i], t, k));
    }
    joined.frames += c.frames;
    joined.source_frames += c.source_frames;
    joined.end_seconds = c.end_seconds;
  }
  for (auto& t : joined.video) {
    const double seconds = t.duration_seconds();
    t.frame_rate = seconds > 0 ? joined.frames / seconds : joined.frame_rate;
  }
  // One init segment per track serves every chunk only if all of them wrote the same one.
  for (size_t k = 1; k < chunks; ++k)
    if (results[k + 1]->frames > 0 && inits[k + 1] != inits[1])
      return join_error("chunk " + std::to_string(k + 1) +
                        "'s encoders wrote different init segments (codec headers) from chunk 1's");
  for (const auto& [name, bytes] : inits[1]) STREAMLET_RETURN_IF_ERROR(put_object(pub, name, bytes));

  if (plan.need_job0) {
    const EncodedSpan& rest = *results[0];
    // Job 0 decoded the whole video too: it must have seen the same end.
    if (std::fabs(rest.end_seconds - joined.end_seconds) > 0.5 / kVideoTimescale)
      return join_error("the chunks end at " + std::to_string(joined.end_seconds) +
                        " s, the whole source at " + std::to_string(rest.end_seconds) + " s");
    joined.audio = rest.audio;
    joined.poster = rest.poster;
    joined.storyboard = rest.storyboard;
    joined.frame_rate_converted = rest.frame_rate_converted;
    // The audio job's inits come through its view too.
    for (const auto& [name, bytes] : inits[0]) STREAMLET_RETURN_IF_ERROR(put_object(pub, name, bytes));
  }
  return joined;
}

Result<TranscodeResult> run_chunked(const std::string& input, const media::MediaInfo& info,
                                    storage::Publication& pub, const std::string& output_label,
                                    const NameOf& name_of, const Options& options,
                                    ProgressCallback progress, CancelToken cancel) {
  const auto start = Clock::now();
  ChunkPlan plan = plan_chunks(info, options);
  if (plan.chunks == 0) {
    STREAMLET_ASSIGN_OR_RETURN(EncodedSpan whole,
                               encode_span(input, info, pub, options, Span{}, progress, cancel));
    return write_output(pub, output_label, name_of, options, info, whole,
                        std::chrono::duration<double>(Clock::now() - start).count(), progress,
                        cancel);
  }
  const auto& vinfo = info.video.front();
  const size_t renditions =
      plan_ladder(options.ladder, vinfo.display_width, vinfo.display_height).size();
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = options.threads > 0 ? options.threads : hardware;
  const int workers = options.chunk_workers > 0 ? options.chunk_workers
                                                : auto_chunk_workers(threads, renditions);
  std::vector<Span>& spans = plan.spans;
  for (Span& s : spans) s.threads = std::max(1, threads / workers);

  std::vector<std::unique_ptr<ChunkPublication>> views;
  for (size_t j = 0; j < spans.size(); ++j)
    views.push_back(std::make_unique<ChunkPublication>(pub));
  std::vector<std::optional<Result<EncodedSpan>>> results(spans.size());
  ChunkProgress chunk_progress(progress, spans.size(), plan.duration);
  CancelToken stop;  // the caller's cancel, or the first failed chunk, stops every job
  std::atomic<size_t> next{plan.need_job0 ? 0u : 1u};
  std::atomic<size_t> running{0};
  auto work = [&] {
    for (size_t j; (j = next.fetch_add(1)) < spans.size();) {
      if (stop.cancelled()) return;
      auto r = encode_span(input, info, *views[j], options, spans[j], chunk_progress.for_job(j), stop);
      if (!r.ok()) stop.cancel();
      results[j] = std::move(r);
    }
  };
  std::vector<std::thread> pool;
  const size_t jobs = spans.size() - (plan.need_job0 ? 0 : 1);
  for (size_t w = 0; w < std::min<size_t>(static_cast<size_t>(workers), jobs); ++w) {
    ++running;
    pool.emplace_back([&] {
      work();
      --running;
    });
  }
  while (running.load() > 0) {
    if (cancel.cancelled()) stop.cancel();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : pool) t.join();
  if (cancel.cancelled()) return Status(ErrorCode::kCancelled, "transcode cancelled");
  // The first real failure, not the cancellations it caused in the other jobs.
  for (auto& r : results)
    if (r && !r->ok() && r->status().code() != ErrorCode::kCancelled) return r->status();
  for (auto& r : results)
    if (r && !r->ok()) return r->status();

  const EncodedSpan none;  // job 0 when there is nothing for it to do
  std::vector<const EncodedSpan*> encoded;
  std::vector<std::map<std::string, std::string>> inits;
  for (size_t j = 0; j < spans.size(); ++j) {
    encoded.push_back(results[j] ? &**results[j] : &none);
    inits.push_back(views[j]->inits());
  }
  STREAMLET_ASSIGN_OR_RETURN(EncodedSpan joined, join_chunks(plan, encoded, inits, pub));
  return write_output(pub, output_label, name_of, options, info, joined,
                      std::chrono::duration<double>(Clock::now() - start).count(), progress,
                      cancel);
}

}  // namespace streamlet::transcode::detail
