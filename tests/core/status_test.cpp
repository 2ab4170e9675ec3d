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
