#include "views.hpp"

#include <cstdio>
#include <ctime>

#include "share.hpp"

namespace streamlet::server {

std::string rfc3339_ms(int64_t ms) {
  const std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];  // snprintf, not strftime: the process locale cannot change it
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string json_text(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

json user_view(const catalog::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"role", std::string(catalog::to_string(u.role))},
          {"disabled", u.disabled},
          {"email", u.email},
          {"email_notifications", u.email_notifications},
          {"created_at", rfc3339_ms(u.created_at_ms)}};
}

json view(const catalog::User& u) {
  return {{"user", user_view(u)}};
}

json view(const accounts::Session& s) {
  return {{"user", user_view(s.user)},
          {"token", s.token},
          {"expires_at", rfc3339_ms(s.expires_at * 1000)}};
}

json view(const catalog::NewApiKey& k) {
  return {{"id", k.info.id},
          {"key", k.key},
          {"name", k.info.name},
          {"created_at", rfc3339_ms(k.info.created_at_ms)}};
}

json view(const std::vector<catalog::ApiKey>& keys) {
  json items = json::array();
  for (const auto& k : keys)
    items.push_back({{"id", k.id},
                     {"name", k.name},
                     {"prefix", k.prefix},
                     {"created_at", rfc3339_ms(k.created_at_ms)},
                     {"last_used_at", k.last_used_at_ms ? json(rfc3339_ms(k.last_used_at_ms))
                                                        : json(nullptr)}});
  return {{"items", items}};
}

json view(const platform::VideoView& view) {
  const catalog::Video& v = view.video;
  json owner = {{"id", v.owner_id}, {"username", nullptr}};
  if (view.owner_username) owner["username"] = *view.owner_username;
  json renditions = json::array();
  for (const auto& r : view.renditions)
    renditions.push_back(
        {{"id", r.id}, {"width", r.width}, {"height", r.height}, {"bitrate", r.bitrate}});
  auto url = [](const std::string& u) { return u.empty() ? json(nullptr) : json(u); };
  json doc = {{"id", v.id},
              {"title", v.title},
              {"description", v.description},
              {"visibility", std::string(catalog::to_string(v.visibility))},
              {"status", std::string(catalog::to_string(v.status))},
              {"status_reason", v.status_reason},
              {"playable", view.playable},
              {"owner", owner},
              {"duration_seconds", v.duration_seconds},
              {"renditions", renditions},
              {"views", v.view_count},
              {"likes", v.like_count},
              {"created_at", rfc3339_ms(v.created_at_ms)},
              {"updated_at", rfc3339_ms(v.updated_at_ms)},
              {"poster", url(view.poster_url)},
              {"storyboard", url(view.storyboard_url)},
              {"page", view.page_url}};
  if (view.liked) doc["liked"] = *view.liked;
  if (view.playable) {
    json playback = json::object();
    if (!view.hls_url.empty()) playback["hls"] = view.hls_url;
    if (!view.dash_url.empty()) playback["dash"] = view.dash_url;
    doc["playback"] = playback;
    json captions = json::array();
    for (const auto& c : view.captions) captions.push_back(server::view(c));
    doc["captions"] = captions;
  }
  return doc;
}

json view(const platform::CaptionView& c) {
  return {{"language", c.caption.language},
          {"label", c.caption.label},
          {"cues", c.caption.cues},
          {"url", c.url},
          {"updated_at", rfc3339_ms(c.caption.updated_at_ms)}};
}

json view(const std::vector<platform::CaptionView>& captions) {
  json items = json::array();
  for (const auto& c : captions) items.push_back(view(c));
  return {{"items", items}};
}

json view(const platform::LikeView& l) {
  return {{"likes", l.likes}, {"liked", l.liked}};
}

json view(const platform::CommentView& c) {
  return {{"id", c.comment.id},
          {"video_id", c.comment.video_id},
          {"body", c.comment.body},
          {"author", {{"id", c.comment.author_id}, {"username", c.comment.author_username}}},
          {"created_at", rfc3339_ms(c.comment.created_at_ms)},
          {"can_delete", c.can_delete}};
}

json view(const platform::CommentList& list) {
  json items = json::array();
  for (const auto& c : list.items) items.push_back(view(c));
  return {{"items", items},
          {"next_cursor", list.next_cursor.empty() ? json(nullptr) : json(list.next_cursor)},
          {"total", list.total}};
}

namespace {
template <typename T, typename Fn>
json page_view(const platform::Page<T>& page, Fn item) {
  json items = json::array();
  for (const auto& v : page.items) items.push_back(item(v));
  return {{"items", items}, {"page", page.page}, {"per_page", page.per_page}, {"total", page.total}};
}
}  // namespace

json view(const platform::Page<platform::VideoView>& page) {
  return page_view(page, [](const platform::VideoView& v) { return view(v); });
}

json view(const platform::Page<catalog::User>& page) {
  return page_view(page, user_view);
}

namespace {
json stats_view(const std::string& from, const std::string& to, const catalog::ViewStats& s) {
  json days = json::array();
  for (const auto& d : s.days)
    days.push_back({{"day", d.day},
                    {"views", d.views},
                    {"watch_seconds", d.watch_seconds},
                    {"unique_viewers", d.unique_viewers}});
  return {{"from", from},
          {"to", to},
          {"views", s.views},
          {"watch_seconds", s.watch_seconds},
          {"unique_viewers", s.unique_viewers},
          {"days", std::move(days)}};
}
}  // namespace

json view(const platform::VideoStatsView& s) {
  return stats_view(s.from, s.to, s.stats);
}

json view(const platform::LibraryStatsView& s) {
  json doc = stats_view(s.from, s.to, s.stats.totals);
  json videos = json::array();
  for (const auto& v : s.stats.top)
    videos.push_back({{"id", v.video_id},
                      {"title", v.title},
                      {"views", v.views},
                      {"watch_seconds", v.watch_seconds},
                      {"unique_viewers", v.unique_viewers}});
  doc["videos"] = std::move(videos);
  return doc;
}

json view(const jobs::Job& j) {
  return {{"id", j.id},
          {"video_id", j.video_id},
          {"kind", j.kind},
          // The API says "done" where the queue says "succeeded".
          {"state", j.state == jobs::JobState::kSucceeded ? std::string("done")
                                                          : std::string(jobs::to_string(j.state))},
          {"attempts", j.attempts},
          {"max_attempts", j.max_attempts},
          {"last_error", j.last_error},
          // Who ran it last (a queue instance: one per server process), and its flow.
          {"worker", j.claimed_by},
          {"parent_id", j.parent_id},
          {"waiting_children", j.waiting_children},
          {"created_at", rfc3339_ms(j.created_at_ms)},
          {"updated_at", rfc3339_ms(j.updated_at_ms)}};
}

json view(const jobs::JobPage& page) {
  json items = json::array();
  for (const auto& j : page.jobs) items.push_back(view(j));
  return {{"items", items},
          {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}};
}

json oembed_view(const ShareCard& c, const std::string& iframe, int width, int height) {
  json doc = {{"version", "1.0"},
              {"type", "video"},
              {"provider_name", "Streamlet"},
              {"provider_url", c.site_url},
              {"title", c.title},
              {"html", iframe},
              {"width", width},
              {"height", height}};
  if (!c.author_name.empty()) {
    doc["author_name"] = c.author_name;
    doc["author_url"] = c.author_url;
  }
  if (!c.image_url.empty()) {
    // The poster has the embed's aspect; the spec wants a size with every thumbnail.
    doc["thumbnail_url"] = c.image_url;
    doc["thumbnail_width"] = c.width;
    doc["thumbnail_height"] = c.height;
  }
  return doc;
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kInvalidMedia:
      return "invalid_media";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kGone:
      return "gone";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kChecksumMismatch:
      return "checksum_mismatch";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kIo:
      return "io_error";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

std::string error_json(const Status& status) {
  // Messages may quote what a client sent (an unknown status, a job id): never a reason to fail.
  return json_text(
      json{{"error", status.message()}, {"code", std::string(error_code_name(status.code()))}});
}

}  // namespace streamlet::server
