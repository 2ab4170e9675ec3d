// The S3 requests the storage backend makes, over net::HttpSession with SigV4 from curl.
// Internal to src/s3.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_client.hpp"
#include "streamlet/s3.hpp"
#include "streamlet/status.hpp"

namespace streamlet::s3::detail {

// AWS URI encoding: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when `keep_slash`) as %XX.
std::string aws_encode(std::string_view s, bool keep_slash);
// The text of an XML element's content with the five predefined entities and &#N; decoded.
std::string xml_unescape(std::string_view s);
std::string xml_escape(std::string_view s);
// The contents of every <tag>...</tag> in `xml`, in order (S3's answers never nest a tag in
// itself); the first one, or "" when there is none.
std::vector<std::string_view> xml_all(std::string_view xml, std::string_view tag);
std::string xml_first(std::string_view xml, std::string_view tag);
std::string sha256_hex(std::string_view bytes);
std::string md5_base64(std::string_view bytes);

using Query = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string key{};  // the object's full key in the bucket; empty: the bucket itself
  Query query{};
  std::vector<std::string> headers{};
  std::string_view body{};      // sent as is (with its SHA-256); must outlive the request
  net::BodySink sink{};         // a 2xx body goes here instead of the response
};

struct PartInfo {
  int number = 0;
  uint64_t size = 0;
  std::string etag;
};

struct ListedObject {
  std::string key;  // full key
  uint64_t size = 0;
  int64_t modified_ms = 0;
};

// One bucket, shared by the Storage and its readers, writers and appenders. Thread-safe:
// each request borrows an HTTP session (a kept-alive connection) from a small pool.
class Client {
 public:
  explicit Client(S3Options options);
  const S3Options& options() const { return options_; }
  std::string full_key(std::string_view key) const { return options_.key_prefix + std::string(key); }
  std::string describe() const;

  // The response of any status; kIo when none came.
  Result<net::HttpResponse> perform(const Request& request);
  // The Status for an answer that is not a success: 404 kNotFound, 403 kPermissionDenied,
  // 409/412 kConflict, 5xx or none kIo, with S3's <Code> and <Message>.
  Status failure(const Result<net::HttpResponse>& res, std::string_view what,
                 std::string_view key) const;
  // perform() and failure() for a request that must answer 2xx.
  Result<net::HttpResponse> expect_ok(const Request& request, std::string_view what);

  Status head_bucket();
  Status create_bucket();
  Status put(const std::string& key, std::string_view bytes,
             const std::vector<std::string>& headers = {});
  Status remove(const std::string& key);
  Status copy(const std::string& from, const std::string& to);
  // ListObjectsV2 from `prefix` in key order, every page, until `each` returns false.
  Status list(const std::string& prefix, const std::function<bool(const ListedObject&)>& each);
  // DeleteObjects in batches of 1000.
  Status remove_keys(const std::vector<std::string>& keys);

  Result<std::string> create_multipart(const std::string& key);
  Result<std::string> upload_part(const std::string& key, const std::string& upload_id,
                                  int number, std::string_view bytes);
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            const std::vector<PartInfo>& parts);
  Status abort_multipart(const std::string& key, const std::string& upload_id);
  // Every part of an upload in part order (kNotFound: no such upload).
  Result<std::vector<PartInfo>> list_parts(const std::string& key, const std::string& upload_id);
  // The ids of the unfinished multipart uploads whose key starts with `prefix` (pairs of key
  // and id).
  Result<std::vector<std::pair<std::string, std::string>>> list_multipart(
      const std::string& prefix);

 private:
  std::string url(std::string_view key, const Query& query) const;
  std::unique_ptr<net::HttpSession> borrow();
  void give_back(std::unique_ptr<net::HttpSession> session);

  S3Options options_;
  net::HttpOptions http_;
  std::mutex mu_;
  std::vector<std::unique_ptr<net::HttpSession>> idle_;
};

}  // namespace streamlet::s3::detail
