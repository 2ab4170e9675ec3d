// Internal helpers shared by the HLS and DASH writers: locale-independent
// number formatting, exact tick arithmetic, and escaping for the two syntaxes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "streamlet/package.hpp"

namespace streamlet::package::detail {

// Integers and fixed-point decimals through std::to_chars: never affected by
// whatever std::locale / setlocale the embedding program installed.
void append_int(std::string& out, int64_t value);
void append_uint(std::string& out, uint64_t value);
std::string fixed(double value, int decimals);

// `micros` as seconds with 3 to 6 decimals ("6.006", "2.000", "6.006011").
std::string seconds_from_micros(int64_t micros);

// ticks / timescale rounded to the nearest microsecond (half away from zero).
int64_t ticks_to_micros(int64_t ticks, uint32_t timescale);

// ceil(numerator / denominator) for non-negative operands without overflow.
uint64_t ceil_div(unsigned __int128 numerator, unsigned __int128 denominator);

// bits per second of `bytes` delivered over `ticks` of media time, rounded up
// so that a bit rate we advertise is never below the real one. 0 when ticks <= 0.
uint64_t bitrate(uint64_t bytes, int64_t ticks, uint32_t timescale);

// A track id as a relative URL path segment: RFC 3986 unreserved characters
// pass, everything else is percent-encoded, so an odd id cannot break a URI,
// a quoted string or a DASH template ('$' becomes %24).
std::string url_segment(std::string_view id);

// RFC 8216 quoted-string content: no '"', CR or LF are allowed, so drop them.
std::string hls_quoted(std::string_view text);

// XML attribute value content.
std::string xml_escape(std::string_view text);

}  // namespace streamlet::package::detail
