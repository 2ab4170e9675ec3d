// Errors as values: every fallible public call returns a Status or a Result<T>.
// Status is cheap to copy; an ok Status carries no message. Thread-compatible.
#pragma once

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace streamlet {

// What went wrong, coarse enough that an adapter can map it to an HTTP status
// or a CLI exit code in one place (see http_status() and exit_code()).
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (options, headers, ids)
  kInvalidMedia,        // the input is not a decodable video we accept
  kUnsupported,         // well-formed, but a feature we do not handle
  kNotFound,            // no such file / upload / video
  kAlreadyExists,       // would overwrite something that must not be overwritten
  kConflict,            // state mismatch, e.g. a tus offset that is not the current one
  kGone,                // existed once: expired or terminated
  kTooLarge,            // over a configured size limit
  kChecksumMismatch,    // bytes do not match the checksum the client sent
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // no or bad credentials
  kResourceExhausted,   // disk full, too many concurrent sessions, ...
  kRateLimited,         // this caller is over a per-caller limit or quota: see retry_after()
  kCancelled,           // the caller asked us to stop
  kIo,                  // the operating system refused a read or write
  kInternal,            // a bug or a library failure we did not expect
};

std::string_view to_string(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid media: input.mp4: moov atom not found"
  std::string to_string() const;

  // Prefixes the message with context ("probe: ...") and keeps the code.
  Status with_context(std::string_view context) const;

  // How long the caller should wait before trying again (kRateLimited); 0 when unknown.
  std::chrono::seconds retry_after() const { return retry_after_; }

 private:
  friend Status rate_limited(std::string message, std::chrono::seconds retry_after);
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::chrono::seconds retry_after_{0};
};

inline Status error(ErrorCode code, std::string message) { return {code, std::move(message)}; }

// kRateLimited with the wait the caller is told (at least one second).
inline Status rate_limited(std::string message, std::chrono::seconds retry_after) {
  Status s(ErrorCode::kRateLimited, std::move(message));
  s.retry_after_ = std::max(retry_after, std::chrono::seconds(1));
  return s;
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    assert(!status_.ok() && "a Result built from a Status must carry an error");
    if (status_.ok()) status_ = Status(ErrorCode::kInternal, "Result built from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace streamlet

#define STREAMLET_CONCAT_INNER(a, b) a##b
#define STREAMLET_CONCAT(a, b) STREAMLET_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define STREAMLET_RETURN_IF_ERROR(expr)                     \
  do {                                                      \
    ::streamlet::Status streamlet_status_ = (expr);         \
    if (!streamlet_status_.ok()) return streamlet_status_;  \
  } while (0)

#define STREAMLET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

// `STREAMLET_ASSIGN_OR_RETURN(auto info, probe(path));`
#define STREAMLET_ASSIGN_OR_RETURN(lhs, expr) \
  STREAMLET_ASSIGN_OR_RETURN_IMPL(STREAMLET_CONCAT(streamlet_result_, __LINE__), lhs, expr)
