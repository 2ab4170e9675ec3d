// The queue past the sizes a capped scan would hide: listing, counting and cancelling must
// see every job, however many the queue holds and however old the one asked about is.
#include <filesystem>
#include <set>

#include "catalog/sqlite_db.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/platform.hpp"
#include "support/support.hpp"

namespace sj = streamlet::jobs;
namespace sc = streamlet::catalog;
namespace sp = streamlet::platform;
using streamlet::ErrorCode;
using streamlet::test::TempDir;

namespace {

sj::NewJob job_for(std::string video_id, std::string owner_id = "") {
  sj::NewJob j;
  j.video_id = std::move(video_id);
  j.owner_id = std::move(owner_id);
  j.payload = R"({"input": "x.mp4"})";
  return j;
}

// Many jobs at once: one transaction, like a busy queue built up over months.
void fill(const std::string& db_path, int n, const std::string& video_prefix = "other") {
  auto db = streamlet::detail::sql::Db::open(db_path);
  REQUIRE(db.ok());
  REQUIRE((*db)->exec("BEGIN").ok());
  bool all_in = true;
  for (int i = 0; i < n && all_in; ++i) {
    auto ins = (*db)->prepare(
        "INSERT INTO jobs(id, kind, video_id, payload, state, max_attempts, run_at_ms,"
        " created_at_ms, updated_at_ms) VALUES(?, 'transcode', ?, '{}', 'queued', 3, 0, ?, ?)");
    if (!ins.ok()) break;
    ins->bind(1, "fill" + std::to_string(i) + video_prefix)
        .bind(2, video_prefix + std::to_string(i))
        .bind(3, int64_t{i + 1})
        .bind(4, int64_t{i + 1});
    all_in = ins->run().ok();
  }
  REQUIRE(all_in);
  REQUIRE((*db)->exec("COMMIT").ok());
}

struct PlatformWithVideo {
  TempDir dir;
  std::unique_ptr<sp::Platform> platform;
  std::string db_path;
  std::string owner_id;
  std::string video_id;

  PlatformWithVideo() {
    sp::PlatformOptions o;
    o.data_dir = dir.path() / "data";
    auto p = sp::Platform::open_local(o);
    REQUIRE_MESSAGE(p.ok(), p.status().to_string());
    platform = std::move(p).value();
    db_path = (o.data_dir / "catalog.db").string();
    auto cat = sc::open_sqlite_catalog(db_path);
    REQUIRE(cat.ok());
    sc::NewUser u;
    u.username = "alice";
    u.password_hash = "x";
    auto user = (*cat)->create_user(u);
    REQUIRE(user.ok());
    owner_id = user->id;
    sc::NewVideo v;
    v.owner_id = owner_id;
    v.title = "old one";
    auto video = (*cat)->create_video(v);
    REQUIRE(video.ok());
    video_id = video->id;
  }
};

}  // namespace

TEST_CASE("jobs: deleting a video cancels its job when it is older than 10,000 others") {
  PlatformWithVideo p;
  std::string job_id;
  {
    auto q = sj::open_sqlite_job_queue(p.db_path);
    REQUIRE(q.ok());
    auto job = (*q)->enqueue(job_for(p.video_id, p.owner_id));
    REQUIRE(job.ok());
    job_id = job->id;
  }
  fill(p.db_path, 10'500);
  streamlet::accounts::Principal alice;
  alice.user_id = p.owner_id;
  REQUIRE(p.platform->delete_video(alice, p.video_id).ok());
  auto q = sj::open_sqlite_job_queue(p.db_path);
  REQUIRE(q.ok());
  auto job = (*q)->get(job_id);
  REQUIRE(job.ok());
  CHECK(job->state == sj::JobState::kCancelled);
  // The others are untouched.
  CHECK((*q)->get("fill0other")->state == sj::JobState::kQueued);
}

TEST_CASE("jobs: the jobs metric counts past 10,000 jobs") {
  PlatformWithVideo p;
  fill(p.db_path, 12'000);
  {
    auto q = sj::open_sqlite_job_queue(p.db_path);
    REQUIRE(q.ok());
    REQUIRE((*q)->cancel("fill7other").ok());
  }
  std::map<std::string, int64_t> counts;
  for (const auto& [state, n] : p.platform->stats().jobs) counts[std::string(sj::to_string(state))] = n;
  CHECK(counts["queued"] == 11'999);
  CHECK(counts["cancelled"] == 1);
  CHECK(counts["running"] == 0);
}

TEST_CASE("jobs: count_by_state counts 12,000 jobs in every state") {
  TempDir dir;
  const std::string path = (dir / "streamlet.db").string();
  auto q = sj::open_sqlite_job_queue(path);
  REQUIRE(q.ok());
  fill(path, 12'000);
  REQUIRE((*q)->cancel("fill1other").ok());
  REQUIRE((*q)->cancel("fill2other").ok());
  auto claimed = (*q)->claim();  // the oldest: fill0other
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  REQUIRE((*q)->complete((*claimed)->id).ok());
  auto running = (*q)->claim();
  REQUIRE(running.ok());
  REQUIRE(running->has_value());
  auto counts = (*q)->count_by_state();
  REQUIRE(counts.ok());
  CHECK(counts->of(sj::JobState::kQueued) == 11'996);
  CHECK(counts->of(sj::JobState::kRunning) == 1);
  CHECK(counts->of(sj::JobState::kSucceeded) == 1);
  CHECK(counts->of(sj::JobState::kCancelled) == 2);
  CHECK(counts->of(sj::JobState::kFailed) == 0);
  CHECK(counts->total() == 12'000);
}

TEST_CASE("jobs: a filtered list pages through every job with a cursor, newest first") {
  TempDir dir;
  const std::string path = (dir / "streamlet.db").string();
  auto q = sj::open_sqlite_job_queue(path);
  REQUIRE(q.ok());
  // 2,500 jobs of video "v" (owner "ann"), interleaved with jobs of others.
  std::vector<std::string> v_jobs;  // oldest first
  for (int i = 0; i < 2'500; ++i) {
    auto mine = (*q)->enqueue(job_for("v", "ann"));
    REQUIRE(mine.ok());
    v_jobs.push_back(mine->id);
    if (i % 2 == 0) REQUIRE((*q)->enqueue(job_for("w" + std::to_string(i), "bob")).ok());
  }
  REQUIRE((*q)->cancel(v_jobs[10]).ok());

  sj::JobFilter f;
  f.video_id = "v";
  f.limit = sj::kMaxJobPageSize;
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = (*q)->list(f, cursor);
    REQUIRE_MESSAGE(page.ok(), page.status().to_string());
    ++pages;
    for (const auto& j : page->jobs) {
      CHECK(j.video_id == "v");
      CHECK(j.owner_id == "ann");
      seen.push_back(j.id);
    }
    cursor = page->next_cursor;
    // Jobs added while paging come before the first page: they shift nothing.
    if (pages == 1) REQUIRE((*q)->enqueue(job_for("v", "ann")).ok());
  } while (!cursor.empty());
  CHECK(pages == 3);
  std::vector<std::string> newest_first(v_jobs.rbegin(), v_jobs.rend());
  CHECK(seen == newest_first);

  // Owner and state filters combine.
  f = {};
  f.owner_id = "ann";
  f.state = sj::JobState::kCancelled;
  auto cancelled = (*q)->list(f);
  REQUIRE(cancelled.ok());
  REQUIRE(cancelled->jobs.size() == 1);
  CHECK(cancelled->jobs[0].id == v_jobs[10]);
  CHECK(cancelled->next_cursor.empty());
  f = {};
  f.owner_id = "bob";
  f.limit = 1'000;
  auto bobs = (*q)->list(f);
  REQUIRE(bobs.ok());
  CHECK(bobs->jobs.size() == 1'000);
  auto rest = (*q)->list(f, bobs->next_cursor);
  REQUIRE(rest.ok());
  CHECK(rest->jobs.size() == 250);
  CHECK(rest->next_cursor.empty());
}

TEST_CASE("jobs: a page size past the maximum or a malformed cursor is refused, not clamped") {
  TempDir dir;
  auto q = sj::open_sqlite_job_queue((dir / "streamlet.db").string());
  REQUIRE(q.ok());
  REQUIRE((*q)->enqueue(job_for("v")).ok());
  for (int limit : {0, -1, sj::kMaxJobPageSize + 1, 1'000'000}) {
    sj::JobFilter f;
    f.limit = limit;
    auto page = (*q)->list(f);
    REQUIRE_FALSE(page.ok());
    CHECK(page.status().code() == ErrorCode::kInvalidArgument);
  }
  for (std::string cursor : {"abc", "-5", "0", "12x", "99999999999999999999999"}) {
    auto page = (*q)->list(sj::JobFilter{}, cursor);
    REQUIRE_FALSE_MESSAGE(page.ok(), cursor);
    CHECK(page.status().code() == ErrorCode::kInvalidArgument);
  }
  // The old convenience form is a first page, so it refuses the same limits.
  CHECK((*q)->list(std::nullopt, 100'000).status().code() == ErrorCode::kInvalidArgument);
  CHECK((*q)->list(std::nullopt, 5)->size() == 1);
}

TEST_CASE("jobs: higher priority is claimed first, oldest first among equals") {
  TempDir dir;
  auto q = sj::open_sqlite_job_queue((dir / "streamlet.db").string());
  REQUIRE(q.ok());
  auto add = [&](int priority) {
    sj::NewJob j = job_for("v");
    j.priority = priority;
    auto job = (*q)->enqueue(j);
    REQUIRE(job.ok());
    CHECK(job->priority == priority);
    return job->id;
  };
  const std::string low_old = add(0);
  const std::string neg = add(-5);
  const std::string high = add(10);
  const std::string low_new = add(0);
  const std::string mid = add(3);
  std::vector<std::string> order;
  while (true) {
    auto c = (*q)->claim();
    REQUIRE(c.ok());
    if (!c->has_value()) break;
    order.push_back((*c)->id);
  }
  CHECK(order == std::vector<std::string>{high, mid, low_old, low_new, neg});
  // It is stored: another instance reads it back.
  auto other = sj::open_sqlite_job_queue((dir / "streamlet.db").string());
  REQUIRE(other.ok());
  CHECK((*other)->get(high)->priority == 10);
}

TEST_CASE("jobs: a schema-1 queue is migrated in place, keeping its jobs and owners") {
  TempDir dir;
  const std::string path = (dir / "streamlet.db").string();
  // A catalog with one video, beside a queue written by the previous Streamlet.
  std::string owner, video;
  {
    auto cat = sc::open_sqlite_catalog(path);
    REQUIRE(cat.ok());
    sc::NewUser u;
    u.username = "carol";
    u.password_hash = "x";
    owner = (*cat)->create_user(u)->id;
    sc::NewVideo v;
    v.owner_id = owner;
    video = (*cat)->create_video(v)->id;
  }
  {
    auto db = streamlet::detail::sql::Db::open(path);
    REQUIRE(db.ok());
    REQUIRE((*db)
                ->exec(R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
  video_id TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
  run_at_ms INTEGER NOT NULL, lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at_ms INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL);
CREATE INDEX jobs_due ON jobs(state, run_at_ms, seq);
CREATE INDEX jobs_by_video ON jobs(video_id);
CREATE TABLE job_owners (owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
  started_at_ms INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL);
INSERT INTO schema_version(component, version) VALUES('jobs', 1);
INSERT INTO jobs(id, kind, video_id, payload, state, max_attempts, run_at_ms, created_at_ms,
  updated_at_ms) VALUES('oldjob000001', 'transcode', ')sql" +
                       video +
                       R"sql(', '{}', 'queued', 3,
  CAST(strftime('%s', 'now') AS INTEGER) * 1000, 1, 1);
)sql")
                .ok());
  }
  auto q = sj::open_sqlite_job_queue(path);
  REQUIRE_MESSAGE(q.ok(), q.status().to_string());
  auto old = (*q)->get("oldjob000001");
  REQUIRE(old.ok());
  CHECK(old->priority == 0);
  CHECK(old->owner_id == owner);  // taken from its video
  CHECK(old->video_id == video);
  sj::JobFilter f;
  f.owner_id = owner;
  CHECK((*q)->list(f)->jobs.size() == 1);
  // A newer, urgent job goes ahead of it (the old one became due just now, so its wait is no
  // match for a minute's head start); then the old one runs.
  sj::NewJob urgent = job_for("v2");
  urgent.priority = 1;
  const std::string urgent_id = (*q)->enqueue(urgent)->id;
  CHECK((*(*q)->claim())->id == urgent_id);
  CHECK((*(*q)->claim())->id == "oldjob000001");
  {
    auto db = streamlet::detail::sql::Db::open(path);
    auto v = (*db)->prepare("SELECT version FROM schema_version WHERE component = 'jobs'");
    REQUIRE(v.ok());
    REQUIRE(*v->step());
    CHECK(v->int64(0) == 4);  // every jobs migration, the flows one (4) the last
  }
}
