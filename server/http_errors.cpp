#include "http_errors.hpp"

#include <algorithm>

#include "views.hpp"

namespace streamlet::server {

int http_status(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kGone:
      return 410;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnsupported:
      return 415;  // tus: wrong Content-Type on PATCH
    case ErrorCode::kInvalidMedia:
      return 422;
    case ErrorCode::kChecksumMismatch:
      return 460;  // tus checksum extension
    case ErrorCode::kCancelled:
      return 400;  // the client stopped sending mid-body
    case ErrorCode::kResourceExhausted:
      return 503;  // disk full / too many uploads: retry later
    case ErrorCode::kRateLimited:
      return 429;  // this caller's own limit: Retry-After says when
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

void send_error(httplib::Response& res, const Status& status) {
  res.status = http_status(status);
  if (status.code() == ErrorCode::kRateLimited)
    res.set_header("Retry-After",
                   std::to_string(std::max<int64_t>(1, status.retry_after().count())));
  // HEAD responses carry no body; httplib drops it, the status says enough.
  res.set_content(error_json(status), "application/json");
}

}  // namespace streamlet::server
