// Nodes of one cluster, as separate server processes on the suite's backends (the embedded
// ones shared by path, or PostgreSQL + S3): what a node reports on /metrics, the secrets the
// nodes agree on without an operator copying them, and uploads appended to through two nodes.
#include <regex>

#include "platform_helpers.hpp"

using namespace streamlet::test;

namespace {

// The value of the unlabelled series `name` in a /metrics text (-1 when it is not there).
double metric_value(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+]+)\n"))) return -1;
  return std::stod(m[1]);
}

std::string scrape(const ServerProcess& s) {
  auto r = s.client().Get("/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return "\n" + r->body;
}

}  // namespace

TEST_CASE("cluster: an origin node on S3 counts its cache's hits and misses on /metrics") {
  if (!kPlatformOnPgS3) skip_case("the origin cache is for remote storage: platform-pg-s3 runs it");
  TempDir dir;
  ServerProcess server(dir / "data", "admin-key", small_ladder());
  std::string token = register_user(server, "alice");
  auto up = tus_upload(server, token, clip_small());
  REQUIRE(final_status(follow_events(server, token, up.video_id)) == "ready");

  // A media segment the transcode published.
  const std::string prefix = "media/" + up.video_id + "/";
  std::string segment;  // its path under the video: <rendition>/<file>
  auto listed = backends_of(dir / "data").storage().list(
      prefix, [&](const streamlet::storage::ObjectInfo& info) {
        if (info.key.ends_with(".m4s")) segment = info.key.substr(prefix.size());
        return segment.empty();
      });
  REQUIRE(listed.ok());
  REQUIRE_MESSAGE(!segment.empty(), "no .m4s segment under " << prefix);

  const std::string path = "/media/" + up.video_id + "/" + segment;
  auto first = server.client().Get(path);
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const std::string after_first = scrape(server);
  const double hits = metric_value(after_first, "streamlet_storage_cache_hits_total");
  const double misses = metric_value(after_first, "streamlet_storage_cache_misses_total");
  REQUIRE_MESSAGE(hits >= 0, after_first);
  CHECK(misses >= 1);  // the first read of the segment fetched it from the bucket
  CHECK(metric_value(after_first, "streamlet_storage_cache_bytes") > 0);

  auto second = server.client().Get(path);
  REQUIRE(second);
  REQUIRE(second->status == 200);
  CHECK(second->body == first->body);
  const std::string after_second = scrape(server);
  CHECK(metric_value(after_second, "streamlet_storage_cache_hits_total") == hits + 1);
  CHECK(metric_value(after_second, "streamlet_storage_cache_misses_total") == misses);
}
