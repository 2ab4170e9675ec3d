// What the mail and original-link tests do to a server: upload a file as a video, wait for
// its transcode to end, call the API as a user, check a JSON error.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/crypto.hpp"
#include "tus_helpers.hpp"

namespace streamlet::test {

inline httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

using Metadata = std::vector<std::pair<std::string, std::string>>;

// tus Upload-Metadata of key/value pairs (values base64-encoded here).
inline std::string tus_metadata(const Metadata& metadata) {
  std::string meta;
  for (const auto& [k, v] : metadata) {
    std::string b64 = detail::base64url_encode(v);
    for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b64.size() % 4) b64 += '=';
    meta += (meta.empty() ? "" : ",") + k + " " + b64;
  }
  return meta;
}

// A new upload of `bytes` (the admin's), whole; returns its video id.
inline std::string upload_video(const ServerProcess& s, const std::string& bytes,
                                const Metadata& metadata) {
  auto created = s.client().Post(
      "/v1/uploads",
      tus(s, {{"Upload-Length", std::to_string(bytes.size())},
              {"Upload-Metadata", tus_metadata(metadata)}}),
      std::string(), "");
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status == 201, created->body);
  const std::string video = created->get_header_value("Streamlet-Video-Id");
  auto sent = patch(s, path_of(created->get_header_value("Location")), 0, bytes);
  REQUIRE(sent);
  REQUIRE(sent->status == 204);
  return video;
}

// The video once ready or failed (at most 120 s).
inline nlohmann::json wait_final(const ServerProcess& s, const std::string& video) {
  using namespace std::chrono_literals;
  nlohmann::json v;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = s.client().Get("/v1/videos/" + video, bearer(s.api_key()));
    REQUIRE(got);
    v = nlohmann::json::parse(got->body);
    if (v["status"] == "ready" || v["status"] == "failed") break;
    std::this_thread::sleep_for(100ms);
  }
  return v;
}

inline std::string register_user(const ServerProcess& s, const std::string& name) {
  auto reg = s.client().Post("/v1/auth/register",
                             nlohmann::json{{"username", name}, {"password", "correct horse"}}.dump(),
                             "application/json");
  REQUIRE(reg);
  REQUIRE(reg->status == 201);
  return nlohmann::json::parse(reg->body)["token"];
}

inline void check_error(const httplib::Result& r, int status, const std::string& code,
                        const std::string& words) {
  REQUIRE(r);
  CHECK_MESSAGE(r->status == status, r->body);
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  REQUIRE_MESSAGE(body.is_object(), r->body);
  CHECK(body["code"] == code);
  CHECK_MESSAGE(body["error"].get<std::string>().find(words) != std::string::npos, r->body);
}

}  // namespace streamlet::test
