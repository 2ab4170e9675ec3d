// A durable job queue and the worker pool that drains it.
//
// A finished upload becomes a job; workers claim jobs under a lease, run them,
// and complete or fail them. Failures are retried with exponential backoff up
// to a limit, then the job stays failed with its reason (the dead letter an
// admin lists and retries). A job that was running when its process died is
// claimed again after recover() (or once its lease expires).
//
// `JobQueue` is an interface so a networked queue can replace the embedded
// default, `open_sqlite_job_queue()`.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/cancel.hpp"
#include "streamlet/events.hpp"
#include "streamlet/status.hpp"

namespace streamlet::jobs {

// queued -> running -> succeeded
//                   -> queued (retry after backoff) ... -> failed (dead letter)
//                   -> cancelled
// failed / cancelled -> queued again through retry().
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view to_string(JobState s);  // "queued", "running", ...
Result<JobState> parse_job_state(std::string_view s);

// Times are Unix epoch milliseconds.
struct Job {
  std::string id;              // 12 random URL-safe characters
  std::string kind;            // what to do, e.g. "transcode"
  std::string video_id;        // the video it is about; ""
  std::string owner_id;        // the user the job is for (its video's owner); ""
  std::string payload = "{}";  // JSON object for the handler
  int priority = 0;            // higher is claimed first among due jobs
  JobState state = JobState::kQueued;
  int attempts = 0;               // claims so far (a claim counts when it starts)
  int max_attempts = 3;           // after this many failed attempts it is dead-lettered
  std::string last_error;         // reason of the last failure; ""
  bool cancel_requested = false;  // cancel() was called while it was running
  int64_t run_at_ms = 0;          // not claimed before this time (backoff)
  std::string lease_owner;        // queue instance that holds it while running; ""
  int64_t lease_expires_at_ms = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  // Flows (enqueue_flow): the parent of a child; a parent's children not yet succeeded (it is
  // not claimed before none is left: BullMQ's "waiting-children").
  std::string parent_id;
  int waiting_children = 0;
  std::string claimed_by;  // the queue instance (lease owner) that claimed it last; kept
};

struct NewJob {
  std::string kind = "transcode";
  std::string video_id;             // ""
  std::string owner_id;             // ""; what JobFilter::owner_id matches
  std::string payload = "{}";       // must be a JSON object
  std::optional<int> max_attempts;  // the queue's RetryPolicy when unset
  int priority = 0;                 // head start in minutes among due jobs (see claim()); any int
  // Sets the catalog's row of `video_id` to queued (reason "") in the same transaction as the
  // job's insert, so a crash never leaves a queued video without its job or the reverse. Only
  // for a queue that shares_catalog() (kUnsupported otherwise); kNotFound, and no job stored,
  // when the video does not exist (deleted meanwhile).
  bool mark_video_queued = false;
};

// A job's priority is a head start: a job of priority p is claimed as if it had been due
// p * kPriorityAgingMs earlier. Among due jobs the one with the smallest
// run_at_ms - priority * kPriorityAgingMs goes first (oldest enqueued among equals), so
// urgent work overtakes, but a job that has waited longer than the difference in priority
// (times a minute) goes ahead of newer urgent ones: nothing starves.
inline constexpr int64_t kPriorityAgingMs = 60'000;

// The most jobs one list() page holds.
inline constexpr int kMaxJobPageSize = 1000;

// Which jobs list() returns. Unset fields match every job.
struct JobFilter {
  std::string video_id;           // "" = any video
  std::string owner_id;           // "" = any owner
  std::optional<JobState> state;  // nullopt = any state
  int limit = 100;                // page size, 1..kMaxJobPageSize (else kInvalidArgument)
};

// One page of list(), newest first. Pass next_cursor back to get the page after it;
// "" means there is none. A cursor is opaque and stays valid while jobs change: the next
// page starts right after the last job handed out, so no job is listed twice and none
// that still matches is skipped, whatever was enqueued meanwhile.
struct JobPage {
  std::vector<Job> jobs;
  std::string next_cursor;
};

// How many jobs are in each state, indexed by JobState.
struct JobCounts {
  std::array<int64_t, 5> by_state{};
  int64_t of(JobState s) const { return by_state[static_cast<size_t>(s)]; }
  int64_t total() const;
};

struct RetryPolicy {
  int max_attempts = 3;
  // Delay before attempt n+1 is base * 2^(n-1), capped.
  std::chrono::milliseconds base_backoff{10'000};
  std::chrono::milliseconds max_backoff{600'000};
};

struct QueueOptions {
  RetryPolicy retry;
  // How long a claim stays valid without renew_lease(); a worker that dies
  // silently loses its jobs to others after this long at the latest.
  std::chrono::milliseconds lease{60'000};
};

// The priority a transcode of a `source_bytes` long upload gets: short videos first, as a
// head start of up to 10 minutes (10 for 16 MiB or less, one less per doubling, 0 from 16 GiB).
int transcode_priority(uint64_t source_bytes);

// Whether a failure is worth another attempt: bad input (kInvalidMedia,
// kInvalidArgument, kUnsupported, kNotFound, kPermissionDenied) is not.
bool is_retryable(const Status& failure);

// The delay before the attempt that follows `attempts` tries (RetryPolicy's rule).
std::chrono::milliseconds retry_delay(const RetryPolicy& retry, int attempts);

// What every queue checks of a new job or flow (enqueue, enqueue_flow): a kind, a JSON object
// payload, max_attempts >= 1, mark_video_queued only with a video and only on a flow's
// parent (kInvalidArgument otherwise). Returns the max_attempts of `parent`, then of each
// child: `retry`'s where a job leaves it unset.
Result<std::vector<int>> check_new_jobs(const NewJob& parent, const std::vector<NewJob>& children,
                                        const RetryPolicy& retry);

// The queue store. Implementations are thread safe. Each instance is one
// lease owner: jobs it claims are tied to it until completed, failed,
// released or recovered by another instance after this one is gone.
class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Returns the new job, due now.
  virtual Result<Job> enqueue(const NewJob& job) = 0;
  // A flow, as one transaction: `parent` and its `children`, all due now, but the parent is
  // claimed only once every child has succeeded (complete()); a child that is dead-lettered
  // or cancelled leaves it waiting until it is cancelled. Only the parent may
  // mark_video_queued. Returns the parent. The base: kUnsupported (no flows in this queue).
  virtual Result<Job> enqueue_flow(const NewJob& parent, const std::vector<NewJob>& children) {
    (void)parent;
    (void)children;
    return Status(ErrorCode::kUnsupported, "this job queue has no flows");
  }
  virtual Result<Job> get(std::string_view id) = 0;
  // The jobs matching `filter`, newest first, one page at a time from `cursor` ("" = the
  // newest). kInvalidArgument for a limit outside 1..kMaxJobPageSize (never lowered
  // silently) or a malformed cursor. Page through to the end to see every job.
  virtual Result<JobPage> list(const JobFilter& filter, std::string_view cursor = {}) = 0;
  // The first page only (the newest `limit` jobs in `state`, or in any state).
  Result<std::vector<Job>> list(std::optional<JobState> state = std::nullopt, int limit = 100);
  // Every job's state counted, in one query whatever the queue holds.
  virtual Result<JobCounts> count_by_state() = 0;

  // Takes the due queued job (of one of `kinds`, or any when empty) that goes first by the
  // priority rule above (kPriorityAgingMs), marks it running under this instance's lease and
  // counts the attempt. nullopt when nothing is due.
  virtual Result<std::optional<Job>> claim(const std::vector<std::string>& kinds = {}) = 0;
  // Extends the lease of a job this instance runs; returns the job, whose
  // cancel_requested tells the worker to stop. kConflict if the lease was lost.
  virtual Result<Job> renew_lease(std::string_view id) = 0;
  // Finishing calls require the lease: kConflict if another instance took the job over.
  virtual Status complete(std::string_view id) = 0;
  // Schedules a retry after backoff, or dead-letters the job when attempts are
  // used up or `retryable` is false. Returns the job as it is now.
  virtual Result<Job> fail(std::string_view id, std::string_view reason, bool retryable = true) = 0;
  // A running job that stopped because it was asked to: marks it cancelled.
  virtual Result<Job> acknowledge_cancel(std::string_view id) = 0;
  // Gives a running job back (graceful shutdown): queued, due now, attempt not counted.
  virtual Status release(std::string_view id) = 0;

  // queued -> cancelled at once; running -> cancel_requested (the worker
  // stops and acknowledges). kConflict for a job already finished.
  virtual Result<Job> cancel(std::string_view id) = 0;
  // failed or cancelled -> queued with a fresh attempt budget. kConflict otherwise.
  virtual Result<Job> retry(std::string_view id) = 0;
  // Puts back to queued every running job whose owner is gone (its queue
  // instance closed, its process died, or its lease expired); a job that
  // already used all its attempts this way is dead-lettered instead, so a
  // job that crashes the process cannot loop forever (and one whose cancel was
  // asked ends cancelled). Returns the jobs it moved, as stored now, so the
  // caller can tell their owners (a dead-lettered job's video must not stay
  // "processing"). claim() takes over expired leases itself, but only to
  // queue them again: jobs that end are always ended here.
  virtual Result<std::vector<Job>> recover() = 0;

  // This instance's lease owner id, and how long its claims last unrenewed.
  virtual const std::string& owner() const = 0;
  virtual std::chrono::milliseconds lease_duration() const = 0;

  // Whether the queue lives in the catalog's own database, so enqueue() can honour
  // NewJob::mark_video_queued.
  virtual bool shares_catalog() const { return false; }
  // Asks the queue to call `wake` (from a thread of its own, quickly) whenever a job may have
  // become claimable: enqueued, retried, released or its backoff over, by any instance of any
  // process. Returns false when the queue cannot (its users must poll); an empty function
  // removes it, and once that call returns the old one is not running and never runs again.
  virtual bool set_wake_callback(std::function<void()> wake) {
    (void)wake;
    return false;
  }
};

// The embedded queue in a SQLite file (the catalog's file is fine: the
// tables are separate, and a file that holds the catalog's videos makes the queue
// shares_catalog()). Registers this instance as a live lease owner until
// it is destroyed. Errors: kIo, kInternal.
Result<std::unique_ptr<JobQueue>> open_sqlite_job_queue(const std::string& path,
                                                        const QueueOptions& options = {});

// Reports progress of a running job: fraction 0..1 and frames per second.
using ProgressFn = std::function<void(double fraction, double fps, double speed)>;

// What a WorkerPool runs. `run` does the work; it should return kCancelled
// soon after the token is cancelled. Called on a worker thread, concurrently
// for different jobs. `on_state_change` (optional) is told of every state the
// pool moves a job into, with the job as stored afterwards.
struct JobHandler {
  std::function<Status(const Job&, const CancelToken&, const ProgressFn&)> run;
  std::function<void(const Job&)> on_state_change;
};

struct WorkerPoolOptions {
  int workers = 1;                               // threads running jobs
  std::vector<std::string> kinds;                // job kinds to take; empty = all
  std::chrono::milliseconds poll_interval{250};  // how often idle workers look for due jobs
                                                 // and the monitor checks for cancels
  // With a queue that wakes its workers itself (set_wake_callback), idle workers look only
  // this often: a safety net for a notification lost with a connection.
  std::chrono::milliseconds notified_poll_interval{5'000};
  bool recover_on_start = true;                  // call queue->recover() in start(), and
                                                 // again every lease, telling
                                                 // on_state_change of each job it moves
};

// Runs N threads that claim jobs and call the handler. Publishes "job" and
// "progress" events to `bus` when one is given. Thread safe; stop() is
// idempotent and the destructor calls stop().
class WorkerPool {
 public:
  WorkerPool(std::shared_ptr<JobQueue> queue, JobHandler handler, WorkerPoolOptions options = {},
             std::shared_ptr<events::EventBus> bus = nullptr);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  Status start();
  // Wakes idle workers now (e.g. right after enqueue) instead of at the next poll.
  void wake();
  // requeue_running: cancel running jobs and give them back to the queue
  // (they run again later, attempt not counted). Otherwise wait for them to finish.
  void stop(bool requeue_running = true);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


}  // namespace streamlet::jobs
