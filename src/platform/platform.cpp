#include "streamlet/platform.hpp"
#include "core/time_format.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "core/crypto.hpp"
#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/throttle.hpp"

namespace streamlet::platform {

namespace fs = std::filesystem;
using json = nlohmann::json;
using accounts::Principal;

namespace {

// How an upload is named to its owner: the client's file name (never a path), or a phrase.
std::string display_name(const upload::UploadInfo& info) {
  auto f = info.metadata.find("filename");
  if (f == info.metadata.end() || f->second.empty()) return "the uploaded file";
  std::string name = std::filesystem::path(f->second).filename().string();
  return name.empty() ? "the uploaded file" : name;
}

// Upload-Metadata keys the server writes itself; a client's own values are dropped.
constexpr const char* kMetaOwner = "streamlet_owner";
constexpr const char* kMetaVideo = "streamlet_video";

std::string rfc3339(int64_t ms) {
  return streamlet::detail::rfc3339(ms / 1000);
}

json user_doc(const catalog::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"role", std::string(catalog::to_string(u.role))},
          {"created_at", rfc3339(u.created_at_ms)}};
}

json job_doc(const jobs::Job& j) {
  return {{"id", j.id},
          {"video_id", j.video_id},
          {"kind", j.kind},
          // The API says "done" where the queue says "succeeded".
          {"state", j.state == jobs::JobState::kSucceeded ? std::string("done")
                                                          : std::string(jobs::to_string(j.state))},
          {"attempts", j.attempts},
          {"max_attempts", j.max_attempts},
          {"last_error", j.last_error},
          {"created_at", rfc3339(j.created_at_ms)},
          {"updated_at", rfc3339(j.updated_at_ms)}};
}

struct Secrets {
  std::string token_secret;  // signs session tokens
  std::string signing_key;   // signs playback URLs of private videos
};

constexpr size_t kMinSecretBytes = 16;

// Written once with owner-only permissions, then only read. A file that is there but not as
// we wrote it is refused, never replaced: new keys would sign every user out and break every
// signed URL handed out, and a key that is not a string (or is empty) cannot be used at all.
Result<Secrets> load_or_create_secrets(const fs::path& file) {
  const std::string remedy =
      "; restore it from a backup, or remove it to generate new keys (this signs every user "
      "out and invalidates signed playback URLs)";
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    if (!in) return error(ErrorCode::kIo, file.string() + ": cannot read it" + remedy);
    auto j = json::parse(in, nullptr, false);
    if (!j.is_object())
      return error(ErrorCode::kInvalidArgument, file.string() + ": not a JSON object" + remedy);
    Secrets out;
    for (auto [name, field] : {std::pair{"token_secret", &out.token_secret},
                               std::pair{"signing_key", &out.signing_key}}) {
      std::string problem;
      if (!j.contains(name))
        problem = std::string(name) + " is missing";
      else if (!j[name].is_string())
        problem = std::string(name) + " must be a string, not " + j[name].type_name();
      else if (j[name].get_ref<const std::string&>().empty())
        problem = std::string(name) + " is empty";
      else if (j[name].get_ref<const std::string&>().size() < kMinSecretBytes)
        problem = std::string(name) + " is shorter than " + std::to_string(kMinSecretBytes) +
                  " characters";
      if (!problem.empty())
        return error(ErrorCode::kInvalidArgument, file.string() + ": " + problem + remedy);
      *field = j[name].get<std::string>();
    }
    return out;
  }
  Secrets out{accounts::generate_secret(), accounts::generate_secret()};
  json j = {{"token_secret", out.token_secret}, {"signing_key", out.signing_key}};
  const std::string text = detail::json_text(j) + "\n";
  fs::path tmp = file;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::kIo, "cannot write " + tmp.string());
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0)
    return error(ErrorCode::kIo, "cannot write " + file.string());
  (void)detail::fsync_path(file.parent_path());
  return out;
}

// SQLite takes a zero-length file for a new, empty database. That is right only for a data
// directory that was never used (a first start that died before the catalog was written);
// anywhere else the catalog was truncated or lost, and opening it would silently start over
// with no users and no videos. The evidence of use: the secrets (written after the catalog on
// a first start), anything under media/ or uploads/, or a write-ahead log with content.
Status check_catalog_file(const fs::path& data, const fs::path& db) {
  std::error_code ec;
  if (!fs::exists(db, ec) || fs::file_size(db, ec) != 0 || ec) return Status::Ok();
  auto has_entries = [](const fs::path& dir) {
    std::error_code e;
    return fs::is_directory(dir, e) && !fs::is_empty(dir, e);
  };
  fs::path wal = db;
  wal += "-wal";
  const bool used = fs::exists(data / "secrets", ec) || has_entries(data / "media") ||
                    has_entries(data / "uploads") ||
                    (fs::exists(wal, ec) && fs::file_size(wal, ec) > 0);
  if (!used) return Status::Ok();
  return error(ErrorCode::kInvalidArgument,
               db.string() +
                   " is empty (0 bytes) but this data directory has been used (secrets, media "
                   "or uploads are there): starting would lose every user and video. Restore "
                   "the file from a backup; to start over, remove the whole data directory");
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kInvalidMedia:
      return "invalid_media";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kGone:
      return "gone";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kChecksumMismatch:
      return "checksum_mismatch";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kIo:
      return "io_error";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

std::string error_json(const Status& status) {
  // Messages may quote what a client sent (an unknown status, a job id): never a reason to fail.
  return detail::json_text(
      json{{"error", status.message()}, {"code", std::string(error_code_name(status.code()))}});
}

struct Platform::Impl {
  PlatformOptions options;
  fs::path media_root;
  fs::path links_dir;
  std::shared_ptr<catalog::Catalog> catalog;
  std::shared_ptr<jobs::JobQueue> queue;
  std::shared_ptr<events::EventBus> bus = std::make_shared<events::EventBus>();
  std::unique_ptr<accounts::AccountService> accounts;
  std::unique_ptr<origin::Origin> origin;
  // What the origin reads media through (local storage on the data directory) until the
  // platform is built from injected stores.
  std::shared_ptr<storage::Storage> media_store;
  std::unique_ptr<upload::UploadStore> store;
  std::unique_ptr<jobs::WorkerPool> pool;
  std::atomic<bool> running{false};
  std::string admin_id;
  VideoFinishedFn finished;
  std::function<void(const upload::CompletedUpload&, const std::string&)> upload_observer;
  std::unique_ptr<throttle::RateLimiter> upload_rate;        // creations per user
  std::unique_ptr<throttle::RateLimiter> registration_rate;  // per client address
  std::unique_ptr<throttle::LoginThrottle> logins;
  std::unique_ptr<throttle::RateLimiter> beacon_rate;  // per client address

  // Access policies of recently played videos, so a player's stream of segment requests does
  // not take the catalog's single-connection lock each time. Entries live one second;
  // update_video/delete_video drop theirs at once, so visibility changes apply immediately.
  struct CachedPolicy {
    bool exists = false;
    origin::AccessPolicy policy;
    int64_t at_ms = 0;
  };
  std::shared_mutex policy_mu;
  std::unordered_map<std::string, CachedPolicy> policies;

  void forget_policy(const std::string& id) {
    std::unique_lock lock(policy_mu);
    policies.erase(id);
  }

  CachedPolicy policy_of(std::string_view video_id) {
    const int64_t now = detail::now_ms();
    const std::string id(video_id);
    {
      std::shared_lock lock(policy_mu);
      auto it = policies.find(id);
      if (it != policies.end() && now - it->second.at_ms < 1000) return it->second;
    }
    CachedPolicy c;
    c.at_ms = now;
    auto v = catalog->get_video(id);
    if (v.ok()) {
      c.exists = true;
      c.policy.is_private = v->visibility == catalog::Visibility::kPrivate;
      c.policy.ready = v->status == catalog::VideoStatus::kReady;
    }
    std::unique_lock lock(policy_mu);
    if (policies.size() > 10000) policies.clear();  // bounded
    policies[id] = c;
    return c;
  }

  Result<std::string> admin_user_id() {
    if (!admin_id.empty()) return admin_id;
    STREAMLET_ASSIGN_OR_RETURN(auto u, catalog->find_user_by_name("admin"));
    return u.id;
  }

  std::string signed_suffix(const catalog::Video& v) {
    if (v.visibility != catalog::Visibility::kPrivate) return "";
    const int64_t exp = origin->now() + options.playback_url_ttl.count();
    auto q = origin->sign(v.id, exp);
    return q.ok() ? "?" + *q : "";
  }

  json video_doc(const catalog::Video& v) {
    json owner = {{"id", v.owner_id}, {"username", nullptr}};
    if (auto u = catalog->get_user(v.owner_id); u.ok()) owner["username"] = u->username;
    json renditions = json::array();
    auto tracks = json::parse(v.renditions_json, nullptr, false);
    if (tracks.is_array()) {
      for (const auto& t : tracks) {
        if (t.value("type", "video") != "video") continue;
        renditions.push_back({{"id", t.value("id", "")},
                              {"width", t.value("width", 0)},
                              {"height", t.value("height", 0)},
                              {"bitrate", t.value("target_bitrate", int64_t(0))}});
      }
    }
    const bool ready = v.status == catalog::VideoStatus::kReady;
    const std::string sig = ready ? signed_suffix(v) : "";
    const std::string base = "/media/" + v.id + "/";
    json doc = {{"id", v.id},
                {"title", v.title},
                {"description", v.description},
                {"visibility", std::string(catalog::to_string(v.visibility))},
                {"status", std::string(catalog::to_string(v.status))},
                {"status_reason", v.status_reason},
                {"owner", owner},
                {"duration_seconds", v.duration_seconds},
                {"renditions", renditions},
                {"views", v.view_count},
                {"created_at", rfc3339(v.created_at_ms)},
                {"updated_at", rfc3339(v.updated_at_ms)},
                {"poster", nullptr},
                {"storyboard", nullptr},
                {"page", "/watch/" + v.id}};
    if (ready) {
      // Paths in the catalog are relative to the media root: "<id>/master.m3u8".
      json playback = json::object();
      if (!v.hls_master.empty()) playback["hls"] = "/media/" + v.hls_master + sig;
      if (!v.dash_manifest.empty()) playback["dash"] = "/media/" + v.dash_manifest + sig;
      doc["playback"] = playback;
      if (!v.poster.empty()) doc["poster"] = "/media/" + v.poster + sig;
      std::error_code ec;
      if (fs::is_regular_file(media_root / v.id / "storyboard.vtt", ec))
        doc["storyboard"] = base + "storyboard.vtt" + sig;
    }
    return doc;
  }

  // Every job of a video that may still run, however old.
  void cancel_jobs_of(const std::string& video_id) {
    jobs::JobFilter filter;
    filter.video_id = video_id;
    filter.limit = jobs::kMaxJobPageSize;
    std::string cursor;
    do {
      auto page = queue->list(filter, cursor);
      if (!page.ok()) return;
      for (const auto& j : page->jobs)
        if (j.state == jobs::JobState::kQueued || j.state == jobs::JobState::kRunning)
          (void)queue->cancel(j.id);
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }

  // The upload a video was created for ("" if its creation never finished).
  std::string upload_of(const std::string& video_id) {
    std::string upload_id;
    if (std::ifstream in(links_dir / video_id); in) std::getline(in, upload_id);
    return upload_id;
  }

  void remove_files_of(const std::string& video_id) {
    std::error_code ec;
    fs::remove_all(media_root / video_id, ec);
    const std::string upload_id = upload_of(video_id);
    if (!upload_id.empty()) (void)store->terminate(upload_id);
    fs::remove(links_dir / video_id, ec);
  }

  // Removes a video that is still waiting for its file: without one it can never play, and
  // it would sit in its owner's library as "uploading" for good. Any other video is left alone.
  void discard_unfinished(const std::string& video_id) {
    auto v = catalog->get_video(video_id);
    if (!v.ok() || v->status != catalog::VideoStatus::kUploading) return;
    if (!catalog->delete_video(video_id).ok()) return;
    forget_policy(video_id);
    remove_files_of(video_id);
  }

  // The store dropped an upload before it finished (idle expiry, or its uploader ended it).
  // A finished one that is terminated leaves its video to the transcode (the status check).
  void on_upload_removed(const upload::UploadInfo& info) {
    auto it = info.metadata.find(kMetaVideo);
    if (it != info.metadata.end()) discard_unfinished(it->second);
  }

  // Run by open(), before anything is served, so no creation is half done. Videos still
  // "uploading" whose upload is gone (expired while the platform was down, or removed by a
  // version that left its video behind) are removed; one whose upload finished without the
  // platform hearing of it (a crash in between) gets the transcode it missed.
  Status settle_uploading_videos() {
    (void)store->expire_idle();  // each one goes through on_upload_removed
    catalog::VideoQuery q;
    q.status = catalog::VideoStatus::kUploading;
    q.limit = 100;
    std::vector<catalog::Video> waiting;  // all first: removing while paging would skip some
    for (q.offset = 0;; q.offset += q.limit) {
      STREAMLET_ASSIGN_OR_RETURN(auto page, catalog->list_videos(q));
      waiting.insert(waiting.end(), page.items.begin(), page.items.end());
      if (int(page.items.size()) < q.limit) break;
    }
    for (const auto& v : waiting) {
      auto info = store->info(upload_of(v.id));  // no link: its creation never finished
      if (!info.ok()) {
        discard_unfinished(v.id);
      } else if (info->complete()) {
        if (auto key = store->data_key(info->id); key.ok())
          on_upload_complete(upload::CompletedUpload{*info, *key});
      }
    }
    return Status::Ok();
  }

  void publish_status(const std::string& video_id, catalog::VideoStatus s,
                      const std::string& reason) {
    events::Event e;
    e.type = "status";
    e.video_id = video_id;
    e.state = std::string(catalog::to_string(s));
    e.message = reason;
    bus->publish(std::move(e));
  }

  void on_upload_complete(const upload::CompletedUpload& done) {
    auto it = done.info.metadata.find(kMetaVideo);
    const std::string video_id = it == done.info.metadata.end() ? "" : it->second;
    queue_transcode(done, video_id);
    if (upload_observer) upload_observer(done, video_id);
  }

  void queue_transcode(const upload::CompletedUpload& done, const std::string& video_id) {
    if (video_id.empty()) return;  // a partial upload: its final one carries the video
    auto v = catalog->set_status(video_id, catalog::VideoStatus::kQueued, "");
    if (!v.ok()) {  // deleted while uploading
      (void)store->terminate(done.info.id);
      return;
    }
    publish_status(video_id, catalog::VideoStatus::kQueued, "");
    jobs::NewJob job;
    job.kind = "transcode";
    job.video_id = video_id;
    job.owner_id = v->owner_id;
    // The local store hands out its own file (no copy, nothing in the scratch directory).
    auto input = store->options().storage->local_file(done.key, fs::temp_directory_path());
    if (!input.ok()) {
      (void)catalog->set_status(video_id, catalog::VideoStatus::kFailed,
                                "the upload's file is gone: " + input.status().message());
      return;
    }
    job.payload = detail::json_text(json{{"input", fs::absolute(input->path).string()},
                                         {"upload_id", done.info.id},
                                         {"display_name", display_name(done.info)}});
    auto queued = queue->enqueue(job);
    if (!queued.ok()) {
      (void)catalog->set_status(video_id, catalog::VideoStatus::kFailed,
                                "could not queue the transcode: " + queued.status().message());
      return;
    }
    if (pool) pool->wake();
  }

  // A video's job finished: tell webhooks; clean up output of a video deleted meanwhile.
  void on_job_finished(const jobs::Job& job) {
    if (job.video_id.empty()) return;
    auto v = catalog->get_video(job.video_id);
    if (!v.ok()) {
      std::error_code ec;
      fs::remove_all(media_root / job.video_id, ec);
      return;
    }
    if (!finished) return;
    if (job.state == jobs::JobState::kSucceeded && v->status == catalog::VideoStatus::kReady)
      finished("video.ready", detail::json_text(video_doc(*v)));
    else if (job.state == jobs::JobState::kFailed || job.state == jobs::JobState::kCancelled)
      finished("video.failed", detail::json_text(video_doc(*v)));
  }

  // The job's video, if `who` may act on it. To anyone else the job does not exist: the answer
  // is word for word the one an unknown id gets, naming nothing but the id asked for.
  Result<catalog::Video> video_for_job(const Principal& who, const jobs::Job& job,
                                       accounts::Action action) {
    auto v = catalog->get_video(job.video_id);
    if (!v.ok()) {
      if (who.admin()) return catalog::Video{};
      return no_such_job(job.id);
    }
    if (!accounts::check(who, action, *v).ok()) return no_such_job(job.id);
    return v;
  }

  // The job `id`, or the not-found answer every caller gets for an id that is not theirs.
  Result<jobs::Job> job_of(std::string_view id) {
    auto job = queue->get(id);
    if (!job.ok() && job.status().code() == ErrorCode::kNotFound) return no_such_job(id);
    return job;
  }

  static Status no_such_job(std::string_view id) {
    return error(ErrorCode::kNotFound, "no job '" + std::string(id) + "'");
  }
};

Platform::Platform(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Platform::~Platform() {
  stop(true);
}

Result<std::unique_ptr<Platform>> Platform::open(PlatformOptions options) {
  if (options.data_dir.empty()) return error(ErrorCode::kInvalidArgument, "no data directory");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::error_code ec;
  const fs::path data = fs::absolute(options.data_dir);
  impl->media_root = data / "media";
  impl->links_dir = data / "upload-links";
  for (const auto& dir : {data, impl->media_root, impl->links_dir}) {
    fs::create_directories(dir, ec);
    if (ec) return error(ErrorCode::kIo, dir.string() + ": " + ec.message());
  }
  STREAMLET_ASSIGN_OR_RETURN(impl->media_store, storage::open_local({.root = data}));
  // The catalog first: the secrets' presence is what tells a used data directory from a new
  // one (check_catalog_file), so they are only written once the catalog is.
  const fs::path db_path = data / "catalog.db";
  STREAMLET_RETURN_IF_ERROR(check_catalog_file(data, db_path));
  const std::string db = db_path.string();
  STREAMLET_ASSIGN_OR_RETURN(auto cat, catalog::open_sqlite_catalog(db));
  impl->catalog = std::move(cat);
  jobs::QueueOptions qopts;
  qopts.retry = options.retry;
  STREAMLET_ASSIGN_OR_RETURN(auto queue, jobs::open_sqlite_job_queue(db, qopts));
  impl->queue = std::move(queue);
  STREAMLET_ASSIGN_OR_RETURN(Secrets secrets, load_or_create_secrets(data / "secrets"));

  impl->accounts = std::make_unique<accounts::AccountService>(
      impl->catalog, accounts::TokenSigner(secrets.token_secret, options.session_ttl));
  origin::OriginOptions oopts;
  oopts.signing_key = secrets.signing_key;
  oopts.cors_allow_origin = options.cors_allow_origin;
  impl->origin = std::make_unique<origin::Origin>(oopts);

  upload::StoreOptions sopts;
  sopts.dir = data / "uploads";
  sopts.max_upload_size = options.max_upload_size;
  sopts.max_concurrent_uploads = options.max_uploads;
  sopts.expiration = options.upload_expiration;
  sopts.durable = options.durable_uploads;
  Impl* raw = impl.get();
  // Uploads belong to their uploader (the owner the platform writes into their metadata):
  // per-user limits, and no concatenating someone else's parts.
  sopts.owner_key = kMetaOwner;
  sopts.owner_limits = [raw](std::string_view owner) {
    auto u = raw->catalog->get_user(owner);
    if (u.ok() && u->role == catalog::Role::kAdmin) return upload::OwnerLimits{};
    return upload::OwnerLimits{raw->options.max_uploads_per_user, raw->options.max_user_bytes};
  };
  impl->upload_rate =
      std::make_unique<throttle::RateLimiter>(options.uploads_per_minute, std::chrono::minutes(1));
  impl->registration_rate = std::make_unique<throttle::RateLimiter>(options.registrations_per_hour,
                                                                    std::chrono::hours(1));
  impl->logins = std::make_unique<throttle::LoginThrottle>(options.login_throttle);
  impl->beacon_rate =
      std::make_unique<throttle::RateLimiter>(options.beacons_per_minute, std::chrono::minutes(1));
  STREAMLET_ASSIGN_OR_RETURN(impl->store, upload::UploadStore::open(sopts));
  impl->store->set_completion_callback(
      [raw](const upload::CompletedUpload& done) { raw->on_upload_complete(done); });
  impl->store->set_removal_callback([raw](const upload::UploadInfo& info, upload::RemovalReason) {
    raw->on_upload_removed(info);
  });

  jobs::TranscodeHandlerOptions topts;
  topts.catalog = impl->catalog;
  topts.bus = impl->bus;
  topts.media_root = impl->media_root.string();
  topts.transcode = options.transcode;
  jobs::JobHandler handler = jobs::make_transcode_handler(topts);
  auto inner = handler.on_state_change;
  handler.on_state_change = [raw, inner](const jobs::Job& job) {
    if (inner) inner(job);
    if (job.state == jobs::JobState::kSucceeded || job.state == jobs::JobState::kFailed ||
        job.state == jobs::JobState::kCancelled)
      raw->on_job_finished(job);
  };
  jobs::WorkerPoolOptions popts;
  popts.workers = std::max(1, options.workers);
  popts.kinds = {"transcode"};
  impl->pool =
      std::make_unique<jobs::WorkerPool>(impl->queue, std::move(handler), popts, impl->bus);
  STREAMLET_RETURN_IF_ERROR(impl->settle_uploading_videos());
  return std::unique_ptr<Platform>(new Platform(std::move(impl)));
}

Result<std::string> Platform::ensure_admin() {
  auto existing = impl_->catalog->find_user_by_name("admin");
  if (existing.ok()) {
    impl_->admin_id = existing->id;
    return std::string();
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  const std::string password = detail::random_id(20);
  STREAMLET_ASSIGN_OR_RETURN(
      auto user, impl_->accounts->register_user("admin", password, "", catalog::Role::kAdmin));
  impl_->admin_id = user.id;
  return password;
}

Status Platform::start() {
  // What transcodes killed with their process (a crash, kill -9) left half written: no job
  // resumes it (the next attempt starts over), and a dead-lettered job has no next attempt.
  (void)transcode::remove_abandoned_work_dirs(impl_->media_root.string());
  STREAMLET_RETURN_IF_ERROR(impl_->pool->start());
  impl_->running = true;
  return Status::Ok();
}

void Platform::stop(bool requeue_running) {
  impl_->running = false;
  if (impl_->pool) impl_->pool->stop(requeue_running);
}

bool Platform::ready() const {
  return impl_->running && impl_->catalog != nullptr;
}

void Platform::set_video_finished_callback(VideoFinishedFn fn) {
  impl_->finished = std::move(fn);
}

// ---- accounts ---------------------------------------------------------------------------

Result<Principal> Platform::authenticate(std::string_view authorization) const {
  if (authorization.empty()) return Principal{};
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer)
    return error(ErrorCode::kUnauthenticated, "use Authorization: Bearer <token or API key>");
  std::string_view credential = authorization.substr(kBearer.size());
  if (!impl_->options.admin_api_key.empty() &&
      detail::constant_time_equal(credential, impl_->options.admin_api_key)) {
    STREAMLET_ASSIGN_OR_RETURN(auto id, impl_->admin_user_id());
    return Principal{id, catalog::Role::kAdmin, {}};
  }
  return impl_->accounts->authenticate(credential);
}

bool Platform::registration_open() const {
  return impl_->options.allow_registration;
}

namespace {
// The account a sign-in names, as the throttle counts it: usernames compare
// case-insensitively, and a hostile name cannot make a key of any length.
std::string account_key(std::string_view username) {
  std::string k(username.substr(0, 64));
  for (auto& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
  return k;
}
}  // namespace

Result<std::string> Platform::register_user(std::string_view username, std::string_view password,
                                            std::string_view client_address) {
  if (!impl_->options.allow_registration)
    return error(ErrorCode::kPermissionDenied, "registration is closed on this server");
  STREAMLET_RETURN_IF_ERROR(catalog::check_username(username));
  if (password.size() < 8)
    return error(ErrorCode::kInvalidArgument, "password: at least 8 characters");
  if (!client_address.empty()) {
    auto wait = impl_->registration_rate->acquire(throttle::address_key(client_address));
    if (wait.count() > 0)
      return rate_limited("too many new accounts from your address; try again in " +
                              std::to_string(wait.count()) + " s",
                          wait);
  }
  STREAMLET_ASSIGN_OR_RETURN(auto user, impl_->accounts->register_user(username, password));
  STREAMLET_ASSIGN_OR_RETURN(auto s, impl_->accounts->start_session(user));
  return detail::json_text(json{{"user", user_doc(s.user)},
                                {"token", s.token},
                                {"expires_at", rfc3339(s.expires_at * 1000)}});
}

Result<std::string> Platform::login(std::string_view username, std::string_view password,
                                    std::string_view client_address) {
  const std::string address =
      client_address.empty() ? std::string() : throttle::address_key(client_address);
  const std::string account = account_key(username);
  if (auto wait = impl_->logins->begin(address, account); wait.count() > 0)
    return rate_limited(
        "too many failed sign-ins; try again in " + std::to_string(wait.count()) + " s", wait);
  STREAMLET_ASSIGN_OR_RETURN(auto s, impl_->accounts->login(username, password));
  impl_->logins->succeeded(address, account);
  return detail::json_text(json{{"user", user_doc(s.user)},
                                {"token", s.token},
                                {"expires_at", rfc3339(s.expires_at * 1000)}});
}

namespace {
Status need_user(const Principal& who) {
  if (!who.authenticated()) return error(ErrorCode::kUnauthenticated, "sign in first");
  return Status::Ok();
}
}  // namespace

Result<std::string> Platform::me(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto u, impl_->catalog->get_user(who.user_id));
  return detail::json_text(json{{"user", user_doc(u)}});
}

Status Platform::logout(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (who.session_id.empty())
    return error(ErrorCode::kInvalidArgument,
                 "this credential is an API key, not a session: revoke it with "
                 "DELETE /v1/auth/api-keys/{id}");
  return impl_->accounts->logout(who.session_id);
}

Status Platform::change_password(const Principal& who, std::string_view current,
                                 std::string_view replacement, std::string_view client_address) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (replacement.size() < 8 || replacement.size() > 1024)
    return error(ErrorCode::kInvalidArgument, "new_password: 8 to 1024 bytes");
  STREAMLET_ASSIGN_OR_RETURN(auto user, impl_->catalog->get_user(who.user_id));
  // Whoever holds a session can try current passwords here: the same throttle as sign-ins.
  const std::string address =
      client_address.empty() ? std::string() : throttle::address_key(client_address);
  const std::string account = account_key(user.username);
  if (auto wait = impl_->logins->begin(address, account); wait.count() > 0)
    return rate_limited(
        "too many wrong passwords; try again in " + std::to_string(wait.count()) + " s", wait);
  STREAMLET_RETURN_IF_ERROR(
      impl_->accounts->change_password(user.id, current, replacement, who.session_id));
  impl_->logins->succeeded(address, account);
  return Status::Ok();
}

Result<std::string> Platform::create_api_key(const Principal& who, std::string_view name) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto k, impl_->catalog->create_api_key(who.user_id, name));
  return detail::json_text(json{{"id", k.info.id},
                                {"key", k.key},
                                {"name", k.info.name},
                                {"created_at", rfc3339(k.info.created_at_ms)}});
}

Result<std::string> Platform::list_api_keys(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto keys, impl_->catalog->list_api_keys(who.user_id));
  json items = json::array();
  for (const auto& k : keys)
    items.push_back({{"id", k.id}, {"name", k.name}, {"created_at", rfc3339(k.created_at_ms)}});
  return detail::json_text(json{{"items", items}});
}

Status Platform::revoke_api_key(const Principal& who, std::string_view key_id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->catalog->revoke_api_key(who.user_id, key_id);
}

// ---- videos -----------------------------------------------------------------------------

std::string Platform::video_json(const catalog::Video& video) {
  return detail::json_text(impl_->video_doc(video));
}

Result<std::string> Platform::list_videos(const Principal& who, const VideoListParams& p) {
  if (p.page < 1) return error(ErrorCode::kInvalidArgument, "page must be >= 1");
  if (p.per_page < 1 || p.per_page > 100)
    return error(ErrorCode::kInvalidArgument, "per_page must be 1..100");
  if (p.owner_me) STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_RETURN_IF_ERROR(detail::check_text("q", p.q, detail::TextKind::kLine));
  // In 64 bits: page 2^31-1 of 100 is no overflow, just far past the end of any catalog, so
  // the offset is clamped and the page comes back empty (with the real total).
  const int64_t wanted = (int64_t(p.page) - 1) * p.per_page;
  const int offset = int(std::min<int64_t>(wanted, std::numeric_limits<int>::max()));

  auto page_doc = [&](const std::vector<catalog::Video>& items, int64_t total) {
    json arr = json::array();
    for (const auto& v : items) arr.push_back(impl_->video_doc(v));
    return detail::json_text(
        json{{"items", arr}, {"page", p.page}, {"per_page", p.per_page}, {"total", total}});
  };
  catalog::VideoQuery q;
  q.text = p.q;
  q.status = p.status;
  if (who.admin() || p.owner_me) {
    if (p.owner_me) q.owner_id = who.user_id;
    q.limit = p.per_page;
    q.offset = offset;
    STREAMLET_ASSIGN_OR_RETURN(auto page, impl_->catalog->list_videos(q));
    return page_doc(page.items, page.total);
  }
  // Everyone sees public ready videos; a signed-in user also all of their own.
  q.visible_to = who.authenticated() ? who.user_id : std::string();
  q.limit = p.per_page;
  q.offset = offset;
  STREAMLET_ASSIGN_OR_RETURN(auto page, impl_->catalog->list_videos(q));
  return page_doc(page.items, page.total);
}

Result<catalog::Video> Platform::viewable_video(const Principal& who, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, impl_->catalog->get_video(id));
  auto s = accounts::check(who, accounts::Action::kView, v);
  // A video one may not view does not exist as far as the caller can tell.
  if (!s.ok()) return error(ErrorCode::kNotFound, "no such video");
  return v;
}

namespace {
// Not found when the caller may not see the video; otherwise the check's own answer.
Result<catalog::Video> video_for(catalog::Catalog& cat, const Principal& who, std::string_view id,
                                 accounts::Action action) {
  auto v = cat.get_video(id);
  if (!v.ok()) return v.status();
  if (!accounts::authorize(who, accounts::Action::kView, *v))
    return error(ErrorCode::kNotFound, "no such video");
  STREAMLET_RETURN_IF_ERROR(accounts::check(who, action, *v));
  return v;
}
}  // namespace

Result<std::string> Platform::get_video(const Principal& who, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable_video(who, id));
  return detail::json_text(impl_->video_doc(v));
}

Result<std::string> Platform::update_video(const Principal& who, std::string_view id,
                                           const catalog::VideoUpdate& update) {
  STREAMLET_RETURN_IF_ERROR(
      video_for(*impl_->catalog, who, id, accounts::Action::kModify).status());
  if (update.title && update.title->size() > 200)
    return error(ErrorCode::kInvalidArgument, "title: at most 200 characters");
  if (update.description && update.description->size() > 5000)
    return error(ErrorCode::kInvalidArgument, "description: at most 5000 characters");
  STREAMLET_ASSIGN_OR_RETURN(auto v, impl_->catalog->update_video(id, update));
  impl_->forget_policy(v.id);
  return detail::json_text(impl_->video_doc(v));
}

Status Platform::delete_video(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(
      video_for(*impl_->catalog, who, id, accounts::Action::kDelete).status());
  const std::string vid(id);
  impl_->cancel_jobs_of(vid);
  STREAMLET_RETURN_IF_ERROR(impl_->catalog->delete_video(vid));
  impl_->forget_policy(vid);
  // A job that still finishes after this finds no video and removes its output (on_job_finished).
  impl_->remove_files_of(vid);
  return Status::Ok();
}

Status Platform::record_view(const Principal& who, std::string_view id, std::string_view viewer,
                             double seconds, std::string_view client_address) {
  const std::string address =
      client_address.empty() ? std::string() : throttle::address_key(client_address);
  if (!address.empty()) {
    // One address minting a new viewer id per beacon would count a view each time.
    if (auto wait = impl_->beacon_rate->acquire(address); wait.count() > 0)
      return rate_limited("too many view beacons from your address", wait);
  }
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable_video(who, id));
  if (!(seconds >= 0) || seconds > 24 * 3600)
    return error(ErrorCode::kInvalidArgument, "seconds must be 0..86400");
  if (viewer.size() > 128) return error(ErrorCode::kInvalidArgument, "viewer: at most 128 bytes");
  std::string key = who.authenticated() ? "user:" + who.user_id
                    : !viewer.empty()   ? "viewer:" + std::string(viewer)
                    : !address.empty()  ? "address:" + address
                                        : "anonymous";
  catalog::ViewBeacon b;
  b.video_id = v.id;
  b.viewer_key = key;
  b.seconds_watched = seconds;
  // The catalog remembers when it last counted each viewer, across restarts.
  b.view_interval_seconds = std::max<int64_t>(1, impl_->options.view_interval.count());
  return impl_->catalog->record_view(b);
}

Result<std::string> Platform::video_stats(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(
      video_for(*impl_->catalog, who, id, accounts::Action::kModify).status());
  STREAMLET_ASSIGN_OR_RETURN(auto s, impl_->catalog->view_stats(id));
  json days = json::array();
  for (const auto& d : s.days) days.push_back({{"day", d.day}, {"viewers", d.unique_viewers}});
  return detail::json_text(
      json{{"views", s.views}, {"watch_seconds", s.watch_seconds}, {"unique_viewers", days}});
}

// ---- jobs -------------------------------------------------------------------------------

Result<std::string> Platform::list_jobs(const Principal& who, std::optional<jobs::JobState> state,
                                        std::string_view cursor, int limit) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  jobs::JobFilter filter;
  filter.state = state;
  filter.limit = limit;
  // Jobs carry their video's owner, so a user's page is theirs alone, however many jobs
  // others have.
  if (!who.admin()) filter.owner_id = who.user_id;
  STREAMLET_ASSIGN_OR_RETURN(auto page, impl_->queue->list(filter, cursor));
  json items = json::array();
  for (const auto& j : page.jobs) items.push_back(job_doc(j));
  return detail::json_text(
      json{{"items", items},
           {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}});
}

Result<std::string> Platform::retry_job(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto job, impl_->job_of(id));
  STREAMLET_ASSIGN_OR_RETURN(auto video, impl_->video_for_job(who, job, accounts::Action::kModify));
  STREAMLET_ASSIGN_OR_RETURN(auto after, impl_->queue->retry(id));
  if (!video.id.empty()) {
    (void)impl_->catalog->set_status(video.id, catalog::VideoStatus::kQueued, "");
    impl_->publish_status(video.id, catalog::VideoStatus::kQueued, "");
  }
  impl_->pool->wake();
  return detail::json_text(job_doc(after));
}

Result<std::string> Platform::cancel_job(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto job, impl_->job_of(id));
  STREAMLET_ASSIGN_OR_RETURN(auto video, impl_->video_for_job(who, job, accounts::Action::kModify));
  STREAMLET_ASSIGN_OR_RETURN(auto after, impl_->queue->cancel(id));
  // A queued job is cancelled at once (no worker will tell); a running one when its worker stops.
  if (after.state == jobs::JobState::kCancelled && !video.id.empty()) {
    (void)impl_->catalog->set_status(video.id, catalog::VideoStatus::kFailed,
                                     "transcode cancelled");
    impl_->publish_status(video.id, catalog::VideoStatus::kFailed, "transcode cancelled");
  }
  return detail::json_text(job_doc(after));
}

std::vector<std::pair<std::string, int64_t>> Platform::job_counts() {
  std::vector<std::pair<std::string, int64_t>> out;
  auto counts = impl_->queue->count_by_state();  // one query, however many jobs
  for (auto s : {jobs::JobState::kQueued, jobs::JobState::kRunning, jobs::JobState::kSucceeded,
                 jobs::JobState::kFailed, jobs::JobState::kCancelled})
    out.emplace_back(std::string(jobs::to_string(s)), counts.ok() ? counts->of(s) : 0);
  return out;
}

// ---- uploads ----------------------------------------------------------------------------

upload::UploadStore& Platform::uploads() {
  return *impl_->store;
}

void Platform::set_upload_observer(
    std::function<void(const upload::CompletedUpload&, const std::string&)> fn) {
  impl_->upload_observer = std::move(fn);
}

Result<Platform::Creation> Platform::begin_upload(const Principal& who,
                                                  std::string_view metadata_header, bool partial) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (!who.admin()) {
    if (auto wait = impl_->upload_rate->acquire(who.user_id); wait.count() > 0)
      return rate_limited("at most " + std::to_string(impl_->options.uploads_per_minute) +
                              " new uploads a minute; try again in " +
                              std::to_string(wait.count()) + " s",
                          wait);
  }
  std::map<std::string, std::string> meta;
  if (!metadata_header.empty()) {
    STREAMLET_ASSIGN_OR_RETURN(meta, upload::parse_metadata(metadata_header));
  }
  // What becomes the video's text (and the name its owner is shown) must be text.
  for (auto [key, kind] :
       {std::pair{"title", detail::TextKind::kLine}, std::pair{"filename", detail::TextKind::kLine},
        std::pair{"description", detail::TextKind::kMultiline}})
    if (auto it = meta.find(key); it != meta.end())
      STREAMLET_RETURN_IF_ERROR(
          detail::check_text(std::string("Upload-Metadata ") + key, it->second, kind));
  meta.erase(kMetaOwner);
  meta.erase(kMetaVideo);
  meta[kMetaOwner] = who.user_id;
  Creation c;
  if (!partial) {
    catalog::NewVideo nv;
    nv.owner_id = who.user_id;
    nv.visibility = impl_->options.default_visibility;
    nv.status = catalog::VideoStatus::kUploading;
    if (auto it = meta.find("visibility"); it != meta.end()) {
      STREAMLET_ASSIGN_OR_RETURN(nv.visibility, catalog::parse_visibility(it->second));
    }
    if (auto it = meta.find("title"); it != meta.end() && !it->second.empty()) {
      nv.title = it->second;
    } else if (auto f = meta.find("filename"); f != meta.end()) {
      nv.title = fs::path(f->second).stem().string();
    }
    if (auto it = meta.find("description"); it != meta.end()) nv.description = it->second;
    STREAMLET_ASSIGN_OR_RETURN(auto v, impl_->catalog->create_video(nv));
    c.video_id = v.id;
    meta[kMetaVideo] = v.id;
  }
  c.metadata_header = upload::format_metadata(meta);
  return c;
}

void Platform::finish_upload_creation(const Creation& creation, std::string_view upload_id) {
  if (creation.video_id.empty()) return;
  if (upload_id.empty()) {
    (void)impl_->catalog->delete_video(creation.video_id);
    return;
  }
  (void)detail::write_file_atomic(impl_->links_dir / creation.video_id, upload_id);
}

Status Platform::check_upload_access(const Principal& who, std::string_view upload_id,
                                     bool terminating) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  auto info = impl_->store->info(upload_id);
  if (!info.ok()) return Status::Ok();  // the tus handler answers 404/410 itself
  auto owner = info->metadata.find(kMetaOwner);
  if (!who.admin() && (owner == info->metadata.end() || owner->second != who.user_id))
    return error(ErrorCode::kPermissionDenied, "not your upload");
  auto video = info->metadata.find(kMetaVideo);
  if (terminating && info->complete() && video != info->metadata.end()) {
    auto v = impl_->catalog->get_video(video->second);
    if (v.ok() && (v->status == catalog::VideoStatus::kQueued ||
                   v->status == catalog::VideoStatus::kProcessing))
      return error(ErrorCode::kConflict, "this upload is being transcoded into video " + v->id +
                                             "; delete the video to stop it");
  }
  return Status::Ok();
}

// ---- playback ---------------------------------------------------------------------------

origin::OriginResponse Platform::serve_media(std::string_view video_id,
                                             const origin::OriginRequest& req) {
  // Ids are what the catalog generates: anything else (hidden work dirs, "..") is unknown.
  const bool plausible = origin::plausible_video_id(video_id);
  auto cached = plausible ? impl_->policy_of(video_id) : Impl::CachedPolicy{};
  if (!cached.exists) {
    origin::OriginResponse r;
    r.status = 404;
    r.body = error_json(error(ErrorCode::kNotFound, "no such video"));
    r.headers = {{"Content-Type", "application/json"},
                 {"Content-Length", std::to_string(r.body.size())}};
    return r;
  }
  return impl_->origin->serve(*impl_->media_store, "media/" + std::string(video_id) + "/",
                              video_id, req, cached.policy);
}

events::EventBus& Platform::bus() {
  return *impl_->bus;
}
catalog::Catalog& Platform::catalog() {
  return *impl_->catalog;
}
const fs::path& Platform::media_root() const {
  return impl_->media_root;
}

}  // namespace streamlet::platform
