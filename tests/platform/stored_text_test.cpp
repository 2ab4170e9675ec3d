// User text is checked at every door of the API, text stored before that check existed still
// lists, and small answers do not leak: paging arithmetic, and 404s for other people's jobs.
#include "catalog/sqlite_db.hpp"
#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

// The raw bytes of `text` as a SQLite blob literal cast to text (x'..'), for writing bytes
// no API would accept.
std::string sql_text(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "CAST(x'";
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out + "' AS TEXT)";
}

void exec_sql(const fs::path& db_path, const std::string& sql) {
  auto db = streamlet::detail::sql::Db::open(db_path.string());
  REQUIRE(db.ok());
  auto s = (*db)->exec(sql);
  REQUIRE_MESSAGE(s.ok(), s.to_string());
}

}  // namespace

TEST_CASE("titles and names stored before UTF-8 was checked still list, with U+FFFD") {
  // Such rows are in SQLite files older versions wrote; a PostgreSQL database (UTF8) has
  // never taken bytes that are not UTF-8, so there is nothing of the kind to read there.
  if (kPlatformOnPgS3) STREAMLET_SKIP("SQLite only: PostgreSQL refuses invalid UTF-8 in text");
  TempDir dir;
  const fs::path data = dir / "data";
  ServerProcess server(data, "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  // A creation without bytes: the video stays "uploading", in alice's library.
  auto c = server.client();
  httplib::Headers h = bearer(alice);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", "100");
  h.emplace("Upload-Metadata", streamlet::upload::format_metadata({{"title", "fine"}}));
  auto created = c.Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const std::string id = created->get_header_value("Streamlet-Video-Id");
  REQUIRE(server.stop_with(SIGTERM) == 0);

  const std::string bad_title = sql_text("bad \xFF\xFE title");
  const std::string bad_description = sql_text("lone \xED\xA0\x80 surrogate");
  const std::string bad_name = sql_text("al\xC0\xAFice");
  exec_sql(data / "catalog.db",
           "UPDATE videos SET title = " + bad_title + ", description = " + bad_description +
               "; UPDATE users SET username = " + bad_name + " WHERE username = 'alice'");
  server.restart();
  auto list = call(server, "GET", "/v1/videos", alice);
  REQUIRE(list.status == 200);
  REQUIRE(list.body["items"].size() == 1);
  CHECK(list.body["items"][0]["title"] == "bad \xEF\xBF\xBD\xEF\xBF\xBD title");
  CHECK(list.body["items"][0]["owner"]["username"] == "al\xEF\xBF\xBD\xEF\xBF\xBDice");
  auto one = call(server, "GET", "/v1/videos/" + id, alice);
  CHECK(one.status == 200);
  CHECK(one.body["description"] == "lone \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD surrogate");
  CHECK(call(server, "GET", "/v1/videos", "admin-key").status == 200);
  CHECK(call(server, "GET", "/v1/auth/me", alice).status == 200);
  // The owner can repair it through the API.
  auto fixed = call(server, "PATCH", "/v1/videos/" + id, alice, R"({"title":"good title"})");
  CHECK(fixed.status == 200);
  CHECK(fixed.body["title"] == "good title");
}

TEST_CASE("user text is checked at every door: JSON bodies, query strings, key names") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  auto up = tus_upload(server, alice, clip_small(), {{"title", "Holiday"}});
  const std::string V = "/v1/videos/" + up.video_id;
  auto before = call(server, "GET", V, alice);

  auto refused = [](const Answer& a, const std::string& field) {
    CHECK(a.status == 400);
    CHECK(a.body["code"] == "invalid_argument");
    CHECK_MESSAGE(a.body["error"].get<std::string>().find(field) != std::string::npos,
                  a.body.dump());
  };
  // JSON escapes decode to control characters nlohmann accepts; raw bad bytes it refuses.
  refused(call(server, "PATCH", V, alice, R"({"title":"ring \u0007 bell"})"), "title");
  refused(call(server, "PATCH", V, alice, R"({"title":"new\nline"})"), "title");
  refused(call(server, "PATCH", V, alice, R"({"title":"nul \u0000"})"), "title");
  refused(call(server, "PATCH", V, alice, R"({"description":"\u001b[2J clear"})"), "description");
  CHECK(call(server, "PATCH", V, alice, "{\"title\":\"raw \xFF\"}").status == 400);
  CHECK(call(server, "PATCH", V, alice, R"({"title":"\ud800 lone"})").status == 400);
  refused(call(server, "POST", "/v1/auth/api-keys", alice, R"({"name":"key \u001b[31m"})"), "name");
  refused(call(server, "POST", "/v1/auth/register", "",
               R"({"username":"b\u00f6b","password":"correct horse"})"),
          "username");
  // Query strings are percent-decoded bytes: they are checked too, and an error that echoes
  // one never breaks the JSON answer.
  refused(call(server, "GET", "/v1/videos?q=caf%E9", alice), "q");
  refused(call(server, "GET", "/v1/videos?q=a%00b", alice), "q");
  refused(call(server, "GET", "/v1/videos?status=%FF%FE", alice), "status");
  refused(call(server, "GET", "/v1/jobs?state=%C0%AF", alice), "state");
  CHECK(call(server, "POST", "/v1/jobs/%FF/retry", alice).status == 404);

  // Good text in every script passes; a description keeps its lines.
  auto ok = call(server, "PATCH", V, alice,
                 json{{"title", "\xE6\x97\xA5\xE6\x9C\xAC Köln \xF0\x9F\x8E\xAC"},
                      {"description", "line one\nline two\ttab"}}
                     .dump());
  CHECK(ok.status == 200);
  CHECK(ok.body["description"] == "line one\nline two\ttab");
  auto found = call(server, "GET", "/v1/videos?q=K%C3%B6ln", alice);
  CHECK(found.status == 200);
  CHECK(found.body["total"] == 1);
}

TEST_CASE("a page far past the end is an empty page, not an overflow") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  tus_upload(server, alice, clip_small());
  for (std::string query : {"page=2147483647", "page=2147483647&per_page=100",
                            "page=1073741825&per_page=2", "page=21474837&per_page=100"}) {
    CAPTURE(query);
    auto a = call(server, "GET", "/v1/videos?" + query, alice);
    CHECK(a.status == 200);
    CHECK(a.body["items"].empty());
    CHECK(a.body["total"] == 1);
    CHECK(a.body["page"].get<int64_t>() > 1);
  }
  for (std::string query : {"page=0", "page=-1", "page=99999999999", "per_page=101",
                            "per_page=2147483647", "page=1e3"}) {
    CAPTURE(query);
    auto a = call(server, "GET", "/v1/videos?" + query, alice);
    CHECK(a.status == 400);
    CHECK(a.body["code"] == "invalid_argument");
  }
}

TEST_CASE("a job of someone else's private video is a 404 that names only the job asked for") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder({"--max-attempts", "1"}));
  const std::string bob = register_user(server, "bob");
  const std::string alice = register_user(server, "alice");
  write_file(dir / "notes.mp4", "not a video at all\n");
  auto up = tus_upload(server, bob, dir / "notes.mp4", {{"visibility", "private"}});
  REQUIRE(final_status(follow_events(server, bob, up.video_id)) == "failed");
  auto jobs = call(server, "GET", "/v1/jobs", bob);
  REQUIRE(jobs.body["items"].size() == 1);
  const std::string job_id = jobs.body["items"][0]["id"];

  for (std::string action : {"retry", "cancel"}) {
    CAPTURE(action);
    auto a = call(server, "POST", "/v1/jobs/" + job_id + "/" + action, alice);
    CHECK(a.status == 404);
    CHECK(a.body["code"] == "not_found");
    const std::string message = a.body["error"];
    CHECK_MESSAGE(message.find(up.video_id) == std::string::npos, message);
    // Exactly what an id that does not exist gets.
    auto unknown = call(server, "POST", "/v1/jobs/doesnotexist/" + action, alice);
    CHECK(unknown.status == 404);
    std::string expected = unknown.body["error"];
    expected.replace(expected.find("doesnotexist"), 12, job_id);
    CHECK(message == expected);
  }
  CHECK(call(server, "GET", "/v1/jobs", alice).body["items"].empty());
  // The owner still may.
  CHECK(call(server, "POST", "/v1/jobs/" + job_id + "/retry", bob).status == 200);
}
