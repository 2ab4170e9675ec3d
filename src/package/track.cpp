// The model's derived quantities. Bit rates are computed in integer ticks and
// rounded up: an advertised rate below the real one makes players stall.
#include <algorithm>

#include "package/text.hpp"
#include "streamlet/package.hpp"

namespace streamlet::package {

std::string Track::segment_name(uint32_t index) const {
  std::string number;
  detail::append_uint(number, static_cast<uint64_t>(first_segment_number) + index);
  if (number.size() < 5) number.insert(0, 5 - number.size(), '0');
  return "seg_" + number + ".m4s";
}

int64_t Track::duration() const {
  int64_t total = 0;
  for (const Segment& s : segments) total += s.duration;
  return total;
}

double Track::duration_seconds() const {
  if (timescale == 0) return 0;
  return static_cast<double>(duration()) / timescale;
}

uint64_t Track::total_bytes() const {
  uint64_t total = 0;
  for (const Segment& s : segments) total += s.bytes;
  return total;
}

uint64_t Track::average_bitrate() const {
  return detail::bitrate(total_bytes(), duration(), timescale);
}

uint64_t Track::peak_bitrate() const {
  uint64_t peak = 0;
  for (const Segment& s : segments)
    peak = std::max(peak, detail::bitrate(s.bytes, s.duration, timescale));
  return peak;
}

double Presentation::duration_seconds() const {
  double longest = 0;
  for (const Track& t : video) longest = std::max(longest, t.duration_seconds());
  if (audio) longest = std::max(longest, audio->duration_seconds());
  return longest;
}

}  // namespace streamlet::package
