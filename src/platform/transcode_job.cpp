#include <cmath>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "platform/transcode_job.hpp"

namespace streamlet::platform::internal {

using jobs::Job;
using jobs::ProgressFn;

namespace {

namespace fs = std::filesystem;

std::string renditions_json(const transcode::TranscodeResult& r) {
  nlohmann::json tracks = nlohmann::json::array();
  for (const auto& t : r.video) {
    tracks.push_back({{"id", t.id},
                      {"type", "video"},
                      {"codecs", t.codecs},
                      {"width", t.width},
                      {"height", t.height},
                      {"target_bitrate", t.target_bitrate},
                      {"average_bitrate", t.average_bitrate},
                      {"peak_bitrate", t.peak_bitrate},
                      {"segments", t.segments}});
  }
  if (r.audio) {
    tracks.push_back({{"id", r.audio->id},
                      {"type", "audio"},
                      {"codecs", r.audio->codecs},
                      {"target_bitrate", r.audio->target_bitrate},
                      {"average_bitrate", r.audio->average_bitrate},
                      {"segments", r.audio->segments}});
  }
  return streamlet::detail::json_text(tracks);
}

// The reason a failed transcode's owner (and the job list) is shown: their file's name, not
// the upload's path; files of the output by their name in it ("480p/seg_00001.m4s"), without
// the storage path or the hidden work directory; and a full disk said in plain words.
std::string owner_reason(const Status& failure, const std::string& input, const std::string& shown,
                         const fs::path& root) {
  std::string message = failure.message();
  for (size_t at; !input.empty() && (at = message.find(input)) != std::string::npos;)
    message.replace(at, input.size(), shown);
  std::string base = root.lexically_normal().string();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const std::string prefix = base + "/";
  for (size_t at; (at = message.find(prefix)) != std::string::npos;) {
    size_t end = message.find_first_of(": ", at);
    if (end == std::string::npos) end = message.size();
    // <root>/<video id or work dir>/<inside>: keep <inside>.
    const std::string rest = message.substr(at + prefix.size(), end - at - prefix.size());
    const size_t slash = rest.find('/');
    const std::string inside = slash == std::string::npos ? "" : rest.substr(slash + 1);
    message.replace(at, end - at, inside.empty() ? "the output" : inside);
  }
  const bool disk_full = message.find(std::strerror(ENOSPC)) != std::string::npos ||
                         message.find(std::strerror(EDQUOT)) != std::string::npos;
  if (failure.code() == ErrorCode::kResourceExhausted && disk_full)
    message = "the server ran out of disk space while writing the renditions; try again later (" +
              message + ")";
  return message;
}

}  // namespace

namespace {

nlohmann::json options_json(const transcode::Options& o) {
  nlohmann::json ladder = nlohmann::json::array();
  for (const auto& r : o.ladder)
    ladder.push_back({{"name", r.name},
                      {"height", r.height},
                      {"bitrate", r.bitrate},
                      {"maxrate_factor", r.maxrate_factor},
                      {"buffer_factor", r.buffer_factor},
                      {"profile", r.profile}});
  return {{"ladder", ladder},
          {"segment_seconds", o.segment_seconds},
          {"keyframe_interval_seconds", o.keyframe_interval_seconds},
          {"preset", o.preset},
          {"audio_bitrate", o.audio_bitrate},
          {"write_hls", o.write_hls},
          {"write_dash", o.write_dash},
          {"write_poster", o.write_poster},
          {"write_storyboard", o.write_storyboard},
          {"storyboard_interval_seconds", o.storyboard_interval_seconds},
          {"storyboard_tile_width", o.storyboard_tile_width}};
}

// Reads the output options a job was enqueued with; every field must be there and of its type
// (a payload is written by encode_payload, so anything else was not made by us).
Result<transcode::Options> options_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& what) {
    return error(ErrorCode::kInvalidArgument, "transcode job payload: " + what);
  };
  if (!j.is_object()) return bad("\"transcode\" must be an object");
  transcode::Options o;
  try {
    o.segment_seconds = j.at("segment_seconds").get<double>();
    o.keyframe_interval_seconds = j.at("keyframe_interval_seconds").get<double>();
    o.preset = j.at("preset").get<std::string>();
    o.audio_bitrate = j.at("audio_bitrate").get<int64_t>();
    o.write_hls = j.at("write_hls").get<bool>();
    o.write_dash = j.at("write_dash").get<bool>();
    o.write_poster = j.at("write_poster").get<bool>();
    o.write_storyboard = j.at("write_storyboard").get<bool>();
    o.storyboard_interval_seconds = j.at("storyboard_interval_seconds").get<double>();
    o.storyboard_tile_width = j.at("storyboard_tile_width").get<int>();
    o.ladder.clear();
    for (const auto& r : j.at("ladder")) {
      transcode::Rendition rung;
      rung.name = r.at("name").get<std::string>();
      rung.height = r.at("height").get<int>();
      rung.bitrate = r.at("bitrate").get<int64_t>();
      rung.maxrate_factor = r.at("maxrate_factor").get<double>();
      rung.buffer_factor = r.at("buffer_factor").get<double>();
      rung.profile = r.at("profile").get<std::string>();
      if (rung.name.empty() || rung.height <= 0 || rung.bitrate <= 0)
        return bad("a ladder rung needs a name, a height and a bitrate");
      o.ladder.push_back(std::move(rung));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("\"transcode\": ") + e.what());
  }
  if (o.ladder.empty()) return bad("the ladder is empty");
  if (!(o.segment_seconds > 0) || !(o.keyframe_interval_seconds > 0) || o.audio_bitrate <= 0)
    return bad("segment, keyframe interval and audio bitrate must be positive");
  return o;
}

}  // namespace

std::string encode_payload(const TranscodePayload& p) {
  nlohmann::json j = {{"upload_id", p.upload_id}, {"display_name", p.display_name}};
  if (!p.source_key.empty()) j["source_key"] = p.source_key;
  if (!p.legacy_input_path.empty()) j["input"] = p.legacy_input_path;
  if (p.options) j["transcode"] = options_json(*p.options);
  return streamlet::detail::json_text(j);
}

transcode::Options job_options(const TranscodePayload& payload, const transcode::Options& local) {
  transcode::Options o = payload.options ? *payload.options : local;
  o.threads = local.threads;
  o.max_in_flight = local.max_in_flight;
  // Chunking is this node's choice, like its threads: the node's own chunk duration when it
  // fits the job's segments, else the automatic one (0 on a machine too small to gain).
  o.chunk_workers = local.chunk_workers;
  const double segments = local.chunk_seconds / o.segment_seconds;
  o.chunk_seconds = local.chunk_seconds > 0 && std::fabs(segments - std::round(segments)) < 1e-6
                        ? local.chunk_seconds
                        : transcode::auto_chunk_seconds(o);
  o.progressive = local.progressive;  // the node's choice, like its threads
  return o;
}

Result<TranscodePayload> decode_payload(const Job& job) {
  auto j = nlohmann::json::parse(job.payload, nullptr, false);
  TranscodePayload p;
  auto text = [&](const char* name) {
    return j.is_object() && j.contains(name) && j[name].is_string() ? j[name].get<std::string>()
                                                                    : std::string();
  };
  p.source_key = text("source_key");
  p.legacy_input_path = text("input");
  p.upload_id = text("upload_id");
  if (auto shown = text("display_name"); !shown.empty()) p.display_name = shown;
  if (p.source_key.empty() && p.legacy_input_path.empty())
    return error(ErrorCode::kInvalidArgument,
                 "transcode job payload needs {\"source_key\": key} (or {\"input\": path})");
  if (j.contains("transcode")) {
    STREAMLET_ASSIGN_OR_RETURN(auto options, options_from_json(j["transcode"]));
    p.options = std::move(options);
  }
  return p;
}

namespace {

// What the catalog keeps of a published transcode, or the failure in its owner's words.
Result<catalog::ReadyInfo> ready_info(const Result<transcode::TranscodeResult>& transcoded,
                                      const std::string& input, const std::string& shown,
                                      const std::string& prefix) {
  if (!transcoded.ok())
    return Status(transcoded.status().code(),
                  // Keys of the output are "media/<video>/<inside>": <inside> is shown.
                  owner_reason(transcoded.status(), input, shown, fs::path(prefix).parent_path().parent_path()));
  const auto& result = *transcoded;
  // The catalog keeps keys below media/ ("<video>/master.m3u8"), as it always has.
  auto below_media = [](const std::string& key) {
    constexpr std::string_view kMedia = "media/";
    return key.rfind(kMedia, 0) == 0 ? key.substr(kMedia.size()) : key;
  };
  catalog::ReadyInfo ready;
  ready.duration_seconds = result.duration_seconds;
  ready.renditions_json = renditions_json(result);
  ready.hls_master = below_media(result.hls_master);
  ready.dash_manifest = below_media(result.dash_manifest);
  ready.poster = below_media(result.poster);
  return ready;
}

transcode::ProgressCallback progress_of(const ProgressFn& progress) {
  if (!progress) return {};
  return [progress](const transcode::Progress& p) { progress(p.fraction, p.fps, p.speed); };
}

}  // namespace

Result<catalog::ReadyInfo> transcode_video(const std::string& input, const std::string& shown,
                                           storage::Storage& out, const std::string& prefix,
                                           const transcode::Options& options,
                                           const ProgressFn& progress, const CancelToken& cancel) {
  return ready_info(transcode::transcode(input, out, prefix, options, progress_of(progress), cancel),
                    input, shown, prefix);
}

Result<catalog::ReadyInfo> join_video(const std::string& input, const std::string& shown,
                                      storage::Storage& out, const std::string& staging,
                                      const std::string& prefix, const transcode::Options& options,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  return ready_info(transcode::join_parts(input, out, staging, prefix, options,
                                          progress_of(progress), cancel),
                    input, shown, prefix);
}

Status encode_video_part(const std::string& input, const std::string& shown, storage::Storage& out,
                         const std::string& staging, const transcode::Options& options, int part,
                         const ProgressFn& progress, const CancelToken& cancel) {
  auto s = transcode::encode_part(input, out, staging, options, part, progress_of(progress), cancel);
  if (s.ok()) return s;
  return Status(s.code(), owner_reason(s, input, shown, fs::path(staging).parent_path().parent_path()));
}

}  // namespace streamlet::platform::internal
