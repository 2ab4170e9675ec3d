// A video's chunks as jobs of the cluster's queue: worker processes on one catalog and one
// storage (a SQLite file and a directory, or PostgreSQL and S3 in platform-pg-s3) take the
// chunks of one video side by side, a worker killed
// mid-chunk costs only that chunk another attempt, and the joined ladder is the one an
// unchunked transcode publishes, packet for packet.
#include <map>
#include <set>

#include "platform_helpers.hpp"
#include "support/media_check.hpp"

using namespace streamlet::test;

namespace {

// 6 s of 640x360 at 25 fps with audio: three 2 s chunks, each slow enough at "medium" on one
// thread that two workers are seen running chunks at once.
fs::path chunky_clip() {
  return fixture("chunky_640x360_6s.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6", "-f", "lavfi",
                  "-i", "sine=frequency=440:duration=6", "-c:v", "libx264", "-preset", "ultrafast",
                  "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
}

// The options every node of the test runs with (the chunks' own come with the jobs), on the
// backends of `shared` (given after the suite's own flags for the node's data directory,
// they win).
std::vector<std::string> node_flags(const fs::path& shared, std::vector<std::string> more) {
  auto& b = backends_of(shared);
  std::vector<std::string> flags = {
      "--catalog", b.catalog_url().empty() ? (shared / "catalog.db").string() : b.catalog_url(),
      "--storage", b.storage_url().empty() ? shared.string() : b.storage_url(),
                                    "--ladder", "360p:600k,240p:300k", "--preset", "medium",
                                    "--transcode-threads", "1", "--segment-seconds", "2",
                                    "--job-lease", "2", "--no-progressive"};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

// Every job of the video, by the admin.
std::vector<json> jobs_of(const ServerProcess& s, const std::string& key, const std::string& video) {
  auto a = call(s, "GET", "/v1/jobs?limit=1000", key);
  REQUIRE(a.status == 200);
  std::vector<json> out;
  for (const auto& j : a.body["items"])
    if (j["video_id"] == video) out.push_back(j);
  return out;
}

std::string ready_status(const ServerProcess& s, const std::string& key, const std::string& id) {
  std::string status;
  wait_for([&] {
    auto v = call(s, "GET", "/v1/videos/" + id, key);
    status = v.status == 200 ? v.body.value("status", "") : "";
    return status == "ready" || status == "failed";
  }, 240);
  return status;
}

}  // namespace

TEST_CASE("cluster: a video's chunks are jobs two workers take, a killed one's chunk alone is retried") {
  TempDir dir;
  const fs::path shared = dir / "shared", alone = dir / "alone";
  fs::create_directories(shared);
  fs::create_directories(alone);
  for (const char* node : {"api", "w1", "w2", "whole"}) fs::create_directories(dir / node);
  ServerProcess api(dir / "api" / "data", "admin-key", node_flags(shared, {"--roles", "api,origin"}));
  ServerProcess w1(dir / "w1" / "data", "admin-key",
                   node_flags(shared, {"--roles", "worker", "--chunk-seconds", "2"}));
  ServerProcess w2(dir / "w2" / "data", "admin-key",
                   node_flags(shared, {"--roles", "worker", "--chunk-seconds", "2"}));
  const std::string key = "admin-key";
  auto up = tus_upload(api, key, chunky_clip());

  // Two chunk jobs running at once, claimed by two workers (job rows say which).
  std::set<std::string> running_workers;
  wait_for([&] {
    running_workers.clear();
    for (const auto& j : jobs_of(api, key, up.video_id))
      if (j["kind"] == "transcode-chunk" && j["state"] == "running")
        running_workers.insert(j["worker"].get<std::string>());
    return running_workers.size() >= 2;
  }, 120);
  REQUIRE_MESSAGE(running_workers.size() >= 2, w1.output() << "\n---\n" << w2.output());
  // One worker dies mid-chunk: the other takes that chunk again (its lease is a dead process's).
  w2.kill9();
  REQUIRE(ready_status(api, key, up.video_id) == "ready");

  const auto jobs = jobs_of(api, key, up.video_id);
  std::map<std::string, int> kinds;
  int retried = 0;
  for (const auto& j : jobs) {
    kinds[j["kind"]]++;
    CHECK_MESSAGE(j["state"] == "done", j.dump());
    if (j["kind"] == "transcode-chunk") retried += j["attempts"].get<int>() > 1;
    if (j["kind"] == "transcode-chunk") CHECK(j["attempts"].get<int>() <= 2);
  }
  CHECK(kinds["transcode"] == 1);
  CHECK(kinds["transcode-chunk"] == 4);  // audio and extras, then three chunks
  CHECK(kinds["transcode-join"] == 1);
  CHECK_MESSAGE(retried == 1, "one chunk was running on the killed worker");
  // The join removed the staging.
  CHECK_FALSE(has_objects(backends_of(shared).storage(), "chunks/" + up.video_id + "/"));

  // The same file on a node that does not chunk: the same ladder, packet for packet.
  ServerProcess whole(dir / "whole" / "data", "admin-key", node_flags(alone, {}));
  auto ref = tus_upload(whole, key, chunky_clip());
  REQUIRE(ready_status(whole, key, ref.video_id) == "ready");
  const fs::path scratch = dir / "scratch";
  fs::create_directories(scratch);
  const fs::path chunked_media =
      backends_of(shared).files_of("media/" + up.video_id + "/", scratch);
  const fs::path unchunked_media =
      backends_of(alone).files_of("media/" + ref.video_id + "/", scratch);
  for (const char* track : {"360p", "240p"}) {
    CAPTURE(track);
    const fs::path chunked = chunked_media / track;
    const fs::path unchunked = unchunked_media / track;
    const auto a = segment_files(chunked), b = segment_files(unchunked);
    REQUIRE(a.size() == 3);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].filename() == b[i].filename());
    const auto joined = join_track(chunked, scratch);
    const auto reference = join_track(unchunked, scratch);
    CHECK(decode_errors(joined) == "");
    const auto pa = probe_packets(joined), pb = probe_packets(reference);
    REQUIRE(pa.size() == pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      CHECK(pa[i].pts == pb[i].pts);
      CHECK(pa[i].dts == pb[i].dts);
      CHECK(pa[i].key == pb[i].key);
    }
  }
  const std::string master = (chunked_media / "master.m3u8").string();
  CHECK(decode_errors(master) == "");
}
