// Watching a video while it is still being transcoded, over HTTP as a player would: the
// video's JSON turns playable while processing, its HLS media playlist is an EVENT playlist
// that grows, every segment it lists answers, ffprobe reads the partial stream, the SSE
// stream says when it became playable, and the finished manifests are an unprogressive run's.
// A transcode stopped half way withdraws what it had shown.
#include <regex>
#include <set>

#include "platform_helpers.hpp"
#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

using namespace streamlet::test;
namespace mf = streamlet::test::manifest;

namespace {

// 8 s at 640x360 with audio, transcoded with a slow preset into 2 s segments: four segments
// shown one after another, each about a second of encoding apart on a quiet machine (the
// playlist is read every 100 ms), while the whole case stays a few seconds long.
fs::path clip_8s() {
  return fixture("clip_8s_360p.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=8", "-f", "lavfi",
                  "-i", "sine=frequency=440:sample_rate=48000:duration=8", "-c:v", "libx264",
                  "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
}

std::vector<std::string> slow_server(std::vector<std::string> extra = {}) {
  extra.insert(extra.end(),
               {"--ladder", "360p:600k", "--preset", "veryslow", "--segment-seconds", "2"});
  return extra;
}

std::string get_body(const ServerProcess& s, const std::string& path, int* status = nullptr) {
  auto r = s.client().Get(path.c_str());
  REQUIRE_MESSAGE(r, "GET " << path << ": no answer");
  if (status) *status = r->status;
  return r->body;
}

std::vector<std::string> uris(const std::string& playlist) {
  std::vector<std::string> out;
  for (const auto& line : mf::lines(playlist))
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

// The video's JSON, polled until `done` says so (or 120 s pass).
json poll_video(const ServerProcess& s, const std::string& token, const std::string& id,
                const std::function<bool(const json&)>& done) {
  json last;
  wait_for([&] {
    auto a = call(s, "GET", "/v1/videos/" + id, token);
    last = a.body;
    return a.status == 200 && done(last);
  });
  return last;
}

}  // namespace

TEST_CASE("a processing video plays from its growing EVENT playlist, then ends as the VOD one") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", slow_server());
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_8s());

  // The SSE stream, followed from the start in the background.
  std::vector<SseEvent> events;
  std::thread follower([&] { events = follow_events(server, token, up.video_id); });
  struct Join {
    std::thread& t;
    ~Join() { if (t.joinable()) t.join(); }
  } join{follower};

  json video = poll_video(server, token, up.video_id, [](const json& v) {
    return v.value("playable", false) || v.value("status", "") == "ready";
  });
  REQUIRE_MESSAGE(video["status"] == "processing", video.dump());
  REQUIRE(video["playable"] == true);
  const std::string master_url = video["playback"]["hls"];
  CHECK(video["playback"].contains("dash"));
  CHECK(master_url == "/media/" + up.video_id + "/master.m3u8");

  // The media playlist while processing: EVENT, no ENDLIST, growing; every segment it lists
  // answers 200; ffprobe reads the partial stream.
  const std::string media_url = "/media/" + up.video_id + "/360p/index.m3u8";
  int status = 0;
  std::vector<std::string> versions;
  std::string probe_error = "not probed";
  for (int i = 0; i < 600; ++i) {
    std::string text = get_body(server, media_url, &status);
    REQUIRE(status == 200);
    if (text.find("#EXT-X-ENDLIST") != std::string::npos) break;  // finished meanwhile
    if (versions.empty() || text != versions.back()) {
      versions.push_back(text);
      auto ls = mf::lines(text);
      CHECK(mf::tag_value(ls, "#EXT-X-PLAYLIST-TYPE") == "EVENT");
      for (const auto& uri : uris(text)) {
        get_body(server, "/media/" + up.video_id + "/360p/" + uri, &status);
        CHECK_MESSAGE(status == 200, uri);
      }
      if (versions.size() == 1) {
        // ffprobe and ffmpeg read the partial stream: the init segment and those listed,
        // fetched as a player does (on the playlist itself they would wait for its end).
        const std::string base = "/media/" + up.video_id + "/360p/";
        std::string joined = get_body(server, base + "init.mp4");
        for (const auto& uri : uris(text)) joined += get_body(server, base + uri);
        write_file(dir / "partial.mp4", joined);
        auto probed = ffprobe(dir / "partial.mp4");
        CHECK(probed.contains("streams"));
        CHECK(std::stod(probed["format"].value("duration", "0")) >= 1.9);
        probe_error = decode_errors(dir / "partial.mp4");
        // ffprobe reads the dynamic MPD as it is now, over HTTP: both streams, the listed length.
        const std::string mpd_url = server.base_url() + "/media/" + up.video_id + "/manifest.mpd";
        auto from_mpd = ffprobe(mpd_url);
        CHECK_MESSAGE(from_mpd.contains("streams"), mpd_url);
        if (from_mpd.contains("streams")) CHECK(from_mpd["streams"].size() == 2);
        auto head = server.client().Get(media_url.c_str());
        REQUIRE(head);
        // A growing playlist is revalidated by every cache, never kept.
        CHECK(head->get_header_value("Cache-Control").find("no-cache") != std::string::npos);
      }
      if (versions.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(probe_error == "");
  REQUIRE_MESSAGE(versions.size() >= 2, "the playlist did not grow while processing");
  for (size_t i = 1; i < versions.size(); ++i) {
    CHECK(uris(versions[i]).size() > uris(versions[i - 1]).size());
    CHECK(versions[i].starts_with(versions[i - 1]));
  }

  follower.join();
  CHECK(final_status(events) == "ready");
  size_t playable_at = events.size(), processing_at = events.size();
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].event == "playable" && playable_at == events.size()) playable_at = i;
    if (events[i].event == "status" && events[i].data["status"] == "processing")
      processing_at = std::min(processing_at, i);
  }
  REQUIRE_MESSAGE(playable_at < events.size(), "no playable event");
  CHECK(events[playable_at].data["playable"] == true);
  CHECK(processing_at < playable_at);

  // Ready: the VOD playlists, byte for byte what a server that does not publish
  // progressively makes of the same file.
  video = call(server, "GET", "/v1/videos/" + up.video_id, token).body;
  CHECK(video["status"] == "ready");
  CHECK(video["playable"] == true);
  auto vod = mf::lines(get_body(server, media_url));
  CHECK(mf::tag_value(vod, "#EXT-X-PLAYLIST-TYPE") == "VOD");
  CHECK(vod.back() == "#EXT-X-ENDLIST");
  CHECK(decode_url(server.base_url() + master_url) == "");

  TempDir other;
  ServerProcess plain(other / "data", "admin-key", slow_server({"--no-progressive"}));
  std::string plain_token = register_user(plain, "alice");
  auto plain_up = tus_upload(plain, plain_token, clip_8s());
  // Without progressive publishing nothing grows: a processing video is not playable, except
  // in the moment its finished output is being published (on S3, the copies in from staging
  // take a while before the video turns ready), and then its playlists are the VOD ones.
  std::string grown;
  json done = poll_video(plain, plain_token, plain_up.video_id, [&](const json& v) {
    if (v.value("status", "") == "processing" && v.value("playable", false)) {
      int st = 0;
      std::string pl = get_body(plain, "/media/" + plain_up.video_id + "/360p/index.m3u8", &st);
      if (st == 200 && pl.find("#EXT-X-ENDLIST") == std::string::npos) grown = pl;
    }
    return v.value("status", "") == "ready";
  });
  REQUIRE(done["status"] == "ready");
  CHECK_MESSAGE(grown.empty(), "a growing playlist without --progressive: " << grown);
  // The media playlists byte for byte; the files that carry byte counts (bit rates, I-frame
  // byte ranges) with those numbers left out: x264 on more than one thread does not give the
  // same bytes twice here. (tests/transcode/progressive_test.cpp runs one thread and
  // compares every object whole.)
  auto without_sizes = [](std::string text) {
    static const std::regex sizes(
        R"((BANDWIDTH=|bandwidth=\"|BYTERANGE:)[0-9]+(@[0-9]+)?)");
    return std::regex_replace(text, sizes, "$1N");
  };
  for (const std::string name :
       {"master.m3u8", "manifest.mpd", "360p/index.m3u8", "360p/iframes.m3u8", "audio/index.m3u8"}) {
    const std::string a = get_body(server, "/media/" + up.video_id + "/" + name);
    const std::string b = get_body(plain, "/media/" + plain_up.video_id + "/" + name);
    if (name.ends_with("index.m3u8"))
      CHECK_MESSAGE(a == b, name);
    else
      CHECK_MESSAGE(without_sizes(a) == without_sizes(b), name);
  }
}

TEST_CASE("a progressive transcode stopped half way withdraws what it showed") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", slow_server());
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_8s());
  json video = poll_video(server, token, up.video_id, [](const json& v) {
    return v.value("playable", false) || v.value("status", "") != "processing" &&
                                             v.value("status", "") != "queued";
  });
  REQUIRE_MESSAGE(video["playable"] == true, video.dump());
  REQUIRE(video["status"] == "processing");
  const std::string master = video["playback"]["hls"];
  int status = 0;
  get_body(server, master, &status);
  CHECK(status == 200);

  // The owner cancels the job half way (as a dead-lettered or killed attempt ends).
  auto jobs = call(server, "GET", "/v1/jobs", token);
  REQUIRE(jobs.status == 200);
  REQUIRE(!jobs.body["items"].empty());
  const std::string job = jobs.body["items"][0]["id"];
  auto cancelled = call(server, "POST", "/v1/jobs/" + job + "/cancel", token);
  CHECK_MESSAGE(cancelled.status / 100 == 2, cancelled.body.dump());
  video = poll_video(server, token, up.video_id,
                     [](const json& v) { return v.value("status", "") == "failed"; });
  CHECK(video["status"] == "failed");
  CHECK(video["playable"] == false);
  CHECK_FALSE(video.contains("playback"));
  wait_for([&] {
    get_body(server, master, &status);
    return status == 404;
  }, 10);
  CHECK(status == 404);
  get_body(server, "/media/" + up.video_id + "/360p/seg_00001.m4s", &status);
  CHECK(status == 404);
}
