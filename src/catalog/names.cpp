#include <cctype>
#include <string>

#include "streamlet/catalog.hpp"

namespace streamlet::catalog {

std::string_view to_string(Visibility v) {
  switch (v) {
    case Visibility::kPublic:
      return "public";
    case Visibility::kUnlisted:
      return "unlisted";
    case Visibility::kPrivate:
      return "private";
  }
  return "private";
}

std::string_view to_string(VideoStatus s) {
  switch (s) {
    case VideoStatus::kUploading:
      return "uploading";
    case VideoStatus::kQueued:
      return "queued";
    case VideoStatus::kProcessing:
      return "processing";
    case VideoStatus::kReady:
      return "ready";
    case VideoStatus::kFailed:
      return "failed";
  }
  return "failed";
}

std::string_view to_string(Role r) {
  return r == Role::kAdmin ? "admin" : "user";
}

std::string_view to_string(VideoSort s) {
  switch (s) {
    case VideoSort::kNewest:
      return "newest";
    case VideoSort::kOldest:
      return "oldest";
    case VideoSort::kTitle:
      return "title";
    case VideoSort::kViews:
      return "views";
  }
  return "newest";
}

Result<Visibility> parse_visibility(std::string_view s) {
  for (auto v : {Visibility::kPublic, Visibility::kUnlisted, Visibility::kPrivate})
    if (to_string(v) == s) return v;
  return error(ErrorCode::kInvalidArgument,
               "visibility must be public, unlisted or private, not '" + std::string(s) + "'");
}

Result<VideoStatus> parse_video_status(std::string_view s) {
  for (auto v : {VideoStatus::kUploading, VideoStatus::kQueued, VideoStatus::kProcessing,
                 VideoStatus::kReady, VideoStatus::kFailed})
    if (to_string(v) == s) return v;
  return error(ErrorCode::kInvalidArgument, "unknown video status '" + std::string(s) + "'");
}

Result<Role> parse_role(std::string_view s) {
  if (s == "user") return Role::kUser;
  if (s == "admin") return Role::kAdmin;
  return error(ErrorCode::kInvalidArgument,
               "role must be user or admin, not '" + std::string(s) + "'");
}

Result<VideoSort> parse_video_sort(std::string_view s) {
  for (auto v : {VideoSort::kNewest, VideoSort::kOldest, VideoSort::kTitle, VideoSort::kViews})
    if (to_string(v) == s) return v;
  return error(ErrorCode::kInvalidArgument,
               "sort must be newest, oldest, title or views, not '" + std::string(s) + "'");
}

// The rule for a username belongs to the catalog interface, not to one backend: the platform
// checks it before any store is asked.
Status check_username(std::string_view name) {
  bool ok = name.size() >= kMinUsername && name.size() <= kMaxUsername;
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  }
  if (!ok)
    return error(ErrorCode::kInvalidArgument,
                 "username must be 3 to 32 characters of letters, digits, '_', '.' or '-'");
  return Status::Ok();
}

}  // namespace streamlet::catalog
