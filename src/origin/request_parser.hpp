// The front's HTTP/1 request parser: Debian's http-parser (the parser Node.js used for years)
// does the framing (request line, header syntax, Content-Length, chunked bodies); this layer
// adds what a server facing hostile clients must also refuse (RFC 9112), and limits.
//
// One parser reads one request at a time from a stream of bytes fed to it in any pieces:
//   kHead      the head is complete and checked: head() is valid, the body (if any) follows;
//   kBody      body bytes were decoded (take_body());
//   kComplete  the request ended; bytes after it belong to the next one (reset() first);
//   kError     the request must be answered error_status() and the connection closed.
// It refuses: a malformed request line or header field (400), a head over the byte or header
// count limit (431), HTTP versions other than 1.0/1.1 (505), Content-Length together with
// Transfer-Encoding, differing or invalid Content-Lengths, bad chunk sizes (400), transfer
// codings other than chunked and CONNECT (501), obs-fold and whitespace before a colon (400), targets with
// bytes outside visible ASCII (400), an HTTP/1.1 request without exactly one Host (400).
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamlet::origin::detail {

struct ParserLimits {
  size_t max_head_bytes = 16 * 1024;  // request line + header fields
  size_t max_header_count = 100;
};

struct RequestHead {
  std::string method;
  std::string target;  // origin-form ("/path?query"), or "*"
  int http_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, values trimmed
  std::optional<uint64_t> content_length;                    // nullopt: none, or chunked
  bool chunked = false;
  bool keep_alive = true;        // after this request (Connection and version)
  bool expect_continue = false;  // "Expect: 100-continue"
  size_t head_bytes = 0;         // wire size of the head

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  // The first value of a header (case-insensitive name), or "".
  std::string_view header(std::string_view name) const;
  std::string_view path() const;  // target without the query
};

// The head as the taker of a hand-off reads it: the request line and the fields as sent, but
// one "Content-Length: <content_length>" and no Transfer-Encoding (the front decoded any
// chunks), no Upgrade (ignored), and no Expect unless `keep_expect` (the front answered it
// when it read the body).
// Parsing it again gives the same head.
std::string canonical_head(const RequestHead& head, uint64_t content_length, bool keep_expect);

class RequestParser {
 public:
  enum class Event { kNeedMore, kHead, kBody, kComplete, kError };
  struct Step {
    size_t consumed = 0;  // bytes of the input used; the rest must be fed again
    Event event = Event::kNeedMore;
  };

  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses from the start of `data`. After kHead, kBody or kNeedMore, feed the bytes from
  // `consumed` on (and any that arrive later); after kComplete, reset() and do the same.
  Step feed(std::string_view data);
  // Ready for the next request on the same connection.
  void reset();

  bool head_done() const { return head_done_; }
  bool started() const { return started_; }  // some byte of a request was seen
  const RequestHead& head() const { return head_; }
  // Body bytes decoded since the last call (chunk framing removed).
  std::string take_body() { return std::exchange(body_, {}); }
  size_t body_pending() const { return body_.size(); }
  uint64_t body_received() const { return body_received_; }

  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);

  Step fail(int status, std::string message, size_t consumed);
  bool check_head();  // after the last header: false and an error set when refused
  bool scan_head_bytes(std::string_view bytes);

  ParserLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  RequestHead head_;
  std::string url_;
  bool in_field_ = false;  // the last header callback was a field name
  bool head_done_ = false;
  bool complete_ = false;
  bool started_ = false;
  size_t head_seen_ = 0;    // bytes consumed while reading the head
  char prev_byte_ = '\n';  // for obs-fold detection across pieces
  bool past_request_line_ = false;
  bool callback_error_ = false;
  std::string body_;
  uint64_t body_received_ = 0;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace streamlet::origin::detail
