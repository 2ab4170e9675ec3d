#include <cstdio>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

using media::detail::av_status;

Status Orienter::build(const AVFrame* frame) {
  const char* chain = rotation_ == 90 ? "transpose=clock"
                      : rotation_ == 180 ? "hflip,vflip"
                                         : "transpose=cclock";
  graph_.reset(avfilter_graph_alloc());
  if (!graph_) return Status(ErrorCode::kResourceExhausted, "out of memory");
  graph_->nb_threads = 1;
  char args[256];
  AVRational sar = frame->sample_aspect_ratio.num > 0 ? frame->sample_aspect_ratio : AVRational{1, 1};
  std::snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=1/%d:pixel_aspect=%d/%d",
                frame->width, frame->height, frame->format, kVideoTimescale, sar.num, sar.den);
  int err = avfilter_graph_create_filter(&source_, avfilter_get_by_name("buffer"), "in", args,
                                         nullptr, graph_.get());
  if (err < 0) return av_status(err, "orient: buffer source");
  err = avfilter_graph_create_filter(&sink_, avfilter_get_by_name("buffersink"), "out", nullptr,
                                     nullptr, graph_.get());
  if (err < 0) return av_status(err, "orient: buffer sink");

  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = source_;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = sink_;
  err = avfilter_graph_parse_ptr(graph_.get(), chain, &inputs, &outputs, nullptr);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  if (err < 0) return av_status(err, "orient: parse");
  err = avfilter_graph_config(graph_.get(), nullptr);
  if (err < 0) return av_status(err, "orient: configure");
  width_ = frame->width;
  height_ = frame->height;
  format_ = frame->format;
  return Status::Ok();
}

Result<FramePtr> Orienter::apply(FramePtr frame) {
  if (rotation_ == 0) return frame;
  if (!graph_ || frame->width != width_ || frame->height != height_ || frame->format != format_)
    STREAMLET_RETURN_IF_ERROR(build(frame.get()));
  int err = av_buffersrc_add_frame_flags(source_, frame.get(), AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) return av_status(err, "orient: push");
  FramePtr out = media::detail::make_frame();
  err = av_buffersink_get_frame(sink_, out.get());
  if (err < 0) return av_status(err, "orient: pull");
  return out;
}

}  // namespace streamlet::transcode::detail
