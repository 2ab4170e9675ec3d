// Timestamps as the protocols we speak write them, in UTC.
#pragma once

#include <cstdint>
#include <string>

namespace streamlet::detail {

// IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT" (HTTP headers, tus Upload-Expires).
std::string http_date(int64_t unix_seconds);
// RFC 3339: "2026-11-21T10:00:00Z" (JSON documents, webhooks).
std::string rfc3339(int64_t unix_seconds);

}  // namespace streamlet::detail
