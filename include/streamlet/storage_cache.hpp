// A size-bounded local cache of hot objects in front of another Storage, for origin nodes
// whose storage is remote (S3): a cacheable object read once is kept as a file under a local
// directory, so later readers get a file descriptor (the origin front sends it with sendfile)
// instead of ranged reads over the network.
//
//   auto remote = streamlet::storage::open_s3_storage(...).value();
//   auto store = streamlet::storage::open_cached(remote, {.dir = "data/cache/origin",
//                                                         .max_bytes = 20ull << 30}).value();
//   origin.serve(*store, "media/v1/", "v1", request);   // hits: an fd, no inner read
//
// What it promises:
//   - Never stale: by default every open() of a cacheable key asks the inner storage for the
//     object's identity (stat: size and modification time) and serves the cached copy only
//     when it is the same object; a replaced object is fetched again, a removed one is
//     kNotFound. (revalidate_after trades that round trip for a bounded staleness window.)
//   - One fetch per key: many readers missing the same object at once wait for one fetch
//     from the inner storage (single-flight).
//   - Bounded: the cached files total at most max_bytes; the least recently used go first.
//     A Reader open on an evicted object keeps reading it (the file is unlinked, its
//     descriptor stays valid), so eviction never breaks a response being sent.
//   - Writes, appends, removes, remove_prefix and publications go to the inner storage and
//     drop the cache entries they touch (also a fetch in flight for them is not kept).
//   - Crash safe: a cached file is written whole and fsynced before the small index record
//     naming it is renamed into place; at open the directory is re-indexed and anything
//     without a complete record (a fetch cut by a crash) is deleted, never served.
//   - Thread safe, like every Storage; Readers as usual belong to one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::metrics {
class Registry;
}

namespace streamlet::storage {

// The default cacheable predicate: packaged media, keys under "media/" (segments are
// immutable; playlists change only when a video is republished or removed, which the
// identity check and the invalidations catch).
bool is_media_key(std::string_view key);

struct CacheOptions {
  // Where cached files live: created if missing. A directory that exists, is not empty and
  // was not made by this cache (no ".streamlet-cache" marker in it) is refused rather than
  // cleaned, so a wrong path can never delete someone's files. Required.
  std::filesystem::path dir{};
  // Upper bound of the cached files' total size. Default: 1 GiB.
  uint64_t max_bytes = 1ull << 30;
  // Objects larger than this are read through from the inner storage, never cached.
  // 0 (default): max_bytes / 4, so one object cannot flush the whole cache.
  uint64_t max_object_bytes = 0;
  // Which keys are cached; the others go straight to the inner storage. Default:
  // is_media_key.
  std::function<bool(std::string_view key)> cacheable{};
  // How long a cached object is served after its identity was last checked against the
  // inner storage without checking it again. 0 (default): checked on every open, so a
  // changed object is never served; more saves that round trip per request, and an object
  // replaced by another node may then be served up to this long after the change.
  // (Changes made through this cache are seen at once either way.)
  std::chrono::milliseconds revalidate_after{0};
  // fsync each cached file before indexing it (what makes it crash safe on every
  // filesystem). Off only for throwaway caches (benchmarks). Default: on.
  bool durable = true;
  // When set, the cache registers its metrics here (streamlet_storage_cache_*: hits,
  // misses, evictions, fetched bytes, cached bytes and objects).
  metrics::Registry* metrics = nullptr;
};

// Counters since open, for tests and logs (the same numbers as the metrics).
struct CacheStats {
  uint64_t hits = 0;     // opens served from a cached file
  uint64_t misses = 0;   // opens that fetched the object (or waited for a fetch)
  uint64_t fetches = 0;  // objects read from the inner storage into the cache
  uint64_t fetched_bytes = 0;
  uint64_t evictions = 0;      // files dropped to stay under max_bytes
  uint64_t invalidations = 0;  // entries dropped because the object changed or was removed
  uint64_t bytes = 0;          // cached bytes now
  uint64_t objects = 0;        // cached objects now
};

// The cache is a Storage: give it wherever a Storage is taken.
class CachedStorage : public Storage {
 public:
  virtual CacheStats stats() const = 0;
  virtual const std::shared_ptr<Storage>& inner() const = 0;
};

// The decorator over `inner`. kInvalidArgument for a missing inner storage or dir, a
// max_bytes of 0, or a dir that is not a cache's; kIo when the dir cannot be created.
Result<std::shared_ptr<CachedStorage>> open_cached(std::shared_ptr<Storage> inner,
                                                   CacheOptions options);

// What an origin node should serve /media through: `storage` itself when it is local (its
// readers already have file descriptors), else a cache over it under
// `data_dir`/cache/origin bounded by `max_bytes` (0: the storage as it is, no cache).
Result<std::shared_ptr<Storage>> origin_storage(std::shared_ptr<Storage> storage,
                                                const std::filesystem::path& data_dir,
                                                uint64_t max_bytes,
                                                metrics::Registry* metrics = nullptr);

}  // namespace streamlet::storage
