// The platform: the library's stores wired together the way streamlet-server
// runs them, so another program (a different HTTP stack, a desktop app) gets
// the same behaviour by embedding one object.
//
//   auto p = streamlet::platform::Platform::open({.data_dir = "data"}).value();
//   p->start();                       // workers, recovery of orphaned jobs
//   auto who = p->authenticate(request_authorization_header);
//   auto json = p->get_video(*who, id);   // the API's video document
//
// Data directory layout: catalog.db (catalog + job queue), uploads/ (tus
// store), media/<video_id>/ (published transcoder output), upload-links/
// (video -> upload id), secrets (token + URL signing keys, 0600).
//
// Answers that the HTTP API returns are JSON text in the shapes of
// docs/api.md; errors are Status values (kNotFound for what the caller may
// not see, kPermissionDenied for what it may see but not change, ...).
// Thread safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/accounts.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/events.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/origin.hpp"
#include "streamlet/status.hpp"
#include "streamlet/throttle.hpp"
#include "streamlet/transcode.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::platform {

struct PlatformOptions {
  std::filesystem::path data_dir;  // required
  // The admin's API key (the server's --api-key or its generated DATA/api-key). "" = none.
  std::string admin_api_key;
  int workers = 1;               // transcode worker threads
  transcode::Options transcode;  // ladder, preset, ...
  jobs::RetryPolicy retry;       // attempts and backoff of transcode jobs
  catalog::Visibility default_visibility = catalog::Visibility::kPublic;
  std::chrono::seconds playback_url_ttl = std::chrono::hours(6);  // signed URLs of private videos
  std::chrono::seconds session_ttl = std::chrono::hours(24);
  bool allow_registration = true;
  // Sign-ins are slowed down per client address and per account (see
  // throttle::LoginThrottle); registrations are limited per client address and hour
  // (0: no limit). Both need the caller's address, which login()/register_user() take.
  throttle::LoginThrottleOptions login_throttle;
  int registrations_per_hour = 10;
  // A viewer's beacons for one video count one view per this long (stored, so it holds
  // across restarts); beacons are accepted at most this often per client address and
  // minute (0: no limit).
  std::chrono::seconds view_interval = std::chrono::minutes(30);
  int beacons_per_minute = 60;
  uint64_t max_upload_size = 8ull << 30;
  size_t max_uploads = 1000;  // unfinished uploads of everyone: the last resort (503)
  // Per-user upload limits, answered kRateLimited (429 + Retry-After); admins have none.
  // 0 turns one off.
  size_t max_uploads_per_user = 20;  // unfinished uploads of one user at once
  // Bytes one user keeps in the upload store: the lengths of their unfinished uploads and
  // of finished ones (a video's source stays until the video is deleted). Transcoded
  // output is not counted. Default: no limit.
  uint64_t max_user_bytes = 0;
  int uploads_per_minute = 30;  // upload creations (tus POSTs, parts included) per user
  std::chrono::seconds upload_expiration = std::chrono::hours(24);
  bool durable_uploads = true;  // fsync before acknowledging upload bytes
  std::string cors_allow_origin = "*";
};

// Listing parameters of GET /v1/videos.
struct VideoListParams {
  std::string q;
  bool owner_me = false;
  std::optional<catalog::VideoStatus> status;
  int page = 1;       // >= 1
  int per_page = 20;  // 1..100
};

// Told once per video that reaches ready or failed, with the video document.
using VideoFinishedFn =
    std::function<void(const std::string& event, const std::string& video_json)>;

class Platform {
 public:
  // Opens (creating on first start) every store under options.data_dir. Videos left
  // "uploading" whose upload is gone are removed; one whose upload finished unnoticed (a
  // crash in between) is queued for its transcode. Stored state that is not as Streamlet
  // wrote it is refused with a message naming the file, never re-created: a secrets file
  // without both keys as strings of 16+ characters, an empty catalog.db in a used data dir,
  // a catalog from a newer version (kUnsupported), a file that is not a SQLite database.
  static Result<std::unique_ptr<Platform>> open(PlatformOptions options);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Creates the "admin" user with a random password when it does not exist
  // yet; returns that password (to print once), or "" if the admin existed.
  Result<std::string> ensure_admin();
  // Starts the workers, after putting back jobs whose process died (a job out of attempts
  // is failed instead: its video turns failed, the finished callback hears video.failed) and
  // removing the work directories such processes left in the media root.
  Status start();
  // Stops the workers; running jobs go back to the queue when requeue_running.
  void stop(bool requeue_running = true);
  bool ready() const;  // catalog open and workers running

  // Called from a worker thread when a video becomes ready or fails
  // ("video.ready" / "video.failed"). Set before start().
  void set_video_finished_callback(VideoFinishedFn fn);

  // ---- accounts -----------------------------------------------------------
  // The credential of an "Authorization" header value: "" is anonymous,
  // "Bearer <session token | API key>" a user; anything else kUnauthenticated.
  Result<accounts::Principal> authenticate(std::string_view authorization) const;
  bool registration_open() const;
  // {"user","token","expires_at"}. `client_address` is the caller's IP address (the
  // socket peer; "" when unknown, then only the per-account limits apply). Over a limit:
  // kRateLimited with the wait, before any password is looked at.
  Result<std::string> register_user(std::string_view username, std::string_view password,
                                    std::string_view client_address = {});
  Result<std::string> login(std::string_view username, std::string_view password,
                            std::string_view client_address = {});
  Result<std::string> me(const accounts::Principal& who);  // {"user"}
  // Ends the caller's session server-side: its token is refused from then on.
  // kInvalidArgument when the credential is an API key (revoke_api_key ends those).
  Status logout(const accounts::Principal& who);
  // Sets a new password after checking the current one (throttled like a login), and ends
  // every other session of the user; the caller's own session stays. kUnauthenticated
  // for a wrong current password, kInvalidArgument for a new one outside 8..1024 bytes.
  Status change_password(const accounts::Principal& who, std::string_view current,
                         std::string_view replacement, std::string_view client_address = {});
  Result<std::string> create_api_key(const accounts::Principal& who, std::string_view name);
  Result<std::string> list_api_keys(const accounts::Principal& who);
  Status revoke_api_key(const accounts::Principal& who, std::string_view key_id);

  // ---- videos ---------------------------------------------------------------
  Result<std::string> list_videos(const accounts::Principal& who, const VideoListParams& params);
  Result<std::string> get_video(const accounts::Principal& who, std::string_view id);
  Result<std::string> update_video(const accounts::Principal& who, std::string_view id,
                                   const catalog::VideoUpdate& update);
  // Cancels its job and removes every file of it (media, upload data).
  Status delete_video(const accounts::Principal& who, std::string_view id);
  // The video if `who` may view it (kNotFound otherwise).
  Result<catalog::Video> viewable_video(const accounts::Principal& who, std::string_view id);
  // A playback beacon. The viewer is the signed-in user, else the client's opaque `viewer`
  // id, else the client address; each counts one view per view_interval. Over the beacon
  // rate of `client_address` ("" = unknown: not limited): kRateLimited.
  Status record_view(const accounts::Principal& who, std::string_view id, std::string_view viewer,
                     double seconds, std::string_view client_address = {});
  Result<std::string> video_stats(const accounts::Principal& who, std::string_view id);
  // The API's video document (playback URLs signed when private).
  std::string video_json(const catalog::Video& video);

  // ---- jobs -------------------------------------------------------------------
  // {"items":[job], "next_cursor": "..." or null}: newest first, `limit` (1..1000) per page,
  // the page after `cursor` (a next_cursor handed out before; "" = the newest). A user sees
  // the jobs of their own videos, an admin every job.
  Result<std::string> list_jobs(const accounts::Principal& who, std::optional<jobs::JobState> state,
                                std::string_view cursor = {}, int limit = 100);
  Result<std::string> retry_job(const accounts::Principal& who, std::string_view id);
  Result<std::string> cancel_job(const accounts::Principal& who, std::string_view id);
  // Counts per job state (for metrics), in one query however many jobs there are.
  std::vector<std::pair<std::string, int64_t>> job_counts();

  // ---- uploads ----------------------------------------------------------------
  // The tus store. An upload it drops before the file is whole (idle expiry, terminate())
  // takes its still-uploading video with it, whoever called the store.
  upload::UploadStore& uploads();
  // Told of every finished upload (after the platform queued its transcode), with the video
  // id ("" for parts of a concatenation). For logs. Set before serving.
  void set_upload_observer(
      std::function<void(const upload::CompletedUpload&, const std::string& video_id)> fn);
  // Before a tus creation request reaches the store: checks credentials and
  // returns the Upload-Metadata value to pass on instead (with the uploader
  // and, for anything but a partial upload, a newly created video in
  // `video_id`, status uploading).
  struct Creation {
    std::string metadata_header;
    std::string video_id;  // "" for partial uploads
  };
  Result<Creation> begin_upload(const accounts::Principal& who, std::string_view metadata_header,
                                bool partial);
  // After the store answered the creation: links the video to its upload id,
  // or removes the video when the creation failed (upload_id "").
  void finish_upload_creation(const Creation& creation, std::string_view upload_id);
  // HEAD/PATCH/DELETE of an upload: only its uploader or an admin. A DELETE
  // (`terminating`) of a finished upload whose video is still queued or being
  // transcoded is kConflict: the file is the transcode's input, and deleting
  // the video is how to stop that. (An unfinished upload's DELETE takes its
  // video with it, through the store's removal callback.)
  Status check_upload_access(const accounts::Principal& who, std::string_view upload_id,
                             bool terminating = false);

  // ---- playback ------------------------------------------------------------------
  // /media/{id}/{path}: unknown ids 404; private videos need the signed query.
  origin::OriginResponse serve_media(std::string_view video_id, const origin::OriginRequest& req);

  events::EventBus& bus();
  catalog::Catalog& catalog();
  const std::filesystem::path& media_root() const;

 private:
  struct Impl;
  explicit Platform(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The JSON error body of the API: {"error": message, "code": snake_case code}.
std::string error_json(const Status& status);
std::string_view error_code_name(ErrorCode code);

}  // namespace streamlet::platform
