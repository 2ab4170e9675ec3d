// The catalog in PostgreSQL: the same contract as the SQLite catalog, for a cluster of nodes
// sharing one database through a connection pool. Search is a generated tsvector column over
// unaccented title + description with a GIN index; every statement takes its values as
// parameters.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "catalog/fields.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "postgres/pg_catalog.hpp"
#include "postgres/pool.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/postgres.hpp"

namespace streamlet::postgres {
namespace {

using catalog::ApiKey;
using catalog::Comment;
using catalog::CommentPage;
using catalog::DailyViews;
using catalog::NewApiKey;
using catalog::NewUser;
using catalog::NewVideo;
using catalog::ReadyInfo;
using catalog::Role;
using catalog::User;
using catalog::Video;
using catalog::VideoPage;
using catalog::VideoQuery;
using catalog::VideoStatus;
using catalog::VideoUpdate;
using catalog::ViewBeacon;
using catalog::LibraryStats;
using catalog::VideoViewTotals;
using catalog::ViewStats;
using catalog::Visibility;
using catalog::detail::check_text;
using catalog::detail::kMaxDescription;
using catalog::detail::kMaxTitle;
using catalog::detail::storable_key;
using catalog::detail::valid_day;
using detail::Connection;
using detail::Pool;
using detail::QueryResult;
namespace core = streamlet::detail;

// Ordered, append-only: a released step is never edited, a change is a new step.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> steps = {
      R"sql(
-- unaccent() is only STABLE (its dictionary could change), so a generated column cannot call it
-- directly; this wrapper names the dictionary with its schema and is declared IMMUTABLE, the
-- usual way to index unaccented text. It is created next to wherever the extension lives.
CREATE EXTENSION IF NOT EXISTS unaccent;
DO $do$
DECLARE s text;
BEGIN
  SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'unaccent';
  EXECUTE format(
    'CREATE FUNCTION streamlet_unaccent(text) RETURNS text'
    ' LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS %L',
    format('SELECT %I.unaccent(%L::regdictionary, $1)', s, quote_ident(s) || '.unaccent'));
END
$do$;

CREATE TABLE users (
  id text PRIMARY KEY,
  username text NOT NULL,
  email text NOT NULL DEFAULT '',
  password_hash text NOT NULL,
  role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  created_at_ms bigint NOT NULL
);
-- Usernames are ASCII ([A-Za-z0-9_.-], check_username), so lower() is the whole case fold.
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

CREATE TABLE videos (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  owner_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  visibility text NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private')),
  status text NOT NULL
    CHECK (status IN ('uploading', 'queued', 'processing', 'ready', 'failed')),
  status_reason text NOT NULL DEFAULT '',
  duration_seconds double precision NOT NULL DEFAULT 0,
  renditions_json text NOT NULL DEFAULT '[]',
  hls_master text NOT NULL DEFAULT '',
  dash_manifest text NOT NULL DEFAULT '',
  poster text NOT NULL DEFAULT '',
  view_count bigint NOT NULL DEFAULT 0,
  watch_seconds double precision NOT NULL DEFAULT 0,
  created_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL,
  -- 'simple' lower-cases and keeps every word (no stemming, no stop words), as FTS5 does here.
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', streamlet_unaccent(title)), 'A') ||
    setweight(to_tsvector('simple', streamlet_unaccent(description)), 'B')) STORED
);
CREATE INDEX videos_by_owner ON videos (owner_id, created_at_ms);
CREATE INDEX videos_by_created ON videos (created_at_ms);
CREATE INDEX videos_public_ready ON videos (created_at_ms) WHERE visibility = 'public' AND status = 'ready';
CREATE INDEX videos_search ON videos USING gin (search);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT '',
  prefix text NOT NULL,
  key_sha256 text NOT NULL UNIQUE,
  created_at_ms bigint NOT NULL,
  last_used_at_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

-- One row per video, day and viewer: unique viewers per day is a row count.
CREATE TABLE video_views (
  video_id text NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  day text COLLATE "C" NOT NULL,
  viewer_sha256 text NOT NULL,
  views bigint NOT NULL DEFAULT 0,
  watch_seconds double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (video_id, day, viewer_sha256)
);

-- Live sessions: a session token names its row (claim "sid"); no row, no session.
CREATE TABLE sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at_ms bigint NOT NULL,
  expires_at_ms bigint NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

-- When each viewer's last view of a video was counted (ViewBeacon::view_interval_seconds).
CREATE TABLE viewer_last_view (
  video_id text NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  viewer_sha256 text NOT NULL,
  counted_at_ms bigint NOT NULL,
  PRIMARY KEY (video_id, viewer_sha256)
);

-- Secrets every node of the cluster shares (Catalog::shared_secret).
CREATE TABLE secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at_ms bigint NOT NULL
);
)sql",
      R"sql(
-- Who may do what one node at a time, until when (Catalog::take_lease), in the server's time.
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  expires_at_ms bigint NOT NULL
);
)sql",
      R"sql(
-- Caption tracks of videos (Catalog::put_caption); the files are in storage.
CREATE TABLE video_captions (
  video_id text NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  language text NOT NULL,
  label text NOT NULL,
  cues bigint NOT NULL DEFAULT 0,
  updated_at_ms bigint NOT NULL,
  PRIMARY KEY (video_id, language)
);
)sql",
      R"sql(
-- An admin can turn an account off (User::disabled).
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
)sql",
      R"sql(
-- A user may turn off mail about their videos (User::email_notifications).
ALTER TABLE users ADD COLUMN email_notifications boolean NOT NULL DEFAULT true;
)sql",
      R"sql(
-- Likes, one per user and video (the key), and comments; both go with the video and the user.
CREATE TABLE video_likes (
  video_id text NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at_ms bigint NOT NULL,
  PRIMARY KEY (video_id, user_id)
);
CREATE INDEX video_likes_by_user ON video_likes (user_id);
-- seq is the listing's order and cursor: newest first is seq descending.
CREATE TABLE video_comments (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  video_id text NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  author_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  body text NOT NULL,
  created_at_ms bigint NOT NULL
);
CREATE INDEX video_comments_by_video ON video_comments (video_id, seq);
CREATE INDEX video_comments_by_author ON video_comments (author_id);
-- A video's like count, kept by the likes themselves (cascaded deletes fire this too), so
-- reading a video costs the same however many likes it has.
ALTER TABLE videos ADD COLUMN like_count bigint NOT NULL DEFAULT 0;
CREATE FUNCTION streamlet_count_like() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE videos SET like_count = like_count + 1 WHERE id = NEW.video_id;
  ELSE
    UPDATE videos SET like_count = like_count - 1 WHERE id = OLD.video_id;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER video_likes_count AFTER INSERT OR DELETE ON video_likes
  FOR EACH ROW EXECUTE FUNCTION streamlet_count_like();
)sql",
  };
  return steps;
}

constexpr const char* kVideoColumns =
    "v.id, v.owner_id, v.title, v.description, v.visibility, v.status, v.status_reason,"
    " v.duration_seconds, v.renditions_json, v.hls_master, v.dash_manifest, v.poster,"
    " v.view_count, v.watch_seconds, v.created_at_ms, v.updated_at_ms, v.like_count";

Video read_video(const QueryResult& r, int row) {
  Video v;
  v.id = r.text(row, 0);
  v.owner_id = r.text(row, 1);
  v.title = r.text(row, 2);
  v.description = r.text(row, 3);
  v.visibility = catalog::parse_visibility(r.view(row, 4)).value();
  v.status = catalog::parse_video_status(r.view(row, 5)).value();
  v.status_reason = r.text(row, 6);
  v.duration_seconds = r.real(row, 7);
  v.renditions_json = r.text(row, 8);
  v.hls_master = r.text(row, 9);
  v.dash_manifest = r.text(row, 10);
  v.poster = r.text(row, 11);
  v.view_count = r.int64(row, 12);
  v.watch_seconds = r.real(row, 13);
  v.created_at_ms = r.int64(row, 14);
  v.updated_at_ms = r.int64(row, 15);
  v.like_count = r.int64(row, 16);
  return v;
}

// A comment with its author's name; the seq (6) is the listing's cursor.
constexpr const char* kCommentColumns =
    "c.id, c.video_id, c.author_id, u.username, c.body, c.created_at_ms, c.seq"
    " FROM video_comments c JOIN users u ON u.id = c.author_id";

Comment read_comment(const QueryResult& r, int row) {
  return {r.text(row, 0), r.text(row, 1), r.text(row, 2),
          r.text(row, 3), r.text(row, 4), r.int64(row, 5)};
}

constexpr const char* kUserColumns =
    "id, username, email, password_hash, role, created_at_ms, disabled, email_notifications";

User read_user(const QueryResult& r, int row) {
  User u;
  u.id = r.text(row, 0);
  u.username = r.text(row, 1);
  u.email = r.text(row, 2);
  u.password_hash = r.text(row, 3);
  u.role = catalog::parse_role(r.view(row, 4)).value();
  u.created_at_ms = r.int64(row, 5);
  u.disabled = r.boolean(row, 6);
  u.email_notifications = r.boolean(row, 7);
  return u;
}

Status no_video(std::string_view id) {
  return error(ErrorCode::kNotFound, "no video '" + core::to_valid_utf8(id) + "'");
}
Status no_user(std::string_view id) {
  return error(ErrorCode::kNotFound, "no user '" + core::to_valid_utf8(id) + "'");
}

// Whether the user's search text has any word at all (the same characters fts_query keeps in
// the SQLite catalog): without one the listing is not filtered by text.
bool has_search_words(std::string_view text) {
  for (char c : text)
    if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)
      return true;
  return false;
}

// The tsquery for the user's text, built in SQL from parameter $N: unaccented first, then every
// ASCII character that is not a letter or digit (tsquery's operators & | ! ( ) : * < > and
// quotes among them) becomes a separator, so what is left can only be words; each word is
// quoted, matched as a prefix (:*), and all must match. unaccent runs before the clean-up
// because it maps some letters to ASCII punctuation (U+2018 to an apostrophe, « to <<).
std::string tsquery_sql(const std::string& param) {
  return "to_tsquery('simple', coalesce((SELECT string_agg('''' || w || ''':*', ' & ')"
         " FROM regexp_split_to_table(regexp_replace(streamlet_unaccent(" +
         param +
         "::text), '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f]+', ' ', 'g'), ' ') AS w"
         " WHERE w <> ''), ''))";
}

// kVideoColumns without the "v." alias, which RETURNING cannot use.
std::string returning_video_columns() {
  std::string cols = kVideoColumns;
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols.compare(i, 2, "v.") == 0 && (i == 0 || cols[i - 1] == ' ')) {
      ++i;
      continue;
    }
    out += cols[i];
  }
  return out;
}

class PgCatalog final : public catalog::Catalog {
 public:
  explicit PgCatalog(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  Result<Video> create_video(const NewVideo& in) override {
    STREAMLET_RETURN_IF_ERROR(check_text("title", in.title, kMaxTitle));
    STREAMLET_RETURN_IF_ERROR(check_text("description", in.description, kMaxDescription,
                                         core::TextKind::kMultiline));
    if (!storable_key(in.owner_id)) return no_user(in.owner_id);
    const std::string id = core::random_id();
    const int64_t now = core::now_ms();
    // INSERT ... SELECT: the owner's existence is checked in the same statement, and a user
    // deleted in the meantime is caught by the foreign key (23503).
    auto r = pool_->exec(
        std::string("INSERT INTO videos(id, owner_id, title, description, visibility, status,"
                    " created_at_ms, updated_at_ms)"
                    " SELECT $1, u.id, $3, $4, $5, $6, $7, $7 FROM users u WHERE u.id = $2"
                    " RETURNING ") +
            returning_video_columns(),
        {id, in.owner_id, in.title, in.description, to_string(in.visibility),
         to_string(in.status), now});
    if (!r.ok() && detail::sqlstate_of(r.status()) == "23503") return no_user(in.owner_id);
    if (!r.ok()) return r.status().with_context("create video");
    if (r->rows() == 0) return no_user(in.owner_id);
    return read_video(*r, 0);
  }

  Result<Video> get_video(std::string_view id) override {
    if (!storable_key(id)) return no_video(id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("SELECT ") + kVideoColumns + " FROM videos v WHERE v.id = $1",
                            {id}));
    if (r.rows() == 0) return no_video(id);
    return read_video(r, 0);
  }

  Result<Video> update_video(std::string_view id, const VideoUpdate& up) override {
    if (up.title) STREAMLET_RETURN_IF_ERROR(check_text("title", *up.title, kMaxTitle));
    if (up.description)
      STREAMLET_RETURN_IF_ERROR(check_text("description", *up.description, kMaxDescription,
                                           core::TextKind::kMultiline));
    if (!storable_key(id)) return no_video(id);
    std::optional<std::string> visibility;
    if (up.visibility) visibility = std::string(to_string(*up.visibility));
    // COALESCE keeps the stored value for every field the caller left unset.
    return one_video(id, pool_->exec(std::string("UPDATE videos SET title = COALESCE($1, title),"
                                                 " description = COALESCE($2, description),"
                                                 " visibility = COALESCE($3, visibility),"
                                                 " updated_at_ms = $4 WHERE id = $5 RETURNING ") +
                                         returning_video_columns(),
                                     {up.title, up.description, visibility, core::now_ms(), id}));
  }

  Result<Video> set_status(std::string_view id, VideoStatus status,
                           std::string_view reason) override {
    STREAMLET_ASSIGN_OR_RETURN(auto lease, pool_->acquire());
    return detail::set_video_status(*lease, id, status, reason);
  }

  Result<Video> set_ready(std::string_view id, const ReadyInfo& info) override {
    auto parsed = nlohmann::json::parse(info.renditions_json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array())
      return error(ErrorCode::kInvalidArgument, "renditions_json must be a JSON array");
    if (!std::isfinite(info.duration_seconds) || info.duration_seconds < 0)
      return error(ErrorCode::kInvalidArgument, "duration must be a finite number >= 0");
    for (const std::string* path : {&info.hls_master, &info.dash_manifest, &info.poster})
      if (!storable_key(*path))
        return error(ErrorCode::kInvalidArgument, "ready paths must be UTF-8 text");
    if (!storable_key(id)) return no_video(id);
    return one_video(
        id, pool_->exec(std::string("UPDATE videos SET status = 'ready', status_reason = '',"
                                    " duration_seconds = $1, renditions_json = $2, hls_master = $3,"
                                    " dash_manifest = $4, poster = $5, updated_at_ms = $6"
                                    " WHERE id = $7 RETURNING ") +
                            returning_video_columns(),
                        {info.duration_seconds, info.renditions_json, info.hls_master,
                         info.dash_manifest, info.poster, core::now_ms(), id}));
  }

  Status delete_video(std::string_view id) override {
    if (!storable_key(id)) return no_video(id);
    // Views go with the video (ON DELETE CASCADE), the search entry is a column of its row.
    STREAMLET_ASSIGN_OR_RETURN(auto r, pool_->exec("DELETE FROM videos WHERE id = $1", {id}));
    if (r.affected() == 0) return no_video(id);
    return Status::Ok();
  }

  Result<Video> set_poster(std::string_view id, std::string_view poster) override {
    if (!storable_key(id)) return no_video(id);
    if (!storable_key(poster))
      return error(ErrorCode::kInvalidArgument, "poster path must be UTF-8 text");
    return one_video(id, pool_->exec(std::string("UPDATE videos SET poster = $1, updated_at_ms = $2"
                                                 " WHERE id = $3 RETURNING ") +
                                         returning_video_columns(),
                                     {poster, core::now_ms(), id}));
  }

  Result<catalog::Caption> put_caption(const catalog::Caption& in) override {
    STREAMLET_RETURN_IF_ERROR(catalog::detail::check_caption(in.language, in.label));
    if (!storable_key(in.video_id)) return no_video(in.video_id);
    catalog::Caption out = in;
    out.updated_at_ms = core::now_ms();
    // INSERT ... SELECT: no row for an unknown video; one deleted meanwhile trips the key.
    auto r = pool_->exec(
        "INSERT INTO video_captions(video_id, language, label, cues, updated_at_ms)"
        " SELECT v.id, $2, $3, $4, $5 FROM videos v WHERE v.id = $1"
        " ON CONFLICT (video_id, language) DO UPDATE SET label = excluded.label,"
        " cues = excluded.cues, updated_at_ms = excluded.updated_at_ms",
        {out.video_id, out.language, out.label, out.cues, out.updated_at_ms});
    if (!r.ok() && detail::sqlstate_of(r.status()) == "23503") return no_video(in.video_id);
    if (!r.ok()) return r.status().with_context("put caption");
    if (r->affected() == 0) return no_video(in.video_id);
    return out;
  }

  Result<std::vector<catalog::Caption>> list_captions(std::string_view video_id) override {
    std::vector<catalog::Caption> out;
    if (!storable_key(video_id)) return out;
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("SELECT video_id, language, label, cues, updated_at_ms"
                            " FROM video_captions WHERE video_id = $1 ORDER BY language COLLATE \"C\"",
                            {video_id}));
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.int64(i, 3), r.int64(i, 4)});
    return out;
  }

  Status delete_caption(std::string_view video_id, std::string_view language) override {
    const Status none = error(ErrorCode::kNotFound, "no '" + core::to_valid_utf8(language) +
                                                        "' captions on video '" +
                                                        core::to_valid_utf8(video_id) + "'");
    if (!storable_key(video_id) || !storable_key(language)) return none;
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("DELETE FROM video_captions WHERE video_id = $1 AND language = $2",
                            {video_id, language}));
    if (r.affected() == 0) return none;
    return Status::Ok();
  }

  Result<int64_t> set_like(std::string_view video_id, std::string_view user_id,
                           bool like) override {
    if (!storable_key(video_id)) return no_video(video_id);
    if (!storable_key(user_id)) return no_user(user_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto known, pool_->exec("SELECT EXISTS (SELECT 1 FROM videos WHERE id = $1),"
                                " EXISTS (SELECT 1 FROM users WHERE id = $2)",
                                {video_id, user_id}));
    if (!known.boolean(0, 0)) return no_video(video_id);
    if (!known.boolean(0, 1)) return no_user(user_id);
    // The key makes a second like of the same user nothing, however the calls interleave.
    auto r = like ? pool_->exec("INSERT INTO video_likes(video_id, user_id, created_at_ms)"
                                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                {video_id, user_id, core::now_ms()})
                  : pool_->exec("DELETE FROM video_likes WHERE video_id = $1 AND user_id = $2",
                                {video_id, user_id});
    if (!r.ok() && detail::sqlstate_of(r.status()) == "23503") return no_video(video_id);
    if (!r.ok()) return r.status().with_context("like");
    STREAMLET_ASSIGN_OR_RETURN(
        auto n, pool_->exec("SELECT like_count FROM videos WHERE id = $1", {video_id}));
    if (n.rows() == 0) return no_video(video_id);
    return n.int64(0, 0);
  }

  Result<bool> likes(std::string_view video_id, std::string_view user_id) override {
    if (!storable_key(video_id) || !storable_key(user_id)) return false;
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("SELECT 1 FROM video_likes WHERE video_id = $1 AND user_id = $2",
                            {video_id, user_id}));
    return r.rows() > 0;
  }

  Result<Comment> add_comment(std::string_view video_id, std::string_view author_id,
                              std::string_view raw) override {
    STREAMLET_ASSIGN_OR_RETURN(std::string body, catalog::detail::comment_body(raw));
    if (!storable_key(video_id)) return no_video(video_id);
    if (!storable_key(author_id)) return no_user(author_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto known, pool_->exec("SELECT EXISTS (SELECT 1 FROM videos WHERE id = $1),"
                                " (SELECT username FROM users WHERE id = $2)",
                                {video_id, author_id}));
    if (!known.boolean(0, 0)) return no_video(video_id);
    if (known.is_null(0, 1)) return no_user(author_id);
    Comment c{core::random_id(), std::string(video_id), std::string(author_id),
              known.text(0, 1), std::move(body), core::now_ms()};
    auto r = pool_->exec("INSERT INTO video_comments(id, video_id, author_id, body, created_at_ms)"
                         " VALUES ($1, $2, $3, $4, $5)",
                         {c.id, c.video_id, c.author_id, c.body, c.created_at_ms});
    if (!r.ok() && detail::sqlstate_of(r.status()) == "23503") return no_video(video_id);
    if (!r.ok()) return r.status().with_context("add comment");
    return c;
  }

  Result<CommentPage> list_comments(std::string_view video_id, std::string_view cursor,
                                    int limit) override {
    STREAMLET_ASSIGN_OR_RETURN(int64_t before, catalog::detail::comment_cursor(cursor));
    limit = std::clamp(limit, 1, 100);
    CommentPage page;
    if (!storable_key(video_id)) return page;
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("SELECT ") + kCommentColumns +
                                " WHERE c.video_id = $1 AND c.seq < $2 ORDER BY c.seq DESC"
                                " LIMIT $3",
                            {video_id, before, int64_t(limit) + 1}));
    for (int i = 0; i < r.rows() && i < limit; ++i) page.items.push_back(read_comment(r, i));
    if (r.rows() > limit) page.next_cursor = std::to_string(r.int64(limit - 1, 6));
    STREAMLET_ASSIGN_OR_RETURN(
        auto n,
        pool_->exec("SELECT count(*) FROM video_comments WHERE video_id = $1", {video_id}));
    page.total = n.int64(0, 0);
    return page;
  }

  Result<Comment> get_comment(std::string_view video_id, std::string_view comment_id) override {
    if (!storable_key(video_id) || !storable_key(comment_id))
      return catalog::detail::no_comment(comment_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("SELECT ") + kCommentColumns +
                                " WHERE c.video_id = $1 AND c.id = $2",
                            {video_id, comment_id}));
    if (r.rows() == 0) return catalog::detail::no_comment(comment_id);
    return read_comment(r, 0);
  }

  Status delete_comment(std::string_view video_id, std::string_view comment_id) override {
    if (!storable_key(video_id) || !storable_key(comment_id))
      return catalog::detail::no_comment(comment_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("DELETE FROM video_comments WHERE video_id = $1 AND id = $2",
                            {video_id, comment_id}));
    if (r.affected() == 0) return catalog::detail::no_comment(comment_id);
    return Status::Ok();
  }

  Result<VideoPage> list_videos(const VideoQuery& query) override {
    const int limit = std::clamp(query.limit, 1, 100);
    if (query.offset < 0) return error(ErrorCode::kInvalidArgument, "offset must be >= 0");
    // Text that cannot be stored cannot match anything stored (and would be an encoding error).
    if (!storable_key(query.text))
      return error(ErrorCode::kInvalidArgument, "search text: not valid UTF-8");
    detail::Params params;
    auto param = [&](detail::Param p) {
      params.push_back(std::move(p));
      return "$" + std::to_string(params.size());
    };
    const bool text = has_search_words(query.text);
    std::string from = " FROM videos v";
    std::string where = " WHERE true";
    if (text) {
      from += " CROSS JOIN (SELECT " + tsquery_sql(param(query.text)) + " AS query) q";
      where += " AND v.search @@ q.query";
    }
    auto key_filter = [&](const std::optional<std::string>& value, const char* column) {
      if (!value) return;
      // An id PostgreSQL could not store matches no row; keep the query valid all the same.
      where += std::string(" AND v.") + column + " = " +
               param(storable_key(*value) ? *value : std::string());
      if (!storable_key(*value)) where += " AND false";
    };
    key_filter(query.owner_id, "owner_id");
    if (query.visibility) where += " AND v.visibility = " + param(to_string(*query.visibility));
    if (query.status) where += " AND v.status = " + param(to_string(*query.status));
    if (query.visible_to) {
      const std::string viewer = storable_key(*query.visible_to) ? *query.visible_to : "";
      where += " AND ((v.visibility = 'public' AND v.status = 'ready') OR v.owner_id = " +
               param(viewer) + ")";
    }
    std::string order = catalog::detail::video_order(query.sort);
    if (order.empty())
      order = text ? " ORDER BY ts_rank(v.search, q.query) DESC, v.created_at_ms DESC, v.seq DESC"
                   : " ORDER BY v.created_at_ms DESC, v.seq DESC";
    const detail::Params filter_params = params;
    const std::string page_sql = std::string("SELECT ") + kVideoColumns + from + where + order +
                                 " LIMIT " + param(limit) + " OFFSET " + param(query.offset);

    // Both on one connection inside one snapshot, so the total agrees with the page.
    VideoPage page;
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction(
        [&](Connection& c) -> Status {
          STREAMLET_ASSIGN_OR_RETURN(auto count,
                                     c.exec("SELECT count(*)" + from + where, filter_params));
          page.total = count.int64(0, 0);
          STREAMLET_ASSIGN_OR_RETURN(auto rows, c.exec(page_sql, params));
          page.items.clear();
          for (int i = 0; i < rows.rows(); ++i) page.items.push_back(read_video(rows, i));
          return Status::Ok();
        },
        "REPEATABLE READ READ ONLY"));
    return page;
  }

  Result<User> create_user(const NewUser& in) override {
    STREAMLET_RETURN_IF_ERROR(catalog::check_username(in.username));
    STREAMLET_RETURN_IF_ERROR(check_text("email", in.email, catalog::detail::kMaxEmail));
    if (in.password_hash.empty())
      return error(ErrorCode::kInvalidArgument, "a user needs a password hash");
    if (!storable_key(in.password_hash))
      return error(ErrorCode::kInvalidArgument, "a password hash is text");
    auto r = pool_->exec(std::string("INSERT INTO users(id, username, email, password_hash, role,"
                                     " created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ") +
                             kUserColumns,
                         {core::random_id(), in.username, in.email, in.password_hash,
                          to_string(in.role), core::now_ms()});
    if (!r.ok() && r.status().code() == ErrorCode::kAlreadyExists)
      return error(ErrorCode::kAlreadyExists, "username '" + in.username + "' is taken");
    if (!r.ok()) return r.status();
    return read_user(*r, 0);
  }

  Result<User> get_user(std::string_view id) override {
    if (!storable_key(id)) return no_user(id);
    return one_user(id, pool_->exec(std::string("SELECT ") + kUserColumns +
                                        " FROM users WHERE id = $1",
                                    {id}));
  }

  Result<User> find_user_by_name(std::string_view username) override {
    if (!storable_key(username)) return no_user(username);
    return one_user(username, pool_->exec(std::string("SELECT ") + kUserColumns +
                                              " FROM users WHERE lower(username) = lower($1)",
                                          {username}));
  }

  Status set_user_role(std::string_view user_id, Role role) override {
    if (!storable_key(user_id)) return no_user(user_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("UPDATE users SET role = $1 WHERE id = $2", {to_string(role), user_id}));
    if (r.affected() == 0) return no_user(user_id);
    return Status::Ok();
  }

  Result<User> update_user(std::string_view user_id, const catalog::UserUpdate& update) override {
    if (!storable_key(user_id)) return no_user(user_id);
    User after;
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction([&](Connection& c) -> Status {
      // Lock every enabled admin first: a concurrent change of another admin waits here and
      // then sees this one's outcome (READ COMMITTED re-reads locked rows), so two admins
      // demoting each other cannot both succeed.
      STREAMLET_ASSIGN_OR_RETURN(
          auto admins, c.exec("SELECT id FROM users WHERE role = 'admin' AND NOT disabled"
                              " ORDER BY id FOR UPDATE"));
      STREAMLET_ASSIGN_OR_RETURN(
          auto row, c.exec(std::string("SELECT ") + kUserColumns +
                               " FROM users WHERE id = $1 FOR UPDATE",
                           {user_id}));
      if (row.rows() == 0) return no_user(user_id);
      const User user = read_user(row, 0);
      const Role role = update.role.value_or(user.role);
      const bool disabled = update.disabled.value_or(user.disabled);
      if (user.role == Role::kAdmin && !user.disabled && (role != Role::kAdmin || disabled)) {
        int others = 0;
        for (int i = 0; i < admins.rows(); ++i) others += admins.view(i, 0) != user_id;
        if (others == 0) return catalog::detail::last_admin_refused();
      }
      const std::string email = update.email.value_or(user.email);
      STREAMLET_RETURN_IF_ERROR(check_text("email", email, catalog::detail::kMaxEmail));
      const bool notify = update.email_notifications.value_or(user.email_notifications);
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, c.exec(std::string("UPDATE users SET role = $1, disabled = $2, email = $3,"
                                     " email_notifications = $4 WHERE id = $5 RETURNING ") +
                             kUserColumns,
                         {to_string(role), disabled, email, notify, user_id}));
      after = read_user(r, 0);
      return Status::Ok();
    }));
    return after;
  }

  Result<catalog::UserPage> list_users(int limit, int offset) override {
    if (offset < 0) return error(ErrorCode::kInvalidArgument, "offset must be >= 0");
    limit = std::clamp(limit, 1, 100);
    catalog::UserPage page;
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction(
        [&](Connection& c) -> Status {
          STREAMLET_ASSIGN_OR_RETURN(auto count, c.exec("SELECT count(*) FROM users"));
          page.total = count.int64(0, 0);
          STREAMLET_ASSIGN_OR_RETURN(
              auto rows, c.exec(std::string("SELECT ") + kUserColumns +
                                    " FROM users ORDER BY created_at_ms, id LIMIT $1 OFFSET $2",
                                {limit, offset}));
          page.items.clear();
          for (int i = 0; i < rows.rows(); ++i) page.items.push_back(read_user(rows, i));
          return Status::Ok();
        },
        "REPEATABLE READ READ ONLY"));
    return page;
  }

  Status set_password_hash(std::string_view user_id, std::string_view hash) override {
    if (hash.empty()) return error(ErrorCode::kInvalidArgument, "a user needs a password hash");
    if (!storable_key(hash)) return error(ErrorCode::kInvalidArgument, "a password hash is text");
    if (!storable_key(user_id)) return no_user(user_id);
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("UPDATE users SET password_hash = $1 WHERE id = $2", {hash, user_id}));
    if (r.affected() == 0) return no_user(user_id);
    return Status::Ok();
  }

  Result<int64_t> count_users() override {
    STREAMLET_ASSIGN_OR_RETURN(auto r, pool_->exec("SELECT count(*) FROM users"));
    return r.int64(0, 0);
  }

  Result<std::string> create_session(std::string_view user_id, int64_t expires_at_ms) override {
    if (!storable_key(user_id)) return no_user(user_id);
    const int64_t now = core::now_ms();
    const std::string id = core::random_id(22);  // about 130 bits
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction([&](Connection& c) -> Status {
      STREAMLET_RETURN_IF_ERROR(
          c.exec("DELETE FROM sessions WHERE expires_at_ms <= $1", {now}).status());
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, c.exec("INSERT INTO sessions(id, user_id, created_at_ms, expires_at_ms)"
                         " SELECT $1, u.id, $3, $4 FROM users u WHERE u.id = $2",
                         {id, user_id, now, expires_at_ms}));
      if (r.affected() == 0) return no_user(user_id);
      return Status::Ok();
    }));
    return id;
  }

  Status check_session(std::string_view session_id, std::string_view user_id) override {
    if (storable_key(session_id) && storable_key(user_id)) {
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, pool_->exec("SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2"
                              " AND expires_at_ms > $3",
                              {session_id, user_id, core::now_ms()}));
      if (r.rows() > 0) return Status::Ok();
    }
    return error(ErrorCode::kUnauthenticated, "the session has ended; sign in again");
  }

  Status delete_session(std::string_view session_id) override {
    if (storable_key(session_id)) {
      STREAMLET_ASSIGN_OR_RETURN(auto r,
                                 pool_->exec("DELETE FROM sessions WHERE id = $1", {session_id}));
      if (r.affected() > 0) return Status::Ok();
    }
    return error(ErrorCode::kNotFound, "no such session");
  }

  Result<int64_t> delete_sessions_of(std::string_view user_id, std::string_view keep) override {
    if (!storable_key(user_id)) return int64_t{0};
    const std::string kept = storable_key(keep) ? std::string(keep) : std::string();
    STREAMLET_ASSIGN_OR_RETURN(auto r, pool_->exec("DELETE FROM sessions WHERE user_id = $1"
                                                   " AND id <> $2",
                                                   {user_id, kept}));
    return r.affected();
  }

  Result<NewApiKey> create_api_key(std::string_view user_id, std::string_view name) override {
    STREAMLET_RETURN_IF_ERROR(check_text("name", name, catalog::detail::kMaxKeyName));
    if (!storable_key(user_id)) return no_user(user_id);
    NewApiKey out;
    // 32 random bytes: guessing is hopeless, so a fast SHA-256 (not a slow
    // password hash) is enough to make the stored value useless to a thief.
    out.key = "sk_" + core::base64url_encode(core::random_bytes(32));
    out.info.id = core::random_id();
    out.info.user_id = std::string(user_id);
    out.info.name = std::string(name);
    out.info.prefix = out.key.substr(0, 10);
    out.info.created_at_ms = core::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("INSERT INTO api_keys(id, user_id, name, prefix, key_sha256,"
                            " created_at_ms) SELECT $1, u.id, $3, $4, $5, $6 FROM users u"
                            " WHERE u.id = $2",
                            {out.info.id, out.info.user_id, out.info.name, out.info.prefix,
                             core::sha256_hex(out.key), out.info.created_at_ms}));
    if (r.affected() == 0) return no_user(user_id);
    return out;
  }

  Result<User> find_user_by_api_key(std::string_view key) override {
    const std::string hash = core::sha256_hex(key);
    const int64_t now = core::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("SELECT ") + user_columns_of_u() +
                                ", k.id AS key_id, k.last_used_at_ms FROM api_keys k"
                                " JOIN users u ON u.id = k.user_id WHERE k.key_sha256 = $1",
                            {hash}));
    if (r.rows() == 0) return error(ErrorCode::kUnauthenticated, "unknown API key");
    // Record use at most once a minute so authenticating is not a write per request.
    if (now - r.int64(0, "last_used_at_ms") > 60'000)
      STREAMLET_RETURN_IF_ERROR(pool_
                                    ->exec("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2",
                                           {now, r.text(0, "key_id")})
                                    .status());
    return read_user(r, 0);
  }

  Result<std::vector<ApiKey>> list_api_keys(std::string_view user_id) override {
    std::vector<ApiKey> keys;
    if (!storable_key(user_id)) return keys;
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec("SELECT id, user_id, name, prefix, created_at_ms, last_used_at_ms"
                            " FROM api_keys WHERE user_id = $1 ORDER BY created_at_ms, id",
                            {user_id}));
    for (int i = 0; i < r.rows(); ++i)
      keys.push_back(ApiKey{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                            r.int64(i, 4), r.int64(i, 5)});
    return keys;
  }

  Status revoke_api_key(std::string_view user_id, std::string_view key_id) override {
    if (storable_key(user_id) && storable_key(key_id)) {
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, pool_->exec("DELETE FROM api_keys WHERE id = $1 AND user_id = $2",
                              {key_id, user_id}));
      if (r.affected() > 0) return Status::Ok();
    }
    return error(ErrorCode::kNotFound, "no API key '" + core::to_valid_utf8(key_id) + "'");
  }

  Status record_view(const ViewBeacon& b) override {
    if (b.viewer_key.empty())
      return error(ErrorCode::kInvalidArgument, "a view needs a viewer key");
    // One beacon covers at most a day of watching: anything else is a broken or hostile client.
    if (!std::isfinite(b.seconds_watched) || b.seconds_watched < 0 || b.seconds_watched > 86400)
      return error(ErrorCode::kInvalidArgument, "seconds_watched must be between 0 and 86400");
    if (b.view_interval_seconds < 0)
      return error(ErrorCode::kInvalidArgument, "view_interval_seconds must be >= 0");
    const int64_t at = b.at_ms > 0 ? b.at_ms : core::now_ms();
    const std::string day = b.day.empty() ? core::utc_day(at) : b.day;
    if (!valid_day(day)) return error(ErrorCode::kInvalidArgument, "day must be YYYY-MM-DD");
    if (!storable_key(b.video_id)) return no_video(b.video_id);
    // Viewer keys may carry addresses; only a hash is kept.
    const std::string viewer = core::sha256_hex(b.viewer_key);

    return pool_->with_transaction([&](Connection& c) -> Status {
      // The video's row lock orders concurrent beacons of one video, so "first of the day" and
      // "last counted view" are decided on rows no other beacon is changing.
      STREAMLET_ASSIGN_OR_RETURN(auto video,
                                 c.exec("SELECT 1 FROM videos WHERE id = $1 FOR UPDATE", {b.video_id}));
      if (video.rows() == 0) return no_video(b.video_id);
      int64_t views = b.new_view ? 1 : 0;
      if (b.once_per_day) {
        STREAMLET_ASSIGN_OR_RETURN(
            auto seen, c.exec("SELECT 1 FROM video_views WHERE video_id = $1 AND day = $2"
                              " AND viewer_sha256 = $3",
                              {b.video_id, day, viewer}));
        views = seen.rows() > 0 ? 0 : 1;
      } else if (b.view_interval_seconds > 0) {
        STREAMLET_ASSIGN_OR_RETURN(
            auto last, c.exec("SELECT counted_at_ms FROM viewer_last_view"
                              " WHERE video_id = $1 AND viewer_sha256 = $2",
                              {b.video_id, viewer}));
        views = last.rows() == 0 || at - last.int64(0, 0) >= b.view_interval_seconds * 1000 ? 1 : 0;
      }
      STREAMLET_RETURN_IF_ERROR(
          c.exec("UPDATE videos SET view_count = view_count + $1,"
                 " watch_seconds = watch_seconds + $2 WHERE id = $3",
                 {views, b.seconds_watched, b.video_id})
              .status());
      STREAMLET_RETURN_IF_ERROR(
          c.exec("INSERT INTO video_views(video_id, day, viewer_sha256, views, watch_seconds)"
                 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (video_id, day, viewer_sha256)"
                 " DO UPDATE SET views = video_views.views + excluded.views,"
                 " watch_seconds = video_views.watch_seconds + excluded.watch_seconds",
                 {b.video_id, day, viewer, views, b.seconds_watched})
              .status());
      if (views > 0 && b.view_interval_seconds > 0)
        STREAMLET_RETURN_IF_ERROR(
            c.exec("INSERT INTO viewer_last_view(video_id, viewer_sha256, counted_at_ms)"
                   " VALUES ($1, $2, $3) ON CONFLICT (video_id, viewer_sha256)"
                   " DO UPDATE SET counted_at_ms = excluded.counted_at_ms",
                   {b.video_id, viewer, at})
                .status());
      return Status::Ok();
    });
  }

  Result<ViewStats> view_stats(std::string_view video_id, std::string_view from_day,
                               std::string_view to_day) override {
    STREAMLET_ASSIGN_OR_RETURN(auto range, catalog::detail::stats_days(from_day, to_day));
    const auto& [from, to] = range;
    if (!storable_key(video_id)) return no_video(video_id);
    ViewStats stats;
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction(
        [&](Connection& c) -> Status {
          stats = ViewStats{};
          STREAMLET_ASSIGN_OR_RETURN(auto video,
                                     c.exec("SELECT 1 FROM videos WHERE id = $1", {video_id}));
          if (video.rows() == 0) return no_video(video_id);
          STREAMLET_ASSIGN_OR_RETURN(
              auto days, c.exec("SELECT day, sum(views), sum(watch_seconds), count(*)"
                                " FROM video_views WHERE video_id = $1 AND day BETWEEN $2 AND $3"
                                " GROUP BY day ORDER BY day",
                                {video_id, from, to}));
          for (int i = 0; i < days.rows(); ++i) {
            DailyViews d{days.text(i, 0), days.int64(i, 1), days.real(i, 2), days.int64(i, 3)};
            stats.views += d.views;
            stats.watch_seconds += d.watch_seconds;
            stats.days.push_back(std::move(d));
          }
          STREAMLET_ASSIGN_OR_RETURN(
              auto unique, c.exec("SELECT count(DISTINCT viewer_sha256) FROM video_views"
                                  " WHERE video_id = $1 AND day BETWEEN $2 AND $3",
                                  {video_id, from, to}));
          stats.unique_viewers = unique.int64(0, 0);
          return Status::Ok();
        },
        "REPEATABLE READ READ ONLY"));
    return stats;
  }

  Result<LibraryStats> library_view_stats(std::string_view owner_id, std::string_view from_day,
                                          std::string_view to_day, int top_count) override {
    STREAMLET_ASSIGN_OR_RETURN(auto range,
                               catalog::detail::stats_days(from_day, to_day, top_count));
    const auto& [from, to] = range;
    LibraryStats stats;
    if (!storable_key(owner_id)) return stats;  // no such owner: no videos
    static constexpr const char* kOwned =
        " FROM video_views vv JOIN videos v ON v.id = vv.video_id"
        " WHERE v.owner_id = $1 AND vv.day BETWEEN $2 AND $3";
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction(
        [&](Connection& c) -> Status {
          stats = LibraryStats{};
          STREAMLET_ASSIGN_OR_RETURN(
              auto days, c.exec(std::string("SELECT vv.day, sum(vv.views), sum(vv.watch_seconds),"
                                            " count(DISTINCT vv.viewer_sha256)") +
                                    kOwned + " GROUP BY vv.day ORDER BY vv.day",
                                {owner_id, from, to}));
          for (int i = 0; i < days.rows(); ++i) {
            DailyViews d{days.text(i, 0), days.int64(i, 1), days.real(i, 2), days.int64(i, 3)};
            stats.totals.views += d.views;
            stats.totals.watch_seconds += d.watch_seconds;
            stats.totals.days.push_back(std::move(d));
          }
          STREAMLET_ASSIGN_OR_RETURN(
              auto unique, c.exec(std::string("SELECT count(DISTINCT vv.viewer_sha256)") + kOwned,
                                  {owner_id, from, to}));
          stats.totals.unique_viewers = unique.int64(0, 0);
          STREAMLET_ASSIGN_OR_RETURN(
              auto top,
              c.exec(std::string("SELECT v.id, v.title, sum(vv.views), sum(vv.watch_seconds),"
                                 " count(DISTINCT vv.viewer_sha256)") +
                         kOwned + " GROUP BY v.id, v.title" + catalog::detail::kTopVideosOrder +
                         " LIMIT $4",
                     {owner_id, from, to, int64_t(top_count)}));
          for (int i = 0; i < top.rows(); ++i)
            stats.top.push_back(VideoViewTotals{top.text(i, 0), top.text(i, 1), top.int64(i, 2),
                                                top.real(i, 3), top.int64(i, 4)});
          return Status::Ok();
        },
        "REPEATABLE READ READ ONLY"));
    return stats;
  }

  Result<std::string> shared_secret(std::string_view name, std::string_view candidate) override {
    STREAMLET_RETURN_IF_ERROR(check_text("secret name", name, catalog::detail::kMaxSecretName));
    if (name.empty()) return error(ErrorCode::kInvalidArgument, "a secret needs a name");
    if (candidate.empty())
      return error(ErrorCode::kInvalidArgument, "secret '" + std::string(name) + "': empty value");
    if (!storable_key(candidate))
      return error(ErrorCode::kInvalidArgument,
                   "secret '" + std::string(name) + "': the value must be UTF-8 text");
    STREAMLET_ASSIGN_OR_RETURN(auto lease, pool_->acquire());
    // Two statements, not one: after ON CONFLICT waited for another node's insert to commit,
    // only a new statement's snapshot sees that row.
    STREAMLET_RETURN_IF_ERROR(lease->exec("INSERT INTO secrets(name, value, created_at_ms)"
                                          " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                                          {name, candidate, core::now_ms()})
                                  .status());
    STREAMLET_ASSIGN_OR_RETURN(auto r,
                               lease->exec("SELECT value FROM secrets WHERE name = $1", {name}));
    if (r.rows() == 0)
      return error(ErrorCode::kInternal, "secret '" + std::string(name) + "' vanished");
    return r.text(0, 0);
  }

  Result<bool> take_lease(std::string_view name, std::string_view holder,
                          std::chrono::milliseconds ttl) override {
    // The database server's clock, the one every node sees.
    static constexpr const char* kServerNowMs =
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
    STREAMLET_RETURN_IF_ERROR(catalog::detail::check_lease(name, holder));
    STREAMLET_ASSIGN_OR_RETURN(auto lease, pool_->acquire());
    // One statement: a concurrent insert of the same name waits for ours, then takes the
    // conflict branch, whose WHERE decides. RETURNING gives a row only when we hold it now.
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, lease->exec(std::string("INSERT INTO leases(name, holder, expires_at_ms)"
                                        " VALUES ($1, $2, ") + kServerNowMs + " + $3::bigint)"
                            " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
                            " expires_at_ms = EXCLUDED.expires_at_ms"
                            " WHERE leases.holder = EXCLUDED.holder"
                            " OR leases.expires_at_ms <= " + kServerNowMs +
                            " RETURNING holder",
                            {name, holder, int64_t(ttl.count())}));
    return r.rows() == 1;
  }

  Status release_lease(std::string_view name, std::string_view holder) override {
    STREAMLET_RETURN_IF_ERROR(catalog::detail::check_lease(name, holder));
    STREAMLET_ASSIGN_OR_RETURN(auto lease, pool_->acquire());
    return lease->exec("DELETE FROM leases WHERE name = $1 AND holder = $2", {name, holder})
        .status();
  }

 private:
  static std::string user_columns_of_u() {
    return "u.id, u.username, u.email, u.password_hash, u.role, u.created_at_ms, u.disabled,"
           " u.email_notifications";
  }

  static Result<Video> one_video(std::string_view id, Result<QueryResult> r) {
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return no_video(id);
    return read_video(*r, 0);
  }
  static Result<User> one_user(std::string_view key, Result<QueryResult> r) {
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return no_user(key);
    return read_user(*r, 0);
  }

  std::shared_ptr<Pool> pool_;
};

}  // namespace

namespace detail {

Result<std::shared_ptr<catalog::Catalog>> open_catalog_on(std::shared_ptr<Pool> pool) {
  STREAMLET_RETURN_IF_ERROR(pool->migrate("catalog", migrations()));
  return std::shared_ptr<catalog::Catalog>(std::make_shared<PgCatalog>(std::move(pool)));
}

Result<Video> set_video_status(Connection& conn, std::string_view id, VideoStatus status,
                               std::string_view reason) {
  if (!storable_key(id)) return no_video(id);
  // A reason is the system's own text (often a library's error): it is kept, with any bad
  // bytes replaced (and NUL, which PostgreSQL text cannot hold), because refusing it would
  // leave the video in its old status.
  std::string shown = core::to_valid_utf8(reason.substr(0, kMaxDescription));
  std::erase(shown, '\0');
  STREAMLET_ASSIGN_OR_RETURN(
      auto r, conn.exec("UPDATE videos SET status = $1, status_reason = $2, updated_at_ms = $3"
                        " WHERE id = $4 RETURNING " +
                            returning_video_columns(),
                        {to_string(status), shown, core::now_ms(), id}));
  if (r.rows() == 0) return no_video(id);
  return read_video(r, 0);
}

}  // namespace detail

Result<std::shared_ptr<catalog::Catalog>> open_catalog(const std::string& url,
                                                       PoolOptions options) {
  detail::PoolConfig config;
  config.size = options.size;
  config.acquire_timeout = std::chrono::milliseconds(std::max(options.acquire_timeout_ms, 1));
  STREAMLET_ASSIGN_OR_RETURN(auto pool, Pool::open(url, config));
  return detail::open_catalog_on(std::move(pool));
}

}  // namespace streamlet::postgres
