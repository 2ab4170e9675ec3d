// Upload through the tus upload store on S3 (the test Ceph RGW) versus local disk, then ranged
// reads of the result: MB/s and the process's peak memory. Not a Google Benchmark program:
// one run, one backend (peak RSS is per process), printed as one line of JSON.
//   bench_s3_storage local|s3 BYTES [RGW_DIR]        (bench/s3_storage.sh runs both)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "streamlet/s3.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/upload.hpp"

using namespace streamlet;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<storage::Storage> open_backend(const std::string& kind, const std::string& rgw_dir,
                                               const std::string& scratch) {
  if (kind == "local") return storage::open_local({.root = scratch, .durable = true}).value();
  std::FILE* f = std::fopen((rgw_dir + "/env").c_str(), "r");
  if (!f) {
    std::fprintf(stderr, "no %s/env: start tests/support/rgw_server.sh first\n", rgw_dir.c_str());
    std::exit(2);
  }
  s3::S3Options o;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    auto eq = l.find('=');
    std::string k = l.substr(0, eq), v = l.substr(eq + 1);
    if (k == "S3_ENDPOINT") o.endpoint = v;
    if (k == "AWS_ACCESS_KEY_ID") o.access_key = v;
    if (k == "AWS_SECRET_ACCESS_KEY") o.secret_key = v;
  }
  std::fclose(f);
  o.bucket = "streamlet-bench";
  o.create_bucket = true;
  auto s = s3::open_s3_storage(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().to_string().c_str());
    std::exit(2);
  }
  return *s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s local|s3 BYTES [RGW_DIR]\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const uint64_t total = std::strtoull(argv[2], nullptr, 10);
  const std::string rgw_dir = argc > 3 ? argv[3] : "";
  const std::string scratch = "/tmp/bench-s3-local-" + std::to_string(::getpid());
  auto backend = open_backend(kind, rgw_dir, scratch);
  auto store = upload::UploadStore::open({.storage = backend, .prefix = "uploads/"}).value();

  std::string piece(256 << 10, '\0');
  for (size_t i = 0; i < piece.size(); ++i) piece[i] = char(i * 131 + (i >> 9));
  const uint64_t request = 8ull << 20;  // one PATCH body
  auto info = store->create({.length = total}).value();
  auto t0 = Clock::now();
  for (uint64_t at = 0; at < total;) {
    const uint64_t n = std::min(request, total - at);
    auto r = store->append(info.id, {.offset = at}, [&](const upload::BodySink& sink) {
      for (uint64_t sent = 0; sent < n;) {
        size_t k = size_t(std::min<uint64_t>(piece.size(), n - sent));
        if (!sink(piece.data(), k)) return false;
        sent += k;
      }
      return true;
    });
    if (!r.ok()) {
      std::fprintf(stderr, "append: %s\n", r.status().to_string().c_str());
      return 1;
    }
    at = r->offset;
  }
  const double upload_s = std::chrono::duration<double>(Clock::now() - t0).count();

  auto key = store->data_key(info.id).value();
  auto reader = backend->open(key).value();
  std::string buf(1 << 20, '\0');
  auto t1 = Clock::now();
  for (uint64_t at = 0; at < total;) {
    auto n = reader->read_at(at, buf.data(), buf.size());
    if (!n.ok() || *n == 0) {
      std::fprintf(stderr, "read: %s\n", n.status().to_string().c_str());
      return 1;
    }
    at += *n;
  }
  const double read_s = std::chrono::duration<double>(Clock::now() - t1).count();
  (void)store->terminate(info.id);
  (void)backend->remove(key);
  struct rusage ru = {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"backend\":\"%s\",\"bytes\":%llu,\"upload_MBps\":%.1f,\"ranged_read_1MiB_MBps\":%.1f,"
      "\"peak_rss_MiB\":%.1f}\n",
      kind.c_str(), (unsigned long long)total, total / 1e6 / upload_s, total / 1e6 / read_s,
      ru.ru_maxrss / 1024.0);
  std::string rm = "rm -rf " + scratch;
  return std::system(rm.c_str()) == 0 ? 0 : 0;
}
