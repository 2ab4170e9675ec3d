#include "streamlet/platform.hpp"
#include "core/time_format.hpp"

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include <condition_variable>
#include <thread>

#include "core/crypto.hpp"
#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/throttle.hpp"
#include "origin/http1.hpp"
#include "platform/captions_publish.hpp"
#include "platform/lifecycle.hpp"
#include "platform/social.hpp"
#include "streamlet/captions.hpp"
#include "platform/transcode_job.hpp"
#include "platform/upload_locks.hpp"

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

// Where things of a video live in storage: one function per fact.
std::string media_prefix(std::string_view video_id) {
  return "media/" + std::string(video_id) + "/";
}
// A chunked transcode's parts, staged until the join publishes them (chunk_parts).
std::string staging_prefix(std::string_view video_id) {
  return "chunks/" + std::string(video_id) + "/";
}
// The jobs of a video's chunked transcode: a flow of one chunk job per part and its join.
constexpr const char* kChunkKind = "transcode-chunk";
constexpr const char* kJoinKind = "transcode-join";
bool in_flow(const jobs::Job& job) { return job.kind == kChunkKind || job.kind == kJoinKind; }

std::string link_key(std::string_view video_id) {
  return "upload-links/" + std::string(video_id);
}

}  // namespace

struct Platform::Impl {
  PlatformOptions options;
  NodeSecret admin_key;  // options.admin_api_key, and where it came from
  PlatformParts parts;
  std::shared_ptr<catalog::Catalog> catalog;
  std::shared_ptr<jobs::JobQueue> queue;
  std::shared_ptr<events::EventBus> bus;
  std::shared_ptr<storage::Storage> storage;
  std::unique_ptr<internal::Lifecycle> lifecycle;
  std::unique_ptr<accounts::AccountService> accounts;
  std::unique_ptr<origin::Origin> origin;
  // What the origin reads media through (local storage on the data directory) until the
  // platform is built from injected stores.
  std::unique_ptr<upload::UploadStore> store;
  std::unique_ptr<upload::TusHandler> tus;
  std::unique_ptr<jobs::WorkerPool> pool;
  std::atomic<bool> running{false};
  std::string admin_id;
  VideoFinishedFn finished;
  std::shared_ptr<mail::Mailer> mailer;  // set_video_mail; null = no mail
  VideoMailOptions mail_options;
  std::function<void(const upload::UploadInfo&, const std::string&)> upload_observer;
  std::unique_ptr<throttle::RateLimiter> upload_rate;        // creations per user
  std::unique_ptr<throttle::RateLimiter> registration_rate;  // per client address
  std::unique_ptr<throttle::LoginThrottle> logins;
  std::unique_ptr<throttle::RateLimiter> beacon_rate;  // per client address
  std::unique_ptr<internal::Social> social;            // likes and comments
  // The running transcodes' speed, from their progress events (for monitoring).
  events::Subscription fps_watch;
  std::atomic<double> transcode_fps{0};
  // The sweep that expires idle uploads while the platform runs.
  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  bool sweep_stop = false;
  std::thread sweeper;

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
    const int64_t now = streamlet::detail::now_ms();
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

  // Queues the owner's mail about `v` (see Platform::set_video_mail); a refusal (a bad stored
  // address, a full queue) is the mailer's to count, never the worker's problem.
  void mail_owner(bool ready, const catalog::Video& v) {
    auto owner = catalog->get_user(v.owner_id);
    if (!owner.ok() || owner->email.empty() || !owner->email_notifications || owner->disabled)
      return;
    const std::string title = v.title.empty() ? "your video " + v.id : v.title;
    const std::string& base = mail_options.base_url;
    mail::Message m;
    m.from = mail_options.from;
    m.to = owner->email;
    m.subject = (ready ? "Ready: " : "Failed: ") + title;
    m.text = "Hello " + owner->username + ",\n\n";
    if (ready) {
      m.text += "Your video \"" + title + "\" is ready to watch:\n" + base + "/watch/" + v.id +
                "\n";
    } else {
      m.text += "Your video \"" + title + "\" could not be processed" +
                (v.status_reason.empty() ? "." : ": " + v.status_reason) +
                "\nYour library, where you can retry it or delete it:\n" + base + "/library\n";
    }
    m.text += "\nYou get this mail because notifications are on for your account; turn them off "
              "at " + base + "/account\n";
    (void)mailer->enqueue(m);
  }

  std::string signed_suffix(const catalog::Video& v) {
    if (v.visibility != catalog::Visibility::kPrivate) return "";
    const int64_t exp = origin->now() + options.playback_url_ttl.count();
    auto q = origin->sign(v.id, exp);
    return q.ok() ? "?" + *q : "";
  }

  VideoView view_of(const catalog::Video& v) {
    VideoView out;
    out.video = v;
    if (auto u = catalog->get_user(v.owner_id); u.ok()) out.owner_username = u->username;
    auto tracks = json::parse(v.renditions_json, nullptr, false);
    if (tracks.is_array()) {
      for (const auto& t : tracks) {
        if (!t.is_object() || t.value("type", "video") != "video") continue;
        out.renditions.push_back({t.value("id", ""), t.value("width", 0), t.value("height", 0),
                                  t.value("target_bitrate", int64_t(0))});
      }
    }
    out.page_url = "/watch/" + v.id;
    if (v.status == catalog::VideoStatus::kProcessing) {
      // Progressive: what the transcode has shown so far (the catalog learns the manifests
      // only when it is ready).
      const std::string sig = signed_suffix(v);
      for (auto [name, url] : {std::pair{transcode::kHlsMasterName, &out.hls_url},
                               std::pair{transcode::kDashManifestName, &out.dash_url}})
        if (storage->stat(media_prefix(v.id) + std::string(name)).ok())
          *url = "/media/" + v.id + "/" + std::string(name) + sig;
      // The HLS master is shown after the MPD (LivePublisher): with HLS on, it says both are.
      out.playable = options.transcode.write_hls ? !out.hls_url.empty() : !out.dash_url.empty();
      if (!out.playable) {
        out.hls_url.clear();
        out.dash_url.clear();
      }
      return out;
    }
    if (v.status != catalog::VideoStatus::kReady) return out;
    out.playable = true;
    const std::string sig = signed_suffix(v);
    // Paths in the catalog are relative to the media root: "<id>/master.m3u8".
    if (!v.hls_master.empty()) out.hls_url = "/media/" + v.hls_master + sig;
    if (!v.dash_manifest.empty()) out.dash_url = "/media/" + v.dash_manifest + sig;
    if (!v.poster.empty()) out.poster_url = "/media/" + v.poster + sig;
    if (storage->stat(media_prefix(v.id) + "storyboard.vtt").ok())
      out.storyboard_url = "/media/" + v.id + "/storyboard.vtt" + sig;
    return out;
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
    auto text = storage->get(link_key(video_id), 1024);
    if (!text.ok()) return "";
    std::string upload_id = *text;
    if (auto nl = upload_id.find('\n'); nl != std::string::npos) upload_id.resize(nl);
    return upload_id;
  }

  void remove_files_of(const std::string& video_id) {
    (void)storage->remove_prefix(media_prefix(video_id));
    (void)storage->remove_prefix(staging_prefix(video_id));
    (void)storage->remove_prefix(internal::caption_sources_prefix(video_id));
    const std::string upload_id = upload_of(video_id);
    if (!upload_id.empty()) (void)store->terminate(upload_id);
    (void)storage->remove(link_key(video_id));
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

  // Run by create(), before anything is served, so no creation is half done. Videos still
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

  void on_upload_complete(const upload::CompletedUpload& done) {
    auto it = done.info.metadata.find(kMetaVideo);
    const std::string video_id = it == done.info.metadata.end() ? "" : it->second;
    queue_transcode(done, video_id);
    if (upload_observer) upload_observer(done.info, video_id);
  }

  void queue_transcode(const upload::CompletedUpload& done, const std::string& video_id) {
    if (video_id.empty()) return;  // a partial upload: its final one carries the video
    // A queue in the catalog's database stores the video's status and its job in one
    // transaction; another one takes two steps (status first, so a job never runs for a video
    // that is not queued, and a failed enqueue turns the video failed).
    const bool together = queue->shares_catalog();
    auto v = together ? catalog->get_video(video_id) : lifecycle->queued(video_id);
    if (!v.ok()) {  // deleted while uploading
      (void)store->terminate(done.info.id);
      return;
    }
    jobs::NewJob job;
    job.kind = "transcode";
    job.video_id = video_id;
    job.owner_id = v->owner_id;
    job.priority = jobs::transcode_priority(done.info.offset);
    job.mark_video_queued = together;
    internal::TranscodePayload payload;
    payload.source_key = done.key;
    payload.upload_id = done.info.id;
    payload.display_name = display_name(done.info);
    payload.options = options.transcode;  // any worker of a cluster makes this ladder
    job.payload = internal::encode_payload(payload);
    auto queued = queue->enqueue(job);
    if (!queued.ok()) {
      if (together && queued.status().code() == ErrorCode::kNotFound) {
        (void)store->terminate(done.info.id);  // deleted meanwhile: neither was stored
        return;
      }
      (void)lifecycle->failed(video_id,
                              "could not queue the transcode: " + queued.status().message());
      return;
    }
    if (together) lifecycle->queued_with_job(video_id);
    if (pool) pool->wake();
  }

  // The worker's part of a transcode job: only the transcode; its result goes to the lifecycle.
  Status run_transcode(const jobs::Job& job, const CancelToken& cancel,
                       const jobs::ProgressFn& progress) {
    if (job.video_id.empty())
      return error(ErrorCode::kInvalidArgument, "transcode job without a video");
    STREAMLET_ASSIGN_OR_RETURN(auto payload, internal::decode_payload(job));
    // A video deleted while its job waited is not transcoded.
    STREAMLET_ASSIGN_OR_RETURN(auto video, catalog->get_video(job.video_id));
    // This worker holds the job's lease: what an earlier attempt (killed mid-way, on any
    // node) staged for this video is nobody's now, and what it showed is withdrawn.
    (void)storage->discard_unpublished(media_prefix(job.video_id));
    const bool was_ready = video.status == catalog::VideoStatus::kReady;
    if (!was_ready) (void)storage->remove_prefix(media_prefix(job.video_id));
    auto transcode_options = internal::job_options(payload, options.transcode);
    // A ready video keeps playing its output until the new one is published whole.
    transcode_options.progressive = transcode_options.progressive && !was_ready;
    transcode_options.on_playable = [this, id = job.video_id] { lifecycle->playable(id); };
    // The source as a file libav can open: the local backend's own, another's downloaded to
    // scratch for the length of the transcode. (Jobs of earlier versions name a path.)
    storage::LocalFile source{payload.legacy_input_path, nullptr};
    if (!payload.source_key.empty()) {
      auto local = storage->local_file(payload.source_key, parts.scratch_dir);
      if (!local.ok())
        return Status(local.status().code(),
                      "the uploaded file is gone: " + local.status().message());
      source = std::move(*local);
    }
    // Chunks as jobs of the cluster: this job becomes the parent of a flow (its chunks, then
    // their join) and ends once the flow is queued. A queue without flows, or a source that
    // is not chunked at these options, is transcoded here.
    if (transcode_options.chunk_seconds > 0) {
      auto parts = transcode::chunk_parts(source.path.string(), transcode_options);
      if (parts.ok() && *parts > 0) {
        auto flow = start_flow(job, payload, transcode_options, *parts);
        if (flow.code() != ErrorCode::kUnsupported) return flow;
      }
    }
    STREAMLET_ASSIGN_OR_RETURN(
        auto ready, internal::transcode_video(source.path.string(), payload.display_name,
                                              *storage, media_prefix(job.video_id),
                                              transcode_options, progress, cancel));
    // The transcode replaced the media whole: the captions go back in before it is ready.
    if (auto status = republish_captions(job.video_id); !status.ok())
      return status.with_context("captions");
    return lifecycle->ready(job.video_id, ready).status();
  }

  // Queues the flow of a chunked transcode: one "transcode-chunk" job per part, each with its
  // own attempts, and the "transcode-join" that waits for them all. Their payload is the
  // parent's with the options pinned (every worker cuts the same chunks) and the part.
  Status start_flow(const jobs::Job& parent, internal::TranscodePayload payload,
                    const transcode::Options& options, int parts) {
    // A retried parent (its worker died after queueing) finds its flow already there.
    jobs::JobFilter filter;
    filter.video_id = parent.video_id;
    filter.limit = jobs::kMaxJobPageSize;
    auto page = queue->list(filter);
    if (page.ok())
      for (const auto& j : page->jobs)
        if (j.kind == kJoinKind && j.created_at_ms >= parent.created_at_ms &&
            (j.state == jobs::JobState::kQueued || j.state == jobs::JobState::kRunning))
          return Status::Ok();
    (void)storage->remove_prefix(staging_prefix(parent.video_id));
    payload.options = options;
    auto with = [&](int part) {
      auto j = json::parse(internal::encode_payload(payload));
      j["chunk_seconds"] = options.chunk_seconds;
      j["parts"] = parts;
      if (part >= 0) j["part"] = part;
      return j.dump();
    };
    jobs::NewJob join;
    join.kind = kJoinKind;
    join.video_id = parent.video_id;
    join.owner_id = parent.owner_id;
    join.priority = parent.priority;
    join.payload = with(-1);
    std::vector<jobs::NewJob> chunks;
    for (int k = 0; k < parts; ++k) {
      jobs::NewJob c = join;
      c.kind = kChunkKind;
      c.payload = with(k);
      chunks.push_back(std::move(c));
    }
    STREAMLET_RETURN_IF_ERROR(queue->enqueue_flow(join, chunks).status());
    if (pool) pool->wake();
    return Status::Ok();
  }

  // A chunk job's or a join's payload: the parent's, the pinned chunk length, the part.
  struct FlowPayload {
    internal::TranscodePayload base;
    transcode::Options options;
    int part = -1;
    int parts = 0;
  };
  Result<FlowPayload> flow_payload(const jobs::Job& job) {
    if (job.video_id.empty())
      return error(ErrorCode::kInvalidArgument, job.kind + " job without a video");
    FlowPayload f;
    STREAMLET_ASSIGN_OR_RETURN(f.base, internal::decode_payload(job));
    auto j = json::parse(job.payload, nullptr, false);
    if (!f.base.options || !j.contains("chunk_seconds") || !j["chunk_seconds"].is_number() ||
        !j.contains("parts") || !j["parts"].is_number_integer())
      return error(ErrorCode::kInvalidArgument,
                   job.kind + " job payload needs \"transcode\", \"chunk_seconds\" and \"parts\"");
    f.options = internal::job_options(f.base, options.transcode);
    f.options.chunk_seconds = j["chunk_seconds"].get<double>();
    f.options.progressive = false;
    f.parts = j["parts"].get<int>();
    if (j.contains("part") && j["part"].is_number_integer()) f.part = j["part"].get<int>();
    return f;
  }

  Result<storage::LocalFile> source_of(const internal::TranscodePayload& payload) {
    storage::LocalFile source{payload.legacy_input_path, nullptr};
    if (payload.source_key.empty()) return source;
    auto local = storage->local_file(payload.source_key, parts.scratch_dir);
    if (!local.ok())
      return Status(local.status().code(), "the uploaded file is gone: " + local.status().message());
    return std::move(*local);
  }

  // How many parts of a video's flow have succeeded (for its progress: parts done / parts).
  int parts_done(const std::string& video_id, const std::string& join_id) {
    jobs::JobFilter filter;
    filter.video_id = video_id;
    filter.state = jobs::JobState::kSucceeded;
    filter.limit = jobs::kMaxJobPageSize;
    auto page = queue->list(filter);
    int done = 0;
    if (page.ok())
      for (const auto& j : page->jobs) done += j.kind == kChunkKind && j.parent_id == join_id;
    return done;
  }

  Status run_chunk(const jobs::Job& job, const CancelToken& cancel, const jobs::ProgressFn& progress) {
    STREAMLET_ASSIGN_OR_RETURN(auto flow, flow_payload(job));
    if (flow.part < 0 || flow.part >= flow.parts)
      return error(ErrorCode::kInvalidArgument, "transcode-chunk job payload needs a \"part\"");
    STREAMLET_RETURN_IF_ERROR(catalog->get_video(job.video_id).status());
    STREAMLET_ASSIGN_OR_RETURN(auto source, source_of(flow.base));
    // The video's progress is its parts done, this one's share counted as it goes.
    const int done = parts_done(job.video_id, job.parent_id);
    jobs::ProgressFn part_progress;
    if (progress)
      part_progress = [&, done, parts = flow.parts](double fraction, double fps, double speed) {
        progress(std::min(1.0, (done + fraction) / parts), fps, speed);
      };
    return internal::encode_video_part(source.path.string(), flow.base.display_name, *storage,
                                       staging_prefix(job.video_id), flow.options, flow.part,
                                       part_progress, cancel);
  }

  Status run_join(const jobs::Job& job, const CancelToken& cancel, const jobs::ProgressFn& progress) {
    STREAMLET_ASSIGN_OR_RETURN(auto flow, flow_payload(job));
    STREAMLET_RETURN_IF_ERROR(catalog->get_video(job.video_id).status());
    STREAMLET_ASSIGN_OR_RETURN(auto source, source_of(flow.base));
    // What an earlier attempt of the join staged is nobody's now (this worker holds the lease).
    (void)storage->discard_unpublished(media_prefix(job.video_id));
    STREAMLET_ASSIGN_OR_RETURN(
        auto ready, internal::join_video(source.path.string(), flow.base.display_name, *storage,
                                         staging_prefix(job.video_id), media_prefix(job.video_id),
                                         flow.options, progress, cancel));
    if (auto status = republish_captions(job.video_id); !status.ok())
      return status.with_context("captions");
    return lifecycle->ready(job.video_id, ready).status();
  }

  Status run_job(const jobs::Job& job, const CancelToken& cancel, const jobs::ProgressFn& progress) {
    if (job.kind == kChunkKind) return run_chunk(job, cancel, progress);
    if (job.kind == kJoinKind) return run_join(job, cancel, progress);
    return run_transcode(job, cancel, progress);
  }

  // One caption change at a time per platform: each rewrites the manifests from the list.
  std::mutex captions_mu;
  Status republish_captions(const std::string& video_id) {
    std::lock_guard lock(captions_mu);
    STREAMLET_ASSIGN_OR_RETURN(auto tracks, catalog->list_captions(video_id));
    return internal::publish_captions(*storage, media_prefix(video_id), video_id, tracks);
  }

  // Stores an owner's poster and points the video at it.
  Result<VideoView> store_poster(catalog::Video v, const std::string& jpeg) {
    // A new name each time: caches keep an old poster under its old name only.
    const std::string name = "poster_" + std::to_string(detail::now_ms()) + ".jpg";
    STREAMLET_RETURN_IF_ERROR(storage->put(media_prefix(v.id) + name, jpeg));
    const std::string old = v.poster;
    STREAMLET_ASSIGN_OR_RETURN(v, catalog->set_poster(v.id, v.id + "/" + name));
    // An earlier custom poster is nobody's now; the generated poster.jpg stays (a transcode's).
    if (old.rfind(v.id + "/poster_", 0) == 0 && old != v.poster) (void)storage->remove("media/" + old);
    return view_of(v);
  }

  CaptionView caption_view(const catalog::Video& v, const catalog::Caption& c) {
    return {c, "/media/" + v.id + "/" + internal::caption_file(c.language) + signed_suffix(v)};
  }

  // A video's job ended: clean up output of a video deleted meanwhile.
  void on_job_state(const jobs::Job& job) {
    const bool ended_badly =
        job.state == jobs::JobState::kFailed || job.state == jobs::JobState::kCancelled;
    if (in_flow(job) && ended_badly) {
      // A part of a flow that failed for good (or was cancelled) fails the video once: the
      // rest of its flow is cancelled, and their cancellations leave the reason as it is.
      auto v = catalog->get_video(job.video_id);
      const bool already = v.ok() && v->status == catalog::VideoStatus::kFailed;
      if (!already || job.state == jobs::JobState::kFailed) lifecycle->job_changed(job);
      cancel_jobs_of(job.video_id);
      (void)storage->remove_prefix(staging_prefix(job.video_id));
    } else {
      lifecycle->job_changed(job);
    }
    if (job.video_id.empty()) return;
    const bool ended = job.state == jobs::JobState::kSucceeded ||
                       job.state == jobs::JobState::kFailed ||
                       job.state == jobs::JobState::kCancelled;
    if (ended && catalog->get_video(job.video_id).status().code() == ErrorCode::kNotFound)
      (void)storage->remove_prefix(media_prefix(job.video_id));
    // A job that ended unpublished (dead-lettered after crashes, cancelled) leaves no staging.
    if (job.state == jobs::JobState::kFailed || job.state == jobs::JobState::kCancelled) {
      (void)storage->discard_unpublished(media_prefix(job.video_id));
      // What a progressive attempt showed before its worker died is withdrawn too.
      auto v = catalog->get_video(job.video_id);
      if (v.ok() && v->status != catalog::VideoStatus::kReady)
        (void)storage->remove_prefix(media_prefix(job.video_id));
    }
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

  void stop_sweeper() {
    {
      std::lock_guard lock(sweep_mu);
      sweep_stop = true;
    }
    sweep_cv.notify_all();
    if (sweeper.joinable()) sweeper.join();
  }
};

Platform::Platform(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Platform::~Platform() {
  stop(true);
}

Result<std::unique_ptr<Platform>> Platform::create(PlatformOptions options, PlatformParts parts) {
  if (!parts.catalog || !parts.queue || !parts.storage)
    return error(ErrorCode::kInvalidArgument,
                 "a platform needs a catalog, a job queue and a storage backend");
  if (parts.token_secret.size() < 16 || parts.signing_key.size() < 16)
    return error(ErrorCode::kInvalidArgument,
                 "a platform needs a token secret and a signing key of 16+ bytes");
  if (!parts.bus) parts.bus = std::make_shared<events::InProcessBus>();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->admin_key.value = options.admin_api_key;
  impl->catalog = parts.catalog;
  impl->queue = parts.queue;
  impl->bus = parts.bus;
  impl->storage = parts.storage;
  if (parts.scratch_dir.empty()) parts.scratch_dir = fs::temp_directory_path();
  impl->lifecycle = std::make_unique<internal::Lifecycle>(impl->catalog, impl->bus);
  Impl* raw = impl.get();
  impl->lifecycle->set_finished([raw](bool ready, const catalog::Video& v) {
    if (raw->finished) raw->finished(ready ? "video.ready" : "video.failed", raw->view_of(v));
    if (raw->mailer) raw->mail_owner(ready, v);
  });
  impl->accounts = std::make_unique<accounts::AccountService>(
      impl->catalog, accounts::TokenSigner(parts.token_secret, options.session_ttl));
  origin::OriginOptions oopts;
  oopts.signing_key = parts.signing_key;
  oopts.cors_allow_origin = options.cors_allow_origin;
  impl->origin = std::make_unique<origin::Origin>(oopts);

  upload::StoreOptions sopts;
  sopts.storage = parts.storage;
  sopts.prefix = "uploads/";
  sopts.max_upload_size = options.max_upload_size;
  sopts.max_concurrent_uploads = options.max_uploads;
  sopts.expiration = options.upload_expiration;
  sopts.durable = options.durable_uploads;
  sopts.shared = parts.shared;
  // Other API nodes append to the same uploads: one request per upload at a time, cluster-wide.
  if (parts.shared)
    sopts.locker = internal::catalog_upload_locker(impl->catalog, options.upload_lock_lease);
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
  impl->social = std::make_unique<internal::Social>(impl->catalog, options.likes_per_minute,
                                                    options.comments_per_minute);
  STREAMLET_ASSIGN_OR_RETURN(impl->store, upload::UploadStore::open(sopts));
  impl->store->set_completion_callback(
      [raw](const upload::CompletedUpload& done) { raw->on_upload_complete(done); });
  impl->store->set_removal_callback([raw](const upload::UploadInfo& info, upload::RemovalReason) {
    raw->on_upload_removed(info);
  });
  impl->tus = std::make_unique<upload::TusHandler>(
      *impl->store, upload::TusOptions{.base_path = options.uploads_path,
                                       .cors_allow_origin = options.cors_allow_origin});

  jobs::JobHandler handler;
  handler.run = [raw](const jobs::Job& job, const CancelToken& cancel,
                      const jobs::ProgressFn& progress) {
    return raw->run_job(job, cancel, progress);
  };
  handler.on_state_change = [raw](const jobs::Job& job) { raw->on_job_state(job); };
  jobs::WorkerPoolOptions popts;
  popts.workers = std::max(1, options.workers);
  popts.kinds = {"transcode", kChunkKind, kJoinKind};
  impl->pool =
      std::make_unique<jobs::WorkerPool>(impl->queue, std::move(handler), popts, impl->bus);
  impl->fps_watch = impl->bus->subscribe("", [raw](const events::Event& e) {
    if (e.type == "progress") raw->transcode_fps = e.fps;
    if (e.type == "job" && e.state != "running") raw->transcode_fps = 0;
  });
  impl->parts = std::move(parts);
  // Uploads are the API nodes' business: a worker or an origin leaves them alone.
  if (options.roles.api) STREAMLET_RETURN_IF_ERROR(impl->settle_uploading_videos());
  return std::unique_ptr<Platform>(new Platform(std::move(impl)));
}

Result<std::string> Platform::ensure_admin() {
  auto existing = impl_->catalog->find_user_by_name("admin");
  if (existing.ok()) {
    impl_->admin_id = existing->id;
    return std::string();
  }
  if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
  const std::string password = streamlet::detail::random_id(20);
  auto user = impl_->accounts->register_user("admin", password, "", catalog::Role::kAdmin);
  if (!user.ok() && user.status().code() == ErrorCode::kAlreadyExists) {
    // Another node of the cluster made it at the same moment: its password is the one.
    STREAMLET_ASSIGN_OR_RETURN(auto made, impl_->catalog->find_user_by_name("admin"));
    impl_->admin_id = made.id;
    return std::string();
  }
  if (!user.ok()) return user.status();
  impl_->admin_id = user->id;
  return password;
}

Status Platform::start() {
  if (impl_->options.roles.worker) STREAMLET_RETURN_IF_ERROR(impl_->pool->start());
  impl_->running = true;
  if (impl_->options.roles.api && !impl_->sweeper.joinable()) {
    impl_->sweep_stop = false;
    Impl* raw = impl_.get();
    impl_->sweeper = std::thread([raw] {
      const auto every = std::chrono::seconds(
          std::clamp<int64_t>(raw->options.upload_expiration.count() / 10, 1, 60));
      std::unique_lock lock(raw->sweep_mu);
      while (!raw->sweep_cv.wait_for(lock, every, [raw] { return raw->sweep_stop; })) {
        lock.unlock();
        (void)raw->store->expire_idle();
        lock.lock();
      }
    });
  }
  return Status::Ok();
}

void Platform::stop(bool requeue_running) {
  impl_->running = false;
  impl_->stop_sweeper();
  if (impl_->pool) impl_->pool->stop(requeue_running);
}

bool Platform::ready() const {
  return impl_->running && impl_->catalog != nullptr;
}

void Platform::set_video_finished_callback(VideoFinishedFn fn) {
  impl_->finished = std::move(fn);
}

bool Platform::video_mail_enabled() const {
  return impl_->mailer != nullptr;
}

Status Platform::set_video_mail(std::shared_ptr<mail::Mailer> mailer, VideoMailOptions options) {
  if (!mailer) return error(ErrorCode::kInvalidArgument, "video mail: no mailer");
  STREAMLET_RETURN_IF_ERROR(mail::check_address(options.from).with_context("video mail from"));
  while (options.base_url.ends_with('/')) options.base_url.pop_back();
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0)
    return error(ErrorCode::kInvalidArgument,
                 "video mail: the base URL must be http(s)://host, for the watch links");
  impl_->mail_options = std::move(options);
  impl_->mailer = std::move(mailer);
  return Status::Ok();
}

// ---- roles ------------------------------------------------------------------------------

Result<Roles> parse_roles(std::string_view spec) {
  Roles r{false, false, false};
  bool any = false;
  while (true) {
    const size_t comma = spec.find(',');
    std::string_view name = spec.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name == "api") r.api = true;
    else if (name == "worker") r.worker = true;
    else if (name == "origin") r.origin = true;
    else
      return error(ErrorCode::kInvalidArgument,
                   "unknown role \"" + std::string(name.substr(0, 32)) +
                       "\": use a comma-separated list of api, worker and origin");
    any = true;
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  if (!any) return error(ErrorCode::kInvalidArgument, "no role given");
  return r;
}

std::string to_string(const Roles& roles) {
  std::string out;
  for (auto [on, name] : {std::pair{roles.api, "api"}, std::pair{roles.worker, "worker"},
                          std::pair{roles.origin, "origin"}})
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

// ---- secrets ----------------------------------------------------------------------------

void Platform::set_admin_api_key(NodeSecret key) {
  impl_->options.admin_api_key = key.value;
  impl_->admin_key = std::move(key);
}

const NodeSecret& Platform::admin_api_key() const {
  return impl_->admin_key;
}

Result<NodeSecret> Platform::shared_secret(std::string_view name, std::string_view given) {
  NodeSecret out;
  if (!given.empty()) {
    out.value = given;
    return out;
  }
  const std::string candidate = accounts::generate_secret();
  STREAMLET_ASSIGN_OR_RETURN(out.value, impl_->catalog->shared_secret(name, candidate));
  // Random candidates never collide: an equal value is the one this node stored.
  out.made_here = out.value == candidate;
  out.kept_in = "the catalog";
  return out;
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

Result<accounts::Session> Platform::register_user(std::string_view username, std::string_view password,
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
  return impl_->accounts->start_session(user);
}

Result<accounts::Session> Platform::login(std::string_view username, std::string_view password,
                                    std::string_view client_address) {
  const std::string address =
      client_address.empty() ? std::string() : throttle::address_key(client_address);
  const std::string account = account_key(username);
  if (auto wait = impl_->logins->begin(address, account); wait.count() > 0)
    return rate_limited(
        "too many failed sign-ins; try again in " + std::to_string(wait.count()) + " s", wait);
  STREAMLET_ASSIGN_OR_RETURN(auto s, impl_->accounts->login(username, password));
  impl_->logins->succeeded(address, account);
  return s;
}

namespace {
Status need_user(const Principal& who) {
  if (!who.authenticated()) return error(ErrorCode::kUnauthenticated, "sign in first");
  return Status::Ok();
}
}  // namespace

Result<catalog::User> Platform::me(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->catalog->get_user(who.user_id);
}

Result<catalog::User> Platform::update_me(const Principal& who, const catalog::UserUpdate& update) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (update.role || update.disabled)
    return error(ErrorCode::kPermissionDenied, "only an admin changes roles and disables users");
  if (update.email && !update.email->empty())
    STREAMLET_RETURN_IF_ERROR(mail::check_address(*update.email));
  return impl_->catalog->update_user(who.user_id, update);
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

Result<catalog::NewApiKey> Platform::create_api_key(const Principal& who, std::string_view name) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->catalog->create_api_key(who.user_id, name);
}

Result<std::vector<catalog::ApiKey>> Platform::list_api_keys(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->catalog->list_api_keys(who.user_id);
}

Status Platform::revoke_api_key(const Principal& who, std::string_view key_id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->catalog->revoke_api_key(who.user_id, key_id);
}

Result<int64_t> Platform::sign_out_everywhere(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  return impl_->accounts->sign_out_everywhere(who.user_id);
}

// ---- users ------------------------------------------------------------------------------

namespace {
Status need_admin(const Principal& who) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (!who.admin()) return error(ErrorCode::kPermissionDenied, "only admins manage users");
  return Status::Ok();
}
}  // namespace

Result<Page<catalog::User>> Platform::list_users(const Principal& who, int page, int per_page) {
  STREAMLET_RETURN_IF_ERROR(need_admin(who));
  if (page < 1) return error(ErrorCode::kInvalidArgument, "page must be >= 1");
  if (per_page < 1 || per_page > 100)
    return error(ErrorCode::kInvalidArgument, "per_page must be 1..100");
  const int64_t wanted = (int64_t(page) - 1) * per_page;
  const int offset = int(std::min<int64_t>(wanted, std::numeric_limits<int>::max()));
  STREAMLET_ASSIGN_OR_RETURN(auto users, impl_->catalog->list_users(per_page, offset));
  return Page<catalog::User>{std::move(users.items), page, per_page, users.total};
}

Result<catalog::User> Platform::update_user(const Principal& who, std::string_view user_id,
                                            const catalog::UserUpdate& update) {
  STREAMLET_RETURN_IF_ERROR(need_admin(who));
  return impl_->accounts->update_user(user_id, update);
}

// ---- videos -----------------------------------------------------------------------------

Result<Page<VideoView>> Platform::list_videos(const Principal& who, const VideoListParams& p) {
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
    Page<VideoView> out;
    for (const auto& v : items) out.items.push_back(impl_->view_of(v));
    out.page = p.page;
    out.per_page = p.per_page;
    out.total = total;
    return out;
  };
  catalog::VideoQuery q;
  q.text = p.q;
  q.status = p.status;
  q.visibility = p.visibility;
  q.sort = p.sort;
  if (!p.owner_username.empty()) {
    // A channel is what everyone sees, so the owner's other videos stay in their library.
    auto owner = impl_->catalog->find_user_by_name(p.owner_username);
    if (!owner.ok()) {
      if (owner.status().code() == ErrorCode::kNotFound)
        return error(ErrorCode::kNotFound, "no such user");
      return owner.status();
    }
    q.owner_id = owner->id;
    q.visible_to = std::string();  // anonymous: public and ready only
    q.limit = p.per_page;
    q.offset = offset;
    STREAMLET_ASSIGN_OR_RETURN(auto page, impl_->catalog->list_videos(q));
    return page_doc(page.items, page.total);
  }
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

namespace {
// The video if `who` may view it: one they may not does not exist as far as they can tell.
Result<catalog::Video> viewable(catalog::Catalog& cat, const Principal& who, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, cat.get_video(id));
  if (!accounts::check(who, accounts::Action::kView, v).ok())
    return error(ErrorCode::kNotFound, "no such video");
  return v;
}

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

Result<VideoView> Platform::get_video(const Principal& who, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable(*impl_->catalog, who, id));
  VideoView out = impl_->view_of(v);
  if (v.status == catalog::VideoStatus::kReady) {
    STREAMLET_ASSIGN_OR_RETURN(auto tracks, impl_->catalog->list_captions(v.id));
    for (const auto& c : tracks) out.captions.push_back(impl_->caption_view(v, c));
  }
  if (who.authenticated()) {
    STREAMLET_ASSIGN_OR_RETURN(bool liked, impl_->catalog->likes(v.id, who.user_id));
    out.liked = liked;
  }
  return out;
}

// ---- likes and comments (src/platform/social.cpp) -------------------------------------------

Result<LikeView> Platform::set_like(const Principal& who, std::string_view id, bool like) {
  return impl_->social->set_like(who, id, like);
}

Result<CommentView> Platform::add_comment(const Principal& who, std::string_view id,
                                          std::string_view body) {
  return impl_->social->add_comment(who, id, body);
}

Result<CommentList> Platform::list_comments(const Principal& who, std::string_view id,
                                            std::string_view cursor, int limit) {
  return impl_->social->list_comments(who, id, cursor, limit);
}

Status Platform::delete_comment(const Principal& who, std::string_view id,
                                std::string_view comment_id) {
  return impl_->social->delete_comment(who, id, comment_id);
}

Result<Platform::Following> Platform::follow_video(const Principal& who, std::string_view id,
                                                   std::function<void(const VideoEvent&)> fn) {
  Following out;
  out.subscription = impl_->bus->subscribe(std::string(id), std::move(fn));
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable(*impl_->catalog, who, id));
  out.status = v.status;
  out.reason = v.status_reason;
  out.playable = impl_->view_of(v).playable;
  return out;
}

Result<VideoView> Platform::update_video(const Principal& who, std::string_view id,
                                           const catalog::VideoUpdate& update) {
  STREAMLET_RETURN_IF_ERROR(
      video_for(*impl_->catalog, who, id, accounts::Action::kModify).status());
  if (update.title && update.title->size() > 200)
    return error(ErrorCode::kInvalidArgument, "title: at most 200 characters");
  // A video listed as blank cannot be told apart or clicked on.
  if (update.title && update.title->find_first_not_of(" \t\r\n") == std::string::npos)
    return error(ErrorCode::kInvalidArgument, "title: must not be blank");
  if (update.description && update.description->size() > 5000)
    return error(ErrorCode::kInvalidArgument, "description: at most 5000 characters");
  STREAMLET_ASSIGN_OR_RETURN(auto v, impl_->catalog->update_video(id, update));
  impl_->forget_policy(v.id);
  return impl_->view_of(v);
}

namespace {
// The uploader's file name as a download may offer it: no directory, no control character.
std::string download_name(const upload::UploadInfo& info, std::string_view video_id) {
  auto f = info.metadata.find("filename");
  std::string name;
  if (f != info.metadata.end()) {
    for (char c : std::filesystem::path(f->second).filename().string())
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) name += c;
  }
  const size_t first = name.find_first_not_of(' ');
  name = first == std::string::npos ? std::string() : name.substr(first);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  if (name.empty() || name == "." || name == "..") return std::string(video_id);
  return name.substr(0, 255);
}

// The uploaded file of `v`, for a caller already allowed to have it.
Result<OriginalFile> open_original(Platform::Impl& impl, const catalog::Video& v) {
  auto info = impl.store->info(impl.upload_of(v.id));
  if (!info.ok() || !info->complete())
    return error(ErrorCode::kNotFound, "the video has no finished upload");
  STREAMLET_ASSIGN_OR_RETURN(auto key, impl.store->data_key(info->id));
  STREAMLET_ASSIGN_OR_RETURN(auto reader, impl.storage->open(key));
  OriginalFile out;
  out.file = std::move(reader);
  out.filename = download_name(*info, v.id);
  return out;
}
}  // namespace

Result<OriginalFile> Platform::original_file(const Principal& who, std::string_view id) {
  // Only those who may change the video; to anyone else signed in it does not exist.
  if (!who.authenticated())
    return error(ErrorCode::kUnauthenticated, "sign in to download the original file");
  auto v = impl_->catalog->get_video(id);
  if (!v.ok()) return v.status();
  if (!accounts::authorize(who, accounts::Action::kModify, *v))
    return error(ErrorCode::kNotFound, "no such video");
  return open_original(*impl_, *v);
}

namespace {
// Signatures for original files are scoped apart from playback ones: video ids have no '/'.
std::string original_scope(std::string_view id) {
  return "original/" + std::string(id);
}
}  // namespace

Result<OriginalLink> Platform::original_link(const Principal& who, std::string_view id,
                                             std::chrono::seconds ttl) {
  if (ttl.count() < 1 || ttl.count() > 24 * 3600)
    return error(ErrorCode::kInvalidArgument, "a link lasts 1 second to 1 day");
  STREAMLET_RETURN_IF_ERROR(original_file(who, id).status());
  OriginalLink link;
  link.expires_unix = impl_->origin->now() + ttl.count();
  STREAMLET_ASSIGN_OR_RETURN(auto q, impl_->origin->sign(original_scope(id), link.expires_unix));
  link.path_and_query = "/v1/videos/" + std::string(id) + "/original?" + q;
  return link;
}

Result<OriginalFile> Platform::original_file_signed(std::string_view id, std::string_view query) {
  if (Status s = impl_->origin->verify(original_scope(id), query); !s.ok()) {
    if (s.code() == ErrorCode::kGone)
      return error(ErrorCode::kPermissionDenied, "this download link has expired; ask for a new one");
    if (s.code() == ErrorCode::kUnauthenticated && query.find("sig=") == std::string_view::npos)
      return s;
    return error(ErrorCode::kPermissionDenied, "this download link is not valid for this video");
  }
  // The link stands for its maker, who could download the file (original_link checked).
  STREAMLET_ASSIGN_OR_RETURN(auto v, impl_->catalog->get_video(id));
  return open_original(*impl_, v);
}

Result<VideoView> Platform::retry_video(const Principal& who, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(*impl_->catalog, who, id, accounts::Action::kModify));
  if (v.status != catalog::VideoStatus::kFailed)
    return error(ErrorCode::kConflict, "only a failed video can be retried; this one is " +
                                           std::string(catalog::to_string(v.status)));
  jobs::JobFilter newest;
  newest.video_id = v.id;
  newest.limit = 1;
  STREAMLET_ASSIGN_OR_RETURN(auto jobs, impl_->queue->list(newest));
  if (jobs.jobs.empty())
    return error(ErrorCode::kConflict,
                 "this video's transcode job is gone; delete it and upload the file again");
  STREAMLET_RETURN_IF_ERROR(retry_job(who, jobs.jobs.front().id).status());
  return get_video(who, v.id);
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
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable(*impl_->catalog, who, id));
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

namespace {
// "YYYY-MM-DD" of a real calendar day -> that day; nullopt otherwise (2024-02-30 too).
std::optional<std::chrono::sys_days> parse_day(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  for (size_t i = 0, part = 0; i < text.size(); ++i) {
    if (i == 4 || i == 7) {
      ++part;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    parts[part] = parts[part] * 10 + (text[i] - '0');
  }
  const std::chrono::year_month_day ymd{std::chrono::year(parts[0]),
                                        std::chrono::month(unsigned(parts[1])),
                                        std::chrono::day(unsigned(parts[2]))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

std::string format_day(std::chrono::sys_days d) {
  const std::chrono::year_month_day ymd(d);
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()));
  return out;
}

struct DayRange {
  std::chrono::sys_days from, to;
};

// The query's days, with the defaults of StatsQuery filled in.
Result<DayRange> stats_range(const StatsQuery& q) {
  if (q.top < 0 || q.top > kMaxStatsTop)
    return error(ErrorCode::kInvalidArgument,
                 "top: a number of videos from 0 to " + std::to_string(kMaxStatsTop));
  auto today = parse_day(streamlet::detail::utc_day(streamlet::detail::now_ms()));
  auto to = q.to.empty() ? today : parse_day(q.to);
  if (!to) return error(ErrorCode::kInvalidArgument, "to: a day as YYYY-MM-DD");
  auto from = q.from.empty() ? std::optional(*to - std::chrono::days(kDefaultStatsDays - 1))
                             : parse_day(q.from);
  if (!from) return error(ErrorCode::kInvalidArgument, "from: a day as YYYY-MM-DD");
  if (*from > *to) return error(ErrorCode::kInvalidArgument, "from must not be after to");
  if ((*to - *from).count() >= kMaxStatsDays)
    return error(ErrorCode::kInvalidArgument,
                 "at most " + std::to_string(kMaxStatsDays) + " days from from to to");
  return DayRange{*from, *to};
}

// The catalog lists only days with activity; a chart wants every day of the range.
void fill_days(catalog::ViewStats& stats, const DayRange& range) {
  std::vector<catalog::DailyViews> all;
  size_t next = 0;
  for (auto d = range.from; d <= range.to; d += std::chrono::days(1)) {
    std::string day = format_day(d);
    if (next < stats.days.size() && stats.days[next].day == day)
      all.push_back(std::move(stats.days[next++]));
    else
      all.push_back(catalog::DailyViews{std::move(day), 0, 0, 0});
  }
  stats.days = std::move(all);
}
}  // namespace

Result<VideoStatsView> Platform::video_stats(const Principal& who, std::string_view id,
                                             const StatsQuery& query) {
  STREAMLET_RETURN_IF_ERROR(
      video_for(*impl_->catalog, who, id, accounts::Action::kModify).status());
  STREAMLET_ASSIGN_OR_RETURN(auto range, stats_range(query));
  VideoStatsView out{format_day(range.from), format_day(range.to), {}};
  STREAMLET_ASSIGN_OR_RETURN(out.stats, impl_->catalog->view_stats(id, out.from, out.to));
  fill_days(out.stats, range);
  return out;
}

Result<LibraryStatsView> Platform::library_stats(const Principal& who, const StatsQuery& query) {
  if (!who.authenticated())
    return error(ErrorCode::kUnauthenticated, "sign in to see your library's statistics");
  STREAMLET_ASSIGN_OR_RETURN(auto range, stats_range(query));
  LibraryStatsView out{format_day(range.from), format_day(range.to), {}};
  STREAMLET_ASSIGN_OR_RETURN(out.stats, impl_->catalog->library_view_stats(
                                            who.user_id, out.from, out.to, query.top));
  fill_days(out.stats.totals, range);
  return out;
}

// ---- captions and poster ----------------------------------------------------------------

Result<CaptionView> Platform::put_caption(const Principal& who, std::string_view id,
                                          std::string_view language, std::string_view label,
                                          std::string_view body) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(*impl_->catalog, who, id, accounts::Action::kModify));
  STREAMLET_ASSIGN_OR_RETURN(std::string lang, captions::canonical_language(language));
  if (label.size() > captions::kMaxLabel)
    return error(ErrorCode::kInvalidArgument,
                 "label: at most " + std::to_string(captions::kMaxLabel) + " bytes");
  STREAMLET_RETURN_IF_ERROR(detail::check_text("label", label, detail::TextKind::kLine));
  STREAMLET_ASSIGN_OR_RETURN(auto cues, captions::parse(body));
  if (cues.empty()) return error(ErrorCode::kInvalidArgument, "captions: the file has no cues");
  // The source first (what a later transcode publishes again), then the record, then the
  // published files and manifests.
  STREAMLET_RETURN_IF_ERROR(
      impl_->storage->put(internal::caption_source_key(v.id, lang), captions::to_webvtt(cues)));
  catalog::Caption c;
  c.video_id = v.id;
  c.language = lang;
  c.label = label.empty() ? lang : std::string(label);
  c.cues = static_cast<int64_t>(cues.size());
  STREAMLET_ASSIGN_OR_RETURN(c, impl_->catalog->put_caption(c));
  STREAMLET_RETURN_IF_ERROR(impl_->republish_captions(v.id));
  return impl_->caption_view(v, c);
}

Result<std::vector<CaptionView>> Platform::list_captions(const Principal& who,
                                                         std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, viewable(*impl_->catalog, who, id));
  STREAMLET_ASSIGN_OR_RETURN(auto tracks, impl_->catalog->list_captions(v.id));
  std::vector<CaptionView> out;
  for (const auto& c : tracks) out.push_back(impl_->caption_view(v, c));
  return out;
}

Status Platform::delete_caption(const Principal& who, std::string_view id,
                                std::string_view language) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(*impl_->catalog, who, id, accounts::Action::kModify));
  auto lang = captions::canonical_language(language);
  if (!lang.ok())
    return error(ErrorCode::kNotFound, "no captions in '" + detail::to_valid_utf8(language) + "'");
  // The record first: from then on the manifests are rewritten without it, then files go.
  STREAMLET_RETURN_IF_ERROR(impl_->catalog->delete_caption(v.id, *lang));
  STREAMLET_RETURN_IF_ERROR(impl_->republish_captions(v.id));
  return impl_->storage->remove(internal::caption_source_key(v.id, *lang));
}

Result<VideoView> Platform::set_poster(const Principal& who, std::string_view id,
                                       std::string_view image) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(*impl_->catalog, who, id, accounts::Action::kModify));
  if (v.status != catalog::VideoStatus::kReady)
    return error(ErrorCode::kConflict, "the video is not ready yet; set its poster once it is");
  STREAMLET_ASSIGN_OR_RETURN(auto jpeg, transcode::poster_from_image(image));
  return impl_->store_poster(v, jpeg);
}

Result<VideoView> Platform::set_poster_at(const Principal& who, std::string_view id,
                                          double seconds) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(*impl_->catalog, who, id, accounts::Action::kModify));
  if (v.status != catalog::VideoStatus::kReady)
    return error(ErrorCode::kConflict, "the video is not ready yet; set its poster once it is");
  if (!std::isfinite(seconds) || seconds < 0)
    return error(ErrorCode::kInvalidArgument, "at: a number of seconds >= 0");
  // The segment of the first (highest) variant that holds that instant, with its init
  // segment in front: a small MP4 that libav opens like any input.
  const std::string prefix = media_prefix(v.id);
  STREAMLET_ASSIGN_OR_RETURN(auto master, impl_->storage->get(prefix + "master.m3u8"));
  const std::string variant = captions::first_variant_uri(master);
  if (variant.empty()) return error(ErrorCode::kNotFound, "the video has no video rendition");
  const std::string dir = variant.substr(0, variant.rfind('/') + 1);
  STREAMLET_ASSIGN_OR_RETURN(auto playlist, impl_->storage->get(prefix + variant));
  std::string init, segment;
  double start = 0, offset = 0, duration = 0;
  for (size_t at = 0; at < playlist.size();) {
    size_t nl = playlist.find('\n', at);
    if (nl == std::string::npos) nl = playlist.size();
    const std::string line = playlist.substr(at, nl - at);
    at = nl + 1;
    if (line.rfind("#EXT-X-MAP:URI=\"", 0) == 0) {
      init = line.substr(16, line.find('"', 16) - 16);
    } else if (line.rfind("#EXTINF:", 0) == 0) {
      duration = std::strtod(line.c_str() + 8, nullptr);
    } else if (!line.empty() && line[0] != '#') {
      if (segment.empty() || seconds >= start) {
        segment = line;
        offset = seconds - start;
      }
      start += duration;
    }
  }
  if (init.empty() || segment.empty())
    return error(ErrorCode::kNotFound, "the video's playlist names no segment");
  STREAMLET_ASSIGN_OR_RETURN(auto head, impl_->storage->get(prefix + dir + init, 64u << 20));
  STREAMLET_ASSIGN_OR_RETURN(auto body, impl_->storage->get(prefix + dir + segment, 512u << 20));
  std::error_code ec;
  fs::create_directories(impl_->parts.scratch_dir, ec);
  const fs::path file = impl_->parts.scratch_dir / ("poster-" + detail::random_id() + ".mp4");
  STREAMLET_RETURN_IF_ERROR(detail::write_file_atomic(file, head + body));
  auto jpeg = transcode::poster_from_video(file.string(), offset);
  fs::remove(file, ec);
  if (!jpeg.ok()) return jpeg.status();
  return impl_->store_poster(v, *jpeg);
}

// ---- jobs -------------------------------------------------------------------------------

Result<jobs::JobPage> Platform::list_jobs(const Principal& who, std::optional<jobs::JobState> state,
                                        std::string_view cursor, int limit) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  jobs::JobFilter filter;
  filter.state = state;
  filter.limit = limit;
  // Jobs carry their video's owner, so a user's page is theirs alone, however many jobs
  // others have.
  if (!who.admin()) filter.owner_id = who.user_id;
  return impl_->queue->list(filter, cursor);
}

Result<jobs::Job> Platform::retry_job(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto job, impl_->job_of(id));
  STREAMLET_ASSIGN_OR_RETURN(auto video, impl_->video_for_job(who, job, accounts::Action::kModify));
  STREAMLET_ASSIGN_OR_RETURN(auto after, impl_->queue->retry(id));
  if (!video.id.empty()) (void)impl_->lifecycle->queued(video.id);
  impl_->pool->wake();
  return after;
}

Result<jobs::Job> Platform::cancel_job(const Principal& who, std::string_view id) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  STREAMLET_ASSIGN_OR_RETURN(auto job, impl_->job_of(id));
  STREAMLET_ASSIGN_OR_RETURN(auto video, impl_->video_for_job(who, job, accounts::Action::kModify));
  STREAMLET_ASSIGN_OR_RETURN(auto after, impl_->queue->cancel(id));
  // A chunk or the join of a chunked transcode: the whole flow goes with it.
  if (in_flow(job)) impl_->cancel_jobs_of(job.video_id);
  // A queued job is cancelled at once (no worker will tell); a running one when its worker stops.
  if (after.state == jobs::JobState::kCancelled && !video.id.empty())
    (void)impl_->lifecycle->failed(video.id, "transcode cancelled");
  return after;
}

PlatformStats Platform::stats() {
  PlatformStats out;
  auto counts = impl_->queue->count_by_state();  // one query, however many jobs
  for (auto s : {jobs::JobState::kQueued, jobs::JobState::kRunning, jobs::JobState::kSucceeded,
                 jobs::JobState::kFailed, jobs::JobState::kCancelled})
    out.jobs.emplace_back(s, counts.ok() ? counts->of(s) : 0);
  out.transcode_fps = impl_->transcode_fps.load();
  return out;
}

// ---- uploads ----------------------------------------------------------------------------

void Platform::set_upload_observer(
    std::function<void(const upload::UploadInfo&, const std::string&)> fn) {
  impl_->upload_observer = std::move(fn);
}

size_t Platform::expire_uploads() {
  return impl_->store->expire_idle();
}

namespace {

// Before a tus creation reaches the store: the Upload-Metadata to pass on instead (with the
// uploader and, for anything but a partial upload, a newly created video, status uploading).
struct Creation {
  std::string metadata_header;
  std::string video_id;  // "" for partial uploads
};

Result<Creation> begin_upload(Platform::Impl& impl, const Principal& who,
                              std::string_view metadata_header, bool partial) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  if (!who.admin()) {
    if (auto wait = impl.upload_rate->acquire(who.user_id); wait.count() > 0)
      return rate_limited("at most " + std::to_string(impl.options.uploads_per_minute) +
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
    nv.visibility = impl.options.default_visibility;
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
    STREAMLET_ASSIGN_OR_RETURN(auto v, impl.catalog->create_video(nv));
    c.video_id = v.id;
    meta[kMetaVideo] = v.id;
  }
  c.metadata_header = upload::format_metadata(meta);
  return c;
}

// After the store answered the creation: links the video to its upload id, or removes the
// video when the creation failed (upload_id "").
void finish_upload_creation(Platform::Impl& impl, const Creation& creation,
                            std::string_view upload_id) {
  if (creation.video_id.empty()) return;
  if (upload_id.empty()) {
    (void)impl.catalog->delete_video(creation.video_id);
    return;
  }
  (void)impl.storage->put(link_key(creation.video_id), upload_id);
}

// HEAD/PATCH/DELETE of an upload: only its uploader or an admin. A DELETE (`terminating`) of
// a finished upload whose video is still queued or being transcoded is kConflict: the file is
// the transcode's input, and deleting the video is how to stop that. (An unfinished upload's
// DELETE takes its video with it, through the store's removal callback.)
Status check_upload_access(Platform::Impl& impl, const Principal& who, std::string_view upload_id,
                           bool terminating) {
  STREAMLET_RETURN_IF_ERROR(need_user(who));
  auto info = impl.store->info(upload_id);
  if (!info.ok()) return Status::Ok();  // the tus handler answers 404/410 itself
  auto owner = info->metadata.find(kMetaOwner);
  if (!who.admin() && (owner == info->metadata.end() || owner->second != who.user_id))
    return error(ErrorCode::kPermissionDenied, "not your upload");
  auto video = info->metadata.find(kMetaVideo);
  if (terminating && info->complete() && video != info->metadata.end()) {
    auto v = impl.catalog->get_video(video->second);
    if (v.ok() && (v->status == catalog::VideoStatus::kQueued ||
                   v->status == catalog::VideoStatus::kProcessing))
      return error(ErrorCode::kConflict, "this upload is being transcoded into video " + v->id +
                                             "; delete the video to stop it");
  }
  return Status::Ok();
}


// The upload id at the end of an upload URL ("http://h/v1/uploads/<id>" -> "<id>").
std::string last_segment(std::string_view url) {
  auto slash = url.rfind('/');
  return std::string(slash == std::string_view::npos ? url : url.substr(slash + 1));
}

void add_expose(upload::TusResponse& r, std::string_view name) {
  for (auto& [k, v] : r.headers)
    if (k == "Access-Control-Expose-Headers") {
      v += ", " + std::string(name);
      return;
    }
  r.headers.emplace_back("Access-Control-Expose-Headers", std::string(name));
}

}  // namespace

upload::TusResponse Platform::handle_upload(const upload::TusRequest& request) {
  Impl& impl = *impl_;
  auto refuse = [&](Status why) {
    upload::TusResponse r;
    r.error = std::move(why);
    r.status = 0;
    r.body_unread = bool(request.body);
    r.headers = {{"Tus-Resumable", std::string(upload::TusHandler::kVersion)},
                 {"Access-Control-Allow-Origin", impl.options.cors_allow_origin}};
    if (r.error.code() == ErrorCode::kUnauthenticated) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    // A browser's tus client may only read Retry-After when it is exposed.
    if (r.error.code() == ErrorCode::kRateLimited)
      r.headers.emplace_back("Access-Control-Expose-Headers", "Tus-Resumable, Retry-After");
    return r;
  };
  const std::string& base = impl.options.uploads_path;
  const bool collection = request.path == base || request.path == base + "/";
  std::string method = request.header("X-HTTP-Method-Override").value_or(request.method);
  std::optional<Creation> creation;
  upload::TusRequest forwarded = request;
  if (method != "OPTIONS") {
    auto who = authenticate(request.header("Authorization").value_or(""));
    if (!who.ok()) return refuse(who.status());
    if (!who->authenticated())
      return refuse(error(ErrorCode::kUnauthenticated, "sign in or use an API key to upload"));
    if (method == "POST" && collection) {
      // The video exists from creation on; its id and the uploader travel in the metadata.
      const bool partial = request.header("Upload-Concat").value_or("") == "partial";
      auto c = begin_upload(impl, *who, request.header("Upload-Metadata").value_or(""), partial);
      if (!c.ok()) return refuse(c.status());
      creation = *c;
      std::erase_if(forwarded.headers, [](const auto& h) {
        return strcasecmp(h.first.c_str(), "Upload-Metadata") == 0;
      });
      if (!c->metadata_header.empty())
        forwarded.headers.emplace_back("Upload-Metadata", c->metadata_header);
    } else if (!collection) {
      Status access = check_upload_access(impl, *who, last_segment(request.path), method == "DELETE");
      if (!access.ok()) return refuse(access);
    }
  }
  // (A terminated unfinished upload takes its video with it: the platform hears it from the
  // upload store.)
  upload::TusResponse out = impl.tus->handle(forwarded);
  // HEAD names the video too, so a client that resumed (and never saw the POST) can find it.
  if (method == "HEAD" && !collection && out.status == 200) {
    for (const auto& [name, value] : out.headers) {
      if (strcasecmp(name.c_str(), "Upload-Metadata") != 0) continue;
      auto meta = upload::parse_metadata(value);
      if (meta.ok() && meta->count(kMetaVideo)) {
        out.headers.emplace_back("Streamlet-Video-Id", meta->at(kMetaVideo));
        add_expose(out, "Streamlet-Video-Id");
      }
      break;
    }
  }
  if (creation) {
    std::string location;
    for (const auto& [name, value] : out.headers)
      if (name == "Location") location = value;
    const bool created = out.error.ok() && out.status == 201 && !location.empty();
    finish_upload_creation(impl, *creation, created ? last_segment(location) : "");
    if (created && !creation->video_id.empty()) {
      out.headers.emplace_back("Streamlet-Video-Id", creation->video_id);
      add_expose(out, "Streamlet-Video-Id");
    }
  }
  return out;
}

// ---- playback ---------------------------------------------------------------------------

origin::OriginResponse Platform::serve_media(std::string_view video_id,
                                             const origin::OriginRequest& req) {
  // Ids are what the catalog generates: anything else (hidden work dirs, "..") is unknown.
  if (!impl_->options.roles.origin)
    return origin::detail::json_error(
        404, "this node does not serve /media (its roles: " + to_string(impl_->options.roles) +
                 "); ask an origin node");
  const bool plausible = origin::plausible_video_id(video_id);
  auto cached = plausible ? impl_->policy_of(video_id) : Impl::CachedPolicy{};
  if (!cached.exists) {
    return origin::detail::json_error(404, "no such video");
  }
  return impl_->origin->serve(*impl_->storage, media_prefix(video_id),
                              video_id, req, cached.policy);
}

}  // namespace streamlet::platform
