// upload::Client against a real streamlet-server child over loopback (whole files, ranges,
// parallel parts, a server killed mid-upload, cancel and resume, a wrong key), and against
// hostile or broken servers on a loopback socket (garbage, early close, silence, an endless
// body, a lying offset): each of those ends in a clear error, never a hang.
#include "streamlet/upload_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "server/tus_helpers.hpp"
#include "streamlet/upload.hpp"

namespace up = streamlet::upload;
using streamlet::ErrorCode;
using namespace streamlet::test;

namespace {

std::string sha256(const fs::path& p) {
  return up::sha256_file(p).value();
}

uint64_t server_offset(const ServerProcess& s, const std::string& url) {
  auto r = s.client().Head(path_of(url), tus(s));
  return r && r->status == 200 ? std::stoull(r->get_header_value("Upload-Offset")) : 0;
}

up::ClientOptions options_for(const ServerProcess& s) {
  up::ClientOptions o;
  o.bearer_token = s.api_key();
  o.chunk_size = 1 << 20;
  return o;
}

std::string endpoint_of(const ServerProcess& s) {
  return s.base_url() + "/v1/uploads";
}

// An upload running on its own thread; `url()` is the first part's URL once it is known
// (the params' own on_start is called too).
class Background {
 public:
  Background(const up::Client& client, up::UploadParams params) {
    params.on_start = [this, theirs = params.on_start](const std::vector<std::string>& urls,
                                                       bool resumed) {
      if (theirs) theirs(urls, resumed);
      url_.set_value(urls[0]);
    };
    done_ = std::async(std::launch::async,
                       [&client, params = std::move(params)] { return client.upload(params); });
  }
  std::string url() {
    auto f = url_.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    return f.get();
  }
  streamlet::Result<up::UploadResult> get() { return done_.get(); }

 private:
  std::promise<std::string> url_;
  std::future<streamlet::Result<up::UploadResult>> done_;
};

// A loopback "server" that reads each request head (and its Content-Length body) and then
// does what `answer(head)` says: send the returned bytes, or, for the special answers, close
// at once (""), stay silent ("SILENT") or stream bytes forever ("ENDLESS").
class BadServer {
 public:
  explicit BadServer(std::function<std::string(const std::string& head)> answer)
      : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~BadServer() {
    stop_ = true;
    ::shutdown(current_, SHUT_RDWR);  // wakes a send() blocked on a client that stopped reading
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/uploads";
  }
  int requests() const { return requests_; }

 private:
  bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    while (!stop_)
      if (::poll(&p, 1, 50) > 0) return true;
    return false;
  }
  void serve() {
    while (wait_readable(fd_)) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      current_ = c;
      if (!stop_) handle(c);
      current_ = -1;
      ::close(c);
    }
  }
  void handle(int c) {
    while (true) {  // requests on one connection, one after another
      std::string in;
      char buf[65536];
      size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!wait_readable(c)) return;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, size_t(n));
      }
      std::string head = in.substr(0, head_end + 4);
      uint64_t body = 0;
      std::string lower = head;
      for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
      if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
        body = std::stoull(lower.substr(at + 17));
      uint64_t have = in.size() - head.size();
      while (have < body) {
        if (!wait_readable(c)) return;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        have += uint64_t(n);
      }
      ++requests_;
      std::string out = answer_(head);
      if (out.empty()) return;  // close without a word
      if (out == "SILENT") {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return;
      }
      if (out == "ENDLESS") {
        std::string start = "HTTP/1.1 500 Oops\r\nContent-Length: 100000000000\r\n\r\n";
        ::send(c, start.data(), start.size(), MSG_NOSIGNAL);
        std::string junk(65536, 'x');
        while (!stop_ && ::send(c, junk.data(), junk.size(), MSG_NOSIGNAL) > 0) {
        }
        return;
      }
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  std::function<std::string(const std::string&)> answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> current_{-1};
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Quick failure settings, so a test of a broken server takes a few seconds.
up::ClientOptions impatient() {
  up::ClientOptions o;
  o.retries = 2;
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(20);
  o.idle_timeout = std::chrono::milliseconds(1000);
  o.connect_timeout = std::chrono::milliseconds(2000);
  return o;
}

// Runs an upload against `server` with a watchdog: if the client has not given up after a
// 20 s (a hang), the test cancels it, so a hang fails the test as kCancelled.
streamlet::Status upload_to(const BadServer& server, const fs::path& file,
                            up::ClientOptions o = impatient()) {
  up::Client client(o);
  streamlet::CancelToken cancel;
  up::UploadParams p;
  p.endpoint = server.endpoint();
  p.file = file;
  p.cancel = cancel;
  auto f = std::async(std::launch::async, [&] { return client.upload(p); });
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) cancel.cancel();
  auto r = f.get();
  return r.ok() ? streamlet::Status::Ok() : r.status();
}

std::string created(int port) {
  return "HTTP/1.1 201 Created\r\nLocation: http://127.0.0.1:" + std::to_string(port) +
         "/v1/uploads/abc\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

TEST_CASE("upload::Client stores a whole file and a byte range with the same sha256") {
  TempDir dir;
  ServerProcess server(dir / "data");
  const std::string bytes = test_bytes(5 * 1000 * 1000 + 7, 31);
  write_file(dir / "video.bin", bytes);
  up::Client client(options_for(server));

  up::UploadProgress last;
  int reports = 0;
  up::UploadParams p;
  p.endpoint = endpoint_of(server);
  p.file = dir / "video.bin";
  p.metadata = {{"filename", "video.bin"}};
  p.on_progress = [&](const up::UploadProgress& pr) {
    CHECK(pr.acknowledged <= pr.total);
    CHECK(pr.acknowledged >= last.acknowledged);  // the server never loses acknowledged bytes here
    last = pr;
    ++reports;
  };
  auto whole = client.upload(p);
  REQUIRE(whole.ok());
  CHECK(whole->bytes == bytes.size());
  CHECK(whole->bytes_sent == bytes.size());
  CHECK_FALSE(whole->resumed);
  CHECK(whole->part_urls == std::vector<std::string>{whole->url});
  CHECK(reports >= 1);
  CHECK(last.acknowledged == bytes.size());
  CHECK(last.total == bytes.size());
  CHECK(sha256(stored_path(dir / "data", path_of(whole->url))) == sha256(dir / "video.bin"));
  auto head = server.client().Head(path_of(whole->url), tus(server));
  CHECK(up::parse_metadata(head->get_header_value("Upload-Metadata")).value().at("filename") ==
        "video.bin");

  // Bytes [1000, 3000001) only: what an embedder sends when it splits a file itself.
  p.begin = 1000;
  p.end = 3000001;
  p.on_progress = {};
  auto range = client.upload(p);
  REQUIRE(range.ok());
  CHECK(range->bytes == 3000001 - 1000);
  CHECK(read_file(stored_path(dir / "data", path_of(range->url))) ==
        bytes.substr(1000, 3000001 - 1000));
}

TEST_CASE("upload::Client in 4 parallel parts: the server concatenates the same bytes") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(6 * 1000 * 1000 + 3, 32));
  up::Client client(options_for(server));
  up::UploadParams p;
  p.endpoint = endpoint_of(server);
  p.file = dir / "video.bin";
  p.parallel = 4;
  auto r = client.upload(p);
  REQUIRE(r.ok());
  REQUIRE(r->part_urls.size() == 4);
  // The final upload was made from exactly these parts, in order (the server then drops them).
  std::string concat = "final;";
  for (size_t i = 0; i < 4; ++i) concat += (i ? " " : "") + path_of(r->part_urls[i]);
  auto head = server.client().Head(path_of(r->url), tus(server));
  REQUIRE(head);
  CHECK(head->get_header_value("Upload-Concat") == concat);
  CHECK(sha256(stored_path(dir / "data", path_of(r->url))) == sha256(dir / "video.bin"));
}

TEST_CASE("upload::Client rides out a server kill -9 and restart mid-upload") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(20 * 1000 * 1000, 33));
  auto o = options_for(server);
  o.chunk_size = 4 << 20;
  o.rate_limit = 10 * 1000 * 1000;  // ~2 s: time to kill the server in the middle
  up::Client client(o);
  up::UploadParams p;
  p.endpoint = endpoint_of(server);
  p.file = dir / "video.bin";
  Background upload(client, p);
  std::string url = upload.url();
  for (int i = 0; i < 1000 && server_offset(server, url) < 4 * 1024 * 1024; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  uint64_t before = server_offset(server, url);
  server.kill9();
  // Gone for a while, so the client meets refused connections and must back off and retry
  // (a server back at once is often reached by curl's own resend of the request).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  server.restart();
  auto r = upload.get();
  REQUIRE(r.ok());
  CHECK(before >= 4 * 1024 * 1024);
  CHECK(before < 20 * 1000 * 1000);  // the kill did land in the middle
  CHECK(r->url == url);
  CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
}

TEST_CASE("upload::Client cancelled mid-upload resumes the same upload from its resume state") {
  TempDir dir;
  ServerProcess server(dir / "data");
  const uint64_t size = 20 * 1000 * 1000;
  write_file(dir / "video.bin", test_bytes(size, 34));
  auto o = options_for(server);
  o.rate_limit = 8 * 1000 * 1000;
  up::Client slow(o);
  streamlet::CancelToken cancel;
  up::UploadParams p;
  p.endpoint = endpoint_of(server);
  p.file = dir / "video.bin";
  p.resume_state = dir / "cache" / "uploads.json";
  p.cancel = cancel;
  Background first(slow, p);
  std::string url = first.url();
  for (int i = 0; i < 1000 && server_offset(server, url) < 3000000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cancel.cancel();
  auto cancelled = first.get();
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.status().code() == ErrorCode::kCancelled);
  const uint64_t before = server_offset(server, url);
  CHECK(before >= 3000000);
  CHECK(before < size);
  CHECK(read_file(p.resume_state).find(url) != std::string::npos);

  up::Client fast(options_for(server));
  p.cancel = streamlet::CancelToken();  // a fresh one: the first stays cancelled
  bool resumed_at_start = false;
  p.on_start = [&](const std::vector<std::string>& urls, bool resumed) {
    resumed_at_start = resumed && urls == std::vector<std::string>{url};
  };
  auto second = fast.upload(p);
  REQUIRE(second.ok());
  CHECK(resumed_at_start);
  CHECK(second->resumed);
  CHECK(second->url == url);  // the same upload, not a new one
  // Nothing the server held was sent again (it may have kept a little more of the request
  // the cancel cut off than it had when `before` was read).
  CHECK(second->bytes_sent <= size - before);
  CHECK(second->bytes_sent + 3000000 <= size);
  CHECK(sha256(stored_path(dir / "data", path_of(url))) == sha256(dir / "video.bin"));
  CHECK(read_file(p.resume_state).find(url) == std::string::npos);  // forgotten once done

  p.on_start = {};
  auto third = fast.upload(p);  // nothing remembered any more: a new upload
  REQUIRE(third.ok());
  CHECK_FALSE(third->resumed);
  CHECK(third->url != url);
}

TEST_CASE(
    "upload::Client resumes from upload URLs the caller kept, or starts over when they are gone") {
  TempDir dir;
  ServerProcess server(dir / "data");
  const uint64_t size = 12 * 1000 * 1000;
  write_file(dir / "video.bin", test_bytes(size, 41));
  auto o = options_for(server);
  o.rate_limit = 8 * 1000 * 1000;
  up::Client slow(o);
  streamlet::CancelToken cancel;
  up::UploadParams p;
  p.endpoint = endpoint_of(server);
  p.file = dir / "video.bin";
  p.parallel = 2;
  p.cancel = cancel;
  std::vector<std::string> kept;  // what an embedder would store in its own database
  p.on_start = [&](const std::vector<std::string>& urls, bool) { kept = urls; };
  Background first(slow, p);
  std::string url0 = first.url();
  for (int i = 0; i < 1000 && server_offset(server, url0) < 1000000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cancel.cancel();
  REQUIRE(first.get().status().code() == ErrorCode::kCancelled);
  REQUIRE(kept.size() == 2);
  CHECK(server_offset(server, kept[0]) >= 1000000);

  up::Client fast(options_for(server));
  p.cancel = streamlet::CancelToken();  // a fresh one: the first stays cancelled
  p.on_start = {};
  p.resume_urls = kept;
  auto second = fast.upload(p);
  REQUIRE(second.ok());
  CHECK(second->resumed);
  CHECK(second->part_urls == kept);
  CHECK(second->bytes_sent + 1000000 <= size);
  CHECK(sha256(stored_path(dir / "data", path_of(second->url))) == sha256(dir / "video.bin"));

  // A kept URL the server no longer has (terminated here): new uploads instead.
  p.parallel = 1;
  auto gone = fast.create(p.endpoint, size, {});
  REQUIRE(gone.ok());
  REQUIRE(fast.terminate(*gone).ok());
  CHECK(fast.offset(*gone).status().code() == ErrorCode::kGone);
  p.resume_urls = {*gone};
  auto third = fast.upload(p);
  REQUIRE(third.ok());
  CHECK_FALSE(third->resumed);
  CHECK(third->url != *gone);
  CHECK(sha256(stored_path(dir / "data", path_of(third->url))) == sha256(dir / "video.bin"));

  p.resume_urls = {*gone, *gone};  // two URLs for one part
  CHECK(fast.upload(p).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("upload::Client with a wrong key is kUnauthenticated with the server's message") {
  TempDir dir;
  ServerProcess server(dir / "data");
  write_file(dir / "video.bin", test_bytes(1000, 35));
  // What the server itself says to that key, read independently.
  auto raw = server.client().Post(
      "/v1/uploads",
      {{"Tus-Resumable", "1.0.0"}, {"Upload-Length", "1000"}, {"Authorization", "Bearer nope"}},
      std::string(), "");
  REQUIRE(raw);
  REQUIRE(raw->status == 401);
  std::string said = nlohmann::json::parse(raw->body)["error"].get<std::string>();
  REQUIRE_FALSE(said.empty());

  up::Client client({.bearer_token = "nope"});
  auto r = client.upload({.endpoint = endpoint_of(server), .file = dir / "video.bin"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kUnauthenticated);
  CHECK(r.status().message().find("HTTP 401") != std::string::npos);
  CHECK(r.status().message().find(said) != std::string::npos);
}

TEST_CASE("upload::Client refuses bad parameters before any request") {
  TempDir dir;
  write_file(dir / "video.bin", "0123456789");
  up::Client client;
  auto not_http = client.upload({.endpoint = "ftp://example.com/up", .file = dir / "video.bin"});
  CHECK(not_http.status().code() == ErrorCode::kInvalidArgument);
  // Port 9 on loopback: nothing would answer, so these fail before connecting or not at all.
  const std::string ep = "http://127.0.0.1:9/v1/uploads";
  auto missing = client.upload({.endpoint = ep, .file = dir / "nope.bin"});
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message().find("nope.bin") != std::string::npos);
  auto directory = client.upload({.endpoint = ep, .file = dir.path()});
  CHECK(directory.status().code() == ErrorCode::kNotFound);
  auto range = client.upload({.endpoint = ep, .file = dir / "video.bin", .begin = 4, .end = 11});
  CHECK(range.status().code() == ErrorCode::kInvalidArgument);
  auto parts = client.upload({.endpoint = ep, .file = dir / "video.bin", .parallel = 0});
  CHECK(parts.status().code() == ErrorCode::kInvalidArgument);
  auto refused = up::Client(impatient()).upload({.endpoint = ep, .file = dir / "video.bin"});
  CHECK(refused.status().code() == ErrorCode::kIo);
}

TEST_CASE("upload::Client against a server that answers garbage gets kIo, not a hang") {
  TempDir dir;
  write_file(dir / "video.bin", test_bytes(100000, 36));
  BadServer server([](const std::string&) { return std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n"); });
  auto st = upload_to(server, dir / "video.bin");
  CHECK(st.code() == ErrorCode::kIo);
  CHECK(st.message().rfind("create upload: ", 0) == 0);
}

TEST_CASE("upload::Client against a server that closes without answering gets kIo after retries") {
  TempDir dir;
  write_file(dir / "video.bin", test_bytes(100000, 37));
  int port = 0;
  BadServer server([&](const std::string& head) {
    if (head.rfind("POST", 0) == 0) return created(port);
    if (head.rfind("HEAD", 0) == 0)
      return std::string("HTTP/1.1 200 OK\r\nUpload-Offset: 0\r\nContent-Length: 0\r\n\r\n");
    return std::string();  // every PATCH: the connection just closes
  });
  port = std::stoi(server.endpoint().substr(17));
  auto st = upload_to(server, dir / "video.bin");
  CHECK(st.code() == ErrorCode::kIo);
  CHECK(st.message().rfind("upload: ", 0) == 0);
  // One POST, then HEAD + PATCH for the first attempt and each of the 2 retries (curl itself
  // may send a PATCH again once when a kept-alive connection dies under it).
  CHECK(server.requests() >= 1 + 3 * 2);
  CHECK(server.requests() <= 1 + 3 * 3);
}

TEST_CASE("upload::Client against a server that goes silent times out instead of hanging") {
  TempDir dir;
  write_file(dir / "video.bin", test_bytes(100000, 38));
  BadServer server([](const std::string&) { return std::string("SILENT"); });
  auto o = impatient();
  o.retries = 0;
  auto st = upload_to(server, dir / "video.bin", o);
  CHECK(st.code() == ErrorCode::kIo);
  CHECK(st.message().find("timed out") != std::string::npos);
}

TEST_CASE("upload::Client against a server that streams an endless answer stops reading it") {
  TempDir dir;
  write_file(dir / "video.bin", test_bytes(100000, 39));
  BadServer server([](const std::string&) { return std::string("ENDLESS"); });
  auto st = upload_to(server, dir / "video.bin");
  CHECK(st.code() == ErrorCode::kIo);
  CHECK(st.message().find("longer than") != std::string::npos);
}

TEST_CASE("upload::Client refuses an offset the server could not have received") {
  TempDir dir;
  write_file(dir / "video.bin", test_bytes(3 << 20, 40));
  int port = 0;
  BadServer server([&](const std::string& head) {
    if (head.rfind("POST", 0) == 0) return created(port);
    if (head.rfind("HEAD", 0) == 0)
      return std::string("HTTP/1.1 200 OK\r\nUpload-Offset: 0\r\nContent-Length: 0\r\n\r\n");
    // "I have it all" after the first 1 MiB chunk: a lie that would end the upload early.
    return std::string("HTTP/1.1 204 No Content\r\nUpload-Offset: 3145728\r\n\r\n");
  });
  port = std::stoi(server.endpoint().substr(17));
  auto o = impatient();
  o.chunk_size = 1 << 20;
  auto st = upload_to(server, dir / "video.bin", o);
  CHECK(st.code() == ErrorCode::kInternal);
  CHECK(st.message().find("offset 3145728") != std::string::npos);
}
