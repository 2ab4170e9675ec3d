// The platform: the library's stores wired together the way streamlet-server
// runs them, so another program (a different HTTP stack, a desktop app) gets
// the same behaviour by embedding one object.
//
//   auto p = streamlet::platform::Platform::open_local({.data_dir = "data"}).value();
//   p->start();                       // workers, recovery of orphaned jobs
//   auto who = p->authenticate(request_authorization_header);
//   auto video = p->get_video(*who, id);  // a VideoView, or kNotFound
//
// Data directory layout: catalog.db (catalog + job queue), uploads/ (tus
// store), media/<video_id>/ (published transcoder output), upload-links/
// (video -> upload id), secrets (token + URL signing keys, 0600).
//
// Answers are typed values (the HTTP adapter turns them into the JSON of
// docs/api.md); errors are Status values (kNotFound for what the caller may
// not see, kPermissionDenied for what it may see but not change, ...). No call
// bypasses authorization: every one that acts for a caller takes its Principal.
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
#include "streamlet/mail.hpp"
#include "streamlet/origin.hpp"
#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/throttle.hpp"
#include "streamlet/transcode.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::metrics {
class Registry;
}

namespace streamlet::platform {

// What one node of a platform does. A single machine is all three; a cluster spreads them
// over nodes that share the catalog, the queue, the bus and the storage.
struct Roles {
  bool api = true;     // REST API, tus uploads, progress streams, the web app; upload expiry
  bool worker = true;  // claims and runs transcode jobs
  bool origin = true;  // serves /media
  bool operator==(const Roles&) const = default;
};
// "api,worker,origin" (any non-empty subset, any order) -> Roles; kInvalidArgument naming the
// unknown role otherwise.
Result<Roles> parse_roles(std::string_view spec);
std::string to_string(const Roles& roles);  // "api,worker,origin"

struct PlatformOptions {
  std::filesystem::path data_dir;  // open_local() only: where the embedded stores live
  // The admin's API key (the server's --api-key). "" = none, unless make_admin_api_key.
  std::string admin_api_key;
  // Platform::open only: with no admin_api_key, use the platform's own, made by the first
  // node that needs it and kept where the platform keeps its secrets: in a catalog named by
  // URL or path (so every node on that catalog accepts the same key), else in DATA/api-key
  // (0600). Platform::admin_api_key() says which, and whether this node made it.
  bool make_admin_api_key = false;
  Roles roles;                   // all three: one machine
  // Platform::open only: an origin node on remote storage (S3) keeps the hot media objects it
  // serves in a cache of this many bytes under DATA/cache/origin (0: none). Local storage
  // needs none.
  uint64_t origin_cache_bytes = 1ull << 30;
  // Where the parts the platform builds register their metrics (the origin cache's
  // streamlet_storage_cache_*), e.g. the registry a server's /metrics renders. It must outlive
  // the platform. nullptr (default): none.
  metrics::Registry* metrics = nullptr;
  int workers = 1;               // transcode worker threads (worker role only)
  transcode::Options transcode;  // ladder, preset, ...
  jobs::RetryPolicy retry;       // attempts and backoff of transcode jobs
  // How long a worker's claim on a job lasts without a heartbeat (renewed every third of it):
  // a worker that dies (kill -9, a lost host) gives its job back to the others after this.
  std::chrono::milliseconds job_lease{60'000};
  // On a platform whose upload store other API nodes share (PlatformParts::shared): how long
  // a request's lock on an upload lasts without renewal (renewed every third of it while the
  // body streams). A second request for the upload on any node is refused meanwhile, so an API
  // node that dies mid-request blocks its upload for at most this long.
  std::chrono::milliseconds upload_lock_lease{10'000};
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
  // Per user and node (kept in memory like the other rates: a cluster of N API nodes lets a
  // user have up to N times this), answered kRateLimited (429 + Retry-After); 0: no limit.
  int comments_per_minute = 10;  // comments posted
  int likes_per_minute = 60;     // likes and unlikes
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
  // fsync before acknowledging upload bytes; open_local() also gives it to the local
  // storage, so off means nothing it writes is fsynced (throwaway data only).
  bool durable_uploads = true;
  std::string cors_allow_origin = "*";
  // Where the tus collection is served; upload URLs are this + "/" + id.
  std::string uploads_path = "/v1/uploads";
};

// Listing parameters of GET /v1/videos.
struct VideoListParams {
  std::string q;
  bool owner_me = false;
  std::optional<catalog::VideoStatus> status;
  // Only videos of this visibility (the home page asks for public ones, so that the viewer's
  // own unlisted and private videos, and an admin's view of everyone's, stay in the library).
  std::optional<catalog::Visibility> visibility;
  // A channel: only this user's public, ready videos, whoever asks (the owner and admins
  // included: it is the page everyone sees). "" = no such filter; an unknown name is kNotFound.
  std::string owner_username;
  std::optional<catalog::VideoSort> sort;  // nullopt: best match with q, else newest
  int page = 1;       // >= 1
  int per_page = 20;  // 1..100
};

// One video rendition as a viewer's player sees it.
struct RenditionView {
  std::string id;  // "720p"
  int width = 0;
  int height = 0;
  int64_t bitrate = 0;  // target bits/s
};

// A caption track of a video as a player sees it: `url` is its whole WebVTT file (signed when
// the video is private); the manifests name the same track for HLS and DASH players.
struct CaptionView {
  catalog::Caption caption;
  std::string url;  // "/media/<id>/subs/<lang>.vtt"
};

// A video as the caller may see it: the catalog's record plus what is derived from it for
// playback. URLs are paths on this server ("/media/<id>/master.m3u8"), signed (a query
// string) when the video is private; empty when there is none (not ready, not written).
struct VideoView {
  catalog::Video video;
  std::optional<std::string> owner_username;  // nullopt when the owner is gone
  std::vector<RenditionView> renditions;      // video tracks, highest first as written
  std::string hls_url;
  std::string dash_url;
  std::string poster_url;
  std::string storyboard_url;
  std::string page_url;  // "/watch/<id>"
  std::vector<CaptionView> captions;  // get_video only (listings leave it empty)
  // Whether the signed-in caller likes it (get_video only; nullopt for anonymous callers and
  // in listings). The count is video.like_count.
  std::optional<bool> liked;
  // The playback URLs answer: the video is ready, or still processing with its first
  // segments and growing manifests published (progressive transcode).
  bool playable = false;
};

// The file a video was made from, as its uploader sent it (kept until the video is deleted).
struct OriginalFile {
  std::shared_ptr<const storage::Reader> file;  // its size is file->info().size
  // The uploader's file name without any directory or control character, else "<video id>".
  std::string filename;
};

// A secret as this node of a platform got it.
struct NodeSecret {
  std::string value;
  // This node made it now (the first node on a catalog, or a new data directory): the one
  // time to show it to the operator. Nodes that found it made by another leave it false.
  bool made_here = false;
  // Where it is kept, for that message: a file's path, or "the catalog".
  std::string kept_in;
};

// Which days a statistics call covers: "YYYY-MM-DD" (UTC), inclusive. `to` "" is today;
// `from` "" is kDefaultStatsDays days ending at `to`. At most kMaxStatsDays days, from <= to.
struct StatsQuery {
  std::string from;
  std::string to;
  int top = 10;  // library_stats: how many videos its top list holds, 0..kMaxStatsTop
};
inline constexpr int kDefaultStatsDays = 28;
inline constexpr int kMaxStatsDays = 366;
inline constexpr int kMaxStatsTop = 100;

// Views over a range of days, as a chart shows them: `stats.days` holds every day of
// from..to in order, zero for a day without views.
struct VideoStatsView {
  std::string from, to;
  catalog::ViewStats stats;
};

// The same for every video the caller owns, with the videos that had the most views.
struct LibraryStatsView {
  std::string from, to;
  catalog::LibraryStats stats;  // stats.totals.days: every day of from..to
};

// One page of a numbered listing.
template <typename T>
struct Page {
  std::vector<T> items;
  int page = 1;
  int per_page = 20;
  int64_t total = 0;  // over all pages
};

// A video's likes after a like or unlike: the count, and whether the caller likes it.
struct LikeView {
  int64_t likes = 0;
  bool liked = false;
};

// A comment as the caller sees it: `can_delete` when they wrote it, own the video or are an
// admin.
struct CommentView {
  catalog::Comment comment;
  bool can_delete = false;
};

// A page of comments, newest first; `next_cursor` ("" at the end) asks for the next one.
struct CommentList {
  std::vector<CommentView> items;
  std::string next_cursor;
  int64_t total = 0;  // on the video
};

// What a status or progress change of one video looks like to a follower (the API's
// progress stream). A plain value.
using VideoEvent = events::Event;

// Counts the platform reports for monitoring, cheap to ask for (one query).
struct PlatformStats {
  std::vector<std::pair<jobs::JobState, int64_t>> jobs;  // every state, in enum order
  double transcode_fps = 0;  // source frames per second of the running transcode(s); 0 idle
};

// Told once per video that reaches ready ("video.ready") or failed ("video.failed"), with
// the video as its owner sees it.
using VideoFinishedFn = std::function<void(const std::string& event, const VideoView& video)>;

// Mail to the uploader when a video is ready or failed (Platform::set_video_mail).
struct VideoMailOptions {
  std::string from;      // the From address (mail::check_address)
  std::string base_url;  // "https://video.example.com": the watch and account links start so
};

// A signed link to a video's original file: `path_and_query` is
// "/v1/videos/<id>/original?exp=...&sig=...", good without a session until `expires_unix`.
struct OriginalLink {
  std::string path_and_query;
  int64_t expires_unix = 0;
};

// The stores a platform runs on. Each is an interface with an embedded default (what
// open_local() builds); a networked one (PostgreSQL, S3) slots in here.
struct PlatformParts {
  std::shared_ptr<catalog::Catalog> catalog;    // videos, users, sessions, views
  std::shared_ptr<jobs::JobQueue> queue;        // transcode jobs
  std::shared_ptr<events::EventBus> bus;        // status and progress; in-process if null
  std::shared_ptr<storage::Storage> storage;    // uploads, sources and media by key
  // Scratch space on this machine (a downloaded source while it is transcoded).
  std::filesystem::path scratch_dir;
  // Signs session tokens and playback URLs; every node of one platform must share them.
  std::string token_secret;  // 16+ bytes
  std::string signing_key;   // 16+ bytes
  // Other nodes use the same catalog and storage (a cluster): the upload store then reads an
  // upload's state from storage on every request, so any API node can resume any upload.
  bool shared = false;
};

// Where a platform's stores are, as the server's options name them.
struct BackendUrls {
  // "" = DATA/catalog.db; a path: a SQLite catalog there;
  // postgresql://user:pass@host:port/db: PostgreSQL (queue and bus in it too by default).
  std::string catalog;
  // "" = in the catalog's database; postgresql://...: a PostgreSQL queue (and bus) elsewhere.
  std::string queue;
  // "" = DATA; a directory: local storage there; s3://BUCKET?endpoint=...&region=...: S3.
  std::string storage;
};

class Platform {
 public:
  // Builds the platform on `parts` (catalog, queue and storage required). Videos left
  // "uploading" whose upload is gone are removed; one whose upload finished unnoticed (a
  // crash in between) is queued for its transcode.
  static Result<std::unique_ptr<Platform>> create(PlatformOptions options, PlatformParts parts);
  // The embedded default, all under options.data_dir: catalog.db (SQLite catalog + job
  // queue), local storage (uploads/, media/<video>/, upload-links/), secrets (0600), scratch/.
  // Stored state that is not as Streamlet wrote it is refused with a message naming the file,
  // never re-created: a secrets file without both keys as strings of 16+ characters, an empty
  // catalog.db in a used data dir, a catalog from a newer version (kUnsupported), a file that
  // is not a SQLite database.
  static Result<std::unique_ptr<Platform>> open_local(PlatformOptions options);
  // The platform on the backends `urls` name (the server's --catalog, --queue, --storage);
  // options.data_dir is this node's own directory (scratch space, caches, and whatever an
  // embedded backend keeps there). With every URL empty this is open_local(). A catalog named
  // by URL or path keeps the secrets (Catalog::shared_secret: the first node to start makes
  // them), so every node sharing it signs alike; the default catalog keeps DATA/secrets.
  static Result<std::unique_ptr<Platform>> open(PlatformOptions options, const BackendUrls& urls);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Creates the "admin" user with a random password when it does not exist
  // yet; returns that password (to print once), or "" if the admin existed.
  Result<std::string> ensure_admin();
  // Starts the workers, after putting back jobs whose process died (a job out of attempts
  // is failed instead: its video turns failed, the finished callback hears video.failed); and
  // the sweep that expires idle uploads (every upload_expiration / 10, 1..60 s). (open_local()
  // removes the work directories such processes left under DATA/media first.)
  Status start();
  // Stops the workers and the sweep; running jobs go back to the queue when requeue_running.
  void stop(bool requeue_running = true);
  bool ready() const;  // catalog open and workers running

  // Called from a worker thread when a video becomes ready or fails. Set before start().
  void set_video_finished_callback(VideoFinishedFn fn);
  // Mails the owner of each video that becomes ready or fails, through `mailer` (queued: the
  // worker never waits for the mail server), when the owner has an email address and has not
  // turned email_notifications off. Subject "Ready: <title>" or "Failed: <title>", a text
  // body with the title, the watch link (or why it failed) and where to turn mail off.
  // Set before start(); the mailer must outlive the platform's workers.
  Status set_video_mail(std::shared_ptr<mail::Mailer> mailer, VideoMailOptions options);
  bool video_mail_enabled() const;  // set_video_mail was called

  // ---- secrets ------------------------------------------------------------
  // The admin API key this node accepts (value "" = none): PlatformOptions::admin_api_key,
  // or the platform's own with make_admin_api_key.
  const NodeSecret& admin_api_key() const;
  // A secret for the embedding program that every node on this platform's catalog shares
  // (the server's webhook signing key): `given` when not empty (an operator's setting wins,
  // nothing is stored); else the one the catalog keeps under `name`, made (32 random bytes,
  // base64url) by whichever node asks first, also when several ask at once. `name`: 1..100
  // characters; kInvalidArgument otherwise.
  Result<NodeSecret> shared_secret(std::string_view name, std::string_view given = {});

  // ---- accounts -----------------------------------------------------------
  // The credential of an "Authorization" header value: "" is anonymous,
  // "Bearer <session token | API key>" a user; anything else kUnauthenticated.
  Result<accounts::Principal> authenticate(std::string_view authorization) const;
  bool registration_open() const;
  // A new account, signed in. `client_address` is the caller's IP address (the socket peer;
  // "" when unknown, then only the per-account limits apply). Over a limit: kRateLimited
  // with the wait, before any password is looked at.
  Result<accounts::Session> register_user(std::string_view username, std::string_view password,
                                          std::string_view client_address = {});
  Result<accounts::Session> login(std::string_view username, std::string_view password,
                                  std::string_view client_address = {});
  Result<catalog::User> me(const accounts::Principal& who);
  // The caller's own settings: only `email` ("" removes it; otherwise a bare address, see
  // mail::check_address) and `email_notifications` may be set; role or disabled is
  // kPermissionDenied (admins use update_user).
  Result<catalog::User> update_me(const accounts::Principal& who, const catalog::UserUpdate& update);
  // Ends the caller's session server-side: its token is refused from then on.
  // kInvalidArgument when the credential is an API key (revoke_api_key ends those).
  Status logout(const accounts::Principal& who);
  // Sets a new password after checking the current one (throttled like a login), and ends
  // every other session of the user; the caller's own session stays. kUnauthenticated
  // for a wrong current password, kInvalidArgument for a new one outside 8..1024 bytes.
  Status change_password(const accounts::Principal& who, std::string_view current,
                         std::string_view replacement, std::string_view client_address = {});
  Result<catalog::NewApiKey> create_api_key(const accounts::Principal& who,
                                            std::string_view name);
  Result<std::vector<catalog::ApiKey>> list_api_keys(const accounts::Principal& who);
  // kNotFound for a key that is not the caller's (another user's key is not revealed).
  Status revoke_api_key(const accounts::Principal& who, std::string_view key_id);
  // Ends every session of the caller, this one included ("sign out everywhere"); API keys
  // stay. Returns how many sessions ended.
  Result<int64_t> sign_out_everywhere(const accounts::Principal& who);

  // ---- users (admins only: kPermissionDenied for others) --------------------------------
  // Oldest account first; page >= 1, per_page 1..100.
  Result<Page<catalog::User>> list_users(const accounts::Principal& who, int page = 1,
                                         int per_page = 50);
  // Changes a user's role or disables/enables them (a disabled user's sessions end at once
  // and their keys are refused). kConflict when no enabled admin would be left.
  Result<catalog::User> update_user(const accounts::Principal& who, std::string_view user_id,
                                    const catalog::UserUpdate& update);

  // ---- videos ---------------------------------------------------------------
  Result<Page<VideoView>> list_videos(const accounts::Principal& who,
                                      const VideoListParams& params);
  // The video if `who` may view it (kNotFound otherwise, as for an unknown id).
  Result<VideoView> get_video(const accounts::Principal& who, std::string_view id);
  Result<VideoView> update_video(const accounts::Principal& who, std::string_view id,
                                 const catalog::VideoUpdate& update);
  // The uploaded source of a video, for its owner or an admin. kNotFound for anyone else (as
  // for an unknown id) and while the upload is unfinished.
  Result<OriginalFile> original_file(const accounts::Principal& who, std::string_view id);
  // A link to the same file that works without a session (a browser's plain download) for
  // `ttl` (1 s .. 1 day), for the same callers original_file allows. Its signature is for this
  // video's original only: a playback signature does not open it, nor it playback.
  Result<OriginalLink> original_link(const accounts::Principal& who, std::string_view id,
                                     std::chrono::seconds ttl = std::chrono::minutes(10));
  // The file for a request that carries original_link's query (`query`: "exp=..&sig=..").
  // kUnauthenticated without a signature, kPermissionDenied for a forged one or one made for
  // another video, kGone for an expired one; kNotFound as original_file.
  Result<OriginalFile> original_file_signed(std::string_view id, std::string_view query);
  // Queues a failed video's transcode again (its newest job, retried as retry_job does).
  // kConflict when the video has not failed or its job is gone (the source must be uploaded
  // again).
  Result<VideoView> retry_video(const accounts::Principal& who, std::string_view id);
  // Cancels its job and removes every object of it (media, upload data).
  Status delete_video(const accounts::Principal& who, std::string_view id);
  // A playback beacon. The viewer is the signed-in user, else the client's opaque `viewer`
  // id, else the client address; each counts one view per view_interval. Over the beacon
  // rate of `client_address` ("" = unknown: not limited): kRateLimited.
  Status record_view(const accounts::Principal& who, std::string_view id, std::string_view viewer,
                     double seconds, std::string_view client_address = {});
  // Views, watch time and unique viewers of one video per day (its owner or an admin:
  // kNotFound for a video the caller may not see, kPermissionDenied for one they may only
  // watch), or of every video the caller owns. kInvalidArgument for a bad StatsQuery.
  Result<VideoStatsView> video_stats(const accounts::Principal& who, std::string_view id,
                                     const StatsQuery& query = {});
  Result<LibraryStatsView> library_stats(const accounts::Principal& who,
                                         const StatsQuery& query = {});

  // ---- captions and poster (the owner or an admin) -------------------------------
  // Adds or replaces the video's captions in `language` (a BCP 47 tag, canonicalised) from a
  // WebVTT or SRT `body` (see captions::parse for what is refused); `label` "" names the
  // track by its tag. Published at once for a ready video (its manifests gain the track, the
  // video is not re-encoded), after its transcode otherwise. kNotFound for a video the caller
  // may not see, kPermissionDenied for one they may see but not change.
  Result<CaptionView> put_caption(const accounts::Principal& who, std::string_view id,
                                  std::string_view language, std::string_view label,
                                  std::string_view body);
  // Anyone who may view the video may list its captions.
  Result<std::vector<CaptionView>> list_captions(const accounts::Principal& who,
                                                 std::string_view id);
  // kNotFound when the video has no captions in that language.
  Status delete_caption(const accounts::Principal& who, std::string_view id,
                        std::string_view language);
  // A poster of the owner's own: a JPEG or PNG image (checked by decoding it), scaled like
  // the generated one (at most 1280 pixels wide) and stored as JPEG. The video must be
  // ready (kConflict otherwise); a new transcode brings back the generated poster.
  Result<VideoView> set_poster(const accounts::Principal& who, std::string_view id,
                               std::string_view image);
  // The same with the frame on screen `seconds` into the video (what its storyboard shows
  // there), taken from its highest rendition; a time past the end takes the last frame.
  Result<VideoView> set_poster_at(const accounts::Principal& who, std::string_view id,
                                  double seconds);
  // ---- likes and comments -----------------------------------------------------------------
  // On a video the caller may view (kNotFound otherwise, as get_video answers). Liking,
  // commenting and deleting need a signed-in caller (kUnauthenticated) and are rate-limited
  // per user (comments_per_minute, likes_per_minute: kRateLimited with the wait).
  // set_like: like (true) or take it back; repeating either changes nothing.
  Result<LikeView> set_like(const accounts::Principal& who, std::string_view id, bool like);
  // `body` is trimmed, then 1..2000 characters of UTF-8 (kInvalidArgument otherwise).
  Result<CommentView> add_comment(const accounts::Principal& who, std::string_view id,
                                  std::string_view body);
  // Anyone who may view the video may read its comments: newest first, `limit` 1..100, the
  // page after `cursor` (a next_cursor; "" = the newest).
  Result<CommentList> list_comments(const accounts::Principal& who, std::string_view id,
                                    std::string_view cursor = {}, int limit = 20);
  // By its author, the video's owner or an admin; kPermissionDenied for anyone else who may
  // view the video, kNotFound for a comment the video does not have.
  Status delete_comment(const accounts::Principal& who, std::string_view id,
                        std::string_view comment_id);

  // Follows the status and progress events of one video `who` may view (kNotFound
  // otherwise). `fn` runs on the publisher's thread and must be quick; events stop when the
  // subscription is destroyed. The subscription starts before the status is read, so no
  // change between the two is missed.
  struct Following {
    events::Subscription subscription;
    catalog::VideoStatus status = catalog::VideoStatus::kUploading;
    std::string reason;
    bool playable = false;  // as VideoView::playable, when the status was read
  };
  Result<Following> follow_video(const accounts::Principal& who, std::string_view id,
                                 std::function<void(const VideoEvent&)> fn);

  // ---- jobs -------------------------------------------------------------------
  // Newest first, `limit` (1..1000) per page, the page after `cursor` (a next_cursor handed
  // out before; "" = the newest). A user sees the jobs of their own videos, an admin every job.
  Result<jobs::JobPage> list_jobs(const accounts::Principal& who,
                                  std::optional<jobs::JobState> state,
                                  std::string_view cursor = {}, int limit = 100);
  Result<jobs::Job> retry_job(const accounts::Principal& who, std::string_view id);
  Result<jobs::Job> cancel_job(const accounts::Principal& who, std::string_view id);
  // Counts for monitoring, in one query however many jobs there are.
  PlatformStats stats();

  // ---- uploads ----------------------------------------------------------------
  // One tus request (POST, HEAD, PATCH, DELETE, OPTIONS on the uploads collection) with the
  // caller's "Authorization" among its headers. Creating an upload creates its video (status
  // uploading; the response names it in Streamlet-Video-Id); only the uploader or an admin
  // may touch an upload; a DELETE of a finished upload whose video is being transcoded is
  // kConflict. Refusals come back in `error` with the tus and CORS headers already set.
  upload::TusResponse handle_upload(const upload::TusRequest& request);
  // Removes unfinished uploads idle past their expiry now (start() does it periodically).
  size_t expire_uploads();
  // Told of every finished upload (after the platform queued its transcode), with the video
  // id ("" for parts of a concatenation). For logs. Set before serving.
  void set_upload_observer(
      std::function<void(const upload::UploadInfo&, const std::string& video_id)> fn);

  // ---- playback ------------------------------------------------------------------
  // /media/{id}/{path}: unknown ids 404; private videos need the signed query.
  origin::OriginResponse serve_media(std::string_view video_id, const origin::OriginRequest& req);

  struct Impl;  // opaque

 private:
  explicit Platform(std::unique_ptr<Impl> impl);
  // Platform::open's resolution of make_admin_api_key, before anything is served.
  void set_admin_api_key(NodeSecret key);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::platform
