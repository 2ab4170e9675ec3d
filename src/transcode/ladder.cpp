#include <algorithm>
#include <charconv>
#include <cmath>

#include "streamlet/transcode.hpp"

namespace streamlet::transcode {

std::vector<Rendition> default_ladder() {
  return {{"1080p", 1080, 5'000'000}, {"720p", 720, 2'800'000}, {"480p", 480, 1'400'000},
          {"360p", 360, 800'000}};
}

namespace {

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Result<int64_t> parse_bitrate(std::string_view s) {
  int64_t mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) mult = 1000, s.remove_suffix(1);
  else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) mult = 1'000'000, s.remove_suffix(1);
  int64_t v = 0;
  if (!parse_int(s, v) || v <= 0 || v > 1'000'000'000 / mult)
    return Status(ErrorCode::kInvalidArgument, "bad bitrate '" + std::string(s) + "'");
  return v * mult;
}

}  // namespace

Result<std::vector<Rendition>> parse_ladder(std::string_view spec) {
  std::vector<Rendition> out;
  const auto defaults = default_ladder();
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (item.empty()) continue;
    std::string_view name = item.substr(0, item.find(':'));
    if (name.size() < 2 || (name.back() != 'p' && name.back() != 'P'))
      return Status(ErrorCode::kInvalidArgument,
                    "ladder rung '" + std::string(item) + "' must look like 720p or 240p:400k");
    int64_t height = 0;
    if (!parse_int(name.substr(0, name.size() - 1), height) || height < 16 || height > 4320)
      return Status(ErrorCode::kInvalidArgument, "bad rung height in '" + std::string(item) + "'");
    Rendition r;
    r.name = std::to_string(height) + "p";
    r.height = static_cast<int>(height);
    if (item.find(':') != std::string_view::npos) {
      STREAMLET_ASSIGN_OR_RETURN(r.bitrate, parse_bitrate(item.substr(item.find(':') + 1)));
    } else {
      auto it = std::find_if(defaults.begin(), defaults.end(),
                             [&](const Rendition& d) { return d.height == height; });
      if (it == defaults.end())
        return Status(ErrorCode::kInvalidArgument,
                      "no default bitrate for " + r.name + "; give one, e.g. " + r.name + ":600k");
      r.bitrate = it->bitrate;
    }
    if (std::any_of(out.begin(), out.end(), [&](const Rendition& o) { return o.height == r.height; }))
      return Status(ErrorCode::kInvalidArgument, "rung " + r.name + " appears twice");
    out.push_back(std::move(r));
  }
  if (out.empty()) return Status(ErrorCode::kInvalidArgument, "the ladder is empty");
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.height > b.height; });
  return out;
}

std::vector<PlannedRendition> plan_ladder(const std::vector<Rendition>& ladder, int display_width,
                                          int display_height) {
  std::vector<PlannedRendition> out;
  if (display_width <= 0 || display_height <= 0 || ladder.empty()) return out;
  const bool portrait = display_height > display_width;
  const int short_side = std::min(display_width, display_height);
  const double aspect = double(std::max(display_width, display_height)) / short_side;
  auto even = [](double v) { return std::max(2, static_cast<int>(std::lround(v / 2.0)) * 2); };
  // Rounding to even must not push a side past the source's own size (that would upscale).
  auto even_down = [](int v) { return std::max(2, v / 2 * 2); };
  const int long_side = std::max(display_width, display_height);

  auto make = [&](const Rendition& r, int short_px) {
    PlannedRendition p;
    p.rendition = r;
    int s = std::min(even(short_px), even_down(short_side));
    int l = std::min(even(short_px * aspect), even_down(long_side));
    p.width = portrait ? s : l;
    p.height = portrait ? l : s;
    return p;
  };
  for (const auto& r : ladder)
    if (r.height <= short_side) out.push_back(make(r, r.height));
  if (out.empty()) {
    // A source below every rung still gets one rendition, at its own size.
    const Rendition* lowest = &*std::min_element(
        ladder.begin(), ladder.end(), [](auto& a, auto& b) { return a.height < b.height; });
    Rendition r = *lowest;
    double pixels = double(short_side) * short_side / (double(r.height) * r.height);
    r.bitrate = std::max<int64_t>(100'000, static_cast<int64_t>(r.bitrate * pixels));
    r.height = even_down(short_side);
    r.name = std::to_string(r.height) + "p";
    out.push_back(make(r, short_side));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.rendition.height > b.rendition.height; });
  return out;
}

}  // namespace streamlet::transcode
