// What only the PostgreSQL queue and bus promise: many instances (hosts) at once, wake-ups by
// NOTIFY, a listener that survives its connection, events between processes. Registered with
// the "postgres" fixture only (names "pg jobs:" / "pg events:"); exit 77 without a server.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "core/crypto.hpp"
#include "jobs/queue_backend.hpp"
#include "streamlet/postgres.hpp"

namespace sj = streamlet::jobs;
namespace se = streamlet::events;
using namespace std::chrono_literals;
using streamlet::ErrorCode;
using streamlet::Status;
using streamlet::test::PostgresDatabase;

namespace {

template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

std::shared_ptr<sj::JobQueue> open_pg(const PostgresDatabase& db, sj::QueueOptions o = {}) {
  auto q = streamlet::postgres::open_job_queue(db.url(), {.queue = o});
  REQUIRE_MESSAGE(q.ok(), q.status().to_string());
  return std::shared_ptr<sj::JobQueue>(std::move(q).value());
}

sj::NewJob job(std::string video) {
  sj::NewJob j;
  j.video_id = std::move(video);
  return j;
}

// Every backend connected to the test's database, cut off as a network failure or a server
// restart would (the admin pool is on another database).
void terminate_connections(PostgresDatabase& db) {
  auto r = db.admin().exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
      {db.name()});
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
}

// A pool whose idle workers never poll in time: only a notification can wake them.
sj::WorkerPoolOptions deaf_pool() {
  sj::WorkerPoolOptions o;
  o.poll_interval = 600s;
  o.notified_poll_interval = 600s;
  o.recover_on_start = false;
  return o;
}

}  // namespace

TEST_CASE("pg jobs: 8 queue instances claiming at once never get the same job") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto producer = open_pg(db);
  constexpr int kJobs = 400;
  for (int i = 0; i < kJobs; ++i) REQUIRE(producer->enqueue(job("v" + std::to_string(i))).ok());
  std::vector<std::shared_ptr<sj::JobQueue>> queues;
  for (int i = 0; i < 8; ++i) queues.push_back(open_pg(db));
  std::vector<std::vector<std::string>> got(8);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      while (true) {
        auto c = queues[i]->claim();
        if (!c.ok()) {
          ++errors;
          return;
        }
        if (!c->has_value()) return;
        got[i].push_back((*c)->id);
        if (!queues[i]->complete((*c)->id).ok()) ++errors;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  std::set<std::string> all;
  size_t total = 0;
  int busy_instances = 0;
  for (auto& ids : got) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
    busy_instances += !ids.empty();
  }
  CHECK(total == kJobs);       // every job claimed ...
  CHECK(all.size() == kJobs);  // ... exactly once
  CHECK(busy_instances > 1);   // and the claims were concurrent, not one instance's
  CHECK(producer->count_by_state()->of(sj::JobState::kSucceeded) == kJobs);
}

TEST_CASE("pg jobs: a flow's 60 children completed at once by 6 hosts wake its parent exactly once") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto producer = open_pg(db);
  constexpr int kChildren = 60;
  std::vector<sj::NewJob> children;
  for (int i = 0; i < kChildren; ++i) {
    sj::NewJob c = job("v");
    c.kind = "part";
    children.push_back(c);
  }
  sj::NewJob parent = job("v");
  parent.kind = "join";
  auto flow = producer->enqueue_flow(parent, children);
  REQUIRE_MESSAGE(flow.ok(), flow.status().to_string());
  CHECK(flow->waiting_children == kChildren);
  // A worker that listens only for NOTIFY (600 s polls) is there for the parent alone.
  std::atomic<int> joins{0};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const auto&, const auto&) {
    ++joins;
    return Status::Ok();
  };
  sj::WorkerPoolOptions joins_only = deaf_pool();
  joins_only.kinds = {"join"};
  sj::WorkerPool joiner(open_pg(db), handler, joins_only);
  REQUIRE(joiner.start().ok());
  std::vector<std::shared_ptr<sj::JobQueue>> hosts;
  for (int i = 0; i < 6; ++i) hosts.push_back(open_pg(db));
  std::atomic<int> errors{0}, parts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] {
      while (true) {
        auto c = hosts[i]->claim({"part"});
        if (!c.ok()) {
          ++errors;
          return;
        }
        if (!c->has_value()) return;
        ++parts;
        if ((*c)->parent_id != flow->id || !hosts[i]->complete((*c)->id).ok()) ++errors;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(parts == kChildren);
  // Every decrement counted (none lost to a race), and the last one's NOTIFY woke the joiner.
  REQUIRE(eventually([&] { return producer->get(flow->id)->state == sj::JobState::kSucceeded; }, 60s));
  CHECK(producer->get(flow->id)->waiting_children == 0);
  CHECK(joins == 1);
  joiner.stop();
}

TEST_CASE("pg jobs: a killed lease holder's job is taken over after its lease runs out") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  sj::QueueOptions short_lease;
  short_lease.lease = 1500ms;
  auto b = open_pg(db, short_lease);
  const std::string id = b->enqueue(job("v"))->id;
  // A worker process claims the job and is killed -9 while it holds it.
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto q = streamlet::postgres::open_job_queue(db.url(), {.queue = short_lease});
    bool ok = q.ok() && (*q)->claim().ok();
    char c = ok ? 'y' : 'n';
    (void)!write(fds[1], &c, 1);
    pause();  // until killed
    _exit(0);
  }
  char c = 0;
  REQUIRE(read(fds[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(fds[0]);
  close(fds[1]);
  // As seen from another host: the owner's row is there, its process cannot be checked.
  REQUIRE(db.admin().exec("SELECT 1").ok());
  {
    auto pool = streamlet::postgres::detail::Pool::open(db.url(), {.size = 1});
    REQUIRE(pool.ok());
    REQUIRE((*pool)->exec("UPDATE job_owners SET host = 'another-host' WHERE owner <> $1",
                          {b->owner()}).ok());
  }
  auto running = b->get(id);
  REQUIRE(running.ok());
  REQUIRE(running->state == sj::JobState::kRunning);
  REQUIRE(b->recover().ok());
  if (streamlet::detail::now_ms() < running->lease_expires_at_ms)
    CHECK(b->get(id)->state == sj::JobState::kRunning);  // not stolen within the lease
  std::optional<sj::Job> taken;
  REQUIRE(eventually([&] {
    auto claimed = b->claim();
    if (claimed.ok() && claimed->has_value()) taken = **claimed;
    return taken.has_value();
  }));
  CHECK(taken->id == id);
  CHECK(taken->attempts == 2);  // the killed attempt counts
  CHECK(taken->lease_owner == b->owner());
  CHECK(b->complete(id).ok());
}

TEST_CASE("pg jobs: a job killed with its process on this host is recovered at once") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto b = open_pg(db);  // a 60 s lease: only the dead process tells
  const std::string id = b->enqueue(job("v"))->id;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto q = streamlet::postgres::open_job_queue(db.url());
    char c = q.ok() && (*q)->claim().ok() ? 'y' : 'n';
    (void)!write(fds[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  REQUIRE(read(fds[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  auto moved = b->recover();
  REQUIRE(moved.ok());
  REQUIRE(moved->size() == 1);
  CHECK(moved->front().id == id);
  CHECK(moved->front().state == sj::JobState::kQueued);
}

TEST_CASE("pg jobs: NOTIFY wakes a waiting worker, and the end of a backoff does too") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  sj::QueueOptions o;
  o.retry.base_backoff = 300ms;
  auto worker_queue = open_pg(db, o);
  auto api_queue = open_pg(db, o);  // another node enqueues
  std::atomic<int> runs{0};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const auto&, const auto&) {
    // The first attempt fails and is retried after its backoff.
    return ++runs == 1 ? streamlet::error(ErrorCode::kIo, "disk hiccup") : Status::Ok();
  };
  sj::WorkerPool pool(worker_queue, handler, deaf_pool());
  REQUIRE(pool.start().ok());
  std::this_thread::sleep_for(300ms);  // the workers are idle, waiting
  auto j = api_queue->enqueue(job("v"));
  REQUIRE(j.ok());
  // With a 600 s poll, only the NOTIFY (then the backoff's timer) can have started them.
  REQUIRE(eventually([&] { return api_queue->get(j->id)->state == sj::JobState::kSucceeded; }, 60s));
  CHECK(runs == 2);
  pool.stop();
}

TEST_CASE("pg jobs: the listener reconnects when its connection is cut, and wakes workers again") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto worker_queue = open_pg(db);
  auto api_queue = open_pg(db);
  std::atomic<int> runs{0};
  sj::JobHandler handler;
  handler.run = [&](const sj::Job&, const auto&, const auto&) {
    ++runs;
    return Status::Ok();
  };
  sj::WorkerPool pool(worker_queue, handler, deaf_pool());
  REQUIRE(pool.start().ok());
  REQUIRE(api_queue->enqueue(job("a")).ok());
  REQUIRE(eventually([&] { return runs == 1; }));
  terminate_connections(db);
  // The pools replace their connections on the next use; the listener reconnects by itself.
  std::string id;
  REQUIRE(eventually([&] {
    auto j = api_queue->enqueue(job("b"));
    if (j.ok()) id = j->id;
    return j.ok();
  }));
  REQUIRE(eventually([&] { return runs == 2; }, 60s));
  pool.stop();
}

TEST_CASE("pg jobs: text PostgreSQL cannot hold is refused at enqueue, a failure's reason is kept") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto q = open_pg(db);
  // libpq would cut a NUL-carrying value short without a word: refused instead.
  sj::NewJob nul = job(std::string("v\0evil", 6));
  CHECK(q->enqueue(nul).status().code() == ErrorCode::kInvalidArgument);
  sj::NewJob bad_utf8 = job("v\xff\xfe");
  CHECK(q->enqueue(bad_utf8).status().code() == ErrorCode::kInvalidArgument);
  CHECK(q->count_by_state()->total() == 0);
  // A channel name is an identifier: anything else is refused before any SQL is sent.
  CHECK(streamlet::postgres::open_job_queue(db.url(), {.channel = "jobs\"; DROP TABLE jobs; --"})
            .status()
            .code() == ErrorCode::kInvalidArgument);
  // A library's error text with bad bytes and a NUL still fails the job, readable.
  auto j = q->enqueue(job("v"));
  REQUIRE(j.ok());
  REQUIRE(q->claim()->has_value());
  auto failed = q->fail(j->id, std::string("decoder said \xff\0 then died", 25), false);
  REQUIRE_MESSAGE(failed.ok(), failed.status().to_string());
  CHECK(failed->state == sj::JobState::kFailed);
  CHECK(failed->last_error.find("decoder said") == 0);
  CHECK(failed->last_error.find("then died") != std::string::npos);
  CHECK(failed->last_error.find('\0') == std::string::npos);
}

TEST_CASE("pg jobs: a job that waited longer than its lower priority is worth goes first") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto q = open_pg(db);
  sj::NewJob low = job("long-video");
  low.priority = 0;
  const std::string old_low = q->enqueue(low)->id;
  sj::NewJob urgent = job("short-video");
  urgent.priority = 10;
  const std::string new_urgent = q->enqueue(urgent)->id;
  // The low one has been due for 11 minutes: more than 10 points of head start.
  auto pool = streamlet::postgres::detail::Pool::open(db.url(), {.size = 1});
  REQUIRE(pool.ok());
  REQUIRE((*pool)->exec("UPDATE jobs SET run_at_ms = run_at_ms - 660000 WHERE id = $1",
                        {old_low}).ok());
  CHECK((*q->claim())->id == old_low);
  CHECK((*q->claim())->id == new_urgent);
  // Within the head start the urgent one still wins.
  const std::string low2 = q->enqueue(low)->id;
  const std::string urgent2 = q->enqueue(urgent)->id;
  REQUIRE((*pool)->exec("UPDATE jobs SET run_at_ms = run_at_ms - 540000 WHERE id = $1",
                        {low2}).ok());
  CHECK((*q->claim())->id == urgent2);
  CHECK((*q->claim())->id == low2);
}

TEST_CASE("pg events: two buses (two hosts) see each other's events once each, in order") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto a = streamlet::postgres::open_event_bus(db.url());
  auto b = streamlet::postgres::open_event_bus(db.url());
  REQUIRE((a.ok() && b.ok()));
  auto on_b = (*b)->subscribe("", 1000);
  auto on_a = (*a)->subscribe("", 1000);
  auto only_v7 = (*b)->subscribe("v7", 1000);
  constexpr int kEach = 200;
  std::thread pa([&] {
    for (int i = 0; i < kEach; ++i) {
      se::Event e;
      e.type = "progress";
      e.video_id = "v" + std::to_string(i % 10);
      e.job_id = "a";
      e.percent = i;
      e.message = "from a ü";
      (*a)->publish(std::move(e));
    }
  });
  std::thread pb([&] {
    for (int i = 0; i < kEach; ++i) {
      se::Event e;
      e.type = "progress";
      e.video_id = "v" + std::to_string(i % 10);
      e.job_id = "b";
      e.percent = i;
      (*b)->publish(std::move(e));
    }
  });
  pa.join();
  pb.join();
  for (auto* sub : {&on_a, &on_b}) {
    std::map<std::string, std::vector<int>> seen;  // per publisher, in arrival order
    uint64_t last_sequence = 0;
    int total = 0;
    while (total < 2 * kEach) {
      auto e = sub->next(20s);
      REQUIRE(e.has_value());
      ++total;
      seen[e->job_id].push_back(static_cast<int>(e->percent));
      CHECK(e->sequence > last_sequence);
      last_sequence = e->sequence;
      if (e->job_id == "a") CHECK(e->message == "from a ü");
    }
    CHECK_FALSE(sub->next(300ms).has_value());  // nothing twice
    std::vector<int> in_order(kEach);
    for (int i = 0; i < kEach; ++i) in_order[i] = i;
    CHECK(seen["a"] == in_order);
    CHECK(seen["b"] == in_order);
  }
  int v7 = 0;
  while (auto e = only_v7.next(200ms)) {
    CHECK(e->video_id == "v7");
    ++v7;
  }
  CHECK(v7 == 2 * kEach / 10);
}

TEST_CASE("pg events: a slow subscriber drops only its oldest events, an oversized one is cut") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto a = streamlet::postgres::open_event_bus(db.url());
  auto b = streamlet::postgres::open_event_bus(db.url());
  REQUIRE((a.ok() && b.ok()));
  auto slow = (*b)->subscribe("", 10);  // never read until the end
  auto marker = (*b)->subscribe("end", 10);
  for (int i = 0; i < 100; ++i) {
    se::Event e;
    e.type = "progress";
    e.percent = i;
    (*a)->publish(std::move(e));
  }
  se::Event big;
  big.type = "status";
  big.video_id = "end";
  big.message = std::string(20'000, 'x') + "é";
  big.json = R"({"blob": ")" + std::string(9'000, 'y') + R"("})";
  (*a)->publish(big);
  auto got = marker.next(20s);
  REQUIRE(got.has_value());
  CHECK(got->message.size() < 8000);
  CHECK(got->message.ends_with("…"));
  CHECK(got->json.empty());  // too big to send: other hosts get the event without it
  // The slow queue kept the newest 10 of the 101 and counted the rest.
  std::vector<double> kept;
  while (auto e = slow.next(0ms)) kept.push_back(e->percent);
  REQUIRE(kept.size() == 10);
  CHECK(slow.dropped() == 91);
  CHECK(kept.front() == doctest::Approx(91));
  // A bad channel name is refused, never spliced into SQL.
  CHECK(streamlet::postgres::open_event_bus(db.url(), {.channel = "x; DROP TABLE jobs"})
            .status()
            .code() == ErrorCode::kInvalidArgument);
}
