// The job interface's own helpers (state names, the retry rule), apart from any backend:
// the worker pool and every queue implementation use them, the SQLite queue is only one of those.
#include <algorithm>
#include <nlohmann/json.hpp>
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

std::chrono::milliseconds retry_delay(const RetryPolicy& retry, int attempts) {
  auto delay = retry.base_backoff;
  for (int i = 1; i < attempts && delay < retry.max_backoff; ++i) delay *= 2;
  return std::min(delay, retry.max_backoff);
}

Result<std::vector<int>> check_new_jobs(const NewJob& parent, const std::vector<NewJob>& children,
                                        const RetryPolicy& retry) {
  std::vector<int> attempts;
  for (size_t i = 0; i <= children.size(); ++i) {
    const NewJob& in = i == 0 ? parent : children[i - 1];
    if (in.kind.empty()) return error(ErrorCode::kInvalidArgument, "a job needs a kind");
    if (!nlohmann::json::parse(in.payload, nullptr, false).is_object())
      return error(ErrorCode::kInvalidArgument, "job payload must be a JSON object");
    attempts.push_back(in.max_attempts.value_or(retry.max_attempts));
    if (attempts.back() < 1) return error(ErrorCode::kInvalidArgument, "max_attempts must be >= 1");
    if (in.mark_video_queued && i > 0)
      return error(ErrorCode::kInvalidArgument, "only a flow's parent may mark its video");
    if (in.mark_video_queued && in.video_id.empty())
      return error(ErrorCode::kInvalidArgument, "mark_video_queued needs a video_id");
  }
  return attempts;
}

}  // namespace streamlet::jobs
