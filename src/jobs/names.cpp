// The job interface's own helpers (state names, the retry rule), apart from any backend:
// the worker pool and every queue implementation use them, the SQLite queue is only one of those.
#include <string>

#include "streamlet/jobs.hpp"

namespace streamlet::jobs {

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "failed";
}

Result<JobState> parse_job_state(std::string_view s) {
  for (auto v : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                 JobState::kCancelled})
    if (to_string(v) == s) return v;
  return error(ErrorCode::kInvalidArgument, "unknown job state '" + std::string(s) + "'");
}

int transcode_priority(uint64_t source_bytes) {
  int priority = 10;
  for (uint64_t limit = uint64_t{16} << 20; source_bytes > limit && priority > 0; limit *= 2)
    --priority;
  return priority;
}

bool is_retryable(const Status& failure) {
  switch (failure.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidMedia:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kTooLarge:
      return false;
    default:
      return true;
  }
}

}  // namespace streamlet::jobs
