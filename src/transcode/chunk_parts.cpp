// A chunked transcode as parts encoded by separate jobs into a shared staging prefix, and the
// join that publishes them (transcode.hpp, "chunk_parts"). The cutting and the join's checks
// are run_chunked's own (chunked.cpp): only where the parts' results live differs, a JSON
// object per part in the storage instead of memory.
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "transcode/span.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode {

namespace {

using detail::EncodedSpan;
using nlohmann::json;

std::string part_name(int part) { return "part_" + std::to_string(part); }

json track_json(const package::Track& t) {
  json segments = json::array(), iframes = json::array();
  for (const auto& s : t.segments) segments.push_back({s.start, s.duration, s.bytes});
  for (const auto& f : t.iframes)
    iframes.push_back({f.segment, f.offset, f.length, f.start, f.duration});
  return {{"kind", t.kind == package::TrackKind::kAudio ? "audio" : "video"},
          {"id", t.id},
          {"codecs", t.codecs},
          {"timescale", t.timescale},
          {"presentation_time_offset", t.presentation_time_offset},
          {"first_segment_number", t.first_segment_number},
          {"width", t.width},
          {"height", t.height},
          {"frame_rate", t.frame_rate},
          {"sample_rate", t.sample_rate},
          {"channels", t.channels},
          {"language", t.language},
          {"target_bitrate", t.target_bitrate},
          {"segments", segments},
          {"iframes", iframes}};
}

package::Track track_of(const json& j) {
  package::Track t;
  t.kind = j.at("kind").get<std::string>() == "audio" ? package::TrackKind::kAudio
                                                      : package::TrackKind::kVideo;
  t.id = j.at("id").get<std::string>();
  t.codecs = j.at("codecs").get<std::string>();
  t.timescale = j.at("timescale").get<uint32_t>();
  t.presentation_time_offset = j.at("presentation_time_offset").get<int64_t>();
  t.first_segment_number = j.at("first_segment_number").get<uint32_t>();
  t.width = j.at("width").get<int>();
  t.height = j.at("height").get<int>();
  t.frame_rate = j.at("frame_rate").get<double>();
  t.sample_rate = j.at("sample_rate").get<int>();
  t.channels = j.at("channels").get<int>();
  t.language = j.at("language").get<std::string>();
  t.target_bitrate = j.at("target_bitrate").get<int>();
  for (const auto& s : j.at("segments"))
    t.segments.push_back({s.at(0).get<int64_t>(), s.at(1).get<int64_t>(), s.at(2).get<uint64_t>()});
  for (const auto& f : j.at("iframes"))
    t.iframes.push_back({f.at(0).get<uint32_t>(), f.at(1).get<uint64_t>(), f.at(2).get<uint64_t>(),
                         f.at(3).get<int64_t>(), f.at(4).get<int64_t>()});
  return t;
}

std::string span_json(const EncodedSpan& e) {
  json video = json::array();
  for (const auto& t : e.video) video.push_back(track_json(t));
  json j = {{"video", video},
            {"frames", e.frames},
            {"source_frames", e.source_frames},
            {"end_seconds", e.end_seconds},
            {"frame_rate", e.frame_rate},
            {"frame_rate_converted", e.frame_rate_converted},
            {"poster", e.poster},
            {"storyboard", e.storyboard}};
  if (e.audio) j["audio"] = track_json(*e.audio);
  return streamlet::detail::json_text(j);
}

Result<EncodedSpan> span_of(const std::string& text, int part) {
  EncodedSpan e;
  try {
    const json j = json::parse(text);
    for (const auto& t : j.at("video")) e.video.push_back(track_of(t));
    if (j.contains("audio")) e.audio = track_of(j["audio"]);
    e.frames = j.at("frames").get<int64_t>();
    e.source_frames = j.at("source_frames").get<int64_t>();
    e.end_seconds = j.at("end_seconds").get<double>();
    e.frame_rate = j.at("frame_rate").get<double>();
    e.frame_rate_converted = j.at("frame_rate_converted").get<bool>();
    e.poster = j.at("poster").get<bool>();
    e.storyboard = j.at("storyboard").get<bool>();
  } catch (const json::exception& ex) {
    return Status(ErrorCode::kInternal,
                  "chunked transcode: " + part_name(part) + ".json is not a part's record: " + ex.what());
  }
  return e;
}

// A part's view of the staging: objects under their final names, init segments (which every
// chunk writes alike) below part_<k>/ for the join to compare.
class StagingPublication final : public storage::Publication {
 public:
  StagingPublication(storage::Storage& out, std::string staging, int part)
      : out_(out), staging_(std::move(staging)), part_(part_name(part) + "/") {}
  std::string key(std::string_view name) const {
    return staging_ + (detail::is_init_segment(name) ? part_ : "") + std::string(name);
  }
  Result<std::unique_ptr<storage::Writer>> create(std::string_view name) override {
    std::lock_guard lock(mu_);  // encoders of one part create side by side
    return out_.write(key(name));
  }
  Result<std::unique_ptr<storage::Reader>> open(std::string_view name) override {
    std::lock_guard lock(mu_);
    return out_.open(key(name));
  }
  Status publish(const std::vector<std::string>&) override {
    return Status(ErrorCode::kInternal, "a part does not publish");
  }

 private:
  storage::Storage& out_;
  std::string staging_;
  std::string part_;
  std::mutex mu_;
};

Status copy_object(storage::Storage& from, const std::string& key, storage::Publication& to,
                   const std::string& name) {
  STREAMLET_ASSIGN_OR_RETURN(auto in, from.open(key));
  STREAMLET_ASSIGN_OR_RETURN(auto out, to.create(name));
  std::string buf(1 << 20, '\0');
  for (uint64_t at = 0;;) {
    STREAMLET_ASSIGN_OR_RETURN(size_t n, in->read_at(at, buf.data(), buf.size()));
    if (n == 0) break;
    STREAMLET_RETURN_IF_ERROR(out->write(buf.data(), n));
    at += n;
  }
  return out->commit();
}

Status check_staging(std::string_view staging) {
  if (staging.empty() || staging.back() != '/')
    return Status(ErrorCode::kInvalidArgument,
                  "the staging prefix must name a directory, ending with '/': " + std::string(staging));
  return storage::check_key(staging.substr(0, staging.size() - 1));
}

Result<detail::ChunkPlan> plan_of(const std::string& input, const Options& options,
                                  media::MediaInfo& info) {
  STREAMLET_RETURN_IF_ERROR(detail::check_transcode_options(options));
  if (options.chunk_seconds <= 0) return detail::ChunkPlan{};
  STREAMLET_ASSIGN_OR_RETURN(info, media::probe(input));
  return detail::plan_chunks(info, options);
}

}  // namespace

Result<int> chunk_parts(const std::string& input, const Options& options) {
  media::MediaInfo info;
  STREAMLET_ASSIGN_OR_RETURN(auto plan, plan_of(input, options, info));
  return plan.chunks == 0 ? 0 : static_cast<int>(plan.chunks + 1);
}

Status encode_part(const std::string& input, storage::Storage& out, std::string_view staging,
                   const Options& options, int part, ProgressCallback progress,
                   CancelToken cancel) {
  STREAMLET_RETURN_IF_ERROR(check_staging(staging));
  media::MediaInfo info;
  STREAMLET_ASSIGN_OR_RETURN(auto plan, plan_of(input, options, info));
  if (plan.chunks == 0 || part < 0 || static_cast<size_t>(part) > plan.chunks)
    return Status(ErrorCode::kInvalidArgument,
                  "no part " + std::to_string(part) + " of this source at " +
                      std::to_string(options.chunk_seconds) + " s chunks");
  Options o = options;
  o.progressive = false;
  StagingPublication pub(out, std::string(staging), part);
  EncodedSpan encoded;
  if (part > 0 || plan.need_job0) {
    STREAMLET_ASSIGN_OR_RETURN(encoded, detail::encode_span(input, info, pub, o, plan.spans[part],
                                                            std::move(progress), std::move(cancel)));
  }
  // Last: a part whose record is there is whole.
  return out.put(std::string(staging) + part_name(part) + ".json", span_json(encoded));
}

Result<TranscodeResult> join_parts(const std::string& input, storage::Storage& out,
                                   std::string_view staging_view, std::string_view prefix,
                                   const Options& options, ProgressCallback progress,
                                   CancelToken cancel) {
  const auto start = std::chrono::steady_clock::now();
  STREAMLET_RETURN_IF_ERROR(check_staging(staging_view));
  if (prefix.empty() || prefix.back() != '/')
    return Status(ErrorCode::kInvalidArgument,
                  "the output prefix must name a directory, ending with '/': " + std::string(prefix));
  STREAMLET_RETURN_IF_ERROR(storage::check_key(prefix.substr(0, prefix.size() - 1)));
  const std::string staging(staging_view);
  media::MediaInfo info;
  STREAMLET_ASSIGN_OR_RETURN(auto plan, plan_of(input, options, info));
  if (plan.chunks == 0)
    return Status(ErrorCode::kInvalidArgument, "this source is not chunked at these options");
  std::vector<EncodedSpan> parts(plan.chunks + 1);
  std::vector<std::map<std::string, std::string>> inits(plan.chunks + 1);
  for (size_t k = 0; k <= plan.chunks; ++k) {
    const int part = static_cast<int>(k);
    auto text = out.get(staging + part_name(part) + ".json");
    if (!text.ok())
      return Status(ErrorCode::kInternal, "chunked transcode: " + part_name(part) +
                                              " was not encoded: " + text.status().message());
    STREAMLET_ASSIGN_OR_RETURN(parts[k], span_of(*text, part));
  }
  // Everything staged: init segments to their part, the rest into the publication as named.
  STREAMLET_ASSIGN_OR_RETURN(auto pub, out.publish(prefix));
  std::vector<std::string> staged;
  STREAMLET_RETURN_IF_ERROR(out.list(staging, [&](const storage::ObjectInfo& o) {
    staged.push_back(o.key.substr(staging.size()));
    return true;
  }));
  for (const std::string& name : staged) {
    if (cancel.cancelled()) return Status(ErrorCode::kCancelled, "transcode cancelled");
    if (name.rfind("part_", 0) != 0) {
      STREAMLET_RETURN_IF_ERROR(copy_object(out, staging + name, *pub, name));
      continue;
    }
    const size_t slash = name.find('/');
    if (slash == std::string::npos) continue;  // a part's record
    const size_t k = std::strtoul(name.c_str() + 5, nullptr, 10);
    if (k > plan.chunks) continue;
    STREAMLET_ASSIGN_OR_RETURN(inits[k][name.substr(slash + 1)], out.get(staging + name));
  }
  std::vector<const EncodedSpan*> encoded;
  for (const auto& p : parts) encoded.push_back(&p);
  STREAMLET_ASSIGN_OR_RETURN(EncodedSpan joined, detail::join_chunks(plan, encoded, inits, *pub));
  const std::string p(prefix);
  STREAMLET_ASSIGN_OR_RETURN(
      TranscodeResult result,
      detail::write_output(*pub, p, [&](const std::string& name) { return p + name; }, options,
                           info, joined,
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                           progress, cancel));
  (void)out.remove_prefix(staging);
  return result;
}

}  // namespace streamlet::transcode
