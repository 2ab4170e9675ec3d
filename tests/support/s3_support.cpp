#include "support/s3_support.hpp"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>

namespace streamlet::test {

bool storage_is_s3() {
  return std::getenv("STREAMLET_TEST_RGW_DIR") != nullptr;
}

std::optional<s3::S3Options> rgw_options(std::string* why) {
  const char* dir = std::getenv("STREAMLET_TEST_RGW_DIR");
  if (!dir) {
    *why = "needs the test RGW: runs in the S3 registration (\"<suite>-s3: ...\", fixture rgw)";
    return std::nullopt;
  }
  std::ifstream in(std::string(dir) + "/env");
  if (!in) {
    *why = "no test RGW in " + std::string(dir) +
           " (ceph-mon, ceph-osd and radosgw are not installed, or it did not start; see "
           "the 'rgw: start' test)";
    return std::nullopt;
  }
  std::map<std::string, std::string> env;
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos)
      env[line.substr(0, eq)] = line.substr(eq + 1);
  s3::S3Options o;
  o.bucket = "streamlet-test";
  o.endpoint = env["S3_ENDPOINT"];
  o.region = env["S3_REGION"];
  o.access_key = env["AWS_ACCESS_KEY_ID"];
  o.secret_key = env["AWS_SECRET_ACCESS_KEY"];
  o.part_size = 5ull << 20;
  o.create_bucket = true;
  return o;
}

std::shared_ptr<storage::Storage> test_storage(const std::string& dir, std::string* why) {
  if (!storage_is_s3()) {
    auto s = storage::open_local({.root = dir, .durable = false});
    if (!s.ok()) {
      *why = s.status().to_string();
      return nullptr;
    }
    return *s;
  }
  auto o = rgw_options(why);
  if (!o) return nullptr;
  // One prefix per directory: a case that reopens "the same store" reopens the same prefix.
  o->key_prefix = "t" + std::to_string(std::hash<std::string>{}(dir)) + "/";
  auto s = s3::open_s3_storage(*o);
  if (!s.ok()) {
    *why = s.status().to_string();
    return nullptr;
  }
  return *s;
}

}  // namespace streamlet::test
