// The platform's catalog: videos, users, API keys and view statistics.
//
// `Catalog` is an interface with two backends: the embedded default,
// `open_sqlite_catalog()`, which keeps everything in one SQLite file (WAL journal,
// foreign keys, ordered migrations, FTS5 search over title and description), and
// `postgres::open_catalog()` (streamlet/postgres.hpp) for nodes sharing one database.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::catalog {

// Who may see a video: public is listed and playable by anyone, unlisted is
// playable by anyone with the link but not listed, private is owner/admin only.
enum class Visibility { kPublic, kUnlisted, kPrivate };

// Where a video is in its life: the upload is in progress, a transcode job is
// waiting, it is being transcoded, it can be played, or it failed (see reason).
enum class VideoStatus { kUploading, kQueued, kProcessing, kReady, kFailed };

enum class Role { kUser, kAdmin };

std::string_view to_string(Visibility v);   // "public", "unlisted", "private"
std::string_view to_string(VideoStatus s);  // "uploading", "queued", ...
std::string_view to_string(Role r);         // "user", "admin"

// The order of a listing: newest or oldest first, by title (case-insensitive, A first), or
// most viewed first. Ties go newest first.
enum class VideoSort { kNewest, kOldest, kTitle, kViews };
std::string_view to_string(VideoSort s);  // "newest", "oldest", "title", "views"

// kInvalidArgument for anything but the names above.
Result<Visibility> parse_visibility(std::string_view s);
Result<VideoStatus> parse_video_status(std::string_view s);
Result<Role> parse_role(std::string_view s);
Result<VideoSort> parse_video_sort(std::string_view s);

// One video as the catalog stores it. Times are Unix epoch milliseconds (UTC).
struct Video {
  std::string id;                                // 12 random URL-safe characters
  std::string owner_id;                          // a User id
  std::string title;                             // "" until the owner sets one
  std::string description;                       // ""
  Visibility visibility = Visibility::kPrivate;  // private until the owner says otherwise
  VideoStatus status = VideoStatus::kUploading;
  std::string status_reason;           // why it failed (or is being retried); ""
  double duration_seconds = 0;         // 0 until ready
  std::string renditions_json = "[]";  // JSON array describing the tracks, set when ready
  std::string hls_master;              // path of master.m3u8 once ready; ""
  std::string dash_manifest;           // path of the MPD once ready; ""
  std::string poster;                  // path of the poster image once ready; ""
  int64_t view_count = 0;              // playbacks recorded by record_view()
  double watch_seconds = 0;            // total watch time recorded
  int64_t like_count = 0;              // users who like it (counted from the likes, read-only)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct NewVideo {
  std::string owner_id;     // required; must be an existing user
  std::string title;        // ""
  std::string description;  // ""
  Visibility visibility = Visibility::kPrivate;
  VideoStatus status = VideoStatus::kUploading;  // kQueued when the file is already here
};

// What an owner may change; unset fields stay as they are.
struct VideoUpdate {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<Visibility> visibility;
};

// What the transcoder produced; set_ready() stores it and marks the video ready.
struct ReadyInfo {
  double duration_seconds = 0;
  std::string renditions_json = "[]";  // must be a JSON array
  std::string hls_master;              // ""
  std::string dash_manifest;           // ""
  std::string poster;                  // ""
};

// A listing request. Filters combine with AND; an empty filter matches all.
struct VideoQuery {
  std::optional<std::string> owner_id;   // only this owner's videos
  std::string text;                      // full-text words over title + description; ""
  std::optional<Visibility> visibility;  // e.g. kPublic for the public browse page
  std::optional<VideoStatus> status;     // e.g. kReady for playable videos only
  // What a non-admin may list: other people's videos only when public and
  // ready, and every video of this user ("" = anonymous: public and ready
  // only). Combined with the filters above, in one query, so a page costs the
  // same however many videos the catalog holds.
  std::optional<std::string> visible_to;
  // nullopt: best match first when `text` is set, else newest first.
  std::optional<VideoSort> sort;
  int limit = 20;                        // 1..100 (clamped)
  int offset = 0;                        // >= 0
};

// A page of a listing, in the query's order.
struct VideoPage {
  std::vector<Video> items;
  int64_t total = 0;  // matches of the query over all pages
};

// A caption track of a video as the catalog records it (its files are in storage, under the
// video's media). One per video and language.
struct Caption {
  std::string video_id;
  std::string language;    // a canonical BCP 47 tag ("en", "pt-BR"), 1..35 characters
  std::string label;       // what the CC menu shows ("English"); one line, at most 100 bytes
  int64_t cues = 0;        // how many cues the file holds
  int64_t updated_at_ms = 0;  // set by the catalog
};

// A comment on a video, newest first in a listing. Its author's comments go with the author's
// account, and every comment of a video with the video.
struct Comment {
  std::string id;               // 12 random URL-safe characters
  std::string video_id;
  std::string author_id;        // a User id
  std::string author_username;  // the author's name when read
  std::string body;             // kMinCommentChars..kMaxCommentChars characters, trimmed
  int64_t created_at_ms = 0;
};

// Comments are 1..2000 characters (code points) of UTF-8 once leading and trailing
// whitespace is trimmed; lines and tabs are allowed, other control characters are not.
inline constexpr size_t kMinCommentChars = 1;
inline constexpr size_t kMaxCommentChars = 2000;

// A page of comments, newest first. `next_cursor` asks for the page after it ("" = the end):
// a position, so comments posted meanwhile neither repeat nor push others off a page.
struct CommentPage {
  std::vector<Comment> items;
  std::string next_cursor;
  int64_t total = 0;  // comments on the video
};

struct User {
  std::string id;             // 12 random URL-safe characters
  std::string username;       // unique, compared case-insensitively
  std::string email;          // "" if not given
  std::string password_hash;  // an encoded argon2id hash (accounts::hash_password)
  Role role = Role::kUser;
  bool disabled = false;  // an admin turned the account off: no sign-in, no keys, no sessions
  // Mail when one of their videos is ready or failed (when the server sends mail and
  // `email` is set). On for every account until its user turns it off.
  bool email_notifications = true;
  int64_t created_at_ms = 0;
};

// What an admin may change about a user; unset fields stay as they are.
// What the user may change about themselves are `email` ("" removes it; checked with
// mail::check_address by the platform) and `email_notifications`.
struct UserUpdate {
  std::optional<Role> role;
  std::optional<bool> disabled;
  std::optional<std::string> email{};
  std::optional<bool> email_notifications{};
};

// A page of users, oldest account first.
struct UserPage {
  std::vector<User> items;
  int64_t total = 0;
};

struct NewUser {
  std::string username;       // see check_username
  std::string email;          // ""
  std::string password_hash;  // already hashed; the catalog never sees a password
  Role role = Role::kUser;
};

// An API key as listed to its owner; the secret itself is never stored.
struct ApiKey {
  std::string id;
  std::string user_id;
  std::string name;    // the owner's label, e.g. "ci uploader"
  std::string prefix;  // first characters of the key, to recognise it in a list
  int64_t created_at_ms = 0;
  int64_t last_used_at_ms = 0;  // 0 if never used
};

// Returned once by create_api_key(): `key` is the only copy of the secret.
struct NewApiKey {
  ApiKey info;
  std::string key;  // "sk_" + 43 base64url characters
};

// One playback beacon. The first beacon of a playback sets `new_view` so it
// counts as a view; later beacons of the same playback only add watch time.
// With `once_per_day` the catalog decides instead: a viewer's first beacon of
// the day on a video counts a view. With a positive `view_interval` it decides
// by time: a beacon counts a view when the viewer's last counted view of that
// video is at least that old (or there is none). Both rest on stored rows, so
// they hold across restarts and for any number of viewers, which a caller's
// own memory of who it has seen does not.
struct ViewBeacon {
  std::string video_id;
  std::string
      viewer_key;  // stable per viewer (session, user id, hashed address); hashed before storage
  double seconds_watched = 0;  // watch time since the previous beacon, >= 0
  std::string day;             // "YYYY-MM-DD" (UTC); "" means the day of at_ms
  bool new_view = true;        // ignored when once_per_day or view_interval decides
  bool once_per_day = false;
  int64_t view_interval_seconds = 0;  // > 0: at most one view per viewer per this long
  int64_t at_ms = 0;                  // when the beacon came (Unix ms); 0 = now
};

struct DailyViews {
  std::string day;  // "YYYY-MM-DD"
  int64_t views = 0;
  double watch_seconds = 0;
  int64_t unique_viewers = 0;  // distinct viewer keys that day
};

struct ViewStats {
  int64_t views = 0;  // over the requested days
  double watch_seconds = 0;
  int64_t unique_viewers = 0;    // distinct viewer keys over the requested days
  std::vector<DailyViews> days;  // ascending, only days with activity
};

// One video's part of a library's views over the requested days.
struct VideoViewTotals {
  std::string video_id;
  std::string title;
  int64_t views = 0;
  double watch_seconds = 0;
  int64_t unique_viewers = 0;  // distinct viewer keys of this video
};

// The views of every video of one owner. A viewer of two of the videos is one unique viewer
// of the library (totals and per day), as viewer keys do not depend on the video.
struct LibraryStats {
  ViewStats totals;                  // summed over the owner's videos, days as in ViewStats
  std::vector<VideoViewTotals> top;  // videos with activity: most views, then watch time, first
};

// What a username may be, for every way one is made (registration, the admin, embedders):
// kMinUsername..kMaxUsername characters of [A-Za-z0-9_.-]; kInvalidArgument otherwise.
inline constexpr size_t kMinUsername = 3;
inline constexpr size_t kMaxUsername = 32;
Status check_username(std::string_view name);

// The catalog store. Implementations are thread safe: any method may be called
// from any thread. The SQLite default serialises calls on one connection
// behind a mutex (calls are short) and relies on WAL + busy_timeout when other
// connections, such as the job queue's, share the file; the PostgreSQL one runs
// calls side by side on a pool of connections.
class Catalog {
 public:
  virtual ~Catalog() = default;

  // Videos. kNotFound for an unknown id; kInvalidArgument for bad fields.
  virtual Result<Video> create_video(const NewVideo& video) = 0;
  virtual Result<Video> get_video(std::string_view id) = 0;
  virtual Result<Video> update_video(std::string_view id, const VideoUpdate& update) = 0;
  // Any status change; `reason` explains failures ("" clears it).
  virtual Result<Video> set_status(std::string_view id, VideoStatus status,
                                   std::string_view reason = {}) = 0;
  virtual Result<Video> set_ready(std::string_view id, const ReadyInfo& info) = 0;
  // Removes the video, its search entry, its view statistics, likes and comments.
  virtual Status delete_video(std::string_view id) = 0;
  virtual Result<VideoPage> list_videos(const VideoQuery& query) = 0;
  // Points the video at another poster image (a path like ReadyInfo::poster). kNotFound.
  virtual Result<Video> set_poster(std::string_view id, std::string_view poster) = 0;

  // Caption tracks. put_caption adds or replaces the video's track of that language
  // (kNotFound for an unknown video, kInvalidArgument for a bad label or language);
  // list_captions orders them by language; delete_caption: kNotFound when there is none.
  // Deleting a video deletes its captions.
  virtual Result<Caption> put_caption(const Caption& caption) = 0;
  virtual Result<std::vector<Caption>> list_captions(std::string_view video_id) = 0;
  virtual Status delete_caption(std::string_view video_id, std::string_view language) = 0;

  // Likes: at most one per user and video (the store's key says so, whatever the callers do).
  // set_like adds (`like`) or takes back the user's like; doing what is already so changes
  // nothing. Returns the video's like count after. kNotFound for an unknown video or user.
  virtual Result<int64_t> set_like(std::string_view video_id, std::string_view user_id,
                                   bool like) = 0;
  // Whether the user likes the video (false for unknown ids).
  virtual Result<bool> likes(std::string_view video_id, std::string_view user_id) = 0;

  // Comments. add_comment trims `body` and stores it (kInvalidArgument when it is not
  // 1..kMaxCommentChars characters of UTF-8 then; kNotFound for an unknown video or author).
  // list_comments: newest first, `limit` 1..100 (clamped), after `cursor` (a next_cursor; ""
  // = the newest; kInvalidArgument for one not made here). get_comment and delete_comment:
  // kNotFound when the video has no such comment.
  virtual Result<Comment> add_comment(std::string_view video_id, std::string_view author_id,
                                      std::string_view body) = 0;
  virtual Result<CommentPage> list_comments(std::string_view video_id, std::string_view cursor,
                                            int limit) = 0;
  virtual Result<Comment> get_comment(std::string_view video_id,
                                      std::string_view comment_id) = 0;
  virtual Status delete_comment(std::string_view video_id, std::string_view comment_id) = 0;

  // Users. create_user: kAlreadyExists when the username is taken.
  virtual Result<User> create_user(const NewUser& user) = 0;
  virtual Result<User> get_user(std::string_view id) = 0;
  virtual Result<User> find_user_by_name(std::string_view username) = 0;
  virtual Status set_user_role(std::string_view user_id, Role role) = 0;
  // Changes role and/or disabled in one step that cannot leave the catalog without an
  // enabled admin: kConflict (and nothing changed) when it would, also when two admins are
  // changed at the same moment. kNotFound for no such user. Disabling does not end the
  // user's sessions by itself (AccountService::update_user does).
  virtual Result<User> update_user(std::string_view user_id, const UserUpdate& update) = 0;
  // Oldest account first; `limit` 1..100 (clamped), `offset` >= 0.
  virtual Result<UserPage> list_users(int limit, int offset) = 0;
  // Replaces the stored hash (an accounts::hash_password result). kNotFound for no such user.
  virtual Status set_password_hash(std::string_view user_id, std::string_view hash) = 0;
  virtual Result<int64_t> count_users() = 0;

  // Sessions: the server-side half of a session token, so that a session can end before
  // its token expires (logout, a password change). A session is alive while its row exists
  // and `expires_at_ms` (Unix ms) is in the future; deleting a user ends theirs.
  // create_session returns the new session's id (22 random characters); it also clears
  // away sessions that have expired.
  virtual Result<std::string> create_session(std::string_view user_id, int64_t expires_at_ms) = 0;
  // Ok when the session is alive and belongs to `user_id`; kUnauthenticated otherwise.
  virtual Status check_session(std::string_view session_id, std::string_view user_id) = 0;
  // Ends one session (kNotFound when it is not there).
  virtual Status delete_session(std::string_view session_id) = 0;
  // Ends every session of the user except `keep` ("" = all); returns how many ended.
  virtual Result<int64_t> delete_sessions_of(std::string_view user_id,
                                             std::string_view keep = {}) = 0;

  // API keys: only a SHA-256 of the key is stored, so a leaked database does
  // not leak working keys. find_user_by_api_key: kUnauthenticated if unknown.
  virtual Result<NewApiKey> create_api_key(std::string_view user_id, std::string_view name) = 0;
  virtual Result<User> find_user_by_api_key(std::string_view key) = 0;
  virtual Result<std::vector<ApiKey>> list_api_keys(std::string_view user_id) = 0;
  virtual Status revoke_api_key(std::string_view user_id, std::string_view key_id) = 0;

  // Views. kNotFound for an unknown video. `from_day`/`to_day` ("YYYY-MM-DD",
  // inclusive) bound the statistics; "" means unbounded.
  virtual Status record_view(const ViewBeacon& beacon) = 0;
  virtual Result<ViewStats> view_stats(std::string_view video_id, std::string_view from_day = {},
                                       std::string_view to_day = {}) = 0;
  // The same over every video `owner_id` owns (none: all zero; an unknown owner is one with
  // no videos), with at most `top_count` (>= 0) videos in `top`. kInvalidArgument for bad days.
  virtual Result<LibraryStats> library_view_stats(std::string_view owner_id,
                                                  std::string_view from_day, std::string_view to_day,
                                                  int top_count) = 0;

  // Secrets every node of a cluster must share (session signing, URL signing, webhooks):
  // returns the value stored under `name`, storing `candidate` first when there is none, so
  // whichever node asks first decides and every node gets the same value, also when several
  // ask at the same moment. The value is kept as given (callers pass random text, e.g.
  // base64url); it is never changed or removed by the catalog. `name`: 1..100 characters of
  // one-line UTF-8; `candidate` non-empty; kInvalidArgument otherwise.
  virtual Result<std::string> shared_secret(std::string_view name, std::string_view candidate) = 0;

  // Leases: what the processes on this catalog must do one at a time (an upload's append on
  // the API nodes of a cluster). take_lease gives `name` to `holder` until `ttl` from now and
  // returns true when nobody holds it, when its holder's lease has run out (a node that died
  // holds nothing for longer than its ttl), or when `holder` holds it (a renewal); false while
  // another holder's lease is live. PostgreSQL counts time on the database server, so the
  // nodes' clocks need not agree. `name` and `holder`: 1..200 characters of UTF-8;
  // kInvalidArgument otherwise.
  virtual Result<bool> take_lease(std::string_view name, std::string_view holder,
                                  std::chrono::milliseconds ttl) = 0;
  // Ends `holder`'s lease on `name`; nothing when another holds it (or nobody).
  virtual Status release_lease(std::string_view name, std::string_view holder) = 0;
};

// Opens (creating if needed) the SQLite catalog at `path` and applies any
// pending migrations; opening the same file again is harmless.
// Errors: kIo when the file cannot be opened, kInternal for a schema failure.
Result<std::unique_ptr<Catalog>> open_sqlite_catalog(const std::string& path);

}  // namespace streamlet::catalog
