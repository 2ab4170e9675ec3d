#include "core/text.hpp"

#include <cstdint>
#include <cstdio>

namespace streamlet::detail {

namespace {

constexpr char32_t kInvalid = 0xFFFFFFFF;

// Decodes the sequence at text[at]; `used` is how many bytes it covers (for an ill-formed
// one: the maximal subpart, at least one byte). Returns kInvalid when ill-formed.
char32_t decode(std::string_view text, size_t at, size_t& used) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(at);
  used = 1;
  if (b0 < 0x80) return b0;
  size_t length = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // the range allowed for the second byte
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // below: overlong
    if (b0 == 0xED) hi = 0x9F;  // above: surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // below: overlong
    if (b0 == 0xF4) hi = 0x8F;  // above: beyond U+10FFFF
  } else {
    return kInvalid;  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  for (size_t i = 1; i < length; ++i) {
    if (at + i >= text.size()) return kInvalid;
    const uint8_t b = byte(at + i);
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return kInvalid;
    cp = (cp << 6) | (b & 0x3F);
    used = i + 1;
  }
  return cp;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

}  // namespace

bool valid_utf8(std::string_view text) {
  for (size_t at = 0, used = 0; at < text.size(); at += used)
    if (decode(text, at, used) == kInvalid) return false;
  return true;
}

Status check_text(std::string_view field, std::string_view value, TextKind kind) {
  for (size_t at = 0, used = 0; at < value.size(); at += used) {
    const char32_t cp = decode(value, at, used);
    if (cp == kInvalid)
      return error(ErrorCode::kInvalidArgument,
                   std::string(field) + ": not valid UTF-8 (at byte " + std::to_string(at) + ")");
    const bool allowed_space =
        kind == TextKind::kMultiline && (cp == '\t' || cp == '\n' || cp == '\r');
    if (is_control(cp) && !allowed_space) {
      char name[16];
      std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(cp));
      return error(ErrorCode::kInvalidArgument,
                   std::string(field) + ": control character " + name + " not allowed");
    }
  }
  return Status::Ok();
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0, used = 0; at < text.size(); at += used) {
    if (decode(text, at, used) == kInvalid)
      out += "\xEF\xBF\xBD";
    else
      out.append(text.substr(at, used));
  }
  return out;
}

}  // namespace streamlet::detail
