// The tests' PostgreSQL: the server tests/support/postgres_server.sh started (CTest fixture
// "postgres"), found through STREAMLET_TEST_POSTGRES (the path of its url file), and a fresh
// database per test case so suites running in parallel never see each other's rows.
//
//   streamlet::test::PostgresDatabase db;
//   STREAMLET_REQUIRE_POSTGRES(db);  // exits 77 with the reason when there is no server
//   auto catalog = streamlet::postgres::open_catalog(db.url());
#pragma once

#include <cstdlib>
#include <random>
#include <string>

#include "postgres/pool.hpp"
#include "support/support.hpp"

namespace streamlet::test {

// The server's URL (its maintenance database), or "" with the reason in `why_not`.
inline std::string postgres_server_url(std::string* why_not) {
  const char* env = std::getenv("STREAMLET_TEST_POSTGRES");
  if (!env || !*env) {
    *why_not =
        "no PostgreSQL test server: STREAMLET_TEST_POSTGRES is not set (run through ctest, "
        "whose postgres:start fixture starts one, or point it at a file holding a URL)";
    return {};
  }
  fs::path url_file(env);
  std::error_code ec;
  if (!fs::exists(url_file, ec)) {
    fs::path note = url_file.parent_path() / "unavailable";
    *why_not = fs::exists(note, ec) ? read_file(note)
                                    : "no PostgreSQL test server: " + url_file.string() +
                                          " does not exist (did postgres:start run?)";
    while (!why_not->empty() && why_not->back() == '\n') why_not->pop_back();
    return {};
  }
  std::string url = read_file(url_file);
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  return url;
}

// "postgresql://u@h:p/olddb?x" with the database replaced by `db`.
inline std::string postgres_url_with_database(const std::string& url, const std::string& db) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return url + "/" + db;
  auto query = url.find('?', slash);
  return url.substr(0, slash + 1) + db + (query == std::string::npos ? "" : url.substr(query));
}

// CREATE DATABASE t_<random> on construction, DROP ... WITH (FORCE) on destruction.
class PostgresDatabase {
 public:
  PostgresDatabase() {
    server_url_ = postgres_server_url(&why_not_);
    if (server_url_.empty()) return;
    auto admin = postgres::detail::Pool::open(server_url_, {.size = 1});
    if (!admin.ok()) {
      why_not_ = "PostgreSQL test server unreachable: " + admin.status().to_string();
      server_url_.clear();
      return;
    }
    admin_ = *admin;
    std::random_device rd;
    std::mt19937_64 rng(rd());
    const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    name_ = "t_";
    for (int i = 0; i < 16; ++i) name_ += alphabet[rng() % 36];
    // A database name cannot be a parameter; this one is made of [a-z0-9_] above.
    auto made = admin_->exec("CREATE DATABASE " + name_);
    REQUIRE_MESSAGE(made.ok(), made.status().to_string());
    url_ = postgres_url_with_database(server_url_, name_);
  }
  ~PostgresDatabase() {
    if (admin_ && !name_.empty())
      (void)admin_->exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;

  bool ok() const { return !url_.empty(); }
  const std::string& why_not() const { return why_not_; }
  const std::string& url() const { return url_; }      // this test's own database
  const std::string& name() const { return name_; }
  // A pool on the server's maintenance database, e.g. to pg_terminate_backend this one's.
  postgres::detail::Pool& admin() { return *admin_; }

 private:
  std::string server_url_;
  std::string why_not_;
  std::string name_;
  std::string url_;
  std::shared_ptr<postgres::detail::Pool> admin_;
};

#define STREAMLET_REQUIRE_POSTGRES(db) \
  do {                                 \
    if (!(db).ok()) STREAMLET_SKIP((db).why_not()); \
  } while (0)

}  // namespace streamlet::test
