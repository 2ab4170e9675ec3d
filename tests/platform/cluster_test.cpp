// Nodes of one cluster, as separate server processes on the suite's backends (the embedded
// ones shared by path, or PostgreSQL + S3): what a node reports on /metrics, the secrets the
// nodes agree on without an operator copying them, and uploads appended to through two nodes.
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "platform_helpers.hpp"
#include "streamlet/webhooks.hpp"

using namespace streamlet::test;

namespace {

// The value of the unlabelled series `name` in a /metrics text (-1 when it is not there).
double metric_value(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+]+)\n"))) return -1;
  return std::stod(m[1]);
}

std::string scrape(const ServerProcess& s) {
  auto r = s.client().Get("/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return "\n" + r->body;
}

}  // namespace

TEST_CASE("cluster: an origin node on S3 counts its cache's hits and misses on /metrics") {
  if (!kPlatformOnPgS3) skip_case("the origin cache is for remote storage: platform-pg-s3 runs it");
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_small());
  REQUIRE(final_status(follow_events(server, token, up.video_id)) == "ready");

  // A media segment the transcode published.
  const std::string prefix = "media/" + up.video_id + "/";
  std::string segment;  // its path under the video: <rendition>/<file>
  auto listed = backends_of(dir / "data").storage().list(
      prefix, [&](const streamlet::storage::ObjectInfo& info) {
        if (info.key.ends_with(".m4s")) segment = info.key.substr(prefix.size());
        return segment.empty();
      });
  REQUIRE(listed.ok());
  REQUIRE_MESSAGE(!segment.empty(), "no .m4s segment under " << prefix);

  const std::string path = "/media/" + up.video_id + "/" + segment;
  auto first = server.client().Get(path);
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const std::string after_first = scrape(server);
  const double hits = metric_value(after_first, "streamlet_storage_cache_hits_total");
  const double misses = metric_value(after_first, "streamlet_storage_cache_misses_total");
  REQUIRE_MESSAGE(hits >= 0, after_first);
  CHECK(misses >= 1);  // the first read of the segment fetched it from the bucket
  CHECK(metric_value(after_first, "streamlet_storage_cache_bytes") > 0);

  auto second = server.client().Get(path);
  REQUIRE(second);
  REQUIRE(second->status == 200);
  CHECK(second->body == first->body);
  const std::string after_second = scrape(server);
  CHECK(metric_value(after_second, "streamlet_storage_cache_hits_total") == hits + 1);
  CHECK(metric_value(after_second, "streamlet_storage_cache_misses_total") == misses);
}

namespace {

// The flags that put a node on one cluster's catalog and storage: the backends of `shared`
// (PostgreSQL + S3 in platform-pg-s3), or a SQLite file and a directory there. Given after
// the suite's own flags for the node's data directory, they win.
std::vector<std::string> cluster_flags(const fs::path& shared, std::vector<std::string> more) {
  auto& b = backends_of(shared);
  std::vector<std::string> flags = {
      "--catalog", b.catalog_url().empty() ? (shared / "catalog.db").string() : b.catalog_url(),
      "--storage", b.storage_url().empty() ? shared.string() : b.storage_url()};
  flags.insert(flags.end(), more.begin(), more.end());
  return small_ladder(flags);
}

// What a node printed after "generated <what> " (the secret it made), or "".
std::string generated(const ServerProcess& s, const std::string& what) {
  std::smatch m;
  const std::string out = s.output();
  if (!std::regex_search(out, m, std::regex("generated " + what + " ([A-Za-z0-9_-]+)"))) return "";
  return m[1];
}

// A webhook receiver on loopback that keeps every delivery.
struct HookReceiver {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;  // signature header, body
  HookReceiver() {
    server.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      got.emplace_back(req.get_header_value("Streamlet-Signature"), req.body);
      res.status = 204;
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  ~HookReceiver() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/hook"; }
  size_t count() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

// The status a video reaches through `s`, polled (the embedded backends carry no events
// between processes).
std::string settled_status(const ServerProcess& s, const std::string& token,
                           const std::string& id) {
  std::string status;
  wait_for([&] {
    auto v = call(s, "GET", "/v1/videos/" + id, token);
    status = v.status == 200 ? v.body.value("status", "") : "";
    return status == "ready" || status == "failed";
  });
  return status;
}

}  // namespace

TEST_CASE("cluster: nodes on one catalog accept one generated admin key and sign webhooks alike") {
  TempDir dir;
  HookReceiver hooks;
  const fs::path shared = dir / "shared";
  fs::create_directories(shared);
  for (const char* node : {"a", "b", "c"}) fs::create_directories(dir / node);
  // Two nodes start at the same moment on the empty catalog, neither given --api-key nor
  // --webhook-secret: a worker and an API-only node.
  std::unique_ptr<ServerProcess> a, b;
  {
    std::thread start_b([&] {
      b = std::make_unique<ServerProcess>(dir / "b" / "data", "",
                                          cluster_flags(shared, {"--roles", "api,origin",
                                                                 "--webhook", hooks.url()}));
    });
    a = std::make_unique<ServerProcess>(dir / "a" / "data", "",
                                        cluster_flags(shared, {"--webhook", hooks.url()}));
    start_b.join();
  }
  REQUIRE(a);
  REQUIRE(b);
  // Exactly one of them made (and printed) the admin key and the webhook secret.
  const std::string key_a = generated(*a, "API key"), key_b = generated(*b, "API key");
  CHECK_MESSAGE(key_a.empty() != key_b.empty(), a->output() << "\n---\n" << b->output());
  const std::string key = key_a.empty() ? key_b : key_a;
  REQUIRE(key.size() >= 32);
  const std::string secret_a = generated(*a, "webhook secret");
  const std::string secret_b = generated(*b, "webhook secret");
  CHECK_MESSAGE(secret_a.empty() != secret_b.empty(), a->output() << "\n---\n" << b->output());
  const std::string secret = secret_a.empty() ? secret_b : secret_a;
  REQUIRE(!secret.empty());
  // Nothing about it in the nodes' own directories: the catalog keeps it.
  CHECK_FALSE(fs::exists(dir / "a" / "data" / "api-key"));
  CHECK_FALSE(fs::exists(dir / "b" / "data" / "api-key"));
  {
    auto catalog = backends_of(shared).open_catalog();
    REQUIRE(catalog.ok());
    auto kept = (*catalog)->shared_secret("webhook_secret", "not this one");
    REQUIRE(kept.ok());
    CHECK(*kept == secret);
  }

  // Both nodes take the key as the admin's, and refuse another.
  for (ServerProcess* node : {a.get(), b.get()}) {
    auto me = call(*node, "GET", "/v1/auth/me", key);
    CHECK_MESSAGE(me.status == 200, me.body.dump());
    CHECK(me.body["user"]["role"] == "admin");
    CHECK(call(*node, "GET", "/v1/auth/me", key + "0").status == 401);
  }

  // A video uploaded through b is transcoded by a (the only worker), which delivers the hook.
  auto first = tus_upload(*b, key, clip_small());
  CHECK(settled_status(*b, key, first.video_id) == "ready");
  wait_for([&] { return hooks.count() == 1; }, 30);
  REQUIRE(hooks.count() == 1);
  // a stops; a third node, started now, finds the key and the secret made, and delivers the next.
  a->stop_with(SIGTERM);
  ServerProcess c(dir / "c" / "data", "", cluster_flags(shared, {"--webhook", hooks.url()}));
  CHECK(generated(c, "API key").empty());
  CHECK(generated(c, "webhook secret").empty());
  CHECK(call(c, "GET", "/v1/auth/me", key).status == 200);
  auto second = tus_upload(*b, key, clip_small());
  CHECK(settled_status(*b, key, second.video_id) == "ready");
  wait_for([&] { return hooks.count() == 2; }, 30);

  std::lock_guard lock(hooks.mu);
  REQUIRE(hooks.got.size() == 2);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::set<std::string> videos;
  for (const auto& [signature, body] : hooks.got) {
    CHECK_MESSAGE(streamlet::webhooks::verify(secret, signature, body, now).ok(), signature);
    videos.insert(json::parse(body)["video"]["id"].get<std::string>());
  }
  CHECK(videos == std::set<std::string>{first.video_id, second.video_id});
}

TEST_CASE("cluster: --api-key and --webhook-secret given to a node win over the catalog's") {
  TempDir dir;
  HookReceiver hooks;
  const fs::path shared = dir / "shared";
  fs::create_directories(shared);
  for (const char* node : {"a", "b"}) fs::create_directories(dir / node);
  ServerProcess a(dir / "a" / "data", "", cluster_flags(shared, {"--webhook", hooks.url()}));
  const std::string key = generated(a, "API key");
  REQUIRE(!key.empty());
  ServerProcess b(dir / "b" / "data", "own-key",
                  cluster_flags(shared, {"--webhook", hooks.url(), "--webhook-secret", "own"}));
  CHECK(call(b, "GET", "/v1/auth/me", "own-key").status == 200);
  CHECK(call(b, "GET", "/v1/auth/me", key).status == 401);  // b takes only its own key
  CHECK(call(a, "GET", "/v1/auth/me", "own-key").status == 401);
  CHECK(generated(b, "webhook secret").empty());
}

namespace {

// A PATCH whose body stops after its first `first` bytes until `go` is set (or the server is
// gone): a request in the middle of its body while the test does something else.
struct HeldPatch {
  std::atomic<bool> go{false};
  std::atomic<bool> started{false};
  std::optional<httplib::Result> result;  // once the thread is joined
  std::thread thread;
  HeldPatch(const ServerProcess& s, const std::string& token, const std::string& path,
            std::string body, size_t first) {
    thread = std::thread([this, &s, token, path, body = std::move(body), first] {
      auto c = s.client();
      httplib::Headers h = bearer(token);
      h.emplace("Tus-Resumable", "1.0.0");
      h.emplace("Upload-Offset", "0");
      result.emplace(c.Patch(
          path, h, body.size(),
          [&](size_t offset, size_t, httplib::DataSink& sink) {
            if (offset == 0) {
              started = sink.write(body.data(), first);
              return started.load();
            }
            for (int i = 0; i < 600 && !go; ++i)
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return sink.write(body.data() + offset, body.size() - offset);
          },
          "application/offset+octet-stream"));
    });
  }
  ~HeldPatch() {
    go = true;
    if (thread.joinable()) thread.join();
  }
};

std::string test_bytes_of(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = char(gen());
  return out;
}

httplib::Result tus_patch(const ServerProcess& s, const std::string& token,
                          const std::string& path, uint64_t offset, const std::string& body) {
  httplib::Headers h = bearer(token);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Offset", std::to_string(offset));
  return s.client().Patch(path, h, body, "application/offset+octet-stream");
}

uint64_t tus_offset(const ServerProcess& s, const std::string& token, const std::string& path) {
  httplib::Headers h = bearer(token);
  h.emplace("Tus-Resumable", "1.0.0");
  auto r = s.client().Head(path, h);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return std::stoull(r->get_header_value("Upload-Offset"));
}

// The bytes the store keeps for the upload at `path` (/v1/uploads/<id>).
std::string stored_upload(const fs::path& shared, const std::string& path) {
  return backends_of(shared).read_object("uploads/" + path.substr(path.rfind('/') + 1) + ".bin");
}

}  // namespace

TEST_CASE("cluster: two PATCHes of one upload at one offset on two nodes: one 204, one 409") {
  TempDir dir;
  const fs::path shared = dir / "shared";
  fs::create_directories(shared);
  for (const char* node : {"a", "b"}) fs::create_directories(dir / node);
  const auto flags = cluster_flags(shared, {"--roles", "api"});
  ServerProcess a(dir / "a" / "data", "admin-key", flags);
  ServerProcess b(dir / "b" / "data", "admin-key", flags);
  const std::string mine = test_bytes_of(256 << 10, 1), theirs = test_bytes_of(256 << 10, 2);
  auto up = begin_tus_upload(a, "admin-key", mine.size());

  // a's PATCH is under way (its first 64 KiB sent, the rest held back) when b's arrives.
  HeldPatch held(a, "admin-key", up.upload_path, mine, 64 << 10);
  wait_for([&] { return held.started.load(); }, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // for a to read what it was sent
  auto second = tus_patch(b, "admin-key", up.upload_path, 0, theirs);
  held.go = true;
  held.thread.join();
  REQUIRE(second);
  REQUIRE(held.result);
  REQUIRE(*held.result);
  const httplib::Result& first = *held.result;
  const int first_status = first->status, second_status = second->status;
  CAPTURE(first_status);
  CAPTURE(second_status);
  // Exactly one of them wrote the upload; the other was told why, in JSON.
  CHECK(((first_status == 204) != (second_status == 204)));
  const httplib::Result& refused = first_status == 204 ? second : first;
  CHECK(refused->status == 409);
  auto body = json::parse(refused->body, nullptr, false);
  CHECK_MESSAGE(body.contains("error"), refused->body);
  CHECK(refused->get_header_value("Tus-Resumable") == "1.0.0");
  // One copy of the winner's bytes, seen alike from both nodes.
  CHECK(tus_offset(a, "admin-key", up.upload_path) == mine.size());
  CHECK(tus_offset(b, "admin-key", up.upload_path) == mine.size());
  const std::string stored = stored_upload(shared, up.upload_path);
  CHECK(stored.size() == mine.size());
  CHECK(stored == (first_status == 204 ? mine : theirs));
}

TEST_CASE("cluster: an upload locked by a node killed mid-PATCH is free again after the lease") {
  TempDir dir;
  const fs::path shared = dir / "shared";
  fs::create_directories(shared);
  for (const char* node : {"a", "b"}) fs::create_directories(dir / node);
  const auto flags = cluster_flags(shared, {"--roles", "api"});
  ServerProcess a(dir / "a" / "data", "admin-key", flags);
  ServerProcess b(dir / "b" / "data", "admin-key", flags);
  const std::string bytes = test_bytes_of(256 << 10, 3);
  auto up = begin_tus_upload(b, "admin-key", bytes.size());
  {
    HeldPatch held(a, "admin-key", up.upload_path, bytes, 64 << 10);
    wait_for([&] { return held.started.load(); }, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    // While a holds it, b refuses; then a dies with the lock held.
    auto refused = tus_patch(b, "admin-key", up.upload_path, 0, bytes);
    REQUIRE(refused);
    CHECK(refused->status == 409);
    a.kill9();
  }
  // The client resumes on b from the acknowledged offset once the dead node's lease (10 s by
  // default) has run out; until then b says the upload is locked.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline) {
    const uint64_t offset = tus_offset(b, "admin-key", up.upload_path);
    auto r = tus_patch(b, "admin-key", up.upload_path, offset, bytes.substr(offset));
    REQUIRE(r);
    status = r->status;
    if (status != 409) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  CHECK(status == 204);
  CHECK(stored_upload(shared, up.upload_path) == bytes);
}
