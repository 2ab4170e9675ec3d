// streamlet-cli upload FILE --server URL [--api-key KEY] [--title T] [--description D]
//                           [--visibility V] [--wait] [--parallel N]
// Uploads with tus, resuming an interrupted upload of the same file (same path, size and
// mtime, same server) from where the server says it stands; prints the upload URL, the video
// id and its watch page, and with --wait follows the transcode to its end.
#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <map>
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

// A failure as one line that says what to do about it, not only what the library saw.
std::string advice(const Status& status, const std::string& server, bool have_key) {
  const std::string& m = status.message();
  switch (status.code()) {
    case ErrorCode::kIo:
      return m + ": is streamlet-server running at " + server +
             "? Check --server (e.g. http://127.0.0.1:8080) and the network";
    case ErrorCode::kUnauthenticated:
      return have_key ? m + ": the server does not accept this API key; pass a key it made "
                            "(POST /v1/auth/api-keys, or the admin key the server printed at "
                            "its first start) with --api-key or STREAMLET_API_KEY"
                      : m + ": no API key given; pass one with --api-key KEY or set "
                            "STREAMLET_API_KEY";
    case ErrorCode::kPermissionDenied:
      return m + ": this account may not upload; ask the server's administrator";
    default:
      return m;
  }
}

// Follows the video's processing on a bar; returns the exit code.
int wait_for_video(const upload::Client& client, const std::string& server,
                   const std::string& video_id, const std::string& watch) {
  ProgressDisplay bar("transcode");
  auto last = client.follow_video(server, video_id, [&](const upload::VideoProgress& p) {
    if (p.status != "ready" && p.status != "failed")  // finish() shows those
      bar.update(std::max(p.percent, 0.0) / 100.0, p.status);
  });
  if (!last.ok()) {
    print_error(kCommand, advice(last.status(), server, true));
    return exit_code(last.status());
  }
  if (last->status != "ready") {
    bar.finish("failed");
    print_error(kCommand, "processing failed: " +
                              (last->reason.empty() ? std::string("no reason given") : last->reason));
    return kExitRemote;
  }
  bar.finish("ready");
  std::printf("ready: %s\n", watch.c_str());
  return kExitOk;
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
      "no-resume", "always start a new upload")(
      "title", "the video's title (default: the file name without its extension)",
      cxxopts::value<std::string>())("description", "the video's description",
                                     cxxopts::value<std::string>())(
      "visibility", "public, unlisted or private (default: the server's, public unless set)",
      cxxopts::value<std::string>())(
      "wait", "follow the transcode until the video is ready (exit 0) or failed (exit 4)")(
      "h,help", "show help");
  options.parse_positional({"file"});

  std::string file, server, api_key;
  std::map<std::string, std::string> details;  // title, description, visibility
  bool wait = false;
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
                  "usage: streamlet-cli upload FILE --server URL [--api-key KEY] [--title T] "
                  "[--description D] [--visibility public|unlisted|private] [--wait]");
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
    for (const char* key : {"title", "description", "visibility"})
      if (args.count(key)) details[key] = args[key].as<std::string>();
    wait = args.count("wait") > 0;
  } catch (const std::exception& e) {
    print_error(kCommand, e.what());
    return kExitUsage;
  }
  if (parallel < 1 || parallel > 64 || client_options.chunk_size == 0) {
    print_error(kCommand, "--parallel must be 1..64 and --chunk-size positive");
    return kExitUsage;
  }
  if (details.count("visibility") && details["visibility"] != "public" &&
      details["visibility"] != "unlisted" && details["visibility"] != "private") {
    print_error(kCommand, "--visibility must be public, unlisted or private (got \"" +
                              details["visibility"] + "\")");
    return kExitUsage;
  }
  if (details.count("title") && details["title"].find_first_not_of(" \t") == std::string::npos) {
    print_error(kCommand, "--title must not be blank (leave it out to use the file name)");
    return kExitUsage;
  }
  client_options.bearer_token = api_key;

  // The tus endpoint: the server root gets /v1/uploads appended.
  while (!server.empty() && server.back() == '/') server.pop_back();
  std::string endpoint = server;
  if (endpoint.size() < 11 || endpoint.compare(endpoint.size() - 11, 11, "/v1/uploads") != 0)
    endpoint += "/v1/uploads";
  server = endpoint.substr(0, endpoint.size() - 11);  // the server's root, for its pages

  std::optional<ProgressDisplay> progress;
  auto started = std::chrono::steady_clock::now();
  upload::UploadParams params;
  params.endpoint = endpoint;
  params.file = file;
  params.metadata = details;
  params.metadata["filename"] = fs::path(file).filename().string();
  params.parallel = parallel;
  params.resume_state = resume_state_path();
  params.resume = resume;
  params.on_start = [&](const std::vector<std::string>& urls, bool resumed) {
    if (resumed) std::fprintf(stderr, "streamlet-cli upload: resuming %s\n", urls[0].c_str());
    progress.emplace(kCommand);
    started = std::chrono::steady_clock::now();
  };
  // The bar follows the bytes sent (it moves within a chunk); the rate, what the server
  // confirmed since the start.
  params.on_progress = [&](const upload::UploadProgress& p) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    progress->update(p.total ? double(p.sent) / double(p.total) : 1.0,
                     megabytes(p.sent) + " / " + megabytes(p.total) + ", " +
                         megabytes(uint64_t(double(p.sent) / std::max(secs, 1e-3))) + "/s");
  };

  upload::Client client(client_options);
  auto done = client.upload(params);
  if (!done.ok()) {
    // Once the uploads exist, what the server acknowledged is remembered for the next run.
    print_error(kCommand, advice(done.status(), server, !api_key.empty()) +
                              (progress ? " (run the same command again to resume)" : ""));
    return exit_code(done.status());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  std::snprintf(took, sizeof took, " in %.1f s", secs);
  progress->finish(megabytes(done->bytes) + took);
  std::printf("upload: %s\n", done->url.c_str());
  if (done->video_id.empty()) return kExitOk;  // a tus server that is not streamlet-server
  const std::string watch = server + "/watch/" + done->video_id;
  std::printf("video: %s\nwatch: %s\n", done->video_id.c_str(), watch.c_str());
  std::fflush(stdout);
  return wait ? wait_for_video(client, server, done->video_id, watch) : kExitOk;
}

RegisterCommand reg(kCommand, {"upload a file to streamlet-server (tus, resumable)", run_upload});

}  // namespace

}  // namespace streamlet::cli
