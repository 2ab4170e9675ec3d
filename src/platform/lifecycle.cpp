#include "platform/lifecycle.hpp"

namespace streamlet::platform::internal {

using catalog::VideoStatus;

Lifecycle::Lifecycle(std::shared_ptr<catalog::Catalog> catalog,
                     std::shared_ptr<events::EventBus> bus)
    : catalog_(std::move(catalog)), bus_(std::move(bus)) {}

void Lifecycle::publish(const std::string& video_id, VideoStatus status, std::string_view reason) {
  events::Event e;
  e.type = "status";
  e.video_id = video_id;
  e.state = std::string(catalog::to_string(status));
  e.message = std::string(reason);
  bus_->publish(std::move(e));
}

void Lifecycle::playable(const std::string& video_id) {
  events::Event e;
  e.type = "playable";
  e.video_id = video_id;
  e.state = std::string(catalog::to_string(VideoStatus::kProcessing));
  bus_->publish(std::move(e));
}

Result<catalog::Video> Lifecycle::set(std::string_view video_id, VideoStatus status,
                                      std::string_view reason) {
  if (video_id.empty()) return error(ErrorCode::kNotFound, "no video");
  STREAMLET_ASSIGN_OR_RETURN(auto v, catalog_->set_status(video_id, status, reason));
  publish(v.id, status, reason);
  return v;
}

Result<catalog::Video> Lifecycle::queued(std::string_view video_id, std::string_view reason) {
  return set(video_id, VideoStatus::kQueued, reason);
}

void Lifecycle::queued_with_job(const std::string& video_id) {
  publish(video_id, VideoStatus::kQueued, "");
}

Result<catalog::Video> Lifecycle::failed(std::string_view video_id, std::string_view reason) {
  return set(video_id, VideoStatus::kFailed, reason);
}

Result<catalog::Video> Lifecycle::ready(std::string_view video_id, const catalog::ReadyInfo& info) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, catalog_->set_ready(video_id, info));
  publish(v.id, VideoStatus::kReady, "");
  return v;
}

void Lifecycle::job_changed(const jobs::Job& job) {
  if (job.video_id.empty()) return;
  switch (job.state) {
    case jobs::JobState::kRunning:
      (void)set(job.video_id, VideoStatus::kProcessing, "");
      return;
    case jobs::JobState::kQueued:
      // Waiting for a retry (reason kept so the owner sees why) or requeued at shutdown.
      (void)set(job.video_id, VideoStatus::kQueued, job.last_error);
      return;
    case jobs::JobState::kFailed:
      (void)set(job.video_id, VideoStatus::kFailed, job.last_error);
      break;
    case jobs::JobState::kCancelled:
      (void)set(job.video_id, VideoStatus::kFailed, "transcode cancelled");
      break;
    case jobs::JobState::kSucceeded:
      break;  // the handler already stored the result through ready()
  }
  if (!finished_) return;
  auto v = catalog_->get_video(job.video_id);
  if (!v.ok()) return;
  if (job.state == jobs::JobState::kSucceeded && v->status == VideoStatus::kReady)
    finished_(true, *v);
  else if (job.state != jobs::JobState::kSucceeded)
    finished_(false, *v);
}

}  // namespace streamlet::platform::internal
