// An event-driven HTTP/1.1 front for the public port.
//
// The internet talks to the Front, never to a thread-per-connection server: a few epoll
// loops read and check every request (framing by Debian's http-parser, plus the limits
// below), so no number of slow or idle clients can hold a thread of the application. What
// happens to a request once its head is read and checked:
//   - playback (GET, HEAD, OPTIONS under `prefix`): answered here from the MediaHandler
//     (normally Platform::serve_media), with keep-alive, pipelining and sendfile;
//   - a long-lived stream (Server-Sent Events, as `classify` says): the StreamHandler gives
//     the head and pushes data later from any thread; the loop writes it, no thread held;
//   - anything else is handed over, one request at a time: the socket, the request's head
//     rewritten in canonical form (one Content-Length, no Transfer-Encoding) and, for
//     buffered requests, the whole body read by the front first. Bodies `classify` calls
//     streamed (uploads) follow on the socket, exactly `body_left` bytes. The taker answers
//     and gives the connection back with adopt() (or closes it). A request whose framing
//     the front could not vouch for never reaches it: the client gets a JSON error and the
//     connection is closed, so a body can never be read as a request.
//
// Errors the front answers itself, each with {"error","code"} JSON and a closed connection:
// 400 malformed request line, header or framing (RFC 9112: Content-Length with
// Transfer-Encoding, differing Content-Lengths, bad chunk sizes, obs-fold), 408 a head or a
// buffered body that did not arrive in time, 411 a streamed body without Content-Length,
// 413 a buffered body over the limit, 431 a head over the size or header-count limit,
// 501 an unknown transfer coding or CONNECT, 505 an HTTP version other than 1.0/1.1.
// When a connection closes with a request body still coming, the front stops sending,
// reads and drops what arrives for a moment (lingering close) so the client sees the
// answer instead of a reset.
//
// Thread safety: the handlers and the observer are called concurrently from the loop
// threads and must be quick (they run on the loop). start(), adopt() and stop() are safe
// from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/origin.hpp"
#include "streamlet/status.hpp"

namespace streamlet::origin {

// "<prefix><id>/<path>?<query>" split into its parts, as both the Front and an
// adapter on another HTTP stack need it. The id is [A-Za-z0-9_-]{1,64}; path
// and query stay percent-encoded (Origin::serve decodes the path exactly once).
struct MediaTarget {
  std::string video_id;
  std::string path;   // relative to the video directory, no leading '/'
  std::string query;  // without '?', empty when none
};
// nullopt when `target` is not under `prefix` or its id is not a plausible one.
std::optional<MediaTarget> parse_media_target(std::string_view target, std::string_view prefix);
// [A-Za-z0-9_-]{1,64}: what a video id may look like in a playback URL (anything
// else, hidden work dirs and ".." included, is no video).
bool plausible_video_id(std::string_view id);

// A request head the front has read and checked.
struct FrontRequest {
  std::string method;
  std::string target;  // origin-form, percent-encoded, with the query
  int http_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string peer;                                          // client IP address
  // The first value of a header (case-insensitive name), or "".
  std::string_view header(std::string_view name) const;
  std::string_view path() const;  // target without the query
};

// What the front does with a request that is not playback.
enum class RequestKind {
  kBuffered,  // the front reads the whole body (<= max_buffered_body), then hands it over
  kStreamed,  // handed over right after the head; the body (Content-Length) follows
  kEventStream,  // answered by the StreamHandler, a long-lived stream without a thread
};

// A request given to the other server, one at a time.
struct HandOff {
  int fd = -1;          // non-blocking; the taker's until it gives it back or closes it
  std::string request;  // canonical head, then the body the front read (all of it unless
                        // body_left > 0)
  uint64_t body_left = 0;  // body bytes still to be read from fd (streamed bodies)
  std::string after;       // bytes read past this request (the next pipelined one)
  bool streamed = false;   // RequestKind::kStreamed
  bool last = false;       // answer with "Connection: close" (client said so, or limits)
  std::string peer;
};

// The sending end of a long-lived answer. Thread safe; may outlive the front.
class StreamChannel {
 public:
  virtual ~StreamChannel() = default;
  // Queues `data` (sent as one chunk). False once the stream has ended: the client left,
  // the front stops, finish() was called, or the client fell more than
  // FrontOptions::max_stream_backlog behind (which ends it).
  virtual bool send(std::string_view data) = 0;
  // Ends the answer after what was queued; the connection goes on with its next request.
  virtual void finish() = 0;
};

struct StreamAnswer {
  // Status 200 starts the stream with these headers (the front adds chunked framing);
  // anything else is sent as an ordinary answer (an error with its body) and no stream.
  OriginResponse response;
  std::string first;  // first data of the stream, before anything sent on the channel
  std::string heartbeat = ": heartbeat\n\n";  // sent after this long without data
  std::chrono::seconds heartbeat_interval{15};
  std::function<void()> on_end;  // once, when the stream ends for any reason
};

using MediaHandler = std::function<OriginResponse(std::string_view video_id, const OriginRequest&)>;
using StreamHandler =
    std::function<StreamAnswer(const FrontRequest&, std::shared_ptr<StreamChannel>)>;

struct FrontOptions {
  // Where clients connect. Port 0 picks a free port (see Front::port()).
  std::string host = "127.0.0.1";
  int port = 0;
  // Requests under this prefix are playback requests.
  std::string prefix = "/media/";
  // Takes every request that is not playback or a stream. Called on a loop thread, so it
  // should only queue the work. It returns false to refuse (its queue is full): the front
  // keeps the connection and answers 503 with Retry-After. Without it such requests get a
  // 404 JSON answer.
  std::function<bool(HandOff&)> handoff;
  // Says what a non-playback request is; default: every one kBuffered.
  std::function<RequestKind(const FrontRequest&)> classify;
  // Answers kEventStream requests (without it they are handed over buffered).
  StreamHandler stream_handler;
  // Event loops (threads), each with its own SO_REUSEPORT listening socket. 0: one per core.
  int threads = 0;
  // A connection idle this long between requests is closed.
  std::chrono::seconds idle_timeout{60};
  // The whole head must arrive within this (counted from its first byte, not per read), and
  // a buffered body within body_timeout after its head; else 408 and close.
  std::chrono::seconds head_timeout{10};
  std::chrono::seconds body_timeout{30};
  size_t max_head_bytes = 16 * 1024;  // request line + header fields; more is 431
  size_t max_header_count = 100;      // more is 431
  size_t max_buffered_body = 64 * 1024;  // kBuffered bodies (and bodies on playback); 413
  // Requests on one connection; the last is answered "Connection: close". 0: no limit.
  size_t max_requests_per_connection = 1000;
  // Open client connections beyond this are closed as soon as accepted.
  size_t max_connections = 100000;
  // Open event streams, in all and per client address; more get 503 / 429 JSON answers.
  size_t max_streams = 20000;
  size_t max_streams_per_client = 256;
  // Bytes an event stream may have queued for a client that does not read; more ends it.
  size_t max_stream_backlog = 256 * 1024;
};

// What the Front did with one request it answered itself, for metrics and logs.
enum class FrontAnswer {
  kPlayback,     // a /media answer
  kEventStream,  // an event stream started (status 200) or refused
  kRefused,      // an error the front gave itself (framing, limits, timeouts)
};
struct FrontRequestLog {
  std::string_view method;  // "" when the request head never parsed
  int status = 0;
  uint64_t body_bytes = 0;
  FrontAnswer kind = FrontAnswer::kPlayback;
  std::chrono::duration<double> elapsed{};  // head parsed -> last byte handed to the kernel
};
using FrontObserver = std::function<void(const FrontRequestLog&)>;

class Front {
 public:
  // Binds and starts the loops. kInvalidArgument for bad options,
  // kIo when the address cannot be bound.
  static Result<std::unique_ptr<Front>> start(FrontOptions options, MediaHandler handler,
                                              FrontObserver observer = {});
  ~Front();  // stop() with no grace period
  Front(const Front&) = delete;
  Front& operator=(const Front&) = delete;

  int port() const;
  size_t open_streams() const;

  // Takes back a connection after a handed-over request was answered: `after` holds bytes
  // already read past it. The front reads its next request, so an idle keep-alive
  // connection holds no thread. With `close` (the request's body was not read to its end,
  // or the answer said close), the front only drains and closes it. The socket must be
  // non-blocking; the front closes it. Safe from any thread; after stop() it is closed.
  void adopt(int fd, std::string after = {}, bool close = false);

  // Stops accepting at once, closes idle connections and ends event streams; answers in
  // progress finish. Connections already handed off are the taker's to finish.
  // Returns when every loop has ended. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // Begins what stop() does without waiting (e.g. from a signal thread).
  void begin_stop(std::chrono::milliseconds grace);

  struct Impl;

 private:
  explicit Front(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::origin
