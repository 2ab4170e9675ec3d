// The built-in webhook transport: one HTTP/1.1 POST per connection over TCP,
// or over TLS for https:// (OpenSSL: the peer's chain is verified against the
// system store or a given CA file, and its name against the URL's host), every
// step bounded by one deadline. Only the status line of the answer matters, so
// the rest of the response is not read.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/file_util.hpp"
#include "streamlet/webhooks.hpp"

namespace streamlet::webhooks {

namespace {

using streamlet::detail::Fd;

using Clock = std::chrono::steady_clock;

struct Url {
  bool tls = false;
  std::string host, port, target;
};

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

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

Status io_error(const std::string& what, const Url& u) {
  return Status(ErrorCode::kIo, "webhook POST to " + u.host + ":" + u.port + ": " + what);
}

std::string tls_error(const char* what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char text[256] = {};
  if (e != 0) ERR_error_string_n(e, text, sizeof text);
  return std::string(what) + (e != 0 ? std::string(": ") + text : std::string());
}

// One connected socket, with TLS on top for https. send/recv never block past the deadline.
class Channel {
 public:
  Channel(int fd, const Url& u, Clock::time_point deadline) : fd_(fd), u_(u), deadline_(deadline) {}
  ~Channel() {
    if (ssl_) SSL_free(ssl_);
  }

  Status start_tls(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return io_error(tls_error("TLS setup"), u_);
    // The certificate must name the URL's host (an IP literal must be in its IP SANs).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    in6_addr probe{};
    const bool literal = ::inet_pton(AF_INET, u_.host.c_str(), &probe) == 1 ||
                         ::inet_pton(AF_INET6, u_.host.c_str(), &probe) == 1;
    if (literal) {
      X509_VERIFY_PARAM_set1_ip_asc(param, u_.host.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, u_.host.c_str(), 0);
      SSL_set_tlsext_host_name(ssl_, u_.host.c_str());  // SNI
    }
    for (;;) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return Status();
      if (!wait_tls(rc)) {
        long verify = SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK)
          return io_error(
              std::string("TLS: certificate not trusted: ") + X509_verify_cert_error_string(verify),
              u_);
        return io_error(tls_error("TLS handshake failed"), u_);
      }
    }
  }

  // Bytes written, or -1 with `error` set.
  ssize_t send(const char* data, size_t n, std::string& error) {
    for (;;) {
      if (ssl_) {
        int rc = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(n, 1 << 30)));
        if (rc > 0) return rc;
        if (!wait_tls(rc)) return fail(error, tls_error("TLS send"));
        continue;
      }
      ssize_t rc = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (rc > 0) return rc;
      if (rc < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(fd_, POLLOUT, deadline_)) return fail(error, "send: timed out");
        continue;
      }
      return fail(error, std::string("send: ") + std::strerror(errno));
    }
  }

  // Bytes read, 0 at the end of the stream, or -1 with `error` set.
  ssize_t recv(char* data, size_t n, std::string& error) {
    for (;;) {
      if (ssl_) {
        int rc = SSL_read(ssl_, data, static_cast<int>(n));
        if (rc > 0) return rc;
        int e = SSL_get_error(ssl_, rc);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (!wait_tls(rc)) return fail(error, tls_error("TLS receive"));
        continue;
      }
      ssize_t rc = ::recv(fd_, data, n, 0);
      if (rc >= 0) return rc;
      if (errno == EAGAIN || errno == EINTR) {
        if (!wait_for(fd_, POLLIN, deadline_)) return fail(error, "response: timed out");
        continue;
      }
      return fail(error, std::string("recv: ") + std::strerror(errno));
    }
  }

 private:
  static ssize_t fail(std::string& error, std::string what) {
    error = std::move(what);
    return -1;
  }
  // After an SSL call returned rc <= 0: waits for what OpenSSL needs; false on a real error.
  bool wait_tls(int rc) {
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) return wait_for(fd_, POLLIN, deadline_);
    if (e == SSL_ERROR_WANT_WRITE) return wait_for(fd_, POLLOUT, deadline_);
    return false;
  }

  int fd_;
  const Url& u_;
  Clock::time_point deadline_;
  SSL* ssl_ = nullptr;
};

class BuiltinHttpPost final : public HttpPost {
 public:
  explicit BuiltinHttpPost(HttpPostOptions options) : options_(std::move(options)) {}
  ~BuiltinHttpPost() override {
    if (ctx_) SSL_CTX_free(ctx_);
  }

  Result<int> post(const std::string& url, const Headers& headers, const std::string& body,
                   std::chrono::milliseconds timeout) override {
    STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(url));
    const auto deadline = Clock::now() + timeout;

    std::string request = "POST " + u.target + " HTTP/1.1\r\n";
    const bool default_port = u.port == (u.tls ? "443" : "80");
    request += "Host: " + (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) +
               (default_port ? "" : ":" + u.port) + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    request += "Connection: close\r\n";
    for (const auto& [name, value] : headers) {
      // No header injection: names and values stay on their line.
      if (name.find_first_of("\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos)
        return Status(ErrorCode::kInvalidArgument, "webhook header " + name + " has CR/LF");
      request += name + ": " + value + "\r\n";
    }
    request += "\r\n";
    request += body;

    // getaddrinfo has no timeout; webhook hosts are usually literal or local.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int gai = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &found);
    if (gai != 0) return io_error(std::string("resolve: ") + gai_strerror(gai), u);
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addrs(found, &freeaddrinfo);

    Status last = io_error("no address", u);
    for (addrinfo* a = addrs.get(); a; a = a->ai_next) {
      Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
      if (fd.get() < 0) {
        last = io_error(std::string("socket: ") + std::strerror(errno), u);
        continue;
      }
      if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
          last = io_error(std::string("connect: ") + std::strerror(errno), u);
          continue;
        }
        if (!wait_for(fd.get(), POLLOUT, deadline)) {
          last = io_error("connect: timed out", u);
          continue;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          last = io_error(std::string("connect: ") + std::strerror(err), u);
          continue;
        }
      }
      Channel channel(fd.get(), u, deadline);
      if (u.tls) {
        STREAMLET_ASSIGN_OR_RETURN(SSL_CTX * ctx, tls_context());
        STREAMLET_RETURN_IF_ERROR(channel.start_tls(ctx));
      }
      return exchange(channel, request, u);
    }
    return last;
  }

 private:
  // One client context for every https delivery, made on first use.
  Result<SSL_CTX*> tls_context() {
    std::lock_guard lock(mu_);
    if (ctx_) return ctx_;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return Status(ErrorCode::kInternal, tls_error("TLS context"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int loaded = options_.ca_file.empty()
                     ? SSL_CTX_set_default_verify_paths(ctx)
                     : SSL_CTX_load_verify_locations(ctx, options_.ca_file.c_str(), nullptr);
    if (loaded != 1) {
      SSL_CTX_free(ctx);
      return Status(ErrorCode::kInvalidArgument,
                    tls_error(("cannot load trusted certificates " + options_.ca_file).c_str()));
    }
    ctx_ = ctx;
    return ctx_;
  }

  static Result<int> exchange(Channel& channel, const std::string& request, const Url& u) {
    std::string error;
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = channel.send(request.data() + sent, request.size() - sent, error);
      if (n < 0) return io_error(error, u);
      sent += static_cast<size_t>(n);
    }
    // "HTTP/1.1 200 OK\r\n": read until the end of the status line.
    std::string head;
    while (head.find("\r\n") == std::string::npos && head.size() < 1024) {
      char buf[512];
      ssize_t n = channel.recv(buf, sizeof buf, error);
      if (n < 0) return io_error(error, u);
      if (n == 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    if (head.size() < 12 || head.rfind("HTTP/1.", 0) != 0 || head[8] != ' ' ||
        !std::isdigit(static_cast<unsigned char>(head[9])) ||
        !std::isdigit(static_cast<unsigned char>(head[10])) ||
        !std::isdigit(static_cast<unsigned char>(head[11])))
      return io_error("malformed or missing status line", u);
    return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
  }

  HttpPostOptions options_;
  std::mutex mu_;
  SSL_CTX* ctx_ = nullptr;
};

}  // namespace

std::unique_ptr<HttpPost> make_http_post(HttpPostOptions options) {
  return std::make_unique<BuiltinHttpPost>(std::move(options));
}

}  // namespace streamlet::webhooks
