// streamlet-cli upload FILE --server URL [--api-key KEY] [--parallel N]
// Uploads with tus, resuming an interrupted upload of the same file (same path, size and
// mtime, same server) from where the server says it stands; prints the upload URL.
#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <optional>

#include "command.hpp"
#include "progress.hpp"
#include "streamlet/upload_client.hpp"

namespace streamlet::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCommand = "upload";

// Where unfinished uploads are remembered: $XDG_CACHE_HOME/streamlet/uploads.json.
fs::path resume_state_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home ? home : ".") / ".cache";
  return base / "streamlet" / "uploads.json";
}

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
  upload::ClientOptions client_options;
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
  client_options.bearer_token = api_key;

  // The tus endpoint: the server root gets /v1/uploads appended.
  while (!server.empty() && server.back() == '/') server.pop_back();
  std::string endpoint = server;
  if (endpoint.size() < 11 || endpoint.compare(endpoint.size() - 11, 11, "/v1/uploads") != 0)
    endpoint += "/v1/uploads";

  std::optional<ProgressDisplay> progress;
  auto started = std::chrono::steady_clock::now();
  upload::UploadParams params;
  params.endpoint = endpoint;
  params.file = file;
  params.metadata = {{"filename", fs::path(file).filename().string()}};
  params.parallel = parallel;
  params.resume_state = resume_state_path();
  params.resume = resume;
  params.on_start = [&](const std::vector<std::string>& urls, bool resumed) {
    if (resumed) std::fprintf(stderr, "streamlet-cli upload: resuming %s\n", urls[0].c_str());
    progress.emplace(kCommand);
    started = std::chrono::steady_clock::now();
  };
  params.on_progress = [&](const upload::UploadProgress& p) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    progress->update(p.total ? double(p.acknowledged) / double(p.total) : 1.0,
                     megabytes(p.acknowledged) + " / " + megabytes(p.total) + ", " +
                         megabytes(uint64_t(double(p.acknowledged) / std::max(secs, 1e-3))) + "/s");
  };

  upload::Client client(client_options);
  auto done = client.upload(params);
  if (!done.ok()) {
    // Once the uploads exist, what the server acknowledged is remembered for the next run.
    print_error(kCommand, done.status().message() +
                              (progress ? " (run the same command again to resume)" : ""));
    return exit_code(done.status());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  std::snprintf(took, sizeof took, " in %.1f s", secs);
  progress->finish(megabytes(done->bytes) + took);
  std::printf("%s\n", done->url.c_str());
  return kExitOk;
}

RegisterCommand reg(kCommand, {"upload a file to streamlet-server (tus, resumable)", run_upload});

}  // namespace

}  // namespace streamlet::cli
