// The route table: every path the public port answers, in one place. Routing (httplib
// registration and the 405 answers), the metric labels, the front's classification of a
// request (buffered, streamed upload body, event stream, playback) and the web app's page
// list all read it; nothing else knows a route's pattern.
//
// A pattern is a path template: literal characters, and placeholders that each stand for
//   {id}    one segment of [A-Za-z0-9_-]+ (video ids, what plausible ids look like)
//   {key}   one segment of [^/]+          (job ids, API key ids, upload ids)
//   {file}  the rest of the path, possibly empty, '/' included (only last)
// and an optional trailing "/?" (the path may end with one '/'). The label is what
// /metrics reports for the route: a fixed string, never a part of what the client sent.
//
// Header-only and free of httplib, so tests and the front's callbacks can read it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace streamlet::server {

// What a caller must present before the handler does anything for them.
enum class RouteAuth {
  kNone,      // no user credential is read (the route may have its own: signed URLs, a token)
  kOptional,  // anonymous callers are served (public data); a credential, if sent, must be good
  kSignedIn,  // a session or API key, else 401
};

// Who answers the route, and so how the front treats the request.
enum class RouteHandling {
  kApi,          // an httplib handler; the front reads the whole body first (buffered)
  kUpload,       // an httplib handler whose body follows on the socket (streamed, tus)
  kEventStream,  // the front's stream handler: long-lived, no thread held
  kPlayback,     // the front's media handler (Platform::serve_media)
  kWebPage,      // the web app's index.html (an httplib handler)
  kWebAsset,     // the web app's built files (an httplib mount point)
};

enum class RouteId {
  kAuthRegister,
  kAuthLogin,
  kAuthLogout,
  kAuthPassword,
  kAuthMe,
  kAuthLogoutAll,
  kApiKeysCreate,
  kApiKeysList,
  kApiKeyRevoke,
  kAdminUserList,
  kAdminUserUpdate,
  kVideoList,
  kVideoGet,
  kVideoUpdate,
  kVideoDelete,
  kVideoEvents,
  kVideoViews,
  kVideoStats,
  kVideoCaptionList,
  kVideoCaptionPut,
  kVideoCaptionDelete,
  kVideoPosterPut,
  kVideoOriginal,
  kVideoRetry,
  kJobList,
  kJobRetry,
  kJobCancel,
  kUploadsOptions,
  kUploadsHead,
  kUploadsCreate,
  kUploadsPatch,
  kUploadsDelete,
  kUploadOptions,
  kUploadHead,
  kUploadCreate,
  kUploadPatch,
  kUploadDelete,
  kMediaGet,
  kMediaOptions,
  kHealthz,
  kReadyz,
  kMetrics,
  kOEmbed,
  kMeStats,
  kAuthMeUpdate,
  kVideoOriginalLink,
  kVideoLikePut,
  kVideoLikeDelete,
  kVideoCommentList,
  kVideoCommentCreate,
  kVideoCommentDelete,
  kWebHome,
  kWebUpload,
  kWebLibrary,
  kWebLogin,
  kWebWatch,
  kWebEmbed,
  kWebChannel,
  kWebAccount,
  kWebAdmin,
  kWebAnalytics,
  kWebVideoAnalytics,
  kWebAssets,
  kCount
};

struct RouteSpec {
  RouteId id;
  // "GET" also answers HEAD (httplib routes HEAD through GET handlers; the front answers
  // HEAD of playback).
  std::string_view method;
  std::string_view pattern;  // a template, see above
  std::string_view label;
  RouteAuth auth;
  RouteHandling handling;
};

namespace route_detail {
using enum RouteId;
using A = RouteAuth;
using H = RouteHandling;
}  // namespace route_detail

// In RouteId order (checked below).
inline constexpr std::array<RouteSpec, size_t(RouteId::kCount)> kRouteTable = [] {
  using namespace route_detail;
  return std::array<RouteSpec, size_t(RouteId::kCount)>{{
      {kAuthRegister, "POST", "/v1/auth/register", "/v1/auth/register", A::kNone, H::kApi},
      {kAuthLogin, "POST", "/v1/auth/login", "/v1/auth/login", A::kNone, H::kApi},
      {kAuthLogout, "POST", "/v1/auth/logout", "/v1/auth/logout", A::kSignedIn, H::kApi},
      {kAuthPassword, "POST", "/v1/auth/password", "/v1/auth/password", A::kSignedIn, H::kApi},
      {kAuthMe, "GET", "/v1/auth/me", "/v1/auth/me", A::kSignedIn, H::kApi},
      {kAuthLogoutAll, "POST", "/v1/auth/logout-all", "/v1/auth/logout-all", A::kSignedIn,
       H::kApi},
      {kApiKeysCreate, "POST", "/v1/auth/api-keys", "/v1/auth/api-keys", A::kSignedIn, H::kApi},
      {kApiKeysList, "GET", "/v1/auth/api-keys", "/v1/auth/api-keys", A::kSignedIn, H::kApi},
      {kApiKeyRevoke, "DELETE", "/v1/auth/api-keys/{key}", "/v1/auth/api-keys/{id}", A::kSignedIn,
       H::kApi},
      // Admins only (403 for other users).
      {kAdminUserList, "GET", "/v1/admin/users", "/v1/admin/users", A::kSignedIn, H::kApi},
      {kAdminUserUpdate, "PATCH", "/v1/admin/users/{key}", "/v1/admin/users/{id}", A::kSignedIn,
       H::kApi},
      {kVideoList, "GET", "/v1/videos", "/v1/videos", A::kOptional, H::kApi},
      {kVideoGet, "GET", "/v1/videos/{id}", "/v1/videos/{id}", A::kOptional, H::kApi},
      {kVideoUpdate, "PATCH", "/v1/videos/{id}", "/v1/videos/{id}", A::kSignedIn, H::kApi},
      {kVideoDelete, "DELETE", "/v1/videos/{id}", "/v1/videos/{id}", A::kSignedIn, H::kApi},
      {kVideoEvents, "GET", "/v1/videos/{id}/events", "/v1/videos/{id}/events", A::kOptional,
       H::kEventStream},
      {kVideoViews, "POST", "/v1/videos/{id}/views", "/v1/videos/{id}/views", A::kOptional,
       H::kApi},
      {kVideoStats, "GET", "/v1/videos/{id}/stats", "/v1/videos/{id}/stats", A::kSignedIn, H::kApi},
      {kVideoCaptionList, "GET", "/v1/videos/{id}/captions", "/v1/videos/{id}/captions",
       A::kOptional, H::kApi},
      // Caption files and posters are larger than a buffered body: they stream, bounded.
      {kVideoCaptionPut, "PUT", "/v1/videos/{id}/captions/{key}",
       "/v1/videos/{id}/captions/{lang}", A::kSignedIn, H::kUpload},
      {kVideoCaptionDelete, "DELETE", "/v1/videos/{id}/captions/{key}",
       "/v1/videos/{id}/captions/{lang}", A::kSignedIn, H::kApi},
      {kVideoPosterPut, "PUT", "/v1/videos/{id}/poster", "/v1/videos/{id}/poster", A::kSignedIn,
       H::kUpload},
      // Also without a session, with the signed query POST .../original/link hands out.
      {kVideoOriginal, "GET", "/v1/videos/{id}/original", "/v1/videos/{id}/original", A::kSignedIn,
       H::kApi},
      {kVideoRetry, "POST", "/v1/videos/{id}/retry", "/v1/videos/{id}/retry", A::kSignedIn,
       H::kApi},
      {kJobList, "GET", "/v1/jobs", "/v1/jobs", A::kSignedIn, H::kApi},
      {kJobRetry, "POST", "/v1/jobs/{key}/retry", "/v1/jobs/{id}/retry", A::kSignedIn, H::kApi},
      {kJobCancel, "POST", "/v1/jobs/{key}/cancel", "/v1/jobs/{id}/cancel", A::kSignedIn, H::kApi},
      // tus: OPTIONS is a CORS preflight; the other methods stream their bodies. The
      // TusHandler itself answers 405 where its protocol has no such request (HEAD, PATCH
      // or DELETE of the collection, POST to an upload), with its own headers.
      {kUploadsOptions, "OPTIONS", "/v1/uploads/?", "/v1/uploads", A::kNone, H::kApi},
      {kUploadsHead, "GET", "/v1/uploads/?", "/v1/uploads", A::kSignedIn, H::kApi},
      {kUploadsCreate, "POST", "/v1/uploads/?", "/v1/uploads", A::kSignedIn, H::kUpload},
      {kUploadsPatch, "PATCH", "/v1/uploads/?", "/v1/uploads", A::kSignedIn, H::kUpload},
      {kUploadsDelete, "DELETE", "/v1/uploads/?", "/v1/uploads", A::kSignedIn, H::kUpload},
      {kUploadOptions, "OPTIONS", "/v1/uploads/{key}", "/v1/uploads/{id}", A::kNone, H::kApi},
      {kUploadHead, "GET", "/v1/uploads/{key}", "/v1/uploads/{id}", A::kSignedIn, H::kApi},
      {kUploadCreate, "POST", "/v1/uploads/{key}", "/v1/uploads/{id}", A::kSignedIn, H::kUpload},
      {kUploadPatch, "PATCH", "/v1/uploads/{key}", "/v1/uploads/{id}", A::kSignedIn, H::kUpload},
      {kUploadDelete, "DELETE", "/v1/uploads/{key}", "/v1/uploads/{id}", A::kSignedIn, H::kUpload},
      // Signed URLs, not user credentials, guard private videos.
      {kMediaGet, "GET", "/media/{id}/{file}", "/media/{id}/{file}", A::kNone, H::kPlayback},
      {kMediaOptions, "OPTIONS", "/media/{id}/{file}", "/media/{id}/{file}", A::kNone,
       H::kPlayback},
      {kHealthz, "GET", "/healthz", "/healthz", A::kNone, H::kApi},
      {kReadyz, "GET", "/readyz", "/readyz", A::kNone, H::kApi},
      // Guarded by --metrics-token, not a user credential; absent with --metrics-listen.
      {kMetrics, "GET", "/metrics", "/metrics", A::kNone, H::kApi},
      // oEmbed (oembed.com): what a chat app or CMS asks to embed a watch page's video.
      {kOEmbed, "GET", "/oembed", "/oembed", A::kNone, H::kApi},
      // Views of every video the caller owns, per day (the analytics page's totals).
      {kMeStats, "GET", "/v1/me/stats", "/v1/me/stats", A::kSignedIn, H::kApi},
      // The caller's own settings (email, email_notifications).
      {kAuthMeUpdate, "PATCH", "/v1/auth/me", "/v1/auth/me", A::kSignedIn, H::kApi},
      // A short-lived signed URL of the original file, for a plain browser download.
      {kVideoOriginalLink, "POST", "/v1/videos/{id}/original/link", "/v1/videos/{id}/original/link",
       A::kSignedIn, H::kApi},
      // Likes and comments: reading comments is for whoever may view the video.
      {kVideoLikePut, "PUT", "/v1/videos/{id}/like", "/v1/videos/{id}/like", A::kSignedIn,
       H::kApi},
      {kVideoLikeDelete, "DELETE", "/v1/videos/{id}/like", "/v1/videos/{id}/like", A::kSignedIn,
       H::kApi},
      {kVideoCommentList, "GET", "/v1/videos/{id}/comments", "/v1/videos/{id}/comments",
       A::kOptional, H::kApi},
      {kVideoCommentCreate, "POST", "/v1/videos/{id}/comments", "/v1/videos/{id}/comments",
       A::kSignedIn, H::kApi},
      {kVideoCommentDelete, "DELETE", "/v1/videos/{id}/comments/{id}",
       "/v1/videos/{id}/comments/{cid}", A::kSignedIn, H::kApi},
      // Pages answer with and without a trailing '/' (the web app then shows the address
      // without it).
      {kWebHome, "GET", "/", "/", A::kNone, H::kWebPage},
      {kWebUpload, "GET", "/upload/?", "/upload", A::kNone, H::kWebPage},
      {kWebLibrary, "GET", "/library/?", "/library", A::kNone, H::kWebPage},
      {kWebLogin, "GET", "/login/?", "/login", A::kNone, H::kWebPage},
      {kWebWatch, "GET", "/watch/{id}/?", "/watch/{id}", A::kNone, H::kWebPage},
      // The player alone, for iframes on other sites: the one page that may be framed.
      {kWebEmbed, "GET", "/embed/{id}/?", "/embed/{id}", A::kNone, H::kWebPage},
      {kWebChannel, "GET", "/u/{key}/?", "/u/{name}", A::kNone, H::kWebPage},
      {kWebAccount, "GET", "/account/?", "/account", A::kNone, H::kWebPage},
      {kWebAdmin, "GET", "/admin/?", "/admin", A::kNone, H::kWebPage},
      {kWebAnalytics, "GET", "/analytics/?", "/analytics", A::kNone, H::kWebPage},
      {kWebVideoAnalytics, "GET", "/analytics/{id}/?", "/analytics/{id}", A::kNone, H::kWebPage},
      // Only when the web root has an assets/ directory.
      {kWebAssets, "GET", "/assets/{file}", "/assets/{file}", A::kNone, H::kWebAsset},
  }};
}();

constexpr bool route_table_in_id_order() {
  for (size_t i = 0; i < kRouteTable.size(); ++i)
    if (size_t(kRouteTable[i].id) != i) return false;
  return true;
}
static_assert(route_table_in_id_order(), "kRouteTable rows must be in RouteId order");

constexpr const RouteSpec& route_spec(RouteId id) {
  return kRouteTable[size_t(id)];
}

namespace route_detail {
constexpr bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
}  // namespace route_detail

// True when `path` (no query) is one the template `pattern` describes.
constexpr bool pattern_matches(std::string_view pattern, std::string_view path) {
  size_t p = 0, i = 0;
  while (p < pattern.size()) {
    if (pattern.substr(p) == "/?") {
      return i == path.size() || (i + 1 == path.size() && path[i] == '/');
    }
    if (pattern[p] == '{') {
      const size_t close = pattern.find('}', p);
      const std::string_view name = pattern.substr(p + 1, close - p - 1);
      p = close + 1;
      if (name == "file") return true;  // the rest, whatever it is
      const size_t start = i;
      while (i < path.size() && path[i] != '/' && (name != "id" || route_detail::id_char(path[i])))
        ++i;
      if (i == start) return false;
      if (i < path.size() && path[i] != '/') return false;  // a character {id} does not take
      continue;
    }
    if (i >= path.size() || path[i] != pattern[p]) return false;
    ++p;
    ++i;
  }
  return i == path.size();
}

// The pattern as a regular expression for httplib (each placeholder one capture group, so
// req.matches[1] is the first placeholder as before).
inline std::string pattern_regex(std::string_view pattern) {
  std::string out;
  for (size_t p = 0; p < pattern.size();) {
    if (pattern.substr(p) == "/?") {
      out += "/?";
      break;
    }
    if (pattern[p] == '{') {
      const size_t close = pattern.find('}', p);
      const std::string_view name = pattern.substr(p + 1, close - p - 1);
      out += name == "id" ? "([A-Za-z0-9_-]+)" : name == "key" ? "([^/]+)" : "(.*)";
      p = close + 1;
      continue;
    }
    const char c = pattern[p++];
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// The literal start of a pattern, before its first placeholder ("/media/{id}/{file}" ->
// "/media/").
constexpr std::string_view pattern_prefix(std::string_view pattern) {
  return pattern.substr(0, std::min(pattern.find('{'), pattern.find("/?")));
}

// Where tus uploads live ("/v1/uploads"): the TusHandler's base path.
constexpr std::string_view uploads_path() {
  return pattern_prefix(route_spec(RouteId::kUploadsCreate).pattern);
}

// The row for `method` and `path`, if any (HEAD finds the GET row).
constexpr const RouteSpec* find_route(std::string_view method, std::string_view path) {
  if (method == "HEAD") method = "GET";
  for (const RouteSpec& r : kRouteTable)
    if (r.method == method && pattern_matches(r.pattern, path)) return &r;
  return nullptr;
}

// The label of a request no handler noted a route for: a path under a "{file}" route's
// prefix (an area served by prefix: playback, web assets) has that route's label even when
// the rest does not match (an implausible id); anything else is "unmatched".
constexpr std::string_view fallback_label(std::string_view path) {
  for (const RouteSpec& r : kRouteTable)
    if (r.pattern.ends_with("{file}") && path.starts_with(pattern_prefix(r.pattern)))
      return r.label;
  return "unmatched";
}

// The first segment of a path, '/' included ("/v1/videos" -> "/v1", "/" -> "/").
constexpr std::string_view first_segment(std::string_view path) {
  const size_t end = path.find('/', 1);
  return path.substr(0, end == std::string_view::npos ? path.size() : end);
}

// True when `path` could be a page of the web app: its first segment is not one an API,
// playback, asset or ops row starts with ("/v1", "/media", "/assets", "/healthz", ...). Unknown
// addresses there are the API's (JSON errors); anywhere else a browser gets a page.
constexpr bool is_page_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  for (const RouteSpec& r : kRouteTable)
    if (r.handling != RouteHandling::kWebPage &&
        first_segment(pattern_prefix(r.pattern)) == first_segment(path))
      return false;
  return true;
}
static_assert(!is_page_path("/v1/nope") && !is_page_path("/media/x/y") && is_page_path("/nope") &&
              is_page_path("/embed/abc") && !is_page_path("/healthz"));

}  // namespace streamlet::server
