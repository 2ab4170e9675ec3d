#define DOCTEST_CONFIG_IMPLEMENT
#include "support/support.hpp"

#include <unistd.h>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <chrono>
#include <thread>

#include "streamlet/media.hpp"

namespace streamlet::test {

namespace {
// Tests call the library directly; keep libav's own chatter out of their logs.
const bool quiet_libav = [] {
  streamlet::media::set_libav_log_level(streamlet::media::LibavLogLevel::kQuiet);
  return true;
}();
}  // namespace

namespace {
std::atomic<int> skipped_cases{0};
}  // namespace

void mark_skipped(const std::string& why) {
  ++skipped_cases;
  const auto* tc = doctest::getContextOptions()->currentTest;
  std::fprintf(stderr, "SKIPPED: %s: %s\n", tc ? tc->m_name : "?", why.c_str());
  std::fflush(stderr);
}

int skipped_count() {
  return skipped_cases.load();
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "streamlet-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  std::string full = "(" + command + ") </dev/null 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult run(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) {
    if (!cmd.empty()) cmd += ' ';
    cmd += shell_quote(a);
  }
  return run_shell(cmd);
}

fs::path fixture(const std::string& name, const std::vector<std::string>& ffmpeg_args) {
  fs::path dir = STREAMLET_TEST_FIXTURE_DIR;
  fs::create_directories(dir);
  fs::path target = dir / name;
  if (fs::exists(target)) return target;
  // Keep the real extension so ffmpeg picks the muxer.
  fs::path tmp = dir / (".tmp-" + std::to_string(getpid()) + "-" + name);
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"};
  argv.insert(argv.end(), ffmpeg_args.begin(), ffmpeg_args.end());
  argv.push_back(tmp.string());
  auto r = run(argv);
  if (r.exit_code != 0) throw std::runtime_error("fixture " + name + " failed: " + r.output);
  fs::rename(tmp, target);
  return target;
}

fs::path clip_480p_audio() {
  return fixture("clip_480p_audio.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30:duration=8", "-f", "lavfi",
                  "-i", "sine=frequency=440:sample_rate=48000:duration=8", "-ac", "2", "-c:v",
                  "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                  "-shortest"});
}

fs::path clip_small() {
  return fixture("clip_small.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4", "-f", "lavfi",
                  "-i", "sine=frequency=1000:sample_rate=44100:duration=4", "-c:v", "libx264",
                  "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
}

nlohmann::json ffprobe(const fs::path& path, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"ffprobe", "-v", "error", "-print_format", "json",
                                   "-show_format", "-show_streams"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(path.string());
  std::string cmd;
  for (const auto& a : argv) cmd += shell_quote(a) + " ";
  // stderr is kept out of the JSON.
  FILE* pipe = popen((cmd + "2>/dev/null </dev/null").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  pclose(pipe);
  return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
}

long this_thread_id() {
  return static_cast<long>(::syscall(SYS_gettid));
}

bool wait_until_blocked(long tid, const std::function<bool()>& stop, double limit_seconds) {
  const fs::path syscall_file = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (stop()) return true;
    // "202 0x..." while in futex(2); "running" while on a CPU.
    std::ifstream in(syscall_file);
    long nr = -1;
    if (in >> nr && nr == SYS_futex) return true;
    std::this_thread::yield();
  }
  return false;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

fs::path cli_path() { return STREAMLET_CLI_PATH; }
fs::path server_path() { return STREAMLET_SERVER_PATH; }

}  // namespace streamlet::test

namespace {

// How many cases the run's filters selected (doctest's own count, read when the run ends).
struct SelectedCases : doctest::IReporter {
  static inline unsigned selected = 0;
  explicit SelectedCases(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    selected = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
DOCTEST_REGISTER_LISTENER("selected-cases", 1, SelectedCases);

}  // namespace

// doctest's main, except that a run in which a case skipped itself and none
// failed exits with 77: CTest (SKIP_RETURN_CODE 77, one case per process)
// reports it as skipped, never as passed; and a run asked for named cases
// that selected none fails (a CTest name cut short, e.g. at a ';' CMake splits
// lists on, would otherwise pass having run nothing).
int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;
  bool named = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    named |= arg.starts_with("--test-case=") || arg.starts_with("-tc=");
  }
  if (named && SelectedCases::selected == 0) {
    std::fprintf(stderr, "no test case matches the name asked for: nothing ran\n");
    return 1;
  }
  return streamlet::test::skipped_count() > 0 ? streamlet::test::kSkipExitCode : 0;
}
