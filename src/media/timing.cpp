// Frame timing of a whole stream: is it constant-rate, and at what rate does
// it spend most of its time? The transcoder resamples variable-rate sources.
#include <algorithm>
#include <cstring>

#include "media/input.hpp"

namespace streamlet::media::detail {

FrameTiming frame_timing_of(const std::vector<int64_t>& ts, AVRational time_base) {
  FrameTiming t;
  t.frames = static_cast<int64_t>(ts.size());
  if (ts.size() < 2) return t;
  std::vector<int64_t> d;
  d.reserve(ts.size() - 1);
  for (size_t i = 1; i < ts.size(); ++i) d.push_back(ts[i] - ts[i - 1]);
  std::sort(d.begin(), d.end());
  // Timestamps rounded from an exact grid are one tick apart at most.
  t.variable = d.back() - d.front() > 1;
  // The most common spacing, weighted by the time it covers: the window of
  // spacings within one tick or 2% (rounding and capture jitter) that covers
  // the most time. Ties go to the shorter spacing (the higher rate keeps motion).
  size_t best_lo = 0, best_hi = 0, hi = 0;
  int64_t best = -1, sum = 0;
  for (size_t lo = 0; lo < d.size(); ++lo) {
    const int64_t limit = d[lo] + std::max<int64_t>(1, d[lo] / 50);
    while (hi < d.size() && d[hi] <= limit) sum += d[hi++];
    if (sum > best) {
      best = sum;
      best_lo = lo;
      best_hi = hi;
    }
    sum -= d[lo];
  }
  t.common_interval = double(best) / double(best_hi - best_lo) * av_q2d(time_base);
  return t;
}

Result<std::vector<FrameTiming>> measure_frame_timing(OpenedInput& input, const std::string& path) {
  AVFormatContext* fc = input.format.get();
  std::vector<std::vector<int64_t>> ts(fc->nb_streams);
  std::vector<bool> wanted(fc->nb_streams, false);
  bool any_left = false;
  for (unsigned i = 0; i < fc->nb_streams; ++i) {
    AVStream* s = fc->streams[i];
    if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
        (s->disposition & AV_DISPOSITION_ATTACHED_PIC))
      continue;
    wanted[i] = true;
    // A complete MP4/MOV sample table holds every frame's time without reading any media.
    int n = avformat_index_get_entries_count(s);
    if (std::strncmp(fc->iformat->name, "mov,", 4) == 0 && n > 1 && n == s->nb_frames) {
      for (int k = 0; k < n; ++k) {
        const AVIndexEntry* e = avformat_index_get_entry(s, k);
        if (e && !(e->flags & AVINDEX_DISCARD_FRAME)) ts[i].push_back(e->timestamp);
      }
    } else {
      any_left = true;
    }
  }
  if (any_left) {
    for (unsigned i = 0; i < fc->nb_streams; ++i)
      if (!wanted[i] || !ts[i].empty()) fc->streams[i]->discard = AVDISCARD_ALL;
    PacketPtr pkt = make_packet();
    for (;;) {
      int err = av_read_frame(fc, pkt.get());
      if (err == AVERROR_EOF) break;
      if (err < 0) return Status(ErrorCode::kInvalidMedia, av_status(err, "read", path).message());
      const unsigned i = static_cast<unsigned>(pkt->stream_index);
      int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
      if (i < ts.size() && wanted[i] && t != AV_NOPTS_VALUE) ts[i].push_back(t);
      av_packet_unref(pkt.get());
    }
  }
  std::vector<FrameTiming> out;
  for (unsigned i = 0; i < fc->nb_streams; ++i) {
    if (!wanted[i]) continue;
    std::sort(ts[i].begin(), ts[i].end());
    ts[i].erase(std::unique(ts[i].begin(), ts[i].end()), ts[i].end());
    FrameTiming t = frame_timing_of(ts[i], fc->streams[i]->time_base);
    t.stream = static_cast<int>(i);
    out.push_back(t);
  }
  return out;
}

}  // namespace streamlet::media::detail
