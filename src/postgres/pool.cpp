#include "postgres/pool.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cassert>
#include <charconv>
#include <cstdlib>
#include <thread>

namespace streamlet::postgres::detail {

std::string Param::format_double(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

// ---- results ---------------------------------------------------------------

QueryResult::QueryResult(PGresult* res) : res_(res, PQclear) {}

int QueryResult::rows() const { return res_ ? PQntuples(res_.get()) : 0; }
int QueryResult::columns() const { return res_ ? PQnfields(res_.get()) : 0; }

int QueryResult::column(std::string_view name) const {
  if (!res_) return -1;
  for (int i = 0; i < columns(); ++i)
    if (name == PQfname(res_.get(), i)) return i;
  return -1;
}

int QueryResult::must(std::string_view name) const {
  int c = column(name);
  assert(c >= 0 && "no such column in the result");
  return c < 0 ? 0 : c;
}

int64_t QueryResult::affected() const {
  if (!res_) return 0;
  const char* n = PQcmdTuples(res_.get());
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

bool QueryResult::is_null(int row, int col) const {
  assert(row >= 0 && row < rows() && col >= 0 && col < columns());
  return PQgetisnull(res_.get(), row, col) != 0;
}

std::string_view QueryResult::view(int row, int col) const {
  if (is_null(row, col)) return {};
  return {PQgetvalue(res_.get(), row, col),
          static_cast<size_t>(PQgetlength(res_.get(), row, col))};
}

int64_t QueryResult::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtoll(PQgetvalue(res_.get(), row, col), nullptr, 10);
}

double QueryResult::real(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtod(PQgetvalue(res_.get(), row, col), nullptr);
}

bool QueryResult::boolean(int row, int col) const {
  if (is_null(row, col)) return false;
  return PQgetvalue(res_.get(), row, col)[0] == 't';
}

// ---- errors ----------------------------------------------------------------

Status status_from_sqlstate(std::string_view state, std::string message) {
  ErrorCode code = ErrorCode::kInternal;
  if (state == "23505") {
    code = ErrorCode::kAlreadyExists;
  } else if (state.starts_with("23") || state.starts_with("22")) {
    code = ErrorCode::kInvalidArgument;
  } else if (state == "40001" || state == "40P01") {
    code = ErrorCode::kConflict;
  } else if (state.starts_with("53")) {
    code = ErrorCode::kResourceExhausted;
  } else if (state == "57014") {
    code = ErrorCode::kCancelled;
  } else if (state.starts_with("08") || state.starts_with("57P")) {
    code = ErrorCode::kIo;
  } else if (state.empty()) {
    code = ErrorCode::kIo;  // libpq's own failures (lost connection) carry no SQLSTATE
  }
  if (!state.empty()) message += " [" + std::string(state) + "]";
  return error(code, std::move(message));
}

std::string sqlstate_of(const Status& status) {
  const std::string& m = status.message();
  if (m.size() < 7 || m.back() != ']') return {};
  auto open = m.rfind('[');
  if (open == std::string::npos || m.size() - open != 7) return {};
  return m.substr(open + 1, 5);
}

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void ignore_notice(void*, const char*) {}  // "relation already exists, skipping" and friends

}  // namespace

std::string redact_url(std::string_view url) {
  // scheme://user:password@host -> scheme://user:***@host
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  auto start = scheme + 3;
  auto at = url.find('@', start);
  auto slash = url.find('/', start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string(url);
  auto colon = url.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

// ---- connections -----------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    std::string why = err ? trimmed(err) : "out of memory";
    if (err) PQfreemem(err);
    return error(ErrorCode::kInvalidArgument,
                 "postgres: not a connection URL libpq accepts (" + redact_url(url) + "): " + why);
  }
  PQconninfoFree(opts);
  // Defaults first: the URL's own values, expanded in place of dbname, override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "streamlet", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn) return error(ErrorCode::kResourceExhausted, "postgres: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return error(ErrorCode::kIo, "postgres: cannot connect to " + redact_url(url) + ": " + why);
  }
  PQsetNoticeProcessor(conn, ignore_notice, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Connection::check_idle() {
  if (!healthy() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return false;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0) return false;
  // A pooled connection between queries has nothing to read unless the server said goodbye
  // (pg_terminate_backend, a shutdown: an error message, then EOF). Whatever it was, the
  // connection is not trusted with the next query; a fresh one costs a few milliseconds.
  return ::poll(&p, 1, 0) == 0;
}

Status Connection::failure(PGresult* res, std::string_view sql) {
  std::string state;
  std::string msg;
  if (res) {
    const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    state = s ? s : "";
    msg = trimmed(PQresultErrorMessage(res));
  }
  if (msg.empty()) msg = trimmed(PQerrorMessage(conn_));
  // Name the statement by its first words only: the values are never in it anyway.
  std::string head(sql.substr(0, std::min<size_t>(sql.size(), 48)));
  for (char& c : head)
    if (c == '\n') c = ' ';
  return status_from_sqlstate(state, "postgres: " + msg + " (in: " + head + ")");
}

Result<QueryResult> Connection::exec(std::string_view sql, const Params& params) {
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p.is_null() ? nullptr : p.text().c_str());
  PGresult* res = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return QueryResult(res);
  Status s = failure(res, sql);
  if (res) PQclear(res);
  return s;
}

Status Connection::exec_script(std::string_view sql) {
  std::string text(sql);
  PGresult* res = PQexec(conn_, text.c_str());
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(res);
    return Status::Ok();
  }
  Status s = failure(res, sql);
  if (res) PQclear(res);
  return s;
}

// ---- the pool --------------------------------------------------------------

Lease::~Lease() {
  if (conn_) pool_->give_back(std::move(conn_));
}

Pool::Pool(std::string url, PoolConfig config)
    : url_(std::move(url)), display_url_(redact_url(url_)), config_(config) {}

Pool::~Pool() = default;

Result<std::shared_ptr<Pool>> Pool::open(const std::string& url, PoolConfig config) {
  if (config.size < 1)
    return error(ErrorCode::kInvalidArgument,
                 "postgres: pool size must be at least 1 (got " + std::to_string(config.size) + ")");
  if (config.transaction_attempts < 1) config.transaction_attempts = 1;
  STREAMLET_ASSIGN_OR_RETURN(auto first, Connection::connect(url));
  std::shared_ptr<Pool> pool(new Pool(url, config));
  pool->idle_.push_back(std::move(first));
  pool->open_ = 1;
  return pool;
}

Result<Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + config_.acquire_timeout;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->check_idle()) return Lease(this, std::move(conn));
      // Broken while idle (server restart, pg_terminate_backend): drop it, open a new one.
      --open_;
    }
    if (open_ < config_.size) {
      ++open_;
      lock.unlock();
      auto conn = Connection::connect(url_);
      if (!conn.ok()) {
        lock.lock();
        --open_;
        freed_.notify_one();
        return conn.status();
      }
      return Lease(this, std::move(conn).value());
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= config_.size)
      return error(ErrorCode::kResourceExhausted,
                   "postgres: all " + std::to_string(config_.size) +
                       " connections of the pool stayed busy for " +
                       std::to_string(config_.acquire_timeout.count()) + " ms");
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  // A connection left inside a transaction (an error path that did not roll back) or broken
  // is closed rather than handed to the next caller in an unknown state.
  bool reusable = conn->healthy() && PQtransactionStatus(conn->native()) == PQTRANS_IDLE;
  if (!reusable) conn.reset();
  std::lock_guard lock(mutex_);
  if (reusable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  freed_.notify_one();
}

Result<QueryResult> Pool::exec(std::string_view sql, const Params& params) {
  STREAMLET_ASSIGN_OR_RETURN(auto lease, acquire());
  return lease->exec(sql, params);
}

Status Pool::with_transaction(const std::function<Status(Connection&)>& fn,
                              std::string_view isolation) {
  std::string begin = "BEGIN";
  if (!isolation.empty()) begin += " ISOLATION LEVEL " + std::string(isolation);
  Status last;
  for (int attempt = 1; attempt <= config_.transaction_attempts; ++attempt) {
    if (attempt > 1) {
      // A short, growing, jittered pause so the transactions that collided do not collide again.
      int ms = (1 << std::min(attempt, 6)) + std::rand() % 5;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    STREAMLET_ASSIGN_OR_RETURN(auto lease, acquire());
    Status began = lease->exec_script(begin);
    if (!began.ok()) {
      last = began;
      if (!lease->healthy()) continue;  // nothing was sent inside a transaction: safe to retry
      return began;
    }
    Status s = fn(*lease);
    if (!s.ok() && !lease->healthy()) {
      // The connection broke before COMMIT was sent: the server has rolled the transaction
      // back, so running it again on a fresh connection changes nothing twice.
      last = s;
      continue;
    }
    // A COMMIT that fails on a broken connection may or may not have committed: not retried.
    if (s.ok()) s = lease->exec_script("COMMIT");
    if (s.ok()) return s;
    if (lease->healthy() && PQtransactionStatus(lease->native()) != PQTRANS_IDLE)
      (void)lease->exec_script("ROLLBACK");
    const std::string state = sqlstate_of(s);
    if (state == "40001" || state == "40P01") {
      last = s;
      continue;
    }
    return s;
  }
  return last.with_context("postgres: transaction gave up after " +
                           std::to_string(config_.transaction_attempts) + " attempts");
}

Status Pool::migrate(std::string_view component, const std::vector<std::string>& steps) {
  const std::string name(component);
  // The bookkeeping table is shared by every component: create it under a lock of its own, so
  // two nodes doing this at once do not both try (CREATE ... IF NOT EXISTS is not atomic).
  STREAMLET_RETURN_IF_ERROR(with_transaction([](Connection& c) -> Status {
    STREAMLET_RETURN_IF_ERROR(
        c.exec("SELECT pg_advisory_xact_lock(hashtext('streamlet.schema_migrations'))").status());
    return c.exec_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component text NOT NULL,"
        " version integer NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (component, version))");
  }));
  return with_transaction([&](Connection& c) -> Status {
    STREAMLET_RETURN_IF_ERROR(
        c.exec("SELECT pg_advisory_xact_lock(hashtext($1))", {name}).status());
    STREAMLET_ASSIGN_OR_RETURN(
        auto cur, c.exec("SELECT coalesce(max(version), 0) FROM schema_migrations"
                         " WHERE component = $1",
                         {name}));
    const int64_t current = cur.int64(0, 0);
    const int64_t known = static_cast<int64_t>(steps.size());
    // Tables changed by versions we do not know may not mean what this code thinks.
    if (current > known)
      return error(ErrorCode::kUnsupported,
                   display_url_ + ": " + name + " schema version " + std::to_string(current) +
                       " is from a newer Streamlet (this one knows " + std::to_string(known) +
                       "); run that version, or restore a backup made with this one");
    for (int64_t version = current + 1; version <= known; ++version) {
      STREAMLET_RETURN_IF_ERROR(c.exec_script(steps[static_cast<size_t>(version - 1)])
                                    .with_context(name + " migration " + std::to_string(version)));
      STREAMLET_RETURN_IF_ERROR(
          c.exec("INSERT INTO schema_migrations(component, version) VALUES ($1, $2)",
                 {name, version})
              .status());
    }
    return Status::Ok();
  });
}

}  // namespace streamlet::postgres::detail
