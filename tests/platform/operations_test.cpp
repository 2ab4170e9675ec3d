// Operations and the web app: health, readiness, metrics, static files, abandoned uploads.
#include "platform_helpers.hpp"
#include "support/raw_http.hpp"

#include <mutex>
#include <thread>

#include "streamlet/webhooks.hpp"

using namespace streamlet::test;

TEST_CASE("health, readiness, metrics and the web app's static files") {
  TempDir dir;
  fs::create_directories(dir / "web" / "assets");
  write_file(dir / "web" / "index.html", "<!doctype html><title>app</title>");
  write_file(dir / "web" / "assets" / "app-abc123.js", "console.log(1)");
  ServerProcess server(dir / "data", "admin-key",
                       small_ladder({"--web-root", (dir / "web").string()}));
  CHECK(call(server, "GET", "/healthz").body["status"] == "ok");
  CHECK(call(server, "GET", "/readyz").status == 200);
  // A request is counted once its response is written, which may be just after the client
  // has read it: poll until the counts show up.
  std::string text;
  wait_for(
      [&] {
        auto m = server.client().Get("/metrics");
        text = m && m->status == 200 ? m->body : "";
        return text.find(R"(streamlet_http_request_duration_seconds_count{route="/readyz"} 1)") !=
                   std::string::npos &&
               text.find(R"(route="/healthz",method="GET",status="200"} 1)") != std::string::npos;
      },
      10);
  CHECK(text.find("streamlet_queue_depth") != std::string::npos);
  CHECK(text.find("streamlet_jobs{state=\"queued\"}") != std::string::npos);
  CHECK(
      text.find(R"(streamlet_http_requests_total{route="/healthz",method="GET",status="200"} 1)") !=
      std::string::npos);
  CHECK(text.find(R"(streamlet_http_request_duration_seconds_count{route="/readyz"} 1)") !=
        std::string::npos);
  CHECK(text.find("streamlet_upload_bytes_total 0") != std::string::npos);
  CHECK(text.find("streamlet_transcode_fps") != std::string::npos);

  for (const char* page : {"/", "/watch/abc123", "/upload", "/library", "/login"}) {
    CAPTURE(page);
    auto r = server.client().Get(page);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "<!doctype html><title>app</title>");
  }
  auto js = server.client().Get("/assets/app-abc123.js");
  REQUIRE(js);
  CHECK(js->status == 200);
  CHECK(js->body == "console.log(1)");
  CHECK(server.client().Get("/assets/missing.js")->status == 404);
  CHECK(server.client().Get("/assets/../index.html")->status != 200);
}

TEST_CASE("playback and the API share the public port, with one front loop or one per core") {
  // The front's event loops answer /media and hand the rest to the API threads.
  for (std::vector<std::string> flags : {std::vector<std::string>{},
                                         std::vector<std::string>{"--origin-threads", "1"}}) {
    CAPTURE(flags.size());
    TempDir dir;
    ServerProcess server(dir / "data", "admin-key", flags);
    auto missing = server.client().Get("/media/nosuchvideo/master.m3u8");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK(json::parse(missing->body, nullptr, false).contains("error"));
    auto traversal = server.client().Get("/media/..%2f..%2fapi-key/x.m3u8");
    REQUIRE(traversal);
    CHECK(traversal->status == 404);
    CHECK(call(server, "GET", "/healthz").body["status"] == "ok");
    std::string text;
    wait_for(
        [&] {
          auto m = server.client().Get("/metrics");
          text = m && m->status == 200 ? m->body : "";
          return text.find(R"(route="/media/{id}/{file}",method="GET",status="404"} 2)") !=
                 std::string::npos;
        },
        10);
    CHECK(text.find(R"(route="/media/{id}/{file}",method="GET",status="404"} 2)") !=
          std::string::npos);
  }
}

TEST_CASE("without a built web app, / says so") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", {"--web-root", (dir / "none").string()});
  auto r = server.client().Get("/");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("web app was not built") != std::string::npos);
}

TEST_CASE("an upload terminated before it finished takes its video with it") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  std::string alice = register_user(server, "alice");
  httplib::Headers h = bearer(alice);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", "1000");
  h.emplace("Upload-Metadata", streamlet::upload::format_metadata({{"filename", "a.mp4"}}));
  auto created = server.client().Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  CHECK(created->get_header_value("Access-Control-Expose-Headers").find("Streamlet-Video-Id") !=
        std::string::npos);
  std::string id = created->get_header_value("Streamlet-Video-Id");
  std::string location = created->get_header_value("Location");
  std::string path = location.substr(location.find("/v1/uploads/"));
  auto video = call(server, "GET", "/v1/videos/" + id, alice);
  CHECK(video.body["status"] == "uploading");
  CHECK(video.body["title"] == "a");
  // Another user may not end it; the uploader may.
  httplib::Headers del = bearer(register_user(server, "bob"));
  del.emplace("Tus-Resumable", "1.0.0");
  CHECK(server.client().Delete(path.c_str(), del)->status == 403);
  CHECK(call(server, "GET", "/v1/videos/" + id, alice).status == 200);
  httplib::Headers mine = bearer(alice);
  mine.emplace("Tus-Resumable", "1.0.0");
  CHECK(server.client().Delete(path.c_str(), mine)->status == 204);
  CHECK(call(server, "GET", "/v1/videos/" + id, alice).status == 404);
}

TEST_CASE("open progress streams do not starve the API, and idle connections hold no thread") {
  TempDir dir;
  // Two API threads, and more open event streams and idle keep-alive connections than that.
  ServerProcess server(dir / "data", "admin-key", {"--threads", "2"});
  std::string alice = register_user(server, "alice");
  const std::string id = begin_tus_upload(server, alice, 1000).video_id;
  // An uploading video's stream stays open until the video is ready or failed.
  std::vector<std::unique_ptr<RawClient>> streams;
  for (int i = 0; i < 6; ++i) {
    streams.push_back(std::make_unique<RawClient>(server.port()));
    streams.back()->send("GET /v1/videos/" + id + "/events HTTP/1.1\r\nHost: x\r\n" +
                         "Authorization: Bearer " + alice + "\r\n\r\n");
    auto head = streams.back()->read(/*head_only=*/true);
    REQUIRE(head.status == 200);
    CHECK(head.header("Content-Type") == "text/event-stream");
  }
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    idle.back()->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(idle.back()->read().status == 200);
  }
  // With a thread per open connection, this would wait for a stream to end (never, here).
  auto c = server.client();
  c.set_read_timeout(10, 0);
  auto listed = c.Get("/v1/videos", bearer(alice));
  REQUIRE(listed);
  CHECK(listed->status == 200);
  // And the idle connections still work when they are used again.
  for (auto& k : idle) {
    k->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(k->read().status == 200);
  }
}

TEST_CASE("webhooks: a ready video is POSTed, signed, to every configured URL") {
  // A real receiver on loopback that records what it is sent.
  httplib::Server receiver;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;  // signature header, body
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    got.emplace_back(req.get_header_value("Streamlet-Signature"), req.body);
    res.status = 204;
  });
  int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { receiver.listen_after_bind(); });

  TempDir dir;
  std::string hook = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  ServerProcess server(dir / "data", "admin-key",
                       small_ladder({"--webhook", hook, "--webhook-secret", "s3cret"}));
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_small());
  CHECK(final_status(follow_events(server, token, up.video_id)) == "ready");
  wait_for([&] {
    std::lock_guard lock(mu);
    return !got.empty();
  }, 30);
  receiver.stop();
  serving.join();

  std::lock_guard lock(mu);
  REQUIRE(got.size() == 1);
  auto body = json::parse(got[0].second);
  CHECK(body["event"] == "video.ready");
  CHECK(body["video"]["id"] == up.video_id);
  CHECK(body["video"]["status"] == "ready");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(streamlet::webhooks::verify("s3cret", got[0].first, got[0].second, now).ok());
  CHECK_FALSE(streamlet::webhooks::verify("other", got[0].first, got[0].second, now).ok());
}
