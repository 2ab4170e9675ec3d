// The front's HTTP/1 codec alone: the request parser fed in pieces, the canonical head it
// hands over, and the response serializer, without sockets or an event loop.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "origin/http1.hpp"
#include "origin/request_parser.hpp"

namespace streamlet::test {
namespace {

using origin::detail::RequestParser;
using Event = RequestParser::Event;

struct Parsed {
  Event last = Event::kNeedMore;
  std::string body;
  size_t used = 0;
};

// Feeds `wire` `piece` bytes at a time until the request ends (or fails).
Parsed parse(RequestParser& p, const std::string& wire, size_t piece) {
  Parsed out;
  std::string pending;
  size_t at = 0;
  while (at < wire.size()) {
    pending += wire.substr(at, piece);
    at = std::min(wire.size(), at + piece);
    for (;;) {
      auto step = p.feed(pending);
      pending.erase(0, step.consumed);
      out.body += p.take_body();
      out.last = step.event;
      if (out.last == Event::kComplete || out.last == Event::kError) {
        out.used = at - pending.size();
        return out;
      }
      if (out.last == Event::kNeedMore || pending.empty()) break;
    }
  }
  out.used = at - pending.size();
  return out;
}

TEST_CASE("http1: a request parses the same whatever the pieces it arrives in") {
  const std::string wire =
      "POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Two:  spaced value \r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer-Field: dropped\r\n\r\nGET /next HTTP/1.1\r\n";
  for (size_t piece : {size_t(1), size_t(2), size_t(7), size_t(64), wire.size()}) {
    CAPTURE(piece);
    RequestParser p;
    auto r = parse(p, wire, piece);
    REQUIRE(r.last == Event::kComplete);
    CHECK(r.body == "wikipedia");
    CHECK(wire.substr(r.used) == "GET /next HTTP/1.1\r\n");
    const auto& h = p.head();
    CHECK(h.method == "POST");
    CHECK(h.target == "/v1/x?a=1");
    CHECK(h.path() == "/v1/x");
    CHECK(h.chunked);
    CHECK_FALSE(h.content_length);
    REQUIRE(h.headers.size() == 3);  // the trailer is not a header field
    CHECK(h.header("x-two") == "spaced value");
    // What the taker reads: one Content-Length, no Transfer-Encoding; it parses back the same.
    const std::string canonical = origin::detail::canonical_head(h, r.body.size(), false) + r.body;
    CHECK(canonical ==
          "POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Two: spaced value\r\nContent-Length: 9\r\n\r\n"
          "wikipedia");
    RequestParser again;
    auto r2 = parse(again, canonical, canonical.size());
    CHECK(r2.last == Event::kComplete);
    CHECK(r2.body == "wikipedia");
    CHECK(r2.used == canonical.size());
  }
}

TEST_CASE("http1: absolute-form targets become origin-form, HTTP/1.0 keep-alive is opt-in") {
  RequestParser p;
  auto r = parse(p, "GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n", 5);
  REQUIRE(r.last == Event::kComplete);
  CHECK(p.head().target == "/a/b?c");
  CHECK(p.head().keep_alive);
  RequestParser q;
  REQUIRE(parse(q, "GET / HTTP/1.0\r\n\r\n", 3).last == Event::kComplete);
  CHECK_FALSE(q.head().keep_alive);
  RequestParser k;
  REQUIRE(parse(k, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 3).last == Event::kComplete);
  CHECK(k.head().keep_alive);
}

TEST_CASE("http1: limits on the head are counted across pieces") {
  origin::detail::ParserLimits limits;
  limits.max_head_bytes = 300;
  limits.max_header_count = 3;
  RequestParser big(limits);
  auto r = parse(big, "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(400, 'x') + "\r\n\r\n", 10);
  CHECK(r.last == Event::kError);
  CHECK(big.error_status() == 431);
  RequestParser many(limits);
  r = parse(many, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 4);
  CHECK(r.last == Event::kError);
  CHECK(many.error_status() == 431);
}

TEST_CASE("http1: response heads, chunks and JSON errors on the wire") {
  const std::string date = "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n";
  CHECK(origin::detail::response_head(date, "HTTP/1.1", 200, {{"A", "1"}, {"Connection", "x"}}, true) ==
        "HTTP/1.1 200 OK\r\n" + date + "A: 1\r\n\r\n");
  CHECK(origin::detail::response_head(date, "HTTP/1.1", 431, {}, false) ==
        "HTTP/1.1 431 Request Header Fields Too Large\r\n" + date + "Connection: close\r\n\r\n");
  CHECK(origin::detail::response_head(date, "HTTP/1.0", 404, {}, true, true) ==
        "HTTP/1.0 404 Not Found\r\n" + date + "Connection: keep-alive\r\n\r\n");
  CHECK(origin::detail::chunk("hello") == "5\r\nhello\r\n");
  CHECK(origin::detail::chunk(std::string(4096, 'z')).substr(0, 6) == "1000\r\n");
  auto e = origin::detail::json_error(413, "quote \" and\nnewline \xff");
  CHECK(e.status == 413);
  auto j = nlohmann::json::parse(e.body);
  CHECK(j["code"] == "too_large");
  CHECK(j["error"] == "quote \" and\nnewline \xc3\xbf");  // \u00ff: escaped, never raw bytes
  CHECK(*e.header("Content-Length") == std::to_string(e.body.size()));
}

}  // namespace
}  // namespace streamlet::test
