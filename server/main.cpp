// streamlet-server: parses options, opens the platform (the library's stores and workers)
// and wires the routes, one file per area (auth, videos, jobs, media, uploads, ops, web).
//   streamlet-server --listen 127.0.0.1:8080 --data ./data [--api-key KEY] [--workers N]
//   streamlet-server --roles worker --catalog postgresql://... --storage s3://... (a cluster node)
// Options may also come from the environment (STREAMLET_LISTEN, STREAMLET_DATA,
// STREAMLET_API_KEY) or a JSON config file (--config); flags win over both.
#include <cmath>
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "handed_off.hpp"
#include "http_errors.hpp"
#include "routes.hpp"
#include "streamlet/log.hpp"
#include "streamlet/mail.hpp"
#include "streamlet/metrics.hpp"
#include "streamlet/media.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/platform.hpp"
#include "streamlet/upload.hpp"
#include "streamlet/webhooks.hpp"
#include "upload_routes.hpp"
#include "views.hpp"

#ifndef STREAMLET_WEB_DIST
#define STREAMLET_WEB_DIST ""
#endif
#ifndef STREAMLET_WEB_SOURCE_DIST
#define STREAMLET_WEB_SOURCE_DIST ""
#endif

namespace {

using namespace streamlet;

const std::string kUploadsPath(server::uploads_path());  // the route table's
// How long a stop lets requests in flight (an upload's PATCH) run before their reads fail.
constexpr std::chrono::milliseconds kDrainGrace{5'000};
// Requests handed over and waiting for a thread, per pool (each holds a socket and a body of
// at most 64 KiB); more are answered 503 by the front.
constexpr size_t kMaxQueued = 1024;

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data = "streamlet-data";
  std::string api_key;
  uint64_t max_upload_size = 8ull << 30;
  size_t max_uploads = 1000;
  size_t max_uploads_per_user = 20;
  uint64_t max_user_bytes = 0;  // 0 = no limit
  int uploads_per_minute = 30;
  int64_t expiration_seconds = 24 * 3600;
  size_t threads = 16;         // API requests with small bodies
  size_t upload_threads = 16;  // tus requests, whose bodies stream to disk
  int origin_threads = 0;      // event loops of the front; 0: one per core
  size_t keep_alive_requests = 1000;
  int64_t head_timeout_seconds = 10;
  size_t max_streams = 20000;
  size_t max_streams_per_client = 256;
  bool fsync = true;
  int workers = 1;
  int transcode_threads = 0;  // threads of one transcode; 0 = all cores
  std::string ladder;  // "" = the default ladder
  std::string preset = "veryfast";
  double segment_seconds = 6.0;
  double chunk_seconds = 0;  // 0 = automatic (transcode::auto_chunk_seconds: 0 on 2 cores)
  bool progressive = true;  // a processing video plays from its first segments
  std::string default_visibility = "public";
  bool registration = true;
  int registrations_per_hour = 10;
  int64_t session_ttl_seconds = 24 * 3600;
  int64_t view_interval_seconds = 30 * 60;
  int beacons_per_minute = 60;
  int comments_per_minute = 10;
  int likes_per_minute = 60;
  std::string web_root;  // "" = the built bundle if there is one
  int max_attempts = 3;
  int64_t retry_backoff_ms = 10'000;
  int64_t job_lease_seconds = 60;
  std::vector<std::string> webhooks;
  std::string webhook_secret;
  std::string webhook_ca_file;  // "" = the system's trusted certificates
  std::string smtp_url;        // "" = no mail
  std::string smtp_from;
  std::string smtp_user;
  std::string smtp_password_file;
  std::string smtp_ca_file;    // "" = the system's trusted certificates
  int64_t smtp_backoff_ms = 5'000;
  std::string metrics_listen;   // "" = /metrics on the public port
  std::string metrics_token;    // "" = /metrics needs no token
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
  std::string public_url;       // "" = upload URLs from the request's Host header
  std::string roles = "api,worker,origin";
  uint64_t origin_cache_bytes = 1ull << 30;
  platform::BackendUrls backends;  // "" each: the embedded ones under --data
  LogLevel log_level = LogLevel::kWarn;  // x264's statistics and libav's notes only from info
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
      "max-uploads-per-user", "most unfinished uploads of one user (default 20, 0: no limit)",
      cxxopts::value<size_t>())("max-user-bytes",
                                "bytes one user may keep in uploads (default 0: no limit)",
                                cxxopts::value<uint64_t>())(
      "uploads-per-minute", "upload creations per user and minute (default 30, 0: no limit)",
      cxxopts::value<int>())(
      "expiration", "seconds an idle unfinished upload is kept", cxxopts::value<int64_t>())(
      "threads", "threads answering API requests (default 16)", cxxopts::value<size_t>())(
      "upload-threads", "threads answering tus upload requests (default 16)",
      cxxopts::value<size_t>())(
      "origin-threads",
      "event loops of the public port's front (default 0: one per core)",
      cxxopts::value<int>())("keep-alive-requests",
                             "requests per keep-alive connection (default 1000)",
                             cxxopts::value<size_t>())(
      "head-timeout", "seconds a client has to send a whole request head (default 10)",
      cxxopts::value<int64_t>())(
      "max-streams", "open progress streams (SSE) in all (default 20000)",
      cxxopts::value<size_t>())(
      "max-streams-per-client", "open progress streams per client address (default 256)",
      cxxopts::value<size_t>())(
      "unsafe-no-fsync", "acknowledge bytes before they are on disk (benchmarks, throwaway data)")(
      "workers", "transcode worker threads (default 1)", cxxopts::value<int>())(
      "transcode-threads",
      "threads one transcode uses, this machine's own, never a job's (default 0: all cores)",
      cxxopts::value<int>())(
      "ladder", "renditions, e.g. 720p,360p or 240p:400k (default: 1080p..360p)",
      cxxopts::value<std::string>())("preset", "x264 preset (default veryfast)",
                                     cxxopts::value<std::string>())(
      "segment-seconds", "segment duration (default 6)", cxxopts::value<double>())(
      "chunk-seconds",
      "cut videos into chunks of N seconds (a multiple of --segment-seconds), each a job any "
      "worker of the cluster takes (default 0: automatic, no chunks below 16 cores)",
      cxxopts::value<double>())(
      "no-progressive",
      "publish a video only when its transcode ends (default: playable while processing)")(
      "default-visibility", "public|unlisted|private for new uploads (default public)",
      cxxopts::value<std::string>())("no-registration", "only the admin creates accounts")(
      "registrations-per-hour", "new accounts per client address and hour (default 10, 0: no limit)",
      cxxopts::value<int>())("session-ttl", "seconds a sign-in lasts (default 86400)",
                             cxxopts::value<int64_t>())(
      "view-interval", "seconds one viewer's beacons count as one view (default 1800)",
      cxxopts::value<int64_t>())(
      "beacons-per-minute", "view beacons per client address and minute (default 60, 0: no limit)",
      cxxopts::value<int>())(
      "comments-per-minute", "comments per user and minute (default 10, 0: no limit)",
      cxxopts::value<int>())(
      "likes-per-minute", "likes and unlikes per user and minute (default 60, 0: no limit)",
      cxxopts::value<int>())(
      "web-root", "directory of the built web app (index.html, assets/)",
      cxxopts::value<std::string>())("max-attempts", "transcode attempts before a job fails",
                                     cxxopts::value<int>())(
      "retry-backoff-ms", "delay before the 2nd attempt (doubles each time)",
      cxxopts::value<int64_t>())(
      "job-lease", "seconds a dead worker's job stays claimed before another takes it (default 60)",
      cxxopts::value<int64_t>())("webhook", "URL told of ready/failed videos (repeatable)",
                                 cxxopts::value<std::vector<std::string>>())(
      "webhook-secret", "HMAC key of webhook signatures", cxxopts::value<std::string>())(
      "webhook-ca-file",
      "PEM certificates https webhook receivers are checked against "
      "(default: the system store)",
      cxxopts::value<std::string>())(
      "smtp-url",
      "mail uploaders when a video is ready or failed, through smtp://HOST[:PORT] (STARTTLS "
      "when offered) or smtps://HOST[:PORT] (default: no mail; needs --smtp-from and "
      "--public-url)",
      cxxopts::value<std::string>())("smtp-from", "the From address of those mails",
                                     cxxopts::value<std::string>())(
      "smtp-user", "SMTP AUTH user (default: no AUTH)", cxxopts::value<std::string>())(
      "smtp-password-file", "file holding the SMTP password (its first line)",
      cxxopts::value<std::string>())(
      "smtp-ca-file", "PEM certificates a TLS mail server is checked against (default: the "
      "system store)", cxxopts::value<std::string>())(
      "smtp-backoff-ms", "wait before the 2nd attempt of a mail (doubles each time, at most 10 "
      "min; 8 attempts; default 5000)", cxxopts::value<int64_t>())(
      "metrics-listen", "HOST:PORT serving /metrics instead of the public port",
      cxxopts::value<std::string>())(
      "metrics-token", "Bearer token /metrics requires (or STREAMLET_METRICS_TOKEN)",
      cxxopts::value<std::string>())(
      "trusted-proxy",
      "address of a reverse proxy whose X-Forwarded-For names the client (repeatable)",
      cxxopts::value<std::vector<std::string>>())(
      "public-url",
      "how clients reach this server, e.g. https://video.example.com; upload URLs use it "
      "instead of the Host header",
      cxxopts::value<std::string>())(
      "roles", "what this node does: api, worker, origin, comma-separated (default all three)",
      cxxopts::value<std::string>())(
      "catalog",
      "the catalog: a SQLite file (default DATA/catalog.db) or postgresql://user:pass@host:port/db",
      cxxopts::value<std::string>())(
      "origin-cache-bytes",
      "an origin node on S3 keeps hot media objects in DATA/cache/origin, this big (default 1 GiB, "
      "0: none)",
      cxxopts::value<uint64_t>())(
      "queue", "the job queue and event bus: postgresql://... (default: in the catalog's database)",
      cxxopts::value<std::string>())(
      "storage",
      "uploads and media: a directory (default DATA) or "
      "s3://BUCKET?endpoint=http://HOST:PORT&region=REGION[&path_style=1]",
      cxxopts::value<std::string>())(
      "log-level",
      "error|warn|info|debug: what the server and libav print (default warn; info adds a line "
      "per upload and x264's statistics per encode)",
      cxxopts::value<std::string>())("h,help", "show help");
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
      c.max_uploads_per_user = j.value("max_uploads_per_user", c.max_uploads_per_user);
      c.max_user_bytes = j.value("max_user_bytes", c.max_user_bytes);
      c.uploads_per_minute = j.value("uploads_per_minute", c.uploads_per_minute);
      c.session_ttl_seconds = j.value("session_ttl_seconds", c.session_ttl_seconds);
      c.view_interval_seconds = j.value("view_interval_seconds", c.view_interval_seconds);
      c.beacons_per_minute = j.value("beacons_per_minute", c.beacons_per_minute);
      c.comments_per_minute = j.value("comments_per_minute", c.comments_per_minute);
      c.likes_per_minute = j.value("likes_per_minute", c.likes_per_minute);
      c.expiration_seconds = j.value("expiration_seconds", c.expiration_seconds);
      c.threads = j.value("threads", c.threads);
      c.origin_threads = j.value("origin_threads", c.origin_threads);
      c.transcode_threads = j.value("transcode_threads", c.transcode_threads);
      c.metrics_listen = j.value("metrics_listen", c.metrics_listen);
      c.metrics_token = j.value("metrics_token", c.metrics_token);
      c.public_url = j.value("public_url", c.public_url);
      c.roles = j.value("roles", c.roles);
      // The webhook secret in a file only root reads, rather than on a command line `ps` shows.
      c.webhook_secret = j.value("webhook_secret", c.webhook_secret);
      c.webhooks = j.value("webhooks", c.webhooks);
      c.smtp_url = j.value("smtp_url", c.smtp_url);
      c.smtp_from = j.value("smtp_from", c.smtp_from);
      c.smtp_user = j.value("smtp_user", c.smtp_user);
      c.smtp_password_file = j.value("smtp_password_file", c.smtp_password_file);
      c.backends.catalog = j.value("catalog", c.backends.catalog);
      c.backends.queue = j.value("queue", c.backends.queue);
      c.backends.storage = j.value("storage", c.backends.storage);
      if (j.contains("log_level")) {
        auto level = parse_log_level(j.value("log_level", std::string()));
        if (!level.ok()) return error(ErrorCode::kInvalidArgument, "config log_level: " + level.status().message());
        c.log_level = *level;
      }
    }
    if (const char* v = std::getenv("STREAMLET_LOG_LEVEL")) {
      auto level = parse_log_level(v);
      if (!level.ok()) return error(ErrorCode::kInvalidArgument, "STREAMLET_LOG_LEVEL: " + level.status().message());
      c.log_level = *level;
    }
    if (const char* v = std::getenv("STREAMLET_LISTEN")) c.listen = v;
    if (const char* v = std::getenv("STREAMLET_DATA")) c.data = v;
    if (const char* v = std::getenv("STREAMLET_API_KEY")) c.api_key = v;
    if (const char* v = std::getenv("STREAMLET_METRICS_TOKEN")) c.metrics_token = v;
    if (args.count("listen")) c.listen = args["listen"].as<std::string>();
    if (args.count("data")) c.data = args["data"].as<std::string>();
    if (args.count("api-key")) c.api_key = args["api-key"].as<std::string>();
    if (args.count("max-upload-size")) c.max_upload_size = args["max-upload-size"].as<uint64_t>();
    if (args.count("max-uploads")) c.max_uploads = args["max-uploads"].as<size_t>();
    if (args.count("max-uploads-per-user"))
      c.max_uploads_per_user = args["max-uploads-per-user"].as<size_t>();
    if (args.count("max-user-bytes")) c.max_user_bytes = args["max-user-bytes"].as<uint64_t>();
    if (args.count("uploads-per-minute"))
      c.uploads_per_minute = args["uploads-per-minute"].as<int>();
    if (args.count("expiration")) c.expiration_seconds = args["expiration"].as<int64_t>();
    if (args.count("threads")) c.threads = args["threads"].as<size_t>();
    if (args.count("upload-threads")) c.upload_threads = args["upload-threads"].as<size_t>();
    if (args.count("origin-threads")) c.origin_threads = args["origin-threads"].as<int>();
    if (args.count("head-timeout")) c.head_timeout_seconds = args["head-timeout"].as<int64_t>();
    if (args.count("max-streams")) c.max_streams = args["max-streams"].as<size_t>();
    if (args.count("max-streams-per-client"))
      c.max_streams_per_client = args["max-streams-per-client"].as<size_t>();
    if (args.count("keep-alive-requests"))
      c.keep_alive_requests = args["keep-alive-requests"].as<size_t>();
    if (args.count("unsafe-no-fsync")) c.fsync = false;
    if (args.count("workers")) c.workers = args["workers"].as<int>();
    if (args.count("transcode-threads"))
      c.transcode_threads = args["transcode-threads"].as<int>();
    if (args.count("ladder")) c.ladder = args["ladder"].as<std::string>();
    if (args.count("preset")) c.preset = args["preset"].as<std::string>();
    if (args.count("segment-seconds")) c.segment_seconds = args["segment-seconds"].as<double>();
    if (args.count("chunk-seconds")) c.chunk_seconds = args["chunk-seconds"].as<double>();
    if (args.count("no-progressive")) c.progressive = false;
    if (args.count("default-visibility"))
      c.default_visibility = args["default-visibility"].as<std::string>();
    if (args.count("no-registration")) c.registration = false;
    if (args.count("session-ttl")) c.session_ttl_seconds = args["session-ttl"].as<int64_t>();
    if (args.count("view-interval"))
      c.view_interval_seconds = args["view-interval"].as<int64_t>();
    if (args.count("beacons-per-minute"))
      c.beacons_per_minute = args["beacons-per-minute"].as<int>();
    if (args.count("comments-per-minute"))
      c.comments_per_minute = args["comments-per-minute"].as<int>();
    if (args.count("likes-per-minute")) c.likes_per_minute = args["likes-per-minute"].as<int>();
    if (args.count("registrations-per-hour"))
      c.registrations_per_hour = args["registrations-per-hour"].as<int>();
    if (args.count("web-root")) c.web_root = args["web-root"].as<std::string>();
    if (args.count("max-attempts")) c.max_attempts = args["max-attempts"].as<int>();
    if (args.count("retry-backoff-ms")) c.retry_backoff_ms = args["retry-backoff-ms"].as<int64_t>();
    if (args.count("job-lease")) c.job_lease_seconds = args["job-lease"].as<int64_t>();
    if (args.count("webhook")) c.webhooks = args["webhook"].as<std::vector<std::string>>();
    if (args.count("webhook-secret")) c.webhook_secret = args["webhook-secret"].as<std::string>();
    if (args.count("webhook-ca-file"))
      c.webhook_ca_file = args["webhook-ca-file"].as<std::string>();
    if (args.count("smtp-url")) c.smtp_url = args["smtp-url"].as<std::string>();
    if (args.count("smtp-from")) c.smtp_from = args["smtp-from"].as<std::string>();
    if (args.count("smtp-user")) c.smtp_user = args["smtp-user"].as<std::string>();
    if (args.count("smtp-password-file"))
      c.smtp_password_file = args["smtp-password-file"].as<std::string>();
    if (args.count("smtp-ca-file")) c.smtp_ca_file = args["smtp-ca-file"].as<std::string>();
    if (args.count("smtp-backoff-ms")) c.smtp_backoff_ms = args["smtp-backoff-ms"].as<int64_t>();
    if (args.count("metrics-listen")) c.metrics_listen = args["metrics-listen"].as<std::string>();
    if (args.count("metrics-token")) c.metrics_token = args["metrics-token"].as<std::string>();
    if (args.count("trusted-proxy"))
      c.trusted_proxies = args["trusted-proxy"].as<std::vector<std::string>>();
    if (args.count("public-url")) c.public_url = args["public-url"].as<std::string>();
    if (args.count("roles")) c.roles = args["roles"].as<std::string>();
    if (args.count("origin-cache-bytes"))
      c.origin_cache_bytes = args["origin-cache-bytes"].as<uint64_t>();
    if (args.count("catalog")) c.backends.catalog = args["catalog"].as<std::string>();
    if (args.count("queue")) c.backends.queue = args["queue"].as<std::string>();
    if (args.count("storage")) c.backends.storage = args["storage"].as<std::string>();
    if (args.count("log-level")) {
      auto level = parse_log_level(args["log-level"].as<std::string>());
      if (!level.ok()) return error(ErrorCode::kInvalidArgument, "--log-level: " + level.status().message());
      c.log_level = *level;
    }
  } catch (const std::exception& e) {
    return error(ErrorCode::kInvalidArgument, e.what());
  }
  if (!c.webhook_ca_file.empty() && ::access(c.webhook_ca_file.c_str(), R_OK) != 0)
    return error(ErrorCode::kInvalidArgument,
                 "--webhook-ca-file: cannot read " + c.webhook_ca_file);
  if (!c.smtp_url.empty() && (c.smtp_from.empty() || c.public_url.empty()))
    return error(ErrorCode::kInvalidArgument,
                 "--smtp-url needs --smtp-from (the sender) and --public-url (the watch links)");
  if (c.smtp_url.empty() && (!c.smtp_from.empty() || !c.smtp_user.empty()))
    return error(ErrorCode::kInvalidArgument, "--smtp-from and --smtp-user need --smtp-url");
  if (c.smtp_backoff_ms < 0)
    return error(ErrorCode::kInvalidArgument, "--smtp-backoff-ms must be 0 or more");
  if (c.job_lease_seconds < 1 || c.job_lease_seconds > 24 * 3600)
    return error(ErrorCode::kInvalidArgument, "--job-lease must be between 1 and 86400 seconds");
  if (c.session_ttl_seconds <= 0 || c.view_interval_seconds <= 0)
    return error(ErrorCode::kInvalidArgument, "--session-ttl and --view-interval must be positive");
  if (c.uploads_per_minute < 0 || c.registrations_per_hour < 0 || c.beacons_per_minute < 0 ||
      c.comments_per_minute < 0 || c.likes_per_minute < 0)
    return error(ErrorCode::kInvalidArgument,
                 "--uploads-per-minute, --registrations-per-hour and --beacons-per-minute must "
                 "be 0 or more");
  if (!c.public_url.empty()) {
    auto url = server::parse_public_url(c.public_url);
    if (!url.ok()) return url.status();
    c.public_url = *url;
  }
  if (c.origin_threads < 0 || c.origin_threads > 256)
    return error(ErrorCode::kInvalidArgument, "--origin-threads must be between 0 and 256");
  if (c.transcode_threads < 0 || c.transcode_threads > 256)
    return error(ErrorCode::kInvalidArgument, "--transcode-threads must be between 0 and 256");
  if (c.head_timeout_seconds < 1 || c.head_timeout_seconds > 3600)
    return error(ErrorCode::kInvalidArgument, "--head-timeout must be between 1 and 3600");
  if (c.max_streams == 0 || c.max_streams_per_client == 0 || c.upload_threads == 0)
    return error(ErrorCode::kInvalidArgument,
                 "--max-streams, --max-streams-per-client and --upload-threads must be positive");
  if (c.threads == 0 || c.expiration_seconds <= 0 || c.workers <= 0 || c.max_attempts <= 0 ||
      c.segment_seconds <= 0 || c.retry_backoff_ms < 0)
    return error(ErrorCode::kInvalidArgument,
                 "--threads, --expiration, --workers, --max-attempts and --segment-seconds must "
                 "be positive");
  const double chunk_segments = c.chunk_seconds / c.segment_seconds;
  if (c.chunk_seconds < 0 || (c.chunk_seconds > 0 && (chunk_segments < 1 - 1e-6 ||
                              std::fabs(chunk_segments - std::round(chunk_segments)) > 1e-6)))
    return error(ErrorCode::kInvalidArgument,
                 "--chunk-seconds must be 0 (automatic) or a whole multiple of --segment-seconds");
  return c;
}

// The mailer of --smtp-url: its password from --smtp-password-file (first line), attempts
// counted in streamlet_mail_attempts_total{result}, what is waiting in streamlet_mail_pending.
Result<std::shared_ptr<mail::Mailer>> start_mailer(const Config& c, metrics::Registry& registry) {
  mail::SmtpOptions so;
  so.url = c.smtp_url;
  so.user = c.smtp_user;
  so.ca_file = c.smtp_ca_file;
  if (!c.smtp_password_file.empty()) {
    std::ifstream in(c.smtp_password_file);
    if (!in || !std::getline(in, so.password))
      return error(ErrorCode::kInvalidArgument,
                   "--smtp-password-file: cannot read " + c.smtp_password_file);
    if (!so.password.empty() && so.password.back() == '\r') so.password.pop_back();
  }
  auto transport = mail::make_smtp_transport(std::move(so));
  if (!transport.ok()) return error(ErrorCode::kInvalidArgument, "--smtp-url: " + transport.status().message());
  auto attempts = registry.counter("streamlet_mail_attempts_total",
                                   "Mail delivery attempts by result (sent, retry, failed)",
                                   {"result"});
  if (!attempts.ok()) return attempts.status();
  mail::MailerOptions mo;
  mo.transport = std::move(*transport);
  mo.backoff_base = std::chrono::milliseconds(c.smtp_backoff_ms);
  const LogLevel level = c.log_level;
  mo.on_attempt = [family = *attempts, level](const mail::AttemptReport& r) {
    family->labels({r.sent ? "sent" : r.final ? "failed" : "retry"}).inc();
    if (r.sent) {
      if (level >= LogLevel::kInfo)
        std::fprintf(stderr, "streamlet-server: mail %llu to %s sent\n",
                     static_cast<unsigned long long>(r.id), r.to.c_str());
    } else if (r.final) {
      std::fprintf(stderr, "streamlet-server: mail %llu to %s failed for good (attempt %d): %s\n",
                   static_cast<unsigned long long>(r.id), r.to.c_str(), r.attempt,
                   r.error.c_str());
    } else if (level >= LogLevel::kWarn) {
      std::fprintf(stderr,
                   "streamlet-server: mail %llu to %s attempt %d failed, retrying in %lld ms: %s\n",
                   static_cast<unsigned long long>(r.id), r.to.c_str(), r.attempt,
                   static_cast<long long>(r.retry_in.count()), r.error.c_str());
    }
  };
  auto started = mail::Mailer::start(std::move(mo));
  if (!started.ok()) return started.status();
  std::shared_ptr<mail::Mailer> mailer = std::move(*started);
  (void)registry.gauge_callback("streamlet_mail_pending", "Mails waiting to be sent or retried",
                                {}, [weak = std::weak_ptr<mail::Mailer>(mailer)] {
                                  auto m = weak.lock();
                                  return std::vector<metrics::GaugeSample>{
                                      {{}, m ? double(m->stats().pending) : 0.0}};
                                });
  return mailer;
}

// When the request on this thread reached routing (for the latency histogram).
thread_local std::chrono::steady_clock::time_point request_started;

int fail(const std::string& message) {
  std::fprintf(stderr, "streamlet-server: %s\n", message.c_str());
  return 2;
}

// Every player connection is a descriptor, and a relayed one is three: take the hard limit.
void raise_open_files_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by one thread via sigwait, so stopping never runs in a signal handler.
  // Blocked before anything starts a thread (the PostgreSQL backends' listeners and senders
  // start in Platform::open), since every thread inherits the mask: one that does not block
  // SIGTERM would take it with the default action and end the server without a shutdown.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raise_open_files_limit();
  auto config = load_config(argc, argv);
  if (!config.ok()) return fail(config.status().message());
  const Config& c = *config;
  media::set_log_level(c.log_level);  // before anything opens a file or starts an encode

  size_t colon = c.listen.rfind(':');
  if (colon == std::string::npos) return fail("--listen must be HOST:PORT");
  std::string host = c.listen.substr(0, colon);
  auto port = upload::parse_uint(c.listen.substr(colon + 1));
  if (!port.ok() || *port > 65535) return fail("--listen: bad port");
  std::string metrics_host;
  int metrics_port = -1;  // -1: /metrics on the public port
  if (!c.metrics_listen.empty()) {
    size_t mc = c.metrics_listen.rfind(':');
    auto mp = mc == std::string::npos ? Result<uint64_t>(error(ErrorCode::kInvalidArgument, ""))
                                      : upload::parse_uint(c.metrics_listen.substr(mc + 1));
    if (!mp.ok() || *mp > 65535) return fail("--metrics-listen must be HOST:PORT");
    metrics_host = c.metrics_listen.substr(0, mc);
    metrics_port = int(*mp);
  }

  std::error_code ec;
  std::filesystem::create_directories(c.data, ec);
  if (ec) return fail(c.data + ": " + ec.message());
  platform::PlatformOptions popts;
  auto roles = platform::parse_roles(c.roles);
  if (!roles.ok()) return fail("--roles: " + roles.status().message());
  popts.roles = *roles;
  popts.origin_cache_bytes = c.origin_cache_bytes;
  popts.data_dir = c.data;
  popts.admin_api_key = c.api_key;
  popts.make_admin_api_key = true;  // without --api-key: the platform's (DATA's or the catalog's)
  popts.workers = c.workers;
  if (!c.ladder.empty()) {
    auto ladder = transcode::parse_ladder(c.ladder);
    if (!ladder.ok()) return fail("--ladder: " + ladder.status().message());
    popts.transcode.ladder = *ladder;
  }
  popts.transcode.preset = c.preset;
  // How many cores a transcode takes is this machine's, so it is not in the job (job_options).
  popts.transcode.threads = c.transcode_threads;
  popts.transcode.segment_seconds = c.segment_seconds;
  popts.transcode.chunk_seconds = c.chunk_seconds;
  popts.transcode.progressive = c.progressive;
  // A keyframe at least every 2 s, and at least once a segment (shorter segments than 2 s
  // would otherwise fail every transcode).
  popts.transcode.keyframe_interval_seconds =
      std::min(popts.transcode.keyframe_interval_seconds, c.segment_seconds);
  popts.retry.max_attempts = c.max_attempts;
  popts.retry.base_backoff = std::chrono::milliseconds(c.retry_backoff_ms);
  popts.job_lease = std::chrono::seconds(c.job_lease_seconds);
  auto visibility = catalog::parse_visibility(c.default_visibility);
  if (!visibility.ok()) return fail("--default-visibility: " + visibility.status().message());
  popts.default_visibility = *visibility;
  popts.allow_registration = c.registration;
  popts.registrations_per_hour = c.registrations_per_hour;
  popts.session_ttl = std::chrono::seconds(c.session_ttl_seconds);
  popts.view_interval = std::chrono::seconds(c.view_interval_seconds);
  popts.beacons_per_minute = c.beacons_per_minute;
  popts.comments_per_minute = c.comments_per_minute;
  popts.likes_per_minute = c.likes_per_minute;
  popts.max_upload_size = c.max_upload_size;
  popts.max_uploads = c.max_uploads;
  popts.max_uploads_per_user = c.max_uploads_per_user;
  popts.max_user_bytes = c.max_user_bytes;
  popts.uploads_per_minute = c.uploads_per_minute;
  popts.upload_expiration = std::chrono::seconds(c.expiration_seconds);
  popts.durable_uploads = c.fsync;
  popts.uploads_path = kUploadsPath;
  // Declared before the platform, so it outlives it: the platform's parts keep pointers into it.
  server::RequestMetrics metrics;
  popts.metrics = &metrics.registry();
  auto opened = platform::Platform::open(popts, c.backends);
  if (!opened.ok()) return fail(opened.status().message());
  platform::Platform& plat = **opened;
  // A secret this node made is shown once, here; the other nodes found it made.
  auto show_made = [](const char* what, const platform::NodeSecret& secret) {
    if (secret.made_here)
      std::printf("streamlet-server: generated %s %s (stored in %s)\n", what,
                  secret.value.c_str(), secret.kept_in.c_str());
  };
  show_made("API key", plat.admin_api_key());
  auto admin_password = plat.ensure_admin();
  if (!admin_password.ok()) return fail(admin_password.status().message());
  // Ready/failed videos are told to every --webhook URL, signed, retried, and journalled
  // under the data dir so a restart resumes what was pending.
  std::unique_ptr<webhooks::WebhookDispatcher> hooks;
  if (!c.webhooks.empty()) {
    // Signed always: with --webhook-secret, or with the catalog's secret, which every node on
    // the catalog shares (the first to need it makes it and prints it).
    auto secret = plat.shared_secret("webhook_secret", c.webhook_secret);
    if (!secret.ok()) return fail("webhook secret: " + secret.status().message());
    show_made("webhook secret", *secret);  // now: the only time it is shown
    webhooks::Options wo;
    wo.urls = c.webhooks;
    wo.secret = secret->value;
    wo.state_dir = (std::filesystem::path(c.data) / "webhooks").string();
    wo.transport = webhooks::make_http_post({.ca_file = c.webhook_ca_file});
    auto started = webhooks::WebhookDispatcher::start(std::move(wo));
    if (!started.ok()) return fail(started.status().message());
    hooks = std::move(*started);
    plat.set_video_finished_callback(
        [&hooks](const std::string& event, const platform::VideoView& video) {
          auto body = webhooks::event_body(event, server::json_text(server::view(video)));
          if (body.ok()) (void)hooks->enqueue(event, std::move(*body));
        });
  }
  // Ready/failed mail to uploaders, queued and retried on the mailer's thread; every attempt
  // counted on /metrics, failures logged.
  std::shared_ptr<mail::Mailer> mailer;
  if (!c.smtp_url.empty()) {
    auto mailer_started = start_mailer(c, metrics.registry());
    if (!mailer_started.ok()) return fail(mailer_started.status().message());
    mailer = std::move(*mailer_started);
    auto set = plat.set_video_mail(mailer, {.from = c.smtp_from, .base_url = c.public_url});
    if (!set.ok()) return fail("--smtp-from: " + set.message());
  }
  plat.set_upload_observer([&c](const upload::UploadInfo& info, const std::string& video) {
    if (c.log_level < LogLevel::kInfo) return;
    auto name = info.metadata.find("filename");
    bool named = name != info.metadata.end();
    std::printf("streamlet-server: upload %s complete (%llu bytes%s%s)%s%s\n", info.id.c_str(),
                static_cast<unsigned long long>(info.offset), named ? ", " : "",
                named ? name->second.c_str() : "",
                video.empty() ? "" : ", transcode queued for video ", video.c_str());
    std::fflush(stdout);
  });


  server::ApiServer svr;
  const size_t threads = c.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);
  svr.set_tcp_nodelay(true);
  // httplib's default (5 requests per connection) makes players and caches reconnect
  // constantly; a connection still holds its thread only while it is busy or idle < 5 s.
  svr.set_keep_alive_max_count(c.keep_alive_requests);
  // Only the upload routes stream bodies to disk; any other body is read into memory by
  // httplib, so refuse large ones before it does.
  // Request heads and framing were checked by the front, which also read every body that is
  // not an upload's (at most FrontOptions::max_buffered_body) before handing it over.
  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_started = std::chrono::steady_clock::now();
    server::clear_route();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        server::send_error(res, error(ErrorCode::kInternal, "internal error"));
      });
  // The web app: --web-root, else the bundle the build made (STREAMLET_WEB_DIST, web/dist),
  // else <prefix>/share/streamlet/web next to an installed binary.
  std::filesystem::path web_root = c.web_root;
  if (web_root.empty()) {
    std::error_code wec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", wec);
    for (std::filesystem::path candidate :
         {std::filesystem::path(STREAMLET_WEB_DIST),
          std::filesystem::path(STREAMLET_WEB_SOURCE_DIST),
          wec ? std::filesystem::path() : exe.parent_path() / "../share/streamlet/web"}) {
      if (!candidate.empty() && std::filesystem::is_regular_file(candidate / "index.html", wec)) {
        web_root = candidate;
        break;
      }
    }
  }
  // Errors httplib produces itself (no route, unparsable request, URI too long) get the same
  // JSON body as ours; HEAD answers and bodies a handler already set are left alone.
  // On a node of a cluster that does not hold every role, a 404 says which it holds.
  const std::string not_here =
      *roles == platform::Roles{} ? "no such endpoint"
                                  : "no such endpoint on this node (its roles: " +
                                        platform::to_string(*roles) + ")";
  // A browser asking for an address that is not a page (nor under an API prefix) gets the
  // web app with status 404, which shows its "Page not found" page.
  const bool web_pages = roles->api;
  svr.set_error_handler([not_here, web_pages, &web_root](const httplib::Request& req,
                                                         httplib::Response& res) {
    if (!res.body.empty() || req.method == "HEAD" || res.status < 400) return;
    const int status = res.status;
    if (status == 404 && web_pages && req.method == "GET" && server::is_page_path(req.path)) {
      server::send_web_page(web_root, res);
      res.status = 404;
    } else if (status == 404) {
      server::send_error(res, error(ErrorCode::kNotFound, not_here));
    } else {
      res.set_content(nlohmann::json{{"error", "HTTP " + std::to_string(status)},
                                     {"code", "http_" + std::to_string(status)}}
                          .dump(),
                      "application/json");
    }
  });
  std::atomic<bool> stopping{false};
  metrics.set_platform_stats([&plat] { return plat.stats(); });
  server::Routes routes{plat,          web_root,         stopping,         metrics, {},
                        metrics_port < 0, c.metrics_token, c.trusted_proxies, c.public_url};
  // A node answers what its roles are for; /healthz, /readyz and /metrics on every node.
  if (roles->api) server::register_upload_routes(svr, plat, metrics, c.public_url);
  // Requests are timed from routing to the end of the response (httplib runs both, and the
  // logger, on the connection's thread).
  svr.set_logger([&metrics](const httplib::Request& req, const httplib::Response& res) {
    auto elapsed = std::chrono::steady_clock::now() - request_started;
    metrics.observe(server::request_route(req.path), req.method, res.status, elapsed);
  });
  if (roles->api) {
    server::register_auth_routes(routes, svr);
    server::register_video_routes(routes, svr);
    server::register_social_routes(routes, svr);
    server::register_job_routes(routes, svr);
    server::register_share_routes(routes, svr);
  }
  if (roles->origin) server::register_media_routes(routes, svr);
  server::register_ops_routes(routes, svr);
  if (roles->api) server::register_web_routes(routes, svr);
  server::register_method_not_allowed(routes, svr);

  // The front owns the public port: its event loops read and check every request, answer
  // /media playback and progress streams themselves, and hand each other request, whole or
  // (uploads) with its body following on the socket, to httplib's request processing on a
  // pool. Answered connections come back to the front between requests, so no thread waits
  // on a slow or idle client.
  if (!svr.begin_handoffs()) return fail("cannot create a socket");
  std::unique_ptr<origin::Front> front;
  std::atomic<origin::Front*> front_ref{nullptr};  // for the pools' give-back
  std::atomic<int64_t> hard_deadline_ns{0};        // set on stop: reads and writes then fail
  auto api_pool = std::make_unique<httplib::ThreadPool>(c.threads);
  auto upload_pool = std::make_unique<httplib::ThreadPool>(c.upload_threads);
  server::ConnectionLimits limits;
  limits.hard_deadline_ns = &hard_deadline_ns;
  origin::FrontOptions fo;
  fo.host = host;
  fo.port = int(*port);
  fo.threads = c.origin_threads;
  fo.head_timeout = std::chrono::seconds(c.head_timeout_seconds);
  fo.max_requests_per_connection = c.keep_alive_requests;
  fo.max_streams = c.max_streams;
  fo.max_streams_per_client = c.max_streams_per_client;
  fo.prefix = server::pattern_prefix(server::route_spec(server::RouteId::kMediaGet).pattern);
  // Progress streams are the API's: on a node without it they are plain requests, which find
  // no route and answer 404 like the rest of the API there.
  fo.classify = [api = roles->api](const origin::FrontRequest& req) {
    auto kind = server::classify_request(req);
    return !api && kind == origin::RequestKind::kEventStream ? origin::RequestKind::kBuffered
                                                             : kind;
  };
  fo.stream_handler = server::event_stream_handler(routes);
  // Requests waiting for a thread are bounded: past kMaxQueued per pool the front answers
  // 503, so a flood cannot pile up sockets and buffered bodies without end.
  std::atomic<size_t> api_queued{0}, upload_queued{0};
  fo.handoff = [&svr, &api_pool, &upload_pool, &api_queued, &upload_queued, &front_ref,
                &limits](origin::HandOff& off) {
    auto& pool = off.streamed ? upload_pool : api_pool;
    auto& queued = off.streamed ? upload_queued : api_queued;
    if (queued.fetch_add(1) >= kMaxQueued) {
      queued.fetch_sub(1);
      return false;
    }
    pool->enqueue([&svr, &front_ref, &limits, &queued, off = std::move(off)]() mutable {
      queued.fetch_sub(1);
      auto served = svr.serve(off, limits);
      if (auto* f = front_ref.load())
        return f->adopt(off.fd, std::move(served.after), !served.keep_alive);
      ::close(off.fd);  // only in the instant between the front's start and front_ref
    });
    return true;
  };
  auto started_front = origin::Front::start(
      fo,
      [&plat](std::string_view id, const origin::OriginRequest& req) {
        return plat.serve_media(id, req);
      },
      [&metrics](const origin::FrontRequestLog& log) {
        using server::RouteId, server::route_spec;
        const std::string_view label =
            log.kind == origin::FrontAnswer::kPlayback      ? route_spec(RouteId::kMediaGet).label
            : log.kind == origin::FrontAnswer::kEventStream ? route_spec(RouteId::kVideoEvents).label
                                                            : "unparsed";
        metrics.observe(std::string(label), log.method.empty() ? "other" : std::string(log.method), log.status,
                        log.elapsed);
      });
  if (!started_front.ok())
    return fail("cannot listen on " + c.listen + ": " + started_front.status().message());
  front = std::move(*started_front);
  front_ref = front.get();
  const int public_port = front->port();
  std::unique_ptr<server::MetricsListener> metrics_listener;
  if (metrics_port >= 0) {
    auto ml = server::MetricsListener::start(metrics_host, metrics_port, metrics, c.metrics_token);
    if (!ml.ok()) return fail("cannot listen on " + c.metrics_listen + " (--metrics-listen)");
    metrics_listener = std::move(*ml);
  }
  auto started = plat.start();
  if (!started.ok()) return fail(started.message());
  std::printf("streamlet-server: listening on http://%s:%d\n", host.c_str(), public_port);
  if (metrics_listener)
    std::printf("streamlet-server: metrics on http://%s:%d\n", metrics_host.c_str(),
                metrics_listener->port());
  if (!admin_password->empty())
    std::printf("streamlet-server: created user admin with password %s (shown once)\n",
                admin_password->c_str());
  std::fflush(stdout);

  std::atomic<bool>* stopping_flag_for_signal = &routes.stopping;
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    stopping_flag_for_signal->store(true);
    // No new connections, idle ones and progress streams end; requests in flight (an
    // upload's PATCH) run to their answer, or fail their reads after the grace period.
    front->begin_stop(kDrainGrace);
    hard_deadline_ns.store(
        (std::chrono::steady_clock::now() + kDrainGrace).time_since_epoch().count());
  });
  signal_waiter.join();  // the front serves until a signal
  front->stop(kDrainGrace);
  api_pool->shutdown();  // handed-off requests finish (bounded by the hard deadline)
  upload_pool->shutdown();
  svr.end_handoffs();
  // Requests in flight have finished (httplib joins its pool in listen); running
  // transcodes go back to the queue for the next start.
  routes.stopping = true;
  if (metrics_listener) metrics_listener->stop();
  plat.stop(/*requeue_running=*/true);
  // No video can finish now; give pending webhooks a moment (the rest stay journalled).
  if (hooks) hooks->stop(std::chrono::seconds(2));
  if (mailer) {
    mailer->stop(std::chrono::seconds(2));
    if (auto n = mailer->stats().abandoned)
      std::fprintf(stderr, "streamlet-server: %llu mail(s) not sent before stopping\n",
                   static_cast<unsigned long long>(n));
  }
  std::printf("streamlet-server: stopped\n");
  return 0;
}
