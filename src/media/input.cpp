#include "media/input.hpp"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace streamlet::media {

const char* accepted_containers() {
  // Containers that carry video and cannot reference other files or URLs
  // (mov's external data references stay disabled, see open_input).
  return "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,mxf,asf,ogg,nut,ivf";
}

namespace detail {
namespace {

bool allowed_format(const char* name) {
  return name && av_match_list(name, accepted_containers(), ',') > 0;
}

std::string describe_rejected_format(const AVInputFormat* fmt) {
  std::string name = fmt ? fmt->name : "unknown";
  if (name == "hls" || name == "applehttp")
    return "an HLS playlist is not a video file; playlists are never followed";
  if (name == "concat") return "a concat list is not a video file; lists are never followed";
  if (name == "dash") return "a DASH manifest is not a video file; manifests are never followed";
  if (name.find("image2") != std::string::npos || name.find("_pipe") != std::string::npos)
    return "an image (" + name + ") is not a video";
  if (name == "tty" || name == "srt" || name == "webvtt" || name == "ass")
    return "a text file is not a video";
  return "format '" + name + "' is not an accepted video container";
}

// A file whose sample index points past its end was cut short (an interrupted
// copy or upload). Demuxers read that as an early EOF, so catch it up front.
Status check_complete(AVFormatContext* fc, int stream, const std::string& path, int64_t file_size) {
  const AVStream* st = fc->streams[stream];
  int n = avformat_index_get_entries_count(st);
  int64_t end = 0;
  for (int i = 0; i < n; ++i) {
    const AVIndexEntry* e = avformat_index_get_entry(const_cast<AVStream*>(st), i);
    if (e) end = std::max<int64_t>(end, e->pos + e->size);
  }
  if (end > file_size)
    return Status(ErrorCode::kInvalidMedia,
                  path + ": truncated: its index points to byte " + std::to_string(end) +
                      " but the file ends at " + std::to_string(file_size));
  return Status::Ok();
}

}  // namespace

int stream_rotation(const AVStream* stream) {
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  // av_display_rotation_get is counter-clockwise; display wants the clockwise correction.
  double theta = -av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(theta)) return 0;
  theta -= 360.0 * std::floor(theta / 360.0 + 0.9 / 360.0);
  int r = static_cast<int>(std::lround(theta / 90.0)) * 90;
  return ((r % 360) + 360) % 360;
}

Result<OpenedInput> open_input(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == EACCES) return Status(ErrorCode::kPermissionDenied, path + ": permission denied");
    return Status(ErrorCode::kNotFound, path + ": no such file");
  }
  if (!S_ISREG(st.st_mode))
    return Status(ErrorCode::kInvalidMedia, path + ": not a regular file");
  if (st.st_size == 0) return Status(ErrorCode::kInvalidMedia, path + ": the file is empty");

  // Absolute path behind the file: protocol, so names like "http:x" stay local files.
  std::string url = "file:" + std::filesystem::absolute(path).string();

  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) return Status(ErrorCode::kResourceExhausted, "out of memory");
  raw->format_whitelist = av_strdup(accepted_containers());
  raw->protocol_whitelist = av_strdup("file");

  // Probe first so a rejected format gets a precise reason rather than EINVAL.
  {
    AVIOContext* pb = nullptr;
    Dictionary io_opts;
    io_opts.set("protocol_whitelist", "file");
    int err = avio_open2(&pb, url.c_str(), AVIO_FLAG_READ, nullptr, io_opts.get());
    if (err < 0) {
      avformat_free_context(raw);
      return av_status(err, "open", path);
    }
    const AVInputFormat* fmt = nullptr;
    err = av_probe_input_buffer2(pb, &fmt, url.c_str(), nullptr, 0, 0);
    avio_closep(&pb);
    if (err < 0 || !fmt) {
      avformat_free_context(raw);
      return Status(ErrorCode::kInvalidMedia, path + ": not a recognisable media file");
    }
    if (!allowed_format(fmt->name)) {
      avformat_free_context(raw);
      return Status(ErrorCode::kInvalidMedia, path + ": " + describe_rejected_format(fmt));
    }
  }

  Dictionary opts;
  opts.set("enable_drefs", "0");  // mov: never open data referenced by path
  opts.set("use_absolute_path", "0");
  int err = avformat_open_input(&raw, url.c_str(), nullptr, opts.get());
  if (err < 0) {
    // avformat_open_input frees the context on failure.
    Status s = av_status(err, "open", path);
    if (s.code() == ErrorCode::kInternal) s = Status(ErrorCode::kInvalidMedia, s.message());
    return s;
  }
  OpenedInput in;
  in.format.reset(raw);
  err = avformat_find_stream_info(raw, nullptr);
  if (err < 0) return Status(ErrorCode::kInvalidMedia, av_status(err, "read", path).message());

  // Cover art is a video stream with one picture; it is not a video.
  int best = -1;
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    const AVStream* s = raw->streams[i];
    if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
    if (s->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
    if (s->codecpar->width <= 0 || s->codecpar->height <= 0) continue;
    best = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (best < 0 || (raw->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC)) best = i;
    break;
  }
  if (best < 0) {
    bool has_audio = av_find_best_stream(raw, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) >= 0;
    return Status(ErrorCode::kInvalidMedia,
                  path + (has_audio ? ": audio only, there is no video stream"
                                    : ": there is no video stream"));
  }
  in.video_stream = best;
  STREAMLET_RETURN_IF_ERROR(check_complete(raw, best, path, st.st_size));
  int audio = av_find_best_stream(raw, AVMEDIA_TYPE_AUDIO, -1, best, nullptr, 0);
  in.audio_stream = audio >= 0 ? audio : -1;
  in.rotation = stream_rotation(raw->streams[best]);
  return in;
}

Result<CodecContextPtr> open_decoder(const AVStream* stream, int threads, const std::string& path) {
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec)
    return Status(ErrorCode::kUnsupported,
                  path + ": no decoder for " + avcodec_get_name(stream->codecpar->codec_id));
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return Status(ErrorCode::kResourceExhausted, "out of memory");
  int err = avcodec_parameters_to_context(ctx.get(), stream->codecpar);
  if (err < 0) return av_status(err, "decoder setup", path);
  ctx->pkt_timebase = stream->time_base;
  ctx->thread_count = threads;
  err = avcodec_open2(ctx.get(), codec, nullptr);
  if (err < 0) {
    Status s = av_status(err, "open decoder", path);
    return Status(ErrorCode::kInvalidMedia, s.message());
  }
  return ctx;
}

MediaInfo describe(const OpenedInput& input, const std::string& path) {
  const AVFormatContext* fc = input.format.get();
  MediaInfo info;
  info.path = path;
  info.container = fc->iformat->name;
  info.container_long_name = fc->iformat->long_name ? fc->iformat->long_name : "";
  info.duration_seconds = fc->duration > 0 ? fc->duration / double(AV_TIME_BASE) : 0;
  info.bit_rate = fc->bit_rate;
  std::error_code ec;
  info.size_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));

  auto stream_seconds = [&](const AVStream* s) {
    if (s->duration > 0 && s->duration != AV_NOPTS_VALUE) return s->duration * av_q2d(s->time_base);
    return info.duration_seconds;
  };

  auto add_video = [&](int i) {
    const AVStream* s = fc->streams[i];
    const AVCodecParameters* p = s->codecpar;
    VideoStreamInfo v;
    v.index = i;
    v.codec = avcodec_get_name(p->codec_id);
    if (const char* prof = avcodec_profile_name(p->codec_id, p->profile)) v.profile = prof;
    auto fmt = static_cast<AVPixelFormat>(p->format);
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(fmt);
    v.pixel_format = desc ? desc->name : "unknown";
    if (desc) {
      v.bit_depth = desc->comp[0].depth;
      int w = desc->log2_chroma_w, h = desc->log2_chroma_h;
      v.chroma_subsampling = (w == 1 && h == 1) ? "4:2:0" : (w == 1 && h == 0) ? "4:2:2"
                             : (w == 0 && h == 0) ? "4:4:4" : "other";
    }
    v.width = p->width;
    v.height = p->height;
    v.rotation = stream_rotation(s);
    AVRational sar = av_guess_sample_aspect_ratio(const_cast<AVFormatContext*>(fc),
                                                  const_cast<AVStream*>(s), nullptr);
    double par = (sar.num > 0 && sar.den > 0) ? av_q2d(sar) : 1.0;
    int dw = static_cast<int>(std::lround(p->width * par)), dh = p->height;
    if (v.rotation == 90 || v.rotation == 270) std::swap(dw, dh);
    v.display_width = dw;
    v.display_height = dh;
    AVRational fr = av_guess_frame_rate(const_cast<AVFormatContext*>(fc), const_cast<AVStream*>(s),
                                        nullptr);
    v.frame_rate = (s->avg_frame_rate.num > 0 && s->avg_frame_rate.den > 0)
                       ? av_q2d(s->avg_frame_rate)
                       : (fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0);
    // variable_frame_rate and common_frame_rate are measured by probe() over every frame.
    v.bit_rate = p->bit_rate;
    v.frame_count = s->nb_frames;
    v.duration_seconds = stream_seconds(s);
    info.video.push_back(std::move(v));
  };
  auto add_audio = [&](int i) {
    const AVStream* s = fc->streams[i];
    const AVCodecParameters* p = s->codecpar;
    AudioStreamInfo a;
    a.index = i;
    a.codec = avcodec_get_name(p->codec_id);
    if (const char* prof = avcodec_profile_name(p->codec_id, p->profile)) a.profile = prof;
    a.sample_rate = p->sample_rate;
    a.channels = p->ch_layout.nb_channels;
    char layout[128] = {0};
    if (av_channel_layout_describe(&p->ch_layout, layout, sizeof layout) > 0) a.channel_layout = layout;
    a.bit_rate = p->bit_rate;
    a.duration_seconds = stream_seconds(s);
    info.audio.push_back(std::move(a));
  };

  // The streams Streamlet uses come first.
  add_video(input.video_stream);
  if (input.audio_stream >= 0) add_audio(input.audio_stream);
  for (unsigned i = 0; i < fc->nb_streams; ++i) {
    const AVStream* s = fc->streams[i];
    if (static_cast<int>(i) == input.video_stream || static_cast<int>(i) == input.audio_stream)
      continue;
    if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC))
      add_video(i);
    else if (s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
      add_audio(i);
  }
  return info;
}

}  // namespace detail
}  // namespace streamlet::media
