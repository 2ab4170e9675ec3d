#include "core/crypto.hpp"
#include "support/support.hpp"

using namespace streamlet::detail;

TEST_CASE("base64url is unpadded and has one spelling per byte string") {
  const unsigned char bytes[] = {0xfb, 0xff, 0x00, 0x10};
  CHECK(base64url_encode(std::string(reinterpret_cast<const char*>(bytes), 1)) == "-w");
  CHECK(base64url_encode(std::string(reinterpret_cast<const char*>(bytes), 2)) == "-_8");
  CHECK(base64url_encode(std::string(reinterpret_cast<const char*>(bytes), 3)) == "-_8A");
  CHECK(base64url_encode(std::string(reinterpret_cast<const char*>(bytes), 4)) == "-_8AEA");
  CHECK(base64url_decode("-_8AEA") == std::string("\xfb\xff\x00\x10", 4));
  CHECK(base64url_decode("") == std::string());
  CHECK_FALSE(base64url_decode("-_8AEB"));  // non-zero unused bits: a second spelling
  CHECK_FALSE(base64url_decode("-_8AE"));   // impossible length
  CHECK_FALSE(base64url_decode("-_8A=="));  // padding
  CHECK_FALSE(base64url_decode("+/8A"));    // standard alphabet
}
