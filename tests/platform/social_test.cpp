// Likes and comments over real HTTP, on the embedded backends and on PostgreSQL + S3 (the
// platform suite runs twice): attacks first (anonymous callers, another user's delete, bodies
// that are blank, oversize or not UTF-8, a comment flood, a private video), then what a user
// checks (a like twice counts once, comments newest first, the owner cleans up).
#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

std::string comments_of(const std::string& video) { return "/v1/videos/" + video + "/comments"; }

Answer post_comment(const ServerProcess& s, const std::string& token, const std::string& video,
                    const std::string& body) {
  return call(s, "POST", comments_of(video), token, json{{"body", body}}.dump());
}

}  // namespace

TEST_CASE("social: anonymous callers, bad bodies and a private video are refused") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string v = begin_tus_upload(server, alice, 1000).video_id;
  const std::string like = "/v1/videos/" + v + "/like";

  // Anonymous: 401 with a JSON body for every change; reading a public video's comments is open.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", like}, {"DELETE", like}, {"POST", comments_of(v)},
           {"DELETE", comments_of(v) + "/abcdefghijkl"}}) {
    CAPTURE(method);
    CAPTURE(path);
    auto a = call(server, method, path, "", R"({"body":"hi"})");
    CHECK(a.status == 401);
    CHECK(a.body["code"] == "unauthenticated");
  }
  CHECK(call(server, "GET", comments_of(v)).status == 200);

  // Bodies: blank, too long, control characters, not JSON text, not UTF-8.
  for (const std::string& body :
       {json{{"body", "   \n\t "}}.dump(), json{{"body", std::string(2001, 'x')}}.dump(),
        json{{"body", "ring \x07"}}.dump(), std::string(R"({"body": 42})"),
        std::string(R"({"text":"hi"})"), std::string("{\"body\":\"cut \xC3\"}"),
        std::string(R"({"body":"lone \udc00"})"), std::string("not json")}) {
    CAPTURE(body);
    auto a = call(server, "POST", comments_of(v), bob, body);
    CHECK(a.status == 400);
    CHECK(a.body["code"] == "invalid_argument");
  }
  CHECK(call(server, "GET", comments_of(v), bob).body["total"] == 0);
  CHECK(call(server, "GET", comments_of(v) + "?limit=0", bob).status == 400);
  CHECK(call(server, "GET", comments_of(v) + "?cursor=zz", bob).status == 400);

  // A private video of another user is not there, as the video itself answers.
  REQUIRE(call(server, "PATCH", "/v1/videos/" + v, alice, R"({"visibility":"private"})").status ==
          200);
  CHECK(call(server, "GET", "/v1/videos/" + v, bob).status == 404);
  CHECK(call(server, "PUT", like, bob).status == 404);
  CHECK(post_comment(server, bob, v, "hello?").status == 404);
  CHECK(call(server, "GET", comments_of(v), bob).status == 404);
  CHECK(call(server, "GET", comments_of(v)).status == 404);
  // Its owner and the admin still can.
  CHECK(post_comment(server, alice, v, "note to self").status == 201);
  CHECK(call(server, "PUT", like, "admin-key").status == 200);
  CHECK(call(server, "GET", "/v1/videos/nope12345678/comments", bob).status == 404);
}

TEST_CASE("social: a like twice counts once, the video says so, unlike takes it back") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string v = begin_tus_upload(server, alice, 1000).video_id;
  const std::string like = "/v1/videos/" + v + "/like";

  auto first = call(server, "PUT", like, bob);
  REQUIRE(first.status == 200);
  CHECK(first.body == json{{"likes", 1}, {"liked", true}});
  CHECK(call(server, "PUT", like, bob).body["likes"] == 1);
  CHECK(call(server, "PUT", like, alice).body["likes"] == 2);
  auto seen = call(server, "GET", "/v1/videos/" + v, bob).body;
  CHECK(seen["likes"] == 2);
  CHECK(seen["liked"] == true);
  auto anonymous = call(server, "GET", "/v1/videos/" + v).body;
  CHECK(anonymous["likes"] == 2);
  CHECK_FALSE(anonymous.contains("liked"));
  CHECK(call(server, "GET", "/v1/videos?owner=me", alice).body["items"][0]["likes"] == 2);

  CHECK(call(server, "DELETE", like, bob).body == json{{"likes", 1}, {"liked", false}});
  CHECK(call(server, "DELETE", like, bob).body["likes"] == 1);
  CHECK(call(server, "GET", "/v1/videos/" + v, bob).body["liked"] == false);
}

TEST_CASE("social: comments newest first, load more, deleted by author, owner or admin only") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  const std::string alice = register_user(server, "alice");  // the video's owner
  const std::string bob = register_user(server, "bob");
  const std::string carol = register_user(server, "carol");
  const std::string v = begin_tus_upload(server, alice, 1000).video_id;

  auto made = post_comment(server, bob, v, "  <img src=x onerror=alert(1)> first!  ");
  REQUIRE(made.status == 201);
  CHECK(made.body["body"] == "<img src=x onerror=alert(1)> first!");  // trimmed, kept as text
  CHECK(made.body["author"]["username"] == "bob");
  CHECK(made.body["can_delete"] == true);
  CHECK(made.body["created_at"].get<std::string>().ends_with("Z"));
  const std::string bobs = made.body["id"];
  for (int i = 0; i < 4; ++i) REQUIRE(post_comment(server, carol, v, "c" + std::to_string(i)).status == 201);

  auto page = call(server, "GET", comments_of(v) + "?limit=3", bob).body;
  CHECK(page["total"] == 5);
  REQUIRE(page["items"].size() == 3);
  CHECK(page["items"][0]["body"] == "c3");
  CHECK(page["items"][0]["can_delete"] == false);  // carol's, seen by bob
  REQUIRE(page["next_cursor"].is_string());
  auto more =
      call(server, "GET", comments_of(v) + "?limit=3&cursor=" + page["next_cursor"].get<std::string>(),
           bob)
          .body;
  REQUIRE(more["items"].size() == 2);
  CHECK(more["items"][1]["id"] == bobs);
  CHECK(more["items"][1]["can_delete"] == true);
  CHECK(more["next_cursor"].is_null());
  // The owner may delete every comment on their video.
  for (const auto& c : call(server, "GET", comments_of(v), alice).body["items"])
    CHECK(c["can_delete"] == true);

  // carol may not delete bob's comment: 403, and it stays.
  auto refused = call(server, "DELETE", comments_of(v) + "/" + bobs, carol);
  CHECK(refused.status == 403);
  CHECK(refused.body["code"] == "permission_denied");
  CHECK(call(server, "DELETE", comments_of(v) + "/nope12345678", carol).status == 404);
  CHECK(call(server, "GET", comments_of(v), bob).body["total"] == 5);
  // Its author may; the owner may delete carol's; so may the admin.
  CHECK(call(server, "DELETE", comments_of(v) + "/" + bobs, bob).status == 204);
  CHECK(call(server, "DELETE", comments_of(v) + "/" + bobs, bob).status == 404);
  const std::string c3 = page["items"][0]["id"], c2 = page["items"][1]["id"];
  CHECK(call(server, "DELETE", comments_of(v) + "/" + c3, alice).status == 204);
  CHECK(call(server, "DELETE", comments_of(v) + "/" + c2, "admin-key").status == 204);
  CHECK(call(server, "GET", comments_of(v), bob).body["total"] == 2);

  // Deleting the video takes its comments and likes with it.
  REQUIRE(call(server, "PUT", "/v1/videos/" + v + "/like", bob).status == 200);
  REQUIRE(call(server, "DELETE", "/v1/videos/" + v, alice).status == 204);
  CHECK(call(server, "GET", comments_of(v), alice).status == 404);
}

TEST_CASE("social: a comment flood is 429 with Retry-After, per user, refused bodies not counted") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--likes-per-minute", "5"});
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string v = begin_tus_upload(server, alice, 1000).video_id;

  for (int i = 0; i < 3; ++i) CHECK(post_comment(server, bob, v, "").status == 400);
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(post_comment(server, bob, v, "spam " + std::to_string(i)).status == 201);
  }
  auto flooded = post_comment(server, bob, v, "one more");
  CHECK(flooded.status == 429);
  CHECK(flooded.body["code"] == "rate_limited");
  const int retry = std::stoi(flooded.headers.find("Retry-After")->second);
  CHECK(retry >= 1);
  CHECK(retry <= 60);
  CHECK(post_comment(server, alice, v, "I can still talk").status == 201);  // per user
  CHECK(call(server, "GET", comments_of(v), bob).body["total"] == 11);

  // Likes have their own rate (5 here): toggling is counted too.
  const std::string like = "/v1/videos/" + v + "/like";
  for (int i = 0; i < 5; ++i) CHECK(call(server, i % 2 ? "DELETE" : "PUT", like, bob).status == 200);
  auto too_many = call(server, "PUT", like, bob);
  CHECK(too_many.status == 429);
  CHECK(too_many.headers.count("Retry-After") == 1);
  CHECK(call(server, "PUT", like, alice).status == 200);
}
