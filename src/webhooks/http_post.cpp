// The built-in webhook transport: one HTTP/1.1 POST per connection over plain
// TCP (http:// only), every step bounded by one deadline. Only the status line
// of the answer matters, so the rest of the response is not read.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/file_util.hpp"
#include "streamlet/webhooks.hpp"

namespace streamlet::webhooks {

namespace {

using streamlet::detail::Fd;

using Clock = std::chrono::steady_clock;

struct Url {
  std::string host, port, target;
};

Result<Url> parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return Status(
        ErrorCode::kUnsupported,
        "webhook URL " + url + ": only http:// is built in (plug in a transport for https)");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  Url u;
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
  if (u.port.empty()) u.port = "80";
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

class PlainHttpPost final : public HttpPost {
 public:
  Result<int> post(const std::string& url, const Headers& headers, const std::string& body,
                   std::chrono::milliseconds timeout) override {
    STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(url));
    const auto deadline = Clock::now() + timeout;

    std::string request = "POST " + u.target + " HTTP/1.1\r\n";
    request += "Host: " + (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) +
               (u.port == "80" ? "" : ":" + u.port) + "\r\n";
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
      return exchange(fd.get(), request, deadline, u);
    }
    return last;
  }

 private:
  static Result<int> exchange(int fd, const std::string& request, Clock::time_point deadline,
                              const Url& u) {
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(fd, POLLOUT, deadline)) return io_error("send: timed out", u);
      } else {
        return io_error(std::string("send: ") + std::strerror(errno), u);
      }
    }
    // "HTTP/1.1 200 OK\r\n": read until the end of the status line.
    std::string head;
    while (head.find("\r\n") == std::string::npos && head.size() < 1024) {
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        head.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno == EAGAIN || errno == EINTR) {
        if (!wait_for(fd, POLLIN, deadline)) return io_error("response: timed out", u);
      } else {
        return io_error(std::string("recv: ") + std::strerror(errno), u);
      }
    }
    if (head.size() < 12 || head.rfind("HTTP/1.", 0) != 0 || head[8] != ' ' ||
        !std::isdigit(static_cast<unsigned char>(head[9])) ||
        !std::isdigit(static_cast<unsigned char>(head[10])) ||
        !std::isdigit(static_cast<unsigned char>(head[11])))
      return io_error("malformed or missing status line", u);
    return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
  }
};

}  // namespace

std::unique_ptr<HttpPost> make_http_post() {
  return std::make_unique<PlainHttpPost>();
}

}  // namespace streamlet::webhooks
