#include "handed_off.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace streamlet::server {

// ApiServer calls httplib::Server::process_request(Stream&, bool, bool&, setup), a protected
// member whose signature later changed upstream (by 0.53 it takes the peer and local
// addresses too). Debian 12 ships 0.11.4;
// a different httplib must be looked at before this builds.
static_assert(std::string_view(CPPHTTPLIB_VERSION).starts_with("0.11."),
              "server/handed_off.cpp was written against cpp-httplib 0.11's process_request");

namespace {

using Clock = std::chrono::steady_clock;

// httplib reads heads a byte at a time and bodies in 4 KiB pieces; a 64 KiB buffer turns
// those into few recv calls.
constexpr size_t kReadBuffer = 64 * 1024;
// Waits are sliced so a stop's hard deadline is noticed promptly.
constexpr std::chrono::milliseconds kSlice{200};

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  } else {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  }
  ip = text;
}

// One request as httplib's Stream: the front's canonical bytes, then at most `body_left`
// bytes from the socket, then end of stream.
class HandedOffStream : public httplib::Stream {
 public:
  HandedOffStream(int fd, std::string request, uint64_t body_left, const ConnectionLimits& limits)
      : fd_(fd), buf_(std::move(request)), body_left_(body_left), limits_(limits) {}

  // Every byte of the request was read (a handler that ignored its body leaves some).
  bool consumed() const { return pos_ == buf_.size() && body_left_ == 0; }

  bool is_readable() const override {
    return pos_ < buf_.size() || (body_left_ > 0 && wait_for(POLLIN, limits_.read_timeout));
  }
  bool is_writable() const override { return wait_for(POLLOUT, limits_.write_timeout); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == buf_.size()) {
      if (body_left_ == 0) return 0;
      const size_t want = size_t(std::min<uint64_t>(body_left_, kReadBuffer));
      if (size >= want) {  // big reads skip the copy
        ssize_t n = receive(ptr, want);
        if (n > 0) body_left_ -= uint64_t(n);
        return n;
      }
      buf_.resize(want);
      pos_ = 0;
      ssize_t n = receive(buf_.data(), want);
      buf_.resize(n > 0 ? size_t(n) : 0);
      if (n <= 0) return n;
      body_left_ -= uint64_t(n);
    }
    size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return ssize_t(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      if (past_deadline()) return -1;
      ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !is_writable()) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, false, ip, port);
  }
  // httplib only uses this to refuse descriptors past FD_SETSIZE (its select()); we never
  // select, and the front holds thousands of connections, so numbers above it are normal.
  socket_t socket() const override { return fd_ < FD_SETSIZE ? fd_ : 0; }

 private:
  bool past_deadline() const {
    const auto* d = limits_.hard_deadline_ns;
    if (!d) return false;
    const int64_t at = d->load();
    return at != 0 && Clock::now().time_since_epoch().count() >= at;
  }

  // Waits for `events` up to `timeout`, in slices so a hard deadline cuts it short.
  bool wait_for(short events, std::chrono::seconds timeout) const {
    const auto until = Clock::now() + timeout;
    for (;;) {
      if (past_deadline()) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, int(std::min(left, kSlice).count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  ssize_t receive(char* ptr, size_t size) {
    for (;;) {
      if (past_deadline()) return -1;
      ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(POLLIN, limits_.read_timeout))
        return -1;
    }
  }

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t body_left_;  // body bytes still on the socket
  const ConnectionLimits& limits_;
};

}  // namespace

bool ApiServer::begin_handoffs() {
  if (svr_sock_ != INVALID_SOCKET) return true;
  int placeholder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (placeholder < 0) return false;
  svr_sock_ = placeholder;
  return true;
}

void ApiServer::end_handoffs() {
  if (is_running()) return;  // httplib's own listening socket: stop() closes it
  int placeholder = svr_sock_.exchange(INVALID_SOCKET);
  if (placeholder != INVALID_SOCKET) ::close(placeholder);
}

ApiServer::Served ApiServer::serve(origin::HandOff& off, const ConnectionLimits& limits) {
  HandedOffStream stream(off.fd, std::move(off.request), off.body_left, limits);
  bool closed = false;
  const bool ok = process_request(stream, off.last, closed, nullptr);
  Served served;
  // Unread body bytes would be read as the next request: such a connection only closes.
  served.keep_alive = ok && !closed && !off.last && stream.consumed();
  if (served.keep_alive) served.after = std::move(off.after);
  return served;
}

}  // namespace streamlet::server
