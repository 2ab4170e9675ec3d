// `streamlet-cli upload` against the real server: output, --parallel, resume after the CLI
// is killed, and riding out a server kill -9.
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

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of('\n');
  auto start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - start);
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
    std::string url = last_line(r.output);
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
  CHECK(last_line(out) == url);  // the same upload, not a new one
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
  CHECK(last_line(upload.output()) == url);
  CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
}
