// A thin layer over libpq shared by the PostgreSQL catalog, job queue and event bus:
// a thread-safe connection pool, parameterised queries, a result wrapper, errors mapped to
// Status by SQLSTATE, transactions with retry on serialization failures, and migrations
// applied once per database under an advisory lock. Internal (streamlet::postgres::detail):
// nothing here is in a public header, so libpq's types stay out of include/streamlet.
//
// SQL is only ever sent with its values as separate parameters (PQexecParams, text format):
// nothing a user typed is spliced into a statement's text.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/status.hpp"

// libpq's own typedefs (libpq-fe.h), repeated so this header needs no libpq include path.
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace streamlet::postgres::detail {

// One query parameter in libpq's text format, or SQL NULL. Built implicitly from strings,
// integers, floating point (shortest round-trip text), bool and std::nullopt; cast in SQL
// where the server cannot infer a type (`$1::bigint`).
class Param {
 public:
  Param(std::nullopt_t) {}  // NOLINT: implicit by design
  Param(std::string_view s) : value_(std::string(s)) {}  // NOLINT
  Param(const std::string& s) : value_(s) {}             // NOLINT
  Param(std::string&& s) : value_(std::move(s)) {}       // NOLINT
  Param(const char* s) : value_(std::string(s)) {}       // NOLINT
  Param(bool b) : value_(b ? "true" : "false") {}        // NOLINT
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Param(T v) : value_(std::to_string(v)) {}  // NOLINT
  template <std::floating_point T>
  Param(T v) : value_(format_double(static_cast<double>(v))) {}  // NOLINT
  template <typename T>
  Param(const std::optional<T>& v) {  // NOLINT
    if (v) *this = Param(*v);
  }

  bool is_null() const { return !value_.has_value(); }
  const std::string& text() const { return *value_; }

 private:
  static std::string format_double(double v);
  std::optional<std::string> value_;
};

using Params = std::vector<Param>;

// A query's result: rows of text values (libpq's text format). Cheap to copy (shared).
// Row and column indexes start at 0; reading out of range is a bug (asserted).
class QueryResult {
 public:
  QueryResult() = default;
  explicit QueryResult(PGresult* res);

  int rows() const;
  int columns() const;
  // The index of the column called `name`, or -1.
  int column(std::string_view name) const;
  // Rows changed by INSERT/UPDATE/DELETE (PQcmdTuples); 0 for other statements.
  int64_t affected() const;

  bool is_null(int row, int col) const;
  std::string_view view(int row, int col) const;  // "" for NULL; valid while this result lives
  std::string text(int row, int col) const { return std::string(view(row, col)); }
  int64_t int64(int row, int col) const;  // 0 for NULL
  double real(int row, int col) const;    // 0 for NULL
  bool boolean(int row, int col) const;   // 't' is true; false for NULL

  // By column name (asserts the column exists).
  bool is_null(int row, std::string_view name) const { return is_null(row, must(name)); }
  std::string text(int row, std::string_view name) const { return text(row, must(name)); }
  int64_t int64(int row, std::string_view name) const { return int64(row, must(name)); }
  double real(int row, std::string_view name) const { return real(row, must(name)); }
  bool boolean(int row, std::string_view name) const { return boolean(row, must(name)); }

 private:
  int must(std::string_view name) const;
  std::shared_ptr<PGresult> res_;
};

// Maps a failed result or connection to a Status naming `what`, libpq's message and the
// SQLSTATE: 23505 unique_violation -> kAlreadyExists; other integrity violations (23xxx) and
// data exceptions (22xxx) -> kInvalidArgument; 40001 serialization_failure and 40P01
// deadlock_detected -> kConflict (with_transaction retries those); 53xxx -> kResourceExhausted;
// 57014 query_canceled -> kCancelled; connection failures (08xxx, 57P0x, no SQLSTATE on a
// broken connection) -> kIo; anything else -> kInternal.
Status status_from_sqlstate(std::string_view sqlstate, std::string message);
// The SQLSTATE a Status made here carries ("" when none): kept in the message as "[23505]".
std::string sqlstate_of(const Status& status);

// One libpq connection. Not thread safe: a Lease gives it to one thread at a time.
class Connection {
 public:
  // Connects to `url` (postgresql://user:pass@host:port/db, or any conninfo libpq takes).
  // kInvalidArgument when libpq refuses the URL; kIo with libpq's message when the server
  // cannot be reached or refuses us.
  static Result<std::unique_ptr<Connection>> connect(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with parameters ($1, $2, ...). Never more than one statement.
  Result<QueryResult> exec(std::string_view sql, const Params& params = {});
  // Statements without parameters, possibly several separated by ';' (migrations, BEGIN).
  // Never pass text derived from user input.
  Status exec_script(std::string_view sql);

  // False once libpq has seen the connection break (the pool then replaces it).
  bool healthy() const;
  // Without blocking: false when the server sent anything while the connection sat idle
  // between queries (a termination notice, EOF) or it is inside a transaction, i.e. it must not
  // be handed out again. Not for LISTENing connections, whose notifications arrive so.
  bool check_idle();
  // The libpq handle, for what this wrapper does not cover (LISTEN sockets, PQnotifies).
  PGconn* native() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Status failure(PGresult* res, std::string_view sql);
  PGconn* conn_;
};

class Pool;

// A connection borrowed from a Pool and given back (or replaced, when broken) on destruction.
// Movable, not copyable. Must not outlive its Pool.
class Lease {
 public:
  Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  Connection& operator*() { return *conn_; }
  Connection* operator->() { return conn_.get(); }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

struct PoolConfig {
  int size = 8;                                         // connections at most, >= 1
  std::chrono::milliseconds acquire_timeout{30'000};    // wait for a free one, then kResourceExhausted
  int transaction_attempts = 5;                         // with_transaction tries at most this often
};

// A fixed-size pool of connections to one database. Thread safe. Connections are opened on
// demand up to `size`; one is opened by open() so a bad URL or an unreachable server is
// reported at once. A connection that broke (the server restarted, pg_terminate_backend) is
// dropped when its lease ends and a fresh one is opened on the next acquire.
class Pool {
 public:
  static Result<std::shared_ptr<Pool>> open(const std::string& url, PoolConfig config = {});
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Result<Lease> acquire();

  // acquire() + Connection::exec, for single statements outside a transaction.
  Result<QueryResult> exec(std::string_view sql, const Params& params = {});

  // BEGIN; fn(conn); COMMIT, rolled back when fn returns an error (which is returned). Retried
  // from the start, on a fresh BEGIN, when the database reports a serialization failure or a
  // deadlock (40001, 40P01), or when the connection broke before COMMIT was sent (the server
  // rolled it back); never when COMMIT itself was lost (its outcome is unknown: kIo). fn
  // must therefore only have effects through `conn` (or be safe to repeat).
  // `isolation`: "" (the server's default, READ COMMITTED) or e.g. "SERIALIZABLE".
  Status with_transaction(const std::function<Status(Connection&)>& fn,
                          std::string_view isolation = {});

  // Applies steps[i] for every version i+1 of `component` not recorded in
  // schema_migrations(component, version), all in one transaction holding
  // pg_advisory_xact_lock(hashtext(component)): nodes starting at once on an empty database
  // apply each step exactly once, the others wait and then find it done. A database with a
  // version above steps.size() was migrated by a newer Streamlet: kUnsupported, nothing changed.
  // Steps are constant SQL (several statements allowed), never user input.
  Status migrate(std::string_view component, const std::vector<std::string>& steps);

  // A connection of its own, outside the pool's count (for LISTEN, which holds a connection).
  Result<std::unique_ptr<Connection>> connect_dedicated() const { return Connection::connect(url_); }

  // The URL with any password replaced by "***", for messages and logs.
  const std::string& display_url() const { return display_url_; }
  int size() const { return config_.size; }

 private:
  friend class Lease;
  Pool(std::string url, PoolConfig config);
  void give_back(std::unique_ptr<Connection> conn);

  std::string url_;
  std::string display_url_;
  PoolConfig config_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;  // connections that exist: idle + leased + being opened
};

// The URL with the password hidden ("postgresql://u:***@h:5432/db").
std::string redact_url(std::string_view url);

}  // namespace streamlet::postgres::detail
