// The built-in webhook transport, on the library's one HTTP client (net::HttpSession over
// libcurl): https is verified against the system store or a given CA file and the URL's host
// against the certificate, TLS 1.2 at least, redirects are not followed (a 3xx is the
// receiver's answer), and the caller's timeout bounds the whole exchange. Only the status of
// the answer matters, so its body is not read.
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "net/http_client.hpp"
#include "streamlet/webhooks.hpp"

namespace streamlet::webhooks {

namespace {

struct Url {
  bool tls = false;
  std::string host, port, target;
};

// Checked here rather than left to curl: other schemes and user info are refused with a
// message that says what is supported, and the host and port named in errors are these.
Result<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return Status(ErrorCode::kUnsupported,
                  "webhook URL " + url + ": only http:// and https:// are built in");
  }
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target[0] == '?') u.target = "/" + u.target;
  if (authority.empty() || authority.find('@') != std::string::npos)
    return Status(ErrorCode::kInvalidArgument, "webhook URL " + url + ": bad host");
  if (authority[0] == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return Status(ErrorCode::kInvalidArgument, "webhook URL " + url + ": bad host");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      u.port = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.port.find_first_not_of("0123456789") != std::string::npos || u.port.size() > 5)
    return Status(ErrorCode::kInvalidArgument, "webhook URL " + url + ": bad port");
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= ' ')
      return Status(ErrorCode::kInvalidArgument, "webhook URL " + url + ": bad path");
  return u;
}

Status io_error(const std::string& what, const Url& u) {
  return Status(ErrorCode::kIo, "webhook POST to " + u.host + ":" + u.port + ": " + what);
}

class BuiltinHttpPost final : public HttpPost {
 public:
  explicit BuiltinHttpPost(HttpPostOptions options) : options_(std::move(options)) {}

  Result<int> post(const std::string& url, const Headers& headers, const std::string& body,
                   std::chrono::milliseconds timeout) override {
    STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(url));
    if (u.tls && !options_.ca_file.empty() && ::access(options_.ca_file.c_str(), R_OK) != 0)
      return Status(ErrorCode::kInvalidArgument,
                    "cannot load trusted certificates " + options_.ca_file);

    net::HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.status_only = true;
    for (const auto& [name, value] : headers) {
      // No header injection: names and values stay on their line.
      if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos)
        return Status(ErrorCode::kInvalidArgument, "webhook header " + name + " has CR/LF");
      request.headers.push_back(name + ": " + value);
    }
    request.set_body(body);

    std::lock_guard lock(mu_);
    net::HttpSession& session = session_for(timeout);
    auto response = session.perform(request);
    if (!response.ok()) {
      if (response.status().code() == ErrorCode::kInvalidArgument) return response.status();
      return io_error(response.status().message(), u);
    }
    return response->status;
  }

 private:
  // One session (and its kept-alive connections) per timeout: a dispatcher uses one.
  net::HttpSession& session_for(std::chrono::milliseconds timeout) {
    if (!session_ || timeout != session_timeout_) {
      net::HttpOptions o;
      o.connect_timeout = std::min<std::chrono::milliseconds>(timeout, o.connect_timeout);
      o.idle_timeout = timeout;
      o.total_timeout = std::max<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(1));
      o.ca_file = options_.ca_file;
      o.user_agent = "streamlet-webhooks";
      session_ = std::make_unique<net::HttpSession>(std::move(o));
      session_timeout_ = timeout;
    }
    return *session_;
  }

  HttpPostOptions options_;
  std::mutex mu_;
  std::unique_ptr<net::HttpSession> session_;
  std::chrono::milliseconds session_timeout_{0};
};

}  // namespace

std::unique_ptr<HttpPost> make_http_post(HttpPostOptions options) {
  return std::make_unique<BuiltinHttpPost>(std::move(options));
}

}  // namespace streamlet::webhooks
