// Test support shared by every suite: scratch directories, child processes,
// fixtures generated with ffmpeg's lavfi sources (cached per build), ffprobe.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace streamlet::test {

namespace fs = std::filesystem;

// A case that cannot run on this machine (no root for a mount, a tool that is
// not installed) says so and leaves: STREAMLET_SKIP("why") in a TEST_CASE body.
// The test executable then exits with kSkipExitCode unless a check failed, and
// CTest reports the case as skipped (SKIP_RETURN_CODE), never as passed.
constexpr int kSkipExitCode = 77;
void mark_skipped(const std::string& why);
int skipped_count();
#define STREAMLET_SKIP(why)               \
  do {                                    \
    ::streamlet::test::mark_skipped(why); \
    return;                               \
  } while (0)

// A fresh directory removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Quotes one argument for /bin/sh.
std::string shell_quote(const std::string& arg);
// Runs argv through /bin/sh with stdin from /dev/null; output is captured.
CommandResult run(const std::vector<std::string>& argv);
CommandResult run_shell(const std::string& command);

// A media file made by `ffmpeg -y <ffmpeg_args> <path>`, generated once per
// build tree (atomically, so parallel tests may ask for the same one).
fs::path fixture(const std::string& name, const std::vector<std::string>& ffmpeg_args);

// Common fixtures.
fs::path clip_480p_audio();   // 854x480 30 fps, 8 s, stereo 48 kHz AAC
fs::path clip_small();        // 320x240 25 fps, 4 s, with audio

// `ffprobe -show_format -show_streams` (and optionally frames/packets) as JSON.
nlohmann::json ffprobe(const fs::path& path, const std::vector<std::string>& extra = {});

// The calling thread's kernel id, for thread_blocked().
long this_thread_id();
// Polls until thread `tid` of this process sleeps in a futex wait (blocked on a
// mutex or condition variable) or `stop()` is true; false after `limit`. A
// synchronisation with no sleeps in it: "that thread is now waiting" is read
// from /proc/self/task/<tid>/syscall, not guessed from elapsed time.
bool wait_until_blocked(long tid, const std::function<bool()>& stop, double limit_seconds = 60);

std::string read_file(const fs::path& path);
void write_file(const fs::path& path, const std::string& content);

// Paths of the programs under test.
fs::path cli_path();
fs::path server_path();

}  // namespace streamlet::test
