// The pieces of the embedded (one machine) platform that Platform::open_local and the
// URL-driven Platform::open share. Internal to the backends layer.
#pragma once

#include <filesystem>
#include <string>

#include "streamlet/platform.hpp"
#include "streamlet/status.hpp"

namespace streamlet::platform::internal {

struct Secrets {
  std::string token_secret;  // signs session tokens
  std::string signing_key;   // signs playback URLs of private videos
};

// DATA/secrets: read, or written once (0600) with new keys. A file that is there but not as
// we wrote it is refused with a message naming it, never replaced.
Result<Secrets> load_or_create_secrets(const std::filesystem::path& file);

// DATA/api-key: read, or written once (0600) with a new key (made_here). An empty or short
// file is refused with a message naming it, never replaced.
Result<NodeSecret> load_or_create_api_key(const std::filesystem::path& file);

// Refuses a zero-length catalog.db in a data directory that has been used (opening it would
// silently start over with no users and no videos).
Status check_catalog_file(const std::filesystem::path& data, const std::filesystem::path& db);

}  // namespace streamlet::platform::internal
