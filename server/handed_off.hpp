// The API on requests the origin front hands over. streamlet-server's routes live in a
// cpp-httplib Server; the front owns the public socket and reads and checks every request
// head (and every body it can buffer), so httplib never accepts and never parses raw client
// bytes: each handed-over request runs httplib's own request processing on one of our
// threads, over a Stream that serves the front's canonical request and then, for streamed
// upload bodies, exactly the body's remaining bytes from the socket.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "streamlet/origin_front.hpp"

namespace streamlet::server {

struct ConnectionLimits {
  std::chrono::seconds read_timeout{30};   // a body's bytes must keep coming
  std::chrono::seconds write_timeout{30};  // the client must keep reading
  // Steady-clock time (ns since its epoch) after which every read and write fails, so a
  // stop is not held up by a client that trickles an upload; 0 while serving normally.
  const std::atomic<int64_t>* hard_deadline_ns = nullptr;
};

class ApiServer : public httplib::Server {
 public:
  ~ApiServer() override { end_handoffs(); }
  // httplib ends streamed answers (content providers) as soon as its listening socket is
  // gone, and with handed-over connections it never listens: a placeholder socket stands
  // for "serving" from begin_handoffs() until end_handoffs().
  bool begin_handoffs();
  void end_handoffs();

  // What became of the connection after one request.
  struct Served {
    bool keep_alive = false;  // the request was read to its end and the answer allows more
    std::string after;        // bytes of the next request, already read (keep_alive only)
  };
  // Answers the request in `off` (blocking; run it on a worker). The caller gives the
  // socket back to the front: to read the next request when keep_alive, else to close.
  Served serve(origin::HandOff& off, const ConnectionLimits& limits);
};

}  // namespace streamlet::server
