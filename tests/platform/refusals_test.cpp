// Bad requests get their 4xx with a JSON error and change nothing: tampered or expired
// signed URLs, path traversal on /media, malformed JSON, oversize bodies, unknown ids,
// wrong methods.
#include <ctime>

#include "platform_helpers.hpp"
#include "streamlet/origin.hpp"

using namespace streamlet::test;

namespace {

void check_error_body(const Answer& a) {
  CHECK(a.body.is_object());
  CHECK(a.body.contains("error"));
  CHECK(a.body.contains("code"));
}

int get_status(const ServerProcess& s, const std::string& path) {
  auto r = s.client().Get(path.c_str());
  REQUIRE(r);
  CHECK(r->body.find("SQLite format") == std::string::npos);
  CHECK(r->body.find("signing_key") == std::string::npos);
  return r->status;
}

}  // namespace

TEST_CASE("refused requests get their 4xx and leave state unchanged") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  auto priv = tus_upload(server, alice, clip_small(), {{"visibility", "private"}, {"title", "T"}});
  auto pub = tus_upload(server, alice, clip_small(), {{"title", "P"}});
  REQUIRE(final_status(follow_events(server, alice, priv.video_id)) == "ready");
  REQUIRE(final_status(follow_events(server, alice, pub.video_id)) == "ready");
  const std::string P = "/v1/videos/" + priv.video_id;
  auto before = call(server, "GET", P, alice);
  std::string hls = before.body["playback"]["hls"];
  REQUIRE(get_status(server, hls) == 200);

  SUBCASE("signed URLs: tampered, expired, or for another video -> 403") {
    std::string bare = hls.substr(0, hls.find('?'));
    std::string query = hls.substr(hls.find('?') + 1);
    std::string tampered = hls;
    char& last = tampered.back();
    last = last == 'A' ? 'B' : 'A';
    CHECK(get_status(server, tampered) == 403);
    auto exp_at = query.find("exp=") + 4;
    std::string later = query;
    later[exp_at] = later[exp_at] == '9' ? '8' : char(later[exp_at] + 1);
    CHECK(get_status(server, bare + "?" + later) == 403);
    // A correctly signed URL that has expired (signed with the server's own key).
    const std::string signing_key = backends_of(dir / "data").signing_key();
    auto expired = streamlet::origin::sign(priv.video_id, std::time(nullptr) - 60,
                                           signing_key);
    REQUIRE(expired.ok());
    CHECK(get_status(server, bare + "?" + *expired) == 403);
    auto other = streamlet::origin::sign(pub.video_id, std::time(nullptr) + 600,
                                         signing_key);
    CHECK(get_status(server, bare + "?" + *other) == 403);
    CHECK(get_status(server, hls) == 200);
  }

  SUBCASE("path traversal on /media -> 404") {
    for (const std::string& id : {pub.video_id, priv.video_id}) {
      for (std::string rest :
           {"..%2f..%2fcatalog.db", "..%2F..%2Fsecrets", "%2e%2e/%2e%2e/catalog.db",
            "..%252f..%252fcatalog.db", "240p/..%2f..%2f..%2fsecrets", "%2fetc%2fpasswd",
            "summary.json", ".hidden/master.m3u8"}) {
        CAPTURE(rest);
        CHECK(get_status(server, "/media/" + id + "/" + rest) == 404);
      }
    }
    CHECK(get_status(server, "/media/..%2f..%2fcatalog.db/x") == 404);
    CHECK(get_status(server, "/media/nope/master.m3u8") == 404);
  }

  SUBCASE("malformed JSON -> 400, oversize -> 413; nothing changes") {
    for (std::string body : {"{bad", "[1,2]", "\"title\"", R"({"title":5})",
                                    R"({"visibility":"secret"})", R"({"owner":"x"})"}) {
      CAPTURE(body);
      auto a = call(server, "PATCH", P, alice, body);
      CHECK(a.status == 400);
      check_error_body(a);
    }
    auto big =
        call(server, "PATCH", P, alice, json{{"title", std::string(200 * 1024, 'x')}}.dump());
    CHECK(big.status == 413);
    check_error_body(big);
    CHECK(call(server, "POST", "/v1/auth/register", "", "{nope").status == 400);
    CHECK(call(server, "POST", "/v1/auth/login", "", "").status == 400);
    CHECK(call(server, "POST", P + "/views", alice, "{x").status == 400);
    CHECK(call(server, "POST", P + "/views", alice, R"({"seconds":-3})").status == 400);
    auto after = call(server, "GET", P, alice);
    CHECK(after.body["title"] == before.body["title"]);
    CHECK(after.body["visibility"] == "private");
    CHECK(after.body["updated_at"] == before.body["updated_at"]);
    CHECK(call(server, "GET", P + "/stats", alice).body["views"] == 0);
  }

  SUBCASE("unknown ids -> 404, wrong methods -> 405") {
    for (auto [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/videos/nope"},
                                                          {"PATCH", "/v1/videos/nope"},
                                                          {"DELETE", "/v1/videos/nope"},
                                                          {"GET", "/v1/videos/nope/events"},
                                                          {"GET", "/v1/videos/nope/stats"},
                                                          {"POST", "/v1/videos/nope/views"},
                                                          {"POST", "/v1/jobs/nope/retry"},
                                                          {"POST", "/v1/jobs/nope/cancel"},
                                                          {"DELETE", "/v1/auth/api-keys/nope"},
                                                          {"GET", "/v1/nothing-here"}}) {
      CAPTURE(method);
      CAPTURE(path);
      auto a = call(server, method, path, "admin-key", method == "PATCH" ? "{}" : "");
      CHECK(a.status == 404);
      check_error_body(a);
    }
    for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"PUT", P}, {"POST", P}, {"DELETE", "/v1/jobs"}, {"PUT", "/v1/auth/me"},
             {"POST", "/media/nope/master.m3u8"}, {"DELETE", "/v1/videos/nope/events"}}) {
      CAPTURE(method);
      CAPTURE(path);
      auto a = call(server, method, path, "admin-key", "{}");
      CHECK(a.status == 405);
      check_error_body(a);
    }
    auto after = call(server, "GET", P, alice);
    CHECK(after.status == 200);
    CHECK(after.body["updated_at"] == before.body["updated_at"]);
    CHECK(call(server, "GET", "/v1/videos", alice).body["total"] == 2);
  }
}
