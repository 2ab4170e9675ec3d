// The upload store: one <id>.bin (bytes) and one <id>.json (state) per upload.
// Data is fsynced before the state that acknowledges it is atomically replaced, so the
// state file never claims bytes the disk does not hold.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_util.hpp"
#include "core/json_text.hpp"
#include "upload/digest.hpp"

namespace streamlet::upload {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

using streamlet::detail::Fd;

constexpr size_t kWriteBuffer = 1 << 20;  // one write syscall per MiB keeps copies cheap
constexpr size_t kMaxTombstones = 100000;
constexpr uint64_t kWritebackStep = 8 << 20;

bool valid_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Messages reach the uploader (a full disk is a 503 with this text): they say what failed,
// never where in the server's storage.
Status errno_status(const std::string& what) {
  int e = errno;
  ErrorCode code = (e == ENOSPC || e == EDQUOT) ? ErrorCode::kResourceExhausted : ErrorCode::kIo;
  return error(code, what + ": " + std::strerror(e));
}


int64_t to_unix(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
Clock::time_point from_unix(int64_t s) {
  return Clock::time_point(std::chrono::seconds(s));
}

nlohmann::json to_json(const UploadInfo& info) {
  nlohmann::json j;
  j["id"] = info.id;
  j["length"] = info.length ? nlohmann::json(*info.length) : nlohmann::json(nullptr);
  j["offset"] = info.offset;
  // Metadata values may be arbitrary bytes; base64 keeps the JSON valid UTF-8.
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : info.metadata) meta[base64_encode(k)] = base64_encode(v);
  j["metadata_b64"] = meta;
  j["partial"] = info.partial;
  j["parts"] = info.parts;
  j["created"] = to_unix(info.created);
  j["expires"] = to_unix(info.expires);
  return j;
}

std::optional<UploadInfo> from_json(const nlohmann::json& j) {
  try {
    UploadInfo info;
    info.id = j.at("id").get<std::string>();
    if (!j.at("length").is_null()) info.length = j.at("length").get<uint64_t>();
    info.offset = j.at("offset").get<uint64_t>();
    for (const auto& [k, v] : j.at("metadata_b64").items()) {
      auto key = base64_decode(k);
      auto value = base64_decode(v.get<std::string>());
      if (!key.ok() || !value.ok()) return std::nullopt;
      info.metadata[*key] = *value;
    }
    info.partial = j.at("partial").get<bool>();
    info.parts = j.at("parts").get<std::vector<std::string>>();
    info.created = from_unix(j.at("created").get<int64_t>());
    info.expires = from_unix(j.at("expires").get<int64_t>());
    if (!valid_id(info.id)) return std::nullopt;
    return info;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

struct Entry {
  UploadInfo info;    // guarded by Impl::mu
  bool busy = false;  // an append/concat/terminate owns the data file; guarded by Impl::mu
  // Bytes an append in progress may still add to this deferred-length upload, counted
  // against its owner's limit so parallel appends cannot each take the same room.
  uint64_t reserved = 0;  // guarded by Impl::mu
};

struct UploadStore::Impl {
  StoreOptions opt;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> uploads;
  std::set<std::string, std::less<>> gone;
  CompletionCallback callback;
  RemovalCallback removal_callback;

  fs::path bin(std::string_view id) const { return opt.dir / (std::string(id) + ".bin"); }
  fs::path state(std::string_view id) const { return opt.dir / (std::string(id) + ".json"); }

  bool expired(const UploadInfo& info, Clock::time_point now) const {
    return !info.complete() && now >= info.expires;
  }

  Status sync_dir() const {
    if (!opt.durable) return Status::Ok();
    Fd dir(::open(opt.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) != 0) return errno_status("save upload state");
    return Status::Ok();
  }

  // Atomically replaces <id>.json: temp file, fsync, rename, fsync the directory.
  Status persist(const UploadInfo& info) const {
    std::string text = streamlet::detail::json_text(to_json(info));
    fs::path tmp = opt.dir / (info.id + ".json.tmp");
    {
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!fd.valid()) return errno_status("save upload state");
      size_t done = 0;
      while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          Status s = errno_status("save upload state");
          ::unlink(tmp.c_str());
          return s;
        }
        done += size_t(n);
      }
      if (opt.durable && ::fsync(fd.get()) != 0) {
        Status s = errno_status("save upload state");
        ::unlink(tmp.c_str());
        return s;
      }
    }
    if (::rename(tmp.c_str(), state(info.id).c_str()) != 0) {
      Status s = errno_status("save upload state");
      ::unlink(tmp.c_str());
      return s;
    }
    return sync_dir();
  }

  // Looks up an upload under `mu`; kGone for terminated or expired ones.
  Result<std::shared_ptr<Entry>> find_locked(std::string_view id) const {
    auto it = valid_id(id) ? uploads.find(id) : uploads.end();
    if (it == uploads.end()) {
      if (gone.count(id)) return error(ErrorCode::kGone, "upload was terminated or expired");
      return error(ErrorCode::kNotFound, "no such upload");
    }
    if (expired(it->second->info, Clock::now())) return error(ErrorCode::kGone, "upload expired");
    return it->second;
  }

  void remove_files(std::string_view id) const {
    ::unlink(bin(id).c_str());
    ::unlink(state(id).c_str());
    (void)sync_dir();
  }

  void bury_locked(const std::string& id) {
    uploads.erase(id);
    if (gone.size() >= kMaxTombstones) gone.clear();
    gone.insert(id);
  }

  Status check_free_space(uint64_t needed) const {
    struct statvfs vfs {};
    if (::statvfs(opt.dir.c_str(), &vfs) != 0) return Status::Ok();  // unknown: let writes tell
    uint64_t free_bytes = uint64_t(vfs.f_bavail) * vfs.f_frsize;
    if (free_bytes < needed + opt.min_free_bytes)
      return error(ErrorCode::kResourceExhausted, "not enough free disk space for the upload");
    return Status::Ok();
  }

  std::string owner_of(const std::map<std::string, std::string>& metadata) const {
    if (opt.owner_key.empty()) return {};
    auto it = metadata.find(opt.owner_key);
    return it == metadata.end() ? std::string() : it->second;
  }
  OwnerLimits limits_of(const std::string& owner) const {
    if (owner.empty() || !opt.owner_limits) return {};
    return opt.owner_limits(owner);
  }

  struct Usage {
    size_t unfinished = 0;
    uint64_t bytes = 0;
    std::optional<Clock::time_point> next_expiry;  // the first of its unfinished uploads
  };
  // What `owner` holds now, leaving out `except` (the upload being changed).
  Usage usage_locked(const std::string& owner, Clock::time_point now,
                     const Entry* except = nullptr) const {
    Usage u;
    for (const auto& [id, e] : uploads) {
      if (e.get() == except || expired(e->info, now) || owner_of(e->info.metadata) != owner)
        continue;
      if (!e->info.complete()) {
        ++u.unfinished;
        if (!u.next_expiry || e->info.expires < *u.next_expiry) u.next_expiry = e->info.expires;
      }
      u.bytes += e->info.length ? *e->info.length : e->info.offset + e->reserved;
    }
    return u;
  }
  // When waiting may help: the owner's next unfinished upload expires (or is finished
  // sooner); with none, only deleting helps, so an hour.
  static std::chrono::seconds wait_for_room(const Usage& u, Clock::time_point now) {
    if (!u.next_expiry) return std::chrono::hours(1);
    return std::chrono::ceil<std::chrono::seconds>(*u.next_expiry - now);
  }
  static Status over_quota(uint64_t wanted, const Usage& u, uint64_t max, Clock::time_point now) {
    return rate_limited("storage quota: " + std::to_string(wanted) + " more bytes would pass " +
                            std::to_string(max) + " (" + std::to_string(u.bytes) +
                            " in use); finish or end unfinished uploads, or delete videos",
                        wait_for_room(u, now));
  }

  void notify(const UploadInfo& info) const {
    CompletionCallback cb;
    {
      std::lock_guard lock(mu);
      cb = callback;
    }
    if (cb && !info.partial) cb(CompletedUpload{info, bin(info.id)});
  }

  void notify_removed(const UploadInfo& info, RemovalReason why) const {
    RemovalCallback cb;
    {
      std::lock_guard lock(mu);
      cb = removal_callback;
    }
    if (cb) cb(info, why);
  }
};

namespace {
// Clears an entry's busy flag however the operation ends.
class BusyGuard {
 public:
  BusyGuard(std::mutex& mu, std::shared_ptr<Entry> entry) : mu_(mu), entry_(std::move(entry)) {}
  ~BusyGuard() {
    std::lock_guard lock(mu_);
    entry_->busy = false;
    entry_->reserved = 0;
  }

 private:
  std::mutex& mu_;
  std::shared_ptr<Entry> entry_;
};
}  // namespace

UploadStore::UploadStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UploadStore::~UploadStore() = default;

Result<std::unique_ptr<UploadStore>> UploadStore::open(StoreOptions options) {
  if (options.dir.empty()) return error(ErrorCode::kInvalidArgument, "upload store: no directory");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec)
    return error(ErrorCode::kIo, "upload store: " + options.dir.string() + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  const fs::path& dir = impl->opt.dir;

  std::set<std::string> known;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() == ".tmp") {  // a state write that never got renamed: never acknowledged
      fs::remove(p, ec);
      continue;
    }
    if (p.extension() != ".json") continue;
    known.insert(p.stem().string());  // even if unreadable below: never delete its data
    std::string text;
    {
      Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) continue;
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    }
    auto info = from_json(nlohmann::json::parse(text, nullptr, false));
    if (!info || info->id != p.stem().string()) continue;  // not ours; leave it alone
    // Reconcile: bytes past the acknowledged offset were never promised to anyone.
    fs::path bin = impl->bin(info->id);
    struct stat st {};
    if (::stat(bin.c_str(), &st) != 0) continue;
    uint64_t size = uint64_t(st.st_size);
    if (size > info->offset) {
      if (::truncate(bin.c_str(), off_t(info->offset)) != 0)
        return errno_status("upload store: truncate " + bin.string());
    } else if (size < info->offset) {
      // Only possible if the disk lost synced data; trust the bytes that are there.
      info->offset = size;
      STREAMLET_RETURN_IF_ERROR(impl->persist(*info));
    }
    auto e = std::make_shared<Entry>();
    e->info = std::move(*info);
    impl->uploads.emplace(e->info.id, std::move(e));
  }
  // Parts already concatenated into a final upload (a crash came before their removal).
  std::vector<std::string> consumed;
  for (const auto& [id, e] : impl->uploads)
    for (const auto& part : e->info.parts)
      if (impl->uploads.count(part)) consumed.push_back(part);
  for (const auto& part : consumed) {
    impl->uploads.erase(part);
    impl->remove_files(part);
  }
  // Data files without any state file: their creation was never acknowledged.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() == ".bin" && valid_id(p.stem().string()) && !known.count(p.stem().string()))
      fs::remove(p, ec);
  }
  return std::unique_ptr<UploadStore>(new UploadStore(std::move(impl)));
}

const StoreOptions& UploadStore::options() const {
  return impl_->opt;
}

void UploadStore::set_completion_callback(CompletionCallback callback) {
  std::lock_guard lock(impl_->mu);
  impl_->callback = std::move(callback);
}

void UploadStore::set_removal_callback(RemovalCallback callback) {
  std::lock_guard lock(impl_->mu);
  impl_->removal_callback = std::move(callback);
}

Result<UploadInfo> UploadStore::create(const CreateParams& params) {
  Impl& s = *impl_;
  if (params.length && *params.length > s.opt.max_upload_size)
    return error(ErrorCode::kTooLarge, "Upload-Length exceeds the maximum of " +
                                           std::to_string(s.opt.max_upload_size) + " bytes");
  if (params.length) STREAMLET_RETURN_IF_ERROR(s.check_free_space(*params.length));

  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return error(ErrorCode::kInternal, "no randomness");
  UploadInfo info;
  info.id = detail::to_hex(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
  info.length = params.length;
  info.metadata = params.metadata;
  info.partial = params.partial;
  info.created = Clock::now();
  info.expires = info.created + s.opt.expiration;

  const std::string owner = s.owner_of(info.metadata);
  const OwnerLimits limits = s.limits_of(owner);
  // Counted and reserved under one lock, so racing creations cannot exceed the limit.
  auto entry = std::make_shared<Entry>();
  entry->info = info;
  entry->busy = true;
  {
    std::lock_guard lock(s.mu);
    size_t unfinished = 0;
    auto now = Clock::now();
    // The owner's own limits first: one owner at its limit is told so, and leaves the
    // global limit (the last resort, 503 for everyone) to the others.
    if (limits.max_unfinished || limits.max_bytes) {
      auto u = s.usage_locked(owner, now);
      if (limits.max_unfinished && u.unfinished >= limits.max_unfinished)
        return rate_limited("you have " + std::to_string(u.unfinished) +
                                " unfinished uploads, the most allowed; finish or end one first",
                            Impl::wait_for_room(u, now));
      const uint64_t wanted = info.length.value_or(0);
      if (limits.max_bytes &&
          (u.bytes + wanted > limits.max_bytes || (!info.length && u.bytes >= limits.max_bytes)))
        return Impl::over_quota(wanted, u, limits.max_bytes, now);
    }
    for (const auto& [id, e] : s.uploads)
      if (!e->info.complete() && !s.expired(e->info, now)) ++unfinished;
    if (unfinished >= s.opt.max_concurrent_uploads)
      return error(ErrorCode::kResourceExhausted, "too many unfinished uploads; try again later");
    s.uploads.emplace(info.id, entry);
  }
  Status st;
  {
    Fd fd(::open(s.bin(info.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) st = errno_status("create upload file");
  }
  if (st.ok()) st = s.persist(info);
  {
    std::lock_guard lock(s.mu);
    if (st.ok())
      entry->busy = false;
    else
      s.uploads.erase(info.id);
  }
  if (!st.ok()) {
    s.remove_files(info.id);
    return st;
  }
  if (info.complete()) s.notify(info);  // an empty file is finished on creation
  return info;
}

Result<UploadInfo> UploadStore::info(std::string_view id) const {
  std::lock_guard lock(impl_->mu);
  STREAMLET_ASSIGN_OR_RETURN(auto e, impl_->find_locked(id));
  return e->info;
}

Result<UploadInfo> UploadStore::declare_length(std::string_view id, uint64_t length) {
  Impl& s = *impl_;
  std::shared_ptr<Entry> e;
  UploadInfo info;
  OwnerLimits limits;
  std::string owner;
  {
    std::lock_guard lock(s.mu);
    STREAMLET_ASSIGN_OR_RETURN(e, s.find_locked(id));
    owner = s.owner_of(e->info.metadata);
  }
  limits = s.limits_of(owner);
  {
    std::lock_guard lock(s.mu);
    STREAMLET_ASSIGN_OR_RETURN(e, s.find_locked(id));
    if (e->busy) return error(ErrorCode::kConflict, "upload is busy with another request");
    if (e->info.length) {
      if (*e->info.length == length) return e->info;
      return error(ErrorCode::kInvalidArgument, "Upload-Length cannot be changed once set");
    }
    if (length > s.opt.max_upload_size)
      return error(ErrorCode::kTooLarge, "Upload-Length exceeds the maximum of " +
                                             std::to_string(s.opt.max_upload_size) + " bytes");
    if (length < e->info.offset)
      return error(ErrorCode::kInvalidArgument, "Upload-Length is below the current offset");
    if (limits.max_bytes) {
      const auto now = Clock::now();
      auto u = s.usage_locked(owner, now, e.get());
      if (u.bytes + length > limits.max_bytes)
        return Impl::over_quota(length - e->info.offset, u, limits.max_bytes, now);
    }
    e->busy = true;
    info = e->info;
  }
  BusyGuard guard(s.mu, e);
  info.length = length;
  STREAMLET_RETURN_IF_ERROR(s.persist(info));
  {
    std::lock_guard lock(s.mu);
    e->info = info;
  }
  if (info.complete()) s.notify(info);
  return info;
}

Result<UploadInfo> UploadStore::append(std::string_view id, const AppendParams& params,
                                       const BodyReader& body) {
  Impl& s = *impl_;
  std::shared_ptr<Entry> e;
  UploadInfo info;
  // Only a deferred-length upload grows its owner's bytes as it is appended to; the
  // length of any other was counted when it was declared.
  OwnerLimits limits;
  std::string owner;
  {
    std::lock_guard lock(s.mu);
    STREAMLET_ASSIGN_OR_RETURN(e, s.find_locked(id));
    if (!e->info.length) owner = s.owner_of(e->info.metadata);
  }
  limits = s.limits_of(owner);
  uint64_t limit = 0;
  bool quota_bound = false;  // the limit is the owner's quota, not the upload's length
  {
    std::lock_guard lock(s.mu);
    STREAMLET_ASSIGN_OR_RETURN(e, s.find_locked(id));
    if (e->info.final())
      return error(ErrorCode::kPermissionDenied, "a final (concatenated) upload cannot be patched");
    if (e->busy) return error(ErrorCode::kConflict, "upload is busy with another request");
    if (params.offset != e->info.offset)
      return error(ErrorCode::kConflict, "Upload-Offset " + std::to_string(params.offset) +
                                             " does not match the upload's offset " +
                                             std::to_string(e->info.offset));
    limit = e->info.length.value_or(s.opt.max_upload_size);
    if (params.content_length && params.offset + *params.content_length > limit)
      return error(ErrorCode::kTooLarge, "the body goes past the upload's length");
    if (!e->info.length && limits.max_bytes) {
      const auto now = Clock::now();
      auto u = s.usage_locked(owner, now, e.get());
      const uint64_t used = u.bytes + e->info.offset;
      const uint64_t room = limits.max_bytes > used ? limits.max_bytes - used : 0;
      if (params.content_length && *params.content_length > room)
        return Impl::over_quota(*params.content_length, u, limits.max_bytes, now);
      if (e->info.offset + room < limit) {
        limit = e->info.offset + room;
        quota_bound = true;
      }
      e->reserved = room;
    }
    e->busy = true;
    info = e->info;
  }
  BusyGuard guard(s.mu, e);
  STREAMLET_RETURN_IF_ERROR(s.check_free_space(params.content_length.value_or(0)));

  const uint64_t start = info.offset;
  Fd fd(::open(s.bin(info.id).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("open upload file");

  std::optional<detail::Digest> digest;
  if (params.checksum) digest.emplace(params.checksum->algorithm);
  std::vector<char> buffer;
  buffer.reserve(kWriteBuffer);
  uint64_t written = start;    // bytes on disk (maybe not yet synced)
  uint64_t received = start;   // bytes taken from the body
  uint64_t committed = start;  // bytes acknowledged in the state file
  uint64_t kicked = start;     // bytes whose writeback has been started
  Status failure;

  auto flush = [&]() -> bool {
    size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n =
          ::pwrite(fd.get(), buffer.data() + done, buffer.size() - done, off_t(written + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failure = errno_status("write upload data");
        return false;
      }
      done += size_t(n);
    }
    written += buffer.size();
    buffer.clear();
    // Start writeback of what is written so far without waiting for it: the fdatasync that
    // acknowledges the append then finds little left to do, and dirty pages stay few.
    if (s.opt.durable && written - kicked >= kWritebackStep) {
      ::sync_file_range(fd.get(), off_t(kicked), off_t(written - kicked), SYNC_FILE_RANGE_WRITE);
      kicked = written;
    }
    return true;
  };
  auto commit = [&]() -> Status {
    if (!buffer.empty() && !flush()) return failure;
    if (s.opt.durable && ::fdatasync(fd.get()) != 0) return errno_status("fsync upload data");
    UploadInfo next = info;
    next.offset = written;
    next.expires = Clock::now() + s.opt.expiration;
    STREAMLET_RETURN_IF_ERROR(s.persist(next));
    info = next;
    committed = written;
    std::lock_guard lock(s.mu);
    e->info = info;
    return Status::Ok();
  };

  bool body_ok = true;
  if (body) {
    body_ok = body([&](const char* data, size_t size) {
      if (received + size > limit) {
        failure =
            quota_bound
                ? rate_limited("storage quota: the body goes past the " +
                                   std::to_string(limits.max_bytes) + " bytes its owner may store",
                               std::chrono::hours(1))
                : error(ErrorCode::kTooLarge, "the body goes past the upload's length");
        return false;
      }
      received += size;
      if (digest) digest->update(data, size);
      while (size > 0) {
        size_t take = std::min(size, kWriteBuffer - buffer.size());
        buffer.insert(buffer.end(), data, data + take);
        data += take;
        size -= take;
        if (buffer.size() == kWriteBuffer && !flush()) return false;
      }
      // Without a checksum every byte is good on arrival: checkpoint long bodies.
      if (!digest && written - committed >= s.opt.checkpoint_bytes) {
        if (Status st = commit(); !st.ok()) {
          failure = st;
          return false;
        }
      }
      return true;
    });
  }

  auto roll_back = [&](uint64_t to) {
    if (::ftruncate(fd.get(), off_t(to)) == 0 && s.opt.durable) ::fdatasync(fd.get());
  };
  if (!failure.ok()) {
    roll_back(committed);
    return failure;
  }
  if (!body_ok && digest) {
    roll_back(start);  // a checksum covers the whole body: a partial one proves nothing
    return error(ErrorCode::kCancelled, "the request body ended early");
  }
  if (digest && digest->finish() != params.checksum->digest) {
    roll_back(start);
    return error(ErrorCode::kChecksumMismatch, "Upload-Checksum does not match the body");
  }
  if (Status st = commit(); !st.ok()) {
    roll_back(committed);
    return st;
  }
  if (info.complete() && info.offset > start) s.notify(info);
  return info;
}

Result<UploadInfo> UploadStore::concatenate(const std::vector<std::string>& part_ids,
                                            std::map<std::string, std::string> metadata) {
  Impl& s = *impl_;
  if (part_ids.empty())
    return error(ErrorCode::kInvalidArgument, "Upload-Concat: final needs at least one part");
  std::vector<std::shared_ptr<Entry>> parts;
  uint64_t total = 0;
  const bool owned = !s.opt.owner_key.empty();
  const std::string owner = s.owner_of(metadata);
  {
    std::lock_guard lock(s.mu);
    std::set<std::string_view> seen;
    for (const auto& id : part_ids) {
      if (!seen.insert(id).second)
        return error(ErrorCode::kInvalidArgument, "Upload-Concat: part listed twice");
      const Status unknown =
          error(ErrorCode::kInvalidArgument, "Upload-Concat: unknown part " + id);
      auto found = s.find_locked(id);
      // With owners, another owner's part (or one gone, whoever had it) is not there as far
      // as the caller can tell: the same answer as for an id that never existed.
      if (!found.ok())
        return found.status().code() == ErrorCode::kGone && !owned ? found.status() : unknown;
      const auto& e = *found;
      if (owned && s.owner_of(e->info.metadata) != owner) return unknown;
      if (!e->info.partial)
        return error(ErrorCode::kInvalidArgument, "Upload-Concat: " + id + " is not partial");
      if (!e->info.complete())
        return error(ErrorCode::kInvalidArgument, "Upload-Concat: " + id + " is not finished");
      if (e->busy) return error(ErrorCode::kConflict, "Upload-Concat: " + id + " is busy");
      total += *e->info.length;
      parts.push_back(e);
    }
    if (total > s.opt.max_upload_size)
      return error(ErrorCode::kTooLarge, "concatenated upload exceeds the maximum size");
    for (auto& e : parts) e->busy = true;
  }
  std::vector<std::unique_ptr<BusyGuard>> guards;
  for (auto& e : parts) guards.push_back(std::make_unique<BusyGuard>(s.mu, e));
  STREAMLET_RETURN_IF_ERROR(s.check_free_space(total));

  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return error(ErrorCode::kInternal, "no randomness");
  UploadInfo info;
  info.id = detail::to_hex(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
  info.length = total;
  info.offset = total;
  info.metadata = std::move(metadata);
  info.parts = part_ids;
  info.created = Clock::now();
  info.expires = info.created + s.opt.expiration;

  Status st;
  {
    Fd out(::open(s.bin(info.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out.valid()) return errno_status("create upload file");
    for (const auto& e : parts) {
      Fd in(::open(s.bin(e->info.id).c_str(), O_RDONLY | O_CLOEXEC));
      if (!in.valid()) {
        st = errno_status("open part");
        break;
      }
      uint64_t left = *e->info.length;
      while (left > 0 && st.ok()) {
        // Kernel-side copy: no user-space buffer, and reflinks where the filesystem has them.
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, left, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
          st = n < 0 ? errno_status("concatenate") : error(ErrorCode::kIo, "part shrank");
        else
          left -= uint64_t(n);
      }
      if (!st.ok()) break;
    }
    if (st.ok() && s.opt.durable && ::fdatasync(out.get()) != 0) st = errno_status("fsync");
  }
  if (st.ok()) st = s.persist(info);
  if (!st.ok()) {
    s.remove_files(info.id);
    return st;
  }
  {
    std::lock_guard lock(s.mu);
    auto e = std::make_shared<Entry>();
    e->info = info;
    s.uploads.emplace(info.id, std::move(e));
    for (const auto& p : parts) s.bury_locked(p->info.id);
  }
  // The final upload holds the bytes now; the parts would only double the disk used.
  for (const auto& p : parts) s.remove_files(p->info.id);
  s.notify(info);
  return info;
}

Status UploadStore::terminate(std::string_view id) {
  Impl& s = *impl_;
  UploadInfo info;
  {
    std::lock_guard lock(s.mu);
    STREAMLET_ASSIGN_OR_RETURN(auto e, s.find_locked(id));
    if (e->busy) return error(ErrorCode::kConflict, "upload is busy with another request");
    info = e->info;
    s.bury_locked(info.id);
  }
  s.remove_files(info.id);
  s.notify_removed(info, RemovalReason::kTerminated);
  return Status::Ok();
}

size_t UploadStore::expire_idle() {
  Impl& s = *impl_;
  std::vector<UploadInfo> victims;
  {
    std::lock_guard lock(s.mu);
    auto now = Clock::now();
    for (const auto& [id, e] : s.uploads)
      if (!e->busy && s.expired(e->info, now)) victims.push_back(e->info);
    for (const auto& info : victims) s.bury_locked(info.id);
  }
  for (const auto& info : victims) {
    s.remove_files(info.id);
    s.notify_removed(info, RemovalReason::kExpired);
  }
  return victims.size();
}

Result<fs::path> UploadStore::data_path(std::string_view id) const {
  std::lock_guard lock(impl_->mu);
  STREAMLET_ASSIGN_OR_RETURN(auto e, impl_->find_locked(id));
  if (!e->info.complete()) return error(ErrorCode::kConflict, "upload is not finished");
  return impl_->bin(id);
}

}  // namespace streamlet::upload
