// S3-compatible object storage (AWS S3, Ceph RGW, MinIO, ...) as a storage::Storage, for a
// cluster whose nodes share one bucket instead of one data directory:
//
//   auto opt = streamlet::s3::parse_s3_url(
//       "s3://media?endpoint=http://rgw:7480&region=us-east-1&path_style=1").value();
//   auto store = streamlet::s3::open_s3_storage(opt).value();   // HEADs the bucket first
//
// Every key maps to the object of the same name in the bucket (after `key_prefix`). An
// Appender (tus upload data) keeps its bytes as multipart-upload parts of `part_size` plus
// the unfinished tail as its own object "<key>.tail.<N>", so any node can resume it; keys
// ending in ".tail.<digits>" are the backend's own and never listed. A Publication stages its
// objects under "<prefix>.staging-<random>/" and copies them into place, `last` ones last.
// Requests are signed with AWS SigV4 (by libcurl).
//
// Thread safety: as storage::Storage. A Storage holds a small pool of HTTP connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::s3 {

struct S3Options {
  // The bucket's name. Required.
  std::string bucket{};
  // "http(s)://host[:port]" of the S3 service. Required.
  std::string endpoint{};
  // The signing region. Default: "us-east-1".
  std::string region = "us-east-1";
  // Address the bucket as endpoint/bucket/key (true) or bucket.host/key (false). Path style
  // works with every S3-compatible server. Default: true.
  bool path_style = true;
  // Credentials. Required.
  std::string access_key{};
  std::string secret_key{};
  // Keys live under this prefix in the bucket ("" or ending in '/'). Default: "".
  std::string key_prefix{};
  // Size of a multipart part, for appenders and big writes: at least 5 MiB (S3's smallest
  // part). An appender holds up to about this much in memory. Default: 8 MiB.
  uint64_t part_size = 8ull << 20;
  // Create the bucket when it does not exist (tests, a first start). Default: false.
  bool create_bucket = false;
  // CA bundle for an https endpoint; empty uses the system's. Default: "".
  std::string ca_file{};
  // Longest wait for a connection. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // A request during which nothing moves for this long fails. Default: 60 s.
  std::chrono::milliseconds idle_timeout{60000};
};

// Parses "s3://BUCKET?endpoint=http://HOST:PORT&region=REGION[&path_style=1][&prefix=P]",
// with the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. kInvalidArgument,
// saying what is wrong, for a malformed URL, an unknown parameter or missing credentials.
Result<S3Options> parse_s3_url(std::string_view url);

// Opens the bucket, checking it answers (HEAD bucket): kNotFound for no such bucket,
// kPermissionDenied for credentials it refuses, kIo when the server cannot be reached or
// fails; each with the server's own error code and message.
Result<std::shared_ptr<storage::Storage>> open_s3_storage(const S3Options& options);

}  // namespace streamlet::s3
