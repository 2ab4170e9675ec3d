#include <algorithm>
#include <cmath>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

#include "media/input.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

using media::detail::av_status;

namespace {
int output_sample_rate(int source) {
  // AAC-LC rates players handle everywhere; anything else is resampled to 48 kHz.
  for (int r : {48000, 44100, 32000, 24000, 22050, 16000})
    if (source == r) return r;
  return 48000;
}
}  // namespace

Result<std::unique_ptr<AudioTrackEncoder>> AudioTrackEncoder::open(const Config& config) {
  if (!config.boundaries) return Status(ErrorCode::kInternal, "audio track without segment boundaries");
  std::unique_ptr<AudioTrackEncoder> a(new AudioTrackEncoder());
  a->config_ = config;
  a->decoded_ = media::detail::make_frame();
  STREAMLET_ASSIGN_OR_RETURN(a->decoder_,
                             media::detail::open_decoder(config.stream, 1, config.source_path));
  a->sample_rate_ = output_sample_rate(config.stream->codecpar->sample_rate);

  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (!codec) return Status(ErrorCode::kUnsupported, "this FFmpeg has no AAC encoder");
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
  enc->sample_rate = a->sample_rate_;
  av_channel_layout_default(&enc->ch_layout, 2);
  enc->bit_rate = config.bitrate;
  enc->profile = FF_PROFILE_AAC_LOW;
  enc->time_base = AVRational{1, a->sample_rate_};
  enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int err = avcodec_open2(enc.get(), codec, nullptr);
  if (err < 0) return av_status(err, "open AAC encoder");
  a->encoder_ = std::move(enc);

  a->fifo_.reset(av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, 2, a->encoder_->frame_size * 4));
  if (!a->fifo_) return Status(ErrorCode::kResourceExhausted, "out of memory");
  a->offset_samples_ = std::llround(config.offset_seconds * a->sample_rate_);
  a->limit_samples_ = config.limit_seconds > 0 ? std::llround(config.limit_seconds * a->sample_rate_) : 0;

  package::detail::CmafTrackConfig tc;
  tc.out = config.out;
  tc.dir = config.dir;
  tc.kind = package::TrackKind::kAudio;
  tc.id = "audio";
  tc.encoder = a->encoder_.get();
  tc.timescale = static_cast<uint32_t>(a->sample_rate_);
  tc.presentation_time_offset = a->offset_samples_;
  if (config.on_segment) tc.on_segment = [enc = a.get()] { enc->config_.on_segment(enc->track()); };
  STREAMLET_ASSIGN_OR_RETURN(a->writer_, package::detail::CmafTrackWriter::open(tc));
  return a;
}

Status AudioTrackEncoder::decode(const AVPacket* packet) {
  int err = avcodec_send_packet(decoder_.get(), packet);
  // A damaged audio packet is skipped rather than failing the whole video.
  if (err < 0 && err != AVERROR(EAGAIN) && err != AVERROR_EOF && err != AVERROR_INVALIDDATA)
    return av_status(err, "decode audio", config_.source_path);
  for (;;) {
    err = avcodec_receive_frame(decoder_.get(), decoded_.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) break;
    if (err == AVERROR_INVALIDDATA) continue;
    if (err < 0) return av_status(err, "decode audio", config_.source_path);
    Status s = push_samples(decoded_.get());
    av_frame_unref(decoded_.get());
    STREAMLET_RETURN_IF_ERROR(s);
  }
  return encode_available(false);
}

Status AudioTrackEncoder::push_samples(const AVFrame* frame) {
  if (!swr_) {
    SwrContext* swr = nullptr;
    AVChannelLayout in_layout;
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || frame->ch_layout.nb_channels == 0)
      av_channel_layout_default(&in_layout, std::max(1, frame->ch_layout.nb_channels));
    else
      av_channel_layout_copy(&in_layout, &frame->ch_layout);
    int err = swr_alloc_set_opts2(&swr, &encoder_->ch_layout, AV_SAMPLE_FMT_FLTP, sample_rate_,
                                  &in_layout, static_cast<AVSampleFormat>(frame->format),
                                  frame->sample_rate, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    if (err < 0 || swr_init(swr) < 0) {
      swr_free(&swr);
      return Status(ErrorCode::kUnsupported, config_.source_path + ": cannot resample this audio");
    }
    swr_.reset(swr);
  }
  if (!started_) {
    // Align the first sample with the start of presentation: pad or drop.
    started_ = true;
    double tb = av_q2d(config_.stream->time_base);
    int64_t ts = frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp : frame->pts;
    double start = ts != AV_NOPTS_VALUE ? ts * tb - config_.origin_seconds : 0;
    int64_t lead = std::llround(start * sample_rate_);
    if (lead > 0) STREAMLET_RETURN_IF_ERROR(push_silence(std::min<int64_t>(lead, sample_rate_ * 10)));
    if (lead < 0) drop_ = -lead;
  }
  int out_max = swr_get_out_samples(swr_.get(), frame->nb_samples);
  FramePtr out = media::detail::make_frame();
  out->format = AV_SAMPLE_FMT_FLTP;
  av_channel_layout_copy(&out->ch_layout, &encoder_->ch_layout);
  out->sample_rate = sample_rate_;
  out->nb_samples = std::max(out_max, 1);
  int err = av_frame_get_buffer(out.get(), 0);
  if (err < 0) return av_status(err, "audio buffer");
  int n = swr_convert(swr_.get(), out->data, out_max, const_cast<const uint8_t**>(frame->extended_data),
                      frame->nb_samples);
  if (n < 0) return av_status(n, "resample audio", config_.source_path);
  int skip = static_cast<int>(std::min<int64_t>(drop_, n));
  drop_ -= skip;
  int64_t keep = n - skip;
  if (limit_samples_ > 0) keep = std::max<int64_t>(0, std::min(keep, limit_samples_ - queued_samples_));
  if (keep > 0) {
    void* planes[2] = {out->data[0] + skip * sizeof(float), out->data[1] + skip * sizeof(float)};
    if (av_audio_fifo_write(fifo_.get(), planes, static_cast<int>(keep)) < keep)
      return Status(ErrorCode::kResourceExhausted, "audio fifo");
    queued_samples_ += keep;
  }
  return Status::Ok();
}

Status AudioTrackEncoder::push_silence(int64_t samples) {
  FramePtr silence = media::detail::make_frame();
  silence->format = AV_SAMPLE_FMT_FLTP;
  av_channel_layout_copy(&silence->ch_layout, &encoder_->ch_layout);
  silence->nb_samples = static_cast<int>(std::min<int64_t>(samples, 1 << 16));
  int err = av_frame_get_buffer(silence.get(), 0);
  if (err < 0) return av_status(err, "audio buffer");
  av_samples_set_silence(silence->data, 0, silence->nb_samples, 2, AV_SAMPLE_FMT_FLTP);
  while (samples > 0) {
    int n = static_cast<int>(std::min<int64_t>(samples, silence->nb_samples));
    if (av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(silence->data), n) < n)
      return Status(ErrorCode::kResourceExhausted, "audio fifo");
    samples -= n;
    queued_samples_ += n;
  }
  return Status::Ok();
}

Status AudioTrackEncoder::encode_available(bool final) {
  const int frame_size = encoder_->frame_size;
  while (av_audio_fifo_size(fifo_.get()) >= frame_size ||
         (final && av_audio_fifo_size(fifo_.get()) > 0)) {
    int n = std::min(frame_size, av_audio_fifo_size(fifo_.get()));
    FramePtr frame = media::detail::make_frame();
    frame->format = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_copy(&frame->ch_layout, &encoder_->ch_layout);
    frame->sample_rate = sample_rate_;
    frame->nb_samples = n;
    int err = av_frame_get_buffer(frame.get(), 0);
    if (err < 0) return av_status(err, "audio buffer");
    av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(frame->data), n);
    frame->pts = offset_samples_ + encoded_samples_;
    encoded_samples_ += n;
    STREAMLET_RETURN_IF_ERROR(encode_frame(frame.get()));
  }
  return Status::Ok();
}

Status AudioTrackEncoder::encode_frame(AVFrame* frame) {
  int err = avcodec_send_frame(encoder_.get(), frame);
  if (err < 0) return av_status(err, "encode audio");
  STREAMLET_RETURN_IF_ERROR(drain());
  done_seconds_.store(double(encoded_samples_) / sample_rate_, std::memory_order_relaxed);
  return Status::Ok();
}

Status AudioTrackEncoder::drain() {
  for (;;) {
    media::detail::PacketPtr pkt = media::detail::make_packet();
    int err = avcodec_receive_packet(encoder_.get(), pkt.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) break;
    if (err < 0) return av_status(err, "encode audio");
    held_.push_back(std::move(pkt));
  }
  return write_decided(false);
}

// The video decides where segments start; audio may run ahead of that decision,
// so its packets wait here (a few seconds at most: the graph's in-flight budget
// bounds how far ahead audio gets) until every boundary up to them is known.
Status AudioTrackEncoder::write_decided(bool final, int64_t end) {
  const SegmentBoundaries& boundaries = *config_.boundaries;
  // A packet's start in presentation ticks, rounded up: it is at or after
  // instant b exactly when its ticks >= b.
  auto ticks_of = [&](const AVPacket* p) {
    return av_rescale_rnd(p->pts - offset_samples_, kVideoTimescale, sample_rate_, AV_ROUND_UP);
  };
  while (!held_.empty()) {
    AVPacket* pkt = held_.front().get();
    if (final && pkt->pts >= end) {  // past the video's end: dropped
      held_.clear();
      break;
    }
    const int64_t ticks = ticks_of(pkt);
    // While running, a packet goes out once its successor starts at or before
    // the last decided video frame: then every boundary up to it is known, and
    // it is not the last packet before the video's end (which may have to open
    // a segment shorter than itself, and be cut at that end).
    if (!final && (held_.size() < 2 || !boundaries.decided_through(ticks_of(held_[1].get())))) break;
    const bool last = final && (held_.size() == 1 || held_[1]->pts >= end);
    if (final && pkt->pts + pkt->duration > end) pkt->duration = end - pkt->pts;
    // Cut at the first packet at or after each boundary. If the video's last
    // segment is shorter than an AAC frame, no packet starts inside it: the last
    // packet, which holds its first instant, opens it.
    bool new_segment = !wrote_any_;
    for (auto b = boundaries.at(next_boundary_); b && (ticks >= *b || last);
         b = boundaries.at(next_boundary_)) {
      new_segment = true;
      ++next_boundary_;
    }
    Status s = writer_->write(pkt, new_segment, new_segment);
    held_.pop_front();
    STREAMLET_RETURN_IF_ERROR(s);
    wrote_any_ = true;
  }
  return Status::Ok();
}

Status AudioTrackEncoder::finish(double end_seconds) {
  // Flush the decoder.
  STREAMLET_RETURN_IF_ERROR(decode(nullptr));
  int64_t end = std::llround(end_seconds * sample_rate_);
  if (queued_samples_ < end) STREAMLET_RETURN_IF_ERROR(push_silence(end - queued_samples_));
  if (queued_samples_ > end) {
    // Drop what runs past the video's end, from the not yet encoded tail.
    int64_t extra = std::min<int64_t>(queued_samples_ - end, av_audio_fifo_size(fifo_.get()));
    int keep = av_audio_fifo_size(fifo_.get()) - static_cast<int>(extra);
    FramePtr tmp = media::detail::make_frame();
    tmp->format = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_copy(&tmp->ch_layout, &encoder_->ch_layout);
    tmp->nb_samples = std::max(keep, 1);
    av_frame_get_buffer(tmp.get(), 0);
    if (keep > 0) av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(tmp->data), keep);
    av_audio_fifo_reset(fifo_.get());
    if (keep > 0) av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(tmp->data), keep);
    queued_samples_ -= extra;
  }
  STREAMLET_RETURN_IF_ERROR(encode_available(true));
  STREAMLET_RETURN_IF_ERROR(encode_frame(nullptr));
  // The video has ended, so every boundary is known; nothing plays past its end.
  STREAMLET_RETURN_IF_ERROR(write_decided(true, offset_samples_ + end));
  return writer_->finish();
}

package::Track AudioTrackEncoder::track() const {
  package::Track t = writer_->track();
  t.sample_rate = sample_rate_;
  t.channels = 2;
  t.target_bitrate = static_cast<int>(config_.bitrate);
  // AudioSpecificConfig: the first 5 bits are the audio object type (2 = AAC-LC).
  int aot = encoder_->extradata_size > 0 ? (encoder_->extradata[0] >> 3) : 2;
  t.codecs = "mp4a.40." + std::to_string(aot);
  return t;
}

}  // namespace streamlet::transcode::detail
