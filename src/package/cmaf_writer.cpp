#include "package/cmaf_writer.hpp"

#include <algorithm>

namespace streamlet::package::detail {

using media::detail::av_status;

namespace {
std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}
}  // namespace

Status CmafTrackWriter::create(const std::string& name) {
  out_name_ = join(config_.dir, name);
  auto w = config_.out->create(out_name_);
  if (!w.ok()) return w.status();
  out_ = std::move(w).value();
  fd_bytes_ = 0;
  return Status::Ok();
}

Status CmafTrackWriter::commit() {
  Status s = out_->commit();
  out_.reset();
  return s;
}

Result<std::unique_ptr<CmafTrackWriter>> CmafTrackWriter::open(const CmafTrackConfig& config) {
  std::unique_ptr<CmafTrackWriter> w(new CmafTrackWriter());
  w->config_ = config;
  w->track_.kind = config.kind;
  w->track_.id = config.id;
  w->track_.timescale = config.timescale;
  w->track_.presentation_time_offset = config.presentation_time_offset;
  w->track_.first_segment_number = config.first_segment_number;
  w->encoder_time_base_ = config.encoder->time_base;

  if (!config.out) return Status(ErrorCode::kInternal, "CMAF track " + config.id + ": no output");

  AVFormatContext* oc = nullptr;
  int err = avformat_alloc_output_context2(&oc, nullptr, "mp4", nullptr);
  if (err < 0) return av_status(err, "mp4 muxer");
  w->format_.reset(oc);

  AVStream* st = avformat_new_stream(oc, nullptr);
  if (!st) return Status(ErrorCode::kResourceExhausted, "out of memory");
  err = avcodec_parameters_from_context(st->codecpar, config.encoder);
  if (err < 0) return av_status(err, "mp4 stream");
  st->time_base = AVRational{1, static_cast<int>(config.timescale)};
  st->codecpar->codec_tag = 0;

  constexpr int kIoBuffer = 64 * 1024;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBuffer));
  if (!buffer) return Status(ErrorCode::kResourceExhausted, "out of memory");
  AVIOContext* io = avio_alloc_context(buffer, kIoBuffer, 1, w.get(), nullptr,
                                       &CmafTrackWriter::write_callback, nullptr);
  if (!io) {
    av_free(buffer);
    return Status(ErrorCode::kResourceExhausted, "out of memory");
  }
  w->io_.reset(io);
  io->seekable = 0;
  oc->pb = io;
  oc->flags |= AVFMT_FLAG_CUSTOM_IO;
  // Keep our timeline: presentation starts at presentation_time_offset in every track.
  oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;

  // The init segment is the header: ftyp + moov with an empty sample table.
  STREAMLET_RETURN_IF_ERROR(w->create(Track::kInitName));

  media::detail::Dictionary opts;
  // frag_custom: fragments end only where we say. frag_discont + no edit list:
  // tfdt carries our own decode times instead of restarting at zero.
  opts.set("movflags", "frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer+skip_sidx");
  opts.set("use_editlist", "0");
  err = avformat_write_header(oc, opts.get());
  if (err < 0) return av_status(err, "write init segment", w->out_name_);
  avio_flush(io);
  w->stream_time_base_ = st->time_base;
  if (w->stream_time_base_.num != 1 || w->stream_time_base_.den != static_cast<int>(config.timescale)) {
    w->track_.timescale = static_cast<uint32_t>(w->stream_time_base_.den);
    w->track_.presentation_time_offset =
        av_rescale(config.presentation_time_offset, w->stream_time_base_.den, config.timescale);
  }
  if (!w->write_error_.ok()) return w->write_error_;
  STREAMLET_RETURN_IF_ERROR(w->commit());
  return w;
}

CmafTrackWriter::~CmafTrackWriter() = default;  // an uncommitted segment is discarded

int CmafTrackWriter::write_callback(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<CmafTrackWriter*>(opaque);
  if (!self->out_) return size;  // nothing is expected here (e.g. the skipped trailer)
  Status s = self->out_->write(reinterpret_cast<const char*>(buf), static_cast<size_t>(size));
  if (!s.ok()) {
    if (self->write_error_.ok()) self->write_error_ = s;
    return AVERROR(EIO);
  }
  self->fd_bytes_ += static_cast<uint64_t>(size);
  return size;
}

Status CmafTrackWriter::open_segment() {
  uint32_t index = static_cast<uint32_t>(track_.segments.size());
  STREAMLET_RETURN_IF_ERROR(create(track_.segment_name(index)));
  segment_open_ = true;
  return Status::Ok();
}

Status CmafTrackWriter::flush_fragment() {
  if (!fragment_open_) return Status::Ok();
  uint64_t before = fd_bytes_;
  int err = av_write_frame(format_.get(), nullptr);
  if (err >= 0) avio_flush(io_.get());
  if (!write_error_.ok()) return write_error_;
  if (err < 0) return av_status(err, "write fragment", out_name_);
  uint64_t fragment_bytes = fd_bytes_ - before;
  if (config_.kind == TrackKind::kVideo && first_in_fragment_is_key_) {
    // moof + mdat header = everything that is not sample data; the I-frame is the first sample.
    uint64_t headers = fragment_bytes - fragment_sample_bytes_;
    IFrame f;
    f.segment = static_cast<uint32_t>(track_.segments.size());
    f.offset = fragment_offset_;
    f.length = headers + fragment_first_sample_bytes_;
    f.start = fragment_start_;
    track_.iframes.push_back(f);
  }
  fragment_open_ = false;
  return Status::Ok();
}

Status CmafTrackWriter::close_segment() {
  STREAMLET_RETURN_IF_ERROR(flush_fragment());
  if (!segment_open_) return Status::Ok();
  STREAMLET_RETURN_IF_ERROR(commit());
  Segment s;
  s.start = segment_start_;
  s.duration = segment_end_ - segment_start_;
  s.bytes = fd_bytes_;
  track_.segments.push_back(s);
  segment_open_ = false;
  if (config_.on_segment) config_.on_segment();
  return Status::Ok();
}

Status CmafTrackWriter::write(AVPacket* packet, bool new_segment, bool new_fragment) {
  if (finished_) return Status(ErrorCode::kInternal, "write after finish on track " + track_.id);
  av_packet_rescale_ts(packet, encoder_time_base_, stream_time_base_);
  packet->stream_index = 0;
  if (new_segment || !segment_open_) {
    STREAMLET_RETURN_IF_ERROR(close_segment());
    STREAMLET_RETURN_IF_ERROR(open_segment());
    segment_start_ = packet->pts;
    segment_end_ = packet->pts;
    new_fragment = true;
  }
  if (new_fragment && fragment_open_) STREAMLET_RETURN_IF_ERROR(flush_fragment());
  if (!fragment_open_) {
    fragment_open_ = true;
    fragment_offset_ = fd_bytes_;
    fragment_sample_bytes_ = 0;
    fragment_first_sample_bytes_ = static_cast<uint64_t>(packet->size);
    first_in_fragment_is_key_ = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    fragment_start_ = packet->pts;
  }
  fragment_sample_bytes_ += static_cast<uint64_t>(packet->size);
  segment_start_ = std::min(segment_start_, packet->pts);
  segment_end_ = std::max(segment_end_, packet->pts + packet->duration);

  int err = av_write_frame(format_.get(), packet);
  if (!write_error_.ok()) return write_error_;
  if (err < 0) return av_status(err, "mux " + track_.id, out_name_);
  return Status::Ok();
}

Status CmafTrackWriter::finish() {
  if (finished_) return Status::Ok();
  STREAMLET_RETURN_IF_ERROR(close_segment());
  finished_ = true;
  // The trailer has nothing left to say (skip_trailer); its bytes go nowhere.
  av_write_trailer(format_.get());
  // I-frame durations run to the next I-frame, the last one to the end of the track.
  int64_t end = track_.segments.empty() ? 0
                                        : track_.segments.back().start + track_.segments.back().duration;
  for (size_t i = 0; i < track_.iframes.size(); ++i) {
    int64_t next = i + 1 < track_.iframes.size() ? track_.iframes[i + 1].start : end;
    track_.iframes[i].duration = next - track_.iframes[i].start;
  }
  return Status::Ok();
}

}  // namespace streamlet::package::detail
