#include "catalog/sqlite_db.hpp"

#include <sqlite3.h>

namespace streamlet::detail::sql {

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view value) {
  // An empty view may have no data pointer, which SQLite would bind as NULL: "" is text.
  sqlite3_bind_text(stmt_, index, value.data() ? value.data() : "", static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->last_error("sqlite step");
}

Status Stmt::run() {
  while (true) {
    STREAMLET_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::Ok();
  }
}

int64_t Stmt::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
double Stmt::real(int col) const {
  return sqlite3_column_double(stmt_, col);
}
std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
bool Stmt::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    if (raw) sqlite3_close(raw);
    return error(ErrorCode::kIo, "cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Db> db(new Db(raw, path));
  // Writers from other connections (the job queue, another process) wait
  // rather than fail; 5 s is far above any single statement we run.
  sqlite3_busy_timeout(raw, 5000);
  // WAL: readers never block the writer and a crash cannot corrupt the file.
  // synchronous=NORMAL is durable across process crashes in WAL mode. The first statement
  // reads the file, so this is where one that is not a database is found: say which.
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
    Status s = db->exec(pragma);
    if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  }
  return db;
}

Db::~Db() {
  sqlite3_close_v2(db_);
}

Status Db::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return error(rc == SQLITE_BUSY ? ErrorCode::kResourceExhausted : ErrorCode::kInternal,
                 "sqlite: " + msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return last_error("sqlite prepare");
  return Stmt(this, stmt);
}

int64_t Db::changes() const {
  return sqlite3_changes(db_);
}
int64_t Db::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}
int Db::last_error_code() const {
  return sqlite3_extended_errcode(db_);
}

Status Db::last_error(std::string_view what) const {
  int rc = sqlite3_errcode(db_);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
  switch (rc) {
    case SQLITE_CONSTRAINT:
      return error(ErrorCode::kAlreadyExists, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return error(ErrorCode::kResourceExhausted, msg);
    case SQLITE_FULL:
      return error(ErrorCode::kResourceExhausted, msg);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return error(ErrorCode::kIo, msg);
    default:
      return error(ErrorCode::kInternal, msg);
  }
}

Status Db::migrate(std::string_view component, const std::vector<std::string>& steps) {
  STREAMLET_RETURN_IF_ERROR(
      exec("CREATE TABLE IF NOT EXISTS schema_version ("
           " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"));
  {
    // Tables changed by versions we do not know may not mean what this code thinks.
    STREAMLET_ASSIGN_OR_RETURN(auto q,
                               prepare("SELECT version FROM schema_version WHERE component = ?"));
    q.bind(1, component);
    STREAMLET_ASSIGN_OR_RETURN(bool has, q.step());
    const int64_t known = static_cast<int64_t>(steps.size());
    if (has && q.int64(0) > known)
      return error(ErrorCode::kUnsupported,
                   path_ + ": " + std::string(component) + " schema version " +
                       std::to_string(q.int64(0)) + " is from a newer Streamlet (this one knows " +
                       std::to_string(known) +
                       "); run that version, or restore a backup made with this one");
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t version = static_cast<int64_t>(i) + 1;
    Transaction txn(*this);
    STREAMLET_RETURN_IF_ERROR(txn.begin());
    // Read inside the write transaction: two processes opening a fresh file
    // at once must not both apply the same step. The statement is finished before the
    // step runs: SQLite refuses DROP while a statement of the connection is reading.
    int64_t current = 0;
    {
      STREAMLET_ASSIGN_OR_RETURN(auto q,
                                 prepare("SELECT version FROM schema_version WHERE component = ?"));
      q.bind(1, component);
      STREAMLET_ASSIGN_OR_RETURN(bool has, q.step());
      if (has) current = q.int64(0);
    }
    if (current >= version) continue;
    STREAMLET_RETURN_IF_ERROR(exec(steps[i]).with_context(std::string(component) + " migration " +
                                                          std::to_string(version)));
    STREAMLET_ASSIGN_OR_RETURN(
        auto up, prepare("INSERT INTO schema_version(component, version) VALUES(?, ?)"
                         " ON CONFLICT(component) DO UPDATE SET version = excluded.version"));
    up.bind(1, component).bind(2, version);
    STREAMLET_RETURN_IF_ERROR(up.run());
    STREAMLET_RETURN_IF_ERROR(txn.commit());
  }
  return Status::Ok();
}

Transaction::~Transaction() {
  if (open_) db_.exec("ROLLBACK").ok();
}

Status Transaction::begin() {
  STREAMLET_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::commit() {
  STREAMLET_RETURN_IF_ERROR(db_.exec("COMMIT"));
  open_ = false;
  return Status::Ok();
}

}  // namespace streamlet::detail::sql
