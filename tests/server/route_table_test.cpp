// The route table's own pieces, without a server: the matcher the front classifies with and
// the regular expression httplib routes with agree on every path, so a request is never
// classified by one row and routed by another.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "../../server/route_table.hpp"

using namespace streamlet::server;

TEST_CASE("route table: the front's matcher and httplib's regex agree on every row") {
  const std::vector<std::string> paths = {"/",
                                          "",
                                          "/v1/videos",
                                          "/v1/videos/",
                                          "/v1/videos/abc",
                                          "/v1/videos/a.b",
                                          "/v1/videos/a/b",
                                          "/v1/videos/abc/events",
                                          "/v1/videos//events",
                                          "/v1/videos/abc/events/x",
                                          "/v1/videos/abc/stats",
                                          "/v1/uploads",
                                          "/v1/uploads/",
                                          "/v1/uploads/x",
                                          "/v1/uploads/x/",
                                          "/v1/uploads/x/y",
                                          "/v1/uploadsx",
                                          "/v1/auth/api-keys/k.1",
                                          "/v1/auth/api-keys/",
                                          "/v1/jobs/j1/retry",
                                          "/v1/jobs//retry",
                                          "/media/abc/master.m3u8",
                                          "/media/abc/",
                                          "/media/abc",
                                          "/media//x",
                                          "/media/a.b/x",
                                          "/media/abc/720p/seg_1.m4s",
                                          "/assets/",
                                          "/assets/app.js",
                                          "/assets",
                                          "/watch/abc",
                                          "/watch/",
                                          "/watch/a b",
                                          "/healthz",
                                          "/healthz/",
                                          "/loginx",
                                          "/login",
                                          "/v1/auth/me?x=1"};
  for (const RouteSpec& row : kRouteTable) {
    const std::regex re(pattern_regex(row.pattern));
    for (const std::string& path : paths) {
      CAPTURE(row.pattern);
      CAPTURE(path);
      CHECK(pattern_matches(row.pattern, path) == std::regex_match(path, re));
    }
  }
}

TEST_CASE("route table: find_route and fallback_label on known and unknown paths") {
  const RouteSpec* r = find_route("HEAD", "/v1/uploads/abc");
  REQUIRE(r);
  CHECK(r->id == RouteId::kUploadHead);
  CHECK(find_route("PATCH", "/v1/uploads/")->id == RouteId::kUploadsPatch);
  CHECK(find_route("PATCH", "/v1/uploads/abc")->handling == RouteHandling::kUpload);
  CHECK(find_route("GET", "/v1/videos/abc/events")->handling == RouteHandling::kEventStream);
  CHECK(find_route("PUT", "/v1/videos/abc") == nullptr);
  CHECK(find_route("GET", "/v1/videos/abc/zz") == nullptr);
  CHECK(uploads_path() == "/v1/uploads");
  CHECK(fallback_label("/media/bad..id/x") == "/media/{id}/{file}");
  CHECK(fallback_label("/assets/x") == "/assets/{file}");
  CHECK(fallback_label("/v1/zz") == "unmatched");
}

TEST_CASE("route table: the web app's router knows exactly the table's pages") {
  std::ifstream in(std::string(STREAMLET_TEST_SOURCE_DIR) + "/../web/src/main.js");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string js = ss.str();
  size_t pages = 0;
  for (const RouteSpec& row : kRouteTable) {
    if (row.handling != RouteHandling::kWebPage) continue;
    ++pages;
    // "/watch/{id}" -> "re: /^\/watch\/(" ; "/" -> "re: /^\/$/"
    std::string want = "re: /^";
    const std::string_view literal = pattern_prefix(row.pattern);
    for (char c : literal) want += c == '/' ? std::string("\\/") : std::string(1, c);
    const bool whole = literal == row.pattern || std::string(literal) + "/?" == row.pattern;
    want += whole ? (row.pattern == "/" ? "$/" : "\\/?$/") : "(";
    CAPTURE(want);
    CHECK(js.find(want) != std::string::npos);
  }
  size_t routes = 0;
  for (size_t at = js.find("re: /^"); at != std::string::npos; at = js.find("re: /^", at + 1))
    ++routes;
  CHECK(routes == pages);
}
