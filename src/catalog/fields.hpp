// What every catalog backend checks the same way before it stores a field: one definition,
// so SQLite and PostgreSQL refuse the same input with the same message.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/text.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/status.hpp"

namespace streamlet::catalog::detail {

inline constexpr size_t kMaxTitle = 200;
inline constexpr size_t kMaxDescription = 5000;
inline constexpr size_t kMaxEmail = 254;
inline constexpr size_t kMaxKeyName = 100;
inline constexpr size_t kMaxSecretName = 100;
inline constexpr size_t kMaxLeaseName = 200;  // a lease's name and its holder's
inline constexpr size_t kMaxCaptionLabel = 100;
inline constexpr size_t kMaxLanguageTag = 35;

// Every user string is checked here, whichever door it came through: well-formed UTF-8,
// no control characters (a description may have lines and tabs), at most `max` bytes.
inline Status check_text(std::string_view what, std::string_view value, size_t max,
                         streamlet::detail::TextKind kind = streamlet::detail::TextKind::kLine) {
  if (value.size() > max)
    return error(ErrorCode::kInvalidArgument,
                 std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  return streamlet::detail::check_text(what, value, kind);
}

// A lease's name and holder (Catalog::take_lease): one line, 1..kMaxLeaseName bytes each.
inline Status check_lease(std::string_view name, std::string_view holder) {
  if (name.empty() || holder.empty())
    return error(ErrorCode::kInvalidArgument, "a lease needs a name and a holder");
  STREAMLET_RETURN_IF_ERROR(check_text("lease name", name, kMaxLeaseName));
  return check_text("lease holder", holder, kMaxLeaseName);
}

// A comment's body as both backends store it: trimmed of leading and trailing whitespace,
// then 1..kMaxCommentChars code points of well-formed UTF-8 (lines and tabs allowed).
inline Result<std::string> comment_body(std::string_view raw) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t first = raw.find_first_not_of(kSpace);
  if (first == std::string_view::npos)
    return error(ErrorCode::kInvalidArgument, "comment: must not be blank");
  const std::string_view body = raw.substr(first, raw.find_last_not_of(kSpace) - first + 1);
  STREAMLET_RETURN_IF_ERROR(
      streamlet::detail::check_text("comment", body, streamlet::detail::TextKind::kMultiline));
  size_t chars = 0;  // code points: every byte that does not continue a sequence
  for (char c : body) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > kMaxCommentChars)
    return error(ErrorCode::kInvalidArgument, "comment: at most " +
                                                  std::to_string(kMaxCommentChars) +
                                                  " characters (this one has " +
                                                  std::to_string(chars) + ")");
  return std::string(body);
}

inline Status no_comment(std::string_view id) {
  return error(ErrorCode::kNotFound,
               "no comment '" + streamlet::detail::to_valid_utf8(id) + "' on this video");
}

// A comment listing's cursor: the position (decimal) of the last comment of the page before.
inline Result<int64_t> comment_cursor(std::string_view cursor) {
  if (cursor.empty()) return INT64_MAX;
  int64_t v = 0;
  for (char c : cursor) {
    if (c < '0' || c > '9' || cursor.size() > 18)
      return error(ErrorCode::kInvalidArgument, "cursor: not one a listing of comments gave");
    v = v * 10 + (c - '0');
  }
  return v;
}

// What both backends answer when a change would leave no enabled admin.
inline Status last_admin_refused() {
  return error(ErrorCode::kConflict,
               "that would leave no enabled admin: make another user admin first");
}

// The ORDER BY of a listing sorted by `sort` (columns of videos as "v"); "" for nullopt, so
// the backend keeps its own default (relevance, then newest). Ties go newest first.
inline std::string video_order(std::optional<VideoSort> sort) {
  constexpr std::string_view kNewest = "v.created_at_ms DESC, v.seq DESC";
  if (!sort) return "";
  switch (*sort) {
    case VideoSort::kNewest:
      return " ORDER BY " + std::string(kNewest);
    case VideoSort::kOldest:
      return " ORDER BY v.created_at_ms, v.seq";
    case VideoSort::kTitle:
      return " ORDER BY lower(v.title), " + std::string(kNewest);
    case VideoSort::kViews:
      return " ORDER BY v.view_count DESC, " + std::string(kNewest);
  }
  return "";
}

// "YYYY-MM-DD" with a plausible month and day.
inline bool valid_day(std::string_view day) {
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(day[i]))) return false;
  int month = (day[5] - '0') * 10 + (day[6] - '0');
  int mday = (day[8] - '0') * 10 + (day[9] - '0');
  return month >= 1 && month <= 12 && mday >= 1 && mday <= 31;
}

// The inclusive day bounds of a statistics query ("" = unbounded) as the literals both
// backends compare `day` against; kInvalidArgument for a bad day or a negative top_count.
inline Result<std::pair<std::string, std::string>> stats_days(std::string_view from_day,
                                                               std::string_view to_day,
                                                               int top_count = 0) {
  if ((!from_day.empty() && !valid_day(from_day)) || (!to_day.empty() && !valid_day(to_day)))
    return error(ErrorCode::kInvalidArgument, "days must be YYYY-MM-DD");
  if (top_count < 0) return error(ErrorCode::kInvalidArgument, "top_count must be >= 0");
  return std::pair<std::string, std::string>(from_day.empty() ? "0000-00-00" : std::string(from_day),
                                             to_day.empty() ? "9999-99-99" : std::string(to_day));
}

// How both backends rank a library's videos (columns 3 and 4: views, watch seconds).
inline constexpr const char* kTopVideosOrder = " ORDER BY 3 DESC, 4 DESC, 1";

// A key (id, name) that can be stored at all: a backend that refuses some bytes outright
// (PostgreSQL text cannot hold NUL or ill-formed UTF-8) answers "not found" for it, as a
// backend that can store any bytes does, instead of an encoding error.
inline bool storable_key(std::string_view key) {
  return key.find('\0') == std::string_view::npos && streamlet::detail::valid_utf8(key);
}

// A caption row both backends accept: a label of one line, a language tag of safe characters
// (the platform canonicalises it; the catalog only refuses what could not be one).
inline Status check_caption(std::string_view language, std::string_view label) {
  if (language.empty() || language.size() > kMaxLanguageTag)
    return error(ErrorCode::kInvalidArgument, "caption language: 1.." +
                                                  std::to_string(kMaxLanguageTag) + " characters");
  for (char c : language)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
      return error(ErrorCode::kInvalidArgument, "caption language: letters, digits and '-' only");
  return check_text("caption label", label, kMaxCaptionLabel);
}

}  // namespace streamlet::catalog::detail
