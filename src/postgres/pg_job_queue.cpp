// The job queue in PostgreSQL: the SQLite queue's tables and rules (src/jobs/sqlite_job_queue.cpp)
// on a database many hosts share. Claims are one statement (UPDATE ... WHERE seq = (SELECT ...
// FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING), so concurrent claimers never wait on each other
// nor get the same job; state changes that make a job claimable NOTIFY in their own statement
// or transaction, which the server delivers on commit.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <mutex>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "postgres/listener.hpp"
#include "postgres/pg_catalog.hpp"
#include "postgres/pool.hpp"
#include "streamlet/postgres.hpp"

namespace streamlet::postgres {

namespace {

// An id that is not UTF-8 text (a client's "/v1/jobs/%FF") names no job: kNotFound, as
// SQLite answers, rather than the error PostgreSQL raises for such a parameter (22021).
Status check_job_id(std::string_view id) {
  if (streamlet::detail::valid_utf8(id) && id.find('\0') == std::string_view::npos)
    return Status::Ok();
  return error(ErrorCode::kNotFound, "no such job");
}

using detail::Connection;
using detail::Params;
using detail::Pool;
using detail::QueryResult;
using jobs::Job;
using jobs::JobState;

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> steps = {
      R"sql(
CREATE TABLE jobs (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  kind text NOT NULL,
  video_id text NOT NULL DEFAULT '',
  owner_id text NOT NULL DEFAULT '',
  payload text NOT NULL DEFAULT '{}',
  priority integer NOT NULL DEFAULT 0,
  state text NOT NULL
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  last_error text NOT NULL DEFAULT '',
  cancel_requested boolean NOT NULL DEFAULT false,
  run_at_ms bigint NOT NULL,
  lease_owner text NOT NULL DEFAULT '',
  lease_expires_at_ms bigint NOT NULL DEFAULT 0,
  created_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL
);
-- The claim's order (jobs.hpp: priority is a head start of 60000 ms per point), over queued
-- jobs only, so a claim reads the index in order and skips locked rows.
CREATE INDEX jobs_claim ON jobs ((run_at_ms - priority::bigint * 60000), seq)
  WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs (lease_expires_at_ms) WHERE state = 'running';
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE INDEX jobs_by_video ON jobs (video_id, seq);
CREATE INDEX jobs_by_owner ON jobs (owner_id, seq);
-- Queue instances that may hold leases; a lease whose owner is missing here (its queue was
-- closed) or whose process on the same host is gone is orphaned, recover() takes it back.
CREATE TABLE job_owners (
  owner text PRIMARY KEY,
  host text NOT NULL,
  pid bigint NOT NULL,
  started_at_ms bigint NOT NULL,
  heartbeat_ms bigint NOT NULL
);
)sql",
      // 2: flows (enqueue_flow): a parent waits for its children to succeed (claimable only
      // at none left, so the claim index holds only those); and who ran a job last.
      R"sql(
ALTER TABLE jobs ADD COLUMN parent_id text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN waiting_children integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claimed_by text NOT NULL DEFAULT '';
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs ((run_at_ms - priority::bigint * 60000), seq)
  WHERE state = 'queued' AND waiting_children = 0;
)sql",
  };
  return steps;
}

static_assert(jobs::kPriorityAgingMs == 60'000, "the claim index and kClaimOrder spell it out");
constexpr const char* kClaimOrder = " ORDER BY (run_at_ms - priority::bigint * 60000), seq";

constexpr const char* kCols =
    "id, kind, video_id, payload, state, attempts, max_attempts, last_error, cancel_requested,"
    " run_at_ms, lease_owner, lease_expires_at_ms, created_at_ms, updated_at_ms, owner_id,"
    " priority, parent_id, waiting_children, claimed_by, seq";
constexpr int kColCount = 20;

Job read_job(const QueryResult& r, int row) {
  Job j;
  j.id = r.text(row, 0);
  j.kind = r.text(row, 1);
  j.video_id = r.text(row, 2);
  j.payload = r.text(row, 3);
  auto state = jobs::parse_job_state(r.view(row, 4));  // the CHECK constraint allows no other
  j.state = state.ok() ? *state : JobState::kFailed;
  j.attempts = static_cast<int>(r.int64(row, 5));
  j.max_attempts = static_cast<int>(r.int64(row, 6));
  j.last_error = r.text(row, 7);
  j.cancel_requested = r.boolean(row, 8);
  j.run_at_ms = r.int64(row, 9);
  j.lease_owner = r.text(row, 10);
  j.lease_expires_at_ms = r.int64(row, 11);
  j.created_at_ms = r.int64(row, 12);
  j.updated_at_ms = r.int64(row, 13);
  j.owner_id = r.text(row, 14);
  j.priority = static_cast<int>(r.int64(row, 15));
  j.parent_id = r.text(row, 16);
  j.waiting_children = static_cast<int>(r.int64(row, 17));
  j.claimed_by = r.text(row, 18);
  return j;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// libpq sends text parameters as C strings: a NUL would silently cut the value short.
Status no_nul(std::string_view field, std::string_view value) {
  if (value.find('\0') != std::string_view::npos)
    return error(ErrorCode::kInvalidArgument, "job " + std::string(field) + " contains a NUL byte");
  return Status::Ok();
}

Status no_nuls(const jobs::NewJob& in) {
  for (auto [field, value] : {std::pair{"kind", &in.kind}, std::pair{"video_id", &in.video_id},
                              std::pair{"owner_id", &in.owner_id}})
    STREAMLET_RETURN_IF_ERROR(no_nul(field, *value));
  return Status::Ok();
}

// A failure's reason is the system's own text (often a library's error): kept, made valid
// UTF-8 without NULs, since PostgreSQL's text takes neither bad bytes nor NUL.
std::string storable(std::string_view text) {
  std::string s = streamlet::detail::to_valid_utf8(text);
  s.erase(std::remove(s.begin(), s.end(), '\0'), s.end());
  return s;
}

class PgJobQueue final : public jobs::JobQueue {
 public:
  PgJobQueue(std::shared_ptr<Pool> pool, std::string url, QueueConfig config)
      : pool_(std::move(pool)),
        url_(std::move(url)),
        config_(std::move(config)),
        owner_(streamlet::detail::random_id(16)),
        host_(host_name()),
        pid_(getpid()) {}

  ~PgJobQueue() override {
    listener_.reset();  // its callbacks use this object
    // Leaving the registry marks our leases orphaned for recover(), exactly as after a crash.
    (void)pool_->exec("DELETE FROM job_owners WHERE owner = $1", {owner_});
  }

  Status register_owner() {
    const int64_t now = streamlet::detail::now_ms();
    STREAMLET_RETURN_IF_ERROR(
        pool_->exec("INSERT INTO job_owners(owner, host, pid, started_at_ms, heartbeat_ms)"
                    " VALUES($1, $2, $3::bigint, $4::bigint, $4::bigint)",
                    {owner_, host_, static_cast<int64_t>(pid_), now})
            .status());
    (void)shares_catalog();
    return Status::Ok();
  }

  Result<Job> enqueue(const jobs::NewJob& in) override { return enqueue_flow(in, {}); }

  Result<Job> enqueue_flow(const jobs::NewJob& in,
                           const std::vector<jobs::NewJob>& children) override {
    STREAMLET_ASSIGN_OR_RETURN(const std::vector<int> attempts,
                               jobs::check_new_jobs(in, children, config_.queue.retry));
    STREAMLET_RETURN_IF_ERROR(no_nuls(in));
    for (const jobs::NewJob& c : children) STREAMLET_RETURN_IF_ERROR(no_nuls(c));
    if (in.mark_video_queued && !shares_catalog())
      return error(ErrorCode::kUnsupported,
                   "this job queue is not in the catalog's database: it cannot mark the video");
    const int64_t now = streamlet::detail::now_ms();
    // One statement per job: the row and its NOTIFY (a parent's wakes nobody for long: it is
    // not claimable before its children are done, whose completion notifies again).
    auto insert = [&](Connection* c, const jobs::NewJob& j, int attempts,
                      const std::string& parent, int waiting) -> Result<Job> {
      Params p = {streamlet::detail::random_id(), j.kind,       j.video_id, j.payload,
                  attempts,                       now,          j.owner_id, j.priority,
                  parent,                         waiting,      config_.channel};
      const std::string sql =
          std::string("WITH ins AS (INSERT INTO jobs(id, kind, video_id, payload, state,"
                      " max_attempts, run_at_ms, created_at_ms, updated_at_ms, owner_id,"
                      " priority, parent_id, waiting_children) VALUES($1, $2, $3, $4, 'queued',"
                      " $5::integer, $6::bigint, $6::bigint, $6::bigint, $7, $8::integer, $9,"
                      " $10::integer) RETURNING ") +
          kCols + ") SELECT ins.*, pg_notify($11, ins.run_at_ms::text) FROM ins";
      STREAMLET_ASSIGN_OR_RETURN(auto r, c ? c->exec(sql, p) : pool_->exec(sql, p));
      return read_job(r, 0);
    };
    if (!in.mark_video_queued && children.empty()) return insert(nullptr, in, attempts[0], "", 0);
    // The catalog's own status change on this transaction, then the parent and its children:
    // all commit or none (no such video: kNotFound, nothing inserted).
    Job job;
    STREAMLET_RETURN_IF_ERROR(pool_->with_transaction([&](Connection& c) -> Status {
      if (in.mark_video_queued)
        STREAMLET_RETURN_IF_ERROR(
            detail::set_video_status(c, in.video_id, catalog::VideoStatus::kQueued).status());
      STREAMLET_ASSIGN_OR_RETURN(
          job, insert(&c, in, attempts[0], "", static_cast<int>(children.size())));
      for (size_t i = 0; i < children.size(); ++i)
        STREAMLET_RETURN_IF_ERROR(insert(&c, children[i], attempts[i + 1], job.id, 0).status());
      return Status::Ok();
    }));
    return job;
  }

  Result<Job> get(std::string_view id) override {
    STREAMLET_RETURN_IF_ERROR(check_job_id(id));
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("SELECT ") + kCols + " FROM jobs WHERE id = $1", {id}));
    if (r.rows() == 0) return error(ErrorCode::kNotFound, "no job '" + std::string(id) + "'");
    return read_job(r, 0);
  }

  using JobQueue::list;

  Result<jobs::JobPage> list(const jobs::JobFilter& filter, std::string_view cursor) override {
    if (filter.limit < 1 || filter.limit > jobs::kMaxJobPageSize)
      return error(ErrorCode::kInvalidArgument,
                   "limit must be 1.." + std::to_string(jobs::kMaxJobPageSize));
    int64_t below = 0;
    if (!cursor.empty()) {
      auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), below);
      if (ec != std::errc() || end != cursor.data() + cursor.size() || below < 1)
        return error(ErrorCode::kInvalidArgument, "not a job list cursor");
    }
    std::string sql = std::string("SELECT ") + kCols + " FROM jobs WHERE true";
    Params p;
    auto arg = [&](detail::Param v) {
      p.push_back(std::move(v));
      return "$" + std::to_string(p.size());
    };
    if (!filter.video_id.empty()) sql += " AND video_id = " + arg(filter.video_id);
    if (!filter.owner_id.empty()) sql += " AND owner_id = " + arg(filter.owner_id);
    if (filter.state) sql += " AND state = " + arg(std::string(jobs::to_string(*filter.state)));
    if (!cursor.empty()) sql += " AND seq < " + arg(below) + "::bigint";
    sql += " ORDER BY seq DESC LIMIT " + arg(filter.limit + 1) + "::integer";
    STREAMLET_ASSIGN_OR_RETURN(auto r, pool_->exec(sql, p));
    jobs::JobPage page;
    for (int i = 0; i < r.rows(); ++i) {
      if (static_cast<int>(page.jobs.size()) == filter.limit) {
        page.next_cursor = std::to_string(r.int64(i - 1, kColCount - 1));
        break;
      }
      page.jobs.push_back(read_job(r, i));
    }
    return page;
  }

  Result<jobs::JobCounts> count_by_state() override {
    STREAMLET_ASSIGN_OR_RETURN(auto r,
                               pool_->exec("SELECT state, count(*) FROM jobs GROUP BY state"));
    jobs::JobCounts counts;
    for (int i = 0; i < r.rows(); ++i) {
      STREAMLET_ASSIGN_OR_RETURN(JobState state, jobs::parse_job_state(r.view(i, 0)));
      counts.by_state[static_cast<size_t>(state)] = r.int64(i, 1);
    }
    return counts;
  }

  Result<std::optional<Job>> claim(const std::vector<std::string>& kinds) override {
    const int64_t now = streamlet::detail::now_ms();
    STREAMLET_RETURN_IF_ERROR(requeue_expired(now));
    Params p = {owner_, now, static_cast<int64_t>(config_.queue.lease.count())};
    std::string sql =
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,"
        " lease_expires_at_ms = $2::bigint + $3::bigint, cancel_requested = false,"
        " updated_at_ms = $2::bigint, claimed_by = $1 WHERE seq = (SELECT seq FROM jobs"
        " WHERE state = 'queued' AND waiting_children = 0 AND run_at_ms <= $2::bigint";
    if (!kinds.empty()) {
      sql += " AND kind IN (";
      for (size_t i = 0; i < kinds.size(); ++i) {
        p.push_back(kinds[i]);
        sql += (i ? ", $" : "$") + std::to_string(p.size());
      }
      sql += ")";
    }
    sql += kClaimOrder;
    sql += " LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ";
    sql += kCols;
    STREAMLET_ASSIGN_OR_RETURN(auto r, pool_->exec(sql, p));
    if (r.rows() == 0) return std::optional<Job>();
    heartbeat(now);
    return std::optional<Job>(read_job(r, 0));
  }

  Result<Job> renew_lease(std::string_view id) override {
    const int64_t now = streamlet::detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("UPDATE jobs SET lease_expires_at_ms = $1::bigint"
                                        " WHERE id = $2 AND state = 'running' AND lease_owner = $3"
                                        " RETURNING ") +
                                kCols,
                            {now + config_.queue.lease.count(), id, owner_}));
    if (r.rows() == 0) return lease_lost(id);
    heartbeat(now);
    return read_job(r, 0);
  }

  Status complete(std::string_view id) override {
    const int64_t now = streamlet::detail::now_ms();
    return pool_->with_transaction([&](Connection& c) -> Status {
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, c.exec("UPDATE jobs SET state = 'succeeded', lease_owner = '',"
                         " lease_expires_at_ms = 0, updated_at_ms = $1::bigint WHERE id = $2"
                         " AND state = 'running' AND lease_owner = $3 RETURNING parent_id",
                         {now, id, owner_}));
      if (r.rows() == 0) return lease_lost(id).status();
      if (r.view(0, 0).empty()) return Status::Ok();
      // A child of a flow: its parent waits for one child less. Children completing at once
      // queue on the parent's row lock, so each decrement sees the one before. The last one
      // makes the parent claimable: a NOTIFY, delivered on commit.
      STREAMLET_ASSIGN_OR_RETURN(
          auto p, c.exec("UPDATE jobs SET waiting_children = waiting_children - 1,"
                         " updated_at_ms = $1::bigint WHERE id = $2 AND waiting_children > 0"
                         " RETURNING waiting_children, run_at_ms",
                         {now, r.text(0, 0)}));
      if (p.rows() == 1 && p.int64(0, 0) == 0)
        STREAMLET_RETURN_IF_ERROR(notify(c, std::max(now, p.int64(0, 1))));
      return Status::Ok();
    });
  }

  Result<Job> fail(std::string_view id, std::string_view reason, bool retryable) override {
    const std::string why = storable(reason);
    Job after;
    Status s = pool_->with_transaction([&](Connection& c) -> Status {
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, c.exec(std::string("SELECT ") + kCols + " FROM jobs WHERE id = $1 FOR UPDATE",
                         {id}));
      if (r.rows() == 0) return error(ErrorCode::kNotFound, "no job '" + std::string(id) + "'");
      Job job = read_job(r, 0);
      if (job.state != JobState::kRunning || job.lease_owner != owner_)
        return lease_lost_status(job);
      const int64_t now = streamlet::detail::now_ms();
      std::string state;
      int64_t run_at = job.run_at_ms;
      if (job.cancel_requested) {
        state = "cancelled";
      } else if (retryable && job.attempts < job.max_attempts) {
        state = "queued";
        run_at = now + jobs::retry_delay(config_.queue.retry, job.attempts).count();
      } else {
        state = "failed";
      }
      STREAMLET_ASSIGN_OR_RETURN(
          auto u, c.exec(std::string("UPDATE jobs SET state = $1, last_error = $2,"
                                     " run_at_ms = $3::bigint, lease_owner = '',"
                                     " lease_expires_at_ms = 0, updated_at_ms = $4::bigint"
                                     " WHERE id = $5 RETURNING ") +
                             kCols,
                         {state, why, run_at, now, id}));
      after = read_job(u, 0);
      // Every listener sets a timer for the end of the backoff.
      if (state == "queued") STREAMLET_RETURN_IF_ERROR(notify(c, run_at));
      return Status::Ok();
    });
    STREAMLET_RETURN_IF_ERROR(s);
    return after;
  }

  Result<Job> acknowledge_cancel(std::string_view id) override {
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("UPDATE jobs SET state = 'cancelled', lease_owner = '',"
                                        " lease_expires_at_ms = 0, updated_at_ms = $1::bigint"
                                        " WHERE id = $2 AND state = 'running' AND lease_owner = $3"
                                        " RETURNING ") +
                                kCols,
                            {streamlet::detail::now_ms(), id, owner_}));
    if (r.rows() == 0) return lease_lost(id);
    return read_job(r, 0);
  }

  Status release(std::string_view id) override {
    const int64_t now = streamlet::detail::now_ms();
    // A cancel that arrived meanwhile still wins: the job ends cancelled.
    STREAMLET_ASSIGN_OR_RETURN(
        auto r,
        pool_->exec("WITH r AS (UPDATE jobs SET state = CASE WHEN cancel_requested THEN"
                    " 'cancelled' ELSE 'queued' END, attempts = greatest(attempts - 1, 0),"
                    " run_at_ms = $1::bigint, lease_owner = '', lease_expires_at_ms = 0,"
                    " updated_at_ms = $1::bigint WHERE id = $2 AND state = 'running'"
                    " AND lease_owner = $3 RETURNING state)"
                    " SELECT r.state, pg_notify($4, $1::text) FROM r",
                    {now, id, owner_, config_.channel}));
    if (r.rows() == 0) return lease_lost(id).status();
    return Status::Ok();
  }

  Result<Job> cancel(std::string_view id) override {
    STREAMLET_RETURN_IF_ERROR(check_job_id(id));
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("UPDATE jobs SET state = CASE WHEN state = 'queued' THEN"
                                        " 'cancelled' ELSE state END, cancel_requested ="
                                        " (cancel_requested OR state = 'running'),"
                                        " updated_at_ms = $1::bigint WHERE id = $2"
                                        " AND state IN ('queued', 'running') RETURNING ") +
                                kCols,
                            {streamlet::detail::now_ms(), id}));
    if (r.rows() == 0) {
      STREAMLET_ASSIGN_OR_RETURN(Job job, get(id));
      return error(ErrorCode::kConflict,
                   "job " + job.id + " is already " + std::string(jobs::to_string(job.state)));
    }
    return read_job(r, 0);
  }

  Result<Job> retry(std::string_view id) override {
    STREAMLET_RETURN_IF_ERROR(check_job_id(id));
    const int64_t now = streamlet::detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto r, pool_->exec(std::string("WITH r AS (UPDATE jobs SET state = 'queued', attempts = 0,"
                                        " cancel_requested = false, run_at_ms = $1::bigint,"
                                        " updated_at_ms = $1::bigint WHERE id = $2"
                                        " AND state IN ('failed', 'cancelled') RETURNING ") +
                                kCols + ") SELECT r.*, pg_notify($3, $1::text) FROM r",
                            {now, id, config_.channel}));
    if (r.rows() == 0) {
      STREAMLET_ASSIGN_OR_RETURN(Job job, get(id));
      return error(ErrorCode::kConflict, "job " + job.id + " is " +
                                             std::string(jobs::to_string(job.state)) +
                                             ", only failed or cancelled jobs can be retried");
    }
    return read_job(r, 0);
  }

  Result<std::vector<Job>> recover() override {
    std::vector<Job> moved;
    Status s = pool_->with_transaction([&](Connection& c) -> Status {
      moved.clear();
      const int64_t now = streamlet::detail::now_ms();
      STREAMLET_ASSIGN_OR_RETURN(
          auto r, c.exec(std::string("SELECT ") + kCols +
                             ", o.owner IS NOT NULL, o.host, o.pid FROM jobs"
                             " LEFT JOIN job_owners o ON o.owner = jobs.lease_owner"
                             " WHERE jobs.state = 'running' AND jobs.lease_owner <> $1"
                             " FOR UPDATE OF jobs SKIP LOCKED",
                         {owner_}));
      std::vector<Job> orphans;
      for (int i = 0; i < r.rows(); ++i) {
        Job job = read_job(r, i);
        // These columns come after kCols (whose last is seq).
        const bool registered = r.boolean(i, kColCount);
        const bool expired = job.lease_expires_at_ms < now;
        // Same machine, another process that no longer exists: it crashed.
        const bool dead_process = registered && r.view(i, kColCount + 1) == host_ &&
                                  r.int64(i, kColCount + 2) != pid_ &&
                                  !process_alive(r.int64(i, kColCount + 2));
        if (expired || !registered || dead_process) orphans.push_back(std::move(job));
      }
      // Forget owners on this host whose process is gone, so the registry does not grow.
      STREAMLET_ASSIGN_OR_RETURN(
          auto owners, c.exec("SELECT owner, pid FROM job_owners WHERE host = $1 AND pid <> $2",
                              {host_, static_cast<int64_t>(pid_)}));
      for (int i = 0; i < owners.rows(); ++i)
        if (!process_alive(owners.int64(i, 1)))
          STREAMLET_RETURN_IF_ERROR(
              c.exec("DELETE FROM job_owners WHERE owner = $1", {owners.text(i, 0)}).status());
      bool requeued = false;
      for (const Job& job : orphans) {
        std::string state = "queued";
        const std::string attempt =
            std::to_string(job.attempts) + " of " + std::to_string(job.max_attempts);
        std::string reason = "the transcode was interrupted (its server stopped while it ran, "
                             "attempt " + attempt + "); it will run again";
        if (job.cancel_requested) {
          state = "cancelled";
          reason = "transcode cancelled";
        } else if (job.attempts >= job.max_attempts) {
          state = "failed";
          reason = "the transcode was interrupted " + std::to_string(job.attempts) +
                   " times (its server stopped or crashed while it ran); it is not tried again";
        }
        requeued |= state == "queued";
        STREAMLET_ASSIGN_OR_RETURN(
            auto u, c.exec(std::string("UPDATE jobs SET state = $1, last_error = $2,"
                                       " run_at_ms = $3::bigint, lease_owner = '',"
                                       " lease_expires_at_ms = 0, updated_at_ms = $3::bigint"
                                       " WHERE id = $4 RETURNING ") +
                               kCols,
                           {state, reason, now, job.id}));
        moved.push_back(read_job(u, 0));
      }
      if (requeued) STREAMLET_RETURN_IF_ERROR(notify(c, now));
      return Status::Ok();
    });
    STREAMLET_RETURN_IF_ERROR(s);
    return moved;
  }

  const std::string& owner() const override { return owner_; }
  std::chrono::milliseconds lease_duration() const override { return config_.queue.lease; }

  bool shares_catalog() const override {
    if (shares_) return true;
    // The catalog may be opened after the queue: look again until it is there.
    auto r = pool_->exec("SELECT to_regclass('videos') IS NOT NULL");
    shares_ = r.ok() && r->rows() == 1 && r->boolean(0, 0);
    return shares_;
  }

  bool set_wake_callback(std::function<void()> wake) override {
    std::lock_guard lock(wake_mutex_);
    wake_ = std::move(wake);
    if (!wake_ || listener_) return true;
    // The listener starts with the first worker pool: a node that only enqueues needs none.
    detail::ListenerCallbacks cb;
    cb.on_notify = [this](std::string_view payload) { on_notify(payload); };
    cb.on_due = [this] { fire_wake(); };
    cb.on_connected = [this] { fire_wake(); };  // whatever was sent while it was away
    auto l = detail::Listener::start(url_, config_.channel, std::move(cb));
    if (!l.ok()) {
      wake_ = nullptr;
      return false;
    }
    listener_ = std::move(l).value();
    return true;
  }

 private:

  Status notify(Connection& c, int64_t due_ms) {
    return c.exec("SELECT pg_notify($1, $2)", {config_.channel, std::to_string(due_ms)}).status();
  }

  // Called on the listener thread (on_connected also from set_wake_callback's, under the lock
  // it already holds, hence the recursive mutex).
  void fire_wake() {
    std::lock_guard lock(wake_mutex_);
    if (wake_) wake_();
  }

  void on_notify(std::string_view payload) {
    int64_t due = 0;
    std::from_chars(payload.data(), payload.data() + payload.size(), due);
    std::lock_guard lock(wake_mutex_);
    if (due > streamlet::detail::now_ms() + 2 && listener_)
      listener_->schedule(due);
    else
      fire_wake();
  }

  // Running jobs of others whose lease ran out go back to the queue (ending one is
  // recover()'s, whose caller tells the owner). At most once per second or half a lease.
  Status requeue_expired(int64_t now) {
    const int64_t every = std::min<int64_t>(1000, config_.queue.lease.count() / 2);
    int64_t last = last_requeue_ms_.load();
    if (now - last < every || !last_requeue_ms_.compare_exchange_strong(last, now))
      return Status::Ok();
    STREAMLET_ASSIGN_OR_RETURN(
        auto r,
        pool_->exec("UPDATE jobs SET state = 'queued', last_error = 'the transcode was"
                    " interrupted (its server stopped while it ran, attempt ' || attempts ||"
                    " ' of ' || max_attempts || '); it will run again', run_at_ms = $1::bigint,"
                    " lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = $1::bigint"
                    " WHERE state = 'running' AND lease_expires_at_ms < $1::bigint"
                    " AND lease_owner <> $2 AND NOT cancel_requested"
                    " AND attempts < max_attempts",
                    {now, owner_}));
    // Others may be waiting for them too (this claimer takes only one).
    if (r.affected() > 1)
      (void)pool_->exec("SELECT pg_notify($1, $2)", {config_.channel, std::to_string(now)});
    return Status::Ok();
  }

  // The owner's row says it is alive; written at most once a second.
  void heartbeat(int64_t now) {
    int64_t last = last_heartbeat_ms_.load();
    if (now - last < 1000 || !last_heartbeat_ms_.compare_exchange_strong(last, now)) return;
    (void)pool_->exec("UPDATE job_owners SET heartbeat_ms = $1::bigint WHERE owner = $2",
                      {now, owner_});
  }

  Status lease_lost_status(const Job& job) {
    return error(ErrorCode::kConflict, "job " + job.id + " is not running under this worker (" +
                                           std::string(jobs::to_string(job.state)) + ")");
  }

  Result<Job> lease_lost(std::string_view id) {
    STREAMLET_ASSIGN_OR_RETURN(Job job, get(id));
    return lease_lost_status(job);
  }

  std::shared_ptr<Pool> pool_;
  std::string url_;
  QueueConfig config_;
  std::string owner_;
  std::string host_;
  pid_t pid_;
  mutable std::atomic<bool> shares_{false};
  std::atomic<int64_t> last_requeue_ms_{0};
  std::atomic<int64_t> last_heartbeat_ms_{0};
  std::recursive_mutex wake_mutex_;  // guards wake_ and listener_'s creation
  std::function<void()> wake_;
  std::unique_ptr<detail::Listener> listener_;
};

}  // namespace

Result<std::unique_ptr<jobs::JobQueue>> open_job_queue(const std::string& url,
                                                       const QueueConfig& config) {
  const auto& o = config.queue;
  if (o.lease.count() <= 0 || o.retry.max_attempts < 1 || o.retry.base_backoff.count() < 0 ||
      o.retry.max_backoff.count() < 0)
    return error(ErrorCode::kInvalidArgument,
                 "job queue: lease must be > 0, max_attempts >= 1, backoffs >= 0");
  if (config.connections < 1)
    return error(ErrorCode::kInvalidArgument, "job queue: connections must be >= 1");
  if (!detail::Listener::valid_channel(config.channel))
    return error(ErrorCode::kInvalidArgument,
                 "job queue: a channel name is 1..63 of [a-z0-9_], not '" + config.channel + "'");
  STREAMLET_ASSIGN_OR_RETURN(auto pool, Pool::open(url, {.size = config.connections}));
  STREAMLET_RETURN_IF_ERROR(pool->migrate("jobs", migrations()));
  auto queue = std::make_unique<PgJobQueue>(std::move(pool), url, config);
  STREAMLET_RETURN_IF_ERROR(queue->register_owner());
  return std::unique_ptr<jobs::JobQueue>(std::move(queue));
}

}  // namespace streamlet::postgres
