// A thin RAII layer over SQLite shared by the catalog and the job queue:
// one connection, prepared statements, immediate transactions, migrations.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/status.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace streamlet::detail::sql {

class Db;

// A prepared statement; finalized when it dies. Bind indexes start at 1.
class Stmt {
 public:
  Stmt(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int index, int64_t value);
  Stmt& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Stmt& bind(int index, double value);
  Stmt& bind(int index, std::string_view value);
  Stmt& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Stmt& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Stmt& bind_null(int index);

  // true when a row is available, false when done.
  Result<bool> step();
  // Runs to completion, ignoring rows.
  Status run();

  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

// One connection. Not thread safe by itself: callers hold mutex() around use.
class Db {
 public:
  // Opens or creates `path`, sets WAL, busy_timeout, foreign keys.
  static Result<std::unique_ptr<Db>> open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status exec(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);
  int64_t changes() const;
  int64_t last_insert_rowid() const;

  // Applies `steps[i]` for every version i+1 above the one recorded for
  // `component` in schema_version, in one transaction per step. A recorded version above
  // steps.size() is a file a newer Streamlet wrote: kUnsupported, nothing is changed.
  Status migrate(std::string_view component, const std::vector<std::string>& steps);

  const std::string& path() const { return path_; }

  // The last error of this connection as a Status (constraint failures map to kAlreadyExists).
  Status last_error(std::string_view what) const;
  int last_error_code() const;

  std::mutex& mutex() { return mutex_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::mutex mutex_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed. IMMEDIATE takes
// the write lock up front so two writers wait (busy_timeout) instead of one
// failing with SQLITE_BUSY when it upgrades a read.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction();
  Status begin();
  Status commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace streamlet::detail::sql
