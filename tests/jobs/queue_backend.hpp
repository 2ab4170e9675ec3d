// Which queue the jobs suite runs against: the SQLite one (default) or, with
// STREAMLET_TEST_QUEUE=postgres (the suite's second registration), the PostgreSQL one in a
// fresh database of the "postgres" fixture's server. A QueueStore is one queue's storage:
// every open_queue() on it is another instance (another lease owner) on the same jobs.
#pragma once

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "streamlet/jobs.hpp"
#include "streamlet/postgres.hpp"
#include "support/postgres.hpp"
#include "support/support.hpp"

namespace streamlet::test {

inline bool queue_on_postgres() {
  const char* v = std::getenv("STREAMLET_TEST_QUEUE");
  return v && std::string(v) == "postgres";
}

class QueueStore {
 public:
  QueueStore() {
    if (queue_on_postgres()) {
      db_.emplace();
      STREAMLET_REQUIRE_POSTGRES(*db_);
    }
  }
  bool postgres() const { return db_.has_value(); }
  const std::string& url() const { return db_->url(); }
  PostgresDatabase& database() { return *db_; }
  fs::path operator/(const std::string& name) const { return dir_ / name; }

  std::shared_ptr<jobs::JobQueue> open(jobs::QueueOptions o = {}) const {
    Result<std::unique_ptr<jobs::JobQueue>> q =
        db_ ? postgres::open_job_queue(db_->url(), {.queue = o})
            : jobs::open_sqlite_job_queue((dir_ / "streamlet.db").string(), o);
    REQUIRE_MESSAGE(q.ok(), q.status().to_string());
    return std::shared_ptr<jobs::JobQueue>(std::move(q).value());
  }

 private:
  TempDir dir_;
  std::optional<PostgresDatabase> db_;
};

}  // namespace streamlet::test
