#include "transcode/live_publisher.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

namespace {

int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The track as the live manifests list it: its first `n` segments, no I-frame playlist (its
// last I-frame's duration is only known at the end).
package::Track first_segments(const package::Track& t, size_t n) {
  package::Track out = t;
  out.segments.resize(std::min(n, out.segments.size()));
  out.iframes.clear();
  return out;
}

}  // namespace

LivePublisher::LivePublisher(Config config)
    : config_(std::move(config)), tracks_(config_.video_tracks + (config_.audio ? 1 : 0)) {}

void LivePublisher::on_segment(size_t index, package::Track track) {
  std::lock_guard lock(mu_);
  if (!failed_.ok() || index >= tracks_.size()) return;
  tracks_[index] = std::move(track);
  size_t n = SIZE_MAX;
  for (const auto& t : tracks_) n = std::min(n, t ? t->segments.size() : 0);
  if (n <= shown_) return;
  failed_ = show(n);
}

size_t LivePublisher::shown() const {
  std::lock_guard lock(mu_);
  return shown_;
}

Status LivePublisher::status() const {
  std::lock_guard lock(mu_);
  return failed_;
}

Status LivePublisher::show(size_t n) {
  storage::Publication& out = *config_.out;
  const bool first = shown_ == 0;
  // Media first, then the playlists that name it, the master (naming those) last.
  for (const auto& t : tracks_) {
    if (first) STREAMLET_RETURN_IF_ERROR(out.reveal(t->id + "/" + package::Track::kInitName));
    for (size_t i = shown_; i < n; ++i)
      STREAMLET_RETURN_IF_ERROR(out.reveal(t->id + "/" + t->segment_name(uint32_t(i))));
  }
  package::Presentation p;
  p.target_segment_seconds = config_.segment_seconds;
  for (size_t i = 0; i < config_.video_tracks; ++i) p.video.push_back(first_segments(*tracks_[i], n));
  if (config_.audio) p.audio = first_segments(*tracks_.back(), n);

  package::LiveManifests live;
  live.target_duration_seconds = std::max<int64_t>(1, std::llround(config_.segment_seconds));
  live.minimum_update_period_seconds = config_.segment_seconds;
  live.clock_url = std::string(kDashManifestName);  // the MPD itself: its Date header
  live.publish_time_unix = now_unix();
  // Media time 0 became available when the first segments did, minus their length: the
  // live edge a DASH client computes is then at or before the last listed segment's end.
  if (first)
    availability_start_unix_ =
        live.publish_time_unix - static_cast<int64_t>(std::ceil(p.duration_seconds()));
  live.availability_start_unix = availability_start_unix_;

  auto put = [&](const std::string& name, const std::string& text) -> Status {
    STREAMLET_RETURN_IF_ERROR(put_object(out, name, text));
    return out.reveal(name);
  };
  // The MPD goes before the HLS master: a reader that finds the master (the platform's sign
  // of "playable") finds the MPD too.
  if (config_.dash)
    STREAMLET_RETURN_IF_ERROR(put(std::string(kDashManifestName), package::dash_dynamic_manifest(p, live)));
  if (config_.hls) {
    for (const auto& t : p.video)
      STREAMLET_RETURN_IF_ERROR(
          put(t.id + "/" + p.hls_media_playlist_name, package::hls_event_playlist(t, live)));
    if (p.audio)
      STREAMLET_RETURN_IF_ERROR(put(p.audio->id + "/" + p.hls_media_playlist_name,
                                    package::hls_event_playlist(*p.audio, live)));
    if (first) STREAMLET_RETURN_IF_ERROR(put(std::string(kHlsMasterName), package::hls_master_playlist(p)));
  }
  shown_ = n;
  if (first && config_.on_playable) config_.on_playable();
  return Status::Ok();
}

}  // namespace streamlet::transcode::detail
