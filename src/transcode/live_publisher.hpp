// Progressive publishing (transcode::Options::progressive): the output is shown while it is
// encoded. Whenever every track has committed its next segment, those segments are revealed
// (storage::Publication::reveal), then each track's EVENT playlist, the master (once) and a
// dynamic MPD listing them; the finished output replaces all of it with the VOD manifests
// at publish(), so it is exactly what an unprogressive run publishes.
// Thread safe: the tracks' encoders call on_segment() from their own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "streamlet/package.hpp"
#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::transcode::detail {

class LivePublisher {
 public:
  struct Config {
    storage::Publication* out = nullptr;  // safe to call from several threads (serialised)
    size_t video_tracks = 0;              // tracks 0..video_tracks-1 are video
    bool audio = false;                   // track video_tracks is the audio track
    double segment_seconds = 6;
    bool hls = true;
    bool dash = true;
    std::function<void()> on_playable;    // once, after the first manifests are shown
  };
  explicit LivePublisher(Config config);

  // Track `index` committed a segment; `track` is its model as it is now.
  void on_segment(size_t index, package::Track track);
  // Segments every track has shown so far.
  size_t shown() const;
  // The first failure (ok while none). kUnsupported: the backend cannot reveal, nothing was.
  Status status() const;

 private:
  Status show(size_t n);  // mu_ held

  Config config_;
  mutable std::mutex mu_;
  std::vector<std::optional<package::Track>> tracks_;
  size_t shown_ = 0;
  int64_t availability_start_unix_ = 0;
  Status failed_;
};

}  // namespace streamlet::transcode::detail
