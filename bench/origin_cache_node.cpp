// One playback origin node for bench/origin_cache_side_by_side.sh: the origin front
// (sendfile when the reader has a descriptor, 64 KiB read_at pieces when not) serving
// /media/<id>/... from a storage of the kind asked for:
//
//   origin_cache_node --root DIR --storage local                       # files, as today
//   origin_cache_node --root DIR --storage remote-like --latency-us 500 \
//                     --cache-dir C --cache-bytes 1073741824           # remote + local cache
//
// "remote-like" is the local files seen the way an object store is: no descriptors, and
// --latency-us added to every open, stat and read_at (one network round trip each). Without
// --cache-dir it is served as it is (what an origin on S3 would do without the cache). When
// the S3 backend lands, an s3:// URL goes here too. Prints "listening on PORT", serves until
// stdin closes.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "streamlet/origin.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/storage_cache.hpp"

using namespace streamlet;

namespace {

void wait_us(int us) {
  if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
}

class RemoteLikeReader final : public storage::Reader {
 public:
  RemoteLikeReader(std::unique_ptr<storage::Reader> inner, int latency_us)
      : inner_(std::move(inner)), latency_us_(latency_us) {}
  const storage::ObjectInfo& info() const override { return inner_->info(); }
  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    wait_us(latency_us_);
    return inner_->read_at(offset, data, size);
  }

 private:
  std::unique_ptr<storage::Reader> inner_;
  int latency_us_;
};

class RemoteLike final : public storage::Storage {
 public:
  RemoteLike(std::shared_ptr<storage::Storage> inner, int latency_us)
      : inner_(std::move(inner)), latency_us_(latency_us) {}
  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    wait_us(latency_us_);
    STREAMLET_ASSIGN_OR_RETURN(auto r, inner_->open(key));
    return std::unique_ptr<storage::Reader>(new RemoteLikeReader(std::move(r), latency_us_));
  }
  Result<storage::ObjectInfo> stat(std::string_view key) override {
    wait_us(latency_us_);
    return inner_->stat(key);
  }
  Result<std::unique_ptr<storage::Writer>> write(std::string_view key) override {
    return inner_->write(key);
  }
  Result<std::unique_ptr<storage::Appender>> append(std::string_view key, bool create) override {
    return inner_->append(key, create);
  }
  Status remove(std::string_view key) override { return inner_->remove(key); }
  Status list(std::string_view prefix,
              const std::function<bool(const storage::ObjectInfo&)>& each) override {
    return inner_->list(prefix, each);
  }
  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    return inner_->remove_prefix(prefix);
  }
  Result<std::unique_ptr<storage::Publication>> publish(std::string_view prefix) override {
    return inner_->publish(prefix);
  }
  std::string describe() const override { return "remote-like:" + inner_->describe(); }

 private:
  std::shared_ptr<storage::Storage> inner_;
  int latency_us_;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: origin_cache_node --root DIR --storage local|remote-like "
               "[--latency-us N] [--cache-dir DIR --cache-bytes N] [--revalidate-ms N] "
               "[--threads N] [--port N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root, kind = "local", cache_dir;
  int latency_us = 0, threads = 0, port = 0, revalidate_ms = 0;
  uint64_t cache_bytes = 1ull << 30;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (a == "--root")
      root = v;
    else if (a == "--storage")
      kind = v;
    else if (a == "--latency-us")
      latency_us = std::stoi(v);
    else if (a == "--cache-dir")
      cache_dir = v;
    else if (a == "--cache-bytes")
      cache_bytes = std::stoull(v);
    else if (a == "--revalidate-ms")
      revalidate_ms = std::stoi(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--port")
      port = std::stoi(v);
    else
      usage();
  }
  if (root.empty()) usage();
  // sendfile to a client that has gone raises SIGPIPE (as streamlet-server, ignore it).
  ::signal(SIGPIPE, SIG_IGN);

  auto local = storage::open_local({.root = root, .durable = false});
  if (!local.ok()) {
    std::fprintf(stderr, "%s\n", local.status().to_string().c_str());
    return 1;
  }
  std::shared_ptr<storage::Storage> store;
  if (kind == "local") {
    store = *local;
  } else if (kind == "remote-like") {
    store = std::make_shared<RemoteLike>(*local, latency_us);
  } else {
    std::fprintf(stderr, "unknown --storage %s (s3:// comes with the S3 backend)\n", kind.c_str());
    return 2;
  }
  if (!cache_dir.empty()) {
    auto cached =
        storage::open_cached(store, {.dir = cache_dir,
                                     .max_bytes = cache_bytes,
                                     .revalidate_after = std::chrono::milliseconds(revalidate_ms),
                                     .durable = false});
    if (!cached.ok()) {
      std::fprintf(stderr, "%s\n", cached.status().to_string().c_str());
      return 1;
    }
    store = *cached;
  }

  origin::Origin origin;
  origin::FrontOptions fo;
  fo.port = port;
  fo.threads = threads;
  fo.max_requests_per_connection = 0;
  auto front = origin::Front::start(fo, [&](std::string_view id, const origin::OriginRequest& req) {
    return origin.serve(*store, "media/" + std::string(id) + "/", id, req);
  });
  if (!front.ok()) {
    std::fprintf(stderr, "%s\n", front.status().to_string().c_str());
    return 1;
  }
  std::printf("listening on %d (%s)\n", (*front)->port(), store->describe().c_str());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  (*front)->stop();
  return 0;
}
