#include "transcode/stages.hpp"

namespace streamlet::transcode::detail {

bool SegmentBoundaries::decide(int64_t t) {
  bool start = first_;
  if (first_) {
    first_ = false;
    next_ = first_instant_ + segment_ticks_;
  }
  // A gap longer than a segment still opens only one segment, at the frame after it.
  while (t >= next_) {
    start = true;
    next_ += segment_ticks_;
  }
  std::lock_guard lock(mu_);
  if (start) instants_.push_back(t);
  decided_ = std::max(decided_, t);
  return start;
}

std::optional<int64_t> SegmentBoundaries::at(size_t index) const {
  std::lock_guard lock(mu_);
  if (index < instants_.size()) return instants_[index];
  return std::nullopt;
}

bool SegmentBoundaries::decided_through(int64_t t) const {
  std::lock_guard lock(mu_);
  return t <= decided_;
}

}  // namespace streamlet::transcode::detail
