// Platform::open_local: the embedded default stores, all under one data directory.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "platform/local.hpp"
#include "streamlet/platform.hpp"

namespace streamlet::platform {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace internal {

namespace {
// Secrets and keys Streamlet writes are longer; a shorter one was cut or typed by hand.
constexpr size_t kMinSecretBytes = 16;

// Owner-only from the first byte: created 0600, written, fsynced, renamed into place.
Status write_owner_only(const fs::path& file, const std::string& text) {
  fs::path tmp = file;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::kIo, "cannot write " + tmp.string());
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0)
    return error(ErrorCode::kIo, "cannot write " + file.string());
  (void)detail::fsync_path(file.parent_path());
  return Status::Ok();
}

std::string new_api_key() {
  // 24 random bytes in hex (48 characters), as the admin key has always looked.
  const std::string raw = detail::random_bytes(24);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  for (unsigned char c : raw) {
    key += kHex[c >> 4];
    key += kHex[c & 15];
  }
  return key;
}
}  // namespace

// Written once with owner-only permissions, then only read. A file that is there but not as
// we wrote it is refused, never replaced: new keys would sign every user out and break every
// signed URL handed out, and a key that is not a string (or is empty) cannot be used at all.
Result<Secrets> load_or_create_secrets(const fs::path& file) {
  const std::string remedy =
      "; restore it from a backup, or remove it to generate new keys (this signs every user "
      "out and invalidates signed playback URLs)";
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    if (!in) return error(ErrorCode::kIo, file.string() + ": cannot read it" + remedy);
    auto j = json::parse(in, nullptr, false);
    if (!j.is_object())
      return error(ErrorCode::kInvalidArgument, file.string() + ": not a JSON object" + remedy);
    Secrets out;
    for (auto [name, field] : {std::pair{"token_secret", &out.token_secret},
                               std::pair{"signing_key", &out.signing_key}}) {
      std::string problem;
      if (!j.contains(name))
        problem = std::string(name) + " is missing";
      else if (!j[name].is_string())
        problem = std::string(name) + " must be a string, not " + j[name].type_name();
      else if (j[name].get_ref<const std::string&>().empty())
        problem = std::string(name) + " is empty";
      else if (j[name].get_ref<const std::string&>().size() < kMinSecretBytes)
        problem = std::string(name) + " is shorter than " + std::to_string(kMinSecretBytes) +
                  " characters";
      if (!problem.empty())
        return error(ErrorCode::kInvalidArgument, file.string() + ": " + problem + remedy);
      *field = j[name].get<std::string>();
    }
    return out;
  }
  Secrets out{accounts::generate_secret(), accounts::generate_secret()};
  json j = {{"token_secret", out.token_secret}, {"signing_key", out.signing_key}};
  STREAMLET_RETURN_IF_ERROR(write_owner_only(file, detail::json_text(j) + "\n"));
  return out;
}

// The file is only ever written whole (write_owner_only), so an empty or short one was broken
// by someone: replacing it would silently change the admin's key.
Result<NodeSecret> load_or_create_api_key(const fs::path& file) {
  NodeSecret out;
  out.kept_in = file.string();
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    if (!in) return error(ErrorCode::kIo, file.string() + ": cannot read the api-key file");
    std::getline(in, out.value);
    if (out.value.size() < kMinSecretBytes)
      return error(ErrorCode::kInvalidArgument,
                   file.string() + ": the api-key file is " +
                       (out.value.empty() ? "empty"
                                          : "cut short (" + std::to_string(out.value.size()) +
                                                " characters)") +
                       "; restore it, or remove it to generate a new admin key");
    return out;
  }
  out.value = new_api_key();
  STREAMLET_RETURN_IF_ERROR(write_owner_only(file, out.value + "\n"));
  out.made_here = true;
  return out;
}

// SQLite takes a zero-length file for a new, empty database. That is right only for a data
// directory that was never used (a first start that died before the catalog was written);
// anywhere else the catalog was truncated or lost, and opening it would silently start over
// with no users and no videos. The evidence of use: the secrets (written after the catalog on
// a first start), anything under media/ or uploads/, or a write-ahead log with content.
Status check_catalog_file(const fs::path& data, const fs::path& db) {
  std::error_code ec;
  if (!fs::exists(db, ec) || fs::file_size(db, ec) != 0 || ec) return Status::Ok();
  auto has_entries = [](const fs::path& dir) {
    std::error_code e;
    return fs::is_directory(dir, e) && !fs::is_empty(dir, e);
  };
  fs::path wal = db;
  wal += "-wal";
  const bool used = fs::exists(data / "secrets", ec) || has_entries(data / "media") ||
                    has_entries(data / "uploads") ||
                    (fs::exists(wal, ec) && fs::file_size(wal, ec) > 0);
  if (!used) return Status::Ok();
  return error(ErrorCode::kInvalidArgument,
               db.string() +
                   " is empty (0 bytes) but this data directory has been used (secrets, media "
                   "or uploads are there): starting would lose every user and video. Restore "
                   "the file from a backup; to start over, remove the whole data directory");
}

}  // namespace internal

Result<std::unique_ptr<Platform>> Platform::open_local(PlatformOptions options) {
  if (options.data_dir.empty()) return error(ErrorCode::kInvalidArgument, "no data directory");
  std::error_code ec;
  const fs::path data = fs::absolute(options.data_dir);
  fs::create_directories(data, ec);
  if (ec) return error(ErrorCode::kIo, data.string() + ": " + ec.message());
  PlatformParts parts;
  // The catalog first: the secrets' presence is what tells a used data directory from a new
  // one (check_catalog_file), so they are only written once the catalog is.
  const fs::path db_path = data / "catalog.db";
  STREAMLET_RETURN_IF_ERROR(internal::check_catalog_file(data, db_path));
  STREAMLET_ASSIGN_OR_RETURN(parts.catalog, catalog::open_sqlite_catalog(db_path.string()));
  jobs::QueueOptions qopts;
  qopts.retry = options.retry;
  qopts.lease = options.job_lease;
  STREAMLET_ASSIGN_OR_RETURN(parts.queue, jobs::open_sqlite_job_queue(db_path.string(), qopts));
  STREAMLET_ASSIGN_OR_RETURN(internal::Secrets secrets, internal::load_or_create_secrets(data / "secrets"));
  parts.token_secret = secrets.token_secret;
  parts.signing_key = secrets.signing_key;
  parts.bus = std::make_shared<events::InProcessBus>();
  parts.scratch_dir = data / "scratch";
  // Every object under the data directory, in today's layout: uploads/, media/<video>/,
  // upload-links/<video>. Owner-only files: upload data is the users' own.
  STREAMLET_ASSIGN_OR_RETURN(parts.storage,
                             storage::open_local({.root = data,
                                                  .durable = options.durable_uploads,
                                                  .private_files = true}));
  // Published videos live under DATA/media (an operator looks there, and mounts a disk there).
  fs::create_directories(data / "media", ec);
  if (ec) return error(ErrorCode::kIo, (data / "media").string() + ": " + ec.message());
  // What transcodes killed with their process (a crash, kill -9) left half written: no job
  // resumes it (the next attempt starts over), and a dead-lettered job has no next attempt.
  (void)transcode::remove_abandoned_work_dirs((data / "media").string());
  return create(std::move(options), std::move(parts));
}

}  // namespace streamlet::platform
