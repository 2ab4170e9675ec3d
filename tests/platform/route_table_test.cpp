// The route table (server/route_table.hpp) against the live server: every row answers on
// its method (its handler, not httplib's "no such endpoint" or a 405), /metrics labels it
// with the row's label, its auth column is what an anonymous caller meets, paths the table
// does not know keep today's labels, and methods it does not list on a known path are 405.
#include <fstream>
#include <map>
#include <regex>

#include "../../server/route_table.hpp"
#include "platform_helpers.hpp"
#include "support/raw_http.hpp"

using namespace streamlet::test;
using streamlet::server::kRouteTable;
using streamlet::server::RouteAuth;
using streamlet::server::RouteHandling;
using streamlet::server::RouteId;
using streamlet::server::RouteSpec;

namespace {

// A concrete path for a row: {id} -> `id`, {key} -> `key`, {file} -> `file`, "/?" dropped.
std::string concrete(std::string_view pattern, const std::string& id, const std::string& key,
                     const std::string& file) {
  std::string out;
  for (size_t p = 0; p < pattern.size();) {
    if (pattern.substr(p) == "/?") break;
    if (pattern[p] == '{') {
      const size_t close = pattern.find('}', p);
      const std::string_view name = pattern.substr(p + 1, close - p - 1);
      out += name == "id" ? id : name == "key" ? key : file;
      p = close + 1;
    } else {
      out += pattern[p++];
    }
  }
  return out;
}

struct Raw {
  int status = 0;
  json body;
  std::string allow;
};

// One request on its own connection; only the head is waited for on an event stream.
Raw send(const ServerProcess& s, const std::string& method, const std::string& path,
         const std::string& token, bool stream = false, std::string body = "") {
  RawClient c(s.port());
  REQUIRE(c.connected());
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (path.starts_with("/v1/uploads")) req += "Tus-Resumable: 1.0.0\r\n";
  if (body.empty() && (method == "POST" || method == "PATCH")) body = "{}";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
  c.send(req);
  Raw out;
  if (stream) {
    char buf[512];
    ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    REQUIRE(n > 12);
    out.status = std::atoi(std::string(buf + 9, 3).c_str());
    return out;
  }
  auto a = c.read(method == "HEAD");
  REQUIRE_MESSAGE(a.status != 0, method << " " << path << ": no answer");
  out.status = a.status;
  out.body = json::parse(a.body, nullptr, false);
  out.allow = a.header("Allow");
  return out;
}

// streamlet_http_requests_total summed over statuses, by "label method".
std::map<std::string, int> request_counts(const ServerProcess& s) {
  auto m = s.client().Get("/metrics");
  REQUIRE(m);
  REQUIRE(m->status == 200);
  std::map<std::string, int> out;
  std::regex re(
      R"re(streamlet_http_requests_total\{route="([^"]*)",method="([^"]*)",status="[^"]*"\} (\d+))re");
  for (auto it = std::sregex_iterator(m->body.begin(), m->body.end(), re);
       it != std::sregex_iterator(); ++it)
    out[(*it)[1].str() + " " + (*it)[2].str()] += std::stoi((*it)[3].str());
  return out;
}

// Waits (briefly: a server counts a request once its answer is out) until /metrics counts
// more requests under `key` than `before` did.
bool counted_once_more(const ServerProcess& s, const std::map<std::string, int>& before,
                       const std::string& key) {
  const int was = before.count(key) ? before.at(key) : 0;
  for (int i = 0; i < 100; ++i) {
    auto after = request_counts(s);
    if (after[key] > was) return true;  // (a scrape of /metrics counts itself too)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The router's 405 (a method no row lists), not a handler's own (tus refusing PATCH on the
// collection, which is its protocol's answer).
bool router_refused(const Raw& a) {
  return a.status == 405 && a.body.is_object() && a.body.value("error", "") == "method not allowed";
}

bool router_not_found(const Raw& a) {
  return a.status == 404 && a.body.is_object() && a.body.value("error", "") == "no such endpoint";
}

// A web root with an index and one asset, so the mount point row is served too.
std::filesystem::path web_root(const TempDir& dir) {
  auto root = dir / "web";
  std::filesystem::create_directories(root / "assets");
  std::ofstream(root / "index.html") << "<!doctype html><title>t</title>";
  std::ofstream(root / "assets" / "app.js") << "console.log(1)";
  return root;
}

}  // namespace

TEST_CASE("routes: every row of the route table answers on the live server with the row's label") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--web-root", web_root(dir).string()});
  const std::string token = register_user(server, "routes_user");
  const Uploaded up = begin_tus_upload(server, token, 1000);
  const std::string upload_id = up.upload_path.substr(up.upload_path.rfind('/') + 1);

  // Deleting rows last, so the video and upload exist for every other row.
  std::vector<const RouteSpec*> rows;
  for (const RouteSpec& row : kRouteTable)
    if (row.method != "DELETE") rows.push_back(&row);
  for (const RouteSpec& row : kRouteTable)
    if (row.method == "DELETE") rows.push_back(&row);

  for (const RouteSpec* row : rows) {
    const bool uploads = row->pattern.starts_with("/v1/uploads");
    const std::string path =
        concrete(row->pattern, up.video_id, uploads ? upload_id : "no-such-key",
                 row->handling == RouteHandling::kWebAsset ? "app.js" : "master.m3u8");
    // tus answers HEAD, which httplib routes through the GET row.
    const std::string method = uploads && row->method == "GET" ? "HEAD" : std::string(row->method);
    CAPTURE(method);
    CAPTURE(path);
    // The user's session for their own upload, the admin key for the rest.
    const std::string who = uploads ? token : "admin-key";
    const auto before = request_counts(server);
    Raw a = send(server, method, path, row->auth == RouteAuth::kNone ? "" : who,
                 row->handling == RouteHandling::kEventStream);
    CHECK_FALSE(router_refused(a));
    CHECK_FALSE(router_not_found(a));
    if (row->handling == RouteHandling::kEventStream) CHECK(a.status == 200);
    if (row->handling == RouteHandling::kWebPage || row->handling == RouteHandling::kWebAsset)
      CHECK(a.status == 200);
    // The request is counted under the row's label (the front's and httplib's alike).
    const std::string key = std::string(row->label) + " " + method;
    CAPTURE(a.body.dump());
    CHECK_MESSAGE(counted_once_more(server, before, key), "no request labelled " << key);
  }
}

TEST_CASE("routes: the auth column is what an anonymous caller meets") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  // Real ids and well-formed bodies, so a refusal can only be about who is asking.
  const std::string token = register_user(server, "routes_owner");
  const Uploaded up = begin_tus_upload(server, token, 1000);
  const std::string upload_id = up.upload_path.substr(up.upload_path.rfind('/') + 1);
  for (const RouteSpec& row : kRouteTable) {
    if (row.handling == RouteHandling::kWebAsset) continue;  // no web root here
    const bool uploads = row.pattern.starts_with("/v1/uploads");
    const std::string path =
        concrete(row.pattern, up.video_id, uploads ? upload_id : "kzz1", "master.m3u8");
    const std::string method = uploads && row.method == "GET" ? "HEAD" : std::string(row.method);
    const std::string body =
        row.id == RouteId::kAuthPassword
            ? R"({"current_password":"correct horse","new_password":"another horse"})"
            : "";
    CAPTURE(method);
    CAPTURE(path);
    const bool stream = row.handling == RouteHandling::kEventStream;
    Raw a = send(server, method, path, "", stream, body);
    if (row.auth == RouteAuth::kSignedIn)
      CHECK(a.status == 401);
    else
      CHECK(a.status != 401);
    // A credential that is no good is refused wherever one is read.
    if (row.auth != RouteAuth::kNone)
      CHECK(send(server, method, path, "not-a-token", stream, body).status == 401);
  }
}

TEST_CASE("routes: paths the table does not know keep their labels (unmatched, prefix areas)") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--web-root", web_root(dir).string()});
  struct Case {
    std::string method, path, label;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/nowhere/zz", "unmatched", 404},
      {"GET", "/v1/videos/a.b", "unmatched", 404},        // not an id
      {"GET", "/v1/videos/abc/zz", "unmatched", 404},     // no such sub-resource
      {"PUT", "/v1/uploads", "unmatched", 404},           // tus has no PUT; never a 405 there
      {"POST", "/v1/uploads/a/b", "unmatched", 404},      // below an upload: nothing
      {"POST", "/media/abc", "/media/{id}/{file}", 404},  // under /media/, no file part
      {"GET", "/assets/none.js", "/assets/{file}", 404},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    const auto before = request_counts(server);
    Raw a = send(server, c.method, c.path, "admin-key");
    CHECK(a.status == c.status);
    CHECK(counted_once_more(server, before, c.label + " " + c.method));
  }
}

TEST_CASE("routes: a method the table does not list on a known path is 405 with Allow") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  struct Case {
    std::string method, path, allow, label;
  };
  const std::vector<Case> cases = {
      {"PUT", "/v1/videos/abc", "DELETE, GET, PATCH, HEAD", "/v1/videos/{id}"},
      {"POST", "/v1/videos/abc", "DELETE, GET, PATCH, HEAD", "/v1/videos/{id}"},
      {"POST", "/media/abc/master.m3u8", "GET, OPTIONS, HEAD", "/media/{id}/{file}"},
      {"DELETE", "/v1/videos/abc/events", "GET, HEAD", "/v1/videos/{id}/events"},
      {"POST", "/healthz", "GET, HEAD", "/healthz"},
      {"GET", "/v1/auth/login", "POST", "/v1/auth/login"},
      {"PATCH", "/v1/auth/api-keys", "GET, POST, HEAD", "/v1/auth/api-keys"},
      {"GET", "/v1/jobs/j1/retry", "POST", "/v1/jobs/{id}/retry"},
      {"POST", "/watch/abc", "GET, HEAD", "/watch/{id}"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    const auto before = request_counts(server);
    Raw a = send(server, c.method, c.path, "admin-key");
    CHECK(a.status == 405);
    CHECK(a.allow == c.allow);
    CHECK(a.body.value("code", "") == "method_not_allowed");
    CHECK(counted_once_more(server, before, c.label + " " + c.method));
  }
}
