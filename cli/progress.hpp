// One progress display for every long-running command: a redrawn bar on a
// terminal, plain periodic lines otherwise (logs, CI, pipes).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace streamlet::cli {

class ProgressDisplay {
 public:
  // `label` leads each line ("transcode", "upload"). Writes to stderr.
  explicit ProgressDisplay(std::string label);
  ~ProgressDisplay();

  // fraction in [0,1]; detail is free text after the bar ("42.0 fps 1.8x").
  void update(double fraction, const std::string& detail);
  // Finishes the bar line (or prints a final plain line).
  void finish(const std::string& detail);

 private:
  std::string label_;
  bool tty_;
  bool finished_ = false;
  double last_fraction_ = -1;
  std::chrono::steady_clock::time_point last_print_{};
};

}  // namespace streamlet::cli
