// Storyboard (scrub-preview) thumbnails: sprite sheets plus a WebVTT track in
// the form thumbnail plugins of hls.js, video.js and Vidstack read:
//
//   00:00:02.000 --> 00:00:04.000
//   storyboard_1.jpg#xywh=160,0,160,90
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/file_util.hpp"
#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

using media::detail::av_status;

namespace {

constexpr double kEpsilon = 1e-6;  // well under one 90 kHz tick

std::string vtt_time(double seconds) {
  const long long ms = std::llround(std::max(0.0, seconds) * 1000);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60,
                ms / 1000 % 60, ms % 1000);
  return buf;
}

void fill_black(AVFrame* f) {
  // Full-range YUV black, so unused tiles of a partial row are not green.
  for (int y = 0; y < f->height; ++y) std::memset(f->data[0] + y * f->linesize[0], 0, f->width);
  for (int p = 1; p < 3; ++p)
    for (int y = 0; y < f->height / 2; ++y)
      std::memset(f->data[p] + y * f->linesize[p], 128, f->width / 2);
}

}  // namespace

double StoryboardBuilder::auto_interval(double duration_seconds) {
  // 300 tiles = three 10x10 sheets; whole seconds keep cue times readable.
  return std::max(2.0, std::ceil(duration_seconds / 300));
}

std::string StoryboardBuilder::sheet_name(int index) {
  return "storyboard_" + std::to_string(index + 1) + ".jpg";
}

StoryboardBuilder::StoryboardBuilder(Config config) : config_(std::move(config)) {
  config_.tile_width = std::max(16, config_.tile_width / 2 * 2);
  config_.columns = std::max(1, config_.columns);
  config_.rows = std::max(1, config_.rows);
  if (!(config_.interval_seconds > 0)) config_.interval_seconds = 2;
  const double aspect = config_.display_width > 0 && config_.display_height > 0
                            ? double(config_.display_height) / config_.display_width
                            : 9.0 / 16.0;
  tile_height_ = std::max(2, static_cast<int>(std::lround(config_.tile_width * aspect / 2)) * 2);
}

Status StoryboardBuilder::offer(const SharedFrame& frame, double seconds) {
  // A tile shows the picture on screen at its time: the last frame that
  // started at or before it. So a sample point is filled once the frame after
  // it arrives (or with this frame, if it is the first one).
  const AVFrame* shown = last_ ? last_.get() : frame.get();
  while (next_time() < seconds - kEpsilon) STREAMLET_RETURN_IF_ERROR(capture(shown));
  last_ = frame;
  return Status::Ok();
}

Status StoryboardBuilder::capture(const AVFrame* frame) {
  const int tw = config_.tile_width, th = tile_height_;
  if (!sheet_) {
    sheet_ = media::detail::make_frame();
    sheet_->format = AV_PIX_FMT_YUVJ420P;
    sheet_->width = tw * config_.columns;
    sheet_->height = th * config_.rows;
    int err = av_frame_get_buffer(sheet_.get(), 0);
    if (err < 0)
      return av_status(err, "storyboard sheet", sheet_name(tiles_ / (config_.columns * config_.rows)));
    fill_black(sheet_.get());
  }
  sws_.reset(sws_getCachedContext(sws_.release(), frame->width, frame->height,
                                  static_cast<AVPixelFormat>(frame->format), tw, th,
                                  AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws_) return Status(ErrorCode::kUnsupported, "storyboard: cannot scale this pixel format");
  // Scale straight into the tile's place in the sheet (x and y are even).
  const int x = (in_sheet_ % config_.columns) * tw;
  const int y = (in_sheet_ / config_.columns) * th;
  uint8_t* dst[4] = {sheet_->data[0] + y * sheet_->linesize[0] + x,
                     sheet_->data[1] + y / 2 * sheet_->linesize[1] + x / 2,
                     sheet_->data[2] + y / 2 * sheet_->linesize[2] + x / 2, nullptr};
  int dst_stride[4] = {sheet_->linesize[0], sheet_->linesize[1], sheet_->linesize[2], 0};
  int err = sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
  if (err < 0)
    return av_status(err, "storyboard scale", sheet_name(tiles_ / (config_.columns * config_.rows)));
  ++in_sheet_;
  ++tiles_;
  if (in_sheet_ == config_.columns * config_.rows) return flush_sheet();
  return Status::Ok();
}

Status StoryboardBuilder::flush_sheet() {
  if (in_sheet_ == 0) return Status::Ok();
  const int per_sheet = config_.columns * config_.rows;
  const int index = (tiles_ - in_sheet_) / per_sheet;
  // A partial sheet is cropped to the rows (and, for one row, the columns) in use.
  FramePtr view = media::detail::make_frame();
  int err = av_frame_ref(view.get(), sheet_.get());
  if (err < 0) return av_status(err, "storyboard sheet", sheet_name(index));
  view->width = std::min(in_sheet_, config_.columns) * config_.tile_width;
  view->height = (in_sheet_ + config_.columns - 1) / config_.columns * tile_height_;
  Status s = write_jpeg(view.get(), view->width, view->height, *config_.out, sheet_name(index));
  view.reset();
  if (!s.ok()) return s.with_context("storyboard");
  in_sheet_ = 0;
  fill_black(sheet_.get());
  return Status::Ok();
}

Status StoryboardBuilder::finish(double end_seconds) {
  if (last_)
    while (next_time() < end_seconds - kEpsilon) STREAMLET_RETURN_IF_ERROR(capture(last_.get()));
  STREAMLET_RETURN_IF_ERROR(flush_sheet());
  sheet_.reset();
  last_.reset();
  if (tiles_ == 0) return Status::Ok();

  const int per_sheet = config_.columns * config_.rows;
  std::string vtt = "WEBVTT\n";
  for (int k = 0; k < tiles_; ++k) {
    const double start = k * config_.interval_seconds;
    const double end = std::min((k + 1) * config_.interval_seconds, end_seconds);
    const int pos = k % per_sheet;
    vtt += "\n" + vtt_time(start) + " --> " + vtt_time(end) + "\n" + sheet_name(k / per_sheet) +
           "#xywh=" + std::to_string(pos % config_.columns * config_.tile_width) + "," +
           std::to_string(pos / config_.columns * tile_height_) + "," +
           std::to_string(config_.tile_width) + "," + std::to_string(tile_height_) + "\n";
  }
  return put_object(*config_.out, kVttName, vtt);
}

}  // namespace streamlet::transcode::detail
