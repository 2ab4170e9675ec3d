// `streamlet-cli upload` against the real server: output, --parallel, resume after the CLI
// is killed, and riding out a server kill -9.
#include <sstream>
#include <thread>

#include "streamlet/upload.hpp"
#include "tus_helpers.hpp"

namespace up = streamlet::upload;
using namespace streamlet::test;

namespace {

std::string sha256(const fs::path& p) {
  return up::sha256_file(p).value();
}

// The single upload URL recorded in the CLI's resume state, once it exists.
std::string wait_for_state_url(const fs::path& cache) {
  fs::path state = cache / "streamlet" / "uploads.json";
  for (int i = 0; i < 500; ++i) {
    auto j = nlohmann::json::parse(read_file(state), nullptr, false);
    if (j.is_object() && !j.empty()) return j.begin().value()["parts"][0].get<std::string>();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the CLI never recorded its upload");
  return "";
}

uint64_t server_offset(const ServerProcess& s, const std::string& url) {
  auto r = s.client().Head(path_of(url), tus(s));
  return r && r->status == 200 ? std::stoull(r->get_header_value("Upload-Offset")) : 0;
}

// The value of the CLI's "<name>: value" line ("" when there is none).
std::string line_value(const std::string& text, const std::string& name) {
  size_t at = text.rfind("\n" + name + ": ");
  at = at == std::string::npos ? (text.rfind(name + ": ", 0) == 0 ? 0 : at) : at + 1;
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}
std::string upload_url(const std::string& text) { return line_value(text, "upload"); }

// Lines of the form "upload: NN.N% ..." (the bar on a pipe), as percentages.
std::vector<double> bar_percents(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("upload: ", 0) == 0 && line.find('%') != std::string::npos &&
        line.find("/v1/uploads") == std::string::npos)
      out.push_back(std::stod(line.substr(8)));
  return out;
}

}  // namespace

TEST_CASE("cli upload prints the upload URL and --parallel 4 stores the same bytes") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(6 * 1000 * 1000 + 3, 21));
  std::string cache = "XDG_CACHE_HOME=" + (dir / "cache").string() + " ";
  for (int parallel : {1, 4}) {
    CAPTURE(parallel);
    auto r =
        run_shell(cache + shell_quote(cli_path().string()) + " upload " +
                  shell_quote((dir / "video.bin").string()) + " --server " + server.base_url() +
                  " --api-key test-key --chunk-size 1MiB --parallel " + std::to_string(parallel));
    CHECK(r.exit_code == 0);
    std::string url = upload_url(r.output);
    CHECK(url.rfind(server.base_url() + "/v1/uploads/", 0) == 0);
    CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
    auto head = server.client().Head(path_of(url), tus(server));
    auto meta = up::parse_metadata(head->get_header_value("Upload-Metadata"));
    CHECK(meta.value().at("filename") == "video.bin");
  }
  auto bad_key = run({cli_path().string(), "upload", (dir / "video.bin").string(), "--server",
                      server.base_url(), "--api-key", "nope"});
  CHECK(bad_key.exit_code == 4);
  CHECK(bad_key.output.find("401") != std::string::npos);
  CHECK(bad_key.output.find("--api-key") != std::string::npos);
  auto missing = run(
      {cli_path().string(), "upload", (dir / "nope.bin").string(), "--server", server.base_url()});
  CHECK(missing.exit_code == 3);
}

TEST_CASE("cli upload resumes the same upload after the CLI itself is killed") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(20 * 1000 * 1000, 22));
  std::vector<std::string> env = {"XDG_CACHE_HOME=" + (dir / "cache").string()};
  std::vector<std::string> argv = {
      cli_path().string(), "upload",          (dir / "video.bin").string(),
      "--server",          server.base_url(), "--api-key",
      "test-key",          "--chunk-size",    "1MiB"};
  std::string url;
  uint64_t before = 0;
  {
    auto limited = argv;
    limited.insert(limited.end(), {"--limit-rate", "8M"});  // ~2.5 s: time to interrupt
    Child first(limited, dir / "first.log", env);
    url = wait_for_state_url(dir / "cache");
    for (int i = 0; i < 500 && server_offset(server, url) < 3000000; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    first.stop(SIGKILL);
    before = server_offset(server, url);
  }
  CHECK(before >= 3000000);
  CHECK(before < 20000000);

  Child second(argv, dir / "second.log", env);
  CHECK(second.wait() == 0);
  std::string out = second.output();
  CHECK(out.find("resuming " + url) != std::string::npos);
  CHECK(upload_url(out) == url);  // the same upload, not a new one
  CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
}

TEST_CASE("cli upload survives a server kill -9 and restart mid-upload") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(20 * 1000 * 1000, 23));
  Child upload(
      {cli_path().string(), "upload", (dir / "video.bin").string(), "--server", server.base_url(),
       "--api-key", "test-key", "--chunk-size", "4MiB", "--limit-rate", "10M"},
      dir / "cli.log", {"XDG_CACHE_HOME=" + (dir / "cache").string()});
  std::string url = wait_for_state_url(dir / "cache");
  for (int i = 0; i < 500 && server_offset(server, url) < 4 * 1024 * 1024; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  server.kill9();
  server.restart();
  CHECK(upload.wait() == 0);
  CHECK(upload_url(upload.output()) == url);
  CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
}

TEST_CASE("cli upload: --title --description --visibility land on the video and --wait follows it to ready") {
  TempDir dir;
  ServerProcess server(dir / "data", "test-key", {"--ladder", "240p:300k"});
  auto r = run({cli_path().string(), "upload", clip_small().string(), "--server",
                server.base_url() + "/", "--api-key", "test-key", "--title", "Harbour at dusk",
                "--description", "Two lines\nof text", "--visibility", "unlisted", "--wait",
                "--no-resume"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const std::string id = line_value(r.output, "video");
  REQUIRE(!id.empty());
  CHECK(line_value(r.output, "watch") == server.base_url() + "/watch/" + id);
  CHECK(line_value(r.output, "ready") == server.base_url() + "/watch/" + id);
  auto v = server.client().Get("/v1/videos/" + id, {{"Authorization", "Bearer test-key"}});
  REQUIRE(v);
  auto j = nlohmann::json::parse(v->body);
  CHECK(j["title"] == "Harbour at dusk");
  CHECK(j["description"] == "Two lines\nof text");
  CHECK(j["visibility"] == "unlisted");
  CHECK(j["status"] == "ready");  // --wait returned once it was

  auto bad = run({cli_path().string(), "upload", clip_small().string(), "--server",
                  server.base_url(), "--visibility", "friends"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.output == "streamlet-cli upload: --visibility must be public, unlisted or private "
                      "(got \"friends\")\n");
}

TEST_CASE("cli upload --wait exits non-zero with the reason when processing fails") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "noise.mp4", test_bytes(50000, 5));
  auto r = run({cli_path().string(), "upload", (dir / "noise.mp4").string(), "--server",
                server.base_url(), "--api-key", "test-key", "--wait", "--no-resume"});
  INFO(r.output);
  CHECK(r.exit_code == 4);
  CHECK(r.output.find("streamlet-cli upload: processing failed: ") != std::string::npos);
  CHECK(line_value(r.output, "ready").empty());
}

TEST_CASE("cli upload: the bar moves within a chunk and before the server acknowledges it") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(6 * 1000 * 1000, 24));
  // One 32 MiB chunk at 3 MB/s: two seconds in which nothing is acknowledged yet.
  auto r = run({cli_path().string(), "upload", (dir / "video.bin").string(), "--server",
                server.base_url(), "--api-key", "test-key", "--limit-rate", "3M", "--no-resume"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  auto percents = bar_percents(r.output);
  CHECK(std::any_of(percents.begin(), percents.end(), [](double p) { return p > 5 && p < 95; }));
}

TEST_CASE("cli upload: error lines say what to do") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(1000, 25));
  auto down = run({cli_path().string(), "upload", (dir / "video.bin").string(), "--server",
                   "http://127.0.0.1:1", "--api-key", "test-key", "--no-resume"});
  CHECK(down.exit_code != 0);
  CHECK(std::count(down.output.begin(), down.output.end(), '\n') == 1);
  CHECK(down.output.find("is streamlet-server running at http://127.0.0.1:1? Check --server") !=
        std::string::npos);
  auto wrong_key = run({cli_path().string(), "upload", (dir / "video.bin").string(), "--server",
                        server.base_url(), "--api-key", "nope", "--no-resume"});
  CHECK(wrong_key.exit_code == 4);
  CHECK(std::count(wrong_key.output.begin(), wrong_key.output.end(), '\n') == 1);
  CHECK(wrong_key.output.find("with --api-key or STREAMLET_API_KEY") != std::string::npos);
  auto no_key = run_shell("env -u STREAMLET_API_KEY " + shell_quote(cli_path().string()) +
                          " upload " + shell_quote((dir / "video.bin").string()) + " --server " +
                          server.base_url() + " --no-resume");
  CHECK(no_key.exit_code == 4);
  CHECK(no_key.output.find("no API key given; pass one with --api-key KEY") != std::string::npos);
}
