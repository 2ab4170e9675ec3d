// A user's whole path through the platform over HTTP: register, upload with tus, follow the
// progress stream until ready, then play HLS and DASH to the end with ffmpeg.
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "platform_helpers.hpp"

using namespace streamlet::test;

TEST_CASE("register, upload, follow events to ready, play HLS and DASH with ffmpeg") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  CHECK(server.output().find("created user admin with password") != std::string::npos);
  std::string token = register_user(server, "alice");

  auto up = tus_upload(server, token, clip_small(), {{"description", "a test card"}});
  auto video = call(server, "GET", "/v1/videos/" + up.video_id, token);
  REQUIRE(video.status == 200);
  CHECK(video.body["title"] == "clip_small");  // file name without its extension
  CHECK(video.body["description"] == "a test card");
  CHECK(video.body["visibility"] == "public");
  CHECK(video.body["owner"]["username"] == "alice");

  auto events = follow_events(server, token, up.video_id);
  CHECK(final_status(events) == "ready");

  video = call(server, "GET", "/v1/videos/" + up.video_id);  // anonymous: public and ready
  REQUIRE(video.status == 200);
  CHECK(video.body["status"] == "ready");
  CHECK(video.body["duration_seconds"].get<double>() == doctest::Approx(4.0).epsilon(0.05));
  CHECK(video.body["renditions"].size() == 1);
  CHECK(video.body["page"] == "/watch/" + up.video_id);
  std::string hls = video.body["playback"]["hls"];
  std::string dash = video.body["playback"]["dash"];
  CHECK(decode_url(server.base_url() + hls) == "");
  CHECK(decode_url(server.base_url() + dash) == "");
  auto poster = server.client().Get(video.body["poster"].get<std::string>().c_str());
  REQUIRE(poster);
  CHECK(poster->status == 200);
  CHECK(poster->get_header_value("Content-Type") == "image/jpeg");

  // Listed for everyone; a view beacon counts once per viewer; the job is done.
  auto list = call(server, "GET", "/v1/videos?q=test%20card");
  CHECK(list.body["total"] == 1);
  for (int i = 0; i < 2; ++i)
    CHECK(call(server, "POST", "/v1/videos/" + up.video_id + "/views", "",
               R"({"viewer":"v1","seconds":2.5})")
              .status == 204);
  auto stats = call(server, "GET", "/v1/videos/" + up.video_id + "/stats", token);
  CHECK(stats.body["views"] == 1);
  CHECK(stats.body["watch_seconds"].get<double>() == doctest::Approx(5.0));
  CHECK(finished_job(server, token)["video_id"] == up.video_id);

  // An already finished video: one status event, then the stream ends.
  auto again = follow_events(server, "", up.video_id);
  REQUIRE(again.size() == 1);
  CHECK(again[0].data["status"] == "ready");
}

TEST_CASE("a private video plays only through the signed URLs the API hands out") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_small(), {{"visibility", "private"}, {"title", "Mine"}});
  CHECK(final_status(follow_events(server, token, up.video_id)) == "ready");
  auto video = call(server, "GET", "/v1/videos/" + up.video_id, token);
  REQUIRE(video.status == 200);
  CHECK(video.body["title"] == "Mine");
  std::string hls = video.body["playback"]["hls"];
  CHECK(hls.find("?exp=") != std::string::npos);
  CHECK(decode_url(server.base_url() + hls) == "");
  CHECK(decode_url(server.base_url() + video.body["playback"]["dash"].get<std::string>()) == "");
  // Without the signature: refused; to strangers the video does not exist.
  std::string bare = hls.substr(0, hls.find('?'));
  CHECK(server.client().Get(bare.c_str())->status == 403);
  CHECK(call(server, "GET", "/v1/videos/" + up.video_id).status == 404);
  CHECK(call(server, "GET", "/v1/videos").body["total"] == 0);
  CHECK(call(server, "GET", "/v1/videos", token).body["total"] == 1);
}

TEST_CASE("a failed transcode tells its owner why, naming their file and not the server's paths") {
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder({"--max-attempts", "1"}));
  std::string token = register_user(server, "alice");
  write_file(dir / "holiday notes.mp4", "these are notes, not a video\n");
  auto up = tus_upload(server, token, dir / "holiday notes.mp4");
  auto events = follow_events(server, token, up.video_id);
  CHECK(final_status(events) == "failed");
  auto video = call(server, "GET", "/v1/videos/" + up.video_id, token);
  REQUIRE(video.status == 200);
  std::string reason = video.body["status_reason"];
  CHECK_MESSAGE(reason.find("holiday notes.mp4") != std::string::npos, reason);
  CHECK_MESSAGE(reason.find((dir / "data").string()) == std::string::npos, reason);
  CHECK_MESSAGE(reason.find("uploads/") == std::string::npos, reason);
}

TEST_CASE("a transcode that fills the disk says so, without naming the server's storage paths") {
  // The local layout itself: renditions written under DATA/media on a full file system. On
  // S3 they go to the bucket, not to a disk of this node.
  if (kPlatformOnPgS3) STREAMLET_SKIP("local storage only: the output is not on a local disk on S3");
  // A private mount namespace, so the small file system is this test's alone.
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr)) {
    MESSAGE("SKIPPED: no mount namespace here (needs CAP_SYS_ADMIN): ", std::strerror(errno));
    std::exit(77);
  }
  TempDir dir;
  const fs::path media = dir / "data" / "media";
  fs::create_directories(media);
  // Uploads land on the normal disk; the renditions on 512 KiB, which they do not fit in.
  if (::mount("tmpfs", media.c_str(), "tmpfs", 0, "size=512k,mode=0700") != 0) {
    MESSAGE("SKIPPED: cannot mount a tmpfs: ", std::strerror(errno));
    std::exit(77);
  }
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{media};
  ServerProcess server(dir / "data", "admin-key",
                       {"--ladder", "480p:6000k", "--preset", "ultrafast", "--max-attempts", "1"});
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_480p_audio());
  CHECK(final_status(follow_events(server, token, up.video_id)) == "failed");
  auto video = call(server, "GET", "/v1/videos/" + up.video_id, token);
  const std::string reason = video.body["status_reason"];
  CHECK_MESSAGE(reason.find("disk space") != std::string::npos, reason);
  for (const std::string& leak : {(dir / "data").string(), std::string("/media"),
                                  std::string("streamlet-tmp"), std::string("uploads/")})
    CHECK_MESSAGE(reason.find(leak) == std::string::npos, reason);
  auto jobs = call(server, "GET", "/v1/jobs?state=failed", token);
  REQUIRE(jobs.body["items"].size() == 1);
  const std::string last_error = jobs.body["items"][0]["last_error"];
  CHECK_MESSAGE(last_error.find((dir / "data").string()) == std::string::npos, last_error);
  CHECK_MESSAGE(last_error.find("streamlet-tmp") == std::string::npos, last_error);
  // The failed attempt left nothing on the full file system.
  CHECK(fs::is_empty(media));
}
