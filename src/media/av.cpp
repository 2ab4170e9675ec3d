#include "media/av.hpp"

#include <cerrno>

namespace streamlet::media::detail {

FramePtr make_frame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw std::bad_alloc();
  return f;
}

PacketPtr make_packet() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw std::bad_alloc();
  return p;
}

SharedFrame share_frame(FramePtr frame) {
  return SharedFrame(frame.release(), [](const AVFrame* f) {
    auto* mutable_frame = const_cast<AVFrame*>(f);
    av_frame_free(&mutable_frame);
  });
}

std::string av_error_text(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(errnum, buf, sizeof buf);
  return buf;
}

Status av_status(int errnum, std::string_view stage, std::string_view path) {
  ErrorCode code = ErrorCode::kInternal;
  switch (errnum) {
    case AVERROR(ENOENT): code = ErrorCode::kNotFound; break;
    case AVERROR(EACCES): code = ErrorCode::kPermissionDenied; break;
    case AVERROR(ENOSPC): code = ErrorCode::kResourceExhausted; break;
    case AVERROR(ENOMEM): code = ErrorCode::kResourceExhausted; break;
    case AVERROR(EIO): code = ErrorCode::kIo; break;
    case AVERROR_INVALIDDATA:
    case AVERROR_EOF:
    case AVERROR_DECODER_NOT_FOUND:
    case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_STREAM_NOT_FOUND: code = ErrorCode::kInvalidMedia; break;
    case AVERROR_EXIT: code = ErrorCode::kCancelled; break;
    default: break;
  }
  std::string msg(stage);
  if (!path.empty()) {
    msg += ": ";
    msg += path;
  }
  msg += ": ";
  msg += av_error_text(errnum);
  return Status(code, std::move(msg));
}

}  // namespace streamlet::media::detail

#include "streamlet/media.hpp"

namespace streamlet::media {
void set_libav_log_level(LibavLogLevel level) {
  switch (level) {
    case LibavLogLevel::kQuiet: av_log_set_level(AV_LOG_QUIET); break;
    case LibavLogLevel::kError: av_log_set_level(AV_LOG_ERROR); break;
    case LibavLogLevel::kWarning: av_log_set_level(AV_LOG_WARNING); break;
    case LibavLogLevel::kInfo: av_log_set_level(AV_LOG_INFO); break;
    case LibavLogLevel::kDebug: av_log_set_level(AV_LOG_DEBUG); break;
  }
}

void set_log_level(LogLevel level) {
  switch (level) {
    case LogLevel::kError: set_libav_log_level(LibavLogLevel::kError); break;
    // libav's warnings are mostly chatter ("deprecated pixel format used" per scaler).
    case LogLevel::kWarn: set_libav_log_level(LibavLogLevel::kError); break;
    case LogLevel::kInfo: set_libav_log_level(LibavLogLevel::kInfo); break;
    case LogLevel::kDebug: set_libav_log_level(LibavLogLevel::kDebug); break;
  }
}
}  // namespace streamlet::media
