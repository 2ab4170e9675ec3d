// The platform path end to end: an uploaded clip becomes a job, a worker
// transcodes it with the real transcoder, the catalog and the event bus follow.
#include <chrono>
#include <thread>

#include "streamlet/jobs.hpp"
#include "support/support.hpp"

namespace sc = streamlet::catalog;
namespace sj = streamlet::jobs;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using streamlet::test::TempDir;

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

struct Platform {
  TempDir dir;
  std::shared_ptr<sc::Catalog> catalog;
  std::shared_ptr<sj::JobQueue> queue;
  std::shared_ptr<streamlet::events::EventBus> bus =
      std::make_shared<streamlet::events::EventBus>();
  sc::User owner;

  Platform() {
    const std::string db = (dir / "streamlet.db").string();
    auto c = sc::open_sqlite_catalog(db);
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    catalog = std::move(c).value();
    sj::QueueOptions qo;
    qo.retry.max_attempts = 2;
    qo.retry.base_backoff = 50ms;
    auto q = sj::open_sqlite_job_queue(db, qo);  // same file, separate tables
    REQUIRE_MESSAGE(q.ok(), q.status().to_string());
    queue = std::move(q).value();
    auto u = catalog->create_user({"owner", "", "$hash"});
    REQUIRE(u.ok());
    owner = *u;
  }

  sj::JobHandler handler() {
    sj::TranscodeHandlerOptions o;
    o.catalog = catalog;
    o.bus = bus;
    o.media_root = (dir / "media").string();
    o.transcode.ladder = {{"240p", 240, 300'000}};
    o.transcode.segment_seconds = 1.0;
    o.transcode.keyframe_interval_seconds = 1.0;
    o.transcode.preset = "ultrafast";
    o.transcode.threads = 2;
    return sj::make_transcode_handler(o);
  }

  // What the upload path does when a file is complete.
  std::string submit(const fs::path& input) {
    auto v = catalog->create_video(
        {owner.id, "test clip", "", sc::Visibility::kPublic, sc::VideoStatus::kQueued});
    REQUIRE(v.ok());
    nlohmann::json payload = {{"input", input.string()}};
    sj::NewJob job;
    job.video_id = v->id;
    job.payload = payload.dump();
    auto j = queue->enqueue(job);
    REQUIRE(j.ok());
    return v->id;
  }
};

}  // namespace

TEST_CASE("transcode jobs: a clip is transcoded, published and marked ready") {
  Platform p;
  const fs::path clip = clip_2s();
  auto events = p.bus->subscribe("", 10'000);
  const std::string video_id = p.submit(clip);

  sj::WorkerPoolOptions opts;
  opts.poll_interval = 50ms;
  sj::WorkerPool pool(p.queue, p.handler(), opts, p.bus);
  REQUIRE(pool.start().ok());
  REQUIRE(eventually([&] {
    auto v = p.catalog->get_video(video_id);
    return v.ok() &&
           (v->status == sc::VideoStatus::kReady || v->status == sc::VideoStatus::kFailed);
  }));
  pool.stop();

  auto v = p.catalog->get_video(video_id);
  REQUIRE(v.ok());
  REQUIRE_MESSAGE(v->status == sc::VideoStatus::kReady, v->status_reason);
  CHECK(v->duration_seconds == doctest::Approx(2.0).epsilon(0.1));
  CHECK(v->hls_master == video_id + "/master.m3u8");
  CHECK(v->dash_manifest == video_id + "/manifest.mpd");
  const fs::path out = p.dir / "media" / video_id;
  CHECK(fs::exists(out / "master.m3u8"));
  CHECK(fs::exists(out / "manifest.mpd"));
  auto renditions = nlohmann::json::parse(v->renditions_json);
  REQUIRE(renditions.is_array());
  REQUIRE(renditions.size() == 2);
  CHECK(renditions[0]["id"] == "240p");
  CHECK(renditions[0]["height"] == 240);
  CHECK(renditions[1]["type"] == "audio");
  // Only the published directory is left in the media root: no half-written siblings.
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(p.dir / "media")) ++entries;
  CHECK(entries == 1);

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

TEST_CASE("transcode jobs: a file that is not a video fails at once with the reason") {
  Platform p;
  const fs::path bogus = p.dir / "upload.bin";
  streamlet::test::write_file(bogus, std::string(4096, 'x'));
  const std::string video_id = p.submit(bogus);

  sj::WorkerPoolOptions opts;
  opts.poll_interval = 50ms;
  sj::WorkerPool pool(p.queue, p.handler(), opts, p.bus);
  REQUIRE(pool.start().ok());
  REQUIRE(eventually([&] {
    auto v = p.catalog->get_video(video_id);
    return v.ok() && v->status == sc::VideoStatus::kFailed;
  }));
  pool.stop();
  auto v = p.catalog->get_video(video_id);
  CHECK_FALSE(v->status_reason.empty());
  auto dead = p.queue->list(sj::JobState::kFailed);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK((*dead)[0].attempts == 1);  // bad input is not retried
  CHECK_FALSE(fs::exists(p.dir / "media" / video_id));
}
