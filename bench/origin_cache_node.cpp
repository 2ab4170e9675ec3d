// One playback origin node for bench/origin_cache_side_by_side.sh: the origin front
// (sendfile when the reader has a descriptor, 64 KiB read_at pieces when not) serving
// /media/<id>/... from a storage of the kind asked for:
//
//   origin_cache_node --root DIR --storage local                       # files, as today
//   origin_cache_node --root DIR --storage remote-like --latency-us 500 \
//                     --cache-dir C --cache-bytes 1073741824           # remote + local cache
//   origin_cache_node --storage 's3://BUCKET?endpoint=...&path_style=1' [--cache-dir C ...]
//
// "remote-like" is the local files seen the way an object store is (tests/support/
// remote_like_storage.hpp): no descriptors, and --latency-us added to every open, stat and
// read_at (one network round trip each). An s3:// URL is a real bucket (credentials from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as streamlet-server's --storage). Without
// --cache-dir the storage is served as it is (an origin on S3 without the cache). Prints
// "listening on PORT", serves until stdin closes. --seed DIR first writes the files under DIR
// into the storage (keys = their paths under DIR; an s3:// bucket is created if missing).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "streamlet/origin.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/s3.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/storage_cache.hpp"
#include "support/remote_like_storage.hpp"

using namespace streamlet;

namespace {

// Writes every file under `dir` into `store` under its path relative to `dir` (the bench's
// objects into a bucket, before it is served).
Status copy_into(const std::filesystem::path& dir, storage::Storage& store) {
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    STREAMLET_ASSIGN_OR_RETURN(auto w, store.write(e.path().lexically_relative(dir).string()));
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    STREAMLET_RETURN_IF_ERROR(w->write(bytes.data(), bytes.size()));
    STREAMLET_RETURN_IF_ERROR(w->commit());
  }
  if (ec) return Status(ErrorCode::kIo, dir.string() + ": " + ec.message());
  return Status();
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: origin_cache_node [--root DIR] --storage local|remote-like|s3://... "
               "[--latency-us N] [--cache-dir DIR --cache-bytes N] [--revalidate-ms N] "
               "[--threads N] [--port N] [--seed DIR]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root, kind = "local", cache_dir, seed;
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
    else if (a == "--seed")
      seed = v;
    else if (a == "--port")
      port = std::stoi(v);
    else
      usage();
  }
  if (root.empty() && kind.rfind("s3://", 0) != 0) usage();
  // sendfile to a client that has gone raises SIGPIPE (as streamlet-server, ignore it).
  ::signal(SIGPIPE, SIG_IGN);
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  };

  std::shared_ptr<storage::Storage> store;
  if (kind.rfind("s3://", 0) == 0) {
    auto options = s3::parse_s3_url(kind);
    if (!options.ok()) return fail(options.status());
    options->create_bucket = !seed.empty();
    auto bucket = s3::open_s3_storage(*options);
    if (!bucket.ok()) return fail(bucket.status());
    store = *bucket;
  } else {
    auto local = storage::open_local({.root = root, .durable = false});
    if (!local.ok()) return fail(local.status());
    if (kind == "local") {
      store = *local;
    } else if (kind == "remote-like") {
      auto round_trip = [latency_us] {
        if (latency_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(latency_us));
      };
      store = std::make_shared<test::RemoteLikeStorage>(
          *local, test::RemoteLikeHooks{round_trip, round_trip, round_trip});
    } else {
      std::fprintf(stderr, "unknown --storage %s\n", kind.c_str());
      return 2;
    }
  }
  if (!seed.empty())
    if (auto s = copy_into(seed, *store); !s.ok()) return fail(s);
  if (!cache_dir.empty()) {
    auto cached =
        storage::open_cached(store, {.dir = cache_dir,
                                     .max_bytes = cache_bytes,
                                     .revalidate_after = std::chrono::milliseconds(revalidate_ms),
                                     .durable = false});
    if (!cached.ok()) return fail(cached.status());
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
