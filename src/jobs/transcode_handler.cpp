#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "streamlet/jobs.hpp"

namespace streamlet::jobs {
namespace {

namespace fs = std::filesystem;

// Paths are stored relative to the media root so a data directory can move.
std::string relative_to(const fs::path& root, const std::string& path) {
  if (path.empty()) return {};
  std::error_code ec;
  fs::path rel = fs::relative(fs::path(path), root, ec);
  if (ec || rel.empty() || *rel.begin() == "..") return path;
  return rel.generic_string();
}

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

struct Context {
  TranscodeHandlerOptions options;

  void status(const std::string& video_id, catalog::VideoStatus s, const std::string& reason) {
    if (video_id.empty()) return;
    auto v = options.catalog->set_status(video_id, s, reason);
    if (!v.ok()) return;  // e.g. the video was deleted meanwhile: nothing to report
    publish(video_id, s, reason);
  }

  void publish(const std::string& video_id, catalog::VideoStatus s, const std::string& reason) {
    if (!options.bus) return;
    events::Event e;
    e.type = "status";
    e.video_id = video_id;
    e.state = std::string(catalog::to_string(s));
    e.message = reason;
    options.bus->publish(std::move(e));
  }

  Status run(const Job& job, const transcode::CancelToken& cancel, const ProgressFn& progress) {
    if (job.video_id.empty())
      return error(ErrorCode::kInvalidArgument, "transcode job without a video");
    auto payload = nlohmann::json::parse(job.payload, nullptr, false);
    if (!payload.is_object() || !payload.contains("input") || !payload["input"].is_string())
      return error(ErrorCode::kInvalidArgument, "transcode job payload needs {\"input\": path}");
    const std::string input = payload["input"].get<std::string>();
    // A video deleted while its job waited is not transcoded.
    STREAMLET_RETURN_IF_ERROR(options.catalog->get_video(job.video_id).status());

    const fs::path root = fs::absolute(options.media_root);
    const fs::path output = root / job.video_id;
    transcode::ProgressCallback on_progress;
    if (progress) on_progress = [&](const transcode::Progress& p) { progress(p.fraction, p.fps, p.speed); };
    auto transcoded = transcode::transcode(input, output.string(), options.transcode, on_progress, cancel);
    if (!transcoded.ok()) {
      const std::string shown = payload.value("display_name", std::string("the uploaded file"));
      return Status(transcoded.status().code(),
                    owner_reason(transcoded.status(), input, shown, root));
    }
    auto& result = *transcoded;

    catalog::ReadyInfo ready;
    ready.duration_seconds = result.duration_seconds;
    ready.renditions_json = renditions_json(result);
    ready.hls_master = relative_to(root, result.hls_master);
    ready.dash_manifest = relative_to(root, result.dash_manifest);
    ready.poster = relative_to(root, result.poster);
    STREAMLET_RETURN_IF_ERROR(options.catalog->set_ready(job.video_id, ready).status());
    publish(job.video_id, catalog::VideoStatus::kReady, "");
    if (options.remove_source_on_success) {
      std::error_code ec;
      fs::remove(input, ec);  // best effort: the video is already published
    }
    return Status::Ok();
  }

  void on_state_change(const Job& job) {
    switch (job.state) {
      case JobState::kRunning:
        status(job.video_id, catalog::VideoStatus::kProcessing, "");
        break;
      case JobState::kQueued:
        // Waiting for a retry (reason kept so the owner sees why) or requeued at shutdown.
        status(job.video_id, catalog::VideoStatus::kQueued, job.last_error);
        break;
      case JobState::kFailed:
        status(job.video_id, catalog::VideoStatus::kFailed, job.last_error);
        break;
      case JobState::kCancelled:
        status(job.video_id, catalog::VideoStatus::kFailed, "transcode cancelled");
        break;
      case JobState::kSucceeded:
        break;  // run() already stored the result and marked the video ready
    }
  }
};

}  // namespace

JobHandler make_transcode_handler(TranscodeHandlerOptions options) {
  auto ctx = std::make_shared<Context>(Context{std::move(options)});
  JobHandler h;
  if (!ctx->options.catalog || ctx->options.media_root.empty()) {
    h.run = [](const Job&, const transcode::CancelToken&, const ProgressFn&) {
      return error(ErrorCode::kInvalidArgument,
                   "transcode handler needs a catalog and a media root");
    };
    return h;
  }
  h.run = [ctx](const Job& job, const transcode::CancelToken& cancel, const ProgressFn& progress) {
    return ctx->run(job, cancel, progress);
  };
  h.on_state_change = [ctx](const Job& job) { ctx->on_state_change(job); };
  return h;
}

}  // namespace streamlet::jobs
