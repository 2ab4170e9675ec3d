// The libpq layer against a real PostgreSQL: URLs, parameters, results, SQLSTATE mapping,
// transactions, migrations under the advisory lock, broken connections, concurrent load.
#include <atomic>
#include <thread>
#include <vector>

#include "postgres/pool.hpp"
#include "support/postgres.hpp"

namespace pg = streamlet::postgres::detail;
using streamlet::ErrorCode;
using streamlet::Status;
using streamlet::test::PostgresDatabase;

namespace {

std::shared_ptr<pg::Pool> open_pool(const PostgresDatabase& db, int size = 4) {
  auto pool = pg::Pool::open(db.url(), {.size = size});
  REQUIRE_MESSAGE(pool.ok(), pool.status().to_string());
  return *pool;
}

}  // namespace

TEST_CASE("pool: a URL libpq refuses is kInvalidArgument, an unreachable server kIo") {
  auto bad = pg::Pool::open("postgresql://user:secret@%zz/db");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == ErrorCode::kInvalidArgument);
  CHECK(bad.status().message().find("secret") == std::string::npos);

  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto down = pg::Pool::open("postgresql://user:secret@127.0.0.1:1/db");
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == ErrorCode::kIo);
  CHECK(down.status().message().find("127.0.0.1") != std::string::npos);
  CHECK(down.status().message().find("secret") == std::string::npos);

  CHECK(pg::Pool::open("postgresql://u@127.0.0.1:1/db", {.size = 0}).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(pg::redact_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d");
}

TEST_CASE("pool: parameters travel apart from the SQL, results read by index and name") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db);
  REQUIRE(pool->exec("CREATE TABLE t (id bigint PRIMARY KEY, name text UNIQUE, score double precision)").ok());
  const std::string evil = "x'); DROP TABLE t; --";
  auto ins = pool->exec("INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)",
                        {1, evil, 0.1, int64_t{2}, std::nullopt, std::nullopt});
  REQUIRE_MESSAGE(ins.ok(), ins.status().to_string());
  CHECK(ins->affected() == 2);

  auto rows = pool->exec("SELECT id, name, score FROM t ORDER BY id");
  REQUIRE(rows.ok());
  REQUIRE(rows->rows() == 2);
  CHECK(rows->int64(0, "id") == 1);
  CHECK(rows->text(0, "name") == evil);
  CHECK(rows->real(0, 2) == 0.1);
  CHECK(rows->is_null(1, "name"));
  CHECK(rows->column("nope") == -1);

  // Two statements in one exec are refused by the server, not run.
  auto two = pool->exec("SELECT 1; DROP TABLE t");
  CHECK_FALSE(two.ok());
  CHECK(pool->exec("SELECT count(*) FROM t")->int64(0, 0) == 2);
}

TEST_CASE("pool: SQLSTATEs map to Status codes and stay in the message") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db);
  REQUIRE(pool->exec("CREATE TABLE u (name text PRIMARY KEY, n int CHECK (n > 0))").ok());
  REQUIRE(pool->exec("INSERT INTO u VALUES ($1, 1)", {"a"}).ok());
  auto dup = pool->exec("INSERT INTO u VALUES ($1, 1)", {"a"});
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().code() == ErrorCode::kAlreadyExists);
  CHECK(pg::sqlstate_of(dup.status()) == "23505");
  auto check = pool->exec("INSERT INTO u VALUES ($1, 0)", {"b"});
  CHECK(check.status().code() == ErrorCode::kInvalidArgument);
  CHECK(pg::sqlstate_of(check.status()) == "23514");
  auto bad_int = pool->exec("SELECT $1::int", {"not a number"});
  CHECK(bad_int.status().code() == ErrorCode::kInvalidArgument);
  auto syntax = pool->exec("SELEC 1");
  CHECK(syntax.status().code() == ErrorCode::kInternal);
  CHECK(pg::sqlstate_of(syntax.status()) == "42601");
}

TEST_CASE("pool: with_transaction commits, rolls back on error and retries serialization failures") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db, 8);
  REQUIRE(pool->exec("CREATE TABLE c (id int PRIMARY KEY, n bigint NOT NULL)").ok());
  REQUIRE(pool->exec("INSERT INTO c VALUES (1, 0)").ok());

  Status failed = pool->with_transaction([](pg::Connection& c) -> Status {
    STREAMLET_RETURN_IF_ERROR(c.exec("UPDATE c SET n = 100 WHERE id = 1").status());
    return streamlet::error(ErrorCode::kInvalidArgument, "changed my mind");
  });
  CHECK(failed.code() == ErrorCode::kInvalidArgument);
  CHECK(pool->exec("SELECT n FROM c")->int64(0, 0) == 0);

  // SERIALIZABLE read-modify-write from 8 threads: conflicts are retried, no increment lost.
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        Status s = pool->with_transaction(
            [](pg::Connection& c) -> Status {
              STREAMLET_ASSIGN_OR_RETURN(auto r, c.exec("SELECT n FROM c WHERE id = 1"));
              return c.exec("UPDATE c SET n = $1 WHERE id = 1", {r.int64(0, 0) + 1}).status();
            },
            "SERIALIZABLE");
        if (!s.ok()) {
          ++errors;
          MESSAGE(s.to_string());
        }
      }
    });
  for (auto& t : threads) t.join();
  // A transaction can exhaust its attempts under this much contention; what committed counts.
  CHECK(pool->exec("SELECT n FROM c")->int64(0, 0) == 80 - errors.load());
  CHECK(errors.load() < 8);
}

TEST_CASE("pool: migrations run once when many nodes start at once on an empty database") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  const std::vector<std::string> steps = {
      "CREATE TABLE applied (step int); INSERT INTO applied VALUES (1)",
      "INSERT INTO applied VALUES (2)",
      "ALTER TABLE applied ADD COLUMN note text; INSERT INTO applied VALUES (3, 'x')",
  };
  std::vector<std::thread> nodes;
  std::atomic<int> failures{0};
  for (int n = 0; n < 8; ++n)
    nodes.emplace_back([&] {
      auto pool = pg::Pool::open(db.url(), {.size = 2});
      Status s = pool.ok() ? (*pool)->migrate("demo", steps) : pool.status();
      if (!s.ok()) {
        ++failures;
        MESSAGE(s.to_string());
      }
    });
  for (auto& t : nodes) t.join();
  CHECK(failures.load() == 0);
  auto pool = open_pool(db);
  auto rows = pool->exec("SELECT step, count(*) FROM applied GROUP BY step ORDER BY step");
  REQUIRE(rows.ok());
  REQUIRE(rows->rows() == 3);
  for (int i = 0; i < 3; ++i) CHECK(rows->int64(i, 1) == 1);
  CHECK(pool->exec("SELECT count(*) FROM schema_migrations WHERE component = 'demo'")->int64(0, 0) ==
        3);

  // This code knows only two steps: the database is newer, and nothing is touched.
  Status older = pool->migrate("demo", {steps[0], steps[1]});
  CHECK(older.code() == ErrorCode::kUnsupported);
  CHECK(older.message().find("newer") != std::string::npos);
  // Another component has its own versions.
  CHECK(pool->migrate("other", {"CREATE TABLE other_t (x int)"}).ok());
  // A failing step leaves nothing behind: the whole migration is one transaction.
  Status broken = pool->migrate("third", {"CREATE TABLE third_t (x int)", "SELEC nonsense"});
  CHECK_FALSE(broken.ok());
  CHECK(pool->exec("SELECT to_regclass('third_t') IS NULL")->boolean(0, 0));
}

TEST_CASE("pool: connections killed by the server are replaced") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db, 3);
  {
    // Open all three.
    auto a = pool->acquire(), b = pool->acquire(), c = pool->acquire();
    REQUIRE((a.ok() && b.ok() && c.ok()));
  }
  auto killed = db.admin().exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
      {db.name()});
  REQUIRE_MESSAGE(killed.ok(), killed.status().to_string());
  CHECK(killed->int64(0, 0) >= 3);
  // pg_terminate_backend returns before the backends are gone: wait until they are.
  for (int i = 0; i < 200; ++i) {
    auto left = db.admin().exec("SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                                {db.name()});
    if (left.ok() && left->int64(0, 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < 6; ++i) {
    auto r = pool->exec("SELECT 1");
    CHECK_MESSAGE(r.ok(), r.status().to_string());
  }

  // A connection that breaks while leased reports kIo and is not handed out again.
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    auto pid = (*lease)->exec("SELECT pg_backend_pid()");
    REQUIRE(pid.ok());
    REQUIRE(db.admin().exec("SELECT pg_terminate_backend($1::int)", {pid->int64(0, 0)}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto r = (*lease)->exec("SELECT 1");
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kIo);
    CHECK_FALSE((*lease)->healthy());
  }
  CHECK(pool->exec("SELECT 1").ok());
}

TEST_CASE("pool: many threads share a small pool") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db, 3);
  REQUIRE(pool->exec("CREATE TABLE hits (thread int, i int)").ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        if (!pool->exec("INSERT INTO hits VALUES ($1, $2)", {t, i}).ok()) ++failures;
    });
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(pool->exec("SELECT count(*) FROM hits")->int64(0, 0) == 16 * 25);
  auto conns = db.admin().exec(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'streamlet'",
      {db.name()});
  REQUIRE(conns.ok());
  CHECK(conns->int64(0, 0) <= 3);
}

TEST_CASE("pool: a transaction whose connection dies before COMMIT runs again on a fresh one") {
  PostgresDatabase db;
  STREAMLET_REQUIRE_POSTGRES(db);
  auto pool = open_pool(db, 2);
  REQUIRE(pool->exec("CREATE TABLE once (n int)").ok());
  int attempts = 0;
  Status s = pool->with_transaction([&](pg::Connection& c) -> Status {
    ++attempts;
    STREAMLET_RETURN_IF_ERROR(c.exec("INSERT INTO once VALUES (1)").status());
    if (attempts == 1) {
      auto pid = c.exec("SELECT pg_backend_pid()");
      REQUIRE(pid.ok());
      REQUIRE(db.admin().exec("SELECT pg_terminate_backend($1::int)", {pid->int64(0, 0)}).ok());
      for (int i = 0; i < 200 && c.healthy(); ++i) {
        if (!c.exec("SELECT 1").ok()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return c.exec("SELECT 1").status();  // fails: the server is gone
    }
    return Status::Ok();
  });
  CHECK_MESSAGE(s.ok(), s.to_string());
  CHECK(attempts == 2);
  CHECK(pool->exec("SELECT count(*) FROM once")->int64(0, 0) == 1);
}
