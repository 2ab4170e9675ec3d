// Stored state is checked when the server starts: a data directory with a corrupt file makes
// streamlet-server exit non-zero with one line naming the file and what is wrong, never an
// abort and never a silent re-initialisation that loses every user and video.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "catalog/sqlite_db.hpp"
#include "tus_helpers.hpp"

using namespace streamlet::test;
using json = nlohmann::json;

namespace {

struct StartAttempt {
  bool started = false;            // it printed "listening" (and was stopped again by the test)
  int exit_code = -1;              // 128 + signal when it died of one
  std::vector<std::string> lines;  // what it printed, one entry per line
};

// Runs streamlet-server on `data` and waits up to 20 s for it to either listen or exit.
StartAttempt try_start(const fs::path& data, std::vector<std::string> extra = {},
                       bool with_api_key = true) {
  std::vector<std::string> argv = {server_path().string(), "--listen", "127.0.0.1:0", "--data",
                                   data.string()};
  if (with_api_key) argv.insert(argv.end(), {"--api-key", "test-key"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  static int attempt = 0;
  Child child(argv, data.parent_path() / ("attempt-" + std::to_string(++attempt) + ".log"));
  StartAttempt out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (child.running() && std::chrono::steady_clock::now() < deadline) {
    if (child.output().find("listening on") != std::string::npos) {
      out.started = true;
      child.stop(SIGTERM);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (child.running()) child.stop(SIGKILL);
  out.exit_code = child.wait();
  std::istringstream text(child.output());
  for (std::string line; std::getline(text, line);)
    if (!line.empty()) out.lines.push_back(line);
  return out;
}

// A data directory a server has run on (users, secrets, catalog), stopped cleanly.
void prepare(const fs::path& data) {
  ServerProcess server(data);
  auto res = server.client().Post("/v1/auth/register",
                                  json{{"username", "alice"}, {"password", "correct horse"}}.dump(),
                                  "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  REQUIRE(WIFEXITED(server.stop_with(SIGTERM)));
}

// Refused: a normal exit with a failure code (not a signal), one line naming `file` and `what`.
void check_refused(const StartAttempt& a, const std::string& file, const std::string& what) {
  CHECK_FALSE(a.started);
  CHECK_MESSAGE(a.exit_code == 2, "exit code " << a.exit_code);
  REQUIRE(a.lines.size() == 1);
  const std::string& line = a.lines[0];
  CHECK(line.rfind("streamlet-server: ", 0) == 0);
  CHECK_MESSAGE(line.find(file) != std::string::npos, line);
  CHECK_MESSAGE(line.find(what) != std::string::npos, line);
}

void set_secret(const fs::path& data, const std::string& name, const json& value) {
  auto secrets = json::parse(read_file(data / "secrets"));
  secrets[name] = value;
  write_file(data / "secrets", secrets.dump());
}

}  // namespace

TEST_CASE("a secrets file whose token_secret is a number is refused at start, not an abort") {
  TempDir dir;
  prepare(dir / "data");
  set_secret(dir / "data", "token_secret", 12345);
  check_refused(try_start(dir / "data"), (dir / "data" / "secrets").string(), "token_secret");
}

TEST_CASE("an emptied or truncated api-key file is refused, not replaced by a new admin key") {
  TempDir dir;
  // A first start without --api-key generates the admin key and stores it.
  const auto first = try_start(dir / "data", {}, /*with_api_key=*/false);
  REQUIRE(first.started);
  const std::string key = read_file(dir / "data" / "api-key");
  REQUIRE(key.size() > 16);
  // The file is written whole (temp file, fsync, rename): empty or cut short, someone broke it.
  for (const std::string broken : {std::string(), std::string("\n"), key.substr(0, 5)}) {
    CAPTURE(broken);
    write_file(dir / "data" / "api-key", broken);
    check_refused(try_start(dir / "data", {}, false), (dir / "data" / "api-key").string(),
                  "api-key");
    CHECK(read_file(dir / "data" / "api-key") == broken);  // left as it was, for inspection
  }
  // Removing it is how to get a new key.
  fs::remove(dir / "data" / "api-key");
  CHECK(try_start(dir / "data", {}, false).started);
  CHECK(read_file(dir / "data" / "api-key") != key);
}

TEST_CASE("an empty or missing signing key is refused at start") {
  TempDir dir;
  prepare(dir / "data");
  set_secret(dir / "data", "signing_key", "");
  check_refused(try_start(dir / "data"), (dir / "data" / "secrets").string(), "signing_key");
  auto secrets = json::parse(read_file(dir / "data" / "secrets"));
  secrets.erase("signing_key");
  write_file(dir / "data" / "secrets", secrets.dump());
  check_refused(try_start(dir / "data"), (dir / "data" / "secrets").string(), "signing_key");
}

TEST_CASE("a webhook journal line with the wrong types is refused at start, naming the line") {
  TempDir dir;
  prepare(dir / "data");
  fs::create_directories(dir / "data" / "webhooks");
  const fs::path journal = dir / "data" / "webhooks" / "webhooks.jsonl";
  write_file(journal, R"({"op":"add","id":1,"url":"http://127.0.0.1:9/hook","event":"video.ready",)"
                      R"("body":"{}","attempts":0,"due_ms":0})"
                      "\n"
                      R"({"op":"add","id":"seven","url":"http://127.0.0.1:9/hook"})"
                      "\n");
  // (A secret of its own, so the refusal is the only line it prints.)
  auto a = try_start(dir / "data",
                     {"--webhook", "http://127.0.0.1:9/hook", "--webhook-secret", "own"});
  check_refused(a, journal.string(), "line 2");
  // Left as it was, for the operator to look at.
  CHECK(read_file(journal).find("seven") != std::string::npos);

  // A torn last line (a crash in the middle of an append) is not corruption: it is skipped.
  write_file(journal, R"({"op":"add","id":1,"url":"http://127.0.0.1:9/hook","eve)");
  const auto fixed = try_start(dir / "data", {"--webhook", "http://127.0.0.1:9/hook"});
  CHECK(fixed.started);
  // Without --webhook-secret the deliveries are signed with the catalog's secret, which the
  // node that made it shows once.
  CHECK(std::any_of(fixed.lines.begin(), fixed.lines.end(), [](const std::string& l) {
    return l.find("generated webhook secret ") != std::string::npos;
  }));
}

TEST_CASE("a zero-length catalog file in a used data directory is refused, not re-initialised") {
  TempDir dir;
  prepare(dir / "data");
  const fs::path catalog = dir / "data" / "catalog.db";
  for (const char* side : {"-wal", "-shm"}) fs::remove(catalog.string() + side);
  write_file(catalog, "");
  check_refused(try_start(dir / "data"), catalog.string(), "empty");
  CHECK(fs::file_size(catalog) == 0);  // untouched: the operator restores it

  // A new data directory still starts, and so does one whose first start died before the
  // catalog was written (nothing else there yet).
  CHECK(try_start(dir / "fresh").started);
  fs::create_directories(dir / "interrupted");
  write_file(dir / "interrupted" / "catalog.db", "");
  CHECK(try_start(dir / "interrupted").started);
}

TEST_CASE("a catalog from a newer version (unknown schema_version) is refused at start") {
  TempDir dir;
  prepare(dir / "data");
  const fs::path catalog = dir / "data" / "catalog.db";
  {
    auto db = streamlet::detail::sql::Db::open(catalog.string());
    REQUIRE(db.ok());
    REQUIRE((*db)->exec("UPDATE schema_version SET version = 99 WHERE component = 'catalog'").ok());
  }
  check_refused(try_start(dir / "data"), catalog.string(), "schema version 99");
}

TEST_CASE("a catalog file that is not a database is refused with its name") {
  TempDir dir;
  prepare(dir / "data");
  const fs::path catalog = dir / "data" / "catalog.db";
  for (const char* side : {"-wal", "-shm"}) fs::remove(catalog.string() + side);
  write_file(catalog, std::string(8192, 'x'));
  check_refused(try_start(dir / "data"), catalog.string(), "not a database");
}
