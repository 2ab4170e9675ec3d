#include "origin/http1.hpp"

#include <cstdio>

#include "origin/detail.hpp"

namespace streamlet::origin::detail {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

// The "code" of the JSON error body for the statuses the front gives itself.
const char* error_code_for(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 408: return "request_timeout";
    case 411: return "length_required";
    case 413: return "too_large";
    case 429: return "rate_limited";
    case 431: return "header_too_large";
    case 501: return "not_implemented";
    case 503: return "unavailable";
    case 505: return "http_version_not_supported";
    default: return "internal";
  }
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      // Messages are ours and ASCII; anything else is escaped rather than trusted.
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

OriginResponse json_error(int status, std::string_view message) {
  OriginResponse res;
  res.status = status;
  res.body = "{\"error\":" + json_string(message) + ",\"code\":\"" + error_code_for(status) + "\"}";
  res.headers = {{"Content-Type", "application/json"},
                 {"Content-Length", std::to_string(res.body.size())}};
  return res;
}

std::string response_head(std::string_view date_line, std::string_view version, int status,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          bool keep_alive, bool version_10) {
  std::string head;
  head.reserve(512);
  head += version;
  head += ' ';
  head += std::to_string(status);
  head += ' ';
  head += reason_phrase(status);
  head += "\r\n";
  head += date_line;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "Connection")) continue;
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!keep_alive) {
    head += "Connection: close\r\n";
  } else if (version_10) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  return head;
}

std::string chunk(std::string_view data) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out.append(data);
  out += "\r\n";
  return out;
}


}  // namespace streamlet::origin::detail
