// The admin API key: given, stored in DATA/api-key, or generated there. Checking credentials
// is the platform's job (Platform::authenticate).
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

}  // namespace streamlet::server
