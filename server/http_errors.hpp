// The one place where a library Status becomes an HTTP status and body.
#pragma once

#include <httplib.h>

#include "streamlet/status.hpp"

namespace streamlet::server {

// HTTP status for a failed Status (tus codes where tus defines them, e.g. 460 for checksums).
int http_status(const Status& status);

// Sets the status and the API's JSON error body {"error": "...", "code": "..."} on `res`.
void send_error(httplib::Response& res, const Status& status);

}  // namespace streamlet::server
