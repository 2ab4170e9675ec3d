// Nodes with roles: each answers what its roles are for, every one answers /healthz, and an
// API node and a worker node on one shared catalog and storage (the embedded backends, two
// processes) turn an upload into a video the way one process does.
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tus_helpers.hpp"

using namespace streamlet::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Runs streamlet-server with `args` until it exits (it must, for a bad flag); its output lines.
std::pair<int, std::vector<std::string>> run_to_exit(const fs::path& dir,
                                                     std::vector<std::string> args) {
  args.insert(args.begin(), server_path().string());
  Child child(args, dir / "refused.log");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (child.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  if (child.running()) child.stop(SIGKILL);
  const int code = child.wait();
  std::vector<std::string> lines;
  std::istringstream text(child.output());
  for (std::string line; std::getline(text, line);)
    if (!line.empty()) lines.push_back(line);
  return {code, lines};
}

fs::path clip() {
  return fixture("roles_clip_2s.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi",
                  "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-ac", "2", "-c:v",
                  "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                  "-shortest"});
}

}  // namespace

TEST_CASE("roles: a bad --roles, --queue, --job-lease or --transcode-threads is one line and exit code 2") {
  TempDir dir;
  const std::string data = (dir / "data").string();
  for (auto [flags, words] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--roles", "api,transcoder"}, "unknown role \"transcoder\""},
           {{"--roles", ""}, "--roles"},
           {{"--queue", "/tmp/queue.db"}, "--queue must be a postgresql:// URL"},
           {{"--job-lease", "0"}, "--job-lease must be between 1 and 86400"},
           {{"--transcode-threads", "-1"}, "--transcode-threads must be between 0 and 256"},
           {{"--transcode-threads", "many"}, "many"}}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--data", data, "--api-key", "k"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto [code, lines] = run_to_exit(dir.path(), args);
    CHECK_MESSAGE(code == 2, flags[0] << " " << flags[1] << ": exit " << code);
    REQUIRE_MESSAGE(lines.size() == 1, flags[0] << " " << flags[1]);
    CHECK_MESSAGE(lines[0].find(words) != std::string::npos, lines[0]);
  }
}

TEST_CASE("roles: an api node and a worker node on a shared catalog and storage make a video") {
  TempDir dir;
  const std::string catalog = (dir / "shared" / "catalog.db").string();
  const std::string store = (dir / "shared" / "store").string();
  fs::create_directories(dir / "shared");
  const std::vector<std::string> shared = {"--catalog", catalog, "--storage", store,
                                           "--ladder", "240p:300k", "--preset", "ultrafast",
                                           "--segment-seconds", "1"};
  auto with = [&](std::string roles) {
    auto v = shared;
    v.insert(v.begin(), {"--roles", roles});
    return v;
  };
  // Each node's data directory under a parent of its own (ServerProcess logs beside it).
  for (const char* node : {"api", "worker", "api2"}) fs::create_directories(dir / node);
  ServerProcess api(dir / "api" / "data", "test-key", with("api,origin"));
  ServerProcess worker(dir / "worker" / "data", "test-key", with("worker"));
  ServerProcess api2(dir / "api2" / "data", "test-key", with("api"));

  // The worker node answers health checks and nothing of the API or /media, saying why.
  auto health = worker.client().Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto list = worker.client().Get("/v1/videos");
  REQUIRE(list);
  CHECK(list->status == 404);
  CHECK_MESSAGE(list->body.find("its roles: worker") != std::string::npos, list->body);
  auto media = worker.client().Get("/media/abcdefabcdef/master.m3u8");
  REQUIRE(media);
  CHECK(media->status == 404);
  CHECK_MESSAGE(media->body.find("its roles: worker") != std::string::npos, media->body);

  // Both nodes keep the secrets in the shared catalog: a session made on one is good on the other.
  auto reg = api.client().Post("/v1/auth/register",
                               json{{"username", "alice"}, {"password", "correct horse"}}.dump(),
                               "application/json");
  REQUIRE(reg);
  REQUIRE(reg->status == 201);
  const std::string token = json::parse(reg->body)["token"];
  auto me = api2.client().Get("/v1/auth/me", {{"Authorization", "Bearer " + token}});
  REQUIRE(me);
  CHECK_MESSAGE(me->status == 200, me->body);

  // Upload through the api node; the worker node transcodes; the api+origin node plays it.
  const std::string bytes = read_file(clip());
  auto created = api.client().Post(
      "/v1/uploads",
      tus(api, {{"Upload-Length", std::to_string(bytes.size())},
                {"Upload-Metadata", "filename Y2xpcC5tcDQ=,visibility cHVibGlj"}}),
      std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const std::string video = created->get_header_value("Streamlet-Video-Id");
  REQUIRE(!video.empty());
  auto sent = patch(api, path_of(created->get_header_value("Location")), 0, bytes);
  REQUIRE(sent);
  REQUIRE(sent->status == 204);
  json v;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = api.client().Get("/v1/videos/" + video);
    REQUIRE(got);
    v = json::parse(got->body);
    if (v["status"] == "ready" || v["status"] == "failed") break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE_MESSAGE(v["status"] == "ready", v.dump());
  auto master = api.client().Get("/media/" + video + "/master.m3u8");
  REQUIRE(master);
  CHECK(master->status == 200);
  CHECK(master->body.find("240p") != std::string::npos);
  // Nothing was written under the nodes' own data directories but their scratch and keys.
  CHECK_FALSE(fs::exists(dir / "api" / "data" / "media" / video));
  CHECK_FALSE(fs::exists(dir / "worker" / "data" / "media" / video));
  CHECK(fs::exists(fs::path(store) / "media" / video / "master.m3u8"));
}
