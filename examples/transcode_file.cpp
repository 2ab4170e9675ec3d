// The smallest useful embedding of libstreamlet: probe a file, transcode it
// into an HLS + DASH ladder, print where the manifests are.
//
//   example_transcode_file INPUT OUTPUT_DIR
#include <cstdio>

#include <streamlet/media.hpp>
#include <streamlet/transcode.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s INPUT OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  streamlet::media::set_libav_log_level(streamlet::media::LibavLogLevel::kError);

  auto info = streamlet::media::probe(argv[1]);
  if (!info.ok()) {
    std::fprintf(stderr, "%s\n", info.status().to_string().c_str());
    return 1;
  }
  const auto& v = info->video.front();
  std::printf("%s: %dx%d %s, %.1f s\n", argv[1], v.display_width, v.display_height, v.codec.c_str(),
              info->duration_seconds);

  streamlet::transcode::Options options;  // the default ladder, 6 s segments
  auto result = streamlet::transcode::transcode(
      argv[1], argv[2], options, [](const streamlet::transcode::Progress& p) {
        std::fprintf(stderr, "\r%5.1f%% %.1fx", p.fraction * 100, p.speed);
      });
  std::fprintf(stderr, "\n");
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().to_string().c_str());
    return 1;
  }
  std::printf("HLS:  %s\nDASH: %s\n", result->hls_master.c_str(), result->dash_manifest.c_str());
  return 0;
}
