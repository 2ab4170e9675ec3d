// The playback origin: maps one request for a file of a packaged video
// (manifests, init and media segments, poster, subtitles) to a response,
// without knowing any HTTP library. An adapter (streamlet-server's httplib
// routes, or another app's own stack) copies OriginRequest out of its request
// and writes OriginResponse back, streaming file ranges itself.
//
// What serve() does: path safety (nothing outside the video's key prefix is ever
// opened; the local storage backend never follows a symlink), content types, GET/HEAD/OPTIONS,
// single byte ranges (206/416), ETag and Last-Modified validators (304),
// Cache-Control (segments immutable, manifests revalidated), CORS, and signed
// URLs for private videos, rewriting manifests so every URI they reference
// carries the same signature.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::origin {

// One request, as the adapter received it. Plain data; the origin keeps no
// reference to it after serve() returns.
struct OriginRequest {
  // "GET", "HEAD", "OPTIONS"; anything else gets 405. Case-sensitive (RFC 9110).
  std::string method = "GET";
  // Raw, still percent-encoded path relative to the video directory, without
  // a leading '/': "master.m3u8", "720p/seg_00001.m4s". Decoded exactly once here.
  std::string path;
  // Raw query string without '?': "exp=1700000000&sig=...". Empty when none.
  std::string query;
  // Header fields with lower-case names ("range", "if-none-match", ...).
  std::map<std::string, std::string> headers;
};

// What to send back. The body is either `body` (errors, rewritten manifests,
// small files: see OriginOptions::inline_file_bytes) or, when `file` is set,
// the byte range [offset, offset + length) of that object, which the adapter
// streams: with sendfile/pread on file->fd() when it is >= 0 (local disk), else
// with file->read_at in pieces. The reader is the one the checks were made on, so
// an adapter never opens the key again. A HEAD response has the same headers as
// the GET one but neither body nor file.
struct OriginResponse {
  int status = 500;  // HTTP status code
  // In the order they should be sent; names in canonical case ("Content-Type").
  // Content-Length is always present except on 204/304; an adapter whose HTTP
  // stack computes it from the body may drop ours.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                     // used when there is no file
  std::shared_ptr<const storage::Reader> file;  // set when the body is an object range
  uint64_t offset = 0;  // first byte of the range in `file`
  uint64_t length = 0;  // number of bytes to send from `file`

  // The value of the first header named `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  bool has_file() const { return file != nullptr; }
};

// Who may watch one video. Decided by the caller (the catalog), per request.
struct AccessPolicy {
  // Private videos are served only with a valid signature for this video id.
  bool is_private = false;
  // False while the video is still being (re)packaged: manifests are then
  // served "no-cache" so caches revalidate instead of keeping a stale copy.
  bool ready = true;
};

// Tunables of an Origin. Every field has a usable default except signing_key,
// which private videos need (without it they are refused: fail closed).
struct OriginOptions {
  // HMAC-SHA256 key for signed URLs; use at least 32 random bytes. Empty means
  // no URL can be signed or verified, so private videos always get 403.
  std::string signing_key;
  // Access-Control-Allow-Origin value; "*" lets players on any site fetch.
  // Empty disables CORS headers entirely (same-origin players only).
  std::string cors_allow_origin = "*";
  // max-age (seconds) for manifests of a ready video and for files that may be
  // replaced later (poster, subtitles). Segments never change, manifests may.
  int manifest_max_age = 60;
  // max-age (seconds) for init and media segments, sent with "immutable".
  int segment_max_age = 31536000;
  // Access-Control-Max-Age for preflight results, seconds.
  int cors_preflight_max_age = 86400;
  // Require a valid signature for every video, whatever its AccessPolicy says.
  bool require_signature = false;
  // Largest manifest that will be read into memory to be rewritten for a
  // signed request; bigger ones get 500 rather than unbounded memory use.
  uint64_t max_manifest_bytes = 16u << 20;
  // A range up to this size comes back in `body`, read from the reader the checks
  // were made on, so an adapter does not open the object a second time for every
  // playlist request; larger ranges come back as the Reader to stream.
  // 0 always hands out the file.
  uint64_t inline_file_bytes = 64 * 1024;
  // Seconds since the Unix epoch; empty means the system clock. Tests set it.
  std::function<int64_t()> clock;
};

// Signed-URL primitives, usable without an Origin (e.g. by the API server that
// hands out playback URLs). A signature covers every file of one video until
// `expires_unix` inclusive: the same query string works for all its segments.
//
// Returns the query string "exp=<expires_unix>&sig=<base64url HMAC-SHA256>".
// kInvalidArgument for an empty key or video id, or a non-positive expiry.
Result<std::string> sign(std::string_view video_id, int64_t expires_unix, std::string_view key);
// Checks the exp/sig pair in `query` (other parameters are ignored) against
// `video_id` at time `now_unix`, in constant time over the signature bytes.
// kUnauthenticated: no or malformed signature, or no key; kPermissionDenied:
// a signature that does not match (tampered, or for another video);
// kGone: expired.
Status verify(std::string_view video_id, std::string_view query, int64_t now_unix,
              std::string_view key);

// Serves the files of packaged videos. Immutable after construction: serve(),
// sign() and verify() are safe to call concurrently from any number of threads.
class Origin {
 public:
  explicit Origin(OriginOptions options = {});

  const OriginOptions& options() const { return options_; }

  // `storage` holds the video's objects under `key_prefix` ("media/<id>/": the package
  // output, master.m3u8, manifest.mpd, poster.jpg, <track>/...), trusted as given;
  // `video_id` is the id signatures are scoped to. The path is checked here before a key
  // is made of it (no hidden or empty segment, no "..", only served types, bounded depth);
  // a backend never sees a key outside the prefix. Never throws; every failure is a
  // response (404 for anything outside the prefix, hidden, of an unserved type or not a
  // stored object, 403 for a missing/bad/expired signature, 405 for other methods, 500
  // when the backend fails), and error responses never carry a file.
  OriginResponse serve(storage::Storage& storage, std::string_view key_prefix,
                       std::string_view video_id, const OriginRequest& request,
                       const AccessPolicy& policy = {}) const;

  // sign()/verify() above with this origin's key and clock.
  Result<std::string> sign(std::string_view video_id, int64_t expires_unix) const;
  Status verify(std::string_view video_id, std::string_view query) const;

  // Seconds since the Unix epoch, from options().clock or the system clock.
  int64_t now() const;

 private:
  OriginOptions options_;
};

// The Content-Type the origin sends for a file name, or "" if it does not serve
// that kind of file (only what a player needs: .m3u8 .mpd .mp4 .m4s .jpg .vtt).
std::string_view content_type_for(std::string_view file_name);

}  // namespace streamlet::origin
