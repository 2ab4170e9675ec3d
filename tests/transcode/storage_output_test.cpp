// The transcoder writing through storage: one publication on a prefix, checked from the
// outside (a listing, ffprobe and ffmpeg on the published files), and a cancelled run that
// leaves the prefix as it was.
#include <set>

#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"
#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace tc = streamlet::transcode;
namespace st = streamlet::storage;
namespace mf = streamlet::test::manifest;

namespace {

std::map<std::string, uint64_t> listing(st::Storage& s, const std::string& prefix) {
  std::map<std::string, uint64_t> out;
  streamlet::Status status = s.list(prefix, [&](const st::ObjectInfo& i) {
    out[i.key] = i.size;
    return true;
  });
  REQUIRE_MESSAGE(status.ok(), status.to_string());
  return out;
}

std::vector<std::string> hidden_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().starts_with(".")) out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST_CASE(
    "a transcode into a storage prefix publishes every object its manifests name, and the HLS "
    "master plays") {
  TempDir d;
  auto store = st::open_local({.root = d / "data", .durable = false}).value();
  REQUIRE(store->put("media/v1/old_output.txt", "from an earlier run").ok());
  REQUIRE(store->put("media/v10/keep.txt", "a neighbour").ok());

  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k,180p:200k").value();
  o.segment_seconds = 2;
  o.keyframe_interval_seconds = 1;
  auto r = tc::transcode(clip_small().string(), *store, "media/v1/", o);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->output_dir == "media/v1/");
  CHECK(r->hls_master == "media/v1/master.m3u8");
  CHECK(r->dash_manifest == "media/v1/manifest.mpd");
  CHECK(r->poster == "media/v1/poster.jpg");
  CHECK(r->storyboard == "media/v1/storyboard.vtt");

  const auto objects = listing(*store, "media/v1/");
  CHECK(objects.count("media/v1/old_output.txt") == 0);  // the whole prefix was replaced
  for (const std::string name :
       {"master.m3u8", "manifest.mpd", "summary.json", "poster.jpg", "storyboard.vtt",
        "storyboard_1.jpg", "240p/init.mp4", "240p/index.m3u8", "240p/iframes.m3u8",
        "180p/init.mp4", "audio/init.mp4", "audio/index.m3u8"})
    CHECK_MESSAGE(objects.count("media/v1/" + name) == 1, name);
  CHECK(store->get("media/v10/keep.txt").value() == "a neighbour");

  // Every URI of every HLS playlist is a listed object; every listed object is readable
  // and as long as the listing says.
  std::set<std::string> named;
  auto master = mf::lines(store->get("media/v1/master.m3u8").value());
  for (const auto& line : master) {
    if (!line.empty() && line[0] != '#') named.insert("media/v1/" + line);
    size_t uri = line.find("URI=\"");
    if (uri != std::string::npos)
      named.insert("media/v1/" + line.substr(uri + 5, line.find('"', uri + 5) - uri - 5));
  }
  for (const std::string& playlist : std::set<std::string>(named)) {
    if (!playlist.ends_with(".m3u8")) continue;
    REQUIRE_MESSAGE(objects.count(playlist) == 1, playlist);
    const std::string dir = playlist.substr(0, playlist.rfind('/') + 1);
    for (const auto& line : mf::lines(store->get(playlist).value())) {
      if (!line.empty() && line[0] != '#') named.insert(dir + line);
      size_t uri = line.find("URI=\"");
      if (uri != std::string::npos)
        named.insert(dir + line.substr(uri + 5, line.find('"', uri + 5) - uri - 5));
    }
  }
  CHECK(named.size() > 10);
  for (const auto& key : named)
    CHECK_MESSAGE(objects.count(key) == 1, key << " is named but not published");
  for (const auto& [key, size] : objects) {
    CAPTURE(key);
    auto reader = store->open(key);
    REQUIRE(reader.ok());
    CHECK(reader.value()->info().size == size);
    CHECK(size > 0);
  }

  // Measured bitrates are those of the bytes published.
  for (const auto& v : r->video) {
    uint64_t bytes = 0;
    size_t segments = 0;
    for (const auto& [key, size] : objects)
      if (key.starts_with("media/v1/" + v.id + "/seg_")) bytes += size, ++segments;
    CAPTURE(v.id);
    CHECK(segments == v.segments);
    CHECK(double(v.average_bitrate) ==
          doctest::Approx(bytes * 8.0 / v.duration_seconds).epsilon(0.01));
  }
  REQUIRE(r->audio.has_value());
  size_t audio_segments = 0;
  for (const auto& [key, size] : objects) audio_segments += key.starts_with("media/v1/audio/seg_");
  CHECK(audio_segments == r->audio->segments);
  CHECK(audio_segments == r->video.front().segments);

  // ffprobe and ffmpeg on the published master, as a player would read it.
  const fs::path master_file =
      store->local_file("media/v1/master.m3u8", d / "scratch").value().path;
  auto probed = ffprobe(master_file);
  REQUIRE(probed.contains("streams"));
  std::set<std::string> kinds;
  for (const auto& s : probed["streams"]) kinds.insert(s.value("codec_type", ""));
  CHECK(kinds.count("video") == 1);
  CHECK(kinds.count("audio") == 1);
  CHECK(std::stod(probed["format"].value("duration", "0")) == doctest::Approx(4.0).epsilon(0.1));
  CHECK(decode_errors(master_file) == "");
  CHECK(hidden_entries(d / "data").empty());
}

TEST_CASE(
    "a transcode into storage cancelled midway leaves nothing under the prefix and the old output "
    "intact") {
  TempDir d;
  auto store = st::open_local({.root = d / "data", .durable = false}).value();
  REQUIRE(store->put("media/v1/master.m3u8", "#EXTM3U old").ok());
  REQUIRE(store->put("media/v1/240p/seg_00001.m4s", "old segment").ok());
  const auto before = listing(*store, "");

  for (const std::string prefix : {"media/v1/", "media/v2/"}) {
    CAPTURE(prefix);
    tc::CancelToken cancel;
    bool saw_progress = false;
    auto progress = [&](const tc::Progress& p) {
      if (p.fraction >= 0.25 && !cancel.cancelled()) {
        saw_progress = true;
        cancel.cancel();
      }
    };
    tc::Options o;
    o.ladder = tc::parse_ladder("240p:300k").value();
    auto r = tc::transcode(clip_480p_audio().string(), *store, prefix, o, progress, cancel);
    REQUIRE(saw_progress);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == streamlet::ErrorCode::kCancelled);
    CHECK(listing(*store, "") == before);
    CHECK(store->get("media/v1/master.m3u8").value() == "#EXTM3U old");
    CHECK(store->get("media/v1/240p/seg_00001.m4s").value() == "old segment");
    CHECK(hidden_entries(d / "data").empty());
  }
  CHECK_FALSE(fs::exists(d / "data/media/v2"));
}

TEST_CASE("a transcode into storage refuses a prefix that is not a directory key") {
  TempDir d;
  auto store = st::open_local({.root = d / "data", .durable = false}).value();
  for (const std::string prefix : {"", "media/v1", "../v1/", "/abs/", "media//v1/"}) {
    CAPTURE(prefix);
    auto r = tc::transcode(clip_small().string(), *store, prefix);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == streamlet::ErrorCode::kInvalidArgument);
  }
  CHECK(listing(*store, "").empty());
}
