// The embedded job queue: a `jobs` table plus a registry of live lease owners
// (`job_owners`), on its own SQLite connection behind a mutex.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <mutex>

#include "core/crypto.hpp"
#include "catalog/sqlite_db.hpp"
#include "streamlet/jobs.hpp"

namespace streamlet::jobs {

namespace {

using detail::sql::Db;
using detail::sql::Stmt;
using detail::sql::Transaction;

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> steps = {
      R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  video_id TEXT NOT NULL DEFAULT '',
  payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  run_at_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at_ms INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at_ms, seq);
CREATE INDEX jobs_by_video ON jobs(video_id);
-- Queue instances that may hold leases; a lease whose owner is missing here
-- (or whose process is dead) is orphaned and recover() takes it back.
CREATE TABLE job_owners (
  owner TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at_ms INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
);
)sql",
      // 2: priorities (claimed highest first) and owners (listed per user); paging indexes
      // so a filtered page never scans the whole table.
      R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
DROP INDEX jobs_due;
DROP INDEX jobs_by_video;
CREATE INDEX jobs_claim ON jobs(state, priority DESC, run_at_ms, seq);
CREATE INDEX jobs_by_state ON jobs(state, seq);
CREATE INDEX jobs_by_video ON jobs(video_id, seq);
CREATE INDEX jobs_by_owner ON jobs(owner_id, seq);
)sql",
      // 3: claims go by the aged priority (kPriorityAgingMs = 60000 per priority point), so
      // the index follows the claim's ORDER BY expression exactly.
      R"sql(
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs(state, (run_at_ms - priority * 60000), seq);
)sql",
      // 4: flows (enqueue_flow): a parent waits for its children to succeed; and who ran a
      // job last, kept after it ends.
      R"sql(
ALTER TABLE jobs ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN waiting_children INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
)sql",
  };
  return steps;
}

static_assert(kPriorityAgingMs == 60'000, "migration 3's index and kClaimOrder spell it out");
// The claim order: priority is a head start of kPriorityAgingMs per point (jobs.hpp).
constexpr const char* kClaimOrder = " ORDER BY (run_at_ms - priority * 60000), seq LIMIT 1";

constexpr const char* kJobColumns =
    "id, kind, video_id, payload, state, attempts, max_attempts, last_error, cancel_requested,"
    " run_at_ms, lease_owner, lease_expires_at_ms, created_at_ms, updated_at_ms,"
    " owner_id, priority, parent_id, waiting_children, claimed_by";
constexpr int kJobColumnCount = 19;

Job read_job(const Stmt& s) {
  Job j;
  j.id = s.text(0);
  j.kind = s.text(1);
  j.video_id = s.text(2);
  j.payload = s.text(3);
  j.state = parse_job_state(s.text(4)).value();
  j.attempts = static_cast<int>(s.int64(5));
  j.max_attempts = static_cast<int>(s.int64(6));
  j.last_error = s.text(7);
  j.cancel_requested = s.int64(8) != 0;
  j.run_at_ms = s.int64(9);
  j.lease_owner = s.text(10);
  j.lease_expires_at_ms = s.int64(11);
  j.created_at_ms = s.int64(12);
  j.updated_at_ms = s.int64(13);
  j.owner_id = s.text(14);
  j.priority = static_cast<int>(s.int64(15));
  j.parent_id = s.text(16);
  j.waiting_children = static_cast<int>(s.int64(17));
  j.claimed_by = s.text(18);
  return j;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  // EPERM means it exists but belongs to someone else: alive.
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

class SqliteJobQueue final : public JobQueue {
 public:
  SqliteJobQueue(std::unique_ptr<Db> db, QueueOptions options, bool shares_catalog)
      : db_(std::move(db)),
        options_(options),
        shares_catalog_(shares_catalog),
        owner_(detail::random_id(16)),
        host_(host_name()),
        pid_(getpid()) {}

  ~SqliteJobQueue() override {
    // Leaving the registry is what marks our leases as orphaned for recover();
    // the jobs themselves are left as they are, exactly as after a crash.
    std::lock_guard lock(db_->mutex());
    if (auto s = db_->prepare("DELETE FROM job_owners WHERE owner = ?"); s.ok()) {
      s->bind(1, owner_);
      (void)s->run();
    }
  }

  Status register_owner() {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO job_owners(owner, host, pid, started_at_ms, heartbeat_ms)"
                             " VALUES(?, ?, ?, ?, ?)"));
    s.bind(1, owner_).bind(2, host_).bind(3, static_cast<int64_t>(pid_)).bind(4, now).bind(5, now);
    return s.run();
  }

  Result<Job> enqueue(const NewJob& in) override { return enqueue_flow(in, {}); }

  Result<Job> enqueue_flow(const NewJob& in, const std::vector<NewJob>& children) override {
    STREAMLET_RETURN_IF_ERROR(check_new_jobs(in, children, options_.retry).status());
    if (in.mark_video_queued && !shares_catalog_)
      return error(ErrorCode::kUnsupported,
                   "this job queue is not in the catalog's database: it cannot mark the video");
    const int64_t now = detail::now_ms();
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    if (in.mark_video_queued) {
      // The catalog's row and the job commit together (the catalog's own set_status, on the
      // same file: status names are catalog::to_string's).
      STREAMLET_ASSIGN_OR_RETURN(
          auto v, db_->prepare("UPDATE videos SET status = 'queued', status_reason = '',"
                               " updated_at_ms = ? WHERE id = ?"));
      v.bind(1, now).bind(2, in.video_id);
      STREAMLET_RETURN_IF_ERROR(v.run());
      if (db_->changes() == 0)
        return error(ErrorCode::kNotFound, "no video '" + in.video_id + "'");
    }
    STREAMLET_ASSIGN_OR_RETURN(std::string id,
                               insert_locked(in, "", static_cast<int>(children.size()), now));
    for (const NewJob& c : children) STREAMLET_RETURN_IF_ERROR(insert_locked(c, id, 0, now).status());
    STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return job;
  }

  Result<Job> get(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    return get_locked(id);
  }

  using JobQueue::list;

  Result<JobPage> list(const JobFilter& filter, std::string_view cursor) override {
    if (filter.limit < 1 || filter.limit > kMaxJobPageSize)
      return error(ErrorCode::kInvalidArgument,
                   "limit must be 1.." + std::to_string(kMaxJobPageSize));
    // The cursor is the seq of the last job handed out: pages continue below it, so jobs
    // added or changed meanwhile never shift a page.
    int64_t below = 0;
    if (!cursor.empty()) {
      auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), below);
      if (ec != std::errc() || end != cursor.data() + cursor.size() || below < 1)
        return error(ErrorCode::kInvalidArgument, "not a job list cursor");
    }
    std::string sql = std::string("SELECT ") + kJobColumns + ", seq FROM jobs WHERE 1";
    if (!filter.video_id.empty()) sql += " AND video_id = ?";
    if (!filter.owner_id.empty()) sql += " AND owner_id = ?";
    if (filter.state) sql += " AND state = ?";
    if (!cursor.empty()) sql += " AND seq < ?";
    sql += " ORDER BY seq DESC LIMIT ?";
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare(sql));
    int i = 1;
    if (!filter.video_id.empty()) s.bind(i++, filter.video_id);
    if (!filter.owner_id.empty()) s.bind(i++, filter.owner_id);
    if (filter.state) s.bind(i++, to_string(*filter.state));
    if (!cursor.empty()) s.bind(i++, below);
    // One more than asked tells whether another page follows.
    s.bind(i, static_cast<int64_t>(filter.limit) + 1);
    JobPage page;
    int64_t last_seq = 0;
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      if (static_cast<int>(page.jobs.size()) == filter.limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.jobs.push_back(read_job(s));
      last_seq = s.int64(kJobColumnCount);
    }
    return page;
  }

  Result<JobCounts> count_by_state() override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
    JobCounts counts;
    while (true) {
      STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      STREAMLET_ASSIGN_OR_RETURN(JobState state, parse_job_state(s.text(0)));
      counts.by_state[static_cast<size_t>(state)] = s.int64(1);
    }
    return counts;
  }

  Result<std::optional<Job>> claim(const std::vector<std::string>& kinds) override {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    // Jobs whose lease ran out (their worker hung or died) become claimable. Only those that
    // go back to the queue: ending one (out of attempts, cancelled) is recover()'s, whose
    // caller tells the job's owner.
    STREAMLET_RETURN_IF_ERROR(reclaim_locked(/*only_expired=*/true, now).status());

    std::string sql =
        "SELECT id FROM jobs WHERE state = 'queued' AND run_at_ms <= ? AND waiting_children = 0";
    if (!kinds.empty()) {
      sql += " AND kind IN (?";
      for (size_t i = 1; i < kinds.size(); ++i) sql += ", ?";
      sql += ")";
    }
    sql += kClaimOrder;
    STREAMLET_ASSIGN_OR_RETURN(auto q, db_->prepare(sql));
    q.bind(1, now);
    for (size_t i = 0; i < kinds.size(); ++i) q.bind(static_cast<int>(i) + 2, kinds[i]);
    STREAMLET_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) {
      STREAMLET_RETURN_IF_ERROR(txn.commit());
      return std::optional<Job>();
    }
    const std::string id = q.text(0);
    STREAMLET_ASSIGN_OR_RETURN(
        auto up, db_->prepare("UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                              " lease_owner = ?, lease_expires_at_ms = ?, cancel_requested = 0,"
                              " updated_at_ms = ?, claimed_by = ? WHERE id = ?"));
    up.bind(1, owner_).bind(2, now + options_.lease.count()).bind(3, now).bind(4, owner_).bind(5, id);
    STREAMLET_RETURN_IF_ERROR(up.run());
    STREAMLET_RETURN_IF_ERROR(heartbeat_locked(now));
    STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return std::optional<Job>(std::move(job));
  }

  Result<Job> renew_lease(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(auto s,
                               db_->prepare("UPDATE jobs SET lease_expires_at_ms = ? WHERE id = ?"
                                            " AND state = 'running' AND lease_owner = ?"));
    s.bind(1, now + options_.lease.count()).bind(2, id).bind(3, owner_);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return lease_lost(id);
    STREAMLET_RETURN_IF_ERROR(heartbeat_locked(now));
    return get_locked(id);
  }

  Status complete(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE jobs SET state = 'succeeded', lease_owner = '',"
                             " lease_expires_at_ms = 0, updated_at_ms = ? WHERE id = ?"
                             " AND state = 'running' AND lease_owner = ?"));
    s.bind(1, now).bind(2, id).bind(3, owner_);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return lease_lost(id).status();
    // A child of a flow: its parent waits for one child less (claimable at none).
    STREAMLET_ASSIGN_OR_RETURN(
        auto p, db_->prepare("UPDATE jobs SET waiting_children = waiting_children - 1,"
                             " updated_at_ms = ? WHERE waiting_children > 0 AND id ="
                             " (SELECT parent_id FROM jobs WHERE id = ?)"));
    p.bind(1, now).bind(2, id);
    STREAMLET_RETURN_IF_ERROR(p.run());
    return txn.commit();
  }

  Result<Job> fail(std::string_view id, std::string_view reason, bool retryable) override {
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(Job job, held_locked(id));
    const int64_t now = detail::now_ms();
    std::string state;
    int64_t run_at = job.run_at_ms;
    if (job.cancel_requested) {
      state = "cancelled";
    } else if (retryable && job.attempts < job.max_attempts) {
      state = "queued";
      run_at = now + retry_delay(options_.retry, job.attempts).count();
    } else {
      state = "failed";
    }
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE jobs SET state = ?, last_error = ?, run_at_ms = ?,"
                             " lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?"
                             " WHERE id = ?"));
    s.bind(1, state).bind(2, reason).bind(3, run_at).bind(4, now).bind(5, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    STREAMLET_ASSIGN_OR_RETURN(Job after, get_locked(id));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return after;
  }

  Result<Job> acknowledge_cancel(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE jobs SET state = 'cancelled', lease_owner = '',"
                             " lease_expires_at_ms = 0, updated_at_ms = ? WHERE id = ?"
                             " AND state = 'running' AND lease_owner = ?"));
    s.bind(1, detail::now_ms()).bind(2, id).bind(3, owner_);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return lease_lost(id);
    return get_locked(id);
  }

  Status release(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    // A cancel that arrived meanwhile still wins: the job ends cancelled.
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled'"
                             " ELSE 'queued' END, attempts = MAX(attempts - 1, 0), run_at_ms = ?,"
                             " lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?"
                             " WHERE id = ? AND state = 'running' AND lease_owner = ?"));
    s.bind(1, now).bind(2, now).bind(3, id).bind(4, owner_);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) return lease_lost(id).status();
    return Status::Ok();
  }

  Result<Job> cancel(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
    const int64_t now = detail::now_ms();
    std::string sql;
    if (job.state == JobState::kQueued) {
      sql = "UPDATE jobs SET state = 'cancelled', updated_at_ms = ? WHERE id = ?";
    } else if (job.state == JobState::kRunning) {
      sql = "UPDATE jobs SET cancel_requested = 1, updated_at_ms = ? WHERE id = ?";
    } else {
      return error(ErrorCode::kConflict,
                   "job " + job.id + " is already " + std::string(to_string(job.state)));
    }
    STREAMLET_ASSIGN_OR_RETURN(auto s, db_->prepare(sql));
    s.bind(1, now).bind(2, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    STREAMLET_ASSIGN_OR_RETURN(Job after, get_locked(id));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return after;
  }

  Result<Job> retry(std::string_view id) override {
    std::lock_guard lock(db_->mutex());
    const int64_t now = detail::now_ms();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE jobs SET state = 'queued', attempts = 0, cancel_requested = 0,"
                             " run_at_ms = ?, updated_at_ms = ? WHERE id = ?"
                             " AND state IN ('failed', 'cancelled')"));
    s.bind(1, now).bind(2, now).bind(3, id);
    STREAMLET_RETURN_IF_ERROR(s.run());
    if (db_->changes() == 0) {
      STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
      return error(ErrorCode::kConflict, "job " + job.id + " is " +
                                             std::string(to_string(job.state)) +
                                             ", only failed or cancelled jobs can be retried");
    }
    return get_locked(id);
  }

  Result<std::vector<Job>> recover() override {
    std::lock_guard lock(db_->mutex());
    Transaction txn(*db_);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    STREAMLET_ASSIGN_OR_RETURN(auto moved,
                               reclaim_locked(/*only_expired=*/false, detail::now_ms()));
    STREAMLET_RETURN_IF_ERROR(txn.commit());
    return moved;
  }

  const std::string& owner() const override { return owner_; }
  std::chrono::milliseconds lease_duration() const override { return options_.lease; }
  bool shares_catalog() const override { return shares_catalog_; }

 private:

  Result<std::string> insert_locked(const NewJob& in, const std::string& parent_id,
                                    int waiting_children, int64_t now) {
    const std::string id = detail::random_id();
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("INSERT INTO jobs(id, kind, video_id, payload, state, max_attempts,"
                             " run_at_ms, created_at_ms, updated_at_ms, owner_id, priority,"
                             " parent_id, waiting_children)"
                             " VALUES(?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)"));
    s.bind(1, id).bind(2, in.kind).bind(3, in.video_id).bind(4, in.payload);
    s.bind(5, static_cast<int64_t>(in.max_attempts.value_or(options_.retry.max_attempts)));
    s.bind(6, now).bind(7, now).bind(8, now).bind(9, in.owner_id);
    s.bind(10, static_cast<int64_t>(in.priority)).bind(11, parent_id);
    s.bind(12, static_cast<int64_t>(waiting_children));
    STREAMLET_RETURN_IF_ERROR(s.run());
    return id;
  }

  Result<Job> get_locked(std::string_view id) {
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?"));
    s.bind(1, id);
    STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return error(ErrorCode::kNotFound, "no job '" + std::string(id) + "'");
    return read_job(s);
  }

  // The job, if this instance holds its lease.
  Result<Job> held_locked(std::string_view id) {
    STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
    if (job.state != JobState::kRunning || job.lease_owner != owner_) return lease_lost(id);
    return job;
  }

  Result<Job> lease_lost(std::string_view id) {
    STREAMLET_ASSIGN_OR_RETURN(Job job, get_locked(id));
    return error(ErrorCode::kConflict, "job " + job.id + " is not running under this worker (" +
                                           std::string(to_string(job.state)) + ")");
  }

  Status heartbeat_locked(int64_t now) {
    STREAMLET_ASSIGN_OR_RETURN(
        auto s, db_->prepare("UPDATE job_owners SET heartbeat_ms = ? WHERE owner = ?"));
    s.bind(1, now).bind(2, owner_);
    return s.run();
  }

  // Moves orphaned running jobs back to queued, or (unless only_expired) to failed when their
  // attempts are used up, or cancelled if that was asked. Returns them as they are now.
  // Caller holds a transaction.
  Result<std::vector<Job>> reclaim_locked(bool only_expired, int64_t now) {
    std::vector<Job> orphans;
    {
      STREAMLET_ASSIGN_OR_RETURN(
          auto s, db_->prepare(std::string("SELECT ") + kJobColumns +
                               ", o.owner IS NOT NULL, o.host, o.pid FROM jobs"
                               " LEFT JOIN job_owners o ON o.owner = jobs.lease_owner"
                               " WHERE jobs.state = 'running' AND jobs.lease_owner != ?"));
      s.bind(1, owner_);
      while (true) {
        STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
        if (!row) break;
        Job job = read_job(s);
        constexpr int c = kJobColumnCount;
        const bool registered = s.int64(c) != 0;
        const bool expired = job.lease_expires_at_ms < now;
        // Same machine, another process that no longer exists: it crashed.
        const bool dead_process = registered && s.text(c + 1) == host_ && s.int64(c + 2) != pid_ &&
                                  !process_alive(s.int64(c + 2));
        const bool ends = job.cancel_requested || job.attempts >= job.max_attempts;
        if (only_expired ? expired && !ends : expired || !registered || dead_process)
          orphans.push_back(std::move(job));
      }
    }
    if (!only_expired) {
      // Forget owners whose process is gone so the registry does not grow forever.
      STREAMLET_ASSIGN_OR_RETURN(
          auto s, db_->prepare("SELECT owner, pid FROM job_owners WHERE host = ? AND pid != ?"));
      s.bind(1, host_).bind(2, static_cast<int64_t>(pid_));
      std::vector<std::string> dead;
      while (true) {
        STREAMLET_ASSIGN_OR_RETURN(bool row, s.step());
        if (!row) break;
        if (!process_alive(s.int64(1))) dead.push_back(s.text(0));
      }
      for (const auto& owner : dead) {
        STREAMLET_ASSIGN_OR_RETURN(auto d, db_->prepare("DELETE FROM job_owners WHERE owner = ?"));
        d.bind(1, owner);
        STREAMLET_RETURN_IF_ERROR(d.run());
      }
    }
    std::vector<Job> moved;
    for (const Job& job : orphans) {
      std::string state = "queued";
      // Said to the video's owner: what happened, and what happens next.
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
      STREAMLET_ASSIGN_OR_RETURN(
          auto s, db_->prepare("UPDATE jobs SET state = ?, last_error = ?, run_at_ms = ?,"
                               " lease_owner = '', lease_expires_at_ms = 0, updated_at_ms = ?"
                               " WHERE id = ?"));
      s.bind(1, state).bind(2, reason).bind(3, now).bind(4, now).bind(5, job.id);
      STREAMLET_RETURN_IF_ERROR(s.run());
      STREAMLET_ASSIGN_OR_RETURN(Job after, get_locked(job.id));
      moved.push_back(std::move(after));
    }
    return moved;
  }

  std::unique_ptr<Db> db_;
  QueueOptions options_;
  bool shares_catalog_;  // the file holds the catalog's videos table
  std::string owner_;
  std::string host_;
  pid_t pid_;
};

// The jobs schema version of the file before migrate() (0 for a new file).
int64_t jobs_schema_version(Db& db) {
  auto q = db.prepare("SELECT version FROM schema_version WHERE component = 'jobs'");
  if (!q.ok()) return 0;  // no schema_version table yet
  auto row = q->step();
  return row.ok() && *row ? q->int64(0) : 0;
}

// Jobs queued before owners were stored (schema 1) take their video's owner, when the
// catalog shares the file. Run once, right after the upgrade to schema 2.
Status backfill_owners(Db& db) {
  bool has_videos = false;
  {
    STREAMLET_ASSIGN_OR_RETURN(
        auto q, db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'videos'"));
    STREAMLET_ASSIGN_OR_RETURN(has_videos, q.step());
  }
  if (!has_videos) return Status::Ok();
  return db.exec(
      "UPDATE jobs SET owner_id = (SELECT v.owner_id FROM videos v WHERE v.id = jobs.video_id)"
      " WHERE owner_id = '' AND video_id != ''"
      " AND EXISTS (SELECT 1 FROM videos v WHERE v.id = jobs.video_id)");
}

}  // namespace

int64_t JobCounts::total() const {
  int64_t n = 0;
  for (int64_t c : by_state) n += c;
  return n;
}

Result<std::vector<Job>> JobQueue::list(std::optional<JobState> state, int limit) {
  JobFilter filter;
  filter.state = state;
  filter.limit = limit;
  STREAMLET_ASSIGN_OR_RETURN(JobPage page, list(filter, {}));
  return std::move(page.jobs);
}

Result<std::unique_ptr<JobQueue>> open_sqlite_job_queue(const std::string& path,
                                                        const QueueOptions& options) {
  if (options.lease.count() <= 0 || options.retry.max_attempts < 1 ||
      options.retry.base_backoff.count() < 0 || options.retry.max_backoff.count() < 0)
    return error(ErrorCode::kInvalidArgument,
                 "job queue: lease must be > 0, max_attempts >= 1, backoffs >= 0");
  STREAMLET_ASSIGN_OR_RETURN(auto db, detail::sql::Db::open(path));
  const int64_t before = jobs_schema_version(*db);
  STREAMLET_RETURN_IF_ERROR(db->migrate("jobs", migrations()));
  if (before == 1) STREAMLET_RETURN_IF_ERROR(backfill_owners(*db));
  bool has_videos = false;
  {
    STREAMLET_ASSIGN_OR_RETURN(
        auto q, db->prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'videos'"));
    STREAMLET_ASSIGN_OR_RETURN(has_videos, q.step());
  }
  auto queue = std::make_unique<SqliteJobQueue>(std::move(db), options, has_videos);
  STREAMLET_RETURN_IF_ERROR(queue->register_owner());
  return std::unique_ptr<JobQueue>(std::move(queue));
}

}  // namespace streamlet::jobs
