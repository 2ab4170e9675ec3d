#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace streamlet::cli {

ProgressDisplay::ProgressDisplay(std::string label)
    : label_(std::move(label)), tty_(isatty(STDERR_FILENO) == 1) {}

ProgressDisplay::~ProgressDisplay() {
  if (tty_ && !finished_ && last_fraction_ >= 0) std::fputc('\n', stderr);
}

void ProgressDisplay::update(double fraction, const std::string& detail) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    // Redraw at most ~10 times a second.
    if (now - last_print_ < std::chrono::milliseconds(100) && fraction < 1.0) return;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(std::lround(fraction * kWidth));
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %5.1f%% %s\x1b[K", label_.c_str(), bar.c_str(),
                 fraction * 100.0, detail.c_str());
    std::fflush(stderr);
  } else {
    // A line per second at most, or per 10% step, whichever comes first.
    bool step = std::floor(fraction * 10) != std::floor(last_fraction_ * 10);
    if (!step && now - last_print_ < std::chrono::seconds(1)) return;
    std::fprintf(stderr, "%s: %5.1f%% %s\n", label_.c_str(), fraction * 100.0, detail.c_str());
  }
  last_print_ = now;
  last_fraction_ = fraction;
}

void ProgressDisplay::finish(const std::string& detail) {
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    std::fprintf(stderr, "\r%s [%s] 100.0%% %s\x1b[K\n", label_.c_str(),
                 std::string(30, '#').c_str(), detail.c_str());
  } else {
    std::fprintf(stderr, "%s: done %s\n", label_.c_str(), detail.c_str());
  }
  std::fflush(stderr);
}

}  // namespace streamlet::cli
