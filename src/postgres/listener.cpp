#include "postgres/listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "core/crypto.hpp"
#include "postgres/pool.hpp"

namespace streamlet::postgres::detail {

namespace {
// How long the connection may sit idle before a ping checks it is still there: a cut that
// sends no FIN (a host gone, a partition) is otherwise never noticed.
constexpr std::chrono::milliseconds kPingEvery{10'000};
constexpr std::chrono::milliseconds kMaxReconnectPause{5'000};
}  // namespace

struct Listener::Impl {
  std::string url;
  std::string channel;
  ListenerCallbacks cb;
  int wake_fd = -1;  // eventfd: stop() and schedule() interrupt the poll
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<int> backend_pid{0};
  std::unique_ptr<Connection> conn;
  std::mutex mutex;  // guards due
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> due;
  std::thread thread;

  ~Impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  Status connect() {
    STREAMLET_ASSIGN_OR_RETURN(conn, Connection::connect(url));
    // The name was checked to be [a-z0-9_]+: an identifier as it is, never user text.
    Status s = conn->exec_script("LISTEN " + channel);
    if (!s.ok()) {
      conn.reset();
      return s;
    }
    backend_pid = PQbackendPID(conn->native());
    return Status::Ok();
  }

  void poke() {
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  void drain_notifies() {
    while (PGnotify* n = PQnotifies(conn->native())) {
      std::string payload = n->extra ? n->extra : "";
      PQfreemem(n);
      if (cb.on_notify) cb.on_notify(payload);
    }
  }

  // Calls on_due for every deadline that passed; returns the wait until the next one.
  std::chrono::milliseconds run_due() {
    const int64_t now = streamlet::detail::now_ms();
    bool fire = false;
    int64_t next = -1;
    {
      std::lock_guard lock(mutex);
      while (!due.empty() && due.top() <= now) {
        due.pop();
        fire = true;
      }
      if (!due.empty()) next = due.top();
    }
    if (fire && cb.on_due) cb.on_due();
    return next < 0 ? kPingEvery : std::chrono::milliseconds(std::max<int64_t>(1, next - now));
  }

  // One connection's life: until it breaks (false) or we stop (true).
  bool serve() {
    auto last_traffic = std::chrono::steady_clock::now();
    while (!stop) {
      auto wait = std::min(run_due(), kPingEvery);
      pollfd fds[2] = {{PQsocket(conn->native()), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(wait.count()));
      if (stop) return true;
      if (n < 0 && errno != EINTR) return false;
      if (fds[1].revents & POLLIN) {
        uint64_t v;
        (void)!::read(wake_fd, &v, sizeof v);
      }
      if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (PQconsumeInput(conn->native()) == 0 || PQstatus(conn->native()) != CONNECTION_OK)
          return false;
        last_traffic = std::chrono::steady_clock::now();
        drain_notifies();
      } else if (std::chrono::steady_clock::now() - last_traffic >= kPingEvery) {
        // A round trip proves the connection; notifications it brings are queued by libpq.
        if (!conn->exec_script("SELECT 1").ok() || !conn->healthy()) return false;
        last_traffic = std::chrono::steady_clock::now();
        drain_notifies();
      }
    }
    return true;
  }

  void loop() {
    auto pause = std::chrono::milliseconds(50);
    while (!stop) {
      if (conn) {
        if (serve()) return;
        conn.reset();
        backend_pid = 0;
      }
      // Reconnect, waiting a growing pause between tries (interrupted by stop).
      while (!stop) {
        if (connect().ok()) {
          ++reconnects;
          pause = std::chrono::milliseconds(50);
          if (cb.on_connected) cb.on_connected();
          break;
        }
        pollfd fd{wake_fd, POLLIN, 0};
        (void)::poll(&fd, 1, static_cast<int>(pause.count()));
        if (fd.revents & POLLIN) {
          uint64_t v;
          (void)!::read(wake_fd, &v, sizeof v);
        }
        (void)run_due();  // deadlines still fire: the queue's safety net is a poll anyway
        pause = std::min(pause * 2, kMaxReconnectPause);
      }
    }
  }
};

bool Listener::valid_channel(std::string_view channel) {
  if (channel.empty() || channel.size() > 63) return false;
  return std::all_of(channel.begin(), channel.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::unique_ptr<Listener>> Listener::start(std::string url, std::string channel,
                                                  ListenerCallbacks callbacks) {
  if (!valid_channel(channel))
    return error(ErrorCode::kInvalidArgument,
                 "postgres: a channel name is 1..63 of [a-z0-9_], not '" + channel + "'");
  auto impl = std::make_unique<Impl>();
  impl->url = std::move(url);
  impl->channel = std::move(channel);
  impl->cb = std::move(callbacks);
  impl->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->wake_fd < 0) return error(ErrorCode::kIo, "postgres: eventfd failed");
  STREAMLET_RETURN_IF_ERROR(impl->connect());
  if (impl->cb.on_connected) impl->cb.on_connected();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener() {
  impl_->stop = true;
  impl_->poke();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Listener::schedule(int64_t at_ms) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->due.push(at_ms);
  }
  impl_->poke();
}

uint64_t Listener::reconnects() const {
  return impl_->reconnects;
}

int Listener::backend_pid() const {
  return impl_->backend_pid;
}

}  // namespace streamlet::postgres::detail
