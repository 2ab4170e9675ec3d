// Hostile clients on the public port (issue 9, "abuse and quotas"): each case is an attack as a
// client would mount it over real HTTP against the real streamlet-server, and what a user or
// an operator checks afterwards. Several clients are told apart by their socket address: the
// whole of 127/8 is loopback, so a test speaks from 127.0.0.2, 127.0.0.3, ...
#include <chrono>
#include <ctime>
#include <regex>
#include <set>

#include "platform_helpers.hpp"
#include "support/raw_http.hpp"

using namespace streamlet::test;

namespace {

struct RawAnswer {
  int status = 0;
  json body;
  std::string retry_after;  // the Retry-After header, "" when absent
};

// One request from the client address `source`, on its own connection.
RawAnswer call_from(const ServerProcess& s, const std::string& source, const std::string& method,
                    const std::string& path, const std::string& token = "",
                    const std::string& body = "", const httplib::Headers& extra = {}) {
  RawClient c(s.port(), source.c_str());
  REQUIRE(c.connected());
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  for (const auto& [k, v] : extra) req += k + ": " + v + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
  c.send(req);
  auto a = c.read(method == "HEAD");
  REQUIRE_MESSAGE(a.status != 0, method << " " << path << " from " << source << ": no answer");
  RawAnswer out;
  out.status = a.status;
  out.body = json::parse(a.body, nullptr, false);
  out.retry_after = a.header("Retry-After");
  return out;
}

std::string credentials(const std::string& user, const std::string& password) {
  return json{{"username", user}, {"password", password}}.dump();
}

// A 429 as the API promises it: a JSON error, code rate_limited, a Retry-After in seconds.
void check_rate_limited(const RawAnswer& a) {
  CHECK(a.status == 429);
  CHECK(a.body.is_object());
  CHECK(a.body.value("code", "") == "rate_limited");
  CHECK(!a.body.value("error", "").empty());
  REQUIRE(!a.retry_after.empty());
  const int seconds = std::atoi(a.retry_after.c_str());
  CHECK(seconds >= 1);
  CHECK(std::to_string(seconds) == a.retry_after);
}

void check_rate_limited(const Answer& a) {
  RawAnswer r{a.status, a.body, ""};
  for (const auto& [k, v] : a.headers)
    if (k == "Retry-After") r.retry_after = v;
  check_rate_limited(r);
}

httplib::Headers tus_headers(const std::string& token, httplib::Headers extra = {}) {
  extra.emplace("Tus-Resumable", "1.0.0");
  extra.emplace("Authorization", "Bearer " + token);
  return extra;
}

// A tus creation; the whole answer, so refusals can be looked at.
Answer create(const ServerProcess& s, const std::string& token, httplib::Headers extra) {
  auto r = s.client().Post("/v1/uploads", tus_headers(token, std::move(extra)), "", "");
  REQUIRE(r);
  Answer a;
  a.status = r->status;
  a.headers = r->headers;
  a.body = json::parse(r->body, nullptr, false);
  return a;
}

std::string location_path(const Answer& a) {
  for (const auto& [k, v] : a.headers)
    if (k == "Location") return v.substr(v.find("/v1/uploads/"));
  return "";
}

std::string header_of(const Answer& a, const std::string& name) {
  for (const auto& [k, v] : a.headers)
    if (k == name) return v;
  return "";
}

// Every value a label takes in the exposition (`route="..."` -> the set of "...").
std::set<std::string> label_values(const std::string& text, const std::string& label) {
  std::set<std::string> out;
  std::regex re(label + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it)
    out.insert((*it)[1].str());
  return out;
}

// The port the server printed for a listener ("metrics on http://127.0.0.1:PORT").
int printed_port(const ServerProcess& s, const std::string& what) {
  std::smatch m;
  const std::string out = s.output();
  std::regex re(what + " on http://127\\.0\\.0\\.1:(\\d+)");
  if (!std::regex_search(out, m, re)) return -1;
  return std::stoi(m[1]);
}

}  // namespace

TEST_CASE("metrics: labels come from the route table whatever paths and methods clients send") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  // Unique paths under every kind of route (ids, unknown sub-resources, unknown areas), and
  // unique request methods: none of it may become a label value.
  for (int i = 0; i < 150; ++i) {
    const std::string n = std::to_string(i);
    auto c = server.client();
    REQUIRE(c.Get(("/v1/videos/v" + n).c_str()));
    REQUIRE(c.Get(("/v1/videos/v" + n + "/zz" + n).c_str()));
    REQUIRE(c.Post(("/v1/jobs/j" + n + "/qq" + n).c_str(), "", "application/json"));
    REQUIRE(c.Get(("/v1/zz" + n + "/x").c_str()));
    REQUIRE(c.Get(("/nowhere/zz" + n).c_str()));
    RawClient raw(server.port());
    raw.send("ZZ" + n + " /v1/videos HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw.read().status == 400);
  }
  auto m = server.client().Get("/metrics");
  REQUIRE(m);
  REQUIRE(m->status == 200);
  const std::string& text = m->body;
  CHECK(text.find("zz1") == std::string::npos);
  CHECK(text.find("qq1") == std::string::npos);
  CHECK(text.find("ZZ1") == std::string::npos);
  auto routes = label_values(text, "route");
  auto methods = label_values(text, "method");
  CAPTURE(text.substr(0, 4000));
  // Every route label is a registered template or "unmatched"; methods are the HTTP ones.
  CHECK(routes.size() <= 30);
  CHECK(routes.count("unmatched") == 1);
  CHECK(routes.count("/v1/videos/{id}") == 1);
  std::vector<std::string> odd_routes, odd_methods;
  for (const auto& r : routes)
    if (r != "unmatched" && r != "unparsed" && r.rfind("/", 0) != 0) odd_routes.push_back(r);
  const std::set<std::string> http_methods = {"GET",    "HEAD",    "POST",  "PUT",
                                              "DELETE", "OPTIONS", "PATCH", "other"};
  for (const auto& method : methods)
    if (!http_methods.count(method)) odd_methods.push_back(method);
  CHECK(odd_routes.empty());
  CHECK(odd_methods.size() == 0);
  // 900 hostile requests leave /metrics the size of a quiet server's, not megabytes.
  CHECK(text.size() < 64 * 1024);
}

TEST_CASE(
    "metrics: --metrics-listen moves /metrics off the public port, --metrics-token guards it") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key",
                       {"--metrics-listen", "127.0.0.1:0", "--metrics-token", "scrape-secret"});
  const int metrics_port = printed_port(server, "metrics");
  REQUIRE(metrics_port > 0);
  REQUIRE(metrics_port != server.port());
  // The public port has no /metrics at all.
  auto pub = call(server, "GET", "/metrics");
  CHECK(pub.status == 404);
  CHECK(pub.body.value("code", "") == "not_found");
  httplib::Client scrape("127.0.0.1", metrics_port);
  auto none = scrape.Get("/metrics");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(none->body.find("\"unauthenticated\"") != std::string::npos);
  CHECK(none->body.find("streamlet_") == std::string::npos);
  auto wrong = scrape.Get("/metrics", {{"Authorization", "Bearer scrape-secreT"}});
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto right = scrape.Get("/metrics", {{"Authorization", "Bearer scrape-secret"}});
  REQUIRE(right);
  CHECK(right->status == 200);
  CHECK(right->body.find("streamlet_http_requests_total") != std::string::npos);
  // The metrics listener serves nothing but /metrics.
  auto api = scrape.Get("/v1/videos", {{"Authorization", "Bearer scrape-secret"}});
  REQUIRE(api);
  CHECK(api->status == 404);

  // --metrics-token alone: /metrics stays on the public port, behind the token.
  TempDir dir2;
  ServerProcess guarded(dir2 / "data", "admin-key", {"--metrics-token", "scrape-secret"});
  CHECK(call(guarded, "GET", "/metrics").status == 401);
  CHECK(call(guarded, "GET", "/metrics", "admin-key").status == 401);  // not the API key either
  auto ok = call(guarded, "GET", "/metrics", "scrape-secret");
  CHECK(ok.status == 200);
}

TEST_CASE("uploads: one user's unfinished uploads cannot lock other users out") {
  TempDir dir;
  // A global limit above the per-user default (20): the global one is the last resort only.
  ServerProcess server(dir / "data", "admin-key", {"--max-uploads", "30"});
  const std::string mallory = register_user(server, "mallory");
  const std::string bob = register_user(server, "bob");
  int created = 0;
  Answer refused;
  for (int i = 0; i < 40; ++i) {
    auto a = create(server, mallory, {{"Upload-Length", "1000"}});
    if (a.status != 201) {
      refused = a;
      break;
    }
    ++created;
  }
  CHECK(created == 20);
  check_rate_limited(refused);
  // Bob is not affected by mallory's uploads.
  auto b = create(server, bob, {{"Upload-Length", "1000"}});
  CHECK(b.status == 201);
  // A refused creation leaves no video behind.
  auto lib = call(server, "GET", "/v1/videos?owner=me&per_page=100", mallory);
  CHECK(lib.body["total"] == 20);
  // Ending one of them frees a place.
  auto c = server.client();
  auto first = create(server, mallory, {{"Upload-Length", "1000"}});
  REQUIRE(first.status == 429);
  auto mine = call(server, "GET", "/v1/videos?owner=me&per_page=1", mallory);
  REQUIRE(mine.status == 200);
  CHECK(call(server, "DELETE", "/v1/videos/" + mine.body["items"][0]["id"].get<std::string>(),
             mallory)
            .status == 204);
  CHECK(create(server, mallory, {{"Upload-Length", "1000"}}).status == 201);
}

TEST_CASE("uploads: --max-user-bytes caps what one user stores, deferred lengths included") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder({"--max-user-bytes", "1000"}));
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  auto a = create(server, alice, {{"Upload-Length", "600"}});
  REQUIRE(a.status == 201);
  check_rate_limited(create(server, alice, {{"Upload-Length", "500"}}));
  CHECK(create(server, bob, {{"Upload-Length", "900"}}).status == 201);
  // A deferred-length upload cannot stream past the quota either.
  auto d = create(server, alice, {{"Upload-Defer-Length", "1"}});
  REQUIRE(d.status == 201);
  auto c = server.client();
  auto over = c.Patch(location_path(d).c_str(),
                      tus_headers(alice, {{"Upload-Offset", "0"}, {"Upload-Length", "500"}}),
                      std::string(500, 'x'), "application/offset+octet-stream");
  REQUIRE(over);
  CHECK(over->status == 429);
  auto head = c.Head(location_path(d).c_str(), tus_headers(alice));
  REQUIRE(head);
  CHECK(head->get_header_value("Upload-Offset") == "0");
  // Ending the big upload frees its bytes.
  REQUIRE(c.Delete(location_path(a).c_str(), tus_headers(alice))->status == 204);
  CHECK(create(server, alice, {{"Upload-Length", "500"}}).status == 201);
}

TEST_CASE("uploads: --uploads-per-minute limits how fast one user creates uploads") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--uploads-per-minute", "3"});
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  auto c = server.client();
  for (int i = 0; i < 3; ++i) {
    auto a = create(server, alice, {{"Upload-Length", "10"}});
    REQUIRE(a.status == 201);
    REQUIRE(c.Delete(location_path(a).c_str(), tus_headers(alice))->status == 204);
  }
  auto fourth = create(server, alice, {{"Upload-Length", "10"}});
  check_rate_limited(fourth);
  CHECK(std::atoi(header_of(fourth, "Retry-After").c_str()) <= 60);
  CHECK(!header_of(fourth, "Tus-Resumable").empty());
  CHECK(header_of(fourth, "Access-Control-Expose-Headers").find("Retry-After") !=
        std::string::npos);
  CHECK(create(server, bob, {{"Upload-Length", "10"}}).status == 201);
}

TEST_CASE("uploads: Upload-Concat final takes only the caller's own partial uploads") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  const std::string alice = register_user(server, "alice");
  const std::string bob = register_user(server, "bob");
  auto c = server.client();
  auto part = create(server, alice, {{"Upload-Length", "6"}, {"Upload-Concat", "partial"}});
  REQUIRE(part.status == 201);
  const std::string part_path = location_path(part);
  REQUIRE(c.Patch(part_path.c_str(), tus_headers(alice, {{"Upload-Offset", "0"}}), "secret",
                  "application/offset+octet-stream")
              ->status == 204);
  // Bob names alice's finished part in a final upload: the same answer as for a part that
  // does not exist, so he learns nothing, and he gets neither the bytes nor a video.
  auto stolen = create(server, bob, {{"Upload-Concat", "final;" + part_path}});
  auto unknown = create(server, bob,
                        {{"Upload-Concat", "final;/v1/uploads/0123456789abcdef0123456789abcdef"}});
  CHECK(stolen.status == 400);
  CHECK(stolen.status == unknown.status);
  CHECK(stolen.body.value("code", "") == unknown.body.value("code", "x"));
  std::string shown = stolen.body.value("error", "");
  CHECK(shown.find(part_path.substr(part_path.rfind('/') + 1)) != std::string::npos);
  CHECK(shown.find("unknown part") != std::string::npos);
  CHECK(call(server, "GET", "/v1/videos?owner=me", bob).body["total"] == 0);
  // Alice's part is untouched and still hers to use.
  auto head = c.Head(part_path.c_str(), tus_headers(alice));
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->get_header_value("Upload-Offset") == "6");
  auto mine = create(server, alice, {{"Upload-Concat", "final;" + part_path}});
  CHECK(mine.status == 201);
  // The admin cannot take it either: only one's own parts.
  auto part2 = create(server, alice, {{"Upload-Length", "1"}, {"Upload-Concat", "partial"}});
  REQUIRE(c.Patch(location_path(part2).c_str(), tus_headers(alice, {{"Upload-Offset", "0"}}), "x",
                  "application/offset+octet-stream")
              ->status == 204);
  CHECK(create(server, "admin-key", {{"Upload-Concat", "final;" + location_path(part2)}}).status ==
        400);
}

TEST_CASE("login: wrong passwords from one address slow that address down, not the owner") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  register_user(server, "alice");
  const std::string attacker = "127.0.0.2";
  for (int i = 0; i < 5; ++i)
    CHECK(call_from(server, attacker, "POST", "/v1/auth/login", "",
                    credentials("alice", "guess" + std::to_string(i)))
              .status == 401);
  auto slowed = call_from(server, attacker, "POST", "/v1/auth/login", "",
                          credentials("alice", "guess-again"));
  check_rate_limited(slowed);
  // While slowed down, even the right password is not tried from that address (it would
  // tell the attacker whether a guess was right).
  check_rate_limited(call_from(server, attacker, "POST", "/v1/auth/login", "",
                               credentials("alice", "correct horse")));
  // Other account names from that address are slowed too: the address is the key.
  check_rate_limited(
      call_from(server, attacker, "POST", "/v1/auth/login", "", credentials("bob", "whatever1")));
  // The owner, from their own address, signs in at once.
  auto owner = call_from(server, "127.0.0.3", "POST", "/v1/auth/login", "",
                         credentials("alice", "correct horse"));
  CHECK(owner.status == 200);
  CHECK(owner.body.contains("token"));
}

TEST_CASE("login: guesses spread over many addresses slow the account, the owner still gets in") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  register_user(server, "alice");
  // 12 addresses, 2 guesses each: under every per-address limit, over the per-account one.
  std::vector<std::string> botnet;
  for (int i = 10; i < 22; ++i) botnet.push_back("127.0.0." + std::to_string(i));
  int refused = 0;
  for (int round = 0; round < 2; ++round)
    for (const auto& addr : botnet) {
      auto a = call_from(server, addr, "POST", "/v1/auth/login", "",
                         credentials("alice", "guess" + addr + std::to_string(round)));
      if (a.status == 429) {
        check_rate_limited(a);
        ++refused;
      } else {
        CHECK(a.status == 401);
      }
    }
  CHECK(refused > 0);
  // The next guess from an address that already failed on alice waits.
  check_rate_limited(call_from(server, botnet[0], "POST", "/v1/auth/login", "",
                               credentials("alice", "one-more-guess")));
  // The owner, from an address that has not failed on alice, gets in: a slow-down for the
  // guessers, not a lock-out of the owner.
  auto owner = call_from(server, "127.0.0.99", "POST", "/v1/auth/login", "",
                         credentials("alice", "correct horse"));
  CHECK(owner.status == 200);
}

TEST_CASE("login: X-Forwarded-For counts only from a --trusted-proxy") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--trusted-proxy", "127.0.0.5"});
  register_user(server, "alice");
  auto guess = [&](const std::string& from, const std::string& forwarded) {
    return call_from(server, from, "POST", "/v1/auth/login", "",
                     credentials("alice", "wrong" + forwarded), {{"X-Forwarded-For", forwarded}});
  };
  // A client that is not the proxy cannot dodge its limit with a new header each time.
  for (int i = 0; i < 5; ++i)
    CHECK(guess("127.0.0.2", "192.0.2." + std::to_string(i)).status == 401);
  check_rate_limited(guess("127.0.0.2", "192.0.2.77"));
  // Through the proxy, each forwarded client has its own count, and the proxy's own
  // address is not what gets slowed down; a forged entry left of the proxy's is ignored.
  for (int i = 0; i < 5; ++i)
    CHECK(guess("127.0.0.5", "10.9.9." + std::to_string(i) + ", 198.51.100.1").status == 401);
  check_rate_limited(guess("127.0.0.5", "10.9.9.99, 198.51.100.1"));
  auto other =
      call_from(server, "127.0.0.5", "POST", "/v1/auth/login", "",
                credentials("alice", "correct horse"), {{"X-Forwarded-For", "198.51.100.2"}});
  CHECK(other.status == 200);
}

TEST_CASE("register: one address may create only a few accounts an hour") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--registrations-per-hour", "3"});
  for (int i = 0; i < 3; ++i)
    CHECK(call_from(server, "127.0.0.2", "POST", "/v1/auth/register", "",
                    credentials("user" + std::to_string(i), "correct horse"))
              .status == 201);
  auto fourth = call_from(server, "127.0.0.2", "POST", "/v1/auth/register", "",
                          credentials("user9", "correct horse"));
  check_rate_limited(fourth);
  // Refused before anything is stored: the name is still free.
  CHECK(call_from(server, "127.0.0.3", "POST", "/v1/auth/register", "",
                  credentials("user9", "correct horse"))
            .status == 201);
}

TEST_CASE("sessions: logout revokes the token on the server") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--session-ttl", "3600"});
  register_user(server, "alice");
  auto login = call(server, "POST", "/v1/auth/login", "", credentials("alice", "correct horse"));
  REQUIRE(login.status == 200);
  const std::string token = login.body["token"];
  // The session lasts what --session-ttl says.
  std::tm tm{};
  const std::string expires = login.body["expires_at"];
  REQUIRE(strptime(expires.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm));
  const long left = long(timegm(&tm) - std::time(nullptr));
  CHECK(left > 3600 - 60);
  CHECK(left <= 3600);

  auto other = call(server, "POST", "/v1/auth/login", "", credentials("alice", "correct horse"));
  REQUIRE(other.status == 200);
  CHECK(call(server, "GET", "/v1/auth/me", token).status == 200);
  CHECK(call(server, "POST", "/v1/auth/logout", token).status == 204);
  auto after = call(server, "GET", "/v1/auth/me", token);
  CHECK(after.status == 401);
  CHECK(after.body.value("code", "") == "unauthenticated");
  CHECK(call(server, "POST", "/v1/auth/logout", token).status == 401);
  // Only that session ended, and a restart does not bring it back.
  CHECK(call(server, "GET", "/v1/auth/me", other.body["token"]).status == 200);
  server.kill9();
  server.restart();
  CHECK(call(server, "GET", "/v1/auth/me", token).status == 401);
  CHECK(call(server, "GET", "/v1/auth/me", other.body["token"]).status == 200);
  // An API key is not a session: logging out with one is refused and the key keeps working.
  auto key = call(server, "POST", "/v1/auth/api-keys", other.body["token"], "{}");
  REQUIRE(key.status == 201);
  CHECK(call(server, "POST", "/v1/auth/logout", key.body["key"]).status == 400);
  CHECK(call(server, "GET", "/v1/auth/me", key.body["key"]).status == 200);
  CHECK(call(server, "POST", "/v1/auth/logout").status == 401);
}

TEST_CASE("sessions: a password change ends the user's other sessions") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key");
  register_user(server, "alice");
  const std::string here =
      call(server, "POST", "/v1/auth/login", "", credentials("alice", "correct horse"))
          .body["token"];
  const std::string stolen =
      call(server, "POST", "/v1/auth/login", "", credentials("alice", "correct horse"))
          .body["token"];
  auto wrong =
      call(server, "POST", "/v1/auth/password", here,
           json{{"current_password", "not it at all"}, {"new_password", "battery staple"}}.dump());
  CHECK(wrong.status == 401);
  CHECK(call(server, "POST", "/v1/auth/password", here,
             json{{"current_password", "correct horse"}, {"new_password", "short"}}.dump())
            .status == 400);
  CHECK(call(server, "GET", "/v1/auth/me", stolen).status == 200);  // nothing changed yet
  auto changed =
      call(server, "POST", "/v1/auth/password", here,
           json{{"current_password", "correct horse"}, {"new_password", "battery staple"}}.dump());
  CHECK(changed.status == 204);
  CHECK(call(server, "GET", "/v1/auth/me", here).status == 200);
  CHECK(call(server, "GET", "/v1/auth/me", stolen).status == 401);
  CHECK(call(server, "POST", "/v1/auth/login", "", credentials("alice", "correct horse")).status ==
        401);
  CHECK(call(server, "POST", "/v1/auth/login", "", credentials("alice", "battery staple")).status ==
        200);
}

TEST_CASE("views: a viewer counts once per interval, and beacons from one address are bounded") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder({"--beacons-per-minute", "10"}));
  const std::string alice = register_user(server, "alice");
  auto up = tus_upload(server, alice, clip_small(), {{"title", "watched"}});
  REQUIRE(final_status(follow_events(server, alice, up.video_id)) == "ready");
  const std::string beacon = "/v1/videos/" + up.video_id + "/views";
  // The same viewer beaconing again and again is one view.
  for (int i = 0; i < 3; ++i)
    CHECK(call_from(server, "127.0.0.2", "POST", beacon, "",
                    json{{"viewer", "v-one"}, {"seconds", 5}}.dump())
              .status == 204);
  CHECK(call(server, "GET", "/v1/videos/" + up.video_id, alice).body["views"] == 1);
  // One address minting a new viewer id per beacon: refused once over the beacon rate, and
  // the views counted stay bounded by it (10 a minute here, so a burst of 10 plus what the
  // elapsed time refills).
  int accepted = 0, refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    auto a = call_from(server, "127.0.0.3", "POST", beacon, "",
                       json{{"viewer", "fake" + std::to_string(i)}, {"seconds", 1}}.dump());
    if (a.status == 204) ++accepted;
    if (a.status == 429) {
      ++refused;
      if (refused == 1) check_rate_limited(a);
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(refused > 0);
  CHECK(accepted + refused == 100);
  CHECK(accepted <= 10 + int(elapsed * 10 / 60) + 1);
  const int views = call(server, "GET", "/v1/videos/" + up.video_id, alice).body["views"];
  CHECK(views <= 1 + accepted);
  // Another address is not affected by that one.
  CHECK(call_from(server, "127.0.0.4", "POST", beacon, "",
                  json{{"viewer", "v-two"}, {"seconds", 5}}.dump())
            .status == 204);
}
