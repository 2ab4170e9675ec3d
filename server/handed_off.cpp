#include "handed_off.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace streamlet::server {
namespace {

// httplib reads heads a byte at a time and bodies in 4 KiB pieces; a 64 KiB buffer turns
// those into few recv calls (httplib's own socket stream buffers 4 KiB).
constexpr size_t kReadBuffer = 64 * 1024;

// Waits for `events` on fd; false on timeout or error.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, int(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

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

// A non-blocking socket as httplib's Stream, with the front's bytes served first.
class HandedOffStream : public httplib::Stream {
 public:
  HandedOffStream(int fd, std::string already_read, const ConnectionLimits& limits)
      : fd_(fd), buf_(std::move(already_read)), limits_(limits) {}

  bool has_buffered() const { return pos_ < buf_.size(); }

  bool is_readable() const override {
    return has_buffered() || wait_for(fd_, POLLIN, limits_.read_timeout);
  }
  bool is_writable() const override { return wait_for(fd_, POLLOUT, limits_.write_timeout); }

  ssize_t read(char* ptr, size_t size) override {
    if (!has_buffered()) {
      if (size >= kReadBuffer) return receive(ptr, size);  // big reads skip the copy
      buf_.resize(kReadBuffer);
      ssize_t n = receive(buf_.data(), kReadBuffer);
      buf_.resize(n > 0 ? size_t(n) : 0);
      pos_ = 0;
      if (n <= 0) return n;
    }
    size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return ssize_t(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
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
  socket_t socket() const override { return fd_; }

 private:
  ssize_t receive(char* ptr, size_t size) {
    for (;;) {
      ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(fd_, POLLIN, limits_.read_timeout))
        return -1;
    }
  }

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  const ConnectionLimits& limits_;
};

// Idle between requests: true once the next one starts arriving; false on timeout, on
// the client leaving (readable EOF is left to the request parser) or on stop.
bool next_request(int fd, const ConnectionLimits& limits, const std::atomic<bool>& stopping) {
  const auto deadline = std::chrono::steady_clock::now() + limits.keep_alive;
  while (!stopping.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    // Short slices so a stop is noticed while connections sit idle.
    if (wait_for(fd, POLLIN, std::min(left, std::chrono::milliseconds(200)))) return true;
  }
  return false;
}

}  // namespace

bool is_long_lived_request(std::string_view head) {
  std::string_view line = head.substr(0, head.find("\r\n"));
  if (!line.starts_with("GET /v1/videos/")) return false;
  line = line.substr(0, line.rfind(' '));  // the target, without " HTTP/1.1"
  line = line.substr(0, line.find('?'));
  return line.ends_with("/events");
}

bool StreamThreads::spawn(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (running_ >= max_) return false;
    ++running_;
  }
  std::thread([this, fn = std::move(fn)] {
    fn();
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
  return true;
}

void StreamThreads::wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return running_ == 0; });
}

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

void ApiServer::serve_connection(int fd, std::string already_read, const ConnectionLimits& limits,
                                 const std::atomic<bool>& stopping,
                                 const std::function<void(int fd)>& give_back) {
  HandedOffStream stream(fd, std::move(already_read), limits);
  for (size_t left = limits.max_requests; left > 0; --left) {
    if (!stream.has_buffered() && !next_request(fd, limits, stopping)) break;
    bool closed = false;
    // The last request of the connection (or one during a stop) is answered with
    // "Connection: close".
    bool ok = process_request(stream, left == 1 || stopping.load(), closed, nullptr);
    if (!ok || closed) break;
    // Nothing of the next request read yet: the front waits for it without a thread.
    if (give_back && !stream.has_buffered() && !stopping.load()) return give_back(fd);
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace streamlet::server
