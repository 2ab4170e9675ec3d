// Storage: one interface for the objects Streamlet keeps (upload data and state, sources,
// transcoded media, posters, storyboards), addressed by key. Every writer and reader in the
// library goes through it, so the local disk and an S3-compatible store are interchangeable
// (like Shaka Packager's File). The embedded default is a directory on local disk:
//
//   auto store = streamlet::storage::open_local({.root = "data"}).value();
//   auto w = store->write("media/v1/poster.jpg").value();
//   w->write(jpeg.data(), jpeg.size());
//   w->commit();                                 // visible whole, or not at all
//   auto r = store->open("media/v1/poster.jpg");  // r->fd() >= 0 on local disk: sendfile
//
// Keys are '/'-separated relative names: "uploads/<id>.bin", "media/<video>/720p/seg_1.m4s".
// A key has no empty, "." or ".." segment, no leading '/', no NUL or control byte, and at
// most 1024 bytes (check_key); anything else is kInvalidArgument before a backend sees it.
//
// Thread safety: a Storage may be used from any number of threads at once. A Reader, Writer,
// Appender or Publication belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::storage {

// kInvalidArgument, naming the key, when `key` is not a valid key (see above).
Status check_key(std::string_view key);

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t modified_ms = 0;  // Unix epoch milliseconds of the last write
};

// An object open for reading. It keeps reading the bytes it was opened on, even if the key
// is replaced or removed meanwhile (a local file stays open), or, on a store that cannot pin
// a version (an S3 bucket without versioning: reads carry If-Match), fails with kIo "replaced
// while open"; it never returns the new bytes as the old object's.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual const ObjectInfo& info() const = 0;
  // Up to `size` bytes at `offset` into `data`; 0 at or past the end. Never short of the end
  // unless the backend failed (then an error).
  virtual Result<size_t> read_at(uint64_t offset, char* data, size_t size) const = 0;
  // A read-only descriptor holding exactly these bytes, for pread/sendfile at explicit
  // offsets, or -1 when the backend has none (then use read_at). Owned by the reader.
  virtual int fd() const { return -1; }
};

// One object being written, streamed in pieces. Nothing is visible under the key until
// commit() returns ok: then the whole object is durable and readable, replacing an older one
// atomically. Destroying a writer that was not committed discards what it wrote.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual Status write(const char* data, size_t size) = 0;
  virtual Status commit() = 0;
  virtual uint64_t bytes_written() const = 0;
};

// An object grown by appends over many requests and restarts: the data of a tus upload.
// sync() makes everything appended so far durable (what an upload acknowledges); size() (and
// Storage::stat) of a reopened appender counts what was synced, or more. After a crash the
// object may hold bytes past the last sync; the owner truncates back to what it acknowledged
// (at least as far as the sync before the last one). finish() ends the appends: from then on
// the object is an ordinary one. On local disk bytes are readable by open() as soon as they
// are written; a backend that keeps them in pieces (S3's parts and tail) makes them readable
// by open() only once finished.
class Appender {
 public:
  virtual ~Appender() = default;
  virtual uint64_t size() const = 0;
  virtual Status append(const char* data, size_t size) = 0;
  virtual Status sync() = 0;
  // Drops every byte past `size` (which must be <= size()).
  virtual Status truncate(uint64_t size) = 0;
  // The object is whole, durable and readable by open(); no more appends. Calling it again
  // (or on a reopened finished object) is ok. Default: sync().
  virtual Status finish() { return sync(); }
};

// A whole output published at once under a prefix (a video's media/<id>/): objects are
// written into a staging area nobody reads, then publish() makes them visible together,
// replacing whatever the prefix held. A reader sees the old output or the new one, never a
// mix and never a manifest naming a segment that is not there yet. Destroying an unpublished
// publication discards it.
class Publication {
 public:
  virtual ~Publication() = default;
  // The object `name` (a key relative to the prefix, e.g. "720p/seg_00001.m4s").
  virtual Result<std::unique_ptr<Writer>> create(std::string_view name) = 0;
  // Reads back an object already committed into this publication (for measuring what was
  // written before it is published). kNotFound when there is none.
  virtual Result<std::unique_ptr<Reader>> open(std::string_view name) = 0;
  // Publishes every committed object. `last` names the objects to make visible last on a
  // backend that cannot swap a whole prefix at once (manifests, so they only ever name
  // segments already there); a local directory swap ignores it.
  virtual Status publish(const std::vector<std::string>& last = {}) = 0;

  // Progressive mode, for an output that is watched while it is still being written (a
  // transcode's growing playlists): makes the committed object `name` visible under the
  // prefix now, before publish(), replacing a version revealed earlier atomically (readers
  // see the old bytes or the new ones). The caller orders its reveals (a segment once it is
  // complete, then the playlists naming it). The first reveal() withdraws whatever the prefix
  // held; a publication destroyed unpublished after a reveal withdraws everything it revealed
  // (the prefix is left empty). publish() then makes the rest visible as usual, `last` last,
  // so the published output is exactly what an unrevealed publication publishes.
  // The base returns kUnsupported: a backend without progressive publishing.
  virtual Status reveal(std::string_view name);
};

// Where the bytes of an object are as a file on this machine, for code that can only open a
// path (libav's demuxers). Valid while this value lives.
struct LocalFile {
  std::filesystem::path path;
  std::shared_ptr<void> keep;  // a downloaded copy is removed when the last holder lets go
};

class Storage {
 public:
  virtual ~Storage() = default;

  // kNotFound when the key holds nothing.
  virtual Result<std::unique_ptr<Reader>> open(std::string_view key) = 0;
  virtual Result<ObjectInfo> stat(std::string_view key) = 0;
  virtual Result<std::unique_ptr<Writer>> write(std::string_view key) = 0;
  // Opens (with `create`, creating an empty one) the appendable object at `key`.
  virtual Result<std::unique_ptr<Appender>> append(std::string_view key, bool create) = 0;
  // Removing a key that holds nothing is ok.
  virtual Status remove(std::string_view key) = 0;
  // Every object whose key starts with `prefix`, in key order, until `each` returns false.
  virtual Status list(std::string_view prefix,
                      const std::function<bool(const ObjectInfo&)>& each) = 0;
  // Removes every object under `prefix` (a whole video's media/<id>/); returns how many.
  virtual Result<uint64_t> remove_prefix(std::string_view prefix) = 0;
  // Starts a publication of the objects under `prefix` (see Publication).
  virtual Result<std::unique_ptr<Publication>> publish(std::string_view prefix) = 0;
  // Removes what publications of `prefix` that never published left behind (a transcode
  // killed mid-way, kill -9 or a lost host). Call it only when no publication of `prefix` can
  // still be running (the job's lease holder, before its attempt or after the job ended). The
  // base does nothing: the local backend sweeps its work directories when it is opened.
  virtual Status discard_unpublished(std::string_view prefix);
  // The object as a local file: the local backend hands out its own file (no copy); another
  // backend downloads it into `scratch_dir`. The base implementation copies through open().
  virtual Result<LocalFile> local_file(std::string_view key,
                                       const std::filesystem::path& scratch_dir);
  // Bytes that may still be written before the backend is full, when it knows (a local
  // disk); nullopt when it does not (an object store).
  virtual std::optional<uint64_t> free_bytes() { return std::nullopt; }
  // What the backend is, for logs and errors: "local:/srv/streamlet", "s3://bucket/prefix".
  virtual std::string describe() const = 0;

  // Conveniences on top of the calls above.
  Status put(std::string_view key, std::string_view bytes);  // write + commit
  // The whole object, refused (kTooLarge) past `max_bytes`.
  Result<std::string> get(std::string_view key, uint64_t max_bytes = 16u << 20);
};

struct LocalOptions {
  // The directory keys live under ("uploads/x.bin" is <root>/uploads/x.bin). Created if
  // missing. Required.
  std::filesystem::path root{};
  // fsync data and directories before a commit, sync or publish returns. Off only for
  // throwaway stores (tests, benchmarks). Default: on.
  bool durable = true;
  // Create files readable by their owner only (0600 instead of 0644), for objects nobody
  // else on the machine may read (upload data and state before a video is published).
  // Default: off.
  bool private_files = false;
};

// The embedded default: objects are files under a directory, writes go to a hidden
// temporary name and are renamed into place, a publication is a hidden directory swapped in
// with one rename. Never follows a symbolic link inside the root.
Result<std::shared_ptr<Storage>> open_local(LocalOptions options);

}  // namespace streamlet::storage
