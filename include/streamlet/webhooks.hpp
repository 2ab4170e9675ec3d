// Webhooks: when a video becomes ready or fails, POST a signed JSON event to
// every configured URL, retrying with exponential backoff.
//
// Wire format (docs/api.md, "Operations"):
//   body    {"event":"video.ready"|"video.failed","video":{...},"sent_at":"RFC 3339"}
//   header  Streamlet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// Each attempt is signed afresh (new t), so a receiver can reject replays with
// a freshness window; see verify().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"

namespace streamlet::webhooks {

using Headers = std::vector<std::pair<std::string, std::string>>;

// How a POST leaves the process. The built-in one (make_http_post()) is the
// library's HTTP client (libcurl): http:// and https:// (TLS 1.2+, verified),
// no redirects followed, only the status read; an app with other needs (client
// certificates, say) plugs in its own here. Called from the dispatcher's thread
// only.
class HttpPost {
 public:
  virtual ~HttpPost() = default;
  // The response's status code, or an error when none arrived (DNS, connect,
  // timeout, malformed response). `timeout` bounds the whole exchange.
  virtual Result<int> post(const std::string& url, const Headers& headers, const std::string& body,
                           std::chrono::milliseconds timeout) = 0;
};

struct HttpPostOptions {
  // PEM file of the certificates https receivers are checked against; empty
  // means the system's store (Debian: ca-certificates). The receiver's chain
  // must verify and its certificate must name the URL's host (or IP).
  std::string ca_file;
};

// http[s]://host[:port][/path]; other schemes are kUnsupported.
std::unique_ptr<HttpPost> make_http_post(HttpPostOptions options = {});

// "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", the Streamlet-Signature value.
std::string sign(std::string_view secret, int64_t t, std::string_view body);

// Receiver side: checks a Streamlet-Signature header against the raw body.
// kUnauthenticated when the header is malformed, no v1 matches (compared in
// constant time), or t is further than `tolerance_seconds` from `now`.
Status verify(std::string_view secret, std::string_view header, std::string_view body, int64_t now,
              int64_t tolerance_seconds = 300);

// The contract's event body: {"event":...,"video":<video_json>,"sent_at":"2026-11-21T10:00:00Z"}.
// kInvalidArgument when video_json is not a JSON object.
Result<std::string> event_body(
    std::string_view event, std::string_view video_json,
    std::chrono::system_clock::time_point sent_at = std::chrono::system_clock::now());

// What happened to one attempt of one delivery (an event to one URL).
struct AttemptReport {
  uint64_t delivery_id = 0;
  std::string url;
  std::string event;
  int attempt = 0;         // 1-based
  int status = 0;          // HTTP status, 0 when no response arrived
  std::string error;       // why no response arrived ("" when one did)
  bool delivered = false;  // 2xx: done
  bool final = false;      // no more attempts (delivered, refused, or out of attempts)
  std::chrono::milliseconds retry_in{0};  // when not final
};

struct Options {
  std::vector<std::string> urls;  // each event goes to every URL, independently
  std::string secret;             // HMAC key; empty = deliveries are unsigned
  int max_attempts = 6;           // first try included
  // Wait before retry n (n >= 1): min(backoff_cap, backoff_base * 2^(n-1)); no jitter.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{std::chrono::minutes(5)};
  std::chrono::milliseconds timeout{10000};  // per attempt
  // Where pending deliveries are journalled (webhooks.jsonl) so a restart
  // resumes them; "" = memory only (lost on exit).
  std::string state_dir;
  std::shared_ptr<HttpPost> transport;  // null = make_http_post()
  // Called on the delivery thread after every attempt (logging, metrics).
  // It must not call back into the dispatcher.
  std::function<void(const AttemptReport&)> on_attempt;
};

// Owns one background thread that delivers events in due-time order, one
// attempt at a time. Retries on no response, 5xx, 408 and 429; any other
// non-2xx answer is final. enqueue() and stop() are thread-safe.
class WebhookDispatcher {
 public:
  // Starts the delivery thread (and resumes journalled deliveries).
  static Result<std::unique_ptr<WebhookDispatcher>> start(Options options);
  ~WebhookDispatcher();  // stop(0): abandons what is still pending
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Queues `body` (sent byte for byte) for every URL. kInvalidArgument for an
  // empty event; kCancelled after stop().
  Status enqueue(std::string_view event, std::string body);

  // Stops accepting events, keeps delivering (retries included) until nothing
  // is pending or `drain` has passed, then abandons the rest (they stay in
  // the journal when there is one). Idempotent.
  void stop(std::chrono::milliseconds drain);

  struct Stats {
    uint64_t delivered = 0;
    uint64_t failed = 0;  // given up or refused
    uint64_t attempts = 0;
    size_t pending = 0;
  };
  Stats stats() const;

 private:
  WebhookDispatcher();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::webhooks
