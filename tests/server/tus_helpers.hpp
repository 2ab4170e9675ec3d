// Small helpers shared by the server tests: tus headers, creating uploads, reading files.
#pragma once

#include <httplib.h>

#include <cstring>
#include <random>
#include <string>

#include "child_process.hpp"
#include "support/support.hpp"

namespace streamlet::test {

inline httplib::Headers tus(const ServerProcess& s, httplib::Headers extra = {}) {
  extra.emplace("Tus-Resumable", "1.0.0");
  extra.emplace("Authorization", "Bearer " + s.api_key());
  return extra;
}

// The path part of a Location URL ("http://host:port/v1/uploads/id" -> "/v1/uploads/id").
inline std::string path_of(const std::string& location) {
  auto at = location.find("/v1/uploads/");
  REQUIRE(at != std::string::npos);
  return location.substr(at);
}

inline std::string create_upload(const ServerProcess& s, uint64_t length,
                                 httplib::Headers extra = {}) {
  extra.emplace("Upload-Length", std::to_string(length));
  auto res = s.client().Post("/v1/uploads", tus(s, extra), std::string(), "");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  return path_of(res->get_header_value("Location"));
}

inline httplib::Result patch(const ServerProcess& s, const std::string& path, uint64_t offset,
                             const std::string& body, httplib::Headers extra = {}) {
  extra.emplace("Upload-Offset", std::to_string(offset));
  return s.client().Patch(path, tus(s, extra), body, "application/offset+octet-stream");
}

inline std::string test_bytes(size_t n, unsigned seed = 7) {
  std::mt19937_64 gen(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = gen();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

// Where the server keeps the bytes of an upload.
inline fs::path stored_path(const fs::path& data, const std::string& upload_path) {
  return data / "uploads" / (upload_path.substr(upload_path.rfind('/') + 1) + ".bin");
}

}  // namespace streamlet::test
