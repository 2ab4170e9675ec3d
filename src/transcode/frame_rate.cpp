#include <array>
#include <cmath>

#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

namespace {
// Apple HLS authoring spec 1.14: "any of the typical frame rates".
constexpr std::array<AVRational, 8> kTypicalRates{
    {{24000, 1001}, {24, 1}, {25, 1}, {30000, 1001}, {30, 1}, {50, 1}, {60000, 1001}, {60, 1}}};
}  // namespace

AVRational natural_frame_rate(double fps) {
  if (!(fps > 0) || !std::isfinite(fps)) return AVRational{25, 1};
  // How far `rate` is from showing (or dropping) each source frame a whole number of times.
  auto misfit = [&](AVRational r, bool faster) {
    double ratio = faster ? av_q2d(r) / fps : fps / av_q2d(r);
    double whole = std::max(1.0, std::round(ratio));
    return std::fabs(ratio / whole - 1);
  };
  // Slowest fitting rate when repeating frames, fastest (at least 50) when dropping them.
  auto pick = [&](bool faster, double tolerance) {
    AVRational best{0, 1};
    double best_misfit = tolerance;
    for (size_t i = 0; i < kTypicalRates.size(); ++i) {
      AVRational r = kTypicalRates[faster ? i : kTypicalRates.size() - 1 - i];
      if (faster ? av_q2d(r) < fps * 0.995 : (av_q2d(r) > fps * 1.005 || av_q2d(r) < 50)) continue;
      double m = misfit(r, faster);
      // Near-equal fits (29.97 and 30 for 15 fps) go to the exact one, else the first.
      if (m < best_misfit - 1e-4) {
        best = r;
        best_misfit = m;
      }
    }
    return best;
  };
  const double lowest = av_q2d(kTypicalRates.front()), highest = av_q2d(kTypicalRates.back());
  // Above 60 fps (1.15: never used): keep every 2nd frame (120 -> 60, 100 -> 50) when that fits.
  if (fps > highest * 1.005) {
    AVRational r = pick(false, 0.005);
    return r.num ? r : kTypicalRates.back();
  }
  // Slow sources (screen recordings, time-lapse): repeat each frame a whole number of times.
  if (fps < lowest * 0.995) {
    AVRational r = pick(true, 0.005);
    if (r.num) return r;
  }
  // Otherwise the nearest typical rate.
  AVRational best = kTypicalRates.front();
  for (AVRational r : kTypicalRates)
    if (std::fabs(std::log(av_q2d(r) / fps)) < std::fabs(std::log(av_q2d(best) / fps))) best = r;
  return best;
}

}  // namespace streamlet::transcode::detail
