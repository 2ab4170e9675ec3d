#include <cmath>
#include <cstring>

#include "media/input.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

using media::detail::av_status;

PosterPicker::PosterPicker(double duration_seconds) {
  // A few points into the video, past intros and fades; the first frame if it is short.
  if (duration_seconds > 3) {
    for (double f : {0.1, 0.25, 0.4, 0.5}) targets_.push_back(f * duration_seconds);
  } else {
    targets_.push_back(0);
  }
}

namespace {
// Luma standard deviation on a sparse grid: black, flat or faded frames score low.
double interest(const AVFrame* f) {
  const int steps = 32;
  double sum = 0, sum2 = 0;
  int n = 0;
  const int depth_shift = (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P ||
                           f->format == AV_PIX_FMT_YUV422P || f->format == AV_PIX_FMT_YUV444P)
                              ? 0
                              : -1;
  if (depth_shift < 0 && f->format != AV_PIX_FMT_YUV420P10LE) return 1;  // unknown layout: neutral
  for (int y = 0; y < steps; ++y) {
    int row = (f->height - 1) * y / (steps - 1);
    for (int x = 0; x < steps; ++x) {
      int col = (f->width - 1) * x / (steps - 1);
      double v = depth_shift == 0 ? f->data[0][row * f->linesize[0] + col]
                                  : reinterpret_cast<const uint16_t*>(f->data[0] + row * f->linesize[0])[col] / 4.0;
      sum += v;
      sum2 += v * v;
      ++n;
    }
  }
  double mean = sum / n;
  return std::sqrt(std::max(0.0, sum2 / n - mean * mean));
}
}  // namespace

void PosterPicker::offer(const SharedFrame& frame, double seconds) {
  if (!best_) {
    best_ = frame;  // something, even for a one-frame video
    best_score_ = interest(frame.get());
  }
  if (next_ >= targets_.size() || seconds < targets_[next_]) return;
  while (next_ < targets_.size() && seconds >= targets_[next_]) ++next_;
  double score = interest(frame.get());
  // Prefer later candidates only when clearly better.
  if (score > best_score_ * 1.1) {
    best_ = frame;
    best_score_ = score;
  }
}

Status put_object(storage::Publication& out, const std::string& name, std::string_view bytes) {
  STREAMLET_ASSIGN_OR_RETURN(auto w, out.create(name));
  STREAMLET_RETURN_IF_ERROR(w->write(bytes.data(), bytes.size()));
  return w->commit();
}

Result<std::string> encode_jpeg(const AVFrame* frame, int width, int height,
                                const std::string& path) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (!codec) return Status(ErrorCode::kUnsupported, "this FFmpeg has no JPEG encoder");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->width = width;
  enc->height = height;
  enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
  enc->time_base = AVRational{1, 25};
  enc->flags |= AV_CODEC_FLAG_QSCALE;
  enc->global_quality = FF_QP2LAMBDA * 3;
  int err = avcodec_open2(enc.get(), codec, nullptr);
  if (err < 0) return av_status(err, "open JPEG encoder", path);

  FramePtr out = media::detail::make_frame();
  if (frame->format == AV_PIX_FMT_YUVJ420P && frame->width == width && frame->height == height) {
    // Already what the encoder takes (a storyboard sheet): no scaling pass.
    err = av_frame_ref(out.get(), frame);
    if (err < 0) return av_status(err, "jpeg frame", path);
  } else {
    media::detail::SwsPtr sws(sws_getContext(frame->width, frame->height,
                                             static_cast<AVPixelFormat>(frame->format), width,
                                             height, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nullptr,
                                             nullptr, nullptr));
    if (!sws) return Status(ErrorCode::kUnsupported, "jpeg: cannot scale this pixel format");
    out->format = AV_PIX_FMT_YUVJ420P;
    out->width = width;
    out->height = height;
    err = av_frame_get_buffer(out.get(), 0);
    if (err < 0) return av_status(err, "jpeg buffer", path);
    err = sws_scale_frame(sws.get(), out.get(), frame);
    if (err < 0) return av_status(err, "jpeg scale", path);
  }
  out->pts = 0;
  out->quality = enc->global_quality;
  err = avcodec_send_frame(enc.get(), out.get());
  if (err < 0) return av_status(err, "jpeg encode", path);
  avcodec_send_frame(enc.get(), nullptr);
  auto pkt = media::detail::make_packet();
  err = avcodec_receive_packet(enc.get(), pkt.get());
  if (err < 0) return av_status(err, "jpeg encode", path);
  return std::string(reinterpret_cast<const char*>(pkt->data), static_cast<size_t>(pkt->size));
}

Status write_jpeg(const AVFrame* frame, int width, int height, storage::Publication& sink,
                  const std::string& path) {
  STREAMLET_ASSIGN_OR_RETURN(auto jpeg, encode_jpeg(frame, width, height, path));
  return put_object(sink, path, jpeg);
}

std::pair<int, int> poster_size(int w, int h) {
  if (w > 1280) {
    h = std::max(2, static_cast<int>(std::lround(double(h) * 1280 / w / 2)) * 2);
    w = 1280;
  }
  return {w & ~1, h & ~1};
}

}  // namespace streamlet::transcode::detail

namespace streamlet::transcode {

Result<std::string> poster_from_image(std::string_view image) {
  const auto bytes = reinterpret_cast<const unsigned char*>(image.data());
  AVCodecID id = AV_CODEC_ID_NONE;
  if (image.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    id = AV_CODEC_ID_MJPEG;
  else if (image.size() >= 8 && image.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8))
    id = AV_CODEC_ID_PNG;
  if (id == AV_CODEC_ID_NONE)
    return Status(ErrorCode::kInvalidMedia, "poster: not a JPEG or PNG image");
  if (image.size() > kMaxPosterBytes)
    return Status(ErrorCode::kTooLarge,
                  "poster: larger than " + std::to_string(kMaxPosterBytes) + " bytes");
  const AVCodec* codec = avcodec_find_decoder(id);
  if (!codec) return Status(ErrorCode::kUnsupported, "this FFmpeg has no decoder for the poster");
  media::detail::CodecContextPtr dec(avcodec_alloc_context3(codec));
  dec->thread_count = 1;
  if (int err = avcodec_open2(dec.get(), codec, nullptr); err < 0)
    return media::detail::av_status(err, "open poster decoder", "poster");
  auto pkt = media::detail::make_packet();
  // The decoder reads a little past the end: give it padded bytes of its own.
  if (int err = av_new_packet(pkt.get(), static_cast<int>(image.size())); err < 0)
    return media::detail::av_status(err, "poster packet", "poster");
  std::memcpy(pkt->data, image.data(), image.size());
  auto frame = media::detail::make_frame();
  int err = avcodec_send_packet(dec.get(), pkt.get());
  if (err >= 0) {
    avcodec_send_packet(dec.get(), nullptr);
    err = avcodec_receive_frame(dec.get(), frame.get());
  }
  if (err < 0 || frame->width < 16 || frame->height < 16)
    return Status(ErrorCode::kInvalidMedia,
                  "poster: the image could not be decoded (or is under 16x16 pixels)");
  if (frame->width > 16384 || frame->height > 16384)
    return Status(ErrorCode::kInvalidMedia, "poster: the image is larger than 16384 pixels");
  auto [w, h] = detail::poster_size(frame->width, frame->height);
  return detail::encode_jpeg(frame.get(), w, h, "poster");
}

Result<std::string> poster_from_video(const std::string& path, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return Status(ErrorCode::kInvalidArgument, "poster: the time must be a number of seconds >= 0");
  STREAMLET_ASSIGN_OR_RETURN(auto in, media::detail::open_input(path));
  AVFormatContext* fc = in.format.get();
  AVStream* st = fc->streams[in.video_stream];
  STREAMLET_ASSIGN_OR_RETURN(auto dec, media::detail::open_decoder(st, 1, path));
  const int64_t first = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  const int64_t target = first + av_rescale_q(static_cast<int64_t>(seconds * 1e6),
                                              AVRational{1, 1000000}, st->time_base);
  av_seek_frame(fc, in.video_stream, target, AVSEEK_FLAG_BACKWARD);  // else from the start
  auto pkt = media::detail::make_packet();
  auto frame = media::detail::make_frame();
  auto best = media::detail::make_frame();
  bool have = false;
  // The last frame at or before the target (the frame on screen then), or the first after.
  auto take = [&]() -> bool {
    while (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
      const int64_t t = frame->best_effort_timestamp;
      if (!have || t <= target) {
        av_frame_unref(best.get());
        av_frame_move_ref(best.get(), frame.get());
        have = true;
      }
      av_frame_unref(frame.get());
      if (t >= target) return true;
    }
    return false;
  };
  bool done = false;
  while (!done && av_read_frame(fc, pkt.get()) >= 0) {
    if (pkt->stream_index == in.video_stream && avcodec_send_packet(dec.get(), pkt.get()) >= 0)
      done = take();
    av_packet_unref(pkt.get());
  }
  if (!done) {
    avcodec_send_packet(dec.get(), nullptr);
    take();
  }
  if (!have) return Status(ErrorCode::kInvalidMedia, path + ": no frame could be decoded");
  auto [w, h] = detail::poster_size(best->width, best->height);
  return detail::encode_jpeg(best.get(), w, h, path);
}

}  // namespace streamlet::transcode
