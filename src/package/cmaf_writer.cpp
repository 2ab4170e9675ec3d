#include "package/cmaf_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/file_util.hpp"

namespace streamlet::package::detail {

namespace fs = std::filesystem;
using media::detail::av_status;

Result<std::unique_ptr<CmafTrackWriter>> CmafTrackWriter::open(const CmafTrackConfig& config) {
  std::unique_ptr<CmafTrackWriter> w(new CmafTrackWriter());
  w->config_ = config;
  w->track_.kind = config.kind;
  w->track_.id = config.id;
  w->track_.timescale = config.timescale;
  w->track_.presentation_time_offset = config.presentation_time_offset;
  w->encoder_time_base_ = config.encoder->time_base;

  std::error_code ec;
  fs::create_directories(config.dir, ec);
  if (ec) return Status(ErrorCode::kIo, "create " + config.dir.string() + ": " + ec.message());

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
  w->fd_path_ = config.dir / Track::kInitName;
  w->fd_ = ::open(w->fd_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return streamlet::detail::errno_status(errno, "create", w->fd_path_);

  media::detail::Dictionary opts;
  // frag_custom: fragments end only where we say. frag_discont + no edit list:
  // tfdt carries our own decode times instead of restarting at zero.
  opts.set("movflags", "frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer+skip_sidx");
  opts.set("use_editlist", "0");
  err = avformat_write_header(oc, opts.get());
  if (err < 0) return av_status(err, "write init segment", w->fd_path_.string());
  avio_flush(io);
  w->stream_time_base_ = st->time_base;
  if (w->stream_time_base_.num != 1 || w->stream_time_base_.den != static_cast<int>(config.timescale)) {
    w->track_.timescale = static_cast<uint32_t>(w->stream_time_base_.den);
    w->track_.presentation_time_offset =
        av_rescale(config.presentation_time_offset, w->stream_time_base_.den, config.timescale);
  }
  if (w->write_errno_) return streamlet::detail::errno_status(w->write_errno_, "write", w->fd_path_);
  if (::fsync(w->fd_) != 0) return streamlet::detail::errno_status(errno, "fsync", w->fd_path_);
  ::close(w->fd_);
  w->fd_ = -1;
  return w;
}

CmafTrackWriter::~CmafTrackWriter() {
  if (fd_ >= 0) ::close(fd_);
}

int CmafTrackWriter::write_callback(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<CmafTrackWriter*>(opaque);
  if (self->fd_ < 0) return size;  // nothing is expected here (e.g. the skipped trailer)
  const uint8_t* p = buf;
  int left = size;
  while (left > 0) {
    ssize_t n = ::write(self->fd_, p, static_cast<size_t>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      self->write_errno_ = errno;
      return AVERROR(errno);
    }
    p += n;
    left -= static_cast<int>(n);
  }
  self->fd_bytes_ += static_cast<uint64_t>(size);
  return size;
}

Status CmafTrackWriter::open_segment() {
  uint32_t index = static_cast<uint32_t>(track_.segments.size());
  fd_path_ = config_.dir / track_.segment_name(index);
  fd_ = ::open(fd_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return streamlet::detail::errno_status(errno, "create", fd_path_);
  fd_bytes_ = 0;
  segment_open_ = true;
  return Status::Ok();
}

Status CmafTrackWriter::flush_fragment() {
  if (!fragment_open_) return Status::Ok();
  uint64_t before = fd_bytes_;
  int err = av_write_frame(format_.get(), nullptr);
  if (err >= 0) avio_flush(io_.get());
  if (write_errno_) return streamlet::detail::errno_status(write_errno_, "write", fd_path_);
  if (err < 0) return av_status(err, "write fragment", fd_path_.string());
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
  if (::fsync(fd_) != 0) return streamlet::detail::errno_status(errno, "fsync", fd_path_);
  ::close(fd_);
  fd_ = -1;
  Segment s;
  s.start = segment_start_;
  s.duration = segment_end_ - segment_start_;
  s.bytes = fd_bytes_;
  track_.segments.push_back(s);
  segment_open_ = false;
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
  if (write_errno_) return streamlet::detail::errno_status(write_errno_, "write", fd_path_);
  if (err < 0) return av_status(err, "mux " + track_.id, fd_path_.string());
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
