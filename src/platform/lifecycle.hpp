// The one owner of a video's status: every transition, the event that tells it, and the
// finished notification (ready / failed) go through here, so no other code sets a status.
//
//   uploading --upload complete--> queued --worker claims--> processing --> ready
//                                    ^                          |      \--> queued (retry)
//                                    +------- retry_job --------+       \-> failed
// Thread safe as the catalog and bus are.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "streamlet/catalog.hpp"
#include "streamlet/events.hpp"
#include "streamlet/jobs.hpp"

namespace streamlet::platform::internal {

class Lifecycle {
 public:
  // Told when a video's job ends it ready or failed, with the video as stored afterwards.
  using FinishedFn = std::function<void(bool ready, const catalog::Video& video)>;

  Lifecycle(std::shared_ptr<catalog::Catalog> catalog, std::shared_ptr<events::EventBus> bus);
  void set_finished(FinishedFn fn) { finished_ = std::move(fn); }

  // Each stores the status (with `reason`, shown to the owner) and publishes a "status"
  // event. An error (the video was deleted meanwhile) publishes nothing.
  Result<catalog::Video> queued(std::string_view video_id, std::string_view reason = {});
  Result<catalog::Video> failed(std::string_view video_id, std::string_view reason);
  // The video was set to queued together with its job (NewJob::mark_video_queued, one
  // transaction in the queue's database): only publishes the "status" event.
  void queued_with_job(const std::string& video_id);
  // The processing video's first segments and manifests are published (a progressive
  // transcode): publishes a "playable" event; the status stays processing.
  void playable(const std::string& video_id);
  // Stores what the transcode produced and marks the video ready.
  Result<catalog::Video> ready(std::string_view video_id, const catalog::ReadyInfo& info);

  // The worker pool moved the video's job into a state: the video follows it (processing
  // while running, queued with the reason while a retry waits, failed when dead-lettered or
  // cancelled; success was stored by ready()). A job that ended tells the finished callback.
  void job_changed(const jobs::Job& job);

 private:
  Result<catalog::Video> set(std::string_view video_id, catalog::VideoStatus status,
                             std::string_view reason);
  void publish(const std::string& video_id, catalog::VideoStatus status, std::string_view reason);

  std::shared_ptr<catalog::Catalog> catalog_;
  std::shared_ptr<events::EventBus> bus_;
  FinishedFn finished_;
};

}  // namespace streamlet::platform::internal
