// The rough edges a newcomer met (issue 13): a server log that is quiet by default, HTML pages
// for addresses that are not the API's, the home page's own listing, blank titles.
#include <set>

#include "streamlet/upload.hpp"
#include "tus_helpers.hpp"

using namespace streamlet::test;

namespace {

// A video record made by a tus creation (its upload left unfinished), owned by the admin key.
std::string new_video(const ServerProcess& s, const std::string& metadata) {
  auto res = s.client().Post("/v1/uploads",
                             tus(s, {{"Upload-Length", "100"}, {"Upload-Metadata", metadata}}),
                             std::string(), "");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  return res->get_header_value("Streamlet-Video-Id");
}

std::string b64(const std::string& s) { return streamlet::upload::format_metadata({{"k", s}}).substr(2); }

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Uploads `clip` with the CLI and waits for the transcode; returns the CLI's output.
std::string upload_and_wait(const ServerProcess& s, const fs::path& clip) {
  auto r = run({cli_path().string(), "upload", clip.string(), "--server", s.base_url(),
                "--api-key", s.api_key(), "--no-resume", "--wait"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

}  // namespace

TEST_CASE("server log: quiet by default and x264's statistics only with --log-level info") {
  TempDir dir;
  const std::vector<std::string> small = {"--ladder", "240p:300k"};
  // Each server's log is next to its data dir: one directory each.
  fs::create_directories(dir / "quiet");
  fs::create_directories(dir / "loud");
  {
    ServerProcess quiet(dir / "quiet" / "data", "test-key", small);
    upload_and_wait(quiet, clip_small());
    const std::string log = quiet.output();
    INFO(log);
    CHECK(count(log, "x264") == 0);
    CHECK(count(log, "[swscaler") == 0);
    CHECK(count(log, "upload ") == 0);  // the per-upload line is info
    CHECK(log.find("listening on") != std::string::npos);
  }
  {
    auto extra = small;
    extra.insert(extra.end(), {"--log-level", "info"});
    ServerProcess loud(dir / "loud" / "data", "test-key", extra);
    upload_and_wait(loud, clip_small());
    const std::string log = loud.output();
    INFO(log);
    CHECK(count(log, "[libx264") > 0);  // its settings and statistics
    CHECK(log.find("transcode queued for video") != std::string::npos);
  }
  // The config file's key says the same; a wrong level is one line and exit 2.
  write_file(dir / "config.json", R"({"log_level": "info"})");
  auto from_config = run({server_path().string(), "--config", (dir / "config.json").string(),
                          "--log-level", "loud", "--data", (dir / "bad").string()});
  CHECK(from_config.exit_code == 2);
  CHECK(from_config.output ==
        "streamlet-server: --log-level: log level must be error, warn, info or debug (got "
        "\"loud\")\n");
  write_file(dir / "config.json", R"({"log_level": "chatty"})");
  auto bad_config = run({server_path().string(), "--config", (dir / "config.json").string(),
                         "--data", (dir / "bad").string()});
  CHECK(bad_config.exit_code == 2);
  CHECK(bad_config.output.find("config log_level: log level must be") != std::string::npos);
}

TEST_CASE("web pages: unknown addresses get an HTML 404 page and trailing slashes the page and the API JSON") {
  TempDir dir;
  fs::create_directories(dir / "web");
  write_file(dir / "web" / "index.html", "<!doctype html><title>app</title>");
  ServerProcess s(dir / "data", "test-key", {"--web-root", (dir / "web").string()});
  auto c = s.client();
  for (const char* path : {"/nope", "/embed/abc/def", "/watch/abc/def", "/upload/x", "/watch/a%21b"}) {
    CAPTURE(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->get_header_value("Content-Type").rfind("text/html", 0) == 0);
    CHECK(r->body == "<!doctype html><title>app</title>");
  }
  for (const char* path : {"/upload/", "/library/", "/login/", "/watch/abc/", "/watch/abc", "/embed/abc", "/u/alice/"}) {
    CAPTURE(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "<!doctype html><title>app</title>");
  }
  for (const char* path : {"/v1/nope", "/v1/videos/abc/nope", "/healthz/x", "/media/../x"}) {
    CAPTURE(path);
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->get_header_value("Content-Type") == "application/json");
    CHECK(nlohmann::json::parse(r->body, nullptr, false).value("code", "") == "not_found");
  }
  auto post = c.Post("/nope", "{}", "application/json");  // not a browser's page load
  REQUIRE(post);
  CHECK(post->get_header_value("Content-Type") == "application/json");
}

TEST_CASE("videos: visibility=public (the home page) leaves out the viewer own unlisted and private videos") {
  TempDir dir;
  ServerProcess s(dir / "data");
  const std::string pub = new_video(s, "title " + b64("shown") + ",visibility " + b64("public"));
  const std::string priv = new_video(s, "title " + b64("mine") + ",visibility " + b64("private"));
  const std::string unl = new_video(s, "title " + b64("link") + ",visibility " + b64("unlisted"));
  auto ids = [&](const std::string& query) {
    auto r = s.client().Get("/v1/videos" + query, {{"Authorization", "Bearer test-key"}});
    REQUIRE(r);
    REQUIRE(r->status == 200);
    std::set<std::string> out;
    const auto page = nlohmann::json::parse(r->body);
    for (const auto& v : page["items"]) out.insert(v["id"].get<std::string>());
    return out;
  };
  CHECK(ids("") == std::set<std::string>{pub, priv, unl});  // the admin sees everything
  CHECK(ids("?visibility=public") == std::set<std::string>{pub});
  CHECK(ids("?visibility=private") == std::set<std::string>{priv});
  auto bad = s.client().Get("/v1/videos?visibility=everyone");
  REQUIRE(bad);
  CHECK(bad->status == 400);
}

TEST_CASE("videos: a blank title is refused: the old one stays") {
  TempDir dir;
  ServerProcess s(dir / "data");
  const std::string id = new_video(s, "title " + b64("Kept"));
  for (const char* title : {"", "   ", " \t "}) {
    CAPTURE(title);
    auto r = s.client().Patch("/v1/videos/" + id, {{"Authorization", "Bearer test-key"}},
                              nlohmann::json{{"title", title}}.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(nlohmann::json::parse(r->body)["error"] == "title: must not be blank");
  }
  auto v = s.client().Get("/v1/videos/" + id, {{"Authorization", "Bearer test-key"}});
  REQUIRE(v);
  CHECK(nlohmann::json::parse(v->body)["title"] == "Kept");
}
