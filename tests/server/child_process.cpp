#include "child_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <stdexcept>
#include <thread>

#include "support/support.hpp"

namespace streamlet::test {

Child::Child(const std::vector<std::string>& argv, const std::filesystem::path& log,
             const std::vector<std::string>& env)
    : log_(log) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && status_ < 0) stop(SIGKILL);
}

int Child::stop(int sig) {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, sig);
    ::waitpid(pid_, &status_, 0);
  }
  return status_;
}

int Child::wait() {
  if (status_ < 0) ::waitpid(pid_, &status_, 0);
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

bool Child::running() {
  if (status_ >= 0) return false;
  return ::waitpid(pid_, &status_, WNOHANG) == 0 ? (status_ = -1, true) : false;
}

std::string Child::output() const {
  return read_file(log_);
}

ServerProcess::ServerProcess(std::filesystem::path data, std::string api_key,
                             std::vector<std::string> extra, int port)
    : data_(std::move(data)), api_key_(std::move(api_key)), extra_(std::move(extra)) {
  start(port);
}

void ServerProcess::restart() {
  start(port_);
}

void ServerProcess::start(int port) {
  // A server may answer and close before a test client has sent its whole body.
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> argv = {server_path().string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--data", data_.string()};
  if (!api_key_.empty()) argv.insert(argv.end(), {"--api-key", api_key_});
  std::vector<std::string> env;
  if (backend_hook) backend_hook(data_, argv, env);
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  std::filesystem::path log =
      data_.parent_path() / ("server-" + std::to_string(++generation_) + ".log");
  child_ = std::make_unique<Child>(argv, log, env);
  static const std::regex kListening("listening on http://127\\.0\\.0\\.1:(\\d+)");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    std::string out = child_->output();
    if (std::regex_search(out, m, kListening)) {
      port_ = std::stoi(m[1]);
      return;
    }
    if (!child_->running()) throw std::runtime_error("streamlet-server exited: " + out);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("streamlet-server did not start: " + child_->output());
}

httplib::Client ServerProcess::client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(30, 0);
  c.set_write_timeout(30, 0);
  return c;
}

}  // namespace streamlet::test
