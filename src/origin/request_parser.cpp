#include "origin/request_parser.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include "origin/detail.hpp"

namespace streamlet::origin::detail {
namespace {

// RFC 9110 token characters (header field names).
bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

RequestParser& self(http_parser* p) {
  return *static_cast<RequestParser*>(p->data);
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string_view RequestHead::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string canonical_head(const RequestHead& h, uint64_t content_length, bool keep_expect) {
  std::string out;
  out.reserve(h.head_bytes + 64);
  out += h.method;
  out += ' ';
  out += h.target;
  out += h.http_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  for (const auto& [name, value] : h.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
        iequals(name, "Upgrade"))
      continue;
    if (!keep_expect && iequals(name, "Expect")) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
  return out;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
  reset();
}

void RequestParser::reset() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  head_ = RequestHead{};
  url_.clear();
  in_field_ = false;
  head_done_ = complete_ = started_ = false;
  head_seen_ = 0;
  prev_byte_ = '\n';
  past_request_line_ = false;
  callback_error_ = false;
  body_.clear();
  body_received_ = 0;
  error_status_ = 0;
  error_message_.clear();
}

RequestParser::Step RequestParser::fail(int status, std::string message, size_t consumed) {
  error_status_ = status;
  error_message_ = std::move(message);
  return {consumed, Event::kError};
}

// Whitespace at the start of a header line is obs-fold (or junk before the first field):
// RFC 9112 5.2 lets a server refuse it, and a proxy in front may read it differently.
bool RequestParser::scan_head_bytes(std::string_view bytes) {
  for (char c : bytes) {
    if (c != '\r' && c != '\n') started_ = true;
    if (prev_byte_ == '\n' && (c == ' ' || c == '\t') && past_request_line_) return false;
    // The request line is split by single spaces only (http-parser also takes tabs).
    if (!past_request_line_ && c == '\t') return false;
    if (c == '\n' && started_) past_request_line_ = true;
    prev_byte_ = c;
  }
  return true;
}

RequestParser::Step RequestParser::feed(std::string_view data) {
  if (error_status_ != 0) return {0, Event::kError};
  if (complete_) return {0, Event::kComplete};
  if (data.empty()) return {0, Event::kNeedMore};
  const bool head_before = head_done_;
  const size_t n = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (!head_before) {
    // Bytes of the head (when the head completed here, the parser stopped just before its
    // last LF, which the next call consumes).
    const size_t head_part = head_done_ ? n + 1 : n;
    if (!scan_head_bytes(data.substr(0, std::min(head_part, data.size()))))
      return fail(400, past_request_line_ ? "header lines may not start with whitespace (obs-fold)"
                                          : "malformed request line", n);
    head_seen_ += head_part;
    if (head_done_) head_.head_bytes = head_seen_;
    if (head_seen_ > limits_.max_head_bytes && error_status_ == 0)
      return fail(431, "the request head is larger than " +
                           std::to_string(limits_.max_head_bytes) + " bytes", n);
  }
  if (error_status_ != 0) return {n, Event::kError};  // set by a callback
  if (err != HPE_OK && err != HPE_PAUSED) {
    switch (err) {
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return fail(400, "Content-Length with Transfer-Encoding, or more than one Content-Length",
                    n);
      case HPE_INVALID_CONTENT_LENGTH:
        return fail(400, "invalid Content-Length", n);
      case HPE_INVALID_CHUNK_SIZE:
        return fail(400, "invalid chunk size", n);
      case HPE_INVALID_TRANSFER_ENCODING:
        return fail(501, "only the chunked transfer coding is supported", n);
      case HPE_HEADER_OVERFLOW:
        return fail(431, "the request head is too large", n);
      case HPE_INVALID_METHOD:
      case HPE_INVALID_URL:
      case HPE_INVALID_VERSION:
        return fail(400, "malformed request line", n);
      default:
        return fail(400, std::string("malformed request: ") + http_errno_description(err), n);
    }
  }
  if (err == HPE_PAUSED) http_parser_pause(&parser_, 0);
  if (complete_) return {n, Event::kComplete};
  if (!head_before && head_done_) return {n, Event::kHead};
  if (!body_.empty()) return {n, Event::kBody};
  return {n, Event::kNeedMore};
}

int RequestParser::on_message_begin(http_parser* p) {
  self(p).started_ = true;
  return 0;
}

int RequestParser::on_url(http_parser* p, const char* at, size_t n) {
  auto& s = self(p);
  s.url_.append(at, n);
  if (s.url_.size() > s.limits_.max_head_bytes) {
    s.error_status_ = 431;
    s.error_message_ = "the request target is too long";
    return 1;
  }
  return 0;
}

int RequestParser::on_header_field(http_parser* p, const char* at, size_t n) {
  auto& s = self(p);
  if (s.head_done_) return 0;  // a trailer of a chunked body: dropped, never handed over
  if (!s.in_field_) {
    if (s.head_.headers.size() >= s.limits_.max_header_count) {
      s.error_status_ = 431;
      s.error_message_ =
          "more than " + std::to_string(s.limits_.max_header_count) + " header fields";
      return 1;
    }
    s.head_.headers.emplace_back();
    s.in_field_ = true;
  }
  s.head_.headers.back().first.append(at, n);
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, size_t n) {
  auto& s = self(p);
  if (s.head_done_) return 0;
  if (s.head_.headers.empty()) return 0;
  s.in_field_ = false;
  s.head_.headers.back().second.append(at, n);
  return 0;
}

bool RequestParser::check_head() {
  RequestHead& h = head_;
  auto refuse = [this](int status, std::string message) {
    error_status_ = status;
    error_message_ = std::move(message);
    return false;
  };
  if (parser_.http_major != 1 || parser_.http_minor > 1)
    return refuse(505, "only HTTP/1.0 and HTTP/1.1 are served");
  h.http_minor = parser_.http_minor;
  h.method = http_method_str(static_cast<http_method>(parser_.method));
  // Upgrade is ignored (RFC 9110 7.8 allows it): the request is answered as HTTP/1.1 and
  // canonical_head() drops the field, so no taker ever switches protocols.
  if (h.method == "CONNECT") return refuse(501, "CONNECT is not supported");
  // The target: origin-form, "*" for OPTIONS, or absolute-form (RFC 9112 3.2.2: accepted,
  // and reduced to its path and query).
  for (unsigned char c : url_)
    if (c <= 0x20 || c >= 0x7f) return refuse(400, "the request target has invalid characters");
  if (url_ == "*") {
    if (h.method != "OPTIONS") return refuse(400, "'*' is only a target of OPTIONS");
    h.target = url_;
  } else if (!url_.empty() && url_[0] == '/') {
    h.target = url_;
  } else {
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url_.data(), url_.size(), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST)))
      return refuse(400, "malformed request target");
    std::string target = (u.field_set & (1 << UF_PATH))
                             ? url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len)
                             : "/";
    if (u.field_set & (1 << UF_QUERY))
      target += "?" + url_.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    h.target = std::move(target);
  }
  size_t hosts = 0;
  std::optional<uint64_t> length;
  bool transfer_encoding = false;
  for (auto& [name, value] : h.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return is_tchar(static_cast<unsigned char>(c));
        }))
      return refuse(400, "malformed header field name");
    // http-parser takes any name that begins "Transfer-Encoding" for that field; the taker
    // would not. Such names are refused so both always agree on the framing.
    for (std::string_view framing : {"transfer-encoding", "content-length"})
      if (name.size() > framing.size() && iequals(std::string_view(name).substr(0, framing.size()), framing))
        return refuse(400, "malformed header field name");
    value = std::string(trim(value));
    if (iequals(name, "Host")) ++hosts;
    if (iequals(name, "Transfer-Encoding")) transfer_encoding = true;
    if (iequals(name, "Connection")) {
      if (has_token(value, "close")) h.keep_alive = false;
    }
    if (iequals(name, "Expect") && iequals(value, "100-continue")) h.expect_continue = true;
  }
  if (h.http_minor == 1 && hosts != 1)
    return refuse(400, "an HTTP/1.1 request needs exactly one Host header");
  if (hosts > 1) return refuse(400, "more than one Host header");
  if (h.http_minor == 0) {
    h.keep_alive = false;
    for (const auto& [name, value] : h.headers)
      if (iequals(name, "Connection") && has_token(value, "keep-alive")) h.keep_alive = true;
    if (transfer_encoding)
      return refuse(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
  }
  h.chunked = (parser_.flags & F_CHUNKED) != 0;
  if (transfer_encoding) {
    // http-parser takes "gzip, chunked" as chunked; we decode no other coding.
    for (const auto& [name, value] : h.headers)
      if (iequals(name, "Transfer-Encoding") && !iequals(value, "chunked"))
        return refuse(501, "only the chunked transfer coding is supported");
  }
  if (!h.chunked && parser_.content_length != ULLONG_MAX) length = parser_.content_length;
  h.content_length = length;
  return true;
}

int RequestParser::on_headers_complete(http_parser* p) {
  auto& s = self(p);
  if (!s.check_head()) return -1;  // any value but 0..2 stops the parser with an error
  s.head_done_ = true;
  // Stop here so the caller can look at the head before the body is read.
  http_parser_pause(p, 1);
  return 0;
}

int RequestParser::on_body(http_parser* p, const char* at, size_t n) {
  auto& s = self(p);
  s.body_.append(at, n);
  s.body_received_ += n;
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  auto& s = self(p);
  s.complete_ = true;
  http_parser_pause(p, 1);  // bytes after this request belong to the next one
  return 0;
}

}  // namespace streamlet::origin::detail
