// streamlet-cli upload FILE --server URL [--api-key KEY] [--parallel N]
// Uploads with tus, resuming an interrupted upload of the same file (same path, size and
// mtime, same server) from where the server says it stands; prints the upload URL.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.hpp"
#include "progress.hpp"
#include "upload_tus_client.hpp"

namespace streamlet::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCommand = "upload";

// Resume state: upload URLs by file identity, in $XDG_CACHE_HOME/streamlet/uploads.json.
class ResumeState {
 public:
  ResumeState() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home ? home : ".") / ".cache";
    path_ = base / "streamlet" / "uploads.json";
    std::ifstream in(path_);
    if (in) state_ = nlohmann::json::parse(in, nullptr, false);
    if (!state_.is_object()) state_ = nlohmann::json::object();
  }
  nlohmann::json get(const std::string& key) const {
    return state_.contains(key) ? state_[key] : nlohmann::json();
  }
  void put(const std::string& key, nlohmann::json value) {
    if (value.is_null())
      state_.erase(key);
    else
      state_[key] = std::move(value);
    save();
  }

 private:
  // Written atomically so a killed CLI never leaves a torn state file.
  void save() const {
    std::error_code ec;
    fs::create_directories(path_.parent_path(), ec);
    fs::path tmp = path_;
    tmp += ".tmp" + std::to_string(::getpid());
    {
      std::ofstream out(tmp);
      out << state_.dump(1);
      if (!out) return;
    }
    fs::rename(tmp, path_, ec);
  }
  fs::path path_;
  nlohmann::json state_;
};

uint64_t parse_size(const std::string& text) {
  size_t pos = 0;
  double v = std::stod(text, &pos);
  std::string unit = text.substr(pos);
  double mult = unit.empty() || unit == "B"   ? 1
                : unit == "K" || unit == "KB" ? 1e3
                : unit == "M" || unit == "MB" ? 1e6
                : unit == "G" || unit == "GB" ? 1e9
                : unit == "KiB"               ? 1024.0
                : unit == "MiB"               ? 1048576.0
                                              : -1;
  if (mult < 0 || v < 0) throw std::invalid_argument("bad size: " + text);
  return uint64_t(v * mult);
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", double(bytes) / 1e6);
  return buf;
}

int run_upload(int argc, char** argv) {
  cxxopts::Options options("streamlet-cli upload", "Upload a file to streamlet-server with tus");
  options.positional_help("FILE");
  options.add_options()("file", "file to upload", cxxopts::value<std::string>())(
      "server", "server URL (e.g. http://127.0.0.1:8080)", cxxopts::value<std::string>())(
      "api-key", "API key (default: $STREAMLET_API_KEY)", cxxopts::value<std::string>())(
      "parallel", "upload N parts at once, then concatenate",
      cxxopts::value<int>()->default_value("1"))(
      "chunk-size", "bytes per request (e.g. 32MiB)",
      cxxopts::value<std::string>()->default_value("32MiB"))(
      "limit-rate", "cap the upload rate (bytes/s, e.g. 10M)", cxxopts::value<std::string>())(
      "no-resume", "always start a new upload")("h,help", "show help");
  options.parse_positional({"file"});

  std::string file, server, api_key;
  int parallel = 1;
  TusClientOptions client_options;
  bool resume = true;
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help")) {
      std::printf("%s\n", options.help().c_str());
      return kExitOk;
    }
    if (!args.count("file") || !args.count("server")) {
      print_error(kCommand,
                  "usage: streamlet-cli upload FILE --server URL [--api-key KEY] "
                  "[--parallel N]");
      return kExitUsage;
    }
    file = args["file"].as<std::string>();
    server = args["server"].as<std::string>();
    if (args.count("api-key"))
      api_key = args["api-key"].as<std::string>();
    else if (const char* env = std::getenv("STREAMLET_API_KEY"))
      api_key = env;
    parallel = args["parallel"].as<int>();
    client_options.chunk_size = parse_size(args["chunk-size"].as<std::string>());
    if (args.count("limit-rate"))
      client_options.rate_limit = parse_size(args["limit-rate"].as<std::string>());
    resume = !args.count("no-resume");
  } catch (const std::exception& e) {
    print_error(kCommand, e.what());
    return kExitUsage;
  }
  if (parallel < 1 || parallel > 64 || client_options.chunk_size == 0) {
    print_error(kCommand, "--parallel must be 1..64 and --chunk-size positive");
    return kExitUsage;
  }
  client_options.api_key = api_key;
  if (client_options.rate_limit) client_options.rate_limit /= uint64_t(parallel);

  // The tus endpoint: the server root gets /v1/uploads appended.
  while (!server.empty() && server.back() == '/') server.pop_back();
  std::string endpoint = server;
  if (endpoint.size() < 11 || endpoint.compare(endpoint.size() - 11, 11, "/v1/uploads") != 0)
    endpoint += "/v1/uploads";
  if (auto u = parse_url(endpoint); !u.ok()) {
    print_error(kCommand, u.status().message());
    return kExitUsage;
  }

  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    print_error(kCommand, file + ": not a readable regular file");
    if (fd >= 0) ::close(fd);
    return kExitBadInput;
  }
  const uint64_t size = uint64_t(st.st_size);
  std::error_code ec;
  const std::string key = fs::absolute(file, ec).string() + "|" + std::to_string(size) + "|" +
                          std::to_string(st.st_mtim.tv_sec) + "." +
                          std::to_string(st.st_mtim.tv_nsec) + "|" + endpoint + "|" +
                          std::to_string(parallel);
  const std::map<std::string, std::string> metadata{
      {"filename", fs::path(file).filename().string()}};

  // Parts: [begin, end) of the file, one tus upload each (just one without --parallel).
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t part = (size + uint64_t(parallel) - 1) / uint64_t(parallel);
  for (int i = 0; i < parallel; ++i) {
    uint64_t b = std::min(size, part * uint64_t(i)), e = std::min(size, b + part);
    ranges.emplace_back(b, e);
  }

  ResumeState state;
  TusClient client(client_options);
  std::vector<std::string> urls;
  nlohmann::json saved = resume ? state.get(key) : nlohmann::json();
  if (saved.is_object() && saved["parts"].is_array() && saved["parts"].size() == ranges.size()) {
    for (const auto& u : saved["parts"]) urls.push_back(u.get<std::string>());
    for (const auto& u : urls) {
      if (!client.offset(u).ok()) {  // expired or removed on the server: start over
        urls.clear();
        break;
      }
    }
    if (!urls.empty()) std::fprintf(stderr, "streamlet-cli upload: resuming %s\n", urls[0].c_str());
  }
  if (urls.empty()) {
    for (const auto& [b, e] : ranges) {
      auto url = client.create(endpoint, e - b, metadata, parallel > 1);
      if (!url.ok()) {
        print_error(kCommand, url.status().message());
        ::close(fd);
        return exit_code(url.status());
      }
      urls.push_back(*url);
    }
    state.put(key, {{"parts", urls}});
  }

  std::atomic<uint64_t> sent{0};
  std::vector<std::future<Status>> workers;
  for (size_t i = 0; i < ranges.size(); ++i) {
    workers.push_back(std::async(std::launch::async, [&, i] {
      TusClient worker(client_options);
      return worker.send(urls[i], fd, ranges[i].first, ranges[i].second, sent);
    }));
  }
  ProgressDisplay progress(kCommand);
  auto started = std::chrono::steady_clock::now();
  for (auto& w : workers) {
    while (w.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      uint64_t now = sent.load();
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      progress.update(size ? double(now) / double(size) : 1.0,
                      megabytes(now) + " / " + megabytes(size) + ", " +
                          megabytes(uint64_t(double(now) / std::max(secs, 1e-3))) + "/s");
    }
  }
  Status failed;
  for (auto& w : workers)
    if (Status s = w.get(); !s.ok() && failed.ok()) failed = s;
  ::close(fd);
  if (!failed.ok()) {
    print_error(kCommand, failed.message() + " (run the same command again to resume)");
    return exit_code(failed);
  }

  std::string final_url = urls[0];
  if (parallel > 1) {
    auto made = client.concatenate(endpoint, urls, metadata);
    if (!made.ok()) {
      print_error(kCommand, made.status().message());
      return exit_code(made.status());
    }
    final_url = *made;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  std::snprintf(took, sizeof took, " in %.1f s", secs);
  progress.finish(megabytes(size) + took);
  state.put(key, nullptr);  // done: a later upload of the same file starts fresh
  std::printf("%s\n", final_url.c_str());
  return kExitOk;
}

RegisterCommand reg(kCommand, {"upload a file to streamlet-server (tus, resumable)", run_upload});

}  // namespace

}  // namespace streamlet::cli
