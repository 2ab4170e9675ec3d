// origin::Front over real loopback sockets: playback answered by the front from a
// real Origin, everything else relayed to a real cpp-httplib upstream, byte for byte.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "origin/origin_fixture.hpp"
#include "streamlet/origin_front.hpp"
#include "support/raw_http.hpp"

namespace streamlet::test {
namespace {

using origin::Front;
using origin::FrontOptions;

// The API stand-in: echoes bodies, names itself, streams slowly when asked.
class Upstream {
 public:
  Upstream() {
    svr_.Post("/v1/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Upstream", "yes");
      res.set_content(req.body, "application/octet-stream");
    });
    svr_.Get(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Upstream", "yes");
      res.set_content("upstream saw " + req.method + " " + req.target, "text/plain");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Upstream() {
    svr_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Server& server() { return svr_; }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

// What a handoff's new owner does first: reads the non-blocking socket until `marker` has
// arrived (false if the client left before).
bool read_until(int fd, std::string& seen, std::string_view marker) {
  char buf[4096];
  while (seen.find(marker) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      seen.append(buf, size_t(n));
    } else if (n < 0 && errno == EAGAIN) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    } else {
      return false;
    }
  }
  return true;
}

// The new owner's answer: `body` under an X-Owner header the front never sends.
std::string owner_answer(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nX-Owner: test\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

struct Fixture {
  FakeVideo video;
  origin::Origin origin{test_options()};
  std::unique_ptr<Front> front;
  std::atomic<int> observed{0};

  explicit Fixture(int upstream_port, FrontOptions o = {}) {
    // A segment big enough to go out with sendfile in several pieces.
    video.put("720p/seg_00002.m4s", pattern_bytes(3 * 1024 * 1024 + 17, 42));
    o.upstream_port = upstream_port;
    if (o.threads == 0) o.threads = 2;
    auto started = Front::start(
        o,
        [this](std::string_view id, const origin::OriginRequest& req) {
          if (id != video.id()) {
            origin::OriginResponse r;
            r.status = 404;
            r.body = "{}";
            r.headers = {{"Content-Length", "2"}};
            return r;
          }
          return origin.serve(video.root(), id, req);
        },
        [this](const origin::FrontRequestLog&) { observed.fetch_add(1); });
    REQUIRE(started.ok());
    front = std::move(*started);
  }
  std::string get(const std::string& path, const std::string& extra = "") {
    return "GET /media/" + video.id() + "/" + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
  }
};

TEST_CASE("front: playback answers carry the origin's headers and the exact file bytes") {
  Upstream up;
  Fixture f(up.port());
  RawClient c(f.front->port());
  REQUIRE(c.connected());
  for (const std::string path : {"master.m3u8", "720p/index.m3u8", "720p/seg_00001.m4s",
                                 "720p/seg_00002.m4s", "poster.jpg"}) {
    CAPTURE(path);
    c.send(f.get(path));  // one keep-alive connection for all of them
    auto a = c.read();
    REQUIRE(a.complete);
    CHECK(a.status == 200);
    CHECK(a.body == f.video.bytes(path));
    CHECK(a.header("Content-Length") == std::to_string(f.video.bytes(path).size()));
    CHECK_FALSE(a.header("ETag").empty());
    CHECK_FALSE(a.header("Date").empty());
    CHECK(a.header("X-Upstream").empty());
  }
  // The observer runs once the last byte is handed to the kernel, which may be just after
  // the client has read it.
  for (int i = 0; i < 500 && f.observed.load() < 5; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.observed.load() == 5);
}

TEST_CASE("front: ranges, HEAD, 304 and pipelined requests come back in order") {
  Upstream up;
  Fixture f(up.port());
  RawClient c(f.front->port());
  const std::string big = f.video.bytes("720p/seg_00002.m4s");
  auto first = [&] {
    c.send(f.get("master.m3u8"));
    return c.read();
  }();
  REQUIRE(first.status == 200);
  // Five requests in one write: a range of the big segment, a HEAD, a conditional GET,
  // a suffix range and the playlist again.
  std::string pipelined = f.get("720p/seg_00002.m4s", "Range: bytes=1000000-2999999\r\n") +
                          "HEAD /media/" + f.video.id() + "/720p/seg_00002.m4s HTTP/1.1\r\n\r\n" +
                          f.get("master.m3u8", "If-None-Match: " + first.header("ETag") + "\r\n") +
                          f.get("720p/seg_00002.m4s", "Range: bytes=-17\r\n") +
                          f.get("master.m3u8");
  c.send(pipelined);
  auto ranged = c.read();
  CHECK(ranged.status == 206);
  CHECK(ranged.header("Content-Range") == "bytes 1000000-2999999/" + std::to_string(big.size()));
  CHECK(ranged.body == big.substr(1000000, 2000000));
  auto head = c.read(/*head_only=*/true);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(big.size()));
  auto not_modified = c.read();
  CHECK(not_modified.status == 304);
  auto suffix = c.read();
  CHECK(suffix.status == 206);
  CHECK(suffix.body == big.substr(big.size() - 17));
  auto again = c.read();
  CHECK(again.status == 200);
  CHECK(again.body == f.video.bytes("master.m3u8"));
}

TEST_CASE("front: everything that is not plain playback reaches the upstream unchanged") {
  Upstream up;
  Fixture f(up.port());
  SUBCASE("an API request, then everything after it on that connection") {
    RawClient c(f.front->port());
    c.send("GET /v1/videos?q=a%20b HTTP/1.1\r\nHost: t\r\n\r\n");
    auto api = c.read();
    CHECK(api.header("X-Upstream") == "yes");
    CHECK(api.body == "upstream saw GET /v1/videos?q=a%20b");
    // A relayed connection stays relayed (streamlet-server's API serves /media as well).
    c.send(f.get("master.m3u8"));
    auto media = c.read();
    CHECK(media.header("X-Upstream") == "yes");
    CHECK(media.body == "upstream saw GET /media/" + f.video.id() + "/master.m3u8");
  }
  SUBCASE("playback first, then a 5 MB POST relayed whole") {
    RawClient c(f.front->port());
    c.send(f.get("master.m3u8"));
    CHECK(c.read().status == 200);
    const std::string body = pattern_bytes(5 * 1024 * 1024, 9);
    c.send(
        "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    auto echoed = c.read();
    CHECK(echoed.status == 200);
    CHECK(echoed.header("X-Upstream") == "yes");
    CHECK(echoed.body == body);
  }
  SUBCASE("odd requests under /media get the upstream's own answer") {
    // A body on a GET, another method, a header block over the limit, an odd version.
    const std::vector<std::string> odd = {
        "GET /media/" + f.video.id() + "/master.m3u8 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /media/" + f.video.id() + "/master.m3u8 HTTP/1.1\r\n\r\n",
        "GET /media/" + f.video.id() +
            "/master.m3u8 HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n",
        "GET /media/" + f.video.id() + "/master.m3u8 HTTP/2.0\r\n\r\n",
        "GET /media/not%20an%20id/master.m3u8 HTTP/1.1\r\n\r\n",
        "GARBAGE\r\n\r\n",
    };
    for (const std::string& request : odd) {
      CAPTURE(request.substr(0, 60));
      RawClient via_front(f.front->port());
      RawClient direct(up.port());
      via_front.send(request);
      direct.send(request);
      auto a = via_front.read();
      auto b = direct.read();
      CHECK(a.status == b.status);
      CHECK(a.body == b.body);
      CHECK(a.header("X-Upstream") == b.header("X-Upstream"));
    }
  }
  CHECK(f.observed.load() <= 2);  // only the playback requests were answered here
}

TEST_CASE("front: a handed-off connection gets every byte after the playback requests") {
  // The new owner reads what the front already had plus the socket, and answers with the
  // exact request bytes it saw.
  std::mutex mu;
  std::vector<std::thread> owners;
  FrontOptions o;
  o.handoff = [&](int fd, std::string already_read) {
    std::lock_guard lock(mu);
    owners.emplace_back([fd, seen = std::move(already_read)]() mutable {
      (void)read_until(fd, seen, "\r\n\r\nhello");
      std::string answer = owner_answer(seen);
      (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(fd);
    });
  };
  Fixture f(0, o);
  const std::string post = "POST /v1/echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  SUBCASE("pipelined behind a playback request, in one write") {
    RawClient c(f.front->port());
    c.send(f.get("master.m3u8") + post);
    CHECK(c.read().body == f.video.bytes("master.m3u8"));
    auto a = c.read();
    CHECK(a.header("X-Owner") == "test");
    CHECK(a.body == post);
  }
  SUBCASE("split across writes after the hand-over") {
    RawClient c(f.front->port());
    c.send(f.get("poster.jpg"));
    CHECK(c.read().body == f.video.bytes("poster.jpg"));
    c.send(post.substr(0, 20));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.send(post.substr(20));
    auto a = c.read();
    CHECK(a.header("X-Owner") == "test");
    CHECK(a.body == post);
  }
  f.front->stop();
  std::lock_guard lock(mu);
  for (auto& t : owners) t.join();
  CHECK(owners.size() == 1);
}

TEST_CASE("front: a connection handed off and adopted back goes on with playback answered here") {
  // The other server answers one request, then gives the idle connection back (adopt): the
  // next playback request on it is the front's again, the next API request is handed off again.
  std::mutex mu;
  std::vector<std::thread> owners;
  std::atomic<int> handoffs{0};
  Front* front = nullptr;
  FrontOptions o;
  o.handoff = [&](int fd, std::string already_read) {
    handoffs.fetch_add(1);
    std::lock_guard lock(mu);
    owners.emplace_back([fd, seen = std::move(already_read), &front]() mutable {
      if (!read_until(fd, seen, "\r\n\r\n")) {
        ::close(fd);
        return;
      }
      std::string answer = owner_answer(seen.substr(0, seen.find("\r\n")));
      (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      front->adopt(fd);
    });
  };
  Fixture f(0, o);
  front = f.front.get();
  RawClient c(f.front->port());
  c.send("GET /v1/videos HTTP/1.1\r\n\r\n");
  auto api = c.read();
  CHECK(api.header("X-Owner") == "test");
  CHECK(api.body == "GET /v1/videos HTTP/1.1");
  c.send(f.get("master.m3u8"));
  auto media = c.read();
  CHECK(media.status == 200);
  CHECK(media.body == f.video.bytes("master.m3u8"));
  CHECK(media.header("X-Owner").empty());
  c.send("GET /v1/jobs HTTP/1.1\r\n\r\n");
  CHECK(c.read().body == "GET /v1/jobs HTTP/1.1");
  CHECK(handoffs.load() == 2);
  f.front->stop();
  // Adopting after a stop just closes the socket.
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) == 0);
  f.front->adopt(pair[0]);
  char byte;
  CHECK(::recv(pair[1], &byte, 1, 0) == 0);  // EOF: the front closed its end
  ::close(pair[1]);
  std::lock_guard lock(mu);
  for (auto& t : owners) t.join();
}

TEST_CASE("front: connection handling (HTTP/1.0, Connection: close, no upstream, idle timeout)") {
  SUBCASE("HTTP/1.0 and Connection: close end the connection after the answer") {
    Upstream up;
    Fixture f(up.port());
    for (std::string req : {"GET /media/" + f.video.id() + "/master.m3u8 HTTP/1.0\r\n\r\n",
                            f.get("master.m3u8", "Connection: close\r\n")}) {
      RawClient c(f.front->port());
      c.send(req);
      auto a = c.read();
      CHECK(a.status == 200);
      CHECK(a.body == f.video.bytes("master.m3u8"));
      CHECK(c.closed_by_server());
    }
    RawClient kept(f.front->port());
    kept.send("GET /media/" + f.video.id() +
              "/master.m3u8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto a = kept.read();
    CHECK(a.header("Connection") == "keep-alive");
    kept.send(f.get("poster.jpg"));
    CHECK(kept.read().body == f.video.bytes("poster.jpg"));
  }
  SUBCASE("an upstream that is down gives 502 with a JSON body") {
    int dead_port;
    {
      Upstream gone;
      dead_port = gone.port();
    }
    Fixture f(dead_port);
    RawClient c(f.front->port());
    c.send("GET /v1/videos HTTP/1.1\r\n\r\n");
    auto a = c.read();
    CHECK(a.status == 502);
    CHECK(a.header("Content-Type") == "application/json");
    CHECK(nlohmann::json::parse(a.body).contains("error"));
    // Playback still works without the API.
    RawClient p(f.front->port());
    p.send(f.get("master.m3u8"));
    CHECK(p.read().status == 200);
  }
  SUBCASE("an idle connection is closed after the idle timeout") {
    Upstream up;
    FrontOptions o;
    o.idle_timeout = std::chrono::seconds(1);
    Fixture f(up.port(), o);
    RawClient c(f.front->port());
    c.send(f.get("master.m3u8"));
    CHECK(c.read().status == 200);
    CHECK(c.closed_by_server());  // within the 10 s receive timeout, not never
  }
  SUBCASE("a head trickling in a byte at a time is cut off after the idle timeout") {
    Upstream up;
    FrontOptions o;
    o.idle_timeout = std::chrono::seconds(1);
    Fixture f(up.port(), o);
    RawClient c(f.front->port());
    const std::string head = f.get("master.m3u8", "X-Pad: " + std::string(200, 'p') + "\r\n");
    size_t sent = 0;
    bool cut = false;
    for (; sent < head.size() && !cut; ++sent) {
      if (::send(c.fd(), head.data() + sent, 1, MSG_NOSIGNAL) != 1) cut = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // 200+ bytes at 20 per second would take over 10 s; the front gives up after 1-2 s.
    CHECK(sent < head.size());
  }
}

TEST_CASE("front: many keep-alive connections at once are all answered") {
  Upstream up;
  Fixture f(up.port());
  constexpr int kClients = 64, kRequests = 50;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      RawClient c(f.front->port());
      for (int r = 0; r < kRequests; ++r) {
        const std::string path = (r + i) % 2 ? "master.m3u8" : "720p/seg_00001.m4s";
        c.send(f.get(path));
        auto a = c.read();
        if (a.status == 200 && a.body == f.video.bytes(path)) good.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(good.load() == kClients * kRequests);
}

TEST_CASE("front: stopping refuses new connections but lets a relayed upload finish") {
  Upstream up;
  Fixture f(up.port());
  const int port = f.front->port();
  RawClient c(port);
  const std::string body = pattern_bytes(2 * 1024 * 1024, 3);
  c.send("POST /v1/echo HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body.substr(0, body.size() / 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.front->begin_stop(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RawClient late(port);
  CHECK_FALSE(late.connected());
  c.send(body.substr(body.size() / 2));
  auto a = c.read();
  CHECK(a.status == 200);
  CHECK(a.body == body);
  up.server().stop();  // what streamlet-server does next: the API closes its connections
  f.front->stop(std::chrono::seconds(10));
}

TEST_CASE("media targets split into id, path and query, and implausible ids are refused") {
  auto t = origin::parse_media_target("/media/abc_D-9/720p/seg_1.m4s?exp=1&sig=x", "/media/");
  REQUIRE(t);
  CHECK(t->video_id == "abc_D-9");
  CHECK(t->path == "720p/seg_1.m4s");
  CHECK(t->query == "exp=1&sig=x");
  CHECK(origin::parse_media_target("/media/abc/", "/media/")->path.empty());
  for (const char* bad : {"/media/abc", "/media//x.m3u8", "/media/a%62c/x.m3u8", "/media/../x.m3u8",
                          "/other/abc/x.m3u8", "/media/a.b/x.m3u8"}) {
    CAPTURE(bad);
    CHECK_FALSE(origin::parse_media_target(bad, "/media/"));
  }
  CHECK_FALSE(origin::parse_media_target("/media/" + std::string(65, 'a') + "/x", "/media/"));
}

}  // namespace
}  // namespace streamlet::test
