// The API on connections the origin front hands over. streamlet-server's routes live in a
// cpp-httplib Server; the front owns the public socket, so httplib never accepts: each
// handed-over connection runs httplib's own request processing on one of our threads,
// over a Stream that first replays the bytes the front already read.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

namespace streamlet::server {

struct ConnectionLimits {
  std::chrono::seconds read_timeout{30};   // a request's bytes must keep coming
  std::chrono::seconds write_timeout{30};  // the client must keep reading
  std::chrono::seconds keep_alive{5};      // idle wait for the next request
  size_t max_requests = 100;               // requests per connection
};

class ApiServer : public httplib::Server {
 public:
  ~ApiServer() override { end_handoffs(); }
  // httplib ends streamed answers (SSE, content providers) as soon as its listening
  // socket is gone, and with handed-over connections it never listens: a placeholder
  // socket stands for "serving" from begin_handoffs() until end_handoffs().
  bool begin_handoffs();
  void end_handoffs();

  // Serves `fd` until the client leaves, a limit is reached, or `stopping` is set (then
  // after the request in progress), and closes it. With `give_back`, a connection that
  // is between requests goes back to the front instead (give_back owns it then), so an
  // idle keep-alive connection holds no thread. Blocks; run it on a worker.
  void serve_connection(int fd, std::string already_read, const ConnectionLimits& limits,
                        const std::atomic<bool>& stopping,
                        const std::function<void(int fd)>& give_back = {});
};

}  // namespace streamlet::server
