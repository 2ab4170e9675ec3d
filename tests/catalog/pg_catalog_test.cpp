// What only the PostgreSQL catalog has to show: nodes migrating one empty database at once, a
// database from a newer Streamlet, the pool under load, connections killed and a server
// restarted under a live catalog. Built into test_catalog_pg only.
#ifdef STREAMLET_CATALOG_PG

#include <atomic>
#include <thread>
#include <vector>

#include "catalog/catalog_backend.hpp"
#include "postgres/pg_catalog.hpp"
#include "postgres/pool.hpp"
#include "streamlet/postgres.hpp"

namespace sc = streamlet::catalog;
namespace pg = streamlet::postgres;
using streamlet::ErrorCode;
using streamlet::Status;
using streamlet::test::CatalogStore;

namespace {

sc::User user(sc::Catalog& c, const std::string& name) {
  auto u = c.create_user({name, "", "$argon2id$placeholder", sc::Role::kUser});
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  return *u;
}

std::string video(sc::Catalog& c, const std::string& owner, const std::string& title) {
  auto v = c.create_video({owner, title, "", sc::Visibility::kPublic, sc::VideoStatus::kQueued});
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return v->id;
}

// Waits until no backend is connected to `db` (pg_terminate_backend returns before they go).
void wait_no_backends(streamlet::test::PostgresDatabase& db) {
  for (int i = 0; i < 500; ++i) {
    auto left = db.admin().exec("SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                                {db.name()});
    if (left.ok() && left->int64(0, 0) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("backends of " << db.name() << " still connected after 5 s");
}

}  // namespace

TEST_CASE("postgres: nodes opening one empty database at once migrate it exactly once") {
  CATALOG_STORE(store);
  constexpr int kNodes = 8;
  std::vector<std::thread> nodes;
  std::vector<std::string> errors(kNodes);
  std::atomic<int> ready{0};
  for (int i = 0; i < kNodes; ++i)
    nodes.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kNodes) std::this_thread::yield();
      auto c = pg::open_catalog(store.postgres().url(), {.size = 2});
      if (!c.ok()) errors[i] = c.status().to_string();
    });
  for (auto& t : nodes) t.join();
  for (const auto& e : errors) CHECK_MESSAGE(e.empty(), e);
  auto pool = pg::detail::Pool::open(store.postgres().url(), {.size = 1});
  REQUIRE(pool.ok());
  auto rows = (*pool)->exec(
      "SELECT version, count(*) FROM schema_migrations WHERE component = 'catalog'"
      " GROUP BY version ORDER BY version");
  REQUIRE_MESSAGE(rows.ok(), rows.status().to_string());
  REQUIRE(rows->rows() >= 1);
  for (int i = 0; i < rows->rows(); ++i) {
    CHECK(rows->int64(i, 0) == i + 1);
    CHECK(rows->int64(i, 1) == 1);
  }
  // And the catalog works.
  auto c = store.open();
  CHECK(c->count_users().ok());
}

TEST_CASE("postgres: a database migrated by a newer Streamlet is refused, nothing changed") {
  CATALOG_STORE(store);
  { store.open(); }
  auto pool = pg::detail::Pool::open(store.postgres().url(), {.size = 1});
  REQUIRE(pool.ok());
  REQUIRE((*pool)->exec("INSERT INTO schema_migrations(component, version) VALUES ('catalog', 99)").ok());
  auto again = pg::open_catalog(store.postgres().url());
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == ErrorCode::kUnsupported);
  CHECK_MESSAGE(again.status().message().find("schema version 99") != std::string::npos,
                again.status().message());
  CHECK((*pool)->exec("SELECT count(*) FROM schema_migrations WHERE component = 'catalog'")
            ->int64(0, 0) == 7);  // its six migrations and the newer one
}

TEST_CASE("postgres: a URL libpq refuses, and a server that is not there, are told apart") {
  auto bad = pg::open_catalog("postgresql://u:hunter2@%zz/db");
  CHECK(bad.status().code() == ErrorCode::kInvalidArgument);
  CHECK(bad.status().message().find("hunter2") == std::string::npos);
  auto down = pg::open_catalog("postgresql://u:hunter2@127.0.0.1:1/db");
  CHECK(down.status().code() == ErrorCode::kIo);
  CHECK(down.status().message().find("hunter2") == std::string::npos);
  CHECK(pg::open_catalog("postgresql://u@127.0.0.1:1/db", {.size = 0}).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("postgres: many threads share a small pool and every write lands") {
  CATALOG_STORE(store);
  auto c = pg::open_catalog(store.postgres().url(), {.size = 3});
  REQUIRE(c.ok());
  auto& catalog = **c;
  auto alice = user(catalog, "alice");
  const std::string v = video(catalog, alice.id, "busy");
  constexpr int kThreads = 16, kEach = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!catalog.record_view({v, "viewer" + std::to_string(t), 1, "2024-01-01", true}).ok())
          ++failures;
        if (i % 5 == 0 && !catalog.create_video({alice.id, "t", "", sc::Visibility::kPublic,
                                                 sc::VideoStatus::kQueued})
                               .ok())
          ++failures;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(catalog.get_video(v)->view_count == kThreads * kEach);
  CHECK(catalog.view_stats(v)->unique_viewers == kThreads);
  sc::VideoQuery q;
  q.owner_id = alice.id;
  CHECK(catalog.list_videos(q)->total == 1 + kThreads * (kEach / 5));
}

TEST_CASE("postgres: the catalog carries on after its connections are killed") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice");
  const std::string v = video(*c, alice.id, "survivor");
  for (int round = 0; round < 2; ++round) {
    auto killed = store.postgres().admin().exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
        {store.postgres().name()});
    REQUIRE_MESSAGE(killed.ok(), killed.status().to_string());
    CHECK(killed->int64(0, 0) >= 1);
    wait_no_backends(store.postgres());
    auto got = c->get_video(v);
    REQUIRE_MESSAGE(got.ok(), got.status().to_string());
    CHECK(got->title == "survivor");
    CHECK(c->record_view({v, "A", 1, "2024-01-01", true}).ok());
  }
  CHECK(c->get_video(v)->view_count == 2);
}

TEST_CASE("postgres: the catalog carries on after the server restarts") {
  // A server of this case's own: restarting the shared one would pull it from under the
  // cases running next to this one.
  streamlet::test::TempDir dir;
  const std::string script = STREAMLET_POSTGRES_SERVER_SCRIPT;
  auto started = streamlet::test::run({"bash", script, "start", dir.path().string()});
  REQUIRE_MESSAGE(started.exit_code == 0, started.output);
  if (!std::filesystem::exists(dir / "url")) STREAMLET_SKIP(started.output);
  struct Stop {
    std::string script, dir;
    ~Stop() { streamlet::test::run({"bash", script, "stop", dir}); }
  } stop{script, dir.path().string()};
  std::string url = streamlet::test::read_file(dir / "url");
  while (!url.empty() && url.back() == '\n') url.pop_back();

  auto opened = pg::open_catalog(url, {.size = 2});
  REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
  auto c = *opened;
  auto alice = user(*c, "alice");
  const std::string v = video(*c, alice.id, "before the restart");

  auto restarted = streamlet::test::run({"bash", script, "restart", dir.path().string()});
  REQUIRE_MESSAGE(restarted.exit_code == 0, restarted.output);
  // Every pooled connection is dead now; the pool notices and opens new ones.
  for (int i = 0; i < 4; ++i) {
    auto got = c->get_video(v);
    REQUIRE_MESSAGE(got.ok(), got.status().to_string());
    CHECK(got->title == "before the restart");
  }
  CHECK(c->create_video({alice.id, "after", "", sc::Visibility::kPublic, sc::VideoStatus::kQueued})
            .ok());
}

TEST_CASE("postgres: a status change inside a caller's transaction commits or rolls back with it") {
  CATALOG_STORE(store);
  auto pool = pg::detail::Pool::open(store.postgres().url(), {.size = 2});
  REQUIRE(pool.ok());
  auto c = pg::detail::open_catalog_on(*pool);
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  auto alice = user(**c, "alice");
  const std::string v = video(**c, alice.id, "queued next");
  REQUIRE((*pool)->exec("CREATE TABLE side_effect (video_id text)").ok());

  // The caller's own statement fails after the status change: neither is kept.
  Status failed = (*pool)->with_transaction([&](pg::detail::Connection& conn) -> Status {
    auto changed = pg::detail::set_video_status(conn, v, sc::VideoStatus::kProcessing);
    REQUIRE(changed.ok());
    CHECK(changed->status == sc::VideoStatus::kProcessing);
    STREAMLET_RETURN_IF_ERROR(conn.exec("INSERT INTO side_effect VALUES ($1)", {v}).status());
    return conn.exec("INSERT INTO no_such_table VALUES (1)").status();
  });
  CHECK_FALSE(failed.ok());
  CHECK((*c)->get_video(v)->status == sc::VideoStatus::kQueued);
  CHECK((*pool)->exec("SELECT count(*) FROM side_effect")->int64(0, 0) == 0);

  Status done = (*pool)->with_transaction([&](pg::detail::Connection& conn) -> Status {
    STREAMLET_RETURN_IF_ERROR(
        pg::detail::set_video_status(conn, v, sc::VideoStatus::kFailed, "why").status());
    return conn.exec("INSERT INTO side_effect VALUES ($1)", {v}).status();
  });
  REQUIRE_MESSAGE(done.ok(), done.to_string());
  CHECK((*c)->get_video(v)->status_reason == "why");
  CHECK((*pool)->exec("SELECT count(*) FROM side_effect")->int64(0, 0) == 1);
  pg::detail::Lease lease = std::move((*pool)->acquire()).value();
  CHECK(pg::detail::set_video_status(*lease, "nope", sc::VideoStatus::kReady).status().code() ==
        ErrorCode::kNotFound);
}

#endif  // STREAMLET_CATALOG_PG
