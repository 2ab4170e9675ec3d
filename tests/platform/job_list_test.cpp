// GET /v1/jobs pages through every job with a cursor: a user's jobs are found however many
// jobs others have, and a page size past the maximum is refused rather than clamped.
#include <set>

#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

// `n` finished jobs of `owner` (no worker touches them), written as a busy queue would hold
// them, in one statement both the SQLite and the PostgreSQL queue's table take.
void add_jobs(const fs::path& data, const std::string& owner, const std::string& video, int n) {
  std::string sql =
      "INSERT INTO jobs(id, kind, video_id, owner_id, payload, state, max_attempts,"
      " run_at_ms, created_at_ms, updated_at_ms) VALUES";
  for (int i = 0; i < n; ++i)
    sql += std::string(i ? "," : "") + "('" + owner.substr(0, 4) + std::to_string(i) +
           "', 'transcode', '" + video + "', '" + owner + "', '{}', 'succeeded', 3, 0, 1, 1)";
  auto s = backends_of(data).exec_catalog_sql(sql);
  REQUIRE_MESSAGE(s.ok(), s.to_string());
}

std::string user_id(const ServerProcess& s, const std::string& token) {
  auto me = call(s, "GET", "/v1/auth/me", token);
  REQUIRE(me.status == 200);
  return me.body["user"]["id"];
}

// A video that stays "uploading" (a creation without bytes), so no worker runs for it.
std::string empty_video(const ServerProcess& s, const std::string& token) {
  auto c = s.client();
  httplib::Headers h = bearer(token);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", "100");
  auto created = c.Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  return created->get_header_value("Streamlet-Video-Id");
}

// Every job `token` sees, following next_cursor; returns the ids and counts the pages.
std::vector<std::string> all_pages(const ServerProcess& s, const std::string& token,
                                   const std::string& query, int* pages) {
  std::vector<std::string> ids;
  std::string cursor;
  *pages = 0;
  while (true) {
    std::string path = "/v1/jobs?" + query;
    if (!cursor.empty()) path += "&cursor=" + cursor;
    auto a = call(s, "GET", path, token);
    REQUIRE_MESSAGE(a.status == 200, a.body.dump());
    ++*pages;
    for (const auto& j : a.body["items"]) ids.push_back(j["id"]);
    if (a.body["next_cursor"].is_null()) break;
    cursor = a.body["next_cursor"];
    REQUIRE(*pages < 100);
  }
  return ids;
}

}  // namespace

TEST_CASE("GET /v1/jobs pages through all of a user's jobs, however many others have") {
  TempDir dir;
  const fs::path data = dir / "data";
  ServerProcess server(data, "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string alice_id = user_id(server, alice);
  const std::string bob_id = user_id(server, bob);
  // bob's 3 jobs are the oldest; alice's 2,100 newer ones would hide them from a capped scan.
  add_jobs(data, bob_id, empty_video(server, bob), 3);
  add_jobs(data, alice_id, empty_video(server, alice), 2'100);

  int pages = 0;
  auto bobs = all_pages(server, bob, "limit=1000", &pages);
  CHECK(bobs.size() == 3);
  CHECK(pages == 1);
  auto alices = all_pages(server, alice, "state=done&limit=1000", &pages);
  CHECK(alices.size() == 2'100);
  CHECK(pages == 3);
  CHECK(std::set<std::string>(alices.begin(), alices.end()).size() == 2'100);
  // The admin sees everyone's, 100 a page by default.
  auto everything = all_pages(server, server.api_key(), "", &pages);
  CHECK(everything.size() == 2'103);
  CHECK(pages == 22);
  REQUIRE(!everything.empty());
  REQUIRE(!bobs.empty());
  CHECK(everything.back() == bobs.back());  // newest first: bob's oldest job comes last
}

TEST_CASE("GET /v1/jobs refuses a page size past 1000 and a malformed cursor") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  for (std::string query : {"limit=1001", "limit=0", "limit=-3", "limit=abc", "limit=99999999999",
                            "cursor=abc", "cursor=0", "cursor=%FF", "cursor=1e3"}) {
    CAPTURE(query);
    auto a = call(server, "GET", "/v1/jobs?" + query, alice);
    CHECK(a.status == 400);
    CHECK(a.body["code"] == "invalid_argument");
  }
  auto ok = call(server, "GET", "/v1/jobs?limit=1000", alice);
  CHECK(ok.status == 200);
  CHECK(ok.body["items"].empty());
  CHECK(ok.body["next_cursor"].is_null());
}

TEST_CASE("GET /metrics counts every job past 10,000, by state") {
  TempDir dir;
  const fs::path data = dir / "data";
  ServerProcess server(data, "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  add_jobs(data, user_id(server, alice), empty_video(server, alice), 12'000);
  auto c = server.client();
  auto r = c.Get("/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK_MESSAGE(r->body.find("\nstreamlet_jobs{state=\"succeeded\"} 12000\n") != std::string::npos,
                r->body.substr(0, 3000));
  CHECK(r->body.find("\nstreamlet_jobs{state=\"queued\"} 0\n") != std::string::npos);
  CHECK(r->body.find("\nstreamlet_queue_depth 0\n") != std::string::npos);
}
