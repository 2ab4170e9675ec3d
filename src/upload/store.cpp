// The upload store: one appendable object <prefix><id>.bin (bytes) and one object
// <prefix><id>.json (state) per upload, both through a storage::Storage and nothing else.
// Data is synced before the state that acknowledges it is atomically replaced (a Writer
// commit), so the state never claims bytes the storage does not hold.
#include <openssl/rand.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json_text.hpp"
#include "streamlet/storage.hpp"
#include "upload/digest.hpp"

namespace streamlet::upload {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

constexpr size_t kWriteBuffer = 1 << 20;  // one append call per MiB keeps copies cheap
constexpr size_t kMaxTombstones = 100000;
// A state object is a few hundred bytes plus metadata (bounded by the tus header limit) and
// part ids; anything this large is not one of ours.
constexpr uint64_t kMaxStateBytes = 4u << 20;

bool valid_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Messages reach the uploader (a full disk is a 503 with this text): they say what failed,
// never where in the server's storage. A backend's message names the key or path ("append to
// uploads/x.bin: No space left on device"), so only its last clause (the reason) is kept.
// A backend's kNotFound on data the store knows of is a storage fault, hence kIo.
Status storage_status(const std::string& what, const Status& failed) {
  std::string_view message = failed.message();
  if (auto colon = message.rfind(": "); colon != std::string_view::npos)
    message.remove_prefix(colon + 2);
  ErrorCode code = failed.code() == ErrorCode::kResourceExhausted ? ErrorCode::kResourceExhausted
                                                                  : ErrorCode::kIo;
  return error(code, what + ": " + std::string(message));
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
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
  // What this process knows; with opt.shared a cache of the state objects, refreshed by every
  // lookup (find_locked), hence mutable.
  mutable std::map<std::string, std::shared_ptr<Entry>, std::less<>> uploads;
  mutable std::set<std::string, std::less<>> gone;
  CompletionCallback callback;
  RemovalCallback removal_callback;

  std::shared_ptr<storage::Storage> storage;  // == opt.storage

  std::string bin(std::string_view id) const { return opt.prefix + std::string(id) + ".bin"; }
  std::string state(std::string_view id) const { return opt.prefix + std::string(id) + ".json"; }

  bool expired(const UploadInfo& info, Clock::time_point now) const {
    return !info.complete() && now >= info.expires;
  }

  // Atomically replaces <id>.json: a Writer is visible whole (and durable) on commit, or not.
  Status persist(const UploadInfo& info) const {
    if (Status st = storage->put(state(info.id), streamlet::detail::json_text(to_json(info)));
        !st.ok())
      return storage_status("save upload state", st);
    return Status::Ok();
  }

  // Writes the final upload `id` as the parts' bytes in order, read back through Readers and
  // appended through one small buffer (memory does not grow with the parts), then syncs it.
  Status concatenate_data(const std::string& id,
                          const std::vector<std::shared_ptr<Entry>>& parts) const {
    auto created = storage->append(bin(id), /*create=*/true);
    if (!created.ok()) return storage_status("create upload data", created.status());
    storage::Appender& out = **created;
    std::vector<char> buffer(kWriteBuffer);
    for (const auto& e : parts) {
      auto in = storage->open(bin(e->info.id));
      if (!in.ok()) return storage_status("open part", in.status());
      const uint64_t length = *e->info.length;
      for (uint64_t at = 0; at < length;) {
        auto n = (*in)->read_at(at, buffer.data(),
                                size_t(std::min<uint64_t>(kWriteBuffer, length - at)));
        if (!n.ok()) return storage_status("read part", n.status());
        if (*n == 0) return error(ErrorCode::kIo, "concatenate: part shrank");
        if (Status st = out.append(buffer.data(), *n); !st.ok())
          return storage_status("concatenate", st);
        at += *n;
      }
    }
    if (Status st = out.finish(); !st.ok()) return storage_status("finish upload data", st);
    return Status::Ok();
  }

  // With opt.shared: the upload as its state object says now (another node may have created,
  // advanced, finished or removed it), unless this process is in the middle of a request on
  // it. Under `mu`.
  void refresh_locked(std::string_view id) const {
    auto it = uploads.find(id);
    if (it != uploads.end() && it->second->busy) return;
    auto text = storage->get(state(id), kMaxStateBytes);
    if (!text.ok()) {
      if (text.status().code() == ErrorCode::kNotFound && it != uploads.end()) {
        uploads.erase(it);  // terminated or expired elsewhere
        gone.insert(std::string(id));
      }
      return;  // unknown here and there; or unreadable: keep what we had
    }
    auto info = from_json(nlohmann::json::parse(*text, nullptr, false));
    if (!info || info->id != id) return;
    if (it != uploads.end()) {
      it->second->info = std::move(*info);
    } else {
      auto e = std::make_shared<Entry>();
      e->info = std::move(*info);
      gone.erase(e->info.id);
      uploads.emplace(e->info.id, std::move(e));
    }
  }

  // Looks up an upload under `mu`; kGone for terminated or expired ones.
  Result<std::shared_ptr<Entry>> find_locked(std::string_view id) const {
    if (opt.shared && valid_id(id)) refresh_locked(id);
    auto it = valid_id(id) ? uploads.find(id) : uploads.end();
    if (it == uploads.end()) {
      if (gone.count(id)) return error(ErrorCode::kGone, "upload was terminated or expired");
      return error(ErrorCode::kNotFound, "no such upload");
    }
    if (expired(it->second->info, Clock::now())) return error(ErrorCode::kGone, "upload expired");
    return it->second;
  }

  // The state goes first: a crash in between leaves data without state, which the next
  // open() removes as never acknowledged (the other order would leave a state whose data
  // is gone, kept forever).
  void remove_files(std::string_view id) const {
    (void)storage->remove(state(id));
    (void)storage->remove(bin(id));
  }

  void bury_locked(const std::string& id) {
    uploads.erase(id);
    if (gone.size() >= kMaxTombstones) gone.clear();
    gone.insert(id);
  }

  Status check_free_space(uint64_t needed) const {
    auto free_bytes = storage->free_bytes();
    if (!free_bytes) return Status::Ok();  // unknown (an object store): let writes tell
    if (*free_bytes < needed + opt.min_free_bytes)
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
  if (!options.storage) {
    // The shortcut: a directory of <id>.bin and <id>.json, as the store always kept it.
    if (options.dir.empty())
      return error(ErrorCode::kInvalidArgument, "upload store: no storage and no directory");
    // Owner-only files, as the store always made them: unpublished uploads are private.
    auto local = storage::open_local(
        {.root = options.dir, .durable = options.durable, .private_files = true});
    if (!local.ok())
      return storage_status("upload store: open " + options.dir.string(), local.status());
    options.storage = std::move(local).value();
    options.prefix.clear();
  }
  if (Status st = storage::check_key(options.prefix + std::string(32, '0') + ".json"); !st.ok())
    return error(ErrorCode::kInvalidArgument,
                 "upload store: invalid prefix \"" + options.prefix + "\"");
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->storage = impl->opt.storage;
  storage::Storage& store = *impl->storage;
  const std::string& prefix = impl->opt.prefix;
  auto failed = [&](const std::string& what, const Status& st) {
    return error(st.code() == ErrorCode::kResourceExhausted ? st.code() : ErrorCode::kIo,
                 "upload store (" + store.describe() + "): " + what + ": " + st.message());
  };

  // Names directly under the prefix; deeper keys belong to someone else.
  std::vector<std::string> names;
  if (Status st = store.list(prefix,
                             [&](const storage::ObjectInfo& o) {
                               std::string_view name =
                                   std::string_view(o.key).substr(prefix.size());
                               if (name.find('/') == std::string_view::npos)
                                 names.emplace_back(name);
                               return true;
                             });
      !st.ok())
    return failed("list", st);

  std::set<std::string> known;
  for (const auto& name : names) {
    // A state write of an older version that never got renamed: never acknowledged.
    if (ends_with(name, ".json.tmp")) {
      (void)store.remove(prefix + name);
      continue;
    }
    if (!ends_with(name, ".json")) continue;
    const std::string id = name.substr(0, name.size() - 5);
    known.insert(id);  // even if unreadable below: never delete its data
    auto text = store.get(prefix + name, kMaxStateBytes);
    if (!text.ok()) continue;
    auto info = from_json(nlohmann::json::parse(*text, nullptr, false));
    if (!info || info->id != id) continue;  // not ours; leave it alone
    // Reconcile: bytes past the acknowledged offset were never promised to anyone.
    const std::string bin = impl->bin(id);
    auto data = store.stat(bin);
    if (!data.ok()) {
      if (data.status().code() == ErrorCode::kNotFound) continue;
      return failed("stat " + bin, data.status());
    }
    if (data->size > info->offset) {
      auto out = store.append(bin, /*create=*/false);
      Status st = out.ok() ? (*out)->truncate(info->offset) : out.status();
      if (st.ok()) st = (*out)->sync();
      if (!st.ok()) return failed("truncate " + bin, st);
    } else if (data->size < info->offset) {
      // Only possible if the storage lost synced data; trust the bytes that are there.
      info->offset = data->size;
      STREAMLET_RETURN_IF_ERROR(impl->persist(*info));
    }
    if (info->complete()) {
      // A crash may have come between the last acknowledgement and finish().
      auto out = store.append(bin, /*create=*/false);
      Status st = out.ok() ? (*out)->finish() : out.status();
      if (!st.ok()) return failed("finish " + bin, st);
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
  // Data without any state: its creation was never acknowledged.
  for (const auto& name : names) {
    if (!ends_with(name, ".bin")) continue;
    const std::string id = name.substr(0, name.size() - 4);
    if (valid_id(id) && !known.count(id)) (void)store.remove(prefix + name);
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
    // Made durable before the state that acknowledges it.
    auto data = s.storage->append(s.bin(info.id), /*create=*/true);
    // An empty upload is finished on creation.
    st = !data.ok() ? data.status() : info.complete() ? (*data)->finish() : (*data)->sync();
    if (!st.ok()) st = storage_status("create upload data", st);
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
  if (info.complete()) {
    auto out = s.storage->append(s.bin(info.id), /*create=*/false);
    Status st = out.ok() ? (*out)->finish() : out.status();
    if (!st.ok()) return storage_status("finish upload data", st);
    s.notify(info);
  }
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
  // Another node may be appending: its hold first, then the state (find_locked reads it from
  // storage when shared), so the offset checked below is the one the last holder left.
  std::unique_ptr<UploadLock> held;
  if (s.opt.locker) {
    STREAMLET_ASSIGN_OR_RETURN(held, s.opt.locker->lock(id));
  }
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
  auto opened = s.storage->append(s.bin(info.id), /*create=*/false);
  if (!opened.ok()) return storage_status("open upload data", opened.status());
  storage::Appender& out = **opened;
  // Bytes past the offset are left by an append that failed and could not roll back: they
  // were never acknowledged.
  if (out.size() > start) {
    if (Status st = out.truncate(start); !st.ok()) return storage_status("open upload data", st);
  } else if (out.size() < start) {
    return error(ErrorCode::kIo, "upload data is shorter than its acknowledged offset");
  }

  std::optional<detail::Digest> digest;
  if (params.checksum) digest.emplace(params.checksum->algorithm);
  std::vector<char> buffer;
  buffer.reserve(kWriteBuffer);
  uint64_t written = start;    // bytes appended (maybe not yet synced)
  uint64_t received = start;   // bytes taken from the body
  uint64_t committed = start;  // bytes acknowledged in the state
  Status failure;

  auto flush = [&]() -> bool {
    if (Status st = out.append(buffer.data(), buffer.size()); !st.ok()) {
      failure = storage_status("write upload data", st);
      return false;
    }
    written += buffer.size();
    buffer.clear();
    return true;
  };
  auto commit = [&]() -> Status {
    if (!buffer.empty() && !flush()) return failure;
    if (Status st = out.sync(); !st.ok()) return storage_status("sync upload data", st);
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
      if (held) {
        if (Status st = held->keep(); !st.ok()) {
          failure = st;
          return false;
        }
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
    if (out.size() > to && out.truncate(to).ok()) (void)out.sync();
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
  if (info.complete() && info.offset > start) {
    // Whole now: a backend that keeps appended bytes in pieces assembles them here. Should
    // this fail, the next open() finishes it.
    if (Status st = out.finish(); !st.ok()) return storage_status("finish upload data", st);
    s.notify(info);
  }
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

  Status st = s.concatenate_data(info.id, parts);
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
  std::unique_ptr<UploadLock> held;  // not while another node appends to it
  if (s.opt.locker && valid_id(id)) {
    STREAMLET_ASSIGN_OR_RETURN(held, s.opt.locker->lock(id));
  }
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
  if (s.opt.shared) {
    // Uploads other nodes made (and may never come back to) expire here too.
    std::vector<std::string> ids;
    (void)s.storage->list(s.opt.prefix, [&](const storage::ObjectInfo& o) {
      std::string_view name(o.key);
      name.remove_prefix(s.opt.prefix.size());
      if (ends_with(name, ".json")) ids.emplace_back(name.substr(0, name.size() - 5));
      return true;
    });
    std::lock_guard lock(s.mu);
    for (const auto& id : ids)
      if (valid_id(id)) s.refresh_locked(id);
  }
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

Result<std::string> UploadStore::data_key(std::string_view id) const {
  std::lock_guard lock(impl_->mu);
  STREAMLET_ASSIGN_OR_RETURN(auto e, impl_->find_locked(id));
  if (!e->info.complete()) return error(ErrorCode::kConflict, "upload is not finished");
  return impl_->bin(id);
}

}  // namespace streamlet::upload
