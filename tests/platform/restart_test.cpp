// Crash and shutdown safety: a transcode interrupted by kill -9 or SIGTERM is picked up again
// after a restart on the same data directory, and nothing of the interrupted attempt is served.
#include <sys/wait.h>

#include <mutex>
#include <set>
#include <sstream>

#include "platform_helpers.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"

using namespace streamlet::test;

namespace {

fs::path clip_20s() {
  return fixture("clip_640x360_20s.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=20", "-f", "lavfi",
                  "-i", "sine=frequency=440:sample_rate=44100:duration=20", "-c:v", "libx264",
                  "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
}

// Waits until the video's job is running (as its owner sees it in /v1/jobs).
json wait_running(const ServerProcess& s, const std::string& token) {
  json job;
  wait_for([&] {
    auto a = call(s, "GET", "/v1/jobs?state=running", token);
    if (a.status != 200 || a.body["items"].empty()) return false;
    job = a.body["items"][0];
    return true;
  });
  REQUIRE_MESSAGE(!job.is_null(), "the transcode never started");
  return job;
}

// True once the video's transcode has written a media segment into its unpublished output
// (locally its hidden work directory media/.<id>.streamlet-tmp-...; on S3 the staging area,
// where the one transcode running is this video's): it is under way, not finished.
bool writing_segments(const fs::path& data, const std::string& id) {
  const std::string prefix = kPlatformOnPgS3 ? "" : "." + id + ".streamlet-tmp-";
  for (const std::string& key : backends_of(data).staged_objects())
    if (key.rfind(prefix, 0) == 0 && fs::path(key).extension() == ".m4s") return true;
  return false;
}

// True when the storage holds any object of the video's published output.
bool published(const fs::path& data, const std::string& id) {
  return has_objects(backends_of(data).storage(), "media/" + id + "/");
}

bool upload_data_stored(const fs::path& data, const std::string& upload_path) {
  const std::string key = "uploads/" + upload_path.substr(upload_path.rfind('/') + 1) + ".bin";
  auto st = backends_of(data).storage().stat(key);
  REQUIRE_MESSAGE((st.ok() || st.status().code() == streamlet::ErrorCode::kNotFound),
                  st.status().to_string());
  return st.ok();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void check_published(const ServerProcess& s, const fs::path& data, const std::string& token,
                     const std::string& id) {
  auto video = call(s, "GET", "/v1/videos/" + id, token);
  REQUIRE(video.body["status"] == "ready");
  const std::string hls = s.base_url() + video.body["playback"]["hls"].get<std::string>();
  CHECK(decode_url(hls) == "");
  CHECK(decode_url(s.base_url() + video.body["playback"]["dash"].get<std::string>()) == "");
  // Decoded to the end: the played duration is the source's.
  auto probe = ffprobe(hls);
  CHECK(std::stod(probe["format"]["duration"].get<std::string>()) ==
        doctest::Approx(20.0).epsilon(0.05));
  // The media root holds the published video and, at most, hidden leftovers of the killed
  // attempt, which are never served; the video's own directory has no hidden work files.
  std::set<std::string> names;
  auto listed = backends_of(data).storage().list("media/", [&](const auto& o) {
    const std::string rest = o.key.substr(6);
    names.insert(rest.substr(0, rest.find('/')));
    if (rest.rfind(id + "/", 0) == 0)
      for (const auto& part : fs::path(rest))
        CHECK_MESSAGE(part.string()[0] != '.', o.key);
    return true;
  });
  REQUIRE_MESSAGE(listed.ok(), listed.to_string());
  CHECK(names.count(id) == 1);
  if (!kPlatformOnPgS3)  // the local tree itself, hidden entries included
    for (const auto& name : entries(data / "media")) names.insert(name);
  for (const std::string& staged : backends_of(data).staged_objects())
    names.insert(staged.substr(0, staged.find('/')));
  for (const auto& name : names) {
    if (name == id) continue;
    CHECK_MESSAGE((kPlatformOnPgS3 || name[0] == '.'), "unexpected entry in media/: " << name);
    auto r = s.client().Get(("/media/" + name + "/master.m3u8").c_str());
    CHECK(r->status == 404);
  }
  if (!kPlatformOnPgS3)
    for (const auto& e : fs::recursive_directory_iterator(data / "media" / id))
      CHECK_MESSAGE(e.path().filename().string()[0] != '.', e.path());
}

}  // namespace

TEST_CASE("kill -9 during a transcode: after a restart the job is recovered and completes") {
  TempDir dir;
  ServerProcess server(
      dir / "data", "admin-key",
      {"--workers", "1", "--ladder", "360p:800k,240p:300k", "--preset", "veryfast"});
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_20s());
  auto job = wait_running(server, token);
  CHECK(job["video_id"] == up.video_id);
  wait_for([&] { return writing_segments(dir / "data", up.video_id); });
  REQUIRE_MESSAGE(writing_segments(dir / "data", up.video_id),
                  "no output was being written");
  server.kill9();
  CHECK_FALSE(published(dir / "data", up.video_id));  // never half published

  server.restart();
  auto events = follow_events(server, token, up.video_id);
  CHECK(final_status(events) == "ready");
  auto done = finished_job(server, token);
  CHECK(done["video_id"] == up.video_id);
  CHECK(done["attempts"] == 2);
  check_published(server, dir / "data", token, up.video_id);
}

TEST_CASE("SIGTERM during a transcode exits 0 and puts the job back without spending an attempt") {
  TempDir dir;
  ServerProcess server(
      dir / "data", "admin-key",
      {"--workers", "1", "--ladder", "360p:800k,240p:300k", "--preset", "veryfast"});
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_20s());
  auto job = wait_running(server, token);
  const std::string job_id = job["id"].get<std::string>();
  CHECK(job["attempts"] == 1);
  wait_for([&] { return writing_segments(dir / "data", up.video_id); });
  REQUIRE_MESSAGE(writing_segments(dir / "data", up.video_id),
                  "no output was being written");
  int status = server.stop_with(SIGTERM);
  CHECK_MESSAGE(WIFEXITED(status), "ended by signal " << WTERMSIG(status) << ": " << server.output());
  CHECK(WEXITSTATUS(status) == 0);

  // With the server gone, its stores say what the signal did. Nothing was published, so
  // the job was still running when the signal came (a finished one would be published
  // and succeeded), and it was given back: queued, due, the attempt not counted.
  CHECK_FALSE(published(dir / "data", up.video_id));
  {
    auto queue = backends_of(dir / "data").open_queue();
    REQUIRE_MESSAGE(queue.ok(), queue.status().to_string());
    auto stored = (*queue)->get(job_id);
    REQUIRE_MESSAGE(stored.ok(), stored.status().to_string());
    CHECK(streamlet::jobs::to_string(stored->state) == "queued");
    CHECK(stored->attempts == 0);
    CHECK(stored->lease_owner == "");
    CHECK(stored->last_error == "");
    auto catalog = backends_of(dir / "data").open_catalog();
    REQUIRE_MESSAGE(catalog.ok(), catalog.status().to_string());
    auto video = (*catalog)->get_video(up.video_id);
    REQUIRE_MESSAGE(video.ok(), video.status().to_string());
    CHECK(video->status == streamlet::catalog::VideoStatus::kQueued);
  }

  server.restart();
  CHECK(final_status(follow_events(server, token, up.video_id)) == "ready");
  auto done = finished_job(server, token);
  CHECK(done["id"] == job_id);  // the same job, taken up again
  CHECK(done["attempts"] == 1);
  check_published(server, dir / "data", token, up.video_id);
}

TEST_CASE("cancel and retry a running transcode, and deleting a video mid-transcode leaves nothing") {
  TempDir dir;
  ServerProcess server(
      dir / "data", "admin-key",
      {"--workers", "1", "--ladder", "360p:800k,240p:300k", "--preset", "veryfast"});
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_20s());
  auto job = wait_running(server, token);
  const std::string job_path = "/v1/jobs/" + job["id"].get<std::string>();

  auto cancel = call(server, "POST", job_path + "/cancel", token);
  CHECK(cancel.status == 200);
  CHECK(final_status(follow_events(server, token, up.video_id)) == "failed");
  wait_for([&] {
    return call(server, "GET", "/v1/jobs?state=cancelled", token).body["items"].size() == 1;
  });
  CHECK(call(server, "POST", job_path + "/cancel", token).status == 409);  // already finished
  CHECK_FALSE(published(dir / "data", up.video_id));

  auto retry = call(server, "POST", job_path + "/retry", token);
  CHECK(retry.status == 200);
  CHECK(retry.body["state"] == "queued");
  CHECK(final_status(follow_events(server, token, up.video_id)) == "ready");
  check_published(server, dir / "data", token, up.video_id);

  // A second video, deleted while it transcodes: its job is cancelled and no file remains.
  auto second = tus_upload(server, token, clip_20s());
  wait_for([&] {
    auto a = call(server, "GET", "/v1/jobs?state=running", token);
    return !a.body["items"].empty() && a.body["items"][0]["video_id"] == second.video_id;
  });
  CHECK(call(server, "DELETE", "/v1/videos/" + second.video_id, token).status == 204);
  wait_for(
      [&] { return call(server, "GET", "/v1/jobs?state=running", token).body["items"].empty(); });
  // The worker cleans up right after the job leaves "running".
  wait_for([&] { return !published(dir / "data", second.video_id); }, 30);
  CHECK_FALSE(published(dir / "data", second.video_id));
  CHECK_FALSE(upload_data_stored(dir / "data", second.upload_path));
  CHECK(call(server, "GET", "/v1/videos/" + second.video_id, token).status == 404);
  CHECK(server.client().Get(("/media/" + second.video_id + "/master.m3u8").c_str())->status == 404);
}

namespace {

struct Followed {
  std::vector<SseEvent> events;
  bool ended = false;  // the server ended the stream (rather than the test giving up)
};

// Follows /v1/videos/{id}/events for at most about `seconds`.
Followed follow_for(const ServerProcess& s, const std::string& token, const std::string& id,
                    int seconds) {
  auto c = s.client();
  c.set_read_timeout(seconds, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string buffer;
  Followed out;
  auto r = c.Get(("/v1/videos/" + id + "/events").c_str(), bearer(token),
                 [&](const char* data, size_t n) {
                   take_sse_events(buffer, data, n, out.events);
                   return std::chrono::steady_clock::now() < deadline;
                 });
  out.ended = r && r->status == 200;
  return out;
}

// A transcode's unpublished output exists: locally a hidden entry in media/ (even before
// its first file), on S3 an object in the staging area.
bool has_work_dir(const fs::path& data) {
  if (kPlatformOnPgS3) return !backends_of(data).staged_objects().empty();
  for (const auto& name : entries(data / "media"))
    if (name[0] == '.') return true;
  return false;
}

}  // namespace

TEST_CASE("a transcode that kills the server three times ends failed: told, streamed, swept") {
  // A real receiver on loopback that records the webhooks it is sent.
  httplib::Server receiver;
  std::mutex mu;
  std::vector<json> hooks;
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    hooks.push_back(json::parse(req.body, nullptr, false));
    res.status = 204;
  });
  int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { receiver.listen_after_bind(); });
  struct Stop {
    httplib::Server& r;
    std::thread& t;
    ~Stop() {
      r.stop();
      t.join();
    }
  } stop_receiver{receiver, serving};

  TempDir dir;
  const fs::path data = dir / "data";
  const std::string hook = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  ServerProcess server(dir / "data", "admin-key",
                       {"--workers", "1", "--ladder", "360p:800k,240p:300k", "--preset", "veryfast",
                        "--max-attempts", "3", "--webhook", hook});
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_20s());
  // What earlier attempts staged: each attempt's own is new (an attempt sweeps what the one
  // before it left, so an old name seen here says nothing about this attempt).
  std::set<std::string> earlier;
  auto staged_by_this_attempt = [&] {
    for (const std::string& key : backends_of(data).staged_objects())
      if (!earlier.count(key)) return true;
    return false;
  };
  for (int attempt = 1; attempt <= 3; ++attempt) {
    CAPTURE(attempt);
    auto job = wait_running(server, token);
    CHECK(job["attempts"] == attempt);
    // Killed while its work directory is being written.
    wait_for(staged_by_this_attempt, 60);
    server.kill9();
    CHECK(staged_by_this_attempt());
    CHECK(has_work_dir(data));
    for (const std::string& key : backends_of(data).staged_objects()) earlier.insert(key);
    server.restart();
    if (attempt < 3) {
      // The video waits for its next attempt again.
      auto v = call(server, "GET", "/v1/videos/" + up.video_id, token);
      CHECK(v.body["status"] != "failed");
    }
  }
  // Out of attempts: the start that recovers it dead-letters the job and fails the video.
  auto video = call(server, "GET", "/v1/videos/" + up.video_id, token);
  CHECK(video.body["status"] == "failed");
  const std::string reason = video.body["status_reason"];
  CHECK_MESSAGE(reason.find("interrupted") != std::string::npos, reason);
  CHECK_MESSAGE(reason.find("3") != std::string::npos, reason);
  auto failed = call(server, "GET", "/v1/jobs?state=failed", token);
  REQUIRE(failed.body["items"].size() == 1);
  CHECK(failed.body["items"][0]["attempts"] == 3);

  // Its progress stream gives the final status and ends.
  auto followed = follow_for(server, token, up.video_id, 20);
  CHECK(followed.ended);
  CHECK(final_status(followed.events) == "failed");
  // video.failed goes to the webhook.
  wait_for(
      [&] {
        std::lock_guard lock(mu);
        return !hooks.empty();
      },
      30);
  {
    std::lock_guard lock(mu);
    REQUIRE(hooks.size() == 1);
    CHECK(hooks[0]["event"] == "video.failed");
    CHECK(hooks[0]["video"]["id"] == up.video_id);
    CHECK(hooks[0]["video"]["status"] == "failed");
  }
  // No work directory of the killed attempts is left behind.
  CHECK(!has_work_dir(data));
  if (!kPlatformOnPgS3) CHECK(entries(data / "media").empty());
  CHECK_FALSE(published(data, up.video_id));
  // A retry from the owner starts over and succeeds.
  auto retry =
      call(server, "POST",
           "/v1/jobs/" + failed.body["items"][0]["id"].get<std::string>() + "/retry", token);
  CHECK(retry.status == 200);
  CHECK(final_status(follow_events(server, token, up.video_id)) == "ready");
}
