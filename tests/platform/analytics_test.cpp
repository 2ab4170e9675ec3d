// Analytics over HTTP: GET /v1/videos/{id}/stats and GET /v1/me/stats, fed by the player's
// beacon endpoint (POST /v1/videos/{id}/views), on a real server.
#include <ctime>
#include <thread>

#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

std::string utc_day(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[16];
  std::strftime(out, sizeof out, "%Y-%m-%d", &tm);
  return out;
}

void beacon(const ServerProcess& s, const std::string& id, const std::string& token,
            const std::string& viewer, double seconds) {
  auto a = call(s, "POST", "/v1/videos/" + id + "/views", token,
                json{{"viewer", viewer}, {"seconds", seconds}}.dump());
  REQUIRE_MESSAGE(a.status == 204, a.body.dump());
}

}  // namespace

TEST_CASE("analytics: per-day views, watch time and unique viewers of a video and a library") {
  TempDir dir;
  // One view per viewer per second, so one viewer can count two views in a test.
  ServerProcess server(dir / "data", "admin-key", {"--view-interval", "1"});
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  const std::string admin = "admin-key";
  // Unfinished uploads: no transcode needed, the owner's (and an admin's) beacons count.
  const std::string v1 = begin_tus_upload(server, alice, 1000).video_id;
  const std::string v2 = begin_tus_upload(server, alice, 1000).video_id;
  const std::string bobs = begin_tus_upload(server, bob, 1000).video_id;

  // Alice plays v1 twice (a view each, whatever viewer id her browser sends: signed in, she
  // is one viewer), the admin once; alice also plays v2 once; bob his own video.
  beacon(server, v1, alice, "tab-1", 0);
  beacon(server, v1, alice, "tab-1", 12.5);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  beacon(server, v1, alice, "tab-2", 0);
  beacon(server, v1, admin, "", 4);
  beacon(server, v2, alice, "tab-1", 30);
  beacon(server, bobs, bob, "", 100);

  const std::string today = utc_day(std::time(nullptr));
  auto s = call(server, "GET", "/v1/videos/" + v1 + "/stats", alice);
  REQUIRE_MESSAGE(s.status == 200, s.body.dump());
  CHECK(s.body["to"] == today);
  CHECK(s.body["views"] == 3);
  CHECK(s.body["watch_seconds"].get<double>() == doctest::Approx(16.5));
  CHECK(s.body["unique_viewers"] == 2);
  // The default range: the last 28 days, every one of them, zeros included.
  const json& days = s.body["days"];
  REQUIRE(days.size() == 28);
  CHECK(days.front()["day"] == s.body["from"]);
  CHECK(days.back()["day"] == today);
  CHECK(days.back()["views"] == 3);
  CHECK(days.back()["unique_viewers"] == 2);
  CHECK(days.back()["watch_seconds"].get<double>() == doctest::Approx(16.5));
  for (size_t i = 0; i + 1 < days.size(); ++i) {
    CAPTURE(days[i]);
    CHECK(days[i]["views"] == 0);
    CHECK(days[i]["unique_viewers"] == 0);
    CHECK(days[i]["watch_seconds"] == 0);
  }
  // An admin may look too.
  CHECK(call(server, "GET", "/v1/videos/" + v1 + "/stats", admin).body["views"] == 3);

  // A chosen range: one week ending yesterday has seven days, all zero.
  const std::string yesterday = utc_day(std::time(nullptr) - 86400);
  const std::string week_ago = utc_day(std::time(nullptr) - 7 * 86400);
  auto week = call(server, "GET",
                   "/v1/videos/" + v1 + "/stats?from=" + week_ago + "&to=" + yesterday, alice);
  REQUIRE(week.status == 200);
  CHECK(week.body["from"] == week_ago);
  CHECK(week.body["to"] == yesterday);
  CHECK(week.body["days"].size() == 7);
  CHECK(week.body["views"] == 0);

  // The library: both of alice's videos, the admin and alice two viewers, bob's not included.
  auto lib = call(server, "GET", "/v1/me/stats?from=" + week_ago + "&to=" + today, alice);
  REQUIRE_MESSAGE(lib.status == 200, lib.body.dump());
  CHECK(lib.body["views"] == 4);
  CHECK(lib.body["watch_seconds"].get<double>() == doctest::Approx(46.5));
  CHECK(lib.body["unique_viewers"] == 2);
  REQUIRE(lib.body["days"].size() == 8);
  CHECK(lib.body["days"].back()["views"] == 4);
  CHECK(lib.body["days"].back()["unique_viewers"] == 2);  // alice watched two videos: once
  CHECK(lib.body["days"][0]["views"] == 0);
  REQUIRE(lib.body["videos"].size() == 2);
  CHECK(lib.body["videos"][0]["id"] == v1);
  CHECK(lib.body["videos"][0]["views"] == 3);
  CHECK(lib.body["videos"][1]["id"] == v2);
  CHECK(lib.body["videos"][1]["views"] == 1);
  CHECK(call(server, "GET", "/v1/me/stats?top=1", alice).body["videos"].size() == 1);

  auto bobs_lib = call(server, "GET", "/v1/me/stats", bob);
  REQUIRE(bobs_lib.status == 200);
  CHECK(bobs_lib.body["views"] == 1);
  REQUIRE(bobs_lib.body["videos"].size() == 1);
  CHECK(bobs_lib.body["videos"][0]["id"] == bobs);
}

TEST_CASE("analytics: another user's video, anonymous callers and bad ranges are refused") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  // Unfinished uploads, one public (bob may watch it, once ready) and one private.
  const std::string v = begin_tus_upload(server, alice, 1000).video_id;
  const std::string stats = "/v1/videos/" + v + "/stats";
  httplib::Headers h = bearer(alice);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", "1000");
  h.emplace("Upload-Metadata", streamlet::upload::format_metadata({{"visibility", "private"}}));
  auto created = server.client().Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const std::string private_stats =
      "/v1/videos/" + created->get_header_value("Streamlet-Video-Id") + "/stats";

  auto refused = [&](const std::string& path, const std::string& token, int status,
                     const std::string& code) {
    CAPTURE(path);
    auto a = call(server, "GET", path, token);
    CHECK(a.status == status);
    REQUIRE(a.body.is_object());  // JSON, not an HTML page or an empty body
    CHECK(a.body["code"] == code);
    CHECK(!a.body["error"].get<std::string>().empty());
  };
  // Bob may see alice's public video but not its numbers; her private one does not exist
  // as far as he can tell.
  refused(stats, bob, 403, "permission_denied");
  refused(private_stats, bob, 404, "not_found");
  refused("/v1/videos/nosuchvideo/stats", alice, 404, "not_found");
  refused(stats, "", 401, "unauthenticated");
  refused("/v1/me/stats", "", 401, "unauthenticated");

  for (const char* query :
       {"from=yesterday", "to=2024-13-01", "from=2024-02-30", "from=2024-05-02&to=2024-05-01",
        "from=2020-01-01&to=2024-01-01", "from=2024-05-01%27%20OR%201=1"}) {
    refused(stats + "?" + query, alice, 400, "invalid_argument");
    refused(std::string("/v1/me/stats?") + query, alice, 400, "invalid_argument");
  }
  refused("/v1/me/stats?top=-1", alice, 400, "invalid_argument");
  refused("/v1/me/stats?top=1000", alice, 400, "invalid_argument");
  refused("/v1/me/stats?top=ten", alice, 400, "invalid_argument");

  // A year (366 days, a leap year's worth) is the longest range.
  auto year = call(server, "GET", stats + "?from=2024-01-01&to=2024-12-31", alice);
  REQUIRE(year.status == 200);
  CHECK(year.body["days"].size() == 366);
  CHECK(year.body["days"][59]["day"] == "2024-02-29");
}
