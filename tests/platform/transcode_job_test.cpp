// The platform path end to end in process: an uploaded clip becomes a job, a worker
// transcodes it with the real transcoder, the catalog and the event bus follow.
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "platform/in_process.hpp"
#include "platform/transcode_job.hpp"

namespace sc = streamlet::catalog;
namespace sj = streamlet::jobs;
using namespace std::chrono_literals;
using namespace streamlet::test;

namespace {

fs::path clip_2s() {
  return streamlet::test::fixture(
      "clip_320x240_2s.mp4",
      {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i",
       "sine=frequency=440:sample_rate=48000:duration=2", "-ac", "2", "-c:v", "libx264", "-preset",
       "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
}

template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = 300s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

streamlet::platform::PlatformOptions small_transcodes(const fs::path& data) {
  auto o = in_process_options(data);
  o.retry.max_attempts = 2;
  o.retry.base_backoff = 50ms;
  o.transcode.ladder = {{"240p", 240, 300'000}};
  o.transcode.segment_seconds = 1.0;
  o.transcode.keyframe_interval_seconds = 1.0;
  o.transcode.preset = "ultrafast";
  o.transcode.threads = 2;
  return o;
}

// Uploads `bytes` as a public video; the platform queues its transcode.
std::string upload_video(InProcess& p, const std::string& token, const std::string& bytes) {
  auto up = start_upload(*p, token, bytes.size(), {{"filename", "clip.mp4"}, {"visibility", "public"}});
  auto sent = send_bytes(*p, token, up.upload_id, bytes);
  REQUIRE_MESSAGE(sent.error.ok(), sent.error.to_string());
  REQUIRE(sent.status == 204);
  return up.video_id;
}

}  // namespace

TEST_CASE("transcode jobs: a clip is transcoded, published and marked ready") {
  TempDir dir;
  auto p = open_in_process(small_transcodes(dir / "data"));
  auto alice = sign_up(*p, "alice");
  const std::string video_id = upload_video(p, alice.token, read_all(clip_2s()));
  REQUIRE(p.catalog->get_video(video_id)->status == sc::VideoStatus::kQueued);
  auto events = p.bus->subscribe("", 10'000);
  REQUIRE(p->start().ok());
  REQUIRE(eventually([&] {
    auto v = p.catalog->get_video(video_id);
    return v.ok() &&
           (v->status == sc::VideoStatus::kReady || v->status == sc::VideoStatus::kFailed);
  }));
  p->stop();

  auto v = p.catalog->get_video(video_id);
  REQUIRE(v.ok());
  REQUIRE_MESSAGE(v->status == sc::VideoStatus::kReady, v->status_reason);
  CHECK(v->duration_seconds == doctest::Approx(2.0).epsilon(0.1));
  CHECK(v->hls_master == video_id + "/master.m3u8");
  CHECK(v->dash_manifest == video_id + "/manifest.mpd");
  CHECK(p.storage->stat("media/" + video_id + "/master.m3u8").ok());
  CHECK(p.storage->stat("media/" + video_id + "/manifest.mpd").ok());
  auto view = p->get_video(alice.who, video_id);
  REQUIRE(view.ok());
  REQUIRE(view->renditions.size() == 1);
  CHECK(view->renditions[0].id == "240p");
  CHECK(view->renditions[0].height == 240);
  CHECK(view->hls_url == "/media/" + video_id + "/master.m3u8");
  auto tracks = nlohmann::json::parse(v->renditions_json);
  REQUIRE(tracks.size() == 2);
  CHECK(tracks[1]["type"] == "audio");
  // Only the published directory is left in the media root: no half-written siblings.
  std::set<std::string> published;
  REQUIRE(p.storage
              ->list("media/",
                     [&](const streamlet::storage::ObjectInfo& o) {
                       published.insert(o.key.substr(6, o.key.find('/', 6) - 6));
                       return true;
                     })
              .ok());
  CHECK(published == std::set<std::string>{video_id});
  CHECK(backends_of(dir / "data").staged_objects().empty());

  std::vector<std::string> statuses;
  int progress = 0;
  double last_percent = -1;
  bool monotonic = true;
  while (auto e = events.next(0ms)) {
    if (e->video_id != video_id) continue;
    if (e->type == "status") statuses.push_back(e->state);
    if (e->type == "progress") {
      ++progress;
      monotonic = monotonic && e->percent >= last_percent;
      last_percent = e->percent;
    }
  }
  CHECK(progress > 0);
  CHECK(monotonic);
  CHECK(statuses == std::vector<std::string>{"processing", "ready"});
  auto job = p.queue->list(sj::JobState::kSucceeded);
  REQUIRE(job.ok());
  CHECK(job->size() == 1);
}

TEST_CASE("transcode jobs: a job carries the output options, not the threads of the node that queued it") {
  namespace si = streamlet::platform::internal;
  si::TranscodePayload queued;
  queued.source_key = "uploads/abc";
  streamlet::transcode::Options api_node;
  api_node.preset = "ultrafast";
  api_node.segment_seconds = 2;
  api_node.threads = 32;
  queued.options = api_node;
  sj::Job job;
  job.payload = si::encode_payload(queued);
  CHECK_MESSAGE(job.payload.find("threads") == std::string::npos, job.payload);
  auto claimed = si::decode_payload(job);
  REQUIRE_MESSAGE(claimed.ok(), claimed.status().to_string());
  streamlet::transcode::Options worker;  // a 1-thread worker with its own (default) outputs
  worker.threads = 1;
  const auto run = si::job_options(*claimed, worker);
  CHECK(run.threads == 1);
  CHECK(run.preset == "ultrafast");
  CHECK(run.segment_seconds == 2);
}

TEST_CASE("transcode jobs: a file that is not a video fails at once with the reason") {
  TempDir dir;
  auto p = open_in_process(small_transcodes(dir / "data"));
  auto alice = sign_up(*p, "alice");
  const std::string video_id = upload_video(p, alice.token, std::string(4096, 'x'));
  REQUIRE(p->start().ok());
  REQUIRE(eventually([&] {
    auto v = p.catalog->get_video(video_id);
    return v.ok() && v->status == sc::VideoStatus::kFailed;
  }));
  p->stop();
  auto v = p.catalog->get_video(video_id);
  CHECK_FALSE(v->status_reason.empty());
  // The owner sees their file's name, never where the server keeps it.
  CHECK(v->status_reason.find("uploads/") == std::string::npos);
  auto dead = p.queue->list(sj::JobState::kFailed);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK((*dead)[0].attempts == 1);  // bad input is not retried
  CHECK_FALSE(has_objects(*p.storage, "media/" + video_id + "/"));
}

TEST_CASE("roles: --roles names a non-empty subset of api, worker and origin") {
  namespace sp = streamlet::platform;
  auto all = sp::parse_roles("api,worker,origin");
  REQUIRE(all.ok());
  CHECK(*all == sp::Roles{});
  auto worker = sp::parse_roles("worker");
  REQUIRE(worker.ok());
  CHECK((!worker->api && worker->worker && !worker->origin));
  CHECK(sp::to_string(*worker) == "worker");
  auto two = sp::parse_roles("origin, api");
  REQUIRE(two.ok());
  CHECK(sp::to_string(*two) == "api,origin");
  for (const char* bad : {"", "api,", "apis", "api,,worker", "API"}) {
    auto r = sp::parse_roles(bad);
    CHECK_MESSAGE(r.status().code() == streamlet::ErrorCode::kInvalidArgument, bad);
  }
}

TEST_CASE("roles: an api node queues, a worker node with other options runs the job as queued") {
  namespace sp = streamlet::platform;
  TempDir dir;
  // The API node's options decide the ladder; the worker's own would make 360p at 2 s segments.
  auto api_options = small_transcodes(dir / "data");
  api_options.roles = *sp::parse_roles("api,origin");
  auto api = open_in_process(api_options);
  auto worker_options = small_transcodes(dir / "data");
  worker_options.roles = *sp::parse_roles("worker");
  worker_options.transcode.ladder = {{"360p", 360, 600'000}};
  worker_options.transcode.segment_seconds = 2.0;
  sp::PlatformParts shared;
  shared.catalog = api.catalog;
  shared.queue = api.queue;
  shared.bus = api.bus;
  shared.storage = api.storage;
  shared.token_secret = "test token secret, 16+ bytes";
  shared.signing_key = "test signing key, 16+ bytes";
  auto worker = sp::Platform::create(worker_options, shared);
  REQUIRE(worker.ok());

  auto alice = sign_up(*api, "alice");
  const std::string video_id = upload_video(api, alice.token, read_all(clip_2s()));
  REQUIRE(api->start().ok());
  // An api node runs no job: the video waits for a worker.
  std::this_thread::sleep_for(300ms);
  CHECK(api.catalog->get_video(video_id)->status == sc::VideoStatus::kQueued);
  REQUIRE((*worker)->start().ok());
  REQUIRE(eventually([&] {
    auto v = api.catalog->get_video(video_id);
    return v.ok() &&
           (v->status == sc::VideoStatus::kReady || v->status == sc::VideoStatus::kFailed);
  }));
  (*worker)->stop();
  api->stop();
  auto view = api->get_video(alice.who, video_id);
  REQUIRE(view.ok());
  REQUIRE_MESSAGE(view->video.status == sc::VideoStatus::kReady, view->video.status_reason);
  REQUIRE(view->renditions.size() == 1);
  CHECK(view->renditions[0].id == "240p");  // the api node's ladder, not the worker's
  // 2 s at 1 s segments: two segments (the worker's 2 s would have made one).
  std::string playlist;
  {
    auto object = api.storage->open("media/" + video_id + "/240p/index.m3u8");
    REQUIRE_MESSAGE(object.ok(), object.status().to_string());
    playlist.resize((*object)->info().size);
    auto got = (*object)->read_at(0, playlist.data(), playlist.size());
    REQUIRE(got.ok());
    playlist.resize(*got);
  }
  size_t segments = 0;
  for (size_t at = 0; (at = playlist.find("#EXTINF", at)) != std::string::npos; ++at) ++segments;
  CHECK(segments == 2);

  // /media is the origin role's: the worker node refuses it, the api+origin node serves it.
  streamlet::origin::OriginRequest req;
  req.method = "GET";
  req.path = "master.m3u8";
  CHECK((*worker)->serve_media(video_id, req).status == 404);
  CHECK(api->serve_media(video_id, req).status == 200);
}
