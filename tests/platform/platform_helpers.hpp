// Helpers for the platform suite: the real streamlet-server (tests/server's ServerProcess)
// driven over loopback as a user would, with ffmpeg/ffprobe as independent players.
#pragma once

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "platform/backends.hpp"
#include "server/child_process.hpp"
#include "streamlet/upload.hpp"
#include "support/support.hpp"

namespace streamlet::test {

using json = nlohmann::json;

// Fast transcodes: one small rung, the fastest preset.
inline std::vector<std::string> small_ladder(std::vector<std::string> extra = {}) {
  extra.insert(extra.end(), {"--ladder", "240p:300k", "--preset", "ultrafast"});
  return extra;
}

struct Answer {
  int status = 0;
  json body;
  httplib::Headers headers;
};

inline httplib::Headers bearer(const std::string& token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

// One API call; `body` is sent as is (so tests can send malformed JSON).
inline Answer call(const ServerProcess& s, const std::string& method, const std::string& path,
                   const std::string& token = "", const std::string& body = "") {
  auto c = s.client();
  httplib::Headers h = bearer(token);
  auto send = [&]() -> httplib::Result {
    if (method == "HEAD") return c.Head(path.c_str(), h);
    if (method == "DELETE") return c.Delete(path.c_str(), h, body, "application/json");
    if (method == "POST") return c.Post(path.c_str(), h, body, "application/json");
    if (method == "PATCH") return c.Patch(path.c_str(), h, body, "application/json");
    if (method == "PUT") return c.Put(path.c_str(), h, body, "application/json");
    return c.Get(path.c_str(), h);
  };
  auto r = send();
  REQUIRE_MESSAGE(r, method << " " << path << ": no answer");
  Answer a;
  a.status = r->status;
  a.headers = r->headers;
  a.body = json::parse(r->body, nullptr, false);
  return a;
}

// Registers `name` and returns its session token.
inline std::string register_user(const ServerProcess& s, const std::string& name) {
  auto a = call(s, "POST", "/v1/auth/register", "",
                json{{"username", name}, {"password", "correct horse"}}.dump());
  REQUIRE(a.status == 201);
  return a.body["token"].get<std::string>();
}

struct Uploaded {
  std::string video_id;
  std::string upload_path;  // /v1/uploads/<id>
};

// Creates an unfinished tus upload of `length` bytes (its video stays "uploading").
inline Uploaded begin_tus_upload(const ServerProcess& s, const std::string& token,
                                 uint64_t length) {
  httplib::Headers h = bearer(token);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", std::to_string(length));
  auto created = s.client().Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  Uploaded u;
  u.video_id = created->get_header_value("Streamlet-Video-Id");
  const std::string location = created->get_header_value("Location");
  REQUIRE(location.find("/v1/uploads/") != std::string::npos);
  u.upload_path = location.substr(location.find("/v1/uploads/"));
  return u;
}

// A tus upload of `file` in two PATCHes; returns the video the server made for it.
inline Uploaded tus_upload(const ServerProcess& s, const std::string& token, const fs::path& file,
                           std::map<std::string, std::string> meta = {}) {
  const std::string bytes = read_file(file);
  meta.emplace("filename", file.filename().string());
  auto c = s.client();
  httplib::Headers h = bearer(token);
  h.emplace("Tus-Resumable", "1.0.0");
  h.emplace("Upload-Length", std::to_string(bytes.size()));
  h.emplace("Upload-Metadata", upload::format_metadata(meta));
  auto created = c.Post("/v1/uploads", h, std::string(), "");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  Uploaded u;
  u.video_id = created->get_header_value("Streamlet-Video-Id");
  REQUIRE(!u.video_id.empty());
  std::string location = created->get_header_value("Location");
  u.upload_path = location.substr(location.find("/v1/uploads/"));
  size_t half = bytes.size() / 2;
  for (auto [from, to] : {std::pair{size_t(0), half}, std::pair{half, bytes.size()}}) {
    httplib::Headers ph = bearer(token);
    ph.emplace("Tus-Resumable", "1.0.0");
    ph.emplace("Upload-Offset", std::to_string(from));
    auto r = c.Patch(u.upload_path.c_str(), ph, bytes.substr(from, to - from),
                     "application/offset+octet-stream");
    REQUIRE(r);
    REQUIRE(r->status == 204);
  }
  return u;
}

struct SseEvent {
  std::string event;
  json data;
};

// Appends `data` to `buffer` and moves every complete Server-Sent Event in it to `out`.
inline void take_sse_events(std::string& buffer, const char* data, size_t n,
                            std::vector<SseEvent>& out) {
  buffer.append(data, n);
  for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
    std::string frame = buffer.substr(0, end);
    buffer.erase(0, end + 2);
    SseEvent e;
    std::istringstream lines(frame);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) e.data = json::parse(line.substr(6));
    }
    if (!e.event.empty()) out.push_back(e);
  }
}

// Follows /v1/videos/{id}/events until the server ends the stream; returns every event.
inline std::vector<SseEvent> follow_events(const ServerProcess& s, const std::string& token,
                                           const std::string& id) {
  auto c = s.client();
  c.set_read_timeout(120, 0);
  std::string buffer;
  std::vector<SseEvent> out;
  auto r = c.Get(("/v1/videos/" + id + "/events").c_str(), bearer(token),
                 [&](const char* data, size_t n) {
                   take_sse_events(buffer, data, n, out);
                   return true;
                 });
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return out;
}

inline std::string final_status(const std::vector<SseEvent>& events) {
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if (it->event == "status") return it->data["status"].get<std::string>();
  return "";
}

// ffmpeg as an independent player: decodes the whole stream at `url`; "" when clean.
inline std::string decode_url(const std::string& url) {
  auto r = run({"ffmpeg", "-nostdin", "-v", "error", "-i", url, "-f", "null", "-"});
  if (r.exit_code != 0) return "exit " + std::to_string(r.exit_code) + ": " + r.output;
  return r.output;
}

inline json wait_for(const std::function<bool()>& done, int seconds = 120) {
  for (int i = 0; i < seconds * 20 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return {};
}

// The video's job once it is done (the video turns ready just before its job is completed).
inline json finished_job(const ServerProcess& s, const std::string& token) {
  json job;
  wait_for([&] {
    auto a = call(s, "GET", "/v1/jobs?state=done", token);
    if (a.status != 200 || a.body["items"].empty()) return false;
    job = a.body["items"][0];
    return true;
  });
  REQUIRE_MESSAGE(!job.is_null(), "the job never finished");
  return job;
}

}  // namespace streamlet::test
