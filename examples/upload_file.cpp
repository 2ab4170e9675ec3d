// Uploads a file to streamlet-server (or any tus 1.0 endpoint) with libstreamlet's client:
// four parallel parts, resumable after a kill, a line of progress per second.
//
//   example_upload_file FILE http://127.0.0.1:8080/v1/uploads API_KEY
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <streamlet/upload_client.hpp>

namespace up = streamlet::upload;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s FILE ENDPOINT API_KEY\n", argv[0]);
    return 2;
  }
  up::Client client({.bearer_token = argv[3]});
  auto done = client.upload({
      .endpoint = argv[2],
      .file = argv[1],
      .metadata = {{"filename", std::filesystem::path(argv[1]).filename().string()}},
      .parallel = 4,
      .resume_state = std::filesystem::temp_directory_path() / "example_upload_file.json",
      .on_progress =
          [](const up::UploadProgress& p) {
            std::fprintf(stderr, "%llu / %llu bytes\n", (unsigned long long)p.acknowledged,
                         (unsigned long long)p.total);
          },
      .progress_interval = std::chrono::seconds(1),
  });
  if (!done.ok()) {
    std::fprintf(stderr, "%s\n", done.status().to_string().c_str());
    return 1;
  }
  std::printf("%s%s\n", done->url.c_str(), done->resumed ? " (resumed)" : "");
  return 0;
}
