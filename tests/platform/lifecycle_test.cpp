// The platform in process, without the server: what becomes of a video whose upload never
// finishes (expired, terminated, or lost while the platform was down), and view counting
// across a restart on the same data directory.
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "streamlet/platform.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;
using json = nlohmann::json;
using platform::Platform;

namespace {

platform::PlatformOptions options_for(
    const fs::path& data, std::chrono::seconds upload_expiration = std::chrono::hours(1)) {
  platform::PlatformOptions o;
  o.data_dir = data;
  o.upload_expiration = upload_expiration;
  o.durable_uploads = false;  // throwaway store: no fsync per test
  return o;
}

std::unique_ptr<Platform> open_platform(const platform::PlatformOptions& o) {
  auto p = Platform::open(o);
  REQUIRE_MESSAGE(p.ok(), p.status().to_string());
  return std::move(*p);
}

accounts::Principal sign_up(Platform& p, const std::string& name) {
  auto reg = p.register_user(name, "correct horse");
  REQUIRE_MESSAGE(reg.ok(), reg.status().to_string());
  auto who = p.authenticate("Bearer " + json::parse(*reg)["token"].get<std::string>());
  REQUIRE(who.ok());
  return *who;
}

struct Started {
  std::string video_id;
  std::string upload_id;
};

// A tus creation as the server makes it: the platform creates the video, the store the upload.
Started start_upload(Platform& p, const accounts::Principal& who, uint64_t length) {
  auto c = p.begin_upload(who, upload::format_metadata({{"filename", "clip.mp4"}}), false);
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  upload::CreateParams params;
  params.length = length;
  params.metadata = upload::parse_metadata(c->metadata_header).value();
  auto u = p.uploads().create(params);
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  p.finish_upload_creation(*c, u->id);
  return {c->video_id, u->id};
}

// The owner's library, as GET /v1/videos?owner=me lists it.
json library_of(Platform& p, const accounts::Principal& who) {
  platform::VideoListParams q;
  q.owner_me = true;
  auto page = p.list_videos(who, q);
  REQUIRE(page.ok());
  return json::parse(*page);
}

std::string status_of(Platform& p, const std::string& video_id) {
  auto v = p.catalog().get_video(video_id);
  return v.ok() ? std::string(catalog::to_string(v->status)) : "gone";
}

}  // namespace

TEST_CASE("an upload that expires unfinished takes its uploading video with it") {
  TempDir dir;
  // Uploads expire at once, so the test need not wait for the clock.
  auto p = open_platform(options_for(dir / "data", std::chrono::seconds(0)));
  auto alice = sign_up(*p, "alice");
  auto up = start_upload(*p, alice, 1000);
  REQUIRE(status_of(*p, up.video_id) == "uploading");
  CHECK(library_of(*p, alice)["total"] == 1);

  CHECK(p->uploads().expire_idle() == 1);
  CHECK(status_of(*p, up.video_id) == "gone");
  CHECK(library_of(*p, alice)["total"] == 0);
  CHECK(!fs::exists(dir / "data" / "upload-links" / up.video_id));
}

TEST_CASE("terminating an upload in the store removes its video only if the file never came") {
  TempDir dir;
  auto p = open_platform(options_for(dir / "data"));
  auto alice = sign_up(*p, "alice");
  auto unfinished = start_upload(*p, alice, 1000);
  auto finished = start_upload(*p, alice, 0);  // an empty upload is finished on creation
  REQUIRE(status_of(*p, finished.video_id) == "queued");

  // The store alone, as any adapter of the tus handler would call it: no server-side follow-up.
  REQUIRE(p->uploads().terminate(unfinished.upload_id).ok());
  CHECK(status_of(*p, unfinished.video_id) == "gone");
  // A video whose file arrived is past its upload: its transcode decides how it ends.
  REQUIRE(p->uploads().terminate(finished.upload_id).ok());
  CHECK(status_of(*p, finished.video_id) == "queued");
  CHECK(library_of(*p, alice)["total"] == 1);
}

TEST_CASE("a tus DELETE of a finished upload is refused while its video waits for the transcode") {
  TempDir dir;
  auto p = open_platform(options_for(dir / "data"));  // not started: the job stays queued
  auto alice = sign_up(*p, "alice");
  auto bob = sign_up(*p, "bob");
  auto finished = start_upload(*p, alice, 0);
  auto unfinished = start_upload(*p, alice, 1000);
  REQUIRE(status_of(*p, finished.video_id) == "queued");
  // Deleting the transcode's input would fail the video: the answer says what to do instead.
  Status refused = p->check_upload_access(alice, finished.upload_id, /*terminating=*/true);
  CHECK(refused.code() == ErrorCode::kConflict);
  CHECK(refused.message().find("delete the video") != std::string::npos);
  // Other requests on it, and DELETE of an unfinished upload, are the owner's to make.
  CHECK(p->check_upload_access(alice, finished.upload_id).ok());
  CHECK(p->check_upload_access(alice, unfinished.upload_id, true).ok());
  CHECK(p->check_upload_access(bob, unfinished.upload_id, true).code() ==
        ErrorCode::kPermissionDenied);
  // Once the video is gone (DELETE /v1/videos/{id}), so is the refusal.
  REQUIRE(p->delete_video(alice, finished.video_id).ok());
  CHECK(p->check_upload_access(alice, finished.upload_id, true).ok());
}

TEST_CASE("after a restart, uploading videos whose upload is gone or expired are removed") {
  TempDir dir;
  const fs::path data = dir / "data";
  Started lost, expired, pending;
  accounts::Principal alice;
  {
    auto p = open_platform(options_for(data));
    alice = sign_up(*p, "alice");
    lost = start_upload(*p, alice, 1000);
    pending = start_upload(*p, alice, 1000);
  }
  {
    auto p = open_platform(options_for(data, std::chrono::seconds(1)));
    expired = start_upload(*p, alice, 1000);
  }
  // What an expiry without the platform's follow-up (or an older version) left behind: the
  // upload's files are gone, its video still says uploading. The other one expires while down.
  fs::remove(data / "uploads" / (lost.upload_id + ".json"));
  fs::remove(data / "uploads" / (lost.upload_id + ".bin"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  auto p = open_platform(options_for(data));
  CHECK(status_of(*p, lost.video_id) == "gone");
  CHECK(status_of(*p, expired.video_id) == "gone");
  CHECK(!fs::exists(data / "upload-links" / lost.video_id));
  CHECK(!fs::exists(data / "upload-links" / expired.video_id));
  // An upload still in progress keeps its video, and can still be finished.
  CHECK(status_of(*p, pending.video_id) == "uploading");
  CHECK(p->uploads().info(pending.upload_id).ok());
}

TEST_CASE("after a restart, a finished upload whose completion was never handled is transcoded") {
  TempDir dir;
  const fs::path data = dir / "data";
  Started up;
  {
    auto p = open_platform(options_for(data));
    up = start_upload(*p, sign_up(*p, "alice"), 4);
  }
  {
    // The last bytes land but the process dies before the platform hears of it.
    upload::StoreOptions so;
    so.dir = data / "uploads";
    so.durable = false;
    auto store = upload::UploadStore::open(so);
    REQUIRE(store.ok());
    upload::AppendParams ap;
    ap.content_length = 4;
    auto done = (*store)->append(up.upload_id, ap,
                                 [](const upload::BodySink& sink) { return sink("abcd", 4); });
    REQUIRE(done.ok());
    REQUIRE(done->complete());
  }
  auto p = open_platform(options_for(data));
  CHECK(status_of(*p, up.video_id) == "queued");
  auto counts = p->job_counts();  // queued first
  REQUIRE(!counts.empty());
  CHECK(counts[0] == std::pair<std::string, int64_t>("queued", 1));
}

TEST_CASE("a returning viewer counts one view per day, across a restart") {
  TempDir dir;
  const fs::path data = dir / "data";
  std::string video_id;
  accounts::Principal alice;
  {
    auto p = open_platform(options_for(data));
    alice = sign_up(*p, "alice");
    catalog::NewVideo nv;
    nv.owner_id = alice.user_id;
    nv.title = "watched";
    nv.visibility = catalog::Visibility::kPublic;
    nv.status = catalog::VideoStatus::kReady;
    auto v = p->catalog().create_video(nv);
    REQUIRE(v.ok());
    video_id = v->id;
    const accounts::Principal anyone;
    REQUIRE(p->record_view(anyone, video_id, "v1", 0).ok());
    REQUIRE(p->record_view(anyone, video_id, "v1", 2.5).ok());
  }
  auto p = open_platform(options_for(data));
  const accounts::Principal anyone;
  REQUIRE(p->record_view(anyone, video_id, "v1", 0).ok());  // the same viewer, back again
  REQUIRE(p->record_view(anyone, video_id, "v1", 5).ok());
  REQUIRE(p->record_view(anyone, video_id, "v2", 0).ok());  // a new viewer still counts

  auto stats = p->video_stats(alice, video_id);
  REQUIRE_MESSAGE(stats.ok(), stats.status().to_string());
  auto s = json::parse(*stats);
  CHECK(s["views"] == 2);
  CHECK(s["watch_seconds"].get<double>() == doctest::Approx(7.5));
  REQUIRE(s["unique_viewers"].size() == 1);
  CHECK(s["unique_viewers"][0]["viewers"] == 2);
  CHECK(p->catalog().get_video(video_id)->view_count == 2);
}
