// Real child processes for the server tests: streamlet-server on a free loopback port with a
// temp data dir (restartable on the same port and dir), and background CLI runs.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace streamlet::test {

// A program running in the background with stdout+stderr in a log file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& log,
        const std::vector<std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Sends `sig` and reaps the process; returns its wait status.
  int stop(int sig = SIGTERM);
  // Waits for a normal exit; returns the exit code (or 128+signal).
  int wait();
  bool running();
  std::string output() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
  int status_ = -1;
};

class ServerProcess {
 public:
  // Starts streamlet-server --listen 127.0.0.1:<port> --data <data> [--api-key key] [extra...].
  ServerProcess(std::filesystem::path data, std::string api_key = "test-key",
                std::vector<std::string> extra = {}, int port = 0);
  void kill9() { child_->stop(SIGKILL); }
  // Sends `sig` and reaps the server; returns its wait status.
  int stop_with(int sig) { return child_->stop(sig); }
  // Starts it again on the same port and data dir (after kill9 or stop).
  void restart();
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string output() const { return child_->output(); }
  pid_t pid() const { return child_->pid(); }
  httplib::Client client() const;
  const std::string& api_key() const { return api_key_; }

  // Adds flags and environment to every server of this test program, for its data directory
  // (the platform suite's PostgreSQL + S3 build points them at its database and bucket).
  using BackendHook = void (*)(const std::filesystem::path& data, std::vector<std::string>& argv,
                               std::vector<std::string>& env);
  static inline BackendHook backend_hook = nullptr;

 private:
  void start(int port);
  std::filesystem::path data_;
  std::string api_key_;
  std::vector<std::string> extra_;
  int port_ = 0;
  int generation_ = 0;
  std::unique_ptr<Child> child_;
};

}  // namespace streamlet::test
