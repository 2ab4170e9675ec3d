// API-key authentication for write endpoints (Authorization: Bearer KEY).
#pragma once

#include <filesystem>
#include <string>

#include "streamlet/status.hpp"

namespace streamlet::server {

// The key to use: `given` if not empty; else the one stored in DATA/api-key; else a new
// random key written there (owner-only, atomically). `generated` tells the caller to print it.
struct ApiKey {
  std::string key;
  bool generated = false;
  std::filesystem::path file;  // where a stored/generated key lives
};
Result<ApiKey> resolve_api_key(const std::string& given, const std::filesystem::path& data_dir);

// True if `authorization` is "Bearer <key>" (compared in constant time).
bool authorized(const std::string& authorization, const std::string& key);

}  // namespace streamlet::server
