// Playback from a storage backend that has no file descriptors (as an object store has
// none): a tiny in-memory Storage, the real Origin and the real Front over loopback. The
// front must read such objects with read_at in bounded pieces (never sendfile, never the
// whole object at once) and the answers must be what a player checks: exact bytes, ranges,
// 206/416, HEAD, ETag/304.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "origin/origin_fixture.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/storage.hpp"
#include "support/raw_http.hpp"

namespace streamlet::test {
namespace {

using storage::ObjectInfo;

// Objects in a map. Readers copy nothing: they share the object's bytes and note the largest
// single read asked of them.
class MemoryStorage : public storage::Storage {
 public:
  struct Object {
    std::shared_ptr<const std::string> bytes;
    int64_t modified_ms = 0;
  };

  void set(const std::string& key, std::string bytes, int64_t modified_ms = 1700000000123) {
    std::lock_guard lock(mu_);
    objects_[key] = {std::make_shared<const std::string>(std::move(bytes)), modified_ms};
  }
  size_t largest_read() const { return largest_read_.load(); }
  int opens() const { return opens_.load(); }

  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return error(ErrorCode::kNotFound, std::string(key));
    opens_.fetch_add(1);
    return std::unique_ptr<storage::Reader>(new MemoryReader(
        ObjectInfo{std::string(key), it->second.bytes->size(), it->second.modified_ms},
        it->second.bytes, largest_read_));
  }
  Result<ObjectInfo> stat(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return error(ErrorCode::kNotFound, std::string(key));
    return ObjectInfo{std::string(key), it->second.bytes->size(), it->second.modified_ms};
  }
  Result<std::unique_ptr<storage::Writer>> write(std::string_view key) override {
    return std::unique_ptr<storage::Writer>(new MemoryWriter(*this, std::string(key)));
  }
  Result<std::unique_ptr<storage::Appender>> append(std::string_view, bool) override {
    return error(ErrorCode::kUnsupported, "memory storage: no appends");
  }
  Status remove(std::string_view key) override {
    std::lock_guard lock(mu_);
    objects_.erase(std::string(key));
    return {};
  }
  Status list(std::string_view prefix,
              const std::function<bool(const ObjectInfo&)>& each) override {
    std::lock_guard lock(mu_);
    for (const auto& [key, o] : objects_)
      if (key.starts_with(prefix) && !each({key, o.bytes->size(), o.modified_ms})) break;
    return {};
  }
  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (auto it = objects_.begin(); it != objects_.end();)
      it = it->first.starts_with(prefix) ? (++n, objects_.erase(it)) : std::next(it);
    return n;
  }
  Result<std::unique_ptr<storage::Publication>> publish(std::string_view) override {
    return error(ErrorCode::kUnsupported, "memory storage: no publications");
  }
  std::string describe() const override { return "memory:"; }

 private:
  class MemoryReader : public storage::Reader {
   public:
    MemoryReader(ObjectInfo info, std::shared_ptr<const std::string> bytes,
                 std::atomic<size_t>& largest)
        : info_(std::move(info)), bytes_(std::move(bytes)), largest_(largest) {}
    const ObjectInfo& info() const override { return info_; }
    Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
      size_t seen = largest_.load();
      while (size > seen && !largest_.compare_exchange_weak(seen, size)) {
      }
      if (offset >= bytes_->size()) return size_t(0);
      const size_t n = std::min<uint64_t>(size, bytes_->size() - offset);
      std::memcpy(data, bytes_->data() + offset, n);
      return n;
    }
    // fd() stays -1: there is no descriptor to sendfile from.

   private:
    ObjectInfo info_;
    std::shared_ptr<const std::string> bytes_;
    std::atomic<size_t>& largest_;
  };
  class MemoryWriter : public storage::Writer {
   public:
    MemoryWriter(MemoryStorage& s, std::string key) : s_(s), key_(std::move(key)) {}
    Status write(const char* data, size_t size) override {
      bytes_.append(data, size);
      return {};
    }
    Status commit() override {
      s_.set(key_, std::move(bytes_));
      return {};
    }
    uint64_t bytes_written() const override { return bytes_.size(); }

   private:
    MemoryStorage& s_;
    std::string key_;
    std::string bytes_;
  };

  std::mutex mu_;
  std::map<std::string, Object> objects_;
  std::atomic<size_t> largest_read_{0};
  std::atomic<int> opens_{0};
};

struct MemoryFront {
  MemoryStorage store;
  origin::Origin origin{[] {
    auto o = test_options();
    o.inline_file_bytes = 64 * 1024;  // the default: small files inline, big ones streamed
    return o;
  }()};
  std::unique_ptr<origin::Front> front;
  const std::string id = "vid-mem1";
  std::string big = pattern_bytes(3 * 1024 * 1024 + 17, 9);  // far past any write buffer

  MemoryFront() {
    store.set("media/" + id + "/master.m3u8", "#EXTM3U\n#EXT-X-VERSION:7\n");
    store.set("media/" + id + "/720p/seg_00001.m4s", big);
    store.set("media/" + id + "/poster.jpg", "\xff\xd8\xff\xe0" + pattern_bytes(2000, 3));
    store.set("media/" + id + "/summary.json", "{}");  // stored, but not a type served
    origin::FrontOptions o;
    o.threads = 1;
    auto started =
        origin::Front::start(o, [this](std::string_view vid, const origin::OriginRequest& req) {
          return origin.serve(store, "media/" + std::string(vid) + "/", vid, req);
        });
    REQUIRE(started.ok());
    front = std::move(*started);
  }
  ~MemoryFront() { front->stop(); }
  std::string get(const std::string& path, const std::string& extra = "",
                  const std::string& method = "GET") const {
    return method + " /media/" + id + "/" + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
  }
};

}  // namespace

TEST_CASE("front: media from a storage backend without descriptors arrives byte-exact") {
  MemoryFront f;
  RawClient c(f.front->port());
  REQUIRE(c.connected());

  // The whole segment (3 MiB: many write buffers), on a keep-alive connection.
  c.send(f.get("720p/seg_00001.m4s"));
  auto whole = c.read();
  REQUIRE(whole.complete);
  CHECK(whole.status == 200);
  CHECK(whole.header("Content-Length") == std::to_string(f.big.size()));
  CHECK(whole.body == f.big);
  // Read in bounded pieces, never the whole object at once.
  CHECK(f.store.largest_read() > 0);
  CHECK(f.store.largest_read() <= 1024 * 1024);

  // A small file, inline; then the same connection goes on.
  c.send(f.get("master.m3u8"));
  auto master = c.read();
  CHECK(master.status == 200);
  CHECK(master.body == "#EXTM3U\n#EXT-X-VERSION:7\n");
  CHECK(master.header("Content-Type") == "application/vnd.apple.mpegurl");
}

TEST_CASE("front: ranges, 416, HEAD and ETag/304 from a storage backend without descriptors") {
  MemoryFront f;
  RawClient c(f.front->port());
  REQUIRE(c.connected());
  const std::string size = std::to_string(f.big.size());

  c.send(f.get("720p/seg_00001.m4s", "Range: bytes=1000000-2999999\r\n"));
  auto ranged = c.read();
  CHECK(ranged.status == 206);
  CHECK(ranged.header("Content-Range") == "bytes 1000000-2999999/" + size);
  CHECK(ranged.body == f.big.substr(1000000, 2000000));

  c.send(f.get("720p/seg_00001.m4s", "Range: bytes=-17\r\n"));
  auto suffix = c.read();
  CHECK(suffix.status == 206);
  CHECK(suffix.body == f.big.substr(f.big.size() - 17));

  c.send(f.get("720p/seg_00001.m4s", "Range: bytes=99999999-\r\n"));
  auto unsatisfiable = c.read();
  CHECK(unsatisfiable.status == 416);
  CHECK(unsatisfiable.header("Content-Range") == "bytes */" + size);

  c.send(f.get("720p/seg_00001.m4s", "", "HEAD"));
  auto head = c.read(/*head_only=*/true);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == size);
  CHECK(head.header("Accept-Ranges") == "bytes");
  const std::string etag = head.header("ETag");
  REQUIRE_FALSE(etag.empty());
  CHECK_FALSE(head.header("Last-Modified").empty());

  // The validators come from the object's size and time: the same until it is replaced.
  c.send(f.get("720p/seg_00001.m4s", "If-None-Match: " + etag + "\r\n"));
  auto not_modified = c.read(/*head_only=*/true);
  CHECK(not_modified.status == 304);
  CHECK(not_modified.header("ETag") == etag);
  c.send(
      f.get("720p/seg_00001.m4s", "If-Modified-Since: " + head.header("Last-Modified") + "\r\n"));
  CHECK(c.read(/*head_only=*/true).status == 304);

  f.store.set("media/" + f.id + "/720p/seg_00001.m4s", f.big + "x", 1700000999000);
  c.send(f.get("720p/seg_00001.m4s", "If-None-Match: " + etag + "\r\n", "HEAD"));
  auto replaced = c.read(/*head_only=*/true);
  CHECK(replaced.status == 200);
  CHECK(replaced.header("ETag") != etag);

  // The origin still decides what is served before a key is made.
  for (const std::string path :
       {"summary.json", "../media/vid-mem1/master.m3u8", ".hidden.m4s", "720p/nope.m4s"}) {
    CAPTURE(path);
    RawClient other(f.front->port());
    other.send(f.get(path));
    CHECK(other.read().status == 404);
  }
}

}  // namespace streamlet::test
