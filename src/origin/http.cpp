// Request parsing that needs no filesystem: the request path, Range,
// If-None-Match, HTTP dates.
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "origin/detail.hpp"
#include "core/time_format.hpp"

namespace streamlet::origin::detail {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<uint64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;  // from_chars catches overflow
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::optional<std::vector<std::string>> safe_relative_path(std::string_view raw) {
  if (raw.empty() || raw.size() > kMaxPathBytes || raw.front() == '/') return std::nullopt;
  std::vector<std::string> segments;
  std::string current;
  auto finish = [&]() {
    // "" (a// or trailing /), ".", ".." and hidden names all start with '.' or are empty.
    if (current.empty() || current.front() == '.') return false;
    if (segments.size() == kMaxSegments) return false;
    segments.push_back(std::move(current));
    current.clear();
    return true;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '/') {
      if (!finish()) return std::nullopt;
      continue;
    }
    bool encoded = false;
    if (c == '%') {
      if (i + 2 >= raw.size()) return std::nullopt;
      int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      encoded = true;
    }
    const auto u = static_cast<unsigned char>(c);
    // An encoded '/' would split differently here than in a proxy that decodes
    // first; backslashes are separators elsewhere; control bytes name no file we wrote.
    if ((encoded && c == '/') || c == '\\' || u < 0x20 || u == 0x7f) return std::nullopt;
    current += c;
  }
  if (!finish()) return std::nullopt;
  return segments;
}

RangeDecision parse_range(std::string_view header, uint64_t size) {
  RangeDecision d;
  std::string_view h = trim(header);
  size_t eq = h.find('=');
  if (eq == std::string_view::npos || !iequals(trim(h.substr(0, eq)), "bytes")) return d;
  std::string_view spec = trim(h.substr(eq + 1));
  // Several ranges would need multipart/byteranges; a full 200 is always allowed.
  if (spec.find(',') != std::string_view::npos) return d;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return d;
  std::string_view first_text = trim(spec.substr(0, dash));
  std::string_view last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {
    // Suffix: the last N bytes.
    std::optional<uint64_t> n = parse_digits(last_text);
    if (!n) return d;
    if (*n == 0 || size == 0) {
      d.kind = RangeKind::kUnsatisfiable;
      return d;
    }
    d.kind = RangeKind::kSatisfiable;
    d.range.first = *n >= size ? 0 : size - *n;
    d.range.last = size - 1;
    return d;
  }
  std::optional<uint64_t> first = parse_digits(first_text);
  if (!first) return d;
  std::optional<uint64_t> last;
  if (!last_text.empty()) {
    last = parse_digits(last_text);
    if (!last || *last < *first) return d;  // invalid syntax: ignored, per RFC 9110 14.2
  }
  if (*first >= size) {
    d.kind = RangeKind::kUnsatisfiable;
    return d;
  }
  d.kind = RangeKind::kSatisfiable;
  d.range.first = *first;
  d.range.last = (!last || *last >= size) ? size - 1 : *last;
  return d;
}

bool none_match(std::string_view header, std::string_view etag) {
  std::string_view h = trim(header);
  if (h == "*") return true;
  std::string_view ours = etag;
  if (ours.starts_with("W/")) ours.remove_prefix(2);
  while (!h.empty()) {
    size_t comma = h.find(',');
    std::string_view tag = trim(h.substr(0, comma));
    h = comma == std::string_view::npos ? std::string_view{} : h.substr(comma + 1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (!tag.empty() && tag == ours) return true;
  }
  return false;
}

std::string http_date(int64_t unix_seconds) { return streamlet::detail::http_date(unix_seconds); }

std::optional<int64_t> parse_http_date(std::string_view text) {
  // Only IMF-fixdate: what every client sends back is what we sent.
  text = trim(text);
  if (text.size() != 29 || text[3] != ',' || text.substr(25) != " GMT") return std::nullopt;
  auto num = [&](size_t at, size_t n) -> int {
    std::optional<uint64_t> v = parse_digits(text.substr(at, n));
    return v ? static_cast<int>(*v) : -1;
  };
  std::tm tm{};
  tm.tm_mday = num(5, 2);
  tm.tm_mon = -1;
  for (int m = 0; m < 12; ++m)
    if (text.substr(8, 3) == kMonths[m]) tm.tm_mon = m;
  int year = num(12, 4);
  tm.tm_hour = num(17, 2);
  tm.tm_min = num(20, 2);
  tm.tm_sec = num(23, 2);
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0 || year < 1970 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60 ||
      text[7] != ' ' || text[11] != ' ' || text[16] != ' ' || text[19] != ':' || text[22] != ':')
    return std::nullopt;
  tm.tm_year = year - 1900;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace streamlet::origin::detail
