#include <nlohmann/json.hpp>

#include "streamlet/media.hpp"
#include "support/support.hpp"

using namespace streamlet::test;
using streamlet::ErrorCode;

TEST_CASE("probe describes container, streams, size, rate and audio layout") {
  auto info = streamlet::media::probe(clip_small().string());
  REQUIRE_MESSAGE(info.ok(), info.status().to_string());
  CHECK(info->container.find("mp4") != std::string::npos);
  CHECK(info->duration_seconds == doctest::Approx(4.0).epsilon(0.02));
  REQUIRE(info->video.size() == 1);
  const auto& v = info->video[0];
  CHECK(v.codec == "h264");
  CHECK(v.width == 320);
  CHECK(v.height == 240);
  CHECK(v.display_width == 320);
  CHECK(v.frame_rate == doctest::Approx(25.0));
  CHECK(v.rotation == 0);
  CHECK(v.bit_depth == 8);
  CHECK(v.chroma_subsampling == "4:2:0");
  REQUIRE(info->audio.size() == 1);
  CHECK(info->audio[0].codec == "aac");
  CHECK(info->audio[0].sample_rate == 44100);
  CHECK(info->audio[0].channels == 1);
  CHECK(info->audio[0].channel_layout == "mono");

  // The JSON agrees with ffprobe, the independent reader.
  auto mine = nlohmann::json::parse(info->to_json());
  auto theirs = ffprobe(clip_small());
  CHECK(mine["video"][0]["width"] == theirs["streams"][0]["width"]);
  CHECK(mine["size_bytes"].get<int64_t>() == std::stoll(theirs["format"]["size"].get<std::string>()));
}

TEST_CASE("probe reports a non-square pixel aspect ratio as its display size") {
  auto anamorphic = fixture("anamorphic.mp4", {"-f", "lavfi", "-i", "testsrc2=size=480x480:rate=25:duration=1",
                                               "-vf", "setsar=4/3", "-c:v", "libx264", "-preset", "ultrafast"});
  auto info = streamlet::media::probe(anamorphic.string());
  REQUIRE(info.ok());
  CHECK(info->video[0].display_width == 640);
  CHECK(info->video[0].display_height == 480);
}

TEST_CASE("probe refuses what is not a video, with the reason") {
  TempDir d;
  write_file(d / "hello.txt", "hello");
  auto r = streamlet::media::probe((d / "hello.txt").string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidMedia);
  auto missing = streamlet::media::probe((d / "missing.mov").string());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(streamlet::media::probe(d.path().string()).status().code() == ErrorCode::kInvalidMedia);
}
