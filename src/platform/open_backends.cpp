// Platform::open: the platform on the backends the server's --catalog, --queue and --storage
// name. The embedded ones (SQLite, a directory) are today's; PostgreSQL and S3 make a cluster.
#include <string_view>

#include "platform/local.hpp"
#include "streamlet/platform.hpp"
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
  if (urls.catalog.empty() && urls.queue.empty() && urls.storage.empty())
    return open_local(std::move(options));
  if (options.data_dir.empty()) return error(ErrorCode::kInvalidArgument, "no data directory");
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
    return error(ErrorCode::kUnsupported,
                 "--catalog " + shown_url(urls.catalog) + ": PostgreSQL is not wired yet");
  } else {
    sqlite_path = urls.catalog.empty() ? (data / "catalog.db").string()
                                       : fs::absolute(urls.catalog).string();
    if (urls.catalog.empty())
      STREAMLET_RETURN_IF_ERROR(internal::check_catalog_file(data, sqlite_path));
    STREAMLET_ASSIGN_OR_RETURN(parts.catalog, catalog::open_sqlite_catalog(sqlite_path));
  }
  if (is_postgres(urls.queue)) {
    return error(ErrorCode::kUnsupported,
                 "--queue " + shown_url(urls.queue) + ": PostgreSQL is not wired yet");
  } else if (!urls.queue.empty()) {
    return error(ErrorCode::kInvalidArgument,
                 "--queue must be a postgresql:// URL (without it the queue is in the catalog's "
                 "database)");
  } else {
    STREAMLET_ASSIGN_OR_RETURN(parts.queue, jobs::open_sqlite_job_queue(sqlite_path, qopts));
  }
  if (!parts.bus) parts.bus = std::make_shared<events::InProcessBus>();

  // The secrets: with a SQLite catalog the data directory's file, as open_local keeps them.
  STREAMLET_ASSIGN_OR_RETURN(internal::Secrets secrets,
                             internal::load_or_create_secrets(data / "secrets"));
  parts.token_secret = secrets.token_secret;
  parts.signing_key = secrets.signing_key;

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
                                                         options.origin_cache_bytes));
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
  return create(std::move(options), std::move(parts));
}

}  // namespace streamlet::platform
