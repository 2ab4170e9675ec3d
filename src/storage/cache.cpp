// The origin's local cache of hot objects (see storage_cache.hpp). Layout of the cache dir:
//   .streamlet-cache      marker: this directory is a cache and may be cleaned
//   <id>.obj              the bytes of one cached object, exactly its size
//   <id>.meta             its index record (key, size, modification time), renamed into place
//                         only after <id>.obj is whole (and fsynced): no record, no entry
//   <id>.meta.tmp         a record being written
// The index lives in memory (key -> entry, plus an LRU list) and is rebuilt from the records
// at open; anything that does not add up is deleted.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/file_util.hpp"
#include "streamlet/metrics.hpp"
#include "streamlet/storage_cache.hpp"

namespace streamlet::storage {

namespace {

namespace fs = std::filesystem;
using streamlet::detail::errno_status;
using streamlet::detail::Fd;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kMarker = ".streamlet-cache";
constexpr std::string_view kMarkerText = "streamlet object cache, version 1\n";
constexpr std::string_view kRecordHeader = "streamlet-cache-entry 1";

// The one definition of "the same object": what the cached copy is checked against.
bool same_version(const ObjectInfo& a, const ObjectInfo& b) {
  return a.size == b.size && a.modified_ms == b.modified_ms;
}

// A cached file, shared by its index entry and every reader on it. Eviction unlinks the
// names; the descriptor lives until the last reader lets go.
struct CacheFile {
  Fd fd;
};

class CacheReader final : public Reader {
 public:
  CacheReader(std::shared_ptr<const CacheFile> file, ObjectInfo info)
      : file_(std::move(file)), info_(std::move(info)) {}
  const ObjectInfo& info() const override { return info_; }
  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    if (offset >= info_.size) return size_t{0};
    size = static_cast<size_t>(std::min<uint64_t>(size, info_.size - offset));
    size_t done = 0;
    while (done < size) {
      ssize_t n =
          ::pread(file_->fd.get(), data + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status(errno, "read cached", info_.key);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }
  int fd() const override { return file_->fd.get(); }

 private:
  std::shared_ptr<const CacheFile> file_;
  ObjectInfo info_;
};

Status write_all(int fd, const char* data, size_t size, const fs::path& what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "write", what);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string record_text(const ObjectInfo& info) {
  return std::string(kRecordHeader) + "\nsize " + std::to_string(info.size) + "\nmodified_ms " +
         std::to_string(info.modified_ms) + "\nkey " + info.key + "\n";
}

// The record's ObjectInfo, or nullopt when it is not one this version wrote whole.
std::optional<ObjectInfo> parse_record(const std::string& text) {
  auto line = [&](size_t& pos, std::string_view label) -> std::optional<std::string_view> {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) return std::nullopt;
    std::string_view l(text.data() + pos, end - pos);
    pos = end + 1;
    if (!l.starts_with(label)) return std::nullopt;
    return l.substr(label.size());
  };
  size_t pos = 0;
  auto header = line(pos, kRecordHeader);
  if (!header || !header->empty()) return std::nullopt;
  auto size = line(pos, "size ");
  auto modified = size ? line(pos, "modified_ms ") : std::nullopt;
  auto key = modified ? line(pos, "key ") : std::nullopt;
  if (!key || pos != text.size() || !check_key(*key).ok()) return std::nullopt;
  ObjectInfo info;
  info.key = std::string(*key);
  auto r1 = std::from_chars(size->data(), size->data() + size->size(), info.size);
  auto r2 =
      std::from_chars(modified->data(), modified->data() + modified->size(), info.modified_ms);
  if (r1.ec != std::errc() || r1.ptr != size->data() + size->size() || r2.ec != std::errc() ||
      r2.ptr != modified->data() + modified->size())
    return std::nullopt;
  return info;
}

// "<digits><suffix>" -> the number.
std::optional<uint64_t> id_of(std::string_view name, std::string_view suffix) {
  if (!name.ends_with(suffix) || name.size() == suffix.size()) return std::nullopt;
  std::string_view digits = name.substr(0, name.size() - suffix.size());
  uint64_t id = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return id;
}

class Cache;

// Writes go through; the committed key's cache entry goes.
class InvalidatingWriter final : public Writer {
 public:
  InvalidatingWriter(std::unique_ptr<Writer> inner, std::shared_ptr<Cache> cache, std::string key)
      : inner_(std::move(inner)), cache_(std::move(cache)), key_(std::move(key)) {}
  Status write(const char* data, size_t size) override { return inner_->write(data, size); }
  Status commit() override;
  uint64_t bytes_written() const override { return inner_->bytes_written(); }

 private:
  std::unique_ptr<Writer> inner_;
  std::shared_ptr<Cache> cache_;  // a writer may outlive the caller's last handle on the cache
  std::string key_;
};

// A publication goes through; what it replaced under the prefix leaves the cache.
class InvalidatingPublication final : public Publication {
 public:
  InvalidatingPublication(std::unique_ptr<Publication> inner, std::shared_ptr<Cache> cache,
                          std::string prefix)
      : inner_(std::move(inner)), cache_(std::move(cache)), prefix_(std::move(prefix)) {}
  ~InvalidatingPublication() override;
  Result<std::unique_ptr<Writer>> create(std::string_view name) override {
    return inner_->create(name);
  }
  Result<std::unique_ptr<Reader>> open(std::string_view name) override {
    return inner_->open(name);
  }
  Status publish(const std::vector<std::string>& last) override;
  Status reveal(std::string_view name) override;

 private:
  std::unique_ptr<Publication> inner_;
  std::shared_ptr<Cache> cache_;  // a writer may outlive the caller's last handle on the cache
  std::string prefix_;
  bool revealed_ = false, published_ = false;
};

class Cache final : public CachedStorage, public std::enable_shared_from_this<Cache> {
 public:
  Cache(std::shared_ptr<Storage> inner, CacheOptions options, Fd dir)
      : inner_(std::move(inner)), options_(std::move(options)), dir_(std::move(dir)) {
    if (options_.metrics) register_metrics(*options_.metrics);
  }

  // ---- reads -------------------------------------------------------------------------------

  Result<std::unique_ptr<Reader>> open(std::string_view key) override {
    if (!options_.cacheable(key)) return inner_->open(key);
    STREAMLET_RETURN_IF_ERROR(check_key(key));
    const std::string k(key);

    if (options_.revalidate_after.count() > 0) {
      std::lock_guard lock(mu_);
      auto it = entries_.find(k);
      if (it != entries_.end() && it->second.checked != Clock::time_point{} &&
          Clock::now() - it->second.checked < options_.revalidate_after)
        return hit_locked(it);
    }

    // Which object the key holds now: the cached copy is served only if it is that one.
    Result<ObjectInfo> now = inner_->stat(key);
    if (!now.ok()) {
      if (now.status().code() == ErrorCode::kNotFound) invalidate(k);
      return now.status();
    }

    std::shared_ptr<Flight> flight;
    {
      std::unique_lock lock(mu_);
      auto it = entries_.find(k);
      if (it != entries_.end()) {
        if (same_version(it->second.info, *now)) {
          it->second.checked = Clock::now();
          return hit_locked(it);
        }
        drop_locked(it, /*eviction=*/false);
      }
      count_miss_locked();
      if (now->size > max_object_bytes()) {
        lock.unlock();
        return inner_->open(key);  // too big to cache: read through
      }
      auto f = flights_.find(k);
      if (f != flights_.end()) {
        // Someone is fetching it: wait for that one fetch rather than starting another.
        std::shared_ptr<Flight> other = f->second;
        other->cv.wait(lock, [&] { return other->done; });
        if (other->status.ok() && other->file && same_version(other->info, *now))
          return std::unique_ptr<Reader>(new CacheReader(other->file, other->info));
        if (!other->status.ok() && other->status.code() != ErrorCode::kNotFound)
          return other->status;
        lock.unlock();
        return inner_->open(key);  // it fetched another version (or none): ours, directly
      }
      flight = std::make_shared<Flight>();
      flights_.emplace(k, flight);
    }

    Result<Fetched> fetched = fetch(k);

    std::unique_lock lock(mu_);
    flight->done = true;
    flights_.erase(k);
    if (!fetched.ok()) {
      flight->status = fetched.status();
      flight->cv.notify_all();
      return fetched.status();
    }
    if (fetched->passthrough) {  // it turned out too big by the time it was opened
      flight->cv.notify_all();
      return std::move(fetched->passthrough);
    }
    flight->file = fetched->file;
    flight->info = fetched->info;
    flight->cv.notify_all();
    ++stats_.fetches;
    stats_.fetched_bytes += fetched->info.size;
    if (m_fetched_) m_fetched_->inc(double(fetched->info.size));
    if (flight->stale || entries_.count(k)) {
      // Invalidated while it was fetched: this reader gets what it fetched, nobody else.
      unlink_files(fetched->id);
    } else {
      insert_locked(k, fetched->id, fetched->file, fetched->info);
    }
    return std::unique_ptr<Reader>(new CacheReader(fetched->file, fetched->info));
  }

  Result<ObjectInfo> stat(std::string_view key) override { return inner_->stat(key); }

  Status list(std::string_view prefix,
              const std::function<bool(const ObjectInfo&)>& each) override {
    return inner_->list(prefix, each);
  }

  Result<LocalFile> local_file(std::string_view key, const fs::path& scratch_dir) override {
    return inner_->local_file(key, scratch_dir);
  }

  std::optional<uint64_t> free_bytes() override { return inner_->free_bytes(); }

  std::string describe() const override {
    return inner_->describe() + " (cached in " + options_.dir.string() + ")";
  }

  // ---- changes: to the inner storage, then out of the cache ----------------------------------

  Result<std::unique_ptr<Writer>> write(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto w, inner_->write(key));
    return std::unique_ptr<Writer>(
        new InvalidatingWriter(std::move(w), shared_from_this(), std::string(key)));
  }

  Result<std::unique_ptr<Appender>> append(std::string_view key, bool create) override {
    // An appended object changes under its readers: never served from here meanwhile.
    invalidate(std::string(key));
    return inner_->append(key, create);
  }

  Status remove(std::string_view key) override {
    Status s = inner_->remove(key);
    invalidate(std::string(key));
    return s;
  }

  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    auto removed = inner_->remove_prefix(prefix);
    invalidate_prefix(std::string(prefix));
    return removed;
  }

  Result<std::unique_ptr<Publication>> publish(std::string_view prefix) override {
    STREAMLET_ASSIGN_OR_RETURN(auto p, inner_->publish(prefix));
    return std::unique_ptr<Publication>(
        new InvalidatingPublication(std::move(p), shared_from_this(), std::string(prefix)));
  }

  Status discard_unpublished(std::string_view prefix) override {
    return inner_->discard_unpublished(prefix);  // never cached: nothing unpublished is read
  }

  // ---- the cache's own ---------------------------------------------------------------------

  CacheStats stats() const override {
    std::lock_guard lock(mu_);
    CacheStats s = stats_;
    s.bytes = bytes_;
    s.objects = entries_.size();
    return s;
  }

  const std::shared_ptr<Storage>& inner() const override { return inner_; }

  void invalidate(const std::string& key) {
    std::lock_guard lock(mu_);
    auto f = flights_.find(key);
    if (f != flights_.end()) f->second->stale = true;
    auto it = entries_.find(key);
    if (it != entries_.end()) drop_locked(it, false);
  }

  void invalidate_prefix(const std::string& prefix) {
    std::lock_guard lock(mu_);
    for (auto f = flights_.lower_bound(prefix);
         f != flights_.end() && f->first.compare(0, prefix.size(), prefix) == 0; ++f)
      f->second->stale = true;
    for (auto it = entries_.lower_bound(prefix);
         it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
      it = drop_locked(it, false);
  }

  // Rebuilds the index from the records in the directory (see the top of this file).
  void reindex() {
    struct Found {
      uint64_t id;
      ObjectInfo info;
      int64_t used_ns;  // the record's mtime: when the object was cached
    };
    std::vector<Found> found;
    std::vector<std::string> names;
    if (DIR* d = ::fdopendir(::fcntl(dir_.get(), F_DUPFD_CLOEXEC, 0))) {
      while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
      ::closedir(d);
    }
    std::map<uint64_t, bool> objects;  // ids with an .obj file, and whether a record names it
    for (const auto& n : names) {
      if (auto id = id_of(n, ".obj")) {
        objects[*id] = false;
        next_id_ = std::max(next_id_, *id + 1);
      }
      if (auto id = id_of(n, ".meta")) next_id_ = std::max(next_id_, *id + 1);
    }
    for (const auto& n : names) {
      if (n.ends_with(".tmp")) {
        ::unlinkat(dir_.get(), n.c_str(), 0);  // a record being written when it stopped
        continue;
      }
      auto id = id_of(n, ".meta");
      if (!id) continue;
      std::optional<ObjectInfo> info = read_record(n);
      struct stat st {};
      const std::string obj = std::to_string(*id) + ".obj";
      bool whole = info && ::fstatat(dir_.get(), obj.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                   S_ISREG(st.st_mode) && uint64_t(st.st_size) == info->size;
      struct stat mst {};
      if (!whole || ::fstatat(dir_.get(), n.c_str(), &mst, AT_SYMLINK_NOFOLLOW) != 0) {
        unlink_files(*id);
        objects.erase(*id);
        continue;
      }
      objects[*id] = true;
      found.push_back(
          {*id, std::move(*info), int64_t(mst.st_mtim.tv_sec) * 1000000000 + mst.st_mtim.tv_nsec});
    }
    for (const auto& [id, named] : objects)
      if (!named) unlink_files(id);  // a fetch cut short: bytes without a record

    // Oldest first, so the newest end up at the front of the LRU list.
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
      return a.used_ns != b.used_ns ? a.used_ns < b.used_ns : a.id < b.id;
    });
    std::lock_guard lock(mu_);
    for (auto& f : found) {
      auto old = entries_.find(f.info.key);
      if (old != entries_.end()) drop_locked(old, false);  // two records, one key: the newer
      Fd fd(::openat(dir_.get(), (std::to_string(f.id) + ".obj").c_str(),
                     O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) {
        unlink_files(f.id);
        continue;
      }
      auto file = std::make_shared<CacheFile>();
      file->fd = std::move(fd);
      std::string key = f.info.key;
      insert_locked(key, f.id, std::move(file), std::move(f.info));
    }
    // Stale from before the restart until checked again.
    for (auto& [key, e] : entries_) e.checked = Clock::time_point{};
    stats_ = CacheStats{};
  }

 private:
  struct Entry {
    uint64_t id = 0;
    std::shared_ptr<const CacheFile> file;
    ObjectInfo info;
    Clock::time_point checked{};  // when the inner storage last confirmed it; {}: not yet
    std::list<std::string>::iterator lru;
  };
  struct Flight {
    std::condition_variable cv;
    bool done = false;
    bool stale = false;  // invalidated while fetching: not to be indexed
    Status status;
    std::shared_ptr<const CacheFile> file;
    ObjectInfo info;
  };
  struct Fetched {
    uint64_t id = 0;
    std::shared_ptr<const CacheFile> file;
    ObjectInfo info;
    std::unique_ptr<Reader> passthrough;
  };

  uint64_t max_object_bytes() const {
    uint64_t m = options_.max_object_bytes ? options_.max_object_bytes : options_.max_bytes / 4;
    return std::min(m, options_.max_bytes);
  }

  std::unique_ptr<Reader> hit_locked(std::map<std::string, Entry>::iterator it) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    ++stats_.hits;
    if (m_hits_) m_hits_->inc();
    return std::unique_ptr<Reader>(new CacheReader(it->second.file, it->second.info));
  }

  void count_miss_locked() {
    ++stats_.misses;
    if (m_misses_) m_misses_->inc();
  }

  void insert_locked(const std::string& key, uint64_t id, std::shared_ptr<const CacheFile> file,
                     ObjectInfo info) {
    lru_.push_front(key);
    Entry e;
    e.id = id;
    e.file = std::move(file);
    e.info = std::move(info);
    e.checked = Clock::now();
    e.lru = lru_.begin();
    bytes_ += e.info.size;
    entries_.emplace(key, std::move(e));
    // Least recently used out until the total fits (the newest entry itself fits: it is no
    // bigger than max_object_bytes <= max_bytes).
    while (bytes_ > options_.max_bytes && !lru_.empty()) {
      auto victim = entries_.find(lru_.back());
      drop_locked(victim, true);
    }
    update_gauges_locked();
  }

  std::map<std::string, Entry>::iterator drop_locked(std::map<std::string, Entry>::iterator it,
                                                     bool eviction) {
    unlink_files(it->second.id);  // readers still holding the file keep reading it
    bytes_ -= it->second.info.size;
    lru_.erase(it->second.lru);
    if (eviction) {
      ++stats_.evictions;
      if (m_evictions_) m_evictions_->inc();
    } else {
      ++stats_.invalidations;
    }
    auto next = entries_.erase(it);
    update_gauges_locked();
    return next;
  }

  void update_gauges_locked() {
    if (m_bytes_) m_bytes_->set(double(bytes_));
    if (m_objects_) m_objects_->set(double(entries_.size()));
  }

  // The record first: once it is gone the bytes are never indexed again, whatever happens.
  void unlink_files(uint64_t id) {
    const std::string base = std::to_string(id);
    ::unlinkat(dir_.get(), (base + ".meta").c_str(), 0);
    ::unlinkat(dir_.get(), (base + ".obj").c_str(), 0);
  }

  std::optional<ObjectInfo> read_record(const std::string& name) {
    Fd fd(::openat(dir_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) return std::nullopt;
    std::string text(4096, '\0');
    size_t done = 0;
    for (;;) {
      ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += size_t(n);
      if (done == text.size()) return std::nullopt;  // no record is that long
    }
    text.resize(done);
    return parse_record(text);
  }

  // Copies the object from the inner storage into <id>.obj, then writes its record.
  Result<Fetched> fetch(const std::string& key) {
    STREAMLET_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, inner_->open(key));
    Fetched out;
    out.info = reader->info();
    out.info.key = key;
    if (out.info.size > max_object_bytes()) {
      out.passthrough = std::move(reader);
      return out;
    }
    {
      std::lock_guard lock(mu_);
      out.id = next_id_++;
    }
    const std::string obj = std::to_string(out.id) + ".obj";
    const fs::path obj_path = options_.dir / obj;
    Fd w(::openat(dir_.get(), obj.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600));
    if (!w.valid()) return errno_status(errno, "create", obj_path);
    bool keep = false;
    struct Cleanup {
      Cache& c;
      uint64_t id;
      bool& keep;
      ~Cleanup() {
        if (!keep) c.unlink_files(id);
      }
    } cleanup{*this, out.id, keep};

    std::vector<char> buffer(std::min<uint64_t>(out.info.size, 1 << 20) + 1);
    uint64_t offset = 0;
    for (;;) {
      STREAMLET_ASSIGN_OR_RETURN(size_t n, reader->read_at(offset, buffer.data(), buffer.size()));
      if (n == 0) break;
      STREAMLET_RETURN_IF_ERROR(write_all(w.get(), buffer.data(), n, obj_path));
      offset += n;
      if (offset > out.info.size) break;
    }
    if (offset != out.info.size)
      return Status(ErrorCode::kIo, key + ": read " + std::to_string(offset) + " bytes from " +
                                        inner_->describe() + ", expected " +
                                        std::to_string(out.info.size));
    if (options_.durable && ::fsync(w.get()) != 0) return errno_status(errno, "fsync", obj_path);
    w = Fd();

    // The record, renamed into place only now that the bytes are whole.
    const std::string meta = std::to_string(out.id) + ".meta";
    const std::string temp = meta + ".tmp";
    {
      Fd m(::openat(dir_.get(), temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                    0600));
      if (!m.valid()) return errno_status(errno, "create", options_.dir / temp);
      const std::string text = record_text(out.info);
      Status s = write_all(m.get(), text.data(), text.size(), options_.dir / temp);
      if (s.ok() && options_.durable && ::fsync(m.get()) != 0)
        s = errno_status(errno, "fsync", options_.dir / temp);
      if (s.ok() && ::renameat(dir_.get(), temp.c_str(), dir_.get(), meta.c_str()) != 0)
        s = errno_status(errno, "rename", options_.dir / meta);
      if (!s.ok()) {
        ::unlinkat(dir_.get(), temp.c_str(), 0);
        return s;
      }
    }
    Fd r(::openat(dir_.get(), obj.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!r.valid()) return errno_status(errno, "open", obj_path);
    auto file = std::make_shared<CacheFile>();
    file->fd = std::move(r);
    out.file = std::move(file);
    keep = true;
    return out;
  }

  void register_metrics(metrics::Registry& registry) {
    auto counter = [&](const char* name, const char* help) -> metrics::Counter* {
      auto f = registry.counter(name, help);
      return f.ok() ? &(*f)->get() : nullptr;
    };
    auto gauge = [&](const char* name, const char* help) -> metrics::Gauge* {
      auto f = registry.gauge(name, help);
      return f.ok() ? &(*f)->get() : nullptr;
    };
    m_hits_ =
        counter("streamlet_storage_cache_hits_total", "Opens served from the local object cache");
    m_misses_ = counter("streamlet_storage_cache_misses_total",
                        "Opens of cacheable objects that were not in the local cache");
    m_evictions_ = counter("streamlet_storage_cache_evictions_total",
                           "Cached objects evicted to stay under the size bound");
    m_fetched_ = counter("streamlet_storage_cache_fetched_bytes_total",
                         "Bytes read from the inner storage into the local cache");
    m_bytes_ = gauge("streamlet_storage_cache_bytes", "Bytes held by the local object cache");
    m_objects_ = gauge("streamlet_storage_cache_objects", "Objects held by the local object cache");
  }

  std::shared_ptr<Storage> inner_;
  CacheOptions options_;
  Fd dir_;

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // keys, most recently used first
  std::map<std::string, std::shared_ptr<Flight>> flights_;
  uint64_t bytes_ = 0;
  uint64_t next_id_ = 1;
  CacheStats stats_;

  metrics::Counter* m_hits_ = nullptr;
  metrics::Counter* m_misses_ = nullptr;
  metrics::Counter* m_evictions_ = nullptr;
  metrics::Counter* m_fetched_ = nullptr;
  metrics::Gauge* m_bytes_ = nullptr;
  metrics::Gauge* m_objects_ = nullptr;
};

Status InvalidatingWriter::commit() {
  Status s = inner_->commit();
  cache_->invalidate(key_);
  return s;
}

Status InvalidatingPublication::publish(const std::vector<std::string>& last) {
  Status s = inner_->publish(last);
  published_ = s.ok();
  cache_->invalidate_prefix(prefix_);
  return s;
}

Status InvalidatingPublication::reveal(std::string_view name) {
  Status s = inner_->reveal(name);
  if (!revealed_) cache_->invalidate_prefix(prefix_);  // the first reveal empties the prefix
  revealed_ = true;
  cache_->invalidate(prefix_ + std::string(name));
  return s;
}

InvalidatingPublication::~InvalidatingPublication() {
  inner_.reset();  // withdraws what it revealed, when unpublished
  if (revealed_ && !published_) cache_->invalidate_prefix(prefix_);
}

// The directory, checked to be a cache's (or made one).
Result<Fd> open_cache_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(ErrorCode::kIo, "create " + dir.string() + ": " + ec.message());
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status(errno, "open", dir);
  struct stat st {};
  if (::fstatat(fd.get(), std::string(kMarker).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISREG(st.st_mode))
      return Status(ErrorCode::kInvalidArgument,
                    "object cache: " + (dir / kMarker).string() + " is not a regular file");
    return fd;
  }
  bool empty = true;
  if (DIR* d = ::fdopendir(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0))) {
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") empty = false;
    }
    ::closedir(d);
  }
  if (!empty)
    return Status(ErrorCode::kInvalidArgument,
                  "object cache: " + dir.string() + " is not empty and not a cache directory (no " +
                      std::string(kMarker) + "); give an empty or new directory");
  STREAMLET_RETURN_IF_ERROR(
      streamlet::detail::write_file_atomic(dir / kMarker, std::string(kMarkerText)));
  return fd;
}

}  // namespace

bool is_media_key(std::string_view key) {
  return key.starts_with("media/");
}

Result<std::shared_ptr<CachedStorage>> open_cached(std::shared_ptr<Storage> inner,
                                                   CacheOptions options) {
  if (!inner) return Status(ErrorCode::kInvalidArgument, "object cache: no inner storage");
  if (options.dir.empty())
    return Status(ErrorCode::kInvalidArgument, "object cache: no directory given");
  if (options.max_bytes == 0)
    return Status(ErrorCode::kInvalidArgument, "object cache: max_bytes must be more than 0");
  if (!options.cacheable) options.cacheable = is_media_key;
  std::error_code ec;
  options.dir = fs::absolute(options.dir, ec).lexically_normal();
  if (ec) return Status(ErrorCode::kIo, "object cache: " + ec.message());
  STREAMLET_ASSIGN_OR_RETURN(Fd dir, open_cache_dir(options.dir));
  auto cache = std::make_shared<Cache>(std::move(inner), std::move(options), std::move(dir));
  cache->reindex();
  return std::shared_ptr<CachedStorage>(std::move(cache));
}

Result<std::shared_ptr<Storage>> origin_storage(std::shared_ptr<Storage> storage,
                                                const fs::path& data_dir, uint64_t max_bytes,
                                                metrics::Registry* metrics) {
  if (!storage) return Status(ErrorCode::kInvalidArgument, "origin storage: none given");
  // Local readers already have descriptors to send from: a copy would only cost disk.
  if (max_bytes == 0 || storage->describe().starts_with("local:")) return storage;
  STREAMLET_ASSIGN_OR_RETURN(auto cached,
                             open_cached(std::move(storage), {.dir = data_dir / "cache" / "origin",
                                                              .max_bytes = max_bytes,
                                                              .metrics = metrics}));
  return std::shared_ptr<Storage>(std::move(cached));
}

}  // namespace streamlet::storage
