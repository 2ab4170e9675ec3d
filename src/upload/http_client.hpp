// The HTTP requests of upload::Client, over libcurl. Internal: nothing here is public.
// One HttpSession is one curl easy handle, used by one thread at a time; consecutive requests
// to the same host reuse its connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"
#include "streamlet/upload_client.hpp"

namespace streamlet::upload::detail {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // of the last response
  std::string body;
  // The first value of header `name` (compared case-insensitively); "" when absent.
  std::string header(std::string_view name) const;
};

// Fills `buffer` with up to `size` bytes of the request body; returns the count, 0 at the
// end, or -1 when the body cannot be read (the request then fails).
using BodySource = std::function<long(char* buffer, size_t size)>;

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PATCH, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  uint64_t body_length = 0;          // bytes `body` will supply
  BodySource body{};                 // empty: no body
  // Restarts the body at byte `offset` (curl resends a request on a kept-alive connection that
  // died under it); false if it cannot. Empty: no rewinding.
  std::function<bool(uint64_t offset)> rewind{};
  uint64_t max_send_speed = 0;  // bytes/s; 0 = unlimited
  // Polled during the transfer: true aborts it with kCancelled.
  std::function<bool()> cancelled{};
  // Bytes of the body sent so far, updated during the transfer. May be null.
  std::atomic<uint64_t>* uploaded = nullptr;
};

class HttpSession {
 public:
  explicit HttpSession(const ClientOptions& options);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Performs one request. A response of any status is a value; a failure to get one (no
  // connection, timeout, not HTTP, too long a body) is kIo, a cancel kCancelled.
  Result<HttpResponse> perform(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "http://host:port/path" -> "http://host:port" (the origin a relative Location is resolved
// against); kInvalidArgument for anything but an http(s) URL with a host.
Result<std::string> url_origin(const std::string& url);

}  // namespace streamlet::upload::detail
