// A raw HTTP/1.1 client for tests that must control the exact bytes on the wire
// (pipelining, missing headers, malformed requests) and read answers one at a time.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <string>

namespace streamlet::test {

// A client that writes exactly the bytes it is given and reads answers one at a time.
class RawClient {
 public:
  // `source`: the loopback address to connect from (127.0.0.0/8 is all this machine), so a
  // test can be several clients.
  explicit RawClient(int port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (source) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  void send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      done += size_t(n);
    }
  }

  struct Answer {
    int status = 0;
    std::string head;  // status line and fields, as received
    std::string body;
    bool complete = false;
    std::string header(const std::string& name) const {
      std::string lower_head = head;
      for (char& c : lower_head) c = char(std::tolower(static_cast<unsigned char>(c)));
      std::string key = "\r\n" + name + ":";
      for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
      size_t at = lower_head.find(key);
      if (at == std::string::npos) return "";
      size_t start = at + key.size();
      size_t end = head.find("\r\n", start);
      std::string v = head.substr(start, end - start);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
  };

  // One answer; `head_only` for HEAD and 304 (no body whatever Content-Length says).
  Answer read(bool head_only = false) {
    Answer a;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return a;
    }
    a.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    a.status = std::atoi(a.head.substr(9, 3).c_str());
    std::string cl = a.header("Content-Length");
    if (head_only || a.status == 304 || a.status == 204) {
      a.complete = true;
      return a;
    }
    if (!cl.empty()) {
      size_t want = std::stoul(cl);
      while (buf_.size() < want)
        if (!fill()) return a;
      a.body = buf_.substr(0, want);
      buf_.erase(0, want);
      a.complete = true;
    } else {
      while (fill()) {
      }
      a.body = std::move(buf_);
      buf_.clear();
      a.complete = true;
    }
    return a;
  }

  // True when the server closed the connection (EOF) with nothing more to read.
  bool closed_by_server() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 && buf_.empty();
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, size_t(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

}  // namespace streamlet::test
