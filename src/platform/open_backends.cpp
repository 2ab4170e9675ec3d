// Platform::open: the platform on the backends the server's --catalog, --queue and --storage
// name. The embedded ones (SQLite, a directory) are today's; PostgreSQL and S3 make a cluster.
#include <string_view>

#include "platform/local.hpp"
#include "streamlet/accounts.hpp"
#include "streamlet/platform.hpp"
#include "streamlet/postgres.hpp"
#include "streamlet/s3.hpp"
#include "streamlet/storage_cache.hpp"

namespace streamlet::platform {

namespace fs = std::filesystem;

namespace {

bool is_postgres(std::string_view url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}
bool is_s3(std::string_view url) { return url.rfind("s3://", 0) == 0; }

// A URL in an error message without its password.
std::string shown_url(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme)
    return std::string(url);
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon)) + ":***" + std::string(url.substr(at));
}

}  // namespace

Result<std::unique_ptr<Platform>> Platform::open(PlatformOptions options, const BackendUrls& urls) {
  if (options.data_dir.empty()) return error(ErrorCode::kInvalidArgument, "no data directory");
  // The admin key of make_admin_api_key: kept with the other secrets, in DATA beside the
  // default catalog (DATA/api-key, as it always was), else in the catalog, whose first node
  // makes it for all. It is set before open returns, so nothing is served without it.
  const bool make_key = options.make_admin_api_key && options.admin_api_key.empty();
  NodeSecret admin_key;
  admin_key.value = options.admin_api_key;
  if (urls.catalog.empty() && urls.queue.empty() && urls.storage.empty()) {
    if (make_key) {
      std::error_code ec;
      fs::create_directories(options.data_dir, ec);
      STREAMLET_ASSIGN_OR_RETURN(admin_key,
                                 internal::load_or_create_api_key(options.data_dir / "api-key"));
    }
    STREAMLET_ASSIGN_OR_RETURN(auto local, open_local(std::move(options)));
    local->set_admin_api_key(std::move(admin_key));
    return local;
  }
  std::error_code ec;
  const fs::path data = fs::absolute(options.data_dir);
  fs::create_directories(data, ec);
  if (ec) return error(ErrorCode::kIo, data.string() + ": " + ec.message());

  PlatformParts parts;
  // This node's scratch space (sources downloaded for a transcode): whatever a killed process
  // left there is nobody's any more, since the job's next attempt starts over.
  parts.scratch_dir = data / "scratch";
  fs::remove_all(parts.scratch_dir, ec);
  fs::create_directories(parts.scratch_dir, ec);
  if (ec) return error(ErrorCode::kIo, parts.scratch_dir.string() + ": " + ec.message());
  jobs::QueueOptions qopts;
  qopts.retry = options.retry;
  qopts.lease = options.job_lease;

  // The catalog, and the queue beside it unless --queue says otherwise.
  std::string sqlite_path;
  if (is_postgres(urls.catalog)) {
    auto opened = postgres::open_catalog(urls.catalog);
    if (!opened.ok())
      return Status(opened.status().code(), "--catalog " + shown_url(urls.catalog) + ": " +
                                                opened.status().message());
    parts.catalog = std::move(*opened);
  } else {
    sqlite_path = urls.catalog.empty() ? (data / "catalog.db").string()
                                       : fs::absolute(urls.catalog).string();
    if (urls.catalog.empty())
      STREAMLET_RETURN_IF_ERROR(internal::check_catalog_file(data, sqlite_path));
    STREAMLET_ASSIGN_OR_RETURN(parts.catalog, catalog::open_sqlite_catalog(sqlite_path));
  }
  const std::string queue_url = !urls.queue.empty()            ? urls.queue
                                : is_postgres(urls.catalog) ? urls.catalog
                                                              : std::string();
  if (is_postgres(queue_url)) {
    // The queue and the event bus in one database: a job enqueued on an API node wakes a
    // worker on another host, and the worker's progress reaches that API node's streams.
    postgres::QueueConfig qc;
    qc.queue = qopts;
    auto queue = postgres::open_job_queue(queue_url, qc);
    if (!queue.ok())
      return Status(queue.status().code(),
                    "--queue " + shown_url(queue_url) + ": " + queue.status().message());
    parts.queue = std::move(*queue);
    auto bus = postgres::open_event_bus(queue_url);
    if (!bus.ok())
      return Status(bus.status().code(),
                    "--queue " + shown_url(queue_url) + ": " + bus.status().message());
    parts.bus = std::move(*bus);
  } else if (!queue_url.empty()) {
    return error(ErrorCode::kInvalidArgument,
                 "--queue must be a postgresql:// URL (without it the queue is in the catalog's "
                 "database)");
  } else {
    STREAMLET_ASSIGN_OR_RETURN(parts.queue, jobs::open_sqlite_job_queue(sqlite_path, qopts));
  }
  if (!parts.bus) parts.bus = std::make_shared<events::InProcessBus>();

  // The secrets. A catalog named by --catalog may be shared by several nodes: it keeps them
  // (the first node to ask makes them), so every node signs sessions and URLs alike with
  // nothing copied by hand. The default catalog keeps them in DATA/secrets, as open_local.
  if (urls.catalog.empty()) {
    STREAMLET_ASSIGN_OR_RETURN(internal::Secrets secrets,
                               internal::load_or_create_secrets(data / "secrets"));
    parts.token_secret = secrets.token_secret;
    parts.signing_key = secrets.signing_key;
    if (make_key) {
      STREAMLET_ASSIGN_OR_RETURN(admin_key, internal::load_or_create_api_key(data / "api-key"));
    }
  } else {
    STREAMLET_ASSIGN_OR_RETURN(parts.token_secret, parts.catalog->shared_secret(
                                                       "token_secret", accounts::generate_secret()));
    STREAMLET_ASSIGN_OR_RETURN(parts.signing_key, parts.catalog->shared_secret(
                                                      "signing_key", accounts::generate_secret()));
  }

  // The storage: a directory (the data directory by default) or a bucket.
  if (is_s3(urls.storage)) {
    auto s3_options = s3::parse_s3_url(urls.storage);
    if (!s3_options.ok())
      return Status(s3_options.status().code(), "--storage: " + s3_options.status().message());
    auto bucket = s3::open_s3_storage(*s3_options);
    if (!bucket.ok())
      return Status(bucket.status().code(), "--storage " + urls.storage + ": " +
                                                bucket.status().message());
    parts.storage = std::move(*bucket);
    // What an origin serves comes from a local cache of hot objects, with file descriptors
    // again (sendfile), checked against the bucket before each answer.
    if (options.roles.origin) {
      STREAMLET_ASSIGN_OR_RETURN(parts.storage,
                                 storage::origin_storage(parts.storage, data,
                                                         options.origin_cache_bytes,
                                                         options.metrics));
    }
  } else {
    const fs::path root = urls.storage.empty() ? data : fs::absolute(urls.storage);
    STREAMLET_ASSIGN_OR_RETURN(parts.storage,
                               storage::open_local({.root = root,
                                                    .durable = options.durable_uploads,
                                                    .private_files = true}));
    fs::create_directories(root / "media", ec);
    if (ec) return error(ErrorCode::kIo, (root / "media").string() + ": " + ec.message());
    (void)transcode::remove_abandoned_work_dirs((root / "media").string());
  }
  // Stores named by URL or path may be other nodes' too; only the all-default case (handled
  // by open_local above) is this process's alone.
  parts.shared = true;
  const bool key_in_catalog = make_key && !urls.catalog.empty();
  STREAMLET_ASSIGN_OR_RETURN(auto platform, create(std::move(options), std::move(parts)));
  if (key_in_catalog) {
    STREAMLET_ASSIGN_OR_RETURN(admin_key, platform->shared_secret("admin_api_key"));
  }
  platform->set_admin_api_key(std::move(admin_key));
  return platform;
}

}  // namespace streamlet::platform
