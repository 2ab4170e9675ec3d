// The response half of the front's HTTP/1 codec (the request half is request_parser.hpp):
// pure functions from values to wire text, tested apart from the event loop.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/origin.hpp"

namespace streamlet::origin::detail {

const char* reason_phrase(int status);
// The "code" of the JSON error body for the statuses the front answers itself.
const char* error_code_for(int status);
// A JSON string literal for `s` (quotes included); bytes outside printable ASCII escaped.
std::string json_string(std::string_view s);
// {"error": message, "code": ...} with Content-Type and Content-Length.
OriginResponse json_error(int status, std::string_view message);

// "<version> <status> <reason>\r\n", `date_line` ("Date: ...\r\n"), the headers in order
// (any Connection field dropped), then "Connection: close" unless `keep_alive`, or
// "Connection: keep-alive" for a kept HTTP/1.0 connection, and the blank line.
std::string response_head(std::string_view date_line, std::string_view version, int status,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          bool keep_alive, bool version_10 = false);
// One chunk of a chunked body: "<hex size>\r\n<data>\r\n" (never the empty last chunk).
std::string chunk(std::string_view data);

}  // namespace streamlet::origin::detail
