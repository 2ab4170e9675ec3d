// Pure pieces of the origin, each tested alone: path decoding, Range and
// conditional-header parsing, HTTP dates, manifest URI rewriting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamlet::origin::detail {

// Without leading and trailing spaces and tabs (HTTP's OWS).
std::string_view trim(std::string_view s);
// ASCII case-insensitive equality, as header names and tokens compare.
bool iequals(std::string_view a, std::string_view b);

// Percent-decodes `raw` once and splits it into path segments. nullopt for
// anything that could name a file outside the video directory or a hidden
// one: empty or absolute paths, empty segments, "." or ".." (however encoded),
// segments starting with '.', encoded '/', backslashes, NUL and other control
// bytes, malformed escapes, or more than kMaxSegments segments.
inline constexpr size_t kMaxSegments = 4;
inline constexpr size_t kMaxPathBytes = 1024;
std::optional<std::vector<std::string>> safe_relative_path(std::string_view raw);

// A single satisfiable byte range, inclusive bounds as in Content-Range.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
};

enum class RangeKind {
  kIgnore,         // no Range, a malformed one, another unit, or several ranges: send 200
  kSatisfiable,    // send 206 with `range`
  kUnsatisfiable,  // send 416
};

struct RangeDecision {
  RangeKind kind = RangeKind::kIgnore;
  ByteRange range;
};

// RFC 9110 14.1.2 for one representation of `size` bytes.
RangeDecision parse_range(std::string_view header, uint64_t size);

// If-None-Match against our (strong) `etag`, with the weak comparison RFC 9110
// 13.1.2 requires: W/"x" matches "x"; "*" matches anything that exists.
bool none_match(std::string_view header, std::string_view etag);

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to and from Unix seconds.
std::string http_date(int64_t unix_seconds);
std::optional<int64_t> parse_http_date(std::string_view text);

// The exp and sig parameters of a signed query, rebuilt as "exp=..&sig=.."
// (nothing else from the request is passed on), or nullopt if either is
// missing or repeated.
std::optional<std::string> token_query(std::string_view query);


// Appends `query` (already in URL form, "exp=..&sig=..") to every relative URI
// a manifest references, so a player fetching them keeps its access. Absolute
// and root-relative URIs are left alone: the token must not leak elsewhere.
std::string rewrite_hls(std::string_view playlist, std::string_view query);
// DASH: the media / initialization / index / sourceURL attributes (the XML
// form of the query, "&" written "&amp;").
std::string rewrite_dash(std::string_view mpd, std::string_view query);

// `uri` with `query` added before any fragment ('?' or '&' as needed), or
// unchanged if it is absolute ("scheme:", "//host", "/path") or empty.
std::string append_query(std::string_view uri, std::string_view query);

}  // namespace streamlet::origin::detail
