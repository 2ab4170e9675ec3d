// streamlet-server: parses options, opens the library's stores and wires the routes.
//   streamlet-server --listen 127.0.0.1:8080 --data ./data [--api-key KEY]
// Options may also come from the environment (STREAMLET_LISTEN, STREAMLET_DATA,
// STREAMLET_API_KEY) or a JSON config file (--config); flags win over both.
#include <httplib.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "auth.hpp"
#include "http_errors.hpp"
#include "streamlet/upload.hpp"
#include "upload_routes.hpp"

namespace {

using namespace streamlet;

constexpr const char* kUploadsPath = "/v1/uploads";
constexpr size_t kMaxBufferedBody = 64 * 1024;  // bodies that are not streamed to disk

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data = "streamlet-data";
  std::string api_key;
  uint64_t max_upload_size = 8ull << 30;
  size_t max_uploads = 1000;
  int64_t expiration_seconds = 24 * 3600;
  size_t threads = 16;
  bool fsync = true;
};

// Precedence: built-in default < config file < environment < command line.
Result<Config> load_config(int argc, char** argv) {
  cxxopts::Options options("streamlet-server", "Streamlet video platform server");
  options.add_options()("listen", "HOST:PORT to listen on (port 0 picks a free one)",
                        cxxopts::value<std::string>())("data", "data directory",
                                                       cxxopts::value<std::string>())(
      "api-key", "API key for write endpoints (generated and stored if absent)",
      cxxopts::value<std::string>())("config", "JSON config file", cxxopts::value<std::string>())(
      "max-upload-size", "largest upload in bytes", cxxopts::value<uint64_t>())(
      "max-uploads", "most unfinished uploads at once", cxxopts::value<size_t>())(
      "expiration", "seconds an idle unfinished upload is kept", cxxopts::value<int64_t>())(
      "threads", "HTTP worker threads", cxxopts::value<size_t>())(
      "unsafe-no-fsync", "acknowledge bytes before they are on disk (benchmarks, throwaway data)")(
      "h,help", "show help");
  Config c;
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help")) {
      std::printf("%s\n", options.help().c_str());
      std::exit(0);
    }
    if (args.count("config")) {
      std::ifstream in(args["config"].as<std::string>());
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (!in || j.is_discarded() || !j.is_object())
        return error(ErrorCode::kInvalidArgument, "cannot read config file as a JSON object");
      c.listen = j.value("listen", c.listen);
      c.data = j.value("data", c.data);
      c.api_key = j.value("api_key", c.api_key);
      c.max_upload_size = j.value("max_upload_size", c.max_upload_size);
      c.max_uploads = j.value("max_uploads", c.max_uploads);
      c.expiration_seconds = j.value("expiration_seconds", c.expiration_seconds);
      c.threads = j.value("threads", c.threads);
    }
    if (const char* v = std::getenv("STREAMLET_LISTEN")) c.listen = v;
    if (const char* v = std::getenv("STREAMLET_DATA")) c.data = v;
    if (const char* v = std::getenv("STREAMLET_API_KEY")) c.api_key = v;
    if (args.count("listen")) c.listen = args["listen"].as<std::string>();
    if (args.count("data")) c.data = args["data"].as<std::string>();
    if (args.count("api-key")) c.api_key = args["api-key"].as<std::string>();
    if (args.count("max-upload-size")) c.max_upload_size = args["max-upload-size"].as<uint64_t>();
    if (args.count("max-uploads")) c.max_uploads = args["max-uploads"].as<size_t>();
    if (args.count("expiration")) c.expiration_seconds = args["expiration"].as<int64_t>();
    if (args.count("threads")) c.threads = args["threads"].as<size_t>();
    if (args.count("unsafe-no-fsync")) c.fsync = false;
  } catch (const std::exception& e) {
    return error(ErrorCode::kInvalidArgument, e.what());
  }
  if (c.threads == 0 || c.expiration_seconds <= 0)
    return error(ErrorCode::kInvalidArgument, "--threads and --expiration must be positive");
  return c;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "streamlet-server: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto config = load_config(argc, argv);
  if (!config.ok()) return fail(config.status().message());
  const Config& c = *config;

  size_t colon = c.listen.rfind(':');
  if (colon == std::string::npos) return fail("--listen must be HOST:PORT");
  std::string host = c.listen.substr(0, colon);
  auto port = upload::parse_uint(c.listen.substr(colon + 1));
  if (!port.ok() || *port > 65535) return fail("--listen: bad port");

  std::error_code ec;
  std::filesystem::create_directories(c.data, ec);
  if (ec) return fail(c.data + ": " + ec.message());
  auto key = server::resolve_api_key(c.api_key, c.data);
  if (!key.ok()) return fail(key.status().message());
  if (key->generated)
    std::printf("streamlet-server: generated API key %s (stored in %s)\n", key->key.c_str(),
                key->file.c_str());

  auto store = upload::UploadStore::open({.dir = std::filesystem::path(c.data) / "uploads",
                                          .max_upload_size = c.max_upload_size,
                                          .max_concurrent_uploads = c.max_uploads,
                                          .expiration = std::chrono::seconds(c.expiration_seconds),
                                          .durable = c.fsync});
  if (!store.ok()) return fail(store.status().message());
  // Finished uploads go here; the transcode queue will hook in at this point.
  (*store)->set_completion_callback([](const upload::CompletedUpload& done) {
    auto name = done.info.metadata.find("filename");
    std::printf("streamlet-server: upload %s complete (%llu bytes%s%s)\n", done.info.id.c_str(),
                static_cast<unsigned long long>(done.info.offset),
                name == done.info.metadata.end() ? "" : ", ",
                name == done.info.metadata.end() ? "" : name->second.c_str());
    std::fflush(stdout);
  });
  upload::TusHandler tus(**store, {.base_path = kUploadsPath});

  // Signals are taken by one thread via sigwait, so stopping never runs in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  httplib::Server svr;
  const size_t threads = c.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);
  svr.set_tcp_nodelay(true);
  // Only the upload routes stream bodies to disk; any other body is read into memory by
  // httplib, so refuse large ones before it does.
  svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    bool streamed = (req.method == "POST" || req.method == "PATCH" || req.method == "DELETE") &&
                    req.path.rfind(kUploadsPath, 0) == 0;
    if (streamed) return httplib::Server::HandlerResponse::Unhandled;
    bool chunked = !req.get_header_value("Transfer-Encoding").empty();
    std::string cl = req.get_header_value("Content-Length");
    auto length = upload::parse_uint(cl.empty() ? "0" : cl);
    if (chunked || !length.ok() || *length > kMaxBufferedBody) {
      server::send_error(res, error(ErrorCode::kTooLarge, "request body too large"));
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty() && res.status == 404)
      server::send_error(res, error(ErrorCode::kNotFound, "no such endpoint"));
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        server::send_error(res, error(ErrorCode::kInternal, "internal error"));
      });
  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server::register_upload_routes(svr, tus, kUploadsPath, key->key);

  int bound = *port == 0 ? svr.bind_to_any_port(host)
                         : (svr.bind_to_port(host, int(*port)) ? int(*port) : -1);
  if (bound <= 0) return fail("cannot listen on " + c.listen);
  std::printf("streamlet-server: listening on http://%s:%d\n", host.c_str(), bound);
  std::fflush(stdout);

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread expirer([&] {
    std::unique_lock lock(mu);
    auto every = std::chrono::seconds(std::clamp<int64_t>(c.expiration_seconds / 10, 1, 60));
    while (!cv.wait_for(lock, every, [&] { return stopping; })) (*store)->expire_idle();
  });
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    svr.stop();
  });
  svr.listen_after_bind();
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  expirer.join();
  pthread_kill(signal_waiter.native_handle(), SIGTERM);  // wake it if we stopped another way
  signal_waiter.join();
  std::printf("streamlet-server: stopped\n");
  return 0;
}
