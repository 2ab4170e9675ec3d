#include "package/text.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace streamlet::package::detail {

void append_int(std::string& out, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

void append_uint(std::string& out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

std::string fixed(double value, int decimals) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

std::string seconds_from_micros(int64_t micros) {
  std::string out;
  if (micros < 0) {
    out += '-';
    micros = -micros;
  }
  append_int(out, micros / 1000000);
  int64_t frac = micros % 1000000;
  char digits[7] = {};
  for (int i = 5; i >= 0; --i, frac /= 10) digits[i] = static_cast<char>('0' + frac % 10);
  int keep = 6;
  while (keep > 3 && digits[keep - 1] == '0') --keep;
  out += '.';
  out.append(digits, keep);
  return out;
}

int64_t ticks_to_micros(int64_t ticks, uint32_t timescale) {
  if (timescale == 0) return 0;
  __int128 scaled = static_cast<__int128>(ticks) * 1000000;
  __int128 half = timescale / 2;
  __int128 q = scaled >= 0 ? (scaled + half) / timescale : -((-scaled + half) / timescale);
  return static_cast<int64_t>(q);
}

uint64_t ceil_div(unsigned __int128 numerator, unsigned __int128 denominator) {
  if (denominator == 0) return 0;
  return static_cast<uint64_t>((numerator + denominator - 1) / denominator);
}

uint64_t bitrate(uint64_t bytes, int64_t ticks, uint32_t timescale) {
  if (ticks <= 0 || timescale == 0) return 0;
  return ceil_div(static_cast<unsigned __int128>(bytes) * 8 * timescale,
                  static_cast<unsigned __int128>(ticks));
}

std::string url_segment(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string hls_quoted(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c != '"' && c != '\r' && c != '\n') out += c;
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace streamlet::package::detail
