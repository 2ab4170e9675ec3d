// The embedded catalog: one SQLite connection behind a mutex.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>

#include "catalog/fields.hpp"
#include "catalog/sqlite_db.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "streamlet/catalog.hpp"

namespace streamlet::catalog {
namespace {

using streamlet::detail::sql::Db;
using streamlet::detail::sql::Stmt;
using streamlet::detail::sql::Transaction;

using detail::check_text;
using detail::kMaxDescription;
using detail::kMaxTitle;
using detail::valid_day;

// Ordered, append-only: a released step is never edited, a change is a new step.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> steps = {
      R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  email TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  created_at_ms INTEGER NOT NULL
);
-- seq aliases the rowid so FTS rows stay attached to their video across VACUUM.
CREATE TABLE videos (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  visibility TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private')),
  status TEXT NOT NULL
    CHECK (status IN ('uploading', 'queued', 'processing', 'ready', 'failed')),
  status_reason TEXT NOT NULL DEFAULT '',
  duration_seconds REAL NOT NULL DEFAULT 0,
  renditions_json TEXT NOT NULL DEFAULT '[]',
  hls_master TEXT NOT NULL DEFAULT '',
  dash_manifest TEXT NOT NULL DEFAULT '',
  poster TEXT NOT NULL DEFAULT '',
  view_count INTEGER NOT NULL DEFAULT 0,
  watch_seconds REAL NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE INDEX videos_by_owner ON videos(owner_id, created_at_ms);
CREATE INDEX videos_by_created ON videos(created_at_ms);
CREATE VIRTUAL TABLE videos_fts USING fts5(
  title, description, content='videos', content_rowid='seq',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
  INSERT INTO videos_fts(rowid, title, description) VALUES (new.seq, new.title, new.description);
END;
CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
  INSERT INTO videos_fts(videos_fts, rowid, title, description)
    VALUES ('delete', old.seq, old.title, old.description);
END;
CREATE TRIGGER videos_fts_update AFTER UPDATE OF title, description ON videos BEGIN
  INSERT INTO videos_fts(videos_fts, rowid, title, description)
    VALUES ('delete', old.seq, old.title, old.description);
  INSERT INTO videos_fts(rowid, title, description) VALUES (new.seq, new.title, new.description);
END;
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL DEFAULT '',
  prefix TEXT NOT NULL,
  key_sha256 TEXT NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL,
  last_used_at_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);
-- One row per video, day and viewer: unique viewers per day is a row count.
CREATE TABLE video_views (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  viewer_sha256 TEXT NOT NULL,
  views INTEGER NOT NULL DEFAULT 0,
  watch_seconds REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (video_id, day, viewer_sha256)
) WITHOUT ROWID;
)sql",
      R"sql(
-- Live sessions: a session token names its row (claim "sid"); no row, no session.
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at_ms);
)sql",
      R"sql(
-- When each viewer's last view of a video was counted (ViewBeacon::view_interval_seconds).
CREATE TABLE viewer_last_view (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  viewer_sha256 TEXT NOT NULL,
  counted_at_ms INTEGER NOT NULL,
  PRIMARY KEY (video_id, viewer_sha256)
) WITHOUT ROWID;
)sql",
      R"sql(
-- Secrets every process on this catalog shares (Catalog::shared_secret).
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      R"sql(
-- Who may do what one process at a time, until when (Catalog::take_lease).
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      R"sql(
-- Caption tracks of videos (Catalog::put_caption); the files are in storage.
CREATE TABLE video_captions (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  language TEXT NOT NULL,
  label TEXT NOT NULL,
  cues INTEGER NOT NULL DEFAULT 0,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (video_id, language)
) WITHOUT ROWID;
)sql",
      R"sql(
-- An admin can turn an account off (User::disabled).
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
)sql",
      R"sql(
-- A user may turn off mail about their videos (User::email_notifications).
ALTER TABLE users ADD COLUMN email_notifications INTEGER NOT NULL DEFAULT 1;
)sql",
      R"sql(
-- Likes, one per user and video (the key), and comments; both go with the video and the user.
CREATE TABLE video_likes (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (video_id, user_id)
) WITHOUT ROWID;
CREATE INDEX video_likes_by_user ON video_likes(user_id);
-- seq is the listing's order and cursor: newest first is seq descending.
CREATE TABLE video_comments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  body TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX video_comments_by_video ON video_comments(video_id, seq);
CREATE INDEX video_comments_by_author ON video_comments(author_id);
-- A video's like count, kept by the likes themselves (cascaded deletes fire these too), so
-- reading a video costs the same however many likes it has.
ALTER TABLE videos ADD COLUMN like_count INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER video_likes_insert AFTER INSERT ON video_likes BEGIN
  UPDATE videos SET like_count = like_count + 1 WHERE id = new.video_id;
END;
CREATE TRIGGER video_likes_delete AFTER DELETE ON video_likes BEGIN
  UPDATE videos SET like_count = like_count - 1 WHERE id = old.video_id;
END;
)sql",
  };
  return steps;
}

constexpr const char* kVideoColumns =
    "v.id, v.owner_id, v.title, v.description, v.visibility, v.status, v.status_reason,"
    " v.duration_seconds, v.renditions_json, v.hls_master, v.dash_manifest, v.poster,"
    " v.view_count, v.watch_seconds, v.created_at_ms, v.updated_at_ms, v.like_count";

Video read_video(const Stmt& s) {
  Video v;
  v.id = s.text(0);
  v.owner_id = s.text(1);
  v.title = s.text(2);
  v.description = s.text(3);
  v.visibility = parse_visibility(s.text(4)).value();
  v.status = parse_video_status(s.text(5)).value();
  v.status_reason = s.text(6);
  v.duration_seconds = s.real(7);
  v.renditions_json = s.text(8);
  v.hls_master = s.text(9);
  v.dash_manifest = s.text(10);
  v.poster = s.text(11);
  v.view_count = s.int64(12);
  v.watch_seconds = s.real(13);
  v.created_at_ms = s.int64(14);
  v.updated_at_ms = s.int64(15);
  v.like_count = s.int64(16);
  return v;
}

// A comment with its author's name; the seq (6) is the listing's cursor.
constexpr const char* kCommentColumns =
    "c.id, c.video_id, c.author_id, u.username, c.body, c.created_at_ms, c.seq"
    " FROM video_comments c JOIN users u ON u.id = c.author_id";

Comment read_comment(const Stmt& s) {
  return {s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5)};
}

constexpr const char* kUserColumns =
    "id, username, email, password_hash, role, created_at_ms, disabled, email_notifications";

User read_user(const Stmt& s) {
  User u;
  u.id = s.text(0);
  u.username = s.text(1);
  u.email = s.text(2);
  u.password_hash = s.text(3);
  u.role = parse_role(s.text(4)).value();
  u.created_at_ms = s.int64(5);
  u.disabled = s.int64(6) != 0;
  u.email_notifications = s.int64(7) != 0;
  return u;
}

}  // namespace

namespace {

// Turns what a user typed into an FTS5 query that cannot be a syntax error:
// every word is quoted and matched as a prefix, all words must match.
std::string fts_query(std::string_view text) {
  std::string query, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!query.empty()) query += ' ';
    query += '"' + word + "\"*";
    word.clear();
  };
  for (char c : text) {
    // Bytes >= 0x80 are parts of UTF-8 letters; the unicode61 tokenizer splits them properly.
    if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)
      word += c;
    else
      flush();
  }
  flush();
  return query;
}

class SqliteCatalog final : public Catalog {
 public:
  explicit SqliteCatalog(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Result<Video> create_video(const NewVideo& in) override {
    STREAMLET_RETURN_IF_ERROR(check_text("title", in.title, kMaxTitle));
    STREAMLET_RETURN_IF_ERROR(
        check_text("description", in.description, kMaxDescription, streamlet::detail::TextKind::kMultiline));
    std::lock_guard lock(db_->mutex());
    {
      STREAMLET_ASSIGN_OR_RETURN(auto q, db_->prepare("SELECT 1 FROM users WHERE id = ?"));
      q.bind(1, in.owner_id);
      STREAMLET_ASSIGN_OR_RETURN(bool found, q.step());
      if (!found) return error(ErrorCode::kNotFound, "no user '" + in.owner_id + "'");
    }
    const std::string id = streamlet::detail::random_id();
    const int64_t now = streamlet::detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto ins,
        db_->prepare("INSERT INTO videos(id, owner_id, title, description, visibility, status,"
                     " created_at_ms, updated_at_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
    ins.bind(1, id).bind(2, in.owner_id).bind(3, in.title).bind(4, in.description);
    ins.bind(5, to_string(in.visibility)).bind(6, to_string(in.status)).bind(7, now).bind(8, now);
    STREAMLET_RETURN_IF_ERROR(ins.run().with_context("create video"));
    return get_locked(id);
  }

  Result<Video> get_video(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    return get_locked(id);
  }

  Result<Video> update_video(std::string_view id, const VideoUpdate& up) override {
    if (up.title) STREAMLET_RETURN_IF_ERROR(check_text("title", *up.title, kMaxTitle));
    if (up.description)
      STREAMLET_RETURN_IF_ERROR(check_text("description", *up.description, kMaxDescription,
                                           streamlet::detail::TextKind::kMultiline));
    std::lock_guard lock(db_->mutex());
    // COALESCE keeps the stored value for every field the caller left unset.
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE videos SET title = COALESCE(?, title),"
                             " description = COALESCE(?, description),"
                             " visibility = COALESCE(?, visibility), updated_at_ms = ?"
                             " WHERE id = ?"));
    if (up.title)
      s.bind(1, *up.title);
    else
      s.bind_null(1);
    if (up.description)
      s.bind(2, *up.description);
    else
      s.bind_null(2);
    if (up.visibility)
      s.bind(3, to_string(*up.visibility));
    else
      s.bind_null(3);
    s.bind(4, streamlet::detail::now_ms()).bind(5, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return not_found(id);
    return get_locked(id);
  }

  Result<Video> set_status(std::string_view id, VideoStatus status,
                           std::string_view reason) override {
    // A reason is the system's own text (often a library's error): it is kept, with any bad
    // bytes replaced, because refusing it would leave the video in its old status.
    const std::string shown = streamlet::detail::to_valid_utf8(reason.substr(0, kMaxDescription));
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE videos SET status = ?, status_reason = ?, updated_at_ms = ?"
                             " WHERE id = ?"));
    s.bind(1, to_string(status)).bind(2, shown).bind(3, streamlet::detail::now_ms()).bind(4, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return not_found(id);
    return get_locked(id);
  }

  Result<Video> set_ready(std::string_view id, const ReadyInfo& info) override {
    auto parsed = nlohmann::json::parse(info.renditions_json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array())
      return error(ErrorCode::kInvalidArgument, "renditions_json must be a JSON array");
    if (!std::isfinite(info.duration_seconds) || info.duration_seconds < 0)
      return error(ErrorCode::kInvalidArgument, "duration must be a finite number >= 0");
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE videos SET status = 'ready', status_reason = '',"
                             " duration_seconds = ?, renditions_json = ?, hls_master = ?,"
                             " dash_manifest = ?, poster = ?, updated_at_ms = ? WHERE id = ?"));
    s.bind(1, info.duration_seconds).bind(2, info.renditions_json).bind(3, info.hls_master);
    s.bind(4, info.dash_manifest).bind(5, info.poster).bind(6, streamlet::detail::now_ms()).bind(7, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return not_found(id);
    return get_locked(id);
  }

  Status delete_video(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    // Views go with the video (ON DELETE CASCADE), the search entry with the trigger.
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare("DELETE FROM videos WHERE id = ?"));
    s.bind(1, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return not_found(id).status();
    return Status::Ok();
  }

  Result<Video> set_poster(std::string_view id, std::string_view poster) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE videos SET poster = ?, updated_at_ms = ? WHERE id = ?"));
    s.bind(1, poster).bind(2, streamlet::detail::now_ms()).bind(3, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return not_found(id);
    return get_locked(id);
  }

  Result<Caption> put_caption(const Caption& in) override {
    STREAMLET_RETURN_IF_ERROR(detail::check_caption(in.language, in.label));
    std::lock_guard lock(db_->mutex());
    {
      STREAMLET_ASSIGN_OR_RETURN(auto q, db_->prepare("SELECT 1 FROM videos WHERE id = ?"));
      q.bind(1, in.video_id);
      STREAMLET_ASSIGN_OR_RETURN(bool found, q.step());
      if (!found) return not_found(in.video_id).status();
    }
    Caption out = in;
    out.updated_at_ms = streamlet::detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO video_captions(video_id, language, label, cues,"
                             " updated_at_ms) VALUES(?, ?, ?, ?, ?)"
                             " ON CONFLICT(video_id, language) DO UPDATE SET label = excluded.label,"
                             " cues = excluded.cues, updated_at_ms = excluded.updated_at_ms"));
    s.bind(1, out.video_id).bind(2, out.language).bind(3, out.label).bind(4, out.cues);
    s.bind(5, out.updated_at_ms);
    STREAMLET_RETURN_IF_ERROR(s.run().with_context("put caption"));
    return out;
  }

  Result<std::vector<Caption>> list_captions(std::string_view video_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("SELECT video_id, language, label, cues, updated_at_ms"
                             " FROM video_captions WHERE video_id = ? ORDER BY language"));
    s.bind(1, video_id);
    std::vector<Caption> out;
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      out.push_back({s.text(0), s.text(1), s.text(2), s.int64(3), s.int64(4)});
    }
    return out;
  }

  Status delete_caption(std::string_view video_id, std::string_view language) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("DELETE FROM video_captions WHERE video_id = ? AND language = ?"));
    s.bind(1, video_id).bind(2, language);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0)
      return error(ErrorCode::kNotFound, "no '" + std::string(language) + "' captions on video '" +
                                             std::string(video_id) + "'");
    return Status::Ok();
  }

  Result<int64_t> set_like(std::string_view video_id, std::string_view user_id,
                           bool like) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_RETURN_IF_ERROR(get_locked(video_id).status());
    STREAMLET_RETURN_IF_ERROR(user_where_locked("id", user_id).status());
    // The key makes a second like of the same user nothing, however the calls interleave.
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(like ? "INSERT INTO video_likes(video_id, user_id, created_at_ms)"
                                    " VALUES(?, ?, ?) ON CONFLICT DO NOTHING"
                                  : "DELETE FROM video_likes WHERE video_id = ? AND user_id = ?"));
    s.bind(1, video_id).bind(2, user_id);
    if (like) s.bind(3, streamlet::detail::now_ms());
    STREAMLET_RETURN_IF_ERROR(s.run().with_context("like"));
    STREAMLET_ASSIGN_OR_RETURN(auto n, db_->prepare("SELECT like_count FROM videos WHERE id = ?"));
    n.bind(1, video_id);
    STREAMLET_ASSIGN_OR_RETURN(bool row, n.step());
    return row ? n.int64(0) : 0;
  }

  Result<bool> likes(std::string_view video_id, std::string_view user_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("SELECT 1 FROM video_likes WHERE video_id = ? AND user_id = ?"));
    s.bind(1, video_id).bind(2, user_id);
    return s.step();
  }

  Result<Comment> add_comment(std::string_view video_id, std::string_view author_id,
                              std::string_view raw) override {
    STREAMLET_ASSIGN_OR_RETURN(std::string body, detail::comment_body(raw));
    std::lock_guard lock(db_->mutex());
    STREAMLET_RETURN_IF_ERROR(get_locked(video_id).status());
    STREAMLET_ASSIGN_OR_RETURN(auto author, user_where_locked("id", author_id));
    Comment c{streamlet::detail::random_id(), std::string(video_id), author.id, author.username,
              std::move(body), streamlet::detail::now_ms()};
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO video_comments(id, video_id, author_id, body,"
                             " created_at_ms) VALUES(?, ?, ?, ?, ?)"));
    s.bind(1, c.id).bind(2, c.video_id).bind(3, c.author_id).bind(4, c.body);
    s.bind(5, c.created_at_ms);
    STREAMLET_RETURN_IF_ERROR(s.run().with_context("add comment"));
    return c;
  }

  Result<CommentPage> list_comments(std::string_view video_id, std::string_view cursor,
                                    int limit) override {
    STREAMLET_ASSIGN_OR_RETURN(int64_t before, detail::comment_cursor(cursor));
    limit = std::clamp(limit, 1, 100);
    std::lock_guard lock(db_->mutex());
    CommentPage page;
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kCommentColumns +
                             " WHERE c.video_id = ? AND c.seq < ? ORDER BY c.seq DESC LIMIT ?"));
    s.bind(1, video_id).bind(2, before).bind(3, limit + 1);
    int64_t last = 0;
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      if (static_cast<int>(page.items.size()) == limit) {
        page.next_cursor = std::to_string(last);  // there is more after this page
        break;
      }
      page.items.push_back(read_comment(s));
      last = s.int64(6);
    }
    STREAMLET_ASSIGN_OR_RETURN(
        auto n, db_->prepare("SELECT count(*) FROM video_comments WHERE video_id = ?"));
    n.bind(1, video_id);
    STREAMLET_ASSIGN_OR_RETURN(bool row, n.step());
    page.total = row ? n.int64(0) : 0;
    return page;
  }

  Result<Comment> get_comment(std::string_view video_id, std::string_view comment_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kCommentColumns +
                             " WHERE c.video_id = ? AND c.id = ?"));
    s.bind(1, video_id).bind(2, comment_id);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return detail::no_comment(comment_id);
    return read_comment(s);
  }

  Status delete_comment(std::string_view video_id, std::string_view comment_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("DELETE FROM video_comments WHERE video_id = ? AND id = ?"));
    s.bind(1, video_id).bind(2, comment_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return detail::no_comment(comment_id);
    return Status::Ok();
  }

  Result<VideoPage> list_videos(const VideoQuery& query) override {
    const int limit = std::clamp(query.limit, 1, 100);
    if (query.offset < 0) return error(ErrorCode::kInvalidArgument, "offset must be >= 0");
    const std::string match = fts_query(query.text);

    std::string from = " FROM videos v";
    std::string where = " WHERE 1";
    if (!match.empty()) {
      from += " JOIN videos_fts ON videos_fts.rowid = v.seq";
      where += " AND videos_fts MATCH :match";
    }
    if (query.owner_id) where += " AND v.owner_id = :owner";
    if (query.visibility) where += " AND v.visibility = :visibility";
    if (query.status) where += " AND v.status = :status";
    if (query.visible_to)
      where += " AND ((v.visibility = '" + std::string(to_string(Visibility::kPublic)) +
               "' AND v.status = '" + std::string(to_string(VideoStatus::kReady)) +
               "') OR v.owner_id = :viewer)";
    std::string order = detail::video_order(query.sort);
    if (order.empty())
      order = match.empty() ? " ORDER BY v.created_at_ms DESC, v.seq DESC"
                            : " ORDER BY videos_fts.rank, v.created_at_ms DESC, v.seq DESC";

    auto bind_filters = [&](Stmt& s, int first) {
      int i = first;
      if (!match.empty()) s.bind(i++, match);
      if (query.owner_id) s.bind(i++, *query.owner_id);
      if (query.visibility) s.bind(i++, to_string(*query.visibility));
      if (query.status) s.bind(i++, to_string(*query.status));
      if (query.visible_to) s.bind(i++, *query.visible_to);
      return i;
    };

    std::lock_guard lock(db_->mutex());
    VideoPage page;
    {
      STREAMLET_ASSIGN_OR_RETURN(auto count, db_->prepare("SELECT COUNT(*)" + from + where));
      bind_filters(count, 1);
      STREAMLET_ASSIGN_OR_RETURN(bool row, count.step());
      page.total = row ? count.int64(0) : 0;
    }
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kVideoColumns + from + where + order +
                             " LIMIT :limit OFFSET :offset"));
    int next = bind_filters(s, 1);
    s.bind(next, limit).bind(next + 1, query.offset);
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      page.items.push_back(read_video(s));
    }
    return page;
  }

  Result<User> create_user(const NewUser& in) override {
    STREAMLET_RETURN_IF_ERROR(check_username(in.username));
    STREAMLET_RETURN_IF_ERROR(check_text("email", in.email, detail::kMaxEmail));
    if (in.password_hash.empty())
      return error(ErrorCode::kInvalidArgument, "a user needs a password hash");
    std::lock_guard lock(db_->mutex());
    const std::string id = streamlet::detail::random_id();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO users(id, username, email, password_hash, role,"
                             " created_at_ms) VALUES(?, ?, ?, ?, ?, ?)"));
    s.bind(1, id).bind(2, in.username).bind(3, in.email).bind(4, in.password_hash);
    s.bind(5, to_string(in.role)).bind(6, streamlet::detail::now_ms());
    Status st = s.run();
    if (st.code() == ErrorCode::kAlreadyExists)
      return error(ErrorCode::kAlreadyExists, "username '" + in.username + "' is taken");
    STREAMLET_RETURN_IF_ERROR(st);
    return user_where_locked("id", id);
  }

  Result<User> get_user(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    return user_where_locked("id", id);
  }

  Result<User> find_user_by_name(std::string_view username) override {
    std::lock_guard lock(db_->mutex());
    return user_where_locked("username", username);
  }

  Status set_user_role(std::string_view user_id, Role role) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare("UPDATE users SET role = ? WHERE id = ?"));
    s.bind(1, to_string(role)).bind(2, user_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0)
      return error(ErrorCode::kNotFound, "no user '" + std::string(user_id) + "'");
    return Status::Ok();
  }

  Result<User> update_user(std::string_view user_id, const UserUpdate& update) override {
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(User user, user_where_locked("id", user_id));
    const Role role = update.role.value_or(user.role);
    const bool disabled = update.disabled.value_or(user.disabled);
    if (user.role == Role::kAdmin && !user.disabled && (role != Role::kAdmin || disabled)) {
      // One connection behind the mutex: nobody else changes users between this and the
      // update.
      STREAMLET_ASSIGN_OR_RETURN(
          auto others, db_->prepare("SELECT COUNT(*) FROM users WHERE role = 'admin'"
                                    " AND disabled = 0 AND id <> ?"));
      others.bind(1, user_id);
      STREAMLET_ASSIGN_OR_RETURN(bool row, others.step());
      if (!row || others.int64(0) == 0) return detail::last_admin_refused();
    }
    const std::string email = update.email.value_or(user.email);
    STREAMLET_RETURN_IF_ERROR(check_text("email", email, detail::kMaxEmail));
    const bool notify = update.email_notifications.value_or(user.email_notifications);
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE users SET role = ?, disabled = ?, email = ?,"
                             " email_notifications = ? WHERE id = ?"));
    s.bind(1, to_string(role)).bind(2, int64_t{disabled}).bind(3, email);
    s.bind(4, int64_t{notify}).bind(5, user_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    STREAMLET_ASSIGN_OR_RETURN(User after, user_where_locked("id", user_id));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return after;
  }

  Result<UserPage> list_users(int limit, int offset) override {
    if (offset < 0) return error(ErrorCode::kInvalidArgument, "offset must be >= 0");
    limit = std::clamp(limit, 1, 100);
    std::lock_guard lock(db_->mutex());
    UserPage page;
    STREAMLET_ASSIGN_OR_RETURN(auto count, db_->prepare("SELECT COUNT(*) FROM users"));
    STREAMLET_ASSIGN_OR_RETURN(bool counted, count.step());
    page.total = counted ? count.int64(0) : 0;
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kUserColumns +
                             " FROM users ORDER BY created_at_ms, id LIMIT ? OFFSET ?"));
    s.bind(1, limit).bind(2, offset);
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      page.items.push_back(read_user(s));
    }
    return page;
  }

  Status set_password_hash(std::string_view user_id, std::string_view hash) override {
    if (hash.empty()) return error(ErrorCode::kInvalidArgument, "a user needs a password hash");
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("UPDATE users SET password_hash = ? WHERE id = ?"));
    s.bind(1, hash).bind(2, user_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0)
      return error(ErrorCode::kNotFound, "no user '" + std::string(user_id) + "'");
    return Status::Ok();
  }

  Result<std::string> create_session(std::string_view user_id, int64_t expires_at_ms) override {
    const int64_t now = streamlet::detail::now_ms();
    const std::string id = streamlet::detail::random_id(22);  // about 130 bits
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(auto gone,
                               db_->prepare("DELETE FROM sessions WHERE expires_at_ms <= ?"));
    gone.bind(1, now);
    STREAMLET_RETURN_IF_ERROR(gone.run());
    STREAMLET_RETURN_IF_ERROR(user_where_locked("id", user_id).status());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO sessions(id, user_id, created_at_ms, expires_at_ms)"
                             " VALUES(?, ?, ?, ?)"));
    s.bind(1, id).bind(2, user_id).bind(3, now).bind(4, expires_at_ms);
    STREAMLET_RETURN_IF_ERROR(s.run());
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return id;
  }

  Status check_session(std::string_view session_id, std::string_view user_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("SELECT 1 FROM sessions WHERE id = ? AND user_id = ?"
                                            " AND expires_at_ms > ?"));
    s.bind(1, session_id).bind(2, user_id).bind(3, streamlet::detail::now_ms());
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return error(ErrorCode::kUnauthenticated, "the session has ended; sign in again");
    return Status::Ok();
  }

  Status delete_session(std::string_view session_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare("DELETE FROM sessions WHERE id = ?"));
    s.bind(1, session_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return error(ErrorCode::kNotFound, "no such session");
    return Status::Ok();
  }

  Result<int64_t> delete_sessions_of(std::string_view user_id, std::string_view keep) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("DELETE FROM sessions WHERE user_id = ? AND id <> ?"));
    s.bind(1, user_id).bind(2, keep);
    STREAMLET_RETURN_IF_ERROR(s.run());
    return db_->changes();
  }

  Result<int64_t> count_users() override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare("SELECT COUNT(*) FROM users"));
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    return row ? s.int64(0) : int64_t{0};
  }

  Result<NewApiKey> create_api_key(std::string_view user_id, std::string_view name) override {
    STREAMLET_RETURN_IF_ERROR(check_text("name", name, detail::kMaxKeyName));
    NewApiKey out;
    // 32 random bytes: guessing is hopeless, so a fast SHA-256 (not a slow
    // password hash) is enough to make the stored value useless to a thief.
    out.key = "sk_" + streamlet::detail::base64url_encode(streamlet::detail::random_bytes(32));
    out.info.id = streamlet::detail::random_id();
    out.info.user_id = std::string(user_id);
    out.info.name = std::string(name);
    out.info.prefix = out.key.substr(0, 10);
    out.info.created_at_ms = streamlet::detail::now_ms();
    std::lock_guard lock(db_->mutex());
    STREAMLET_RETURN_IF_ERROR(user_where_locked("id", user_id).status());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO api_keys(id, user_id, name, prefix, key_sha256,"
                             " created_at_ms) VALUES(?, ?, ?, ?, ?, ?)"));
    s.bind(1, out.info.id).bind(2, out.info.user_id).bind(3, out.info.name);
    s.bind(4, out.info.prefix).bind(5, streamlet::detail::sha256_hex(out.key));
    s.bind(6, out.info.created_at_ms);
    STREAMLET_RETURN_IF_ERROR(s.run());
    return out;
  }

  Result<User> find_user_by_api_key(std::string_view key) override {
    const std::string hash = streamlet::detail::sha256_hex(key);
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("SELECT k.id, k.last_used_at_ms, k.user_id FROM api_keys k"
                             " WHERE k.key_sha256 = ?"));
    s.bind(1, hash);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return error(ErrorCode::kUnauthenticated, "unknown API key");
    const std::string key_id = s.text(0);
    const int64_t last_used = s.int64(1);
    const std::string user_id = s.text(2);
    const int64_t now = streamlet::detail::now_ms();
    // Record use at most once a minute so authenticating is not a write per request.
    if (now - last_used > 60'000) {
      STREAMLET_ASSIGN_OR_RETURN(
          auto up, db_->prepare("UPDATE api_keys SET last_used_at_ms = ? WHERE id = ?"));
      up.bind(1, now).bind(2, key_id);
      STREAMLET_RETURN_IF_ERROR(up.run());
    }
    return user_where_locked("id", user_id);
  }

  Result<std::vector<ApiKey>> list_api_keys(std::string_view user_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("SELECT id, user_id, name, prefix, created_at_ms, last_used_at_ms"
                             " FROM api_keys WHERE user_id = ? ORDER BY created_at_ms, id"));
    s.bind(1, user_id);
    std::vector<ApiKey> keys;
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      keys.push_back(ApiKey{s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4), s.int64(5)});
    }
    return keys;
  }

  Status revoke_api_key(std::string_view user_id, std::string_view key_id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("DELETE FROM api_keys WHERE id = ? AND user_id = ?"));
    s.bind(1, key_id).bind(2, user_id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0)
      return error(ErrorCode::kNotFound, "no API key '" + std::string(key_id) + "'");
    return Status::Ok();
  }

  Status record_view(const ViewBeacon& b) override {
    if (b.viewer_key.empty())
      return error(ErrorCode::kInvalidArgument, "a view needs a viewer key");
    // One beacon covers at most a day of watching: anything else is a broken or hostile client.
    if (!std::isfinite(b.seconds_watched) || b.seconds_watched < 0 || b.seconds_watched > 86400)
      return error(ErrorCode::kInvalidArgument, "seconds_watched must be between 0 and 86400");
    if (b.view_interval_seconds < 0)
      return error(ErrorCode::kInvalidArgument, "view_interval_seconds must be >= 0");
    const int64_t at = b.at_ms > 0 ? b.at_ms : streamlet::detail::now_ms();
    const std::string day = b.day.empty() ? streamlet::detail::utc_day(at) : b.day;
    if (!valid_day(day)) return error(ErrorCode::kInvalidArgument, "day must be YYYY-MM-DD");
    // Viewer keys may carry addresses; only a hash is kept.
    const std::string viewer = streamlet::detail::sha256_hex(b.viewer_key);
    int64_t views = b.new_view ? 1 : 0;

    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    if (b.once_per_day) {
      // The viewer's row for the day exists from their first beacon on (inserted below).
      STREAMLET_ASSIGN_OR_RETURN(auto seen,
                                 db_->prepare("SELECT 1 FROM video_views WHERE video_id = ?"
                                              " AND day = ? AND viewer_sha256 = ?"));
      seen.bind(1, b.video_id).bind(2, day).bind(3, viewer);
      STREAMLET_ASSIGN_OR_RETURN(bool before, seen.step());
      views = before ? 0 : 1;
    } else if (b.view_interval_seconds > 0) {
      STREAMLET_ASSIGN_OR_RETURN(auto last,
                                 db_->prepare("SELECT counted_at_ms FROM viewer_last_view"
                                              " WHERE video_id = ? AND viewer_sha256 = ?"));
      last.bind(1, b.video_id).bind(2, viewer);
      STREAMLET_ASSIGN_OR_RETURN(bool seen, last.step());
      views = !seen || at - last.int64(0) >= b.view_interval_seconds * 1000 ? 1 : 0;
    }
    STREAMLET_ASSIGN_OR_RETURN(auto up,
                               db_->prepare("UPDATE videos SET view_count = view_count + ?,"
                                            " watch_seconds = watch_seconds + ? WHERE id = ?"));
    up.bind(1, views).bind(2, b.seconds_watched).bind(3, b.video_id);
    STREAMLET_RETURN_IF_ERROR(up.run());
    if (db_->changes() == 0) return not_found(b.video_id).status();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO video_views(video_id, day, viewer_sha256, views,"
                             " watch_seconds) VALUES(?, ?, ?, ?, ?)"
                             " ON CONFLICT(video_id, day, viewer_sha256) DO UPDATE SET"
                             " views = views + excluded.views,"
                             " watch_seconds = watch_seconds + excluded.watch_seconds"));
    s.bind(1, b.video_id).bind(2, day).bind(3, viewer).bind(4, views).bind(5, b.seconds_watched);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (views > 0 && b.view_interval_seconds > 0) {
      STREAMLET_ASSIGN_OR_RETURN(
          auto counted, db_->prepare("INSERT INTO viewer_last_view(video_id, viewer_sha256,"
                                     " counted_at_ms) VALUES(?, ?, ?)"
                                     " ON CONFLICT(video_id, viewer_sha256) DO UPDATE SET"
                                     " counted_at_ms = excluded.counted_at_ms"));
      counted.bind(1, b.video_id).bind(2, viewer).bind(3, at);
      STREAMLET_RETURN_IF_ERROR(counted.run());
    }
    return txn.commit();
  }

  Result<std::string> shared_secret(std::string_view name, std::string_view candidate) override {
    STREAMLET_RETURN_IF_ERROR(check_text("secret name", name, detail::kMaxSecretName));
    if (name.empty()) return error(ErrorCode::kInvalidArgument, "a secret needs a name");
    if (candidate.empty())
      return error(ErrorCode::kInvalidArgument, "secret '" + std::string(name) + "': empty value");
    std::lock_guard lock(db_->mutex());
    // Another process on the same file may store first: whoever does, both read its value.
    STREAMLET_ASSIGN_OR_RETURN(
        auto ins, db_->prepare("INSERT INTO secrets(name, value, created_at_ms) VALUES(?, ?, ?)"
                               " ON CONFLICT(name) DO NOTHING"));
    ins.bind(1, name).bind(2, candidate).bind(3, streamlet::detail::now_ms());
    STREAMLET_RETURN_IF_ERROR(ins.run());
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare("SELECT value FROM secrets WHERE name = ?"));
    s.bind(1, name);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return error(ErrorCode::kInternal, "secret '" + std::string(name) + "' vanished");
    return s.text(0);
  }

  Result<bool> take_lease(std::string_view name, std::string_view holder,
                          std::chrono::milliseconds ttl) override {
    STREAMLET_RETURN_IF_ERROR(detail::check_lease(name, holder));
    std::lock_guard lock(db_->mutex());
    const int64_t now = streamlet::detail::now_ms();
    // One statement: SQLite's write lock makes it atomic against every process on the file.
    STREAMLET_ASSIGN_OR_RETURN(
        auto up, db_->prepare("INSERT INTO leases(name, holder, expires_at_ms) VALUES(?, ?, ?)"
                              " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                              " expires_at_ms = excluded.expires_at_ms"
                              " WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= ?"));
    up.bind(1, name).bind(2, holder).bind(3, now + ttl.count()).bind(4, now);
    STREAMLET_RETURN_IF_ERROR(up.run());
    return db_->changes() > 0;
  }

  Status release_lease(std::string_view name, std::string_view holder) override {
    STREAMLET_RETURN_IF_ERROR(detail::check_lease(name, holder));
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto del,
                               db_->prepare("DELETE FROM leases WHERE name = ? AND holder = ?"));
    del.bind(1, name).bind(2, holder);
    return del.run();
  }

  Result<ViewStats> view_stats(std::string_view video_id, std::string_view from_day,
                               std::string_view to_day) override {
    STREAMLET_ASSIGN_OR_RETURN(auto range, detail::stats_days(from_day, to_day));
    const auto& [from, to] = range;
    std::lock_guard lock(db_->mutex());
    STREAMLET_RETURN_IF_ERROR(get_locked(video_id).status());
    ViewStats stats;
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("SELECT day, SUM(views), SUM(watch_seconds), COUNT(*)"
                             " FROM video_views WHERE video_id = ? AND day BETWEEN ? AND ?"
                             " GROUP BY day ORDER BY day"));
    s.bind(1, video_id).bind(2, from).bind(3, to);
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      DailyViews d{s.text(0), s.int64(1), s.real(2), s.int64(3)};
      stats.views += d.views;
      stats.watch_seconds += d.watch_seconds;
      stats.days.push_back(std::move(d));
    }
    STREAMLET_ASSIGN_OR_RETURN(auto u,
                               db_->prepare("SELECT COUNT(DISTINCT viewer_sha256) FROM video_views"
                                            " WHERE video_id = ? AND day BETWEEN ? AND ?"));
    u.bind(1, video_id).bind(2, from).bind(3, to);
    STREAMLET_ASSIGN_OR_RETURN(bool row, u.step());
    stats.unique_viewers = row ? u.int64(0) : 0;
    return stats;
  }

  Result<LibraryStats> library_view_stats(std::string_view owner_id, std::string_view from_day,
                                          std::string_view to_day, int top_count) override {
    STREAMLET_ASSIGN_OR_RETURN(auto range, detail::stats_days(from_day, to_day, top_count));
    const auto& [from, to] = range;
    static constexpr const char* kOwned =
        " FROM video_views vv JOIN videos v ON v.id = vv.video_id"
        " WHERE v.owner_id = ? AND vv.day BETWEEN ? AND ?";
    std::lock_guard lock(db_->mutex());
    LibraryStats stats;
    STREAMLET_ASSIGN_OR_RETURN(
        auto days, db_->prepare(std::string("SELECT vv.day, SUM(vv.views), SUM(vv.watch_seconds),"
                                            " COUNT(DISTINCT vv.viewer_sha256)") +
                                kOwned + " GROUP BY vv.day ORDER BY vv.day"));
    days.bind(1, owner_id).bind(2, from).bind(3, to);
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, days.step());
      if (!row) break;
      DailyViews d{days.text(0), days.int64(1), days.real(2), days.int64(3)};
      stats.totals.views += d.views;
      stats.totals.watch_seconds += d.watch_seconds;
      stats.totals.days.push_back(std::move(d));
    }
    STREAMLET_ASSIGN_OR_RETURN(
        auto unique, db_->prepare(std::string("SELECT COUNT(DISTINCT vv.viewer_sha256)") + kOwned));
    unique.bind(1, owner_id).bind(2, from).bind(3, to);
    STREAMLET_ASSIGN_OR_RETURN(bool row, unique.step());
    stats.totals.unique_viewers = row ? unique.int64(0) : 0;
    STREAMLET_ASSIGN_OR_RETURN(
        auto top, db_->prepare(std::string("SELECT v.id, v.title, SUM(vv.views),"
                                           " SUM(vv.watch_seconds), COUNT(DISTINCT vv.viewer_sha256)") +
                               kOwned + " GROUP BY v.id, v.title" + detail::kTopVideosOrder +
                               " LIMIT ?"));
    top.bind(1, owner_id).bind(2, from).bind(3, to).bind(4, top_count);
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool more, top.step());
      if (!more) break;
      stats.top.push_back(
          VideoViewTotals{top.text(0), top.text(1), top.int64(2), top.real(3), top.int64(4)});
    }
    return stats;
  }

 private:
  static Result<Video> not_found(std::string_view id) {
    return error(ErrorCode::kNotFound, "no video '" + std::string(id) + "'");
  }

  Result<Video> get_locked(std::string_view id) {
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare(std::string("SELECT ") + kVideoColumns +
                                                    " FROM videos v WHERE v.id = ?"));
    s.bind(1, id);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return not_found(id);
    return read_video(s);
  }

  Result<User> user_where_locked(std::string_view column, std::string_view value) {
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kUserColumns + " FROM users WHERE " +
                             std::string(column) + " = ?"));
    s.bind(1, value);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return error(ErrorCode::kNotFound, "no user '" + std::string(value) + "'");
    return read_user(s);
  }

  std::unique_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<Catalog>> open_sqlite_catalog(const std::string& path) {
  STREAMLET_ASSIGN_OR_RETURN(auto db, streamlet::detail::sql::Db::open(path));
  STREAMLET_RETURN_IF_ERROR(db->migrate("catalog", migrations()));
  return std::unique_ptr<Catalog>(std::make_unique<SqliteCatalog>(std::move(db)));
}

}  // namespace streamlet::catalog
