// The S3 side of the backend-generic suites: the test RGW (tests/support/rgw_server.sh, CTest
// fixture "rgw") found through STREAMLET_TEST_RGW_DIR, which only a suite's second, S3
// registration sets: then the backend-generic cases run on it instead of local disk.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "streamlet/s3.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::test {

// True when this run is the suite's S3 registration.
bool storage_is_s3();
// The test RGW's options (bucket "streamlet-test", created if missing) with a key prefix of
// its own, or nullopt with `why` when there is no RGW here (ceph not installed).
std::optional<s3::S3Options> rgw_options(std::string* why);
// The storage a backend-generic case runs on: S3 under a prefix named after `name` when
// storage_is_s3(), else local disk at `dir`. Null (with `why`) when S3 is wanted but absent.
std::shared_ptr<storage::Storage> test_storage(const std::string& dir, std::string* why);

}  // namespace streamlet::test
