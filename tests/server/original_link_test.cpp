// The original file's signed download link over real HTTP: attacks first (no link, a forged
// one, another video's, an expired one, a playback signature), then the download itself
// without a session: attachment with the uploader's file name quoted safely, Range intact.
#include <nlohmann/json.hpp>

#include "streamlet/origin.hpp"
#include "support/raw_http.hpp"
#include "video_helpers.hpp"

using namespace streamlet::test;
using json = nlohmann::json;

namespace {

std::string link_of(const ServerProcess& s, const std::string& video, const std::string& token) {
  auto r = s.client().Post(("/v1/videos/" + video + "/original/link").c_str(), bearer(token), "",
                           "application/json");
  REQUIRE(r);
  REQUIRE_MESSAGE(r->status == 200, r->body);
  auto doc = json::parse(r->body);
  CHECK(doc["url"] == s.base_url() + doc["path"].get<std::string>());
  CHECK(doc["expires_at"].is_string());
  return doc["path"];
}

// The signing key the server keeps in DATA/secrets, to make links only it could make.
std::string signing_key(const fs::path& data) {
  return json::parse(read_file(data / "secrets"))["signing_key"];
}

}  // namespace

TEST_CASE("original link: only a good signature for this video opens the file, which downloads with its name and ranges") {
  TempDir dir;
  ServerProcess s(dir / "data", "test-key", {"--ladder", "240p:300k", "--preset", "ultrafast"});
  const std::string bytes = read_file(clip_small());
  // A name with quotes, a semicolon and a non-ASCII letter: one header, nothing broken out.
  const std::string name = "my \"best\"; clip \xC3\xA9.mp4";
  // A name or title with CR/LF never gets in, so it can reach no header (download or mail).
  for (const char* key : {"filename", "title"}) {
    auto refused = s.client().Post(
        "/v1/uploads",
        tus(s, {{"Upload-Length", "10"},
                {"Upload-Metadata", tus_metadata({{key, "a\r\nX-Injected: 1.mp4"}})}}),
        std::string(), "");
    REQUIRE(refused);
    CHECK_MESSAGE(refused->status == 400, refused->body);
    CHECK_MESSAGE(refused->body.find("control character") != std::string::npos, refused->body);
  }
  const std::string video = upload_video(s, bytes, {{"filename", name}});
  const std::string other = upload_video(s, "not a video at all", {{"filename", "junk.bin"}});
  auto cli = s.client();
  const std::string bob = register_user(s, "bob");
  const std::string link_path = "/v1/videos/" + video + "/original/link";

  // Who may ask for a link: as for the file itself.
  check_error(cli.Post(link_path.c_str(), "", "application/json"), 401, "unauthenticated", "");
  check_error(cli.Post(link_path.c_str(), bearer(bob), "", "application/json"), 404, "not_found", "");

  const std::string good = link_of(s, video, s.api_key());
  REQUIRE(good.rfind("/v1/videos/" + video + "/original?exp=", 0) == 0);
  // A forged signature: one character of it changed.
  std::string forged = good;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  check_error(cli.Get(forged.c_str()), 403, "permission_denied", "not valid");
  // Another video's link on this video.
  const std::string theirs = link_of(s, other, s.api_key());
  check_error(cli.Get(("/v1/videos/" + video + "/original" + theirs.substr(theirs.find('?'))).c_str()),
              403, "permission_denied", "not valid");
  // Expired: an authentic signature from an hour ago.
  const std::string key = signing_key(dir / "data");
  auto old = streamlet::origin::sign("original/" + video, std::time(nullptr) - 3600, key);
  REQUIRE(old.ok());
  check_error(cli.Get(("/v1/videos/" + video + "/original?" + *old).c_str()), 403,
              "permission_denied", "expired");
  // A playback signature of the same video is not a download link.
  auto playback = streamlet::origin::sign(video, std::time(nullptr) + 3600, key);
  REQUIRE(playback.ok());
  check_error(cli.Get(("/v1/videos/" + video + "/original?" + *playback).c_str()), 403,
              "permission_denied", "not valid");
  check_error(cli.Get(("/v1/videos/" + video + "/original?exp=1").c_str()), 403,
              "permission_denied", "");

  // The good link, with no session: the whole file as an attachment under its name.
  auto whole = cli.Get(good.c_str());
  REQUIRE(whole);
  REQUIRE_MESSAGE(whole->status == 200, whole->body);
  CHECK(whole->body == bytes);
  // As on the wire (this httplib's client percent-decodes header values it reads).
  RawClient raw(s.port());
  raw.send("GET " + good + " HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n");
  const std::string cd = raw.read().header("Content-Disposition");
  CHECK(cd == "attachment; filename=\"my _best_; clip __.mp4\"; "
              "filename*=UTF-8''my%20%22best%22%3B%20clip%20%C3%A9.mp4");
  CHECK(cd.find_first_of("\r\n") == std::string::npos);
  // Range intact: a player or a resumed download asks for a part.
  auto part = cli.Get(good.c_str(), {{"Range", "bytes=100-199"}});
  REQUIRE(part);
  CHECK(part->status == 206);
  CHECK(part->body == bytes.substr(100, 100));
  CHECK(part->get_header_value("Content-Range") == "bytes 100-199/" + std::to_string(bytes.size()));
  // The session download still works as before, and the link does not outlive the video.
  auto by_session = cli.Get(("/v1/videos/" + video + "/original").c_str(), bearer(s.api_key()));
  REQUIRE(by_session);
  CHECK(by_session->status == 200);
  REQUIRE(cli.Delete(("/v1/videos/" + video).c_str(), bearer(s.api_key()))->status == 204);
  check_error(cli.Get(good.c_str()), 404, "not_found", "");
}
