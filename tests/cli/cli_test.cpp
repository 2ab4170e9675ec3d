// streamlet-cli as a user runs it: exit codes, one-line errors, JSON, progress.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/support.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;

namespace {
std::string cli() { return cli_path().string(); }
int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST_CASE("cli probe prints JSON, and a missing file is exit 3 with one line") {
  auto ok = run({cli(), "probe", clip_small().string()});
  REQUIRE(ok.exit_code == 0);
  auto j = nlohmann::json::parse(ok.output);
  CHECK(j["video"][0]["codec"] == "h264");

  auto missing = run({cli(), "probe", "/nonexistent/clip.mp4"});
  CHECK(missing.exit_code == 3);
  CHECK(count_lines(missing.output) == 1);
  CHECK(missing.output.rfind("streamlet-cli probe: not found: /nonexistent/clip.mp4", 0) == 0);
}

TEST_CASE("cli transcode: usage errors are exit 2, bad input exit 3, nothing written") {
  TempDir d;
  CHECK(run({cli(), "transcode", clip_small().string()}).exit_code == 2);  // no -o
  CHECK(run({cli(), "transcode", clip_small().string(), "-o", (d / "o").string(), "--ladder", "720x"}).exit_code == 2);
  CHECK(run({cli(), "transcode", clip_small().string(), "-o", (d / "o").string(), "--formats", "smooth"}).exit_code == 2);
  CHECK(run({cli(), "transcode", clip_small().string(), "-o", (d / "o").string(), "--segment-seconds", "0"}).exit_code == 2);
  CHECK(run({cli(), "transcode", clip_small().string(), "-o", (d / "o").string(), "--preset", "warp9"}).exit_code == 2);
  CHECK(run({cli(), "frobnicate"}).exit_code == 2);
  write_file(d / "essay.mp4", "not a video at all");
  auto bad = run({cli(), "transcode", (d / "essay.mp4").string(), "-o", (d / "o").string()});
  CHECK(bad.exit_code == 3);
  CHECK(count_lines(bad.output) == 1);
  CHECK_FALSE(fs::exists(d / "o"));
}

TEST_CASE("cli transcode writes the ladder, prints a JSON summary and plain progress lines off a terminal") {
  TempDir d;
  auto r = run_shell(shell_quote(cli()) + " transcode " + shell_quote(clip_small().string()) + " -o " +
                     shell_quote((d / "out").string()) + " --ladder 240p:300k,144p:150k --formats hls --json 2>" +
                     shell_quote((d / "stderr.txt").string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  auto j = nlohmann::json::parse(r.output);
  CHECK(j["video"].size() == 2);
  CHECK(j["hls_master"] == (d / "out" / "master.m3u8").string());
  CHECK(j["dash_manifest"] == "");
  CHECK(fs::exists(d / "out" / "master.m3u8"));
  CHECK_FALSE(fs::exists(d / "out" / "manifest.mpd"));
  CHECK(fs::exists(d / "out" / "summary.json"));
  std::string progress = read_file(d / "stderr.txt");
  CHECK(progress.find("transcode: done") != std::string::npos);
  CHECK(progress.find('\r') == std::string::npos);  // no bar redraws in a log
}

TEST_CASE("cli transcode draws a progress bar on a terminal") {
  TempDir d;
  // script(1) gives the CLI a real pseudo-terminal.
  auto r = run({"script", "-qec",
                cli() + " transcode " + shell_quote(clip_small().string()) + " -o " +
                    shell_quote((d / "out").string()) + " --ladder 144p:150k",
                (d / "typescript").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("\rtranscode [") != std::string::npos);
  CHECK(r.output.find("100.0%") != std::string::npos);
}

TEST_CASE("cli transcode interrupted with SIGINT exits 130 and leaves no output") {
  TempDir d;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string out = (d / "out").string();
    std::string in = clip_480p_audio().string();
    freopen("/dev/null", "w", stderr);
    execl(cli_path().c_str(), "streamlet-cli", "transcode", in.c_str(), "-o", out.c_str(), "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the run is under way (its hidden work directory exists), then interrupt.
  for (int i = 0; i < 200; ++i) {
    bool started = false;
    for (const auto& e : fs::directory_iterator(d.path())) started |= e.path().filename().string()[0] == '.';
    if (started) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_FALSE(fs::exists(d / "out"));
  for (const auto& e : fs::directory_iterator(d.path())) FAIL_CHECK("left behind: " << e.path());
}
