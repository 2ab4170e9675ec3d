// The backends a platform test runs on. The suite is built twice: test_platform on the
// embedded ones (SQLite in DATA/catalog.db, the directory DATA itself), and
// test_platform_pg_s3 (compile definition STREAMLET_PLATFORM_PG_S3, registered as
// "platform-pg-s3: ...") on the "postgres" fixture's server and the "rgw" fixture's Ceph RGW.
// There each data directory a test uses stands for a database of its own (catalog, queue and
// event bus) and a key prefix of its own in the test bucket, made on first use and kept for
// the process, so a server restarted on the same data directory finds its state again, as it
// would on disk. Without either server the case exits 77 saying which is missing.
//
// Tests look at what the platform stored through these parts (storage(), exec_catalog_sql),
// never at DATA's files, so one assertion means the same thing on both backends.
#pragma once

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/sqlite_db.hpp"
#include "server/child_process.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/storage.hpp"
#include "support/support.hpp"

#ifdef STREAMLET_PLATFORM_PG_S3
#include "streamlet/postgres.hpp"
#include "streamlet/s3.hpp"
#include "support/postgres.hpp"
#include "support/s3_support.hpp"
#endif

namespace streamlet::test {

#ifdef STREAMLET_PLATFORM_PG_S3
inline constexpr bool kPlatformOnPgS3 = true;
#else
inline constexpr bool kPlatformOnPgS3 = false;
#endif

// Leaves a case that cannot run on this build's backends (exit 77: CTest's skip).
[[noreturn]] inline void skip_case(const std::string& why) {
  std::cerr << "SKIPPED: " << why << std::endl;
  std::exit(kSkipExitCode);
}

class DataBackends {
 public:
  explicit DataBackends(fs::path data) : data_(std::move(data)) {
#ifdef STREAMLET_PLATFORM_PG_S3
    db_ = std::make_unique<PostgresDatabase>();
    if (!db_->ok()) skip_case("platform on PostgreSQL + S3: " + db_->why_not());
    std::string why;
    auto o = rgw_options(&why);
    if (!o) skip_case("platform on PostgreSQL + S3: " + why);
    // The database's random name keeps reruns against one RGW apart.
    o->key_prefix = db_->name() + "/";
    auto s = s3::open_s3_storage(*o);
    if (!s.ok()) skip_case("platform on PostgreSQL + S3: the test RGW: " + s.status().to_string());
    storage_ = *s;
    catalog_url_ = db_->url();
    storage_url_ = "s3://" + o->bucket + "/" + o->key_prefix + "?endpoint=" + o->endpoint +
                   "&region=" + o->region + "&path_style=1";
    env_ = {"AWS_ACCESS_KEY_ID=" + o->access_key, "AWS_SECRET_ACCESS_KEY=" + o->secret_key};
    s3_options_ = *o;
#else
    fs::create_directories(data_);
    auto s = storage::open_local({.root = data_, .durable = false, .private_files = true});
    if (!s.ok()) skip_case(data_.string() + ": " + s.status().to_string());
    storage_ = *s;
#endif
  }

  // The objects the platform on this data directory stores (uploads/, media/, upload-links/).
  storage::Storage& storage() { return *storage_; }
  std::shared_ptr<storage::Storage> shared_storage() { return storage_; }
  // "" for the embedded catalog (DATA/catalog.db), else the database's postgresql:// URL.
  const std::string& catalog_url() const { return catalog_url_; }
  // "" for the data directory, else the s3:// URL of this directory's prefix.
  const std::string& storage_url() const { return storage_url_; }
  // The server's extra flags and environment for these backends.
  void add_server_flags(std::vector<std::string>& argv, std::vector<std::string>& env) const {
    if (!catalog_url_.empty()) argv.insert(argv.end(), {"--catalog", catalog_url_});
    if (!storage_url_.empty()) argv.insert(argv.end(), {"--storage", storage_url_});
    env.insert(env.end(), env_.begin(), env_.end());
  }
  // The catalog and the queue the platform on this data directory uses, opened anew (as
  // an operator's tool would, with the servers stopped or running).
  Result<std::shared_ptr<catalog::Catalog>> open_catalog() {
#ifdef STREAMLET_PLATFORM_PG_S3
    return postgres::open_catalog(catalog_url_);
#else
    auto c = catalog::open_sqlite_catalog((data_ / "catalog.db").string());
    if (!c.ok()) return c.status();
    return std::shared_ptr<catalog::Catalog>(std::move(*c));
#endif
  }
  Result<std::unique_ptr<jobs::JobQueue>> open_queue() {
#ifdef STREAMLET_PLATFORM_PG_S3
    return postgres::open_job_queue(catalog_url_);
#else
    return jobs::open_sqlite_job_queue((data_ / "catalog.db").string());
#endif
  }
  // The whole of the object `key` (empty when there is none, with a failed check).
  std::string read_object(const std::string& key) {
    auto object = storage_->open(key);
    REQUIRE_MESSAGE(object.ok(), key << ": " << object.status().to_string());
    std::string bytes((*object)->info().size, '\0');
    auto got = (*object)->read_at(0, bytes.data(), bytes.size());
    REQUIRE_MESSAGE(got.ok(), key << ": " << got.status().to_string());
    bytes.resize(*got);
    return bytes;
  }
  // The key the platform signs playback URLs with (the cluster's, kept in the catalog, on
  // PostgreSQL; DATA/secrets locally), once a server has started on this data directory.
  std::string signing_key() {
#ifdef STREAMLET_PLATFORM_PG_S3
    auto c = open_catalog();
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    auto key = (*c)->shared_secret("signing_key", "not the one: a server made it first");
    REQUIRE_MESSAGE(key.ok(), key.status().to_string());
    return *key;
#else
    return nlohmann::json::parse(read_file(data_ / "secrets"))["signing_key"].get<std::string>();
#endif
  }
  // Runs `sql` (one statement that both SQLite and PostgreSQL read alike) on the catalog's
  // database, as an operator or an older version would have written it.
  Status exec_catalog_sql(const std::string& sql) {
#ifdef STREAMLET_PLATFORM_PG_S3
    auto pool = postgres::detail::Pool::open(catalog_url_, {.size = 1});
    if (!pool.ok()) return pool.status();
    auto r = (*pool)->exec(sql);
    return r.ok() ? Status::Ok() : r.status();
#else
    auto db = streamlet::detail::sql::Db::open((data_ / "catalog.db").string());
    if (!db.ok()) return db.status();
    return (*db)->exec(sql);
#endif
  }
  // The objects of publications not (yet) published: a transcode's output while it is
  // written, or an interrupted one's leftovers. Locally the hidden work directories
  // media/.<video>.streamlet-tmp-*/ (listed as paths under media/); on S3 the bucket
  // prefix's staging area, which Storage::list never shows.
  std::vector<std::string> staged_objects() {
    std::vector<std::string> out;
#ifdef STREAMLET_PLATFORM_PG_S3
    s3::S3Options o = s3_options_;
    o.key_prefix += ".streamlet-staging/";
    auto staging = s3::open_s3_storage(o);
    REQUIRE_MESSAGE(staging.ok(), staging.status().to_string());
    auto st = (*staging)->list("", [&](const storage::ObjectInfo& info) {
      out.push_back(info.key);
      return true;
    });
    REQUIRE_MESSAGE(st.ok(), st.to_string());
#else
    std::error_code ec;
    const fs::path media = data_ / "media";
    for (fs::directory_iterator d(media, ec), end; !ec && d != end; d.increment(ec)) {
      if (d->path().filename().string()[0] != '.') continue;
      std::error_code ec2;
      for (fs::recursive_directory_iterator f(d->path(), ec2), fend; !ec2 && f != fend;
           f.increment(ec2))
        if (!f->is_directory()) out.push_back(f->path().lexically_relative(media).string());
    }
#endif
    return out;
  }
  // The objects under `prefix` (e.g. "media/<id>/") as files, for tools that read a
  // directory (ffprobe, the segment checks): DATA/<prefix> itself locally, a copy made in
  // `scratch` on S3.
  fs::path files_of(const std::string& prefix, const fs::path& scratch) {
#ifdef STREAMLET_PLATFORM_PG_S3
    const fs::path root = scratch / ("copy-" + db_->name());
    auto st = storage_->list(prefix, [&](const storage::ObjectInfo& info) {
      const fs::path file = root / info.key;
      fs::create_directories(file.parent_path());
      write_file(file, read_object(info.key));
      return true;
    });
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    return root / prefix;
#else
    (void)scratch;
    return data_ / prefix;
#endif
  }
#ifdef STREAMLET_PLATFORM_PG_S3
  PostgresDatabase& postgres() { return *db_; }
  const s3::S3Options& s3_options() const { return s3_options_; }
#endif

 private:
  fs::path data_;
  std::shared_ptr<storage::Storage> storage_;
  std::string catalog_url_;
  std::string storage_url_;
  std::vector<std::string> env_;
#ifdef STREAMLET_PLATFORM_PG_S3
  std::unique_ptr<PostgresDatabase> db_;
  s3::S3Options s3_options_;
#endif
};

// The backends of `data`, made on first use (one per data directory for the process).
inline DataBackends& backends_of(const fs::path& data) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<DataBackends>> all;
  std::lock_guard lock(mu);
  const std::string key = fs::absolute(data).lexically_normal().string();
  auto& b = all[key];
  if (!b) b = std::make_unique<DataBackends>(data);
  return *b;
}

// True when `prefix` (e.g. "media/<id>/") holds at least one object.
inline bool has_objects(storage::Storage& s, const std::string& prefix) {
  bool any = false;
  auto st = s.list(prefix, [&](const storage::ObjectInfo&) {
    any = true;
    return false;
  });
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return any;
}

#ifdef STREAMLET_PLATFORM_PG_S3
// Every server a platform test starts runs on its data directory's backends.
inline void platform_server_backends(const fs::path& data, std::vector<std::string>& argv,
                                     std::vector<std::string>& env) {
  backends_of(data).add_server_flags(argv, env);
}
inline const bool kPlatformServerHookInstalled =
    (ServerProcess::backend_hook = &platform_server_backends, true);
#endif

}  // namespace streamlet::test
