// Sharing (issue 13): the watch page's server-rendered share tags, /oembed, the embed page's
// frame headers, channel listings and the original file's download, over real HTTP.
#include <nlohmann/json.hpp>
#include <chrono>
#include <regex>
#include <thread>

#include "streamlet/upload.hpp"
#include "tus_helpers.hpp"

using namespace streamlet::test;
using nlohmann::json;

namespace {

constexpr const char* kPublicUrl = "https://video.example.test";
// A title that would end the <title> element and run a script if it were not escaped.
const std::string kEvilTitle = "Dusk </title><script>alert(\"x\")</script> & 'more'";

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// The content of <meta property|name="name" content="...">, as a parser reads it, or "".
std::string meta_content(const std::string& html, const std::string& name) {
  const std::regex re("<meta (?:property|name)=\"" + name + "\" content=\"([^\"]*)\">");
  std::smatch m;
  if (!std::regex_search(html, m, re)) return "";
  std::string v = m[1];
  for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"},
                          {"&amp;", "&"}})
    for (size_t at = v.find(from); at != std::string::npos; at = v.find(from, at + 1))
      v.replace(at, std::strlen(from), to);
  return v;
}

std::string path_of_url(const std::string& url) {
  REQUIRE(url.rfind(kPublicUrl, 0) == 0);
  return url.substr(std::strlen(kPublicUrl));
}

json get_json(const ServerProcess& s, const std::string& path, const std::string& token = "") {
  auto res = s.client().Get(path, token.empty() ? httplib::Headers{} : bearer(token));
  REQUIRE(res);
  INFO(path << " -> " << res->status << " " << res->body);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

}  // namespace

TEST_CASE("share: watch page tags, oEmbed, embed framing, channel listing and original download") {
  TempDir dir;
  ServerProcess s(dir / "data", "test-key", {"--ladder", "240p:300k", "--public-url", kPublicUrl});
  // With tus directly: upload URLs name the --public-url host, which does not resolve here.
  const std::string clip = read_file(clip_small());
  const std::string upload = create_upload(
      s, clip.size(),
      {{"Upload-Metadata", streamlet::upload::format_metadata(
                               {{"filename", clip_small().filename().string()},
                                {"title", kEvilTitle},
                                {"description", "Boats <b>coming</b> home"},
                                {"visibility", "public"}})}});
  auto sent = patch(s, upload, 0, clip);
  REQUIRE(sent);
  REQUIRE(sent->status == 204);
  auto head = s.client().Head(upload, tus(s));
  REQUIRE(head);
  const std::string id = head->get_header_value("Streamlet-Video-Id");
  REQUIRE(!id.empty());
  for (int i = 0; i < 600; ++i) {
    const std::string status = get_json(s, "/v1/videos/" + id, "test-key")["status"];
    REQUIRE(status != "failed");
    if (status == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(get_json(s, "/v1/videos/" + id, "test-key")["status"] == "ready");
  auto reg = s.client().Post("/v1/auth/register",
                             json{{"username", "alice"}, {"password", "correct horse"}}.dump(),
                             "application/json");
  REQUIRE(reg);
  REQUIRE(reg->status == 201);
  const std::string alice = json::parse(reg->body)["token"];
  auto set_visibility = [&](const char* v) {
    auto res = s.client().Patch("/v1/videos/" + id, bearer("test-key"),
                                json{{"visibility", v}}.dump(), "application/json");
    REQUIRE(res);
    REQUIRE(res->status == 200);
  };
  const std::string watch_url = std::string(kPublicUrl) + "/watch/" + id;

  {
    INFO("the owner downloads the original, with Range; other users get 404, anonymous callers 401");
    const std::string original = read_file(clip_small());
    auto full = s.client().Get("/v1/videos/" + id + "/original", bearer("test-key"));
    REQUIRE(full);
    CHECK(full->status == 200);
    CHECK(full->body == original);
    CHECK(full->get_header_value("Content-Type") == "application/octet-stream");
    const std::string name = clip_small().filename().string();
    CHECK(full->get_header_value("Content-Disposition") ==
          "attachment; filename=\"" + name + "\"; filename*=UTF-8''" + name);
    auto headers = bearer("test-key");
    headers.emplace("Range", "bytes=10-19");
    auto part = s.client().Get("/v1/videos/" + id + "/original", headers);
    REQUIRE(part);
    CHECK(part->status == 206);
    CHECK(part->body == original.substr(10, 10));
    CHECK(part->get_header_value("Content-Range") ==
          "bytes 10-19/" + std::to_string(original.size()));
    for (const std::string& who : {alice, std::string()}) {
      auto refused = s.client().Get("/v1/videos/" + id + "/original",
                                    who.empty() ? httplib::Headers{} : bearer(who));
      REQUIRE(refused);
      // Anonymous: sign in first (401); another user: no such video (404).
      CHECK(refused->status == (who.empty() ? 401 : 404));
      CHECK(refused->body.find(name) == std::string::npos);
    }
  }

  {
    INFO("a hostile file name comes back without its path, quotes or backslashes");
    // (Control characters in a filename are refused when the upload is created.)
    const std::string bytes = test_bytes(1000);
    const std::string upload = create_upload(
        s, bytes.size(),
        {{"Upload-Metadata",
          streamlet::upload::format_metadata({{"filename", "../../etc/ev\"il\\name\xe5\x90\x8d.mp4"}})}});
    auto done = patch(s, upload, 0, bytes);
    REQUIRE(done);
    REQUIRE(done->status == 204);
    auto info = s.client().Head(upload, tus(s));
    REQUIRE(info);
    const std::string video = info->get_header_value("Streamlet-Video-Id");
    REQUIRE(!video.empty());
    auto res = s.client().Get("/v1/videos/" + video + "/original", bearer("test-key"));
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == bytes);
    // httplib's client percent-decodes header values: read the raw header with curl.
    auto raw = run({"curl", "-s", "-o", "/dev/null", "-D", "-", "-H", "Authorization: Bearer test-key",
                    s.base_url() + "/v1/videos/" + video + "/original"});
    CHECK(raw.output.find("Content-Disposition: attachment; filename=\"ev_il_name___.mp4\"; "
                          "filename*=UTF-8''ev%22il%5Cname%E5%90%8D.mp4\r\n") != std::string::npos);
  }

  {
    INFO("the watch page unfurls: escaped title, OpenGraph and Twitter tags, oEmbed link");
    auto page = s.client().Get("/watch/" + id);
    REQUIRE(page);
    REQUIRE(page->status == 200);
    const std::string& html = page->body;
    INFO(html);
    // The attack: the title's own </title><script> must stay text.
    CHECK(html.find("<script>alert") == std::string::npos);
    CHECK(html.find("<title>Dusk &lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
                    "&amp; &#39;more&#39; · Streamlet</title>") != std::string::npos);
    CHECK(html.find("<title>Streamlet</title>") == std::string::npos);
    CHECK(meta_content(html, "og:title") == kEvilTitle);
    CHECK(meta_content(html, "og:description") == "Boats <b>coming</b> home");
    CHECK(meta_content(html, "og:url") == watch_url);
    CHECK(meta_content(html, "og:video") == std::string(kPublicUrl) + "/embed/" + id);
    CHECK(meta_content(html, "twitter:card") == "player");
    // og:image is absolute (--public-url) and names the poster this server serves.
    const std::string image = meta_content(html, "og:image");
    auto poster = s.client().Get(path_of_url(image));
    REQUIRE(poster);
    CHECK(poster->status == 200);
    CHECK(poster->get_header_value("Content-Type") == "image/jpeg");
    CHECK(html.find("<link rel=\"alternate\" type=\"application/json+oembed\" href=\"" +
                    std::string(kPublicUrl) + "/oembed?url=https%3A%2F%2Fvideo.example.test%2Fwatch%2F" +
                    id + "&amp;format=json\"") != std::string::npos);
    // Only the embed may be framed by other sites.
    CHECK(page->get_header_value("X-Frame-Options") == "DENY");
    CHECK(page->get_header_value("Content-Security-Policy") == "frame-ancestors 'none'");
    auto embed = s.client().Get("/embed/" + id);
    REQUIRE(embed);
    CHECK(embed->status == 200);
    CHECK(embed->get_header_value("Content-Type") == "text/html; charset=utf-8");
    CHECK(!embed->has_header("X-Frame-Options"));
    CHECK(embed->get_header_value("Content-Security-Policy") == "frame-ancestors *");
    auto home = s.client().Get("/");
    REQUIRE(home);
    CHECK(home->get_header_value("X-Frame-Options") == "DENY");
  }

  {
    INFO("a channel lists the user's public ready videos only, to everyone");
    auto ids = [](const json& page) {
      std::vector<std::string> out;
      for (const auto& v : page["items"]) out.push_back(v["id"]);
      return out;
    };
    // A second video of the admin's that never finished: on no channel.
    create_upload(s, 100);
    CHECK(ids(get_json(s, "/v1/videos?owner=admin")) == std::vector<std::string>{id});
    CHECK(ids(get_json(s, "/v1/videos?owner=admin", "test-key")) == std::vector<std::string>{id});
    CHECK(ids(get_json(s, "/v1/videos?owner=alice", alice)).empty());
    set_visibility("unlisted");
    CHECK(ids(get_json(s, "/v1/videos?owner=admin", "test-key")).empty());
    set_visibility("public");
    auto unknown = s.client().Get("/v1/videos?owner=nobody_here");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    CHECK(json::parse(unknown->body)["error"] == "no such user");
    auto page = s.client().Get("/u/admin");
    REQUIRE(page);
    CHECK(page->status == 200);
    CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  }

  {
    INFO("oEmbed: a video document for a public or unlisted video, 404 private, 501 xml");
    const std::string q = "/oembed?url=" + watch_url;
    json doc = get_json(s, q + "&format=json");
    CHECK(doc["version"] == "1.0");
    CHECK(doc["type"] == "video");
    CHECK(doc["title"] == kEvilTitle);
    CHECK(doc["author_name"] == "admin");
    CHECK(doc["author_url"] == std::string(kPublicUrl) + "/u/admin");
    CHECK(doc["provider_url"] == std::string(kPublicUrl) + "/");
    // 320x240 source: 640 wide at 4:3.
    CHECK(doc["width"] == 640);
    CHECK(doc["height"] == 480);
    const std::string html = doc["html"];
    CHECK(html.rfind("<iframe src=\"" + std::string(kPublicUrl) + "/embed/" + id + "\" width=\"640\" "
                     "height=\"480\"", 0) == 0);
    CHECK(html.find("<script>") == std::string::npos);
    CHECK(path_of_url(doc["thumbnail_url"]) == "/media/" + id + "/poster.jpg");
    CHECK(doc.contains("thumbnail_width"));
    // maxwidth keeps the aspect; the embed's own URL works too; format defaults to json.
    json small = get_json(s, "/oembed?url=" + std::string(kPublicUrl) + "/embed/" + id +
                                 "&maxwidth=320");
    CHECK(small["width"] == 320);
    CHECK(small["height"] == 240);

    auto status_of = [&](const std::string& path) {
      auto res = s.client().Get(path);
      REQUIRE(res);
      INFO(path << " -> " << res->body);
      CHECK(res->get_header_value("Content-Type") == "application/json");
      return res->status;
    };
    CHECK(status_of(q + "&format=xml") == 501);
    CHECK(status_of("/oembed?url=" + std::string(kPublicUrl) + "/watch/nosuchvideo1") == 404);
    CHECK(status_of("/oembed?url=" + std::string(kPublicUrl) + "/library") == 404);
    CHECK(status_of("/oembed") == 400);
    CHECK(status_of(q + "&maxwidth=wide") == 400);

    set_visibility("unlisted");
    CHECK(status_of(q) == 200);  // whoever has the link may embed it
    set_visibility("private");
    CHECK(status_of(q) == 404);
    auto page = s.client().Get("/watch/" + id);
    REQUIRE(page);
    CHECK(page->body.find("og:title") == std::string::npos);
    CHECK(page->body.find("Dusk") == std::string::npos);
    CHECK(page->body.find("<title>Streamlet</title>") != std::string::npos);
  }
}
