#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "media/input.hpp"
#include "streamlet/media.hpp"

namespace streamlet::media {

namespace {

// Decodes until the first video frame: proof that the stream is really decodable.
Status decode_first_frame(detail::OpenedInput& in, const std::string& path) {
  const AVStream* st = in.format->streams[in.video_stream];
  STREAMLET_ASSIGN_OR_RETURN(auto dec, detail::open_decoder(st, 1, path));
  auto pkt = detail::make_packet();
  auto frame = detail::make_frame();
  bool flushing = false;
  for (int packets = 0; packets < 2000;) {
    if (!flushing) {
      int err = av_read_frame(in.format.get(), pkt.get());
      if (err == AVERROR_EOF) {
        flushing = true;
        avcodec_send_packet(dec.get(), nullptr);
      } else if (err < 0) {
        return Status(ErrorCode::kInvalidMedia, detail::av_status(err, "read", path).message());
      } else {
        if (pkt->stream_index == in.video_stream) {
          ++packets;
          avcodec_send_packet(dec.get(), pkt.get());  // a bad packet is judged by what decodes
        }
        av_packet_unref(pkt.get());
      }
    }
    int err = avcodec_receive_frame(dec.get(), frame.get());
    if (err == 0) return Status::Ok();
    if (err == AVERROR_EOF) break;
    if (err != AVERROR(EAGAIN))
      return Status(ErrorCode::kInvalidMedia, detail::av_status(err, "decode", path).message());
  }
  return Status(ErrorCode::kInvalidMedia, path + ": the video stream has no decodable frame");
}

}  // namespace

Result<MediaInfo> probe(const std::string& path) {
  STREAMLET_ASSIGN_OR_RETURN(auto in, detail::open_input(path));
  MediaInfo info = detail::describe(in, path);
  STREAMLET_RETURN_IF_ERROR(decode_first_frame(in, path));
  // Whether the rate varies is measured over every frame, on a fresh reader.
  STREAMLET_ASSIGN_OR_RETURN(auto scan, detail::open_input(path));
  STREAMLET_ASSIGN_OR_RETURN(auto timings, detail::measure_frame_timing(scan, path));
  for (auto& v : info.video) {
    for (const auto& t : timings) {
      if (t.stream != v.index) continue;
      v.variable_frame_rate = t.variable;
      v.common_frame_rate = t.common_interval > 0 ? 1.0 / t.common_interval : 0;
    }
  }
  return info;
}

std::string MediaInfo::to_json(int indent) const {
  nlohmann::json j;
  j["path"] = path;
  j["container"] = container;
  j["container_long_name"] = container_long_name;
  j["duration_seconds"] = duration_seconds;
  j["size_bytes"] = size_bytes;
  j["bit_rate"] = bit_rate;
  j["video"] = nlohmann::json::array();
  for (const auto& v : video) {
    j["video"].push_back({{"index", v.index},
                          {"codec", v.codec},
                          {"profile", v.profile},
                          {"pixel_format", v.pixel_format},
                          {"width", v.width},
                          {"height", v.height},
                          {"display_width", v.display_width},
                          {"display_height", v.display_height},
                          {"rotation", v.rotation},
                          {"bit_depth", v.bit_depth},
                          {"chroma_subsampling", v.chroma_subsampling},
                          {"frame_rate", v.frame_rate},
                          {"common_frame_rate", v.common_frame_rate},
                          {"variable_frame_rate", v.variable_frame_rate},
                          {"bit_rate", v.bit_rate},
                          {"frame_count", v.frame_count},
                          {"duration_seconds", v.duration_seconds}});
  }
  j["audio"] = nlohmann::json::array();
  for (const auto& a : audio) {
    j["audio"].push_back({{"index", a.index},
                          {"codec", a.codec},
                          {"profile", a.profile},
                          {"sample_rate", a.sample_rate},
                          {"channels", a.channels},
                          {"channel_layout", a.channel_layout},
                          {"bit_rate", a.bit_rate},
                          {"duration_seconds", a.duration_seconds}});
  }
  return streamlet::detail::json_text(j, indent);
}

}  // namespace streamlet::media
