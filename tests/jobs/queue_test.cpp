// The queue's contract, run against every JobQueue backend (queue_backend.hpp).
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "jobs/queue_backend.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "support/support.hpp"

namespace sj = streamlet::jobs;
using namespace std::chrono_literals;
using streamlet::ErrorCode;
using streamlet::Status;
using QueueDir = streamlet::test::QueueStore;

namespace {

// Polls `done` until it holds or a generous deadline passes; returns whether it held.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

sj::QueueOptions fast_retries() {
  sj::QueueOptions o;
  o.retry.max_attempts = 3;
  o.retry.base_backoff = 50ms;
  o.retry.max_backoff = 200ms;
  return o;
}

std::shared_ptr<sj::JobQueue> open_queue(const QueueDir& dir, sj::QueueOptions o = {}) {
  return dir.open(o);
}

sj::NewJob new_job(std::string kind, std::string video_id, std::string payload) {
  sj::NewJob j;
  j.kind = std::move(kind);
  j.video_id = std::move(video_id);
  j.payload = std::move(payload);
  return j;
}

sj::JobState state_of(sj::JobQueue& q, const std::string& id) {
  auto j = q.get(id);
  REQUIRE(j.ok());
  return j->state;
}

}  // namespace

TEST_CASE("jobs: enqueue, claim, complete") {
  QueueDir dir;
  auto q = open_queue(dir);
  auto job = q->enqueue(new_job("transcode", "vid1", R"({"input":"/tmp/a.mp4"})"));
  REQUIRE(job.ok());
  CHECK(job->state == sj::JobState::kQueued);
  CHECK(job->max_attempts == 3);

  auto claimed = q->claim();
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  const sj::Job& j = **claimed;
  CHECK(j.id == job->id);
  CHECK(j.state == sj::JobState::kRunning);
  CHECK(j.attempts == 1);
  CHECK(j.lease_owner == q->owner());
  CHECK(j.payload == R"({"input":"/tmp/a.mp4"})");

  auto none = q->claim();  // nothing else is due
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  REQUIRE(q->complete(j.id).ok());
  CHECK(state_of(*q, j.id) == sj::JobState::kSucceeded);
  CHECK(q->complete(j.id).code() == ErrorCode::kConflict);  // finishing twice is refused

  CHECK(q->enqueue(new_job("transcode", "v", "not json")).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(q->get("missing").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("jobs: claim takes only the requested kinds, oldest first") {
  QueueDir dir;
  auto q = open_queue(dir);
  auto a = q->enqueue(new_job("thumbnail", "v1", "{}"));
  auto b = q->enqueue(new_job("transcode", "v2", "{}"));
  auto c = q->enqueue(new_job("transcode", "v3", "{}"));
  REQUIRE((a.ok() && b.ok() && c.ok()));
  auto first = q->claim({"transcode"});
  REQUIRE((first.ok() && first->has_value()));
  CHECK((*first)->id == b->id);
  auto second = q->claim({"transcode"});
  REQUIRE((second.ok() && second->has_value()));
  CHECK((*second)->id == c->id);
  CHECK_FALSE(q->claim({"transcode"})->has_value());
}

TEST_CASE("jobs: failures back off, dead-letter with the reason, and retry from there") {
  QueueDir dir;
  auto q = open_queue(dir, fast_retries());
  auto job = q->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());

  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::optional<sj::Job> claimed;
    // The retry is not due at once: the backoff holds it for a while.
    REQUIRE(eventually([&] {
      auto c = q->claim();
      if (c.ok() && c->has_value()) claimed = **c;
      return claimed.has_value();
    }));
    CHECK(claimed->attempts == attempt);
    auto after = q->fail(claimed->id, "encoder exploded #" + std::to_string(attempt));
    REQUIRE(after.ok());
    if (attempt < 3) {
      CHECK(after->state == sj::JobState::kQueued);
      CHECK(after->run_at_ms > after->updated_at_ms);  // scheduled in the future
    } else {
      CHECK(after->state == sj::JobState::kFailed);
    }
    CHECK(after->last_error == "encoder exploded #" + std::to_string(attempt));
  }

  // Dead: never claimed again, listed for the admin with its reason.
  std::this_thread::sleep_for(300ms);  // longer than any backoff, so "not due" is not the reason
  CHECK_FALSE(q->claim()->has_value());
  auto dead = q->list(sj::JobState::kFailed);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK((*dead)[0].id == job->id);
  CHECK((*dead)[0].last_error == "encoder exploded #3");

  auto retried = q->retry(job->id);
  REQUIRE(retried.ok());
  CHECK(retried->state == sj::JobState::kQueued);
  CHECK(retried->attempts == 0);
  auto again = q->claim();
  REQUIRE((again.ok() && again->has_value()));
  REQUIRE(q->complete(job->id).ok());
  CHECK(state_of(*q, job->id) == sj::JobState::kSucceeded);
  CHECK(q->retry(job->id).status().code() == ErrorCode::kConflict);  // only dead jobs
}

TEST_CASE("jobs: a non-retryable failure is dead at once") {
  QueueDir dir;
  auto q = open_queue(dir, fast_retries());
  auto job = q->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());
  REQUIRE(q->claim()->has_value());
  auto after = q->fail(job->id, "not a video", /*retryable=*/false);
  REQUIRE(after.ok());
  CHECK(after->state == sj::JobState::kFailed);
  CHECK(after->attempts == 1);
  CHECK_FALSE(sj::is_retryable(streamlet::error(ErrorCode::kInvalidMedia, "x")));
  CHECK(sj::is_retryable(streamlet::error(ErrorCode::kIo, "x")));
}

TEST_CASE("jobs: cancel a queued job") {
  QueueDir dir;
  auto q = open_queue(dir);
  auto job = q->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());
  auto c = q->cancel(job->id);
  REQUIRE(c.ok());
  CHECK(c->state == sj::JobState::kCancelled);
  CHECK_FALSE(q->claim()->has_value());
  CHECK(q->cancel(job->id).status().code() == ErrorCode::kConflict);
}

TEST_CASE("jobs: cancelling a running job reaches the handler through its token") {
  QueueDir dir;
  auto q = open_queue(dir);
  std::atomic<bool> started{false}, saw_cancel{false};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const streamlet::CancelToken& token,
                    const sj::ProgressFn&) {
    started = true;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!token.cancelled() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    saw_cancel = token.cancelled();
    return token.cancelled() ? streamlet::error(ErrorCode::kCancelled, "stopped") : Status::Ok();
  };
  sj::WorkerPoolOptions opts;
  opts.poll_interval = 20ms;
  sj::WorkerPool pool(q, handler, opts);
  REQUIRE(pool.start().ok());
  auto job = q->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());
  pool.wake();
  REQUIRE(eventually([&] { return started.load(); }));

  auto c = q->cancel(job->id);
  REQUIRE(c.ok());
  CHECK(c->state == sj::JobState::kRunning);
  CHECK(c->cancel_requested);
  REQUIRE(eventually([&] { return state_of(*q, job->id) == sj::JobState::kCancelled; }));
  CHECK(saw_cancel.load());
  pool.stop();
}

TEST_CASE("jobs: a job left running by a vanished worker runs again after recover()") {
  QueueDir dir;
  std::string id;
  {
    auto a = open_queue(dir);
    auto job = a->enqueue(new_job("transcode", "vid", "{}"));
    REQUIRE(job.ok());
    id = job->id;
    auto claimed = a->claim();
    REQUIRE((claimed.ok() && claimed->has_value()));
    // Queue A goes away without completing or releasing: as if its process had died.
  }
  auto b = open_queue(dir);
  auto before = b->get(id);
  REQUIRE(before.ok());
  CHECK(before->state == sj::JobState::kRunning);  // still marked running, lease not expired
  CHECK_FALSE(b->claim()->has_value());

  auto moved = b->recover();
  REQUIRE(moved.ok());
  REQUIRE(moved->size() == 1);
  CHECK(moved->front().id == id);
  CHECK(moved->front().state == sj::JobState::kQueued);  // as stored now
  CHECK(state_of(*b, id) == sj::JobState::kQueued);

  std::atomic<int> runs{0};
  sj::WorkerPoolOptions opts;
  opts.poll_interval = 20ms;
  sj::JobHandler count_runs;
  count_runs.run = [&](const sj::Job&, const auto&, const auto&) {
    ++runs;
    return Status::Ok();
  };
  sj::WorkerPool pool(b, count_runs, opts);
  REQUIRE(pool.start().ok());
  REQUIRE(eventually([&] { return state_of(*b, id) == sj::JobState::kSucceeded; }));
  pool.stop();
  CHECK(runs == 1);
  auto done = b->get(id);
  CHECK(done->attempts == 2);  // the lost attempt counts, so a job that kills workers ends dead
}

TEST_CASE("jobs: a live owner's running job is not stolen, an expired lease is") {
  QueueDir dir;
  sj::QueueOptions short_lease;
  short_lease.lease = 200ms;
  auto a = open_queue(dir, short_lease);
  auto b = open_queue(dir, short_lease);
  auto job = a->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());
  REQUIRE(a->claim()->has_value());
  REQUIRE(b->recover().ok());
  CHECK(state_of(*b, job->id) == sj::JobState::kRunning);  // A is alive and within its lease

  // A stops renewing (hung worker): after the lease, B can take the job over.
  std::optional<sj::Job> taken;
  REQUIRE(eventually([&] {
    auto c = b->claim();
    if (c.ok() && c->has_value()) taken = **c;
    return taken.has_value();
  }));
  CHECK(taken->id == job->id);
  CHECK(taken->lease_owner == b->owner());
  CHECK(a->complete(job->id).code() == ErrorCode::kConflict);  // A lost its lease
  CHECK(b->complete(job->id).ok());
}

TEST_CASE("jobs: a worker pool with two workers runs ten jobs exactly once each") {
  QueueDir dir;
  auto q = open_queue(dir);
  std::mutex mu;
  std::map<std::string, int> runs;
  std::atomic<int> concurrent{0}, max_concurrent{0};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job& job, const auto&, const sj::ProgressFn& progress) {
    int now = ++concurrent;
    int prev = max_concurrent.load();
    while (now > prev && !max_concurrent.compare_exchange_weak(prev, now)) {
    }
    progress(0.5, 10, 2.0);
    std::this_thread::sleep_for(20ms);
    {
      std::lock_guard lock(mu);
      ++runs[job.id];
    }
    --concurrent;
    return Status::Ok();
  };
  auto bus = std::make_shared<streamlet::events::InProcessBus>();
  auto sub = bus->subscribe("", 1000);
  sj::WorkerPoolOptions opts;
  opts.workers = 2;
  opts.poll_interval = 20ms;
  sj::WorkerPool pool(q, handler, opts, bus);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto j = q->enqueue(new_job("transcode", "v" + std::to_string(i), "{}"));
    REQUIRE(j.ok());
    ids.push_back(j->id);
  }
  REQUIRE(pool.start().ok());
  REQUIRE(eventually([&] {
    auto done = q->list(sj::JobState::kSucceeded);
    return done.ok() && done->size() == 10;
  }));
  pool.stop();
  std::lock_guard lock(mu);
  CHECK(runs.size() == 10);
  for (const auto& id : ids) CHECK(runs[id] == 1);
  CHECK(max_concurrent.load() <= 2);

  int running = 0, succeeded = 0, progress = 0;
  while (auto e = sub.next(0ms)) {
    if (e->type == "job" && e->state == "running") ++running;
    if (e->type == "job" && e->state == "succeeded") ++succeeded;
    if (e->type == "progress" && e->percent == doctest::Approx(50)) ++progress;
  }
  CHECK(running == 10);
  CHECK(succeeded == 10);
  CHECK(progress == 10);
}

TEST_CASE("jobs: stop(requeue) gives running jobs back without spending an attempt") {
  QueueDir dir;
  auto q = open_queue(dir);
  std::atomic<bool> started{false};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const streamlet::CancelToken& token,
                    const sj::ProgressFn&) {
    started = true;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!token.cancelled() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    return streamlet::error(ErrorCode::kCancelled, "stopped");
  };
  sj::WorkerPoolOptions opts;
  opts.poll_interval = 20ms;
  auto job = q->enqueue(new_job("transcode", "vid", "{}"));
  REQUIRE(job.ok());
  {
    sj::WorkerPool pool(q, handler, opts);
    REQUIRE(pool.start().ok());
    REQUIRE(eventually([&] { return started.load(); }));
    pool.stop(/*requeue_running=*/true);
  }
  auto after = q->get(job->id);
  REQUIRE(after.ok());
  CHECK(after->state == sj::JobState::kQueued);
  CHECK(after->attempts == 0);
}

TEST_CASE("jobs: a job marked to queue its video is stored with the video's status, or not at all") {
  QueueDir dir;
  namespace sc = streamlet::catalog;
  std::shared_ptr<sc::Catalog> cat;
  if (dir.postgres()) {
    auto c = streamlet::postgres::open_catalog(dir.url());
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    cat = *c;
  } else {
    auto c = sc::open_sqlite_catalog((dir / "streamlet.db").string());
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    cat = std::move(c).value();
  }
  sc::NewUser u;
  u.username = "dora";
  u.password_hash = "x";
  auto user = cat->create_user(u);
  REQUIRE(user.ok());
  sc::NewVideo v;
  v.owner_id = user->id;
  auto video = cat->create_video(v);
  REQUIRE(video.ok());
  auto q = open_queue(dir);
  REQUIRE(q->shares_catalog());

  sj::NewJob job = new_job("transcode", video->id, "{}");
  job.mark_video_queued = true;
  auto queued = q->enqueue(job);
  REQUIRE_MESSAGE(queued.ok(), queued.status().to_string());
  CHECK(cat->get_video(video->id)->status == sc::VideoStatus::kQueued);
  CHECK(state_of(*q, queued->id) == sj::JobState::kQueued);

  // A video deleted before its upload finished: no job, and nothing else changed.
  job.video_id = "gone";
  auto refused = q->enqueue(job);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kNotFound);
  sj::JobFilter f;
  f.video_id = "gone";
  CHECK(q->list(f)->jobs.empty());
  CHECK(q->count_by_state()->total() == 1);
}

TEST_CASE("jobs: a queue outside the catalog's database refuses to mark a video") {
  QueueDir dir;
  auto q = open_queue(dir);
  CHECK_FALSE(q->shares_catalog());
  sj::NewJob job = new_job("transcode", "v", "{}");
  job.mark_video_queued = true;
  CHECK(q->enqueue(job).status().code() == ErrorCode::kUnsupported);
  CHECK(q->count_by_state()->total() == 0);
}

TEST_CASE("jobs: higher priority goes first among jobs due together, oldest first among equals") {
  QueueDir dir;
  auto q = open_queue(dir);
  auto add = [&](int priority) {
    sj::NewJob j = new_job("transcode", "v", "{}");
    j.priority = priority;
    auto job = q->enqueue(j);
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
    auto c = q->claim();
    REQUIRE(c.ok());
    if (!c->has_value()) break;
    order.push_back((*c)->id);
  }
  CHECK(order == std::vector<std::string>{high, mid, low_old, low_new, neg});
}

TEST_CASE("jobs: a flow's parent is claimed only once every child succeeded, whoever ran them") {
  QueueDir dir;
  sj::QueueOptions quick;  // a retry is due at once
  quick.retry.base_backoff = std::chrono::milliseconds(1);
  auto a = open_queue(dir, quick), b = open_queue(dir, quick);  // two instances: two workers
  sj::NewJob join = new_job("join", "vid1", "{}");
  std::vector<sj::NewJob> parts = {new_job("part", "vid1", R"({"part":0})"),
                                   new_job("part", "vid1", R"({"part":1})")};
  auto parent = a->enqueue_flow(join, parts);
  REQUIRE(parent.ok());
  CHECK(parent->waiting_children == 2);
  // Children go first, to any instance; the parent waits while one is left.
  auto first = a->claim();
  REQUIRE((first.ok() && first->has_value()));
  CHECK((**first).kind == "part");
  CHECK((**first).parent_id == parent->id);
  CHECK((**first).claimed_by == a->owner());
  auto second = b->claim();
  REQUIRE((second.ok() && second->has_value()));
  CHECK((**second).kind == "part");
  CHECK((**second).claimed_by == b->owner());
  REQUIRE(a->complete((**first).id).ok());
  auto early = a->claim();
  REQUIRE(early.ok());
  CHECK_FALSE(early->has_value());  // one child still running
  // A failed child is retried alone; the parent still waits.
  auto failed = b->fail((**second).id, "killed", true);
  REQUIRE(failed.ok());
  CHECK(failed->state == sj::JobState::kQueued);
  CHECK(a->get(parent->id)->waiting_children == 1);
  REQUIRE(b->retry((**second).id).status().code() == ErrorCode::kConflict);  // queued, not failed
  // Due again after its backoff (1 ms), taken by either instance.
  std::optional<sj::Job> again;
  for (int i = 0; i < 100 && !again; ++i) {
    auto r = b->claim();
    REQUIRE(r.ok());
    if (r->has_value()) again = **r;
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(again);
  CHECK(again->id == (**second).id);
  CHECK(again->attempts == 2);
  REQUIRE(b->complete(again->id).ok());
  auto last = a->claim();
  REQUIRE((last.ok() && last->has_value()));
  CHECK((**last).id == parent->id);
  CHECK((**last).waiting_children == 0);
  // Only a flow's parent may mark its video.
  sj::NewJob marking = new_job("part", "vid2", "{}");
  marking.mark_video_queued = true;
  CHECK(a->enqueue_flow(new_job("join", "vid2", "{}"), {marking}).status().code() ==
        ErrorCode::kInvalidArgument);
}
