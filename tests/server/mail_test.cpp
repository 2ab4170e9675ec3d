// Mail to uploaders against a real SMTP server (aiosmtpd, tests/support/smtp_sink.py): a
// ready video and a failed one mail their owner (To, Subject, the watch link); with mail
// turned off, or no --smtp-url, nothing is sent; a mail server that is down is retried,
// logged and counted while the server goes on, and the mail arrives once it is up.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "video_helpers.hpp"

using namespace streamlet::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// The Python that has aiosmtpd (Debian's python3-aiosmtpd), or "".
std::string aiosmtpd_python() {
  for (const char* py : {"/usr/bin/python3", "python3"})
    if (std::system((std::string(py) + " -c 'import aiosmtpd' >/dev/null 2>&1").c_str()) == 0)
      return py;
  return "";
}

int free_port() {
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

// aiosmtpd writing each message to `dir`/<n>.eml, on `port`.
struct SmtpSink {
  SmtpSink(const std::string& python, const fs::path& dir, int port) : dir(dir), port(port) {
    fs::create_directories(dir);
    child = std::make_unique<Child>(
        std::vector<std::string>{python, std::string(STREAMLET_TEST_SOURCE_DIR) + "/support/smtp_sink.py",
                                 dir.string(), std::to_string(port)},
        dir / "sink.log");
    for (int i = 0; i < 100 && child->output().find("listening") == std::string::npos; ++i)
      std::this_thread::sleep_for(50ms);
    REQUIRE_MESSAGE(child->output().find("listening") != std::string::npos, child->output());
  }
  // The n-th message (1-based), waiting for it up to `wait`; "" if it did not come.
  std::string message(int n, std::chrono::milliseconds wait = 30s) const {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    const fs::path p = dir / (std::to_string(n) + ".eml");
    while (!fs::exists(p) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    return fs::exists(p) ? read_file(p) : "";
  }
  int count() const {
    int n = 0;
    while (fs::exists(dir / (std::to_string(n + 1) + ".eml"))) ++n;
    return n;
  }
  fs::path dir;
  int port;
  std::unique_ptr<Child> child;
};

// The value of header `name` in a raw message (its first line; "" when absent).
std::string header(const std::string& message, const std::string& name) {
  const std::string head = message.substr(0, message.find("\r\n\r\n"));
  std::smatch m;
  if (!std::regex_search(head, m, std::regex("(^|\r\n)" + name + ": ([^\r\n]*)"))) return "";
  return m[2];
}

std::string body_of(const std::string& message) {
  const size_t at = message.find("\r\n\r\n");
  return at == std::string::npos ? "" : message.substr(at + 4);
}

std::vector<std::string> mail_flags(int port) {
  return {"--ladder", "240p:300k", "--preset", "ultrafast", "--smtp-url",
          "smtp://127.0.0.1:" + std::to_string(port), "--smtp-from", "streamlet@example.com",
          "--public-url", "https://video.example.com"};
}

void set_email(const ServerProcess& s, const json& settings) {
  auto r = s.client().Patch("/v1/auth/me", bearer(s.api_key()), settings.dump(), "application/json");
  REQUIRE(r);
  REQUIRE_MESSAGE(r->status == 200, r->body);
}

double metric(const ServerProcess& s, const std::string& series) {
  auto m = s.client().Get("/metrics");
  REQUIRE(m);
  const size_t at = m->body.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(m->body.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("mail: a ready video and a failed one mail their owner, who can turn it off") {
  const std::string python = aiosmtpd_python();
  if (python.empty()) {
    MESSAGE("python3-aiosmtpd is not installed (scripts/test.sh installs it)");
    std::exit(77);
  }
  TempDir dir;
  SmtpSink sink(python, dir / "mail", free_port());
  ServerProcess s(dir / "data", "test-key", mail_flags(sink.port));
  auto cli = s.client();
  // Bad addresses are refused at the door, one that would name a second recipient too.
  for (const char* bad : {"nobody", "a@b.c, evil@example.com", "a@b.c\r\nBcc: evil@example.com",
                          "<a@b.c>"}) {
    auto r = cli.Patch("/v1/auth/me", bearer(s.api_key()), json{{"email", bad}}.dump(),
                       "application/json");
    check_error(r, 400, "invalid_argument", "email address");
  }
  check_error(cli.Patch("/v1/auth/me", bearer(s.api_key()), json{{"role", "user"}}.dump(),
                        "application/json"),
              400, "invalid_argument", "email_notifications");
  set_email(s, {{"email", "owner@example.com"}});
  auto me = json::parse(cli.Get("/v1/auth/me", bearer(s.api_key()))->body)["user"];
  CHECK(me["email"] == "owner@example.com");
  CHECK(me["email_notifications"] == true);

  // Ready: To, Subject, the watch link on the public URL.
  const std::string ready = upload_video(s, read_file(clip_small()), {{"title", "Holiday: day 1"}});
  REQUIRE(wait_final(s, ready)["status"] == "ready");
  const std::string m1 = sink.message(1);
  REQUIRE_MESSAGE(!m1.empty(), s.output());
  CHECK(header(m1, "To") == "<owner@example.com>");
  CHECK(header(m1, "From") == "<streamlet@example.com>");
  CHECK(header(m1, "Subject") == "Ready: Holiday: day 1");
  CHECK(!header(m1, "Date").empty());
  CHECK(std::regex_match(header(m1, "Message-ID"), std::regex("<[A-Za-z0-9]+@streamlet>")));
  CHECK_MESSAGE(body_of(m1).find("https://video.example.com/watch/" + ready + "\r\n") !=
                    std::string::npos,
                m1);
  CHECK(read_file(sink.dir / "1.envelope") == "streamlet@example.com\nowner@example.com\n");

  // Failed: a garbage upload.
  const std::string bad = upload_video(s, "this is not a video", {{"filename", "junk.mp4"}});
  REQUIRE(wait_final(s, bad)["status"] == "failed");
  const std::string m2 = sink.message(2);
  REQUIRE(!m2.empty());
  CHECK(header(m2, "Subject") == "Failed: junk");
  CHECK(body_of(m2).find("could not be processed") != std::string::npos);
  CHECK(body_of(m2).find("https://video.example.com/library") != std::string::npos);
  CHECK(metric(s, "streamlet_mail_attempts_total{result=\"sent\"}") == 2);

  // Turned off: the next failure mails nobody (the mail would be queued as the video fails).
  set_email(s, {{"email_notifications", false}});
  const std::string quiet = upload_video(s, "not a video either", {{"filename", "x.mp4"}});
  REQUIRE(wait_final(s, quiet)["status"] == "failed");
  std::this_thread::sleep_for(1500ms);
  CHECK(sink.count() == 2);
  CHECK(metric(s, "streamlet_mail_attempts_total{result=\"sent\"}") == 2);
}

TEST_CASE("mail: without --smtp-url nothing is sent") {
  const std::string python = aiosmtpd_python();
  if (python.empty()) std::exit(77);
  TempDir dir;
  SmtpSink sink(python, dir / "mail", free_port());
  ServerProcess s(dir / "data", "test-key", {"--ladder", "240p:300k", "--preset", "ultrafast"});
  set_email(s, {{"email", "owner@example.com"}});
  const std::string bad = upload_video(s, "this is not a video", {{"filename", "junk.mp4"}});
  REQUIRE(wait_final(s, bad)["status"] == "failed");
  std::this_thread::sleep_for(1500ms);
  CHECK(sink.count() == 0);
  CHECK(s.client().Get("/metrics")->body.find("streamlet_mail_") == std::string::npos);
  // And the mail flags are refused without what they need.
  Child refused({STREAMLET_SERVER_PATH, "--data", (dir / "d2").string(), "--smtp-url",
                 "smtp://127.0.0.1:25"},
                dir / "refused.log");
  CHECK(refused.wait() == 2);
  CHECK(refused.output().find("--smtp-url needs --smtp-from") != std::string::npos);
}

TEST_CASE("mail: a mail server that is down is retried and logged, the server goes on, the mail arrives later") {
  const std::string python = aiosmtpd_python();
  if (python.empty()) std::exit(77);
  TempDir dir;
  const int port = free_port();  // nothing listens there yet
  auto flags = mail_flags(port);
  flags.insert(flags.end(), {"--smtp-backoff-ms", "300"});
  ServerProcess s(dir / "data", "test-key", flags);
  set_email(s, {{"email", "owner@example.com"}});
  const std::string bad = upload_video(s, "this is not a video", {{"filename", "junk.mp4"}});
  REQUIRE(wait_final(s, bad)["status"] == "failed");
  // Attempts fail, are logged with the wait before the next, and counted; the server answers.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (metric(s, "streamlet_mail_attempts_total{result=\"retry\"}") < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CHECK(metric(s, "streamlet_mail_attempts_total{result=\"retry\"}") >= 2);
  CHECK(metric(s, "streamlet_mail_pending") == 1);
  CHECK_MESSAGE(s.output().find("mail 1 to owner@example.com attempt 1 failed, retrying in 300 ms") !=
                    std::string::npos,
                s.output());
  CHECK(s.client().Get("/healthz")->status == 200);
  // The mail server comes up: the next retry delivers it.
  SmtpSink sink(python, dir / "mail", port);
  const std::string m = sink.message(1, 30s);
  REQUIRE_MESSAGE(!m.empty(), s.output());
  CHECK(header(m, "Subject") == "Failed: junk");
  CHECK(metric(s, "streamlet_mail_attempts_total{result=\"sent\"}") == 1);
  CHECK(metric(s, "streamlet_mail_pending") == 0);
}
