// libFuzzer target: the tus header codec (Upload-Metadata, Upload-Checksum, integers,
// base64), which decodes what clients put in headers. Besides the sanitizers it checks that
// what parses round-trips: format(parse(x)) parses to the same map, decode(encode(b)) == b.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "streamlet/upload.hpp"

namespace {
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace streamlet::upload;
  if (auto meta = parse_metadata(text); meta.ok()) {
    auto again = parse_metadata(format_metadata(*meta));
    require(again.ok() && *again == *meta, "metadata does not round-trip");
  }
  (void)parse_checksum(text);
  if (auto n = parse_uint(text); n.ok())
    require(std::to_string(*n) == std::string(text) || text.starts_with("0"),
            "parse_uint accepted a non-canonical number");
  if (auto bytes = base64_decode(text); bytes.ok())
    require(base64_decode(base64_encode(*bytes)).value() == *bytes, "base64 does not round-trip");
  require(base64_decode(base64_encode(text)).value() == text, "base64 does not round-trip");
  return 0;
}
