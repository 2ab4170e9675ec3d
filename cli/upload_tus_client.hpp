// A small tus 1.0 client over cpp-httplib for `streamlet-cli upload`: create, offset, patch
// from a file range, concatenate. One TusClient per thread (httplib clients are not shared).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::cli {

// "http://host:port/path" split into the part httplib::Client takes and the path.
struct Url {
  std::string scheme_host;
  std::string path;
};
Result<Url> parse_url(const std::string& url);

struct TusClientOptions {
  std::string api_key;             // sent as "Authorization: Bearer"; empty sends none
  uint64_t chunk_size = 32 << 20;  // bytes per PATCH request. Default: 32 MiB
  uint64_t rate_limit = 0;         // bytes per second per client; 0 = unlimited
  int retries = 5;                 // attempts per chunk after a network error or 409/5xx
};

class TusClient {
 public:
  explicit TusClient(TusClientOptions options) : options_(std::move(options)) {}

  // POST: returns the absolute upload URL.
  Result<std::string> create(const std::string& endpoint, uint64_t length,
                             const std::map<std::string, std::string>& metadata, bool partial);
  // POST Upload-Concat: final; returns the final upload URL.
  Result<std::string> concatenate(const std::string& endpoint,
                                  const std::vector<std::string>& part_urls,
                                  const std::map<std::string, std::string>& metadata);
  // HEAD: the server's offset (kNotFound / kGone when the upload is no longer there).
  Result<uint64_t> offset(const std::string& url);
  // PATCHes file bytes [begin + offset, end) to `url`, whose data starts at file byte `begin`,
  // chunk by chunk, resuming from the server's offset after a failure. `sent` is advanced as
  // bytes are acknowledged.
  Status send(const std::string& url, int fd, uint64_t begin, uint64_t end,
              std::atomic<uint64_t>& sent);

 private:
  TusClientOptions options_;
};

}  // namespace streamlet::cli
