// Account settings, the admin's users and the library's listing over real HTTP: attacks first
// (another user's key, a non-admin on admin routes, the last admin, bad sort values), then
// what a user checks (an ended credential gets 401 at once).
#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

std::string login(const ServerProcess& s, const std::string& name, const std::string& password) {
  auto a = call(s, "POST", "/v1/auth/login", "",
                json{{"username", name}, {"password", password}}.dump());
  REQUIRE_MESSAGE(a.status == 200, a.body.dump());
  return a.body["token"].get<std::string>();
}

int status_of(const ServerProcess& s, const std::string& token) {
  return call(s, "GET", "/v1/auth/me", token).status;
}

}  // namespace

TEST_CASE("account: another user's key is 404, a revoked key and sign out everywhere end at once") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string first = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  auto made = call(server, "POST", "/v1/auth/api-keys", first, R"({"name":"ci"})");
  REQUIRE(made.status == 201);
  const std::string key = made.body["key"], key_id = made.body["id"];
  CHECK(key.rfind("sk_", 0) == 0);

  // Bob cannot revoke, or even see, alice's key.
  auto theirs = call(server, "DELETE", "/v1/auth/api-keys/" + key_id, bob);
  CHECK(theirs.status == 404);
  CHECK(theirs.body["code"] == "not_found");
  CHECK(call(server, "GET", "/v1/auth/api-keys", bob).body["items"].empty());
  CHECK(status_of(server, key) == 200);

  // The list shows the key without its secret, with the prefix to recognise it by.
  auto listed = call(server, "GET", "/v1/auth/api-keys", first);
  REQUIRE(listed.body["items"].size() == 1);
  CHECK(listed.body["items"][0]["prefix"] == key.substr(0, 10));
  CHECK(listed.body["items"][0].dump().find(key) == std::string::npos);
  CHECK(listed.body["items"][0]["last_used_at"].is_string());  // used just above

  CHECK(call(server, "DELETE", "/v1/auth/api-keys/" + key_id, first).status == 204);
  CHECK(status_of(server, key) == 401);
  CHECK(call(server, "GET", "/v1/auth/api-keys", first).body["items"].empty());

  // Sign out everywhere: every session of alice ends, bob's do not.
  const std::string second = login(server, "alice", "correct horse");
  auto ended = call(server, "POST", "/v1/auth/logout-all", second);
  REQUIRE(ended.status == 200);
  CHECK(ended.body["ended_sessions"] == 2);
  CHECK(status_of(server, first) == 401);
  CHECK(status_of(server, second) == 401);
  CHECK(status_of(server, bob) == 200);
  CHECK(call(server, "POST", "/v1/auth/logout-all").status == 401);

  // A password change needs the current one and ends the other sessions, not this one.
  const std::string here = login(server, "alice", "correct horse");
  const std::string there = login(server, "alice", "correct horse");
  CHECK(call(server, "POST", "/v1/auth/password", here,
             R"({"current_password":"wrong one!","new_password":"battery staple"})")
            .status == 401);
  CHECK(call(server, "POST", "/v1/auth/password", here,
             R"({"current_password":"correct horse","new_password":"battery staple"})")
            .status == 204);
  CHECK(status_of(server, here) == 200);
  CHECK(status_of(server, there) == 401);
  CHECK(call(server, "POST", "/v1/auth/login", "",
             R"({"username":"alice","password":"correct horse"})")
            .status == 401);
  login(server, "alice", "battery staple");
}

TEST_CASE("admin users: 403 for non-admins, 409 for the last admin, disabled users are refused") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string admin = "admin-key";
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string alice_id = call(server, "GET", "/v1/auth/me", alice).body["user"]["id"];
  const std::string bob_id = call(server, "GET", "/v1/auth/me", bob).body["user"]["id"];
  const std::string admin_id = call(server, "GET", "/v1/auth/me", admin).body["user"]["id"];

  // Non-admins: 403 on every admin route, whatever they ask; anonymous: 401.
  CHECK(call(server, "GET", "/v1/admin/users", bob).status == 403);
  auto promote_self = call(server, "PATCH", "/v1/admin/users/" + bob_id, bob, R"({"role":"admin"})");
  CHECK(promote_self.status == 403);
  CHECK(promote_self.body["code"] == "permission_denied");
  CHECK(call(server, "PATCH", "/v1/admin/users/" + alice_id, bob, R"({"disabled":true})").status ==
        403);
  CHECK(call(server, "GET", "/v1/admin/users").status == 401);
  CHECK(call(server, "GET", "/v1/auth/me", bob).body["user"]["role"] == "user");

  // The last enabled admin can be neither demoted nor disabled.
  for (const char* body : {R"({"role":"user"})", R"({"disabled":true})"}) {
    auto last = call(server, "PATCH", "/v1/admin/users/" + admin_id, admin, body);
    CHECK_MESSAGE(last.status == 409, body);
    CHECK(last.body["code"] == "conflict");
  }
  for (const char* body : {R"({"role":"root"})", R"({"disabled":"yes"})", R"({"name":"x"})", "[1]"})
    CHECK_MESSAGE(call(server, "PATCH", "/v1/admin/users/" + bob_id, admin, body).status == 400,
                  body);
  CHECK(call(server, "PATCH", "/v1/admin/users/nobody", admin, R"({"role":"user"})").status ==
        404);
  CHECK(call(server, "GET", "/v1/admin/users?per_page=x", admin).status == 400);

  auto users = call(server, "GET", "/v1/admin/users", admin);
  REQUIRE(users.status == 200);
  CHECK(users.body["total"] == 3);
  REQUIRE(users.body["items"].size() == 3);
  CHECK(users.body["items"][0]["username"] == "admin");  // oldest first
  CHECK(users.body["items"][1]["disabled"] == false);

  // A disabled user: the session, the key and a new sign-in are all refused at once.
  const std::string key = call(server, "POST", "/v1/auth/api-keys", alice, "{}").body["key"];
  auto off = call(server, "PATCH", "/v1/admin/users/" + alice_id, admin, R"({"disabled":true})");
  REQUIRE(off.status == 200);
  CHECK(off.body["user"]["disabled"] == true);
  CHECK(status_of(server, alice) == 401);  // the session ended
  auto by_key = call(server, "GET", "/v1/auth/me", key);
  CHECK(by_key.status == 403);
  CHECK(by_key.body["error"].get<std::string>().find("disabled") != std::string::npos);
  CHECK(call(server, "POST", "/v1/auth/login", "",
             R"({"username":"alice","password":"correct horse"})")
            .status == 403);
  // A wrong password says nothing about the account.
  CHECK(call(server, "POST", "/v1/auth/login", "", R"({"username":"alice","password":"nope nope"})")
            .status == 401);
  REQUIRE(call(server, "PATCH", "/v1/admin/users/" + alice_id, admin, R"({"disabled":false})")
              .status == 200);
  CHECK(status_of(server, key) == 200);
  CHECK(status_of(server, alice) == 401);  // enabling again does not bring old sessions back
  login(server, "alice", "correct horse");

  // Roles take effect at once; with another admin, the first one may step down.
  REQUIRE(call(server, "PATCH", "/v1/admin/users/" + bob_id, admin, R"({"role":"admin"})").status ==
          200);
  CHECK(call(server, "GET", "/v1/admin/users", bob).status == 200);
  CHECK(call(server, "PATCH", "/v1/admin/users/" + admin_id, bob, R"({"role":"user"})").status ==
        200);
  auto alone = call(server, "PATCH", "/v1/admin/users/" + bob_id, bob, R"({"disabled":true})");
  CHECK(alone.status == 409);
  CHECK(call(server, "GET", "/v1/auth/me", bob).body["user"]["role"] == "admin");
}

TEST_CASE("library: sort and filters are checked, and a failed video can be retried") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder({"--max-attempts", "1"}));
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  std::vector<std::string> ids;
  for (const char* title : {"bravo", "Alpha", "charlie"}) {
    auto up = begin_tus_upload(server, alice, 1000);
    REQUIRE(call(server, "PATCH", "/v1/videos/" + up.video_id, alice,
                 json{{"title", title}, {"visibility", ids.empty() ? "private" : "unlisted"}}.dump())
                .status == 200);
    ids.push_back(up.video_id);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct creation times
  }
  auto titles = [&](const std::string& query) {
    auto a = call(server, "GET", "/v1/videos?owner=me&" + query, alice);
    REQUIRE_MESSAGE(a.status == 200, query << ": " << a.body.dump());
    std::vector<std::string> out;
    for (const auto& v : a.body["items"]) out.push_back(v["title"]);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(titles("sort=title") == V{"Alpha", "bravo", "charlie"});
  CHECK(titles("sort=oldest") == V{"bravo", "Alpha", "charlie"});
  CHECK(titles("sort=newest") == V{"charlie", "Alpha", "bravo"});
  CHECK(titles("") == V{"charlie", "Alpha", "bravo"});
  CHECK(titles("visibility=private") == V{"bravo"});
  CHECK(titles("visibility=unlisted&status=uploading&sort=title") == V{"Alpha", "charlie"});
  CHECK(titles("status=ready").empty());
  for (const char* bad : {"sort=popular", "sort=", "status=done", "visibility=secret"}) {
    auto a = call(server, "GET", std::string("/v1/videos?owner=me&") + bad, alice);
    if (std::string(bad) == "sort=") {
      CHECK(a.status == 200);  // an empty value is no value
      continue;
    }
    CHECK_MESSAGE(a.status == 400, bad);
    CHECK(a.body["code"] == "invalid_argument");
  }

  // Retry: only a failed video, only its owner (or an admin).
  CHECK(call(server, "POST", "/v1/videos/" + ids[0] + "/retry", alice).status == 409);
  write_file(dir / "notes.mp4", "these are notes, not a video\n");
  auto broken = tus_upload(server, alice, dir / "notes.mp4");
  REQUIRE(final_status(follow_events(server, alice, broken.video_id)) == "failed");
  const std::string R = "/v1/videos/" + broken.video_id + "/retry";
  CHECK(call(server, "POST", R, bob).status == 403);  // public: bob may see it, not change it
  CHECK(call(server, "POST", R).status == 401);
  auto job_before = call(server, "GET", "/v1/jobs?state=failed", alice).body["items"];
  REQUIRE(job_before.size() == 1);
  auto again = call(server, "POST", R, alice);
  REQUIRE_MESSAGE(again.status == 200, again.body.dump());
  CHECK(again.body["id"] == broken.video_id);
  // The answer is the video as it is now: queued again, or already taken by the worker, which
  // can probe and fail a file this small before the answer is written.
  const std::string now = again.body["status"];
  CHECK_MESSAGE((now == "queued" || now == "processing" || now == "failed"), now);
  if (now == "queued") CHECK(again.body["status_reason"] == "");
  // The same job runs again and fails the same way.
  REQUIRE(final_status(follow_events(server, alice, broken.video_id)) == "failed");
  wait_for([&] { return call(server, "GET", "/v1/jobs?state=failed", alice).body["items"].size() == 1; });
  CHECK(call(server, "GET", "/v1/jobs?state=failed", alice).body["items"].size() == 1);
  CHECK(call(server, "GET", "/v1/jobs", alice).body["items"].size() == 1);  // the same job
  CHECK(call(server, "POST", R, "admin-key").status == 200);
}
