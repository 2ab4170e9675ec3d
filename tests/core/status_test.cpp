#include "support/support.hpp"
#include "streamlet/status.hpp"

using streamlet::ErrorCode;
using streamlet::Result;
using streamlet::Status;

namespace {
Result<int> parse_positive(int v) {
  if (v <= 0) return Status(ErrorCode::kInvalidArgument, "must be positive");
  return v;
}
Result<int> doubled(int v) {
  STREAMLET_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return x * 2;
}
}  // namespace

TEST_CASE("Result carries a value or the error that explains its absence") {
  CHECK(doubled(21).value() == 42);
  auto bad = doubled(-1);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == ErrorCode::kInvalidArgument);
  CHECK(bad.status().to_string() == "invalid argument: must be positive");
  CHECK(bad.status().with_context("probe").message() == "probe: must be positive");
}

TEST_CASE("a rate-limited Status says how long to wait, through context and Result") {
  Status s = streamlet::rate_limited("too many uploads", std::chrono::seconds(42));
  CHECK(s.code() == ErrorCode::kRateLimited);
  CHECK(s.retry_after() == std::chrono::seconds(42));
  CHECK(s.to_string() == "rate limited: too many uploads");
  CHECK(s.with_context("upload").retry_after() == std::chrono::seconds(42));
  Result<int> r = s;
  CHECK(r.status().retry_after() == std::chrono::seconds(42));
  // Never "retry in 0 seconds": a caller that is refused waits at least one.
  CHECK(streamlet::rate_limited("x", std::chrono::seconds(0)).retry_after() ==
        std::chrono::seconds(1));
  CHECK(Status(ErrorCode::kIo, "disk").retry_after() == std::chrono::seconds(0));
}
