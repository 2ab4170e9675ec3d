// Upload store throughput in-process (no HTTP): appends streamed to disk in socket-sized
// pieces, with and without fsync and checksums, plus tus header parsing.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "streamlet/upload.hpp"
#include "upload/digest.hpp"

namespace up = streamlet::upload;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "streamlet-bench-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~ScratchDir() { fs::remove_all(path); }
};

// args: total bytes, piece size, durable (0/1), checksum (0 none, 1 sha1, 2 sha256)
void BM_StoreAppend(benchmark::State& state) {
  const size_t total = size_t(state.range(0)), piece = size_t(state.range(1));
  ScratchDir dir;
  auto store = up::UploadStore::open({.dir = dir.path, .durable = state.range(2) != 0});
  std::string chunk(piece, 'x');
  std::optional<up::Checksum> checksum;
  if (state.range(3)) {
    auto algorithm =
        state.range(3) == 1 ? up::ChecksumAlgorithm::kSha1 : up::ChecksumAlgorithm::kSha256;
    up::detail::Digest d(algorithm);
    for (size_t at = 0; at < total; at += piece) d.update(chunk.data(), piece);
    checksum = up::Checksum{algorithm, d.finish()};
  }
  for (auto _ : state) {
    auto info = (*store)->create({.length = total});
    auto done =
        (*store)->append(info->id, {.offset = 0, .content_length = total, .checksum = checksum},
                         [&](const up::BodySink& sink) {
                           for (size_t at = 0; at < total; at += piece)
                             if (!sink(chunk.data(), piece)) return false;
                           return true;
                         });
    if (!done.ok()) state.SkipWithError(done.status().to_string().c_str());
    (void)(*store)->terminate(info->id);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(total));
}
BENCHMARK(BM_StoreAppend)
    ->ArgNames({"bytes", "piece", "fsync", "checksum"})
    ->Args({64 << 20, 4096, 1, 0})
    ->Args({64 << 20, 4096, 0, 0})
    ->Args({64 << 20, 65536, 0, 0})
    ->Args({64 << 20, 4096, 0, 1})
    ->Args({64 << 20, 4096, 0, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ParseMetadata(benchmark::State& state) {
  std::string header = "filename " + up::base64_encode("my holiday video.mp4") + ",title " +
                       up::base64_encode("A long title for a holiday video") + ",filetype " +
                       up::base64_encode("video/mp4");
  for (auto _ : state) benchmark::DoNotOptimize(up::parse_metadata(header));
}
BENCHMARK(BM_ParseMetadata);

}  // namespace

BENCHMARK_MAIN();
