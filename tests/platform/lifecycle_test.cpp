// The platform in process, without the server: what becomes of a video whose upload never
// finishes (expired, terminated, or lost while the platform was down), and view counting
// across a restart on the same data directory.
#include <chrono>
#include <thread>

#include "platform/in_process.hpp"

using namespace streamlet;
using namespace streamlet::test;

namespace {

// The owner's library, as GET /v1/videos?owner=me lists it.
int64_t library_size(platform::Platform& p, const accounts::Principal& who) {
  platform::VideoListParams q;
  q.owner_me = true;
  auto page = p.list_videos(who, q);
  REQUIRE(page.ok());
  return page->total;
}

std::string status_of(InProcess& p, const std::string& video_id) {
  auto v = p.catalog->get_video(video_id);
  return v.ok() ? std::string(catalog::to_string(v->status)) : "gone";
}

}  // namespace

TEST_CASE("an upload that expires unfinished takes its uploading video with it") {
  TempDir dir;
  // Uploads expire at once, so the test need not wait for the clock.
  auto p = open_in_process(in_process_options(dir / "data", std::chrono::seconds(0)));
  auto alice = sign_up(*p, "alice");
  auto up = start_upload(*p, alice.token, 1000);
  REQUIRE(status_of(p, up.video_id) == "uploading");
  CHECK(library_size(*p, alice.who) == 1);

  CHECK(p->expire_uploads() == 1);
  CHECK(status_of(p, up.video_id) == "gone");
  CHECK(library_size(*p, alice.who) == 0);
  CHECK(p.storage->stat("upload-links/" + up.video_id).status().code() == ErrorCode::kNotFound);
}

TEST_CASE("terminating an upload removes its video only if the file never came") {
  TempDir dir;
  auto p = open_in_process(in_process_options(dir / "data"));
  auto alice = sign_up(*p, "alice");
  auto unfinished = start_upload(*p, alice.token, 1000);
  auto finished = start_upload(*p, alice.token, 0);  // an empty upload is finished on creation
  REQUIRE(status_of(p, finished.video_id) == "queued");

  auto gone = tus(*p, "DELETE", "/v1/uploads/" + unfinished.upload_id, alice.token);
  REQUIRE_MESSAGE(gone.error.ok(), gone.error.to_string());
  CHECK(status_of(p, unfinished.video_id) == "gone");
  // A video whose file arrived is past its upload: its transcode decides how it ends.
  auto kept = tus(*p, "DELETE", "/v1/uploads/" + finished.upload_id, alice.token);
  CHECK(kept.error.code() == ErrorCode::kConflict);
  CHECK(status_of(p, finished.video_id) == "queued");
  CHECK(library_size(*p, alice.who) == 1);
}

TEST_CASE("a tus DELETE of a finished upload is refused while its video waits for the transcode") {
  TempDir dir;
  auto p = open_in_process(in_process_options(dir / "data"));  // not started: the job stays queued
  auto alice = sign_up(*p, "alice");
  auto bob = sign_up(*p, "bob");
  auto finished = start_upload(*p, alice.token, 0);
  auto unfinished = start_upload(*p, alice.token, 1000);
  REQUIRE(status_of(p, finished.video_id) == "queued");
  // Deleting the transcode's input would fail the video: the answer says what to do instead.
  auto refused = tus(*p, "DELETE", "/v1/uploads/" + finished.upload_id, alice.token);
  CHECK(refused.error.code() == ErrorCode::kConflict);
  CHECK(refused.error.message().find("delete the video") != std::string::npos);
  // Other requests on it, and DELETE of an unfinished upload, are the owner's to make; not
  // another user's.
  CHECK(tus(*p, "HEAD", "/v1/uploads/" + finished.upload_id, alice.token).error.ok());
  CHECK(tus(*p, "DELETE", "/v1/uploads/" + unfinished.upload_id, bob.token).error.code() ==
        ErrorCode::kPermissionDenied);
  CHECK(tus(*p, "DELETE", "/v1/uploads/" + unfinished.upload_id, alice.token).error.ok());
  // Once the video is gone (DELETE /v1/videos/{id}), so is the refusal (and the upload).
  REQUIRE(p->delete_video(alice.who, finished.video_id).ok());
  CHECK(tus(*p, "HEAD", "/v1/uploads/" + finished.upload_id, alice.token).status != 200);
}

TEST_CASE("after a restart, uploading videos whose upload is gone or expired are removed") {
  TempDir dir;
  const fs::path data = dir / "data";
  Started lost, expired, pending;
  SignedUp alice;
  {
    auto p = open_in_process(in_process_options(data));
    alice = sign_up(*p, "alice");
    lost = start_upload(*p, alice.token, 1000);
    pending = start_upload(*p, alice.token, 1000);
  }
  {
    auto p = open_in_process(in_process_options(data, std::chrono::seconds(1)));
    expired = start_upload(*p, alice.token, 1000);
  }
  // What an expiry without the platform's follow-up (or an older version) left behind: the
  // upload's files are gone, its video still says uploading. The other one expires while down.
  storage::Storage& stored = backends_of(data).storage();
  REQUIRE(stored.remove("uploads/" + lost.upload_id + ".json").ok());
  REQUIRE(stored.remove("uploads/" + lost.upload_id + ".bin").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  auto p = open_in_process(in_process_options(data));
  CHECK(status_of(p, lost.video_id) == "gone");
  CHECK(status_of(p, expired.video_id) == "gone");
  CHECK(p.storage->stat("upload-links/" + lost.video_id).status().code() == ErrorCode::kNotFound);
  CHECK(p.storage->stat("upload-links/" + expired.video_id).status().code() ==
        ErrorCode::kNotFound);
  // An upload still in progress keeps its video, and can still be finished.
  CHECK(status_of(p, pending.video_id) == "uploading");
  CHECK(tus(*p, "HEAD", "/v1/uploads/" + pending.upload_id, alice.token).status == 200);
}

TEST_CASE("after a restart, a finished upload whose completion was never handled is transcoded") {
  TempDir dir;
  const fs::path data = dir / "data";
  Started up;
  {
    auto p = open_in_process(in_process_options(data));
    up = start_upload(*p, sign_up(*p, "alice").token, 4);
  }
  {
    // The last bytes land but the process dies before the platform hears of it.
    upload::StoreOptions so;
    so.storage = backends_of(data).shared_storage();  // its uploads/, as the platform's
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
  auto p = open_in_process(in_process_options(data));
  CHECK(status_of(p, up.video_id) == "queued");
  auto stats = p->stats();  // queued first
  REQUIRE(!stats.jobs.empty());
  CHECK(stats.jobs[0] == std::pair<jobs::JobState, int64_t>(jobs::JobState::kQueued, 1));
}

TEST_CASE("a returning viewer counts one view per day, across a restart") {
  TempDir dir;
  const fs::path data = dir / "data";
  std::string video_id;
  SignedUp alice;
  {
    auto p = open_in_process(in_process_options(data));
    alice = sign_up(*p, "alice");
    catalog::NewVideo nv;
    nv.owner_id = alice.who.user_id;
    nv.title = "watched";
    nv.visibility = catalog::Visibility::kPublic;
    nv.status = catalog::VideoStatus::kReady;
    auto v = p.catalog->create_video(nv);
    REQUIRE(v.ok());
    video_id = v->id;
    const accounts::Principal anyone;
    REQUIRE(p->record_view(anyone, video_id, "v1", 0).ok());
    REQUIRE(p->record_view(anyone, video_id, "v1", 2.5).ok());
  }
  auto p = open_in_process(in_process_options(data));
  const accounts::Principal anyone;
  REQUIRE(p->record_view(anyone, video_id, "v1", 0).ok());  // the same viewer, back again
  REQUIRE(p->record_view(anyone, video_id, "v1", 5).ok());
  REQUIRE(p->record_view(anyone, video_id, "v2", 0).ok());  // a new viewer still counts

  auto s = p->video_stats(alice.who, video_id);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  CHECK(s->stats.views == 2);
  CHECK(s->stats.watch_seconds == doctest::Approx(7.5));
  REQUIRE(s->stats.days.size() == size_t(platform::kDefaultStatsDays));  // every day, zeros too
  CHECK(s->stats.days.back().unique_viewers == 2);
  CHECK(s->stats.days.back().day == s->to);
  CHECK(p->get_video(alice.who, video_id)->video.view_count == 2);
}
