// Every route tried as anonymous, as another user, as the owner and as admin.
#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

struct Row {
  std::string method;
  std::string path;
  std::string body;
  int anonymous, other, owner, admin;
};

}  // namespace

TEST_CASE("authorization matrix: anonymous, another user, owner, admin") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string admin = "admin-key";
  auto priv = tus_upload(server, alice, clip_small(), {{"visibility", "private"}});
  auto pub = tus_upload(server, alice, clip_small(), {{"title", "Public one"}});
  REQUIRE(final_status(follow_events(server, alice, priv.video_id)) == "ready");
  REQUIRE(final_status(follow_events(server, alice, pub.video_id)) == "ready");
  // The videos turn ready just before their jobs are completed: wait for both to be done.
  wait_for(
      [&] { return call(server, "GET", "/v1/jobs?state=done", alice).body["items"].size() == 2; });
  auto alice_jobs = call(server, "GET", "/v1/jobs", alice);
  REQUIRE(alice_jobs.body["items"].size() == 2);
  const std::string job = alice_jobs.body["items"][0]["id"];
  CHECK(call(server, "GET", "/v1/jobs", bob).body["items"].empty());  // not bob's business
  CHECK(call(server, "GET", "/v1/jobs", admin).body["items"].size() == 2);

  const std::string P = "/v1/videos/" + priv.video_id, U = "/v1/videos/" + pub.video_id;
  const std::vector<Row> rows = {
      {"GET", "/v1/auth/me", "", 401, 200, 200, 200},
      {"GET", "/v1/auth/api-keys", "", 401, 200, 200, 200},
      {"POST", "/v1/auth/api-keys", R"({"name":"ci"})", 401, 201, 201, 201},
      {"GET", "/v1/videos", "", 200, 200, 200, 200},
      {"GET", "/v1/videos?owner=me", "", 401, 200, 200, 200},
      {"GET", P, "", 404, 404, 200, 200},
      {"GET", U, "", 200, 200, 200, 200},
      {"PATCH", P, R"({"description":"x"})", 404, 404, 200, 200},
      {"PATCH", U, R"({"description":"y"})", 401, 403, 200, 200},
      {"GET", P + "/stats", "", 404, 404, 200, 200},
      {"GET", U + "/stats", "", 401, 403, 200, 200},
      {"POST", P + "/views", R"({"viewer":"a","seconds":1})", 404, 404, 204, 204},
      {"POST", U + "/views", R"({"viewer":"b","seconds":1})", 204, 204, 204, 204},
      {"GET", P + "/events", "", 404, 404, 200, 200},
      {"GET", U + "/events", "", 200, 200, 200, 200},
      {"GET", "/v1/jobs", "", 401, 200, 200, 200},
      {"POST", "/v1/jobs/" + job + "/retry", "", 401, 404, 409, 409},
      {"POST", "/v1/jobs/" + job + "/cancel", "", 401, 404, 409, 409},
      {"HEAD", priv.upload_path, "", 401, 403, 200, 200},
      {"GET", "/media/" + priv.video_id + "/master.m3u8", "", 403, 403, 403, 403},
      {"GET", "/media/" + pub.video_id + "/master.m3u8", "", 200, 200, 200, 200},
      {"GET", "/healthz", "", 200, 200, 200, 200},
      {"GET", "/readyz", "", 200, 200, 200, 200},
  };
  const std::vector<std::pair<std::string, std::string>> who = {
      {"anonymous", ""}, {"other", bob}, {"owner", alice}, {"admin", admin}};
  for (const auto& row : rows) {
    const int expected[] = {row.anonymous, row.other, row.owner, row.admin};
    for (size_t i = 0; i < who.size(); ++i) {
      CAPTURE(row.method);
      CAPTURE(row.path);
      CAPTURE(who[i].first);
      std::string path = row.path;
      auto a = path.rfind("/v1/uploads/", 0) == 0
                   ? [&] {
                       httplib::Headers h = bearer(who[i].second);
                       h.emplace("Tus-Resumable", "1.0.0");
                       auto r = server.client().Head(path.c_str(), h);
                       REQUIRE(r);
                       return Answer{r->status, {}, r->headers};
                     }()
                   : call(server, row.method, path, who[i].second, row.body);
      CHECK(a.status == expected[i]);
      if (a.status >= 400 && row.method != "HEAD" && path.rfind("/media/", 0) != 0) {
        CHECK(a.body.contains("error"));
        CHECK(a.body.contains("code"));
      }
    }
  }

  // Creating an upload needs an account.
  for (size_t i = 0; i < who.size(); ++i) {
    CAPTURE(who[i].first);
    httplib::Headers h = bearer(who[i].second);
    h.emplace("Tus-Resumable", "1.0.0");
    h.emplace("Upload-Length", "10");
    auto r = server.client().Post("/v1/uploads", h, std::string(), "");
    REQUIRE(r);
    CHECK(r->status == (i == 0 ? 401 : 201));
  }

  // Destructive routes last: strangers first (refused, nothing changes), then the owner/admin.
  auto key = call(server, "POST", "/v1/auth/api-keys", alice, R"({"name":"temp"})");
  const std::string key_path = "/v1/auth/api-keys/" + key.body["id"].get<std::string>();
  CHECK(call(server, "DELETE", key_path, "").status == 401);
  CHECK(call(server, "DELETE", key_path, bob).status == 404);
  CHECK(call(server, "GET", "/v1/auth/me", key.body["key"].get<std::string>()).status == 200);
  CHECK(call(server, "DELETE", key_path, alice).status == 204);
  CHECK(call(server, "GET", "/v1/auth/me", key.body["key"].get<std::string>()).status == 401);

  CHECK(call(server, "DELETE", P, "").status == 404);
  CHECK(call(server, "DELETE", P, bob).status == 404);
  CHECK(call(server, "DELETE", U, "").status == 401);
  CHECK(call(server, "DELETE", U, bob).status == 403);
  CHECK(call(server, "GET", U, "").status == 200);
  streamlet::storage::Storage& stored = backends_of(dir / "data").storage();
  CHECK(has_objects(stored, "media/" + priv.video_id + "/"));
  CHECK(call(server, "DELETE", P, alice).status == 204);
  CHECK(call(server, "DELETE", U, admin).status == 204);
  for (const auto& v : {priv, pub}) {
    CHECK(call(server, "GET", "/v1/videos/" + v.video_id, admin).status == 404);
    CHECK_FALSE(has_objects(stored, "media/" + v.video_id + "/"));
    const std::string bin = "uploads/" + v.upload_path.substr(v.upload_path.rfind('/') + 1) + ".bin";
    CHECK(stored.stat(bin).status().code() == streamlet::ErrorCode::kNotFound);
    CHECK(server.client().Get(("/media/" + v.video_id + "/master.m3u8").c_str())->status == 404);
  }
}
