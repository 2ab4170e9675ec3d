// One HTTP client for everything Streamlet sends out (upload::Client's tus requests, the S3
// storage, webhooks), over libcurl. Internal to the library: no curl type leaves src/net.
// One HttpSession is one curl easy handle, used by one thread at a time; consecutive requests
// to the same host reuse its connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::net {

// AWS Signature Version 4, computed by curl (CURLOPT_AWS_SIGV4 "aws:amz:REGION:SERVICE").
// curl signs the path and query exactly as given and every header set on the request, and
// never adds x-amz-content-sha256 itself: the caller sends that header (S3 requires it).
struct AwsSigV4 {
  std::string region{};          // e.g. "us-east-1"; required
  std::string service = "s3";    // the signing service name
  std::string access_key{};      // required
  std::string secret_key{};      // required
};

// How a session connects. Every field has a usable default.
struct HttpOptions {
  // Longest wait for a TCP (and TLS) connection. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // A request during which no byte moves either way for this long fails. Default: 120 s.
  std::chrono::milliseconds idle_timeout{120000};
  // A whole request taking longer than this fails; 0 = no limit. Default: 0.
  std::chrono::milliseconds total_timeout{0};
  // Largest response body kept in HttpResponse::body; a longer one fails the request (a
  // hostile server cannot fill our memory). Bodies given to HttpRequest::sink are not
  // counted. Default: 1 MiB.
  size_t max_response_bytes = 1u << 20;
  // CA bundle for https; empty uses the system's. Default: "".
  std::string ca_file{};
  // Check the server's certificate and name (https). Off only for tests. Default: true.
  bool verify_tls = true;
  // The User-Agent header; empty sends none. Default: "streamlet".
  std::string user_agent = "streamlet";
  // Sign every request with AWS SigV4. Default: none.
  std::optional<AwsSigV4> aws_sigv4{};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // of the last response
  std::string body;  // empty when HttpRequest::sink took a 2xx body
  // The first value of header `name` (compared case-insensitively); "" when absent.
  std::string header(std::string_view name) const;
};

// Fills `buffer` with up to `size` bytes of the request body; returns the count, 0 at the
// end, or -1 when the body cannot be read (the request then fails).
using BodySource = std::function<long(char* buffer, size_t size)>;
// Takes the next bytes of a 2xx response's body; false aborts the request (kIo).
using BodySink = std::function<bool(const char* data, size_t size)>;

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, PATCH, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  uint64_t body_length = 0;          // bytes `body` will supply
  BodySource body{};                 // empty: no body
  // Restarts the body at byte `offset` (curl resends a request on a kept-alive connection that
  // died under it); false if it cannot. Empty: no rewinding.
  std::function<bool(uint64_t offset)> rewind{};
  // Streams a 2xx response's body here instead of into HttpResponse::body (which then keeps
  // only error bodies, bounded by max_response_bytes). Empty: into the body.
  BodySink sink{};
  uint64_t max_send_speed = 0;  // bytes/s; 0 = unlimited
  // Polled during the transfer: true aborts it with kCancelled.
  std::function<bool()> cancelled{};
  // Bytes of the body sent so far, updated during the transfer. May be null.
  std::atomic<uint64_t>* uploaded = nullptr;
  // Only the status and headers matter: the transfer ends when the answer's body begins,
  // which is neither read nor kept (and the connection is not reused). Default: false.
  bool status_only = false;

  // Sets `body`, `body_length` and `rewind` to send `bytes`, which must outlive the request.
  void set_body(std::string_view bytes);
};

class HttpSession {
 public:
  explicit HttpSession(HttpOptions options = {});
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  const HttpOptions& options() const;

  // Performs one request. A response of any status is a value; a failure to get one (no
  // connection, timeout, not HTTP, too long a body, a sink that refused, a certificate that is
  // not trusted or names another host) is kIo, a CA file that cannot be loaded
  // kInvalidArgument, a cancel kCancelled.
  Result<HttpResponse> perform(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "http://host:port/path" -> "http://host:port" (the origin a relative Location is resolved
// against); kInvalidArgument for anything but an http(s) URL with a host.
Result<std::string> url_origin(const std::string& url);

}  // namespace streamlet::net
