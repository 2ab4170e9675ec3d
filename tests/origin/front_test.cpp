// origin::Front over real loopback sockets: playback answered by the front from a
// real Origin, everything else relayed to a real cpp-httplib upstream, byte for byte.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
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

// What streamlet-server does with a hand-off, reduced to its contract: read the request
// (the canonical bytes, then exactly body_left more from the socket), answer with what was
// read under an X-Owner header the front never sends, give the connection back.
class Taker {
 public:
  ~Taker() { join(); }
  void set_front(Front* f) { front_ = f; }
  void take(origin::HandOff off) {
    handoffs_.fetch_add(1);
    std::lock_guard lock(mu_);
    last_ = off.request.substr(0, off.request.find("\r\n\r\n") + 4);
    threads_.emplace_back([this, off = std::move(off)]() mutable {
      std::string seen = off.request;
      char buf[65536];
      uint64_t left = off.body_left;
      while (left > 0) {
        ssize_t n = ::recv(off.fd, buf, size_t(std::min<uint64_t>(left, sizeof buf)), 0);
        if (n > 0) {
          seen.append(buf, size_t(n));
          left -= uint64_t(n);
        } else if (n < 0 && errno == EAGAIN) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else {
          ::close(off.fd);
          return;
        }
      }
      std::string answer = "HTTP/1.1 200 OK\r\nX-Owner: test\r\nContent-Length: " +
                           std::to_string(seen.size()) + "\r\n\r\n" + seen;
      (void)!::send(off.fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      if (front_) return front_->adopt(off.fd, std::move(off.after), off.last);
      ::close(off.fd);
    });
  }
  int handoffs() const { return handoffs_.load(); }
  std::string last_head() {
    std::lock_guard lock(mu_);
    return last_;
  }
  void join() {
    std::vector<std::thread> ts;
    {
      std::lock_guard lock(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

 private:
  Front* front_ = nullptr;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::atomic<int> handoffs_{0};
  std::string last_;
};

struct Fixture {
  FakeVideo video;
  origin::Origin origin{test_options()};
  Taker taker;
  std::unique_ptr<Front> front;
  std::atomic<int> observed{0};
  std::atomic<bool> refuse_handoffs{false};

  explicit Fixture(FrontOptions o = {}) {
    // A segment big enough to go out with sendfile in several pieces.
    video.put("720p/seg_00002.m4s", pattern_bytes(3 * 1024 * 1024 + 17, 42));
    if (o.threads == 0) o.threads = 2;
    if (!o.handoff)
      o.handoff = [this](origin::HandOff& off) {
        if (refuse_handoffs.load()) return false;
        taker.take(std::move(off));
        return true;
      };
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
          return origin.serve(video.store(), video.prefix(), id, req);
        },
        [this](const origin::FrontRequestLog& log) {
          if (log.kind == origin::FrontAnswer::kPlayback) observed.fetch_add(1);
        });
    REQUIRE(started.ok());
    front = std::move(*started);
    taker.set_front(front.get());
  }
  ~Fixture() {
    front->stop();
    taker.join();
  }
  std::string get(const std::string& path, const std::string& extra = "") {
    return "GET /media/" + video.id() + "/" + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
  }
};

// An answer, then the end of the connection and nothing else (no second answer).
void expect_refused(RawClient& c, int status) {
  auto a = c.read();
  CHECK(a.status == status);
  CHECK(a.header("Connection") == "close");
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  CHECK(j.is_object());
  CHECK(j.contains("error"));
  CHECK(j.contains("code"));
  CHECK(c.closed_by_server());
}

TEST_CASE("front: playback answers carry the origin's headers and the exact file bytes") {
  Fixture f;
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
    CHECK(a.header("X-Owner").empty());
  }
  // The observer runs once the last byte is handed to the kernel, which may be just after
  // the client has read it.
  for (int i = 0; i < 500 && f.observed.load() < 5; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.observed.load() == 5);
}

TEST_CASE("front: ranges, HEAD, 304 and pipelined requests come back in order") {
  Fixture f;
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
                          "HEAD /media/" + f.video.id() + "/720p/seg_00002.m4s HTTP/1.1\r\nHost: t\r\n\r\n" +
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

TEST_CASE("front: other requests are handed over one at a time, in canonical form") {
  Fixture f;
  RawClient c(f.front->port());
  SUBCASE("a chunked body arrives whole, with one Content-Length and no Transfer-Encoding") {
    c.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nX-Case: Kept\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\n\r\n");
    auto a = c.read();
    CHECK(a.header("X-Owner") == "test");
    CHECK(a.body ==
          "POST /v1/echo HTTP/1.1\r\nHost: t\r\nX-Case: Kept\r\nContent-Length: 5\r\n\r\nhello");
  }
  SUBCASE("Upgrade is ignored: the request is answered as HTTP/1.1, without the field") {
    c.send("GET /v1/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
           f.get("master.m3u8"));
    CHECK(c.read().body == "GET /v1/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n");
    CHECK(c.read().body == f.video.bytes("master.m3u8"));
  }
  SUBCASE("after the hand-over the connection comes back: playback is the front's again") {
    c.send("GET /v1/videos HTTP/1.1\r\nHost: t\r\n\r\n");
    auto api = c.read();
    CHECK(api.header("X-Owner") == "test");
    CHECK(api.body == "GET /v1/videos HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    c.send(f.get("master.m3u8"));
    auto media = c.read();
    CHECK(media.body == f.video.bytes("master.m3u8"));
    CHECK(media.header("X-Owner").empty());
    c.send("GET /v1/jobs HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.read().header("X-Owner") == "test");
    CHECK(f.taker.handoffs() == 2);
  }
  SUBCASE("pipelined requests: each handed over alone, the next one given back with it") {
    const std::string post = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    c.send(f.get("master.m3u8") + post + "GET /v1/next HTTP/1.1\r\nHost: t\r\n\r\n" +
           f.get("poster.jpg"));
    CHECK(c.read().body == f.video.bytes("master.m3u8"));
    CHECK(c.read().body == post);
    CHECK(c.read().body == "GET /v1/next HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    auto poster = c.read();
    CHECK(poster.body == f.video.bytes("poster.jpg"));
    CHECK(poster.header("X-Owner").empty());
  }
  SUBCASE("a body split across writes is read before the hand-over") {
    c.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(f.taker.handoffs() == 0);
    c.send(" world");
    CHECK(c.read().body ==
          "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
  }
  SUBCASE("a taker that is full: 503 with Retry-After, the connection closed") {
    f.refuse_handoffs = true;
    c.send("GET /v1/videos HTTP/1.1\r\nHost: t\r\n\r\n");
    auto a = c.read();
    CHECK(a.status == 503);
    CHECK(a.header("Retry-After") == "1");
    CHECK(c.closed_by_server());
    CHECK(f.taker.handoffs() == 0);
  }
  SUBCASE("Expect: 100-continue on a buffered body is the front's to answer") {
    c.send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    auto cont = c.read(/*head_only=*/true);
    CHECK(cont.status == 100);
    c.send("ok");
    auto a = c.read();
    CHECK(a.body == "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
  }
}

TEST_CASE("front: a streamed body follows the head on the socket, exactly its length") {
  FrontOptions o;
  o.classify = [](const origin::FrontRequest& r) {
    return r.path() == "/v1/uploads" ? origin::RequestKind::kStreamed
                                     : origin::RequestKind::kBuffered;
  };
  Fixture f(o);
  RawClient c(f.front->port());
  const std::string body = pattern_bytes(3 * 1024 * 1024, 5);
  const std::string head = "PATCH /v1/uploads HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  // The head and a piece of the body, then the rest later, then a request right behind it.
  c.send(head + body.substr(0, 1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(f.taker.handoffs() == 1);  // handed over before the body is in
  c.send(body.substr(1000) + f.get("master.m3u8"));
  auto a = c.read();
  CHECK(a.header("X-Owner") == "test");
  CHECK(a.body == head + body);
  auto media = c.read();
  CHECK(media.body == f.video.bytes("master.m3u8"));
  SUBCASE("a chunked upload body is refused: its end could not be found without the front") {
    RawClient d(f.front->port());
    d.send("PATCH /v1/uploads HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    expect_refused(d, 411);
  }
}

TEST_CASE("front: requests whose framing cannot be trusted get one error and a closed connection") {
  Fixture f;
  // Each would let a body or a header be read as a request somewhere: the answer is an error,
  // then EOF, and nothing reaches the taker.
  const std::string next = "GET /v1/smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {"GARBAGE\r\nHost: t\r\nX-A: 1\r\n\r\n" + next, 400},
      {"GET /v1/x HTTP/1.1 extra\r\nHost: t\r\n\r\n" + next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n" + next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
       "0\r\n\r\n" + next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello" +
       next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 41\r\n\r\nhello" + next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" +
       next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n" + next, 400},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + next,
       501},
      {"GET /v1/x HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n" + next, 400},
      {"GET /v1/x HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n" + next, 400},
      {"GET /v1/x HTTP/1.1\r\nX-A: 1\r\n\r\n" + next, 400},  // no Host
      {"GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + next, 400},
      {"GET /v1/x\tHTTP/1.1\r\nHost: t\r\n\r\n" + next, 400},
      {"GET /media/" + f.video.id() + "/master.m3u8 HTTP/2.0\r\nHost: t\r\n\r\n" + next, 505},
      {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n" + next, 501},
      {"GET /v1/x HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n" + next,
       431},
      {"POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n" + next, 413},
  };
  std::string many = "GET /v1/x HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  std::vector<std::pair<std::string, int>> all = cases;
  all.emplace_back(many + "\r\n" + next, 431);
  for (const auto& [request, status] : all) {
    CAPTURE(request.substr(0, 80));
    RawClient c(f.front->port());
    c.send(request);
    expect_refused(c, status);
  }
  CHECK(f.taker.handoffs() == 0);
  SUBCASE("a chunked body that grows past the buffered limit") {
    RawClient c(f.front->port());
    std::string body;
    for (int i = 0; i < 20; ++i) body += "1000\r\n" + std::string(4096, 'b') + "\r\n";
    c.send("POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
    expect_refused(c, 413);
    CHECK(f.taker.handoffs() == 0);
  }
}

TEST_CASE("front: a head must arrive whole within its deadline however it trickles") {
  FrontOptions o;
  o.head_timeout = std::chrono::seconds(2);
  o.idle_timeout = std::chrono::seconds(60);
  Fixture f(o);
  RawClient c(f.front->port());
  const auto began = std::chrono::steady_clock::now();
  c.send("GET /v1/x HTTP/1.1\r\nHost: t\r\n");
  // A header line every 300 ms: every read is prompt, the head never ends.
  bool answered = false;
  for (int i = 0; i < 40 && !answered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    answered = ::send(c.fd(), "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) != 11;
    pollfd p{c.fd(), POLLIN, 0};
    answered = answered || ::poll(&p, 1, 0) > 0;
  }
  const auto took = std::chrono::steady_clock::now() - began;
  CHECK(answered);
  CHECK(took < std::chrono::seconds(8));  // 12 s of trickling were on offer
  expect_refused(c, 408);
  CHECK(f.taker.handoffs() == 0);
}

TEST_CASE("front: an idle keep-alive connection is closed after the idle timeout") {
  FrontOptions o;
  o.idle_timeout = std::chrono::seconds(1);
  Fixture f(o);
  RawClient c(f.front->port());
  c.send(f.get("master.m3u8"));
  CHECK(c.read().status == 200);
  CHECK(c.closed_by_server());  // within the 10 s receive timeout, not never
}

TEST_CASE("front: HTTP/1.0 and Connection: close end the connection after the answer") {
  Fixture f;
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
  kept.send("GET /media/" + f.video.id() + "/master.m3u8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto a = kept.read();
  CHECK(a.header("Connection") == "keep-alive");
  kept.send(f.get("poster.jpg"));
  CHECK(kept.read().body == f.video.bytes("poster.jpg"));
}

// An event stream the test feeds from its own thread, as a bus callback would.
struct Streams {
  std::mutex mu;
  std::vector<std::shared_ptr<origin::StreamChannel>> open;
  std::atomic<int> ended{0};
  origin::StreamHandler handler() {
    return [this](const origin::FrontRequest& req, std::shared_ptr<origin::StreamChannel> ch) {
      origin::StreamAnswer a;
      if (req.path() == "/v1/events/missing") {
        a.response.status = 404;
        a.response.body = R"({"error":"not found","code":"not_found"})";
        a.response.headers = {{"Content-Type", "application/json"},
                              {"Content-Length", std::to_string(a.response.body.size())}};
        return a;
      }
      a.response.status = 200;
      a.response.headers = {{"Content-Type", "text/event-stream"}};
      a.first = "event: hello\n\n";
      a.heartbeat = ": beat\n\n";
      a.heartbeat_interval = std::chrono::seconds(1);
      a.on_end = [this] { ended.fetch_add(1); };
      std::lock_guard lock(mu);
      open.push_back(ch);
      return a;
    };
  }
  std::shared_ptr<origin::StreamChannel> last() {
    std::lock_guard lock(mu);
    return open.empty() ? nullptr : open.back();
  }
};

// Reads from `c` until `marker` has arrived (what a browser's EventSource sees, framing and all).
std::string read_until(RawClient& c, const std::string& marker) {
  std::string seen;
  char buf[4096];
  while (seen.find(marker) == std::string::npos) {
    ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    seen.append(buf, size_t(n));
  }
  return seen;
}

TEST_CASE("front: event streams are written by the loops, from any thread, without a thread each") {
  Streams streams;
  FrontOptions o;
  o.classify = [](const origin::FrontRequest& r) {
    return r.path().starts_with("/v1/events/") ? origin::RequestKind::kEventStream
                                               : origin::RequestKind::kBuffered;
  };
  o.stream_handler = streams.handler();
  o.max_streams_per_client = 3;
  o.max_streams = 5;
  Fixture f(o);
  RawClient c(f.front->port());
  c.send("GET /v1/events/a HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got = read_until(c, "event: hello\n\n\r\n");
  CHECK(got.find("HTTP/1.1 200 OK\r\n") == 0);
  CHECK(got.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(got.find("\r\n\r\ne\r\nevent: hello\n\n\r\n") != std::string::npos);
  CHECK(f.front->open_streams() == 1);
  auto ch = streams.last();
  REQUIRE(ch);
  std::thread([ch] { CHECK(ch->send("data: 1\n\n")); }).join();
  CHECK(read_until(c, "data: 1\n\n\r\n").find("9\r\ndata: 1\n\n\r\n") != std::string::npos);
  // No data for a while: the heartbeat keeps proxies from timing the stream out.
  CHECK(read_until(c, ": beat\n\n").find(": beat") != std::string::npos);
  ch->finish();
  CHECK(read_until(c, "0\r\n\r\n").find("0\r\n\r\n") != std::string::npos);
  CHECK_FALSE(ch->send("late"));
  // The connection goes on with its next request.
  c.send(f.get("master.m3u8"));
  CHECK(c.read().body == f.video.bytes("master.m3u8"));
  for (int i = 0; i < 100 && streams.ended.load() < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(streams.ended.load() == 1);
  CHECK(f.front->open_streams() == 0);

  SUBCASE("a refusal from the handler is an ordinary answer") {
    RawClient d(f.front->port());
    d.send("GET /v1/events/missing HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(d.read().status == 404);
    CHECK(f.front->open_streams() == 0);
  }
  SUBCASE("a client that leaves ends its stream; caps per client and in all") {
    std::vector<std::unique_ptr<RawClient>> held;
    auto open_one = [&](const char* source) {
      auto r = std::make_unique<RawClient>(f.front->port(), source);
      r->send("GET /v1/events/x HTTP/1.1\r\nHost: t\r\n\r\n");
      return r;
    };
    for (int i = 0; i < 3; ++i) {
      held.push_back(open_one("127.0.0.1"));
      CHECK(read_until(*held.back(), "hello").find("200 OK") != std::string::npos);
    }
    auto fourth = open_one("127.0.0.1");
    auto refused = fourth->read();
    CHECK(refused.status == 429);
    CHECK_FALSE(refused.header("Retry-After").empty());
    for (const char* other : {"127.0.0.2", "127.0.0.3"}) {
      held.push_back(open_one(other));
      CHECK(read_until(*held.back(), "hello").find("200 OK") != std::string::npos);
    }
    auto sixth = open_one("127.0.0.4");
    CHECK(sixth->read().status == 503);
    CHECK(f.front->open_streams() == 5);
    const int before = streams.ended.load();
    held.clear();  // every client leaves
    for (int i = 0; i < 200 && f.front->open_streams() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(f.front->open_streams() == 0);
    CHECK(streams.ended.load() == before + 5);
  }
  SUBCASE("a client that does not read is dropped once its backlog is full") {
    RawClient slow(f.front->port());
    int small = 4096;
    ::setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    slow.send("GET /v1/events/x HTTP/1.1\r\nHost: t\r\n\r\n");
    std::shared_ptr<origin::StreamChannel> s;
    for (int i = 0; i < 100 && (!s || s == ch); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      s = streams.last();
    }
    REQUIRE(s != ch);
    const std::string blob(16 * 1024, 'z');
    bool refused = false;
    for (int i = 0; i < 10000 && !refused; ++i) {
      refused = !s->send(blob);
      if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(refused);  // not an unbounded queue
  }
}

TEST_CASE("front: many keep-alive connections at once are all answered") {
  Fixture f;
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

TEST_CASE("front: stopping refuses new connections, ends streams, lets a handed-over upload finish") {
  Streams streams;
  FrontOptions o;
  o.classify = [](const origin::FrontRequest& r) {
    if (r.path().starts_with("/v1/events/")) return origin::RequestKind::kEventStream;
    return r.path() == "/v1/uploads" ? origin::RequestKind::kStreamed
                                     : origin::RequestKind::kBuffered;
  };
  o.stream_handler = streams.handler();
  Fixture f(o);
  const int port = f.front->port();
  RawClient sse(port);
  sse.send("GET /v1/events/a HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(read_until(sse, "hello").find("200 OK") != std::string::npos);
  RawClient c(port);
  const std::string body = pattern_bytes(2 * 1024 * 1024, 3);
  const std::string head = "PATCH /v1/uploads HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  c.send(head + body.substr(0, body.size() / 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.front->begin_stop(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RawClient late(port);
  CHECK_FALSE(late.connected());
  // The stream got its last chunk and the connection closed.
  std::string rest = read_until(sse, "0\r\n\r\n");
  CHECK(rest.find("0\r\n\r\n") != std::string::npos);
  CHECK(sse.closed_by_server());
  c.send(body.substr(body.size() / 2));
  auto a = c.read();
  CHECK(a.status == 200);
  CHECK(a.body == head + body);
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
