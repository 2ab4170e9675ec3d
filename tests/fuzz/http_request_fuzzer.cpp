// libFuzzer target: the front's request parser over arbitrary bytes, fed in arbitrary
// pieces, as a client on the public port can send them. Besides what the sanitizers catch,
// it checks the properties the front relies on:
//  - the parser never claims more bytes than it was given, and a refusal is a 4xx/5xx;
//  - a head it accepts is within the limits and has an origin-form (or "*") target;
//  - the canonical head the front hands over parses back to the same request (so the taker
//    and the front can never disagree on where a request ends);
//  - the body it reports is exactly what Content-Length or the chunks said.
// Also the origin's path and Range parsers, which take the same request's target and fields.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "origin/detail.hpp"
#include "origin/request_parser.hpp"

using streamlet::origin::detail::canonical_head;
using streamlet::origin::detail::ParserLimits;
using streamlet::origin::detail::RequestParser;
using Event = RequestParser::Event;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

// Parses one request from `wire` in pieces of `piece` bytes; returns the event it ended on.
Event parse_all(RequestParser& p, std::string_view wire, size_t piece, std::string& body,
                size_t& used) {
  used = 0;
  Event last = Event::kNeedMore;
  std::string pending;
  while (used < wire.size() || !pending.empty()) {
    if (used < wire.size()) {
      size_t n = std::min(piece, wire.size() - used);
      pending.append(wire.substr(used, n));
      used += n;
    }
    for (;;) {
      auto step = p.feed(pending);
      require(step.consumed <= pending.size(), "consumed more than given");
      pending.erase(0, step.consumed);
      body += p.take_body();
      last = step.event;
      if (last == Event::kError || last == Event::kComplete) {
        used -= pending.size();  // bytes past the request were not part of it
        return last;
      }
      // kHead may consume nothing (the head's last LF is fed again); kNeedMore took it all.
      if (last == Event::kNeedMore || pending.empty()) break;
    }
    if (used >= wire.size() && !pending.empty()) {
      // The parser keeps at most the last LF of a head it paused on.
      require(pending.size() <= 1, "parser left bytes unconsumed");
      break;
    }
  }
  return last;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // from byte-at-a-time to larger reads
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  ParserLimits limits;
  limits.max_head_bytes = 2048;  // small, so the fuzzer reaches the limits
  limits.max_header_count = 20;
  RequestParser p(limits);
  std::string body;
  size_t used = 0;
  const Event e = parse_all(p, wire, piece, body, used);
  if (e == Event::kError) {
    require(p.error_status() >= 400 && p.error_status() < 600, "refusal is not an error status");
    require(!p.error_message().empty(), "refusal without a message");
    return 0;
  }
  if (!p.head_done()) return 0;
  const auto& h = p.head();
  require(h.head_bytes <= limits.max_head_bytes, "head over the limit accepted");
  require(h.headers.size() <= limits.max_header_count, "too many fields accepted");
  require(!h.method.empty(), "empty method");
  require(h.target == "*" || (!h.target.empty() && h.target[0] == '/'), "target not origin-form");
  require(!(h.chunked && h.content_length), "chunked with a Content-Length");
  for (const auto& [name, value] : h.headers) {
    require(name.find_first_of(" \t\r\n:") == std::string::npos, "bad field name accepted");
    require(value.find_first_of("\r\n") == std::string::npos, "CR or LF in a field value");
  }
  if (e == Event::kComplete && h.content_length)
    require(body.size() == *h.content_length, "body length differs from Content-Length");

  // What the taker reads must parse to the same request, ending exactly where it ends.
  const std::string canonical = canonical_head(h, body.size(), false) + body;
  std::string body2;
  size_t used2 = 0;
  ParserLimits roomy = limits;
  // The canonical head may be a little longer: "Name: value" with CRLF for every line, and
  // a Content-Length field added.
  roomy.max_head_bytes = limits.max_head_bytes * 2;
  roomy.max_header_count = limits.max_header_count + 1;
  RequestParser q(roomy);
  const Event e2 = parse_all(q, canonical, canonical.size(), body2, used2);
  if (e == Event::kComplete) {
    require(e2 == Event::kComplete, "canonical request does not parse whole");
    require(used2 == canonical.size(), "canonical request ends elsewhere");
    require(body2 == body, "canonical body differs");
    require(q.head().method == h.method && q.head().target == h.target, "request line differs");
  }

  // The origin's parsers on the same target and fields.
  (void)streamlet::origin::detail::safe_relative_path(h.path());
  if (auto range = h.header("Range"); !range.empty()) {
    auto d = streamlet::origin::detail::parse_range(range, 1000);
    if (d.kind == streamlet::origin::detail::RangeKind::kSatisfiable)
      require(d.range.first <= d.range.last && d.range.last < 1000, "range outside the file");
  }
  return 0;
}
