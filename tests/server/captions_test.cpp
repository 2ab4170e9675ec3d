// Captions and custom posters over real HTTP: bad input first, then a captioned video that
// ffmpeg reads back through the HLS master (SUBTITLES group) and DASH players find in the MPD.
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tus_helpers.hpp"

using namespace streamlet::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string kSrt =
    "1\r\n00:00:00,200 --> 00:00:01,400\r\nHello from the captions\r\n\r\n"
    "2\r\n00:00:01,500 --> 00:00:02,800\r\nSecond line \xC3\xA9\r\n\r\n";

// A ready public video of the admin's, 3 s in 1 s segments.
std::string ready_video(const ServerProcess& s) {
  const std::string bytes = read_file(clip_small());
  auto created = s.client().Post(
      "/v1/uploads",
      tus(s, {{"Upload-Length", std::to_string(bytes.size())},
              {"Upload-Metadata", "filename Y2xpcC5tcDQ=,visibility cHVibGlj"}}),
      std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const std::string video = created->get_header_value("Streamlet-Video-Id");
  auto sent = patch(s, path_of(created->get_header_value("Location")), 0, bytes);
  REQUIRE(sent);
  REQUIRE(sent->status == 204);
  json v;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = s.client().Get("/v1/videos/" + video);
    REQUIRE(got);
    v = json::parse(got->body);
    if (v["status"] == "ready" || v["status"] == "failed") break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE_MESSAGE(v["status"] == "ready", v.dump());
  return video;
}

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string register_user(const ServerProcess& s, const std::string& name) {
  auto reg = s.client().Post("/v1/auth/register",
                             json{{"username", name}, {"password", "correct horse"}}.dump(),
                             "application/json");
  REQUIRE(reg);
  REQUIRE(reg->status == 201);
  return json::parse(reg->body)["token"];
}

void check_error(const httplib::Result& r, int status, const std::string& code,
                 const std::string& words) {
  REQUIRE(r);
  CHECK_MESSAGE(r->status == status, r->body);
  auto body = json::parse(r->body, nullptr, false);
  REQUIRE_MESSAGE(body.is_object(), r->body);
  CHECK(body["code"] == code);
  CHECK_MESSAGE(body["error"].get<std::string>().find(words) != std::string::npos, r->body);
}

}  // namespace

TEST_CASE("captions: PUT, GET and DELETE over HTTP, and ffmpeg reads them through the HLS master") {
  TempDir dir;
  ServerProcess s(dir / "data", "test-key",
                  {"--ladder", "240p:300k", "--preset", "ultrafast", "--segment-seconds", "1"});
  const std::string video = ready_video(s);
  const std::string bob = register_user(s, "bob");
  auto cli = s.client();
  const std::string base = "/v1/videos/" + video + "/captions/";
  auto put = [&](const std::string& path, const std::string& body, const std::string& token,
                 const std::string& type = "text/vtt") {
    return cli.Put(path.c_str(), bearer(token), body, type.c_str());
  };

  // Bad input first: every refusal is a clear 4xx with a JSON body.
  check_error(put("/v1/videos/nosuchvideo1/captions/en", kSrt, s.api_key()), 404, "not_found",
              "nosuchvideo1");
  check_error(put(base + "en_US", kSrt, s.api_key()), 400, "invalid_argument", "BCP 47");
  check_error(put(base + "en", "WEBVTT\n\n00:00:04.000 --> 00:00:01.000\nbackwards\n",
                  s.api_key()),
              400, "invalid_argument", "line 3: the cue ends before it starts");
  check_error(put(base + "en", "1\n00:00:01,000 --> 00:00:02,000\ncaf\xE9\n", s.api_key()), 400,
              "invalid_argument", "not UTF-8");
  check_error(put(base + "en", std::string(2u << 20, 'a'), s.api_key()), 413, "too_large",
              "larger than");
  check_error(put(base + "en", kSrt, bob), 403, "permission_denied", "");
  check_error(cli.Put((base + "en").c_str(), kSrt, "text/vtt"), 401, "unauthenticated", "");
  check_error(put(base + "en", "{\"label\": 3}", s.api_key(), "application/json"), 400,
              "invalid_argument", "content");
  auto none = cli.Get(("/v1/videos/" + video + "/captions").c_str());
  REQUIRE(none);
  CHECK(none->status == 200);
  CHECK(json::parse(none->body)["items"].empty());

  // SRT in, with its label in the query; WebVTT in, as JSON with a label field.
  auto en = put(base + "EN?label=English", kSrt, s.api_key(), "application/x-subrip");
  REQUIRE(en);
  REQUIRE_MESSAGE(en->status == 200, en->body);
  auto en_doc = json::parse(en->body);
  CHECK(en_doc["language"] == "en");
  CHECK(en_doc["label"] == "English");
  CHECK(en_doc["cues"] == 2);
  auto pt = put(base + "pt-br",
                json{{"label", "Portugu\xC3\xAAs"},
                     {"content", "WEBVTT\n\n00:00.500 --> 00:02.000\nOl\xC3\xA1\n"}}
                    .dump(),
                s.api_key(), "application/json");
  REQUIRE(pt);
  REQUIRE_MESSAGE(pt->status == 200, pt->body);
  CHECK(json::parse(pt->body)["language"] == "pt-BR");

  auto list = json::parse(cli.Get(("/v1/videos/" + video + "/captions").c_str())->body)["items"];
  REQUIRE(list.size() == 2);
  CHECK(list[0]["language"] == "en");
  auto got = json::parse(cli.Get(("/v1/videos/" + video).c_str())->body);
  CHECK(got["captions"].size() == 2);

  // The whole WebVTT file, as a browser's <track> or DASH player fetches it.
  auto vtt = cli.Get(en_doc["url"].get<std::string>().c_str());
  REQUIRE(vtt);
  CHECK(vtt->status == 200);
  CHECK(vtt->get_header_value("Content-Type").rfind("text/vtt", 0) == 0);
  CHECK(vtt->body.rfind("WEBVTT\n\n00:00:00.200 --> 00:00:01.400\nHello from the captions\n", 0) ==
        0);

  // The master names the group on every variant; ffmpeg finds two subtitle streams in it and
  // reads the cues back out of the segmented WebVTT.
  auto master = cli.Get(("/media/" + video + "/master.m3u8").c_str());
  REQUIRE(master);
  CHECK(master->body.find("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\","
                          "LANGUAGE=\"en\"") != std::string::npos);
  CHECK(master->body.find("SUBTITLES=\"subs\"\n") != std::string::npos);
  auto segment = cli.Get(("/media/" + video + "/subs/en/seg_00001.vtt").c_str());
  REQUIRE(segment);
  CHECK(segment->status == 200);
  CHECK(segment->body.find("X-TIMESTAMP-MAP=MPEGTS:") != std::string::npos);
  const std::string url = s.base_url() + "/media/" + video + "/master.m3u8";
  // FFmpeg's HLS demuxer reads subtitle renditions only when asked to (-strict experimental).
  auto probe = ffprobe(url, {"-strict", "experimental"});
  int subtitle_streams = 0;
  for (const auto& st : probe["streams"])
    if (st.value("codec_type", "") == "subtitle") ++subtitle_streams;
  CHECK_MESSAGE(subtitle_streams == 2, probe.dump());
  const fs::path out = dir / "en.vtt";
  auto extracted = run({"ffmpeg", "-v", "error", "-y", "-strict", "experimental", "-i", url, "-map", "0:s:m:language:en",
                        "-c", "copy", "-f", "webvtt", out.string()});
  CHECK_MESSAGE(extracted.exit_code == 0, extracted.output);
  const std::string cues = read_file(out);
  CHECK_MESSAGE(cues.find("Hello from the captions") != std::string::npos, cues);
  CHECK_MESSAGE(cues.find("Second line \xC3\xA9") != std::string::npos, cues);

  // DASH players get a text adaptation set naming the sidecar file.
  auto mpd = cli.Get(("/media/" + video + "/manifest.mpd").c_str());
  REQUIRE(mpd);
  CHECK(mpd->body.find("contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\"") !=
        std::string::npos);
  CHECK(mpd->body.find("<BaseURL>subs/pt-BR.vtt</BaseURL>") != std::string::npos);

  // DELETE: gone from the list, the manifests and storage; a second DELETE is 404.
  auto del = cli.Delete((base + "en").c_str(), bearer(bob));
  REQUIRE(del);
  CHECK(del->status == 403);
  del = cli.Delete((base + "en").c_str(), bearer(s.api_key()));
  REQUIRE(del);
  CHECK(del->status == 204);
  check_error(cli.Delete((base + "en").c_str(), bearer(s.api_key())), 404, "not_found", "en");
  master = cli.Get(("/media/" + video + "/master.m3u8").c_str());
  CHECK(master->body.find("NAME=\"English\"") == std::string::npos);
  CHECK(master->body.find("NAME=\"Portugu\xC3\xAAs\"") != std::string::npos);
  CHECK(cli.Get(("/media/" + video + "/subs/en.vtt").c_str())->status == 404);
  CHECK(cli.Get(("/media/" + video + "/subs/en/seg_00001.vtt").c_str())->status == 404);
  REQUIRE(cli.Delete((base + "pt-BR").c_str(), bearer(s.api_key()))->status == 204);
  master = cli.Get(("/media/" + video + "/master.m3u8").c_str());
  CHECK(master->body.find("SUBTITLES") == std::string::npos);
}

TEST_CASE("captions: a custom poster (an image, or a frame at a time) is a resized JPEG, and the owner downloads the original") {
  TempDir dir;
  ServerProcess s(dir / "data", "test-key",
                  {"--ladder", "240p:300k", "--preset", "ultrafast", "--segment-seconds", "1"});
  const std::string video = ready_video(s);
  auto cli = s.client();
  const std::string path = "/v1/videos/" + video + "/poster";
  auto put = [&](const std::string& body, const std::string& type) {
    return cli.Put(path.c_str(), bearer(s.api_key()), body, type.c_str());
  };
  check_error(put("not an image at all", "image/png"), 422, "invalid_media", "JPEG or PNG");
  check_error(put(std::string("\x89PNG\r\n\x1a\n", 8) + "garbage after the magic", "image/png"),
              422, "invalid_media", "could not be decoded");
  check_error(cli.Put(("/v1/videos/nosuchvideo1/poster"), bearer(s.api_key()), "x", "image/png"),
              404, "not_found", "");

  const fs::path png = fixture("poster_2000x1000.png", {"-f", "lavfi", "-i",
                                                        "color=c=red:size=2000x1000", "-frames:v",
                                                        "1"});
  auto r = put(read_file(png), "image/png");
  REQUIRE(r);
  REQUIRE_MESSAGE(r->status == 200, r->body);
  const std::string poster = json::parse(r->body)["poster"];
  CHECK(poster.find("/poster_") != std::string::npos);
  auto image = cli.Get(poster.c_str());
  REQUIRE(image);
  CHECK(image->status == 200);
  CHECK(image->get_header_value("Content-Type") == "image/jpeg");
  write_file(dir / "poster.jpg", image->body);
  auto probe = ffprobe(dir / "poster.jpg");
  CHECK(probe["streams"][0]["width"] == 1280);
  CHECK(probe["streams"][0]["height"] == 640);
  CHECK(json::parse(cli.Get(("/v1/videos/" + video).c_str())->body)["poster"] == poster);

  // A frame of the video itself, picked by time (what the storyboard shows there).
  check_error(cli.Put((path + "?at=soon").c_str(), bearer(s.api_key()), "", "text/plain"), 400,
              "invalid_argument", "at:");
  auto at = cli.Put((path + "?at=2.5").c_str(), bearer(s.api_key()), "", "text/plain");
  REQUIRE(at);
  REQUIRE_MESSAGE(at->status == 200, at->body);
  const std::string framed = json::parse(at->body)["poster"];
  CHECK(framed != poster);
  CHECK(cli.Get(poster.c_str())->status == 404);  // the earlier custom poster is gone
  write_file(dir / "frame.jpg", cli.Get(framed.c_str())->body);
  auto frame = ffprobe(dir / "frame.jpg");
  CHECK(frame["streams"][0]["codec_name"] == "mjpeg");
  CHECK(frame["streams"][0]["height"] == 240);  // the 240p rendition's frame
  // The owner downloads the original file, byte for byte; nobody else can.
  const std::string bob = register_user(s, "bob");
  check_error(cli.Get(("/v1/videos/" + video + "/original").c_str(), bearer(bob)), 404,
              "not_found", "");
  check_error(cli.Get(("/v1/videos/" + video + "/original").c_str()), 401, "unauthenticated", "");
  auto original = cli.Get(("/v1/videos/" + video + "/original").c_str(), bearer(s.api_key()));
  REQUIRE(original);
  CHECK(original->status == 200);
  CHECK(original->body == read_file(clip_small()));
  CHECK(original->get_header_value("Content-Disposition").rfind("attachment; filename=\"clip.mp4\"", 0) == 0);

  // Past the end: the last frame, not an error.
  auto late = cli.Put((path + "?at=3600").c_str(), bearer(s.api_key()), "", "text/plain");
  REQUIRE(late);
  CHECK_MESSAGE(late->status == 200, late->body);
}
