// Webhook deliveries over real sockets to a real cpp-httplib receiver on
// 127.0.0.1, checked as a receiver would: exact body, valid signature.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "streamlet/webhooks.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;
namespace wh = streamlet::webhooks;
using namespace std::chrono_literals;

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Answers POST /hook with the scripted statuses in order, then 200.
class Receiver {
 public:
  struct Request {
    std::string body, signature, event, content_type;
    std::chrono::steady_clock::time_point at;
  };
  explicit Receiver(std::vector<int> script = {}) : script_(script.begin(), script.end()) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      requests_.push_back({req.body, req.get_header_value("Streamlet-Signature"),
                           req.get_header_value("Streamlet-Event"),
                           req.get_header_value("Content-Type"), std::chrono::steady_clock::now()});
      int status = 200;
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
      res.status = status;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::deque<int> script_;
  std::vector<Request> requests_;
};

// Collects attempt reports; waits (generously, against hangs only) for final ones.
class Reports {
 public:
  std::function<void(const wh::AttemptReport&)> callback() {
    return [this](const wh::AttemptReport& r) {
      std::lock_guard lock(mu_);
      all_.push_back(r);
      cv_.notify_all();
    };
  }
  std::vector<wh::AttemptReport> wait_final(size_t finals) {
    std::unique_lock lock(mu_);
    bool done = cv_.wait_for(lock, 60s, [&] {
      size_t n = 0;
      for (const auto& r : all_) n += r.final ? 1 : 0;
      return n >= finals;
    });
    REQUIRE_MESSAGE(done, "deliveries did not finish");
    return all_;
  }
  std::vector<wh::AttemptReport> wait_attempts(size_t n) {
    std::unique_lock lock(mu_);
    REQUIRE(cv_.wait_for(lock, 60s, [&] { return all_.size() >= n; }));
    return all_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<wh::AttemptReport> all_;
};

// A TCP port with nothing listening on it: bound once, then closed.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

wh::Options fast_options(std::vector<std::string> urls, Reports& reports) {
  wh::Options o;
  o.urls = std::move(urls);
  o.secret = "whsec_test";
  o.backoff_base = 20ms;
  o.backoff_cap = 200ms;
  o.timeout = 5s;
  o.on_attempt = reports.callback();
  return o;
}

std::string ready_body() {
  auto body = wh::event_body("video.ready",
                             R"({"id":"v1","title":"Caf\u00e9 \"night\"","status":"ready"})");
  REQUIRE(body.ok());
  return *body;
}

}  // namespace

TEST_CASE("webhooks: a delivery arrives with the exact body and a signature that verifies") {
  Receiver rx;
  Reports reports;
  auto d = wh::WebhookDispatcher::start(fast_options({rx.url()}, reports));
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  const std::string body = ready_body();
  REQUIRE((*d)->enqueue("video.ready", body).ok());
  auto all = reports.wait_final(1);
  REQUIRE(all.size() == 1);
  CHECK(all[0].delivered);
  CHECK(all[0].status == 200);
  CHECK(all[0].attempt == 1);

  auto got = rx.requests();
  REQUIRE(got.size() == 1);
  CHECK(got[0].body == body);
  CHECK(got[0].event == "video.ready");
  CHECK(got[0].content_type == "application/json");
  Status v = wh::verify("whsec_test", got[0].signature, got[0].body, unix_now());
  CHECK_MESSAGE(v.ok(), v.to_string() << " header=" << got[0].signature);

  auto j = nlohmann::json::parse(got[0].body);
  CHECK(j["event"] == "video.ready");
  CHECK(j["video"]["id"] == "v1");
  CHECK(j["video"]["title"] == "Caf\xc3\xa9 \"night\"");
  CHECK(std::regex_match(j["sent_at"].get<std::string>(),
                         std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  auto stats = (*d)->stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.pending == 0);
}

TEST_CASE("webhooks: 500, 500, then 200 takes three attempts with growing waits, each signed") {
  Receiver rx({500, 500});
  Reports reports;
  auto d = wh::WebhookDispatcher::start(fast_options({rx.url()}, reports));
  REQUIRE(d.ok());
  REQUIRE((*d)->enqueue("video.failed", ready_body()).ok());
  auto all = reports.wait_final(1);
  REQUIRE(all.size() == 3);
  CHECK(all[0].status == 500);
  CHECK_FALSE(all[0].final);
  CHECK(all[1].status == 500);
  CHECK_FALSE(all[1].final);
  CHECK(all[2].status == 200);
  CHECK(all[2].delivered);
  CHECK(all[2].final);
  CHECK(all[0].attempt == 1);
  CHECK(all[1].attempt == 2);
  CHECK(all[2].attempt == 3);
  CHECK(all[0].retry_in == 20ms);
  CHECK(all[1].retry_in == 40ms);  // doubling

  auto got = rx.requests();
  REQUIRE(got.size() == 3);
  for (const auto& r : got) {
    CHECK(r.body == got[0].body);
    CHECK(wh::verify("whsec_test", r.signature, r.body, unix_now()).ok());
  }
  // Lower bounds only: the dispatcher never retries before the backoff.
  CHECK(got[1].at - got[0].at >= 20ms);
  CHECK(got[2].at - got[1].at >= 40ms);
}

TEST_CASE("webhooks: a 400 is final, a 429 is retried") {
  Receiver refusing({400});
  Receiver busy({429});
  Reports reports;
  auto d = wh::WebhookDispatcher::start(fast_options({refusing.url(), busy.url()}, reports));
  REQUIRE(d.ok());
  REQUIRE((*d)->enqueue("video.ready", ready_body()).ok());
  auto all = reports.wait_final(2);
  CHECK(refusing.requests().size() == 1);
  CHECK(busy.requests().size() == 2);
  int refused_reports = 0;
  for (const auto& r : all) {
    if (r.url == refusing.url()) {
      ++refused_reports;
      CHECK(r.status == 400);
      CHECK(r.final);
      CHECK_FALSE(r.delivered);
    }
  }
  CHECK(refused_reports == 1);
  auto stats = (*d)->stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.failed == 1);
  CHECK(stats.attempts == 3);
}

TEST_CASE("webhooks: an unreachable URL is tried max_attempts times, then given up") {
  Reports reports;
  auto o = fast_options({"http://127.0.0.1:" + std::to_string(closed_port()) + "/hook"}, reports);
  o.max_attempts = 4;
  o.backoff_base = 1ms;
  auto d = wh::WebhookDispatcher::start(o);
  REQUIRE(d.ok());
  REQUIRE((*d)->enqueue("video.ready", ready_body()).ok());
  auto all = reports.wait_final(1);
  REQUIRE(all.size() == 4);
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].status == 0);
    CHECK_FALSE(all[i].error.empty());
    CHECK(all[i].final == (i == 3));
  }
  CHECK((*d)->stats().failed == 1);
}

TEST_CASE("webhooks: other schemes and malformed URLs fail at once with a clear error") {
  Reports reports;
  auto d = wh::WebhookDispatcher::start(
      fast_options({"ftp://x/y", "gopher://example.invalid/hook", "http://[::1/hook"}, reports));
  REQUIRE(d.ok());
  REQUIRE((*d)->enqueue("video.ready", ready_body()).ok());
  auto all = reports.wait_final(3);
  REQUIRE(all.size() == 3);
  for (const auto& r : all) {
    CAPTURE(r.url);
    CHECK(r.final);
    CHECK(r.attempt == 1);
    CHECK_FALSE(r.error.empty());
  }
  CHECK(all[0].error.find("https://") != std::string::npos);  // says what is supported
}

namespace {

// A throwaway CA and a receiver certificate signed by it, made with the openssl CLI.
struct TestPki {
  TempDir dir;
  fs::path ca, cert, key;
  explicit TestPki(const std::string& subject_alt_names) {
    ca = dir / "ca.pem";
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    write_file(dir / "ext.cnf", "subjectAltName=" + subject_alt_names + "\n");
    const std::string d = shell_quote(dir.path().string());
    auto r =
        run_shell("cd " + d +
                  " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                  " -keyout ca.key -out ca.pem -days 2 -subj /CN=streamlet-test-ca"
                  " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                  " -keyout key.pem -out cert.csr -subj /CN=receiver"
                  " && openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                  " -out cert.pem -days 2 -extfile ext.cnf");
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  }
};

// Receives POST /hook over TLS with the given certificate.
class TlsReceiver {
 public:
  TlsReceiver(const fs::path& cert, const fs::path& key) : server_(cert.c_str(), key.c_str()) {
    REQUIRE(server_.is_valid());
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      bodies_.push_back(req.body);
      signatures_.push_back(req.get_header_value("Streamlet-Signature"));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TlsReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& host) const {
    return "https://" + host + ":" + std::to_string(port_) + "/hook";
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::vector<std::string> signatures() {
    std::lock_guard lock(mu_);
    return signatures_;
  }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> bodies_, signatures_;
};

}  // namespace

TEST_CASE(
    "webhooks: https to a receiver whose certificate chains to the trusted CA and names the host") {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  TlsReceiver receiver(pki.cert, pki.key);
  Reports reports;
  wh::Options o = fast_options({receiver.url("127.0.0.1"), receiver.url("localhost")}, reports);
  o.transport = wh::make_http_post({.ca_file = pki.ca.string()});
  auto d = wh::WebhookDispatcher::start(o);
  REQUIRE(d.ok());
  const std::string body = ready_body();
  REQUIRE((*d)->enqueue("video.ready", body).ok());
  auto all = reports.wait_final(2);
  for (const auto& r : all) {
    CAPTURE(r.url);
    CAPTURE(r.error);
    CHECK(r.delivered);
    CHECK(r.status == 204);
  }
  auto bodies = receiver.bodies();
  REQUIRE(bodies.size() == 2);
  for (size_t i = 0; i < bodies.size(); ++i) {
    CHECK(bodies[i] == body);
    CHECK(wh::verify(o.secret, receiver.signatures()[i], bodies[i], unix_now()).ok());
  }
}

TEST_CASE("webhooks: https refuses an untrusted certificate and one for another name") {
  TestPki pki("DNS:other.example");
  TlsReceiver receiver(pki.cert, pki.key);
  struct Case {
    std::string ca_file;  // "" = the system store, which does not know the test CA
    std::string expect;
  };
  for (const Case& c : {Case{"", "not trusted"}, Case{pki.ca.string(), "mismatch"}}) {
    CAPTURE(c.ca_file);
    auto transport = wh::make_http_post({.ca_file = c.ca_file});
    auto r = transport->post(receiver.url("127.0.0.1"), {}, "{}", 5s);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.status().message());
    CHECK(r.status().message().find(c.expect) != std::string::npos);
  }
  CHECK(receiver.bodies().empty());  // nothing was sent to a server we could not verify
  auto bad_ca = wh::make_http_post({.ca_file = (pki.dir / "missing.pem").string()});
  auto r = bad_ca->post(receiver.url("127.0.0.1"), {}, "{}", 5s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("webhooks: stop() drains what is pending, then refuses new events") {
  Receiver rx({503});
  Reports reports;
  auto d = wh::WebhookDispatcher::start(fast_options({rx.url()}, reports));
  REQUIRE(d.ok());
  REQUIRE((*d)->enqueue("video.ready", ready_body()).ok());
  (*d)->stop(30s);  // returns once the retry has gone through
  CHECK(rx.requests().size() == 2);
  CHECK((*d)->stats().delivered == 1);
  CHECK((*d)->enqueue("video.ready", ready_body()).code() == ErrorCode::kCancelled);
}

TEST_CASE("webhooks: with a state directory, a restart resumes a pending delivery") {
  TempDir state;
  const std::string body = ready_body();
  {
    Receiver down({503});
    Reports reports;
    auto o = fast_options({}, reports);
    o.urls = {down.url()};
    o.state_dir = state.path().string();
    o.backoff_base = 1h;  // the retry would be far away: it must survive the restart
    auto d = wh::WebhookDispatcher::start(o);
    REQUIRE(d.ok());
    REQUIRE((*d)->enqueue("video.ready", body).ok());
    auto all = reports.wait_attempts(1);
    CHECK_FALSE(all[0].final);
    (*d)->stop(0ms);
    CHECK((*d)->stats().pending == 1);
  }
  std::string journal = read_file(state / "webhooks.jsonl");
  CHECK(journal.find("\"op\":\"add\"") != std::string::npos);

  // The old receiver is gone: point the journalled entry at a live one, as an
  // operator moving the endpoint would, and make it due now; attempts and
  // body stay as journalled.
  Receiver up;
  {
    std::string rewritten;
    std::istringstream in(journal);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("url")) j["url"] = up.url();
      if (j.contains("due_ms")) j["due_ms"] = 0;  // due now
      rewritten += j.dump() + "\n";
    }
    write_file(state / "webhooks.jsonl", rewritten);
  }
  Reports reports;
  auto o = fast_options({up.url()}, reports);
  o.state_dir = state.path().string();
  auto d = wh::WebhookDispatcher::start(o);
  REQUIRE(d.ok());
  auto all = reports.wait_final(1);
  REQUIRE(all.size() == 1);
  CHECK(all[0].delivered);
  CHECK(all[0].attempt == 2);  // the attempt count survived the restart
  auto got = up.requests();
  REQUIRE(got.size() == 1);
  CHECK(got[0].body == body);
  CHECK(wh::verify("whsec_test", got[0].signature, got[0].body, unix_now()).ok());
  (*d)->stop(0ms);
  // Nothing is left to resume.
  Reports none;
  auto o2 = fast_options({up.url()}, none);
  o2.state_dir = state.path().string();
  auto d2 = wh::WebhookDispatcher::start(o2);
  REQUIRE(d2.ok());
  CHECK((*d2)->stats().pending == 0);
}

TEST_CASE("webhooks: verify() rejects a tampered body, a wrong secret, a stale or bad header") {
  const std::string body = R"({"event":"video.ready","video":{"id":"v1"},"sent_at":"x"})";
  const int64_t now = 1'800'000'000;
  const std::string header = wh::sign("s3cret", now - 10, body);
  CHECK(header.rfind("t=" + std::to_string(now - 10) + ",v1=", 0) == 0);
  CHECK(header.size() == std::string("t=1799999990,v1=").size() + 64);
  CHECK(wh::verify("s3cret", header, body, now).ok());

  auto rejected = [](const Status& s) { return s.code() == ErrorCode::kUnauthenticated; };
  CHECK(rejected(wh::verify("s3cret", header, body + " ", now)));
  CHECK(
      rejected(wh::verify("s3cret", header, R"({"event":"video.failed")" + body.substr(22), now)));
  CHECK(rejected(wh::verify("other", header, body, now)));
  CHECK(rejected(wh::verify("s3cret", header, body, now + 3600)));   // stale
  CHECK(rejected(wh::verify("s3cret", header, body, now - 3600)));   // from the future
  CHECK(wh::verify("s3cret", header, body, now + 3600, 7200).ok());  // wider window
  CHECK(rejected(wh::verify("s3cret", "", body, now)));
  CHECK(rejected(wh::verify("s3cret", "v1=abc", body, now)));
  CHECK(rejected(wh::verify("s3cret", "t=abc," + header.substr(header.find(',') + 1), body, now)));
  CHECK(rejected(wh::verify("s3cret", "t=" + std::to_string(now), body, now)));
  // Secret rotation: any matching v1 is accepted.
  const std::string rotated = header + ",v1=" + wh::sign("new", now - 10, body).substr(16);
  CHECK(wh::verify("new", rotated, body, now).ok());
  CHECK(wh::verify("s3cret", rotated, body, now).ok());
}

TEST_CASE("webhooks: a journal line of the wrong shape is refused at start, naming file and line") {
  TempDir state;
  const std::string good =
      R"({"op":"add","id":1,"url":"http://127.0.0.1:9/hook","event":"video.ready",)"
      R"("body":"{}","attempts":0,"due_ms":0})";
  for (std::string bad :
       {R"({"op":"add","id":"seven"})", R"({"op":"add","id":-1})",
        R"({"op":"add","id":2,"url":17})", R"({"op":"add","id":2,"attempts":"x"})",
        R"({"op":"retry","id":1,"due_ms":"soon"})", R"({"op":3,"id":1})",
        R"({"op":"explode","id":1})", R"({"op":"add","id":1.5})", R"([1,2,3])"}) {
    CAPTURE(bad);
    write_file(state / "webhooks.jsonl", good + "\n" + bad + "\n" + good + "\n");
    Reports reports;
    auto o = fast_options({"http://127.0.0.1:9/hook"}, reports);
    o.state_dir = state.path().string();
    auto d = wh::WebhookDispatcher::start(o);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == ErrorCode::kInvalidArgument);
    const std::string& m = d.status().message();
    CHECK_MESSAGE(m.find((state / "webhooks.jsonl").string() + " line 2") != std::string::npos, m);
    CHECK(read_file(state / "webhooks.jsonl").find(bad) != std::string::npos);  // left alone
  }
  // A torn last line is what a crash mid-append leaves: skipped, the rest resumes.
  write_file(state / "webhooks.jsonl", good + "\n" + good.substr(0, 30));
  Reports reports;
  auto o = fast_options({"http://127.0.0.1:9/hook"}, reports);
  o.state_dir = state.path().string();
  o.backoff_base = 1h;
  auto d = wh::WebhookDispatcher::start(o);
  REQUIRE(d.ok());
  (*d)->stop(0ms);
}

namespace {

// A TCP receiver that answers every connection with `answer` (written once the request's head
// has arrived; empty: never answers) and then keeps the connection open until it is destroyed,
// the way a hostile or hung receiver would.
class RawReceiver {
 public:
  explicit RawReceiver(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RawReceiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (int c : clients_) ::close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int connections() const { return connections_; }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      clients_.push_back(c);
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, size_t(n));
      }
      if (!answer_.empty()) (void)::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
    }
  }

  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("webhooks: the built-in transport takes the status and stops reading") {
  auto transport = wh::make_http_post();
  // A 200 announcing a gigabyte that never comes: delivered, not a timeout.
  RawReceiver endless("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n0123456789");
  auto r = transport->post(endless.url(), {{"Content-Type", "application/json"}}, "{}", 2s);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(*r == 200);

  // A redirect is the receiver's answer; it is not followed anywhere.
  RawReceiver target("HTTP/1.1 204 No Content\r\n\r\n");
  RawReceiver redirecting("HTTP/1.1 307 Temporary Redirect\r\nLocation: " + target.url() +
                          "\r\nContent-Length: 0\r\n\r\n");
  r = transport->post(redirecting.url(), {}, "{}", 2s);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(*r == 307);
  CHECK(target.connections() == 0);

  // A receiver that accepts and never answers costs the timeout, then is an error.
  RawReceiver silent("");
  r = transport->post(silent.url(), {}, "{}", 300ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kIo);
  CHECK(r.status().message().find("timed out") != std::string::npos);

  // Not an HTTP answer at all.
  RawReceiver garbage("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  r = transport->post(garbage.url(), {}, "{}", 2s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kIo);

  // Header injection is refused before anything is sent.
  RawReceiver untouched("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  r = transport->post(untouched.url(), {{"X-Evil", "a\r\nHost: other"}}, "{}", 2s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(untouched.connections() == 0);
}
