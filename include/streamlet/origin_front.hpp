// An event-driven HTTP/1.1 front for the playback origin.
//
// Players hold many keep-alive connections and ask for small playlists often.
// A thread-per-connection HTTP library (cpp-httplib, which streamlet-server
// uses for its API) parks a thread on every open connection, so a thousand
// players queue behind each other. The Front answers playback requests itself
// from a few epoll loops, with keep-alive, pipelining, sendfile for segments,
// and relays every other request, byte for byte, to an upstream HTTP server on
// loopback (the API). One public port serves both.
//
// What the Front answers itself: GET, HEAD and OPTIONS of
// "<prefix><video id>/<path>[?query]" with no request body, parsed as
// HTTP/1.0 or 1.1. The answer comes from the MediaHandler (normally
// Platform::serve_media, i.e. streamlet::origin::Origin). Anything else (other
// paths or methods, bodies, odd request lines, oversized headers) leaves the
// front for the rest of the connection's life, unchanged, so the other server's
// parsing and error answers stay the single source of truth. Either the
// connection itself is handed over (FrontOptions::handoff: an in-process server
// that can read a socket it did not accept, as streamlet-server's httplib
// does), or its bytes are relayed to an upstream server on loopback.
//
// Thread safety: the handler and the observer are called concurrently from the
// loop threads. start() and the member functions are safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

struct FrontOptions {
  // Where players connect. Port 0 picks a free port (see Front::port()).
  std::string host = "127.0.0.1";
  int port = 0;
  // Requests under this prefix are playback requests.
  std::string prefix = "/media/";
  // Takes over a connection whose next request the front does not answer:
  // the socket (non-blocking; the callee closes it) and the bytes already read
  // from it, starting with that request. Called on a loop thread, so it should
  // only queue the work. When set, the upstream below is not used.
  std::function<void(int fd, std::string already_read)> handoff;
  // Without a handoff, where every other request is relayed. Port 0: no
  // upstream, and those requests get a 404 JSON answer.
  std::string upstream_host = "127.0.0.1";
  int upstream_port = 0;
  // Event loops (threads), each with its own SO_REUSEPORT listening socket.
  // 0 means one per core.
  int threads = 0;
  // A connection idle this long between requests is closed; a client that
  // neither sends a whole request head nor reads a pending answer within it
  // is dropped too. Relayed connections are the upstream's to time out.
  std::chrono::seconds idle_timeout{60};
  // Largest request head (request line plus headers) answered here; a bigger
  // one is relayed, so the upstream gives its own 431/414.
  size_t max_head_bytes = 16 * 1024;
  // Open client connections beyond this are closed as soon as accepted.
  size_t max_connections = 100000;
};

// What the Front did with one request it answered itself, for metrics and logs.
struct FrontRequestLog {
  std::string_view method;
  int status = 0;
  uint64_t body_bytes = 0;
  std::chrono::duration<double> elapsed{};  // head parsed -> last byte handed to the kernel
};

using MediaHandler = std::function<OriginResponse(std::string_view video_id, const OriginRequest&)>;
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

  // Takes (back) a connection that sits between requests: a socket handed off
  // earlier whose request has been answered, with any bytes already read past
  // it. The front then reads its next request, so an idle keep-alive
  // connection holds no thread of the other server. The socket must be
  // non-blocking; the front closes it. Safe from any thread; after stop() the
  // socket is just closed.
  void adopt(int fd, std::string already_read = {});

  // Stops accepting at once and closes idle connections; answers in progress
  // finish, and relayed connections keep flowing until the upstream closes
  // them (an upload in flight reaches a durable offset) or `grace` runs out.
  // Connections already handed off are the new owner's to finish.
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
