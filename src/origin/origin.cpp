// Origin::serve: one request for one file of one video, decided in a fixed
// order so that cheaper and safer checks come first: method, path syntax (no
// filesystem access), signature (no filesystem access), then the file itself,
// opened through storage under the video's key prefix.
#include <openssl/sha.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/json_text.hpp"
#include "origin/detail.hpp"
#include "streamlet/origin.hpp"

namespace streamlet::origin {
namespace {

enum class FileClass {
  kSegment,  // init and media segments: written once, never changed
  kHls,      // playlists: rewritten for signed requests
  kDash,     // MPD: rewritten for signed requests
  kAsset,    // poster, subtitles: may be replaced, not rewritten
};

struct FileType {
  std::string_view extension;
  std::string_view content_type;
  FileClass cls;
};

// Only what a player needs. summary.json and the like hold server paths and
// job details; they are the API's business, not the origin's.
constexpr FileType kFileTypes[] = {
    {".m3u8", "application/vnd.apple.mpegurl", FileClass::kHls},
    {".mpd", "application/dash+xml", FileClass::kDash},
    {".mp4", "video/mp4", FileClass::kSegment},
    {".m4s", "video/iso.segment", FileClass::kSegment},
    {".jpg", "image/jpeg", FileClass::kAsset},
    {".jpeg", "image/jpeg", FileClass::kAsset},
    {".vtt", "text/vtt; charset=utf-8", FileClass::kAsset},
};

const FileType* file_type(std::string_view name) {
  for (const FileType& t : kFileTypes) {
    if (name.size() > t.extension.size() && name.ends_with(t.extension)) return &t;
  }
  return nullptr;
}


// Reads [offset, offset + size) of `reader` into `out` (which it resizes).
bool read_range(const storage::Reader& reader, uint64_t offset, uint64_t size, std::string& out) {
  out.resize(size);
  uint64_t done = 0;
  while (done < size) {
    auto n = reader.read_at(offset + done, out.data() + done, size - done);
    if (!n.ok() || *n == 0) return false;
    done += *n;
  }
  return true;
}

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string hex_number(uint64_t v) {
  char buf[17];
  int n = std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return std::string(buf, static_cast<size_t>(n));
}

const std::string* find_header(const OriginRequest& r, const char* name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? nullptr : &it->second;
}

class Responder {
 public:
  Responder(const OriginOptions& options, bool head) : options_(options), head_(head) {}

  void add(std::string name, std::string value) {
    r_.headers.emplace_back(std::move(name), std::move(value));
  }

  void cors() {
    if (options_.cors_allow_origin.empty()) return;
    add("Access-Control-Allow-Origin", options_.cors_allow_origin);
    add("Access-Control-Expose-Headers",
        "Content-Length, Content-Range, ETag, Accept-Ranges, Last-Modified");
  }

  OriginResponse error(int status, std::string_view message) {
    r_ = OriginResponse{};
    r_.status = status;
    std::string body = streamlet::detail::json_text(nlohmann::json{{"error", message}});
    add("Content-Type", "application/json");
    add("Content-Length", std::to_string(body.size()));
    add("Cache-Control", "no-store");
    add("X-Content-Type-Options", "nosniff");
    cors();
    if (!head_) r_.body = std::move(body);
    return std::move(r_);
  }

  OriginResponse& response() { return r_; }
  OriginResponse take() { return std::move(r_); }

 private:
  const OriginOptions& options_;
  bool head_;
  OriginResponse r_;
};

// If-Range (RFC 9110 13.1.5): the Range applies only if the validator still
// names this representation; an ETag must match strongly, a date exactly.
bool if_range_holds(const std::string& value, const std::string& etag,
                    const std::string& last_modified) {
  if (value.starts_with("\"")) return value == etag;
  if (value.starts_with("W/")) return false;
  return value == last_modified;
}

}  // namespace

const std::string* OriginResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(n[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return &v;
  }
  return nullptr;
}

std::string_view content_type_for(std::string_view file_name) {
  const FileType* t = file_type(file_name);
  return t ? t->content_type : std::string_view{};
}

Origin::Origin(OriginOptions options) : options_(std::move(options)) {}

int64_t Origin::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> Origin::sign(std::string_view video_id, int64_t expires_unix) const {
  return origin::sign(video_id, expires_unix, options_.signing_key);
}

Status Origin::verify(std::string_view video_id, std::string_view query) const {
  return origin::verify(video_id, query, now(), options_.signing_key);
}

OriginResponse Origin::serve(storage::Storage& storage, std::string_view key_prefix,
                             std::string_view video_id, const OriginRequest& request,
                             const AccessPolicy& policy) const {
  const bool head = request.method == "HEAD";
  Responder out(options_, head);

  if (request.method == "OPTIONS") {
    // Preflight: answers for the whole origin, reveals nothing about the file.
    OriginResponse& r = out.response();
    r.status = 204;
    out.add("Allow", "GET, HEAD, OPTIONS");
    if (!options_.cors_allow_origin.empty()) {
      out.add("Access-Control-Allow-Origin", options_.cors_allow_origin);
      out.add("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
      out.add("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since, If-Range");
      out.add("Access-Control-Max-Age", std::to_string(options_.cors_preflight_max_age));
    }
    return out.take();
  }
  if (request.method != "GET" && !head) {
    OriginResponse r = out.error(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD, OPTIONS");
    return r;
  }

  std::optional<std::vector<std::string>> segments = detail::safe_relative_path(request.path);
  if (!segments) return out.error(404, "not found");
  const FileType* type = file_type(segments->back());
  if (!type) return out.error(404, "not found");

  // Signature before the filesystem: without one, a private video's files
  // do not even exist as far as the requester can tell.
  const bool signed_access = policy.is_private || options_.require_signature;
  std::string token;
  int64_t token_ttl = 0;
  if (signed_access) {
    const int64_t now_unix = now();
    Status s = origin::verify(video_id, request.query, now_unix, options_.signing_key);
    if (!s.ok()) return out.error(403, s.message());
    token = detail::token_query(request.query).value_or("");
    // verify() accepted it, so the token is "exp=<positive number not before now>&sig=...".
    int64_t exp = 0;
    std::from_chars(token.data() + 4, token.data() + token.find('&'), exp);
    token_ttl = exp - now_unix;
  }

  // The key is made only of segments checked above, under the caller's prefix.
  std::string key(key_prefix);
  for (size_t i = 0; i < segments->size(); ++i) key += (i ? "/" : "") + (*segments)[i];
  if (!storage::check_key(key).ok()) return out.error(404, "not found");
  auto opened = storage.open(key);
  if (!opened.ok()) {
    switch (opened.status().code()) {
      case ErrorCode::kIo:
      case ErrorCode::kInternal:
      case ErrorCode::kResourceExhausted:
        return out.error(500, "cannot open file");
      default:  // not there, not a regular object, a symlink, ...: nothing to serve
        return out.error(404, "not found");
    }
  }
  std::shared_ptr<const storage::Reader> file = std::move(*opened);
  const storage::ObjectInfo& info = file->info();
  const uint64_t file_size = info.size;
  const int64_t modified_s = info.modified_ms >= 0 ? info.modified_ms / 1000
                                                   : -((-info.modified_ms + 999) / 1000);
  const bool rewrite =
      signed_access && (type->cls == FileClass::kHls || type->cls == FileClass::kDash);

  // Strong validator from size and modification time (no inode: replicas that copy
  // objects with their times agree on it). A rewritten manifest also depends on the token.
  std::string etag = "\"" + hex_number(file_size) + "-" + hex_number(uint64_t(info.modified_ms));
  if (rewrite) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
    etag += "-" + hex(digest, 8);
  }
  etag += "\"";
  const std::string last_modified = detail::http_date(modified_s);

  // Shared caches may keep public files; signed ones only the player's own cache,
  // and no longer than the token is valid.
  std::string cache_control = signed_access ? "private" : "public";
  auto max_age = [&](int64_t seconds) {
    if (signed_access) seconds = std::min(seconds, std::max<int64_t>(token_ttl, 0));
    return ", max-age=" + std::to_string(std::max<int64_t>(seconds, 0));
  };
  if (type->cls == FileClass::kSegment) {
    cache_control += max_age(options_.segment_max_age) + ", immutable";
  } else if (policy.ready) {
    cache_control += max_age(options_.manifest_max_age);
  } else {
    cache_control += ", no-cache";  // still being packaged: always revalidate
  }

  auto validators = [&]() {
    out.add("ETag", etag);
    out.add("Last-Modified", last_modified);
    out.add("Cache-Control", cache_control);
  };

  // Conditional GET: If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
  bool not_modified = false;
  if (const std::string* inm = find_header(request, "if-none-match")) {
    not_modified = detail::none_match(*inm, etag);
  } else if (const std::string* ims = find_header(request, "if-modified-since")) {
    std::optional<int64_t> since = detail::parse_http_date(*ims);
    not_modified = since && modified_s <= *since;
  }
  if (not_modified) {
    out.response().status = 304;
    validators();
    out.cors();
    return out.take();
  }

  std::string body;
  uint64_t size = file_size;
  if (rewrite) {
    if (file_size > options_.max_manifest_bytes) return out.error(500, "manifest too large");
    std::string text;
    if (!read_range(*file, 0, file_size, text)) return out.error(500, "cannot read file");
    body = type->cls == FileClass::kHls ? detail::rewrite_hls(text, token)
                                        : detail::rewrite_dash(text, token);
    size = body.size();
  }

  detail::RangeDecision range;
  if (const std::string* h = find_header(request, "range")) {
    const std::string* if_range = find_header(request, "if-range");
    if (!if_range || if_range_holds(*if_range, etag, last_modified))
      range = detail::parse_range(*h, size);
  }
  if (range.kind == detail::RangeKind::kUnsatisfiable) {
    OriginResponse r = out.error(416, "range not satisfiable");
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    r.headers.emplace_back("Accept-Ranges", "bytes");
    return r;
  }

  uint64_t offset = 0, length = size;
  OriginResponse& r = out.response();
  r.status = 200;
  out.add("Content-Type", std::string(type->content_type));
  if (range.kind == detail::RangeKind::kSatisfiable) {
    r.status = 206;
    offset = range.range.first;
    length = range.range.length();
    out.add("Content-Range", "bytes " + std::to_string(range.range.first) + "-" +
                                 std::to_string(range.range.last) + "/" + std::to_string(size));
  }
  out.add("Content-Length", std::to_string(length));
  out.add("Accept-Ranges", "bytes");
  validators();
  out.add("X-Content-Type-Options", "nosniff");
  out.cors();
  if (head) return out.take();

  if (rewrite) {
    r.body = offset == 0 && length == body.size() ? std::move(body) : body.substr(offset, length);
  } else if (length <= options_.inline_file_bytes) {
    if (!read_range(*file, offset, length, r.body)) return out.error(500, "cannot read file");
  } else {
    r.file = std::move(file);
    r.offset = offset;
    r.length = length;
  }
  return out.take();
}

}  // namespace streamlet::origin
