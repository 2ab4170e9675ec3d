// A tus 1.0 client: uploads a file (or a byte range of it) to a tus endpoint such as
// streamlet-server's /v1/uploads, in chunks, retrying network errors, 409 and 5xx answers
// after asking the server where the upload stands, resuming an earlier attempt from a stored
// upload URL, and optionally in parallel parts that the server concatenates.
//
//   streamlet::upload::Client client({.bearer_token = key});
//   auto done = client.upload({.endpoint = "http://127.0.0.1:8080/v1/uploads",
//                              .file = "talk.mp4", .metadata = {{"filename", "talk.mp4"}}});
//   if (done.ok()) std::puts(done->url.c_str());
//
// Speaks HTTP through libcurl (https, proxies from the usual environment variables); no curl
// type appears here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamlet/cancel.hpp"
#include "streamlet/status.hpp"

namespace streamlet::upload {

// How a Client talks to the server. Every field has a usable default.
struct ClientOptions {
  // Sent as "Authorization: Bearer <token>" (an API key or a session token). Default: none.
  std::string bearer_token{};
  // Bytes per PATCH request; each acknowledged chunk is durable on the server. Default: 32 MiB.
  uint64_t chunk_size = 32ull << 20;
  // Bytes per second for one whole upload (parallel parts share it); 0 = unlimited.
  // Default: 0.
  uint64_t rate_limit = 0;
  // Consecutive failed attempts of one part (network error, timeout, 409, 460 or 5xx) that are
  // retried before the upload gives up; any acknowledged chunk resets the count. Default: 5.
  int retries = 5;
  // Wait before the first retry; it doubles on each further failure up to `backoff_max`.
  // Default: 500 ms, up to 4 s.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{4000};
  // Longest wait for a TCP (and TLS) connection. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // A request during which no byte moves either way for this long fails (a server that stops
  // answering cannot hang the client). Default: 120 s.
  std::chrono::milliseconds idle_timeout{120000};
  // Largest response body read (error messages); a longer one fails the request. Default: 1 MiB.
  size_t max_response_bytes = 1u << 20;
  // CA bundle for https; empty uses the system's. Default: "".
  std::string ca_file{};
};

// Where an upload stands, handed to UploadParams::on_progress.
struct UploadProgress {
  uint64_t acknowledged = 0;  // bytes the server has confirmed (durable), every part together
  uint64_t sent = 0;          // acknowledged plus the bytes of requests still in flight
  uint64_t total = 0;         // bytes of the whole upload
};

// One call to Client::upload. Every field but `endpoint` and `file` has a usable default.
struct UploadParams {
  // The tus creation URL (http or https), e.g. "http://host:8080/v1/uploads". Required.
  std::string endpoint{};
  // The file to read. Required.
  std::filesystem::path file{};
  // Upload only file bytes [begin, end); `end` empty means to the end of the file.
  // Default: the whole file.
  uint64_t begin = 0;
  std::optional<uint64_t> end{};
  // Upload-Metadata of the upload (and of the final upload when parallel). Default: none.
  std::map<std::string, std::string> metadata{};
  // Parts uploaded side by side (1..64), then concatenated by the server (tus concatenation);
  // 1 uploads one plain upload. Default: 1.
  int parallel = 1;
  // A JSON file remembering the upload URLs of unfinished uploads by file identity (absolute
  // path, size, mtime, endpoint, parts, range), so that an upload of the same file after a
  // crash, a kill or a cancel continues where the server stands instead of starting again.
  // The entry is removed once the upload is finished. Written atomically under a lock file
  // (several processes may share it). Empty: nothing is remembered. Default: "".
  std::filesystem::path resume_state{};
  // Continue the upload `resume_state` remembers, when the server still has it. When false, a
  // new upload is made (and remembered). Default: true.
  bool resume = true;
  // The part URLs of an earlier attempt that the caller kept itself (from `on_start`), one per
  // part: they are continued when the server still has every one, else new uploads are made.
  // Takes precedence over `resume_state`. Default: none.
  std::vector<std::string> resume_urls{};
  // Called once, on the calling thread, when the upload URLs are known (before the first byte
  // is sent); `resumed` says they are those of an earlier attempt. Default: none.
  std::function<void(const std::vector<std::string>& part_urls, bool resumed)> on_start{};
  // Called on the calling thread every `progress_interval` while bytes are sent, never
  // concurrently with itself. Default: none.
  std::function<void(const UploadProgress&)> on_progress{};
  std::chrono::milliseconds progress_interval{100};
  // cancel() it from any thread (or a signal handler) to stop: the call returns kCancelled
  // within about a second, and what the server acknowledged stays resumable. Default: a
  // token nobody cancels.
  CancelToken cancel{};
};

struct UploadResult {
  std::string url;                     // the finished upload (the final one when parallel)
  std::vector<std::string> part_urls;  // the parts when parallel, else {url}
  bool resumed = false;                // an earlier attempt's upload was continued
  uint64_t bytes = 0;                  // bytes of the upload (end - begin)
  uint64_t bytes_sent = 0;  // bytes this call sent and the server acknowledged (not resent ones)
  // The video streamlet-server made of the upload (its Streamlet-Video-Id, asked with a HEAD
  // once the upload is finished); "" from a server that names none.
  std::string video_id;
};

// Where a video's processing stands, as streamlet-server's progress stream tells it.
struct VideoProgress {
  std::string status;    // "queued", "processing", "ready" or "failed"
  std::string reason;    // why it failed ("" otherwise)
  double percent = -1;   // of the transcode, 0..100; -1 before the first progress event
};

// A tus client. Thread-safe: every call opens its own connections (kept alive across the
// chunks of one part), so one Client may serve many threads at once.
//
// Errors: the server's answers map to codes (401 kUnauthenticated, 403 kPermissionDenied, 404
// kNotFound, 409 kConflict, 410 kGone, 413 kTooLarge, 429 kRateLimited, 460 kChecksumMismatch,
// 5xx kResourceExhausted, other 4xx kInvalidArgument) with a message "<step>: HTTP <status>:
// <the server's JSON "error" text>"; a connection that fails, times out or carries something
// that is not HTTP is kIo; a 2xx answer missing what tus requires is kInternal.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }

  // The whole upload: validate, resume or create, send every part, concatenate.
  Result<UploadResult> upload(const UploadParams& params) const;

  // The tus steps one by one, for callers that drive them themselves.
  // POST: creates an upload of `length` bytes; returns its absolute URL.
  Result<std::string> create(const std::string& endpoint, uint64_t length,
                             const std::map<std::string, std::string>& metadata,
                             bool partial = false) const;
  // POST Upload-Concat: final; returns the final upload's absolute URL.
  Result<std::string> concatenate(const std::string& endpoint,
                                  const std::vector<std::string>& part_urls,
                                  const std::map<std::string, std::string>& metadata) const;
  // HEAD: the server's offset (kNotFound / kGone when the upload is no longer there).
  Result<uint64_t> offset(const std::string& url) const;
  // DELETE: terminates an upload.
  Status terminate(const std::string& url) const;

  // Follows streamlet-server's GET {server}/v1/videos/{id}/events (Server-Sent Events) until
  // the video is ready or failed, reconnecting when the stream drops; calls `on_update` on the
  // calling thread for each status and progress event. Returns the last status (a failed
  // video is a value, not an error); errors are the server's answers (404 kNotFound, 401 ...)
  // or kIo after `retries` failed connections in a row, and kCancelled.
  Result<VideoProgress> follow_video(const std::string& server, const std::string& video_id,
                                     const std::function<void(const VideoProgress&)>& on_update,
                                     const CancelToken& cancel = {}) const;

 private:
  ClientOptions options_;
};

}  // namespace streamlet::upload
