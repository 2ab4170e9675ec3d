// Mail rendering and the mailer's retries: what no title can do to the headers, and what
// happens to a message whose relay never answers (a real closed port, libcurl's SMTP client).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/crypto.hpp"
#include "streamlet/mail.hpp"

using namespace streamlet;
using namespace std::chrono_literals;

namespace {

mail::Message message(std::string subject) {
  return {"streamlet@example.com", "owner@example.com", std::move(subject), "Hello\nthere\n"};
}

// The header lines of a rendered message (before the blank line).
std::vector<std::string> header_lines(const std::string& wire) {
  std::vector<std::string> lines;
  const std::string head = wire.substr(0, wire.find("\r\n\r\n"));
  for (size_t at = 0; at <= head.size();) {
    size_t end = head.find("\r\n", at);
    if (end == std::string::npos) end = head.size();
    lines.push_back(head.substr(at, end - at));
    at = end + 2;
  }
  return lines;
}

}  // namespace

TEST_CASE("render: a subject with CR/LF stays one header line, nothing else starts a header") {
  auto wire = mail::render(message("Hi\r\nBcc: evil@example.com\r\n\r\nbody"), "abc@streamlet",
                           std::chrono::system_clock::from_time_t(1764669600));
  REQUIRE(wire.ok());
  const auto lines = header_lines(*wire);
  CHECK(lines == std::vector<std::string>{"Date: Tue, 02 Dec 2025 10:00:00 +0000",
                                          "Message-ID: <abc@streamlet>",
                                          "From: <streamlet@example.com>",
                                          "To: <owner@example.com>",
                                          "Subject: Hi Bcc: evil@example.com body",
                                          "MIME-Version: 1.0",
                                          "Content-Type: text/plain; charset=utf-8",
                                          "Content-Transfer-Encoding: 8bit",
                                          "Auto-Submitted: auto-generated"});
  // The body's bare LFs went out as CRLF.
  CHECK(wire->substr(wire->find("\r\n\r\n") + 4) == "Hello\r\nthere\r\n");
  // Other line breaks a mail reader might honour (NEL, a lone CR, a vertical tab) too.
  auto odd = mail::render(message("a\rb\x0b" "c\xc2\x85" "d\ne"), "x@streamlet");
  REQUIRE(odd.ok());
  for (const auto& line : header_lines(*odd))
    CHECK_MESSAGE(line.find_first_of("\r\n\x0b") == std::string::npos, line);
}

TEST_CASE("render: a subject beyond ASCII is RFC 2047 encoded words that decode back") {
  const std::string title = "R\xC3\xA9sum\xC3\xA9 \xE2\x80\x94 a long title that needs more than "
                            "one encoded word \xF0\x9F\x8E\xAC";
  auto wire = mail::render(message(title), "x@streamlet");
  REQUIRE(wire.ok());
  const std::string head = wire->substr(0, wire->find("\r\n\r\n"));
  const size_t at = head.find("Subject: ");
  REQUIRE(at != std::string::npos);
  std::string decoded, rest = head.substr(at + 9, head.find("\r\nMIME") - at - 9);
  size_t words = 0;
  for (size_t p = rest.find("=?UTF-8?B?"); p != std::string::npos; p = rest.find("=?UTF-8?B?", p)) {
    const size_t end = rest.find("?=", p + 10);
    REQUIRE(end != std::string::npos);
    CHECK(end + 2 - p <= 75);  // RFC 2047: an encoded word is at most 75 characters
    std::string b64 = rest.substr(p + 10, end - p - 10);
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
    auto bytes = streamlet::detail::base64url_decode(b64);
    REQUIRE(bytes);
    decoded += *bytes;
    p = end + 2;
    ++words;
  }
  CHECK(words >= 2);
  CHECK(decoded == title);
}

TEST_CASE("render: addresses that would name another recipient or break a header are refused") {
  for (const char* bad : {"", "nobody", "a@", "@b.c", "a@b@c", "a b@c.d", "a@b.c,d@e.f",
                          "a@b.c\r\nBcc: d@e.f", "<a@b.c>", "\"a\"@b.c", "a@b.c;d@e.f"}) {
    CHECK_MESSAGE(mail::check_address(bad).code() == ErrorCode::kInvalidArgument, bad);
    auto m = message("x");
    m.to = bad;
    CHECK(mail::render(m, "x@streamlet").status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(mail::check_address("first.last+tag@sub.example.com").ok());
  CHECK(mail::make_smtp_transport({.url = "http://127.0.0.1:25"}).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(mail::make_smtp_transport({.url = "smtp://user:pw@127.0.0.1:25"}).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("mailer: a relay that never answers is retried with backoff, then counted failed") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // a port nobody listens on: every connect is refused
  auto transport = mail::make_smtp_transport(
      {.url = "smtp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), .timeout = 2s});
  REQUIRE(transport.ok());
  std::mutex mu;
  std::vector<mail::AttemptReport> reports;
  auto mailer = mail::Mailer::start({.transport = std::move(*transport),
                                     .max_attempts = 3,
                                     .backoff_base = 50ms,
                                     .on_attempt = [&](const mail::AttemptReport& r) {
                                       std::lock_guard lock(mu);
                                       reports.push_back(r);
                                     }});
  REQUIRE(mailer.ok());
  auto id = (*mailer)->enqueue(message("hello"));
  REQUIRE(id.ok());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((*mailer)->stats().failed == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const auto stats = (*mailer)->stats();
  CHECK(stats.failed == 1);
  CHECK(stats.attempts == 3);
  CHECK(stats.retries == 2);
  CHECK(stats.pending == 0);
  std::lock_guard lock(mu);
  REQUIRE(reports.size() == 3);
  CHECK(reports[0].retry_in == 50ms);
  CHECK(reports[1].retry_in == 100ms);
  CHECK(reports[2].final);
  CHECK_MESSAGE(reports[2].error.find("127.0.0.1") != std::string::npos, reports[2].error);
  (*mailer)->stop(0ms);
  CHECK((*mailer)->enqueue(message("late")).status().code() == ErrorCode::kCancelled);
}
