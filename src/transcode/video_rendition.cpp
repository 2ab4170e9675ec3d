#include <algorithm>
#include <cmath>

extern "C" {
#include <libavutil/opt.h>
}

#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

using media::detail::av_status;

std::vector<int> encoder_threads(const std::vector<PlannedRendition>& plan, int workers) {
  double pixels = 0;
  for (const auto& p : plan) pixels += double(p.width) * p.height;
  const int budget = std::max(1, workers) * 3 / 2;  // as x264's auto: 1 -> 1, 2 -> 3, 8 -> 12
  std::vector<int> out;
  for (const auto& p : plan)
    out.push_back(std::max(1, static_cast<int>(std::lround(budget * double(p.width) * p.height / pixels))));
  return out;
}

Result<std::unique_ptr<VideoRenditionEncoder>> VideoRenditionEncoder::open(const Config& config) {
  std::unique_ptr<VideoRenditionEncoder> r(new VideoRenditionEncoder());
  r->config_ = config;
  r->packet_ = media::detail::make_packet();

  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) return Status(ErrorCode::kUnsupported, "this FFmpeg has no libx264 encoder");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  if (!enc) return Status(ErrorCode::kResourceExhausted, "out of memory");
  const auto& plan = config.plan;
  enc->width = plan.width;
  enc->height = plan.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;  // 10-bit or 4:2:2 sources become 8-bit 4:2:0
  enc->sample_aspect_ratio = AVRational{1, 1};
  enc->time_base = kVideoTimeBase;
  enc->framerate = config.frame_rate;
  enc->bit_rate = plan.rendition.bitrate;
  enc->rc_max_rate = static_cast<int64_t>(plan.rendition.bitrate * plan.rendition.maxrate_factor);
  enc->rc_buffer_size = static_cast<int>(plan.rendition.bitrate * plan.rendition.buffer_factor);
  // Keyframes are forced where the graph says; x264's own interval is only a backstop.
  enc->gop_size = config.keyframe_interval_frames * 2 + 1;
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  enc->thread_count = std::max(1, config.threads);
  enc->color_primaries = config.primaries;
  enc->color_trc = config.transfer;
  enc->colorspace = config.colorspace;
  enc->color_range = AVCOL_RANGE_MPEG;

  media::detail::Dictionary opts;
  opts.set("preset", config.preset);
  opts.set("profile", plan.rendition.profile);
  opts.set("forced-idr", "1");
  // No scene-cut keyframes: every rendition gets the same IDR positions.
  std::string params = "scenecut=0:open-gop=0";
  if (config.vbv_init > 0) params += ":vbv-init=" + std::to_string(config.vbv_init);
  opts.set("x264-params", params);
  int err = avcodec_open2(enc.get(), codec, opts.get());
  if (err < 0) {
    Status s = av_status(err, "open x264 for " + plan.rendition.name);
    // An unknown preset/profile is the caller's mistake.
    if (err == AVERROR(EINVAL) || err == AVERROR_EXTERNAL)
      return Status(ErrorCode::kInvalidArgument,
                    s.message() + " (preset '" + config.preset + "', profile '" +
                        plan.rendition.profile + "')");
    return s;
  }
  r->encoder_ = std::move(enc);

  package::detail::CmafTrackConfig tc;
  tc.out = config.out;
  tc.dir = config.dir;
  tc.kind = package::TrackKind::kVideo;
  tc.id = plan.rendition.name;
  tc.encoder = r->encoder_.get();
  tc.timescale = kVideoTimescale;
  tc.presentation_time_offset = config.presentation_offset;
  tc.first_segment_number = config.first_segment_number;
  if (config.on_segment) tc.on_segment = [enc = r.get()] { enc->config_.on_segment(enc->track()); };
  STREAMLET_ASSIGN_OR_RETURN(r->writer_, package::detail::CmafTrackWriter::open(tc));
  return r;
}

Status VideoRenditionEncoder::encode(const VideoFrame& in) {
  if (in.end) return finish();
  const AVFrame* src = in.frame.get();
  FramePtr out = media::detail::make_frame();
  const int w = config_.plan.width, h = config_.plan.height;
  if (src->width == w && src->height == h && src->format == AV_PIX_FMT_YUV420P &&
      src->color_range != AVCOL_RANGE_JPEG) {
    int err = av_frame_ref(out.get(), src);
    if (err < 0) return av_status(err, "frame ref");
  } else {
    auto fmt = static_cast<AVPixelFormat>(src->format);
    sws_.reset(sws_getCachedContext(sws_.release(), src->width, src->height, fmt, w, h,
                                    AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr));
    if (!sws_) return Status(ErrorCode::kUnsupported, "cannot scale this pixel format");
    if (src->color_range == AVCOL_RANGE_JPEG) {
      // Full-range input becomes the limited range every player expects.
      int *inv, *tab, src_range, dst_range, b, c, s;
      sws_getColorspaceDetails(sws_.get(), &inv, &src_range, &tab, &dst_range, &b, &c, &s);
      sws_setColorspaceDetails(sws_.get(), inv, 1, tab, 0, b, c, s);
    }
    out->format = AV_PIX_FMT_YUV420P;
    out->width = w;
    out->height = h;
    int err = av_frame_get_buffer(out.get(), 0);
    if (err < 0) return av_status(err, "frame buffer");
    err = sws_scale_frame(sws_.get(), out.get(), src);
    if (err < 0) return av_status(err, "scale to " + config_.plan.rendition.name);
  }
  out->pts = in.pts;
  out->pict_type = in.keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  out->sample_aspect_ratio = AVRational{1, 1};
  out->color_range = AVCOL_RANGE_MPEG;
  durations_[in.pts] = in.duration;
  if (in.discard) discards_.insert(in.pts);
  if (in.segment_start) segment_starts_.insert(in.pts);
  if (in.keyframe) fragment_starts_.insert(in.pts);

  int err = avcodec_send_frame(encoder_.get(), out.get());
  if (err < 0) return av_status(err, "encode " + config_.plan.rendition.name);
  STREAMLET_RETURN_IF_ERROR(drain(false));
  if (in.discard) return Status::Ok();
  frames_.fetch_add(1, std::memory_order_relaxed);
  done_pts_.store(in.pts + in.duration, std::memory_order_relaxed);
  return Status::Ok();
}

Status VideoRenditionEncoder::drain(bool flushing) {
  AVPacket* pkt = packet_.get();
  for (;;) {
    int err = avcodec_receive_packet(encoder_.get(), pkt);
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::Ok();
    if (err < 0) return av_status(err, "encode " + config_.plan.rendition.name);
    auto d = durations_.find(pkt->pts);
    if (d != durations_.end()) {
      pkt->duration = d->second;
      durations_.erase(d);
    }
    if (discards_.erase(pkt->pts) > 0) {
      av_packet_unref(pkt);
      continue;
    }
    bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    bool new_segment = key && segment_starts_.erase(pkt->pts) > 0;
    bool new_fragment = key && fragment_starts_.erase(pkt->pts) > 0;
    Status s = writer_->write(pkt, new_segment, new_fragment || new_segment);
    av_packet_unref(pkt);
    STREAMLET_RETURN_IF_ERROR(s);
  }
  (void)flushing;
}

Status VideoRenditionEncoder::finish() {
  int err = avcodec_send_frame(encoder_.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) return av_status(err, "flush " + config_.plan.rendition.name);
  STREAMLET_RETURN_IF_ERROR(drain(true));
  return writer_->finish();
}

package::Track VideoRenditionEncoder::track() const {
  package::Track t = writer_->track();
  t.width = config_.plan.width;
  t.height = config_.plan.height;
  t.target_bitrate = static_cast<int>(config_.plan.rendition.bitrate);
  // avcC: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
  // x264's global header is Annex B (start code + SPS), so read the SPS itself.
  const uint8_t* x = encoder_->extradata;
  int n = encoder_->extradata_size;
  char codecs[32] = "avc1.640028";
  for (int i = 0; i + 7 < n; ++i) {
    bool start3 = x[i] == 0 && x[i + 1] == 0 && x[i + 2] == 1;
    if (start3 && (x[i + 3] & 0x1f) == 7) {
      std::snprintf(codecs, sizeof codecs, "avc1.%02X%02X%02X", x[i + 4], x[i + 5], x[i + 6]);
      break;
    }
    if (i == 0 && n > 4 && x[0] == 1) {  // already avcC
      std::snprintf(codecs, sizeof codecs, "avc1.%02X%02X%02X", x[1], x[2], x[3]);
      break;
    }
  }
  t.codecs = codecs;
  // Measured frame rate: frames over the track's duration.
  double seconds = t.duration_seconds();
  int64_t count = frames_.load();
  t.frame_rate = seconds > 0 ? count / seconds : av_q2d(config_.frame_rate);
  return t;
}

}  // namespace streamlet::transcode::detail
