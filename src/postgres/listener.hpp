// A LISTEN connection on a thread of its own, shared by the PostgreSQL job queue (wake-ups)
// and event bus (events from other hosts). Internal: libpq stays out of public headers.
//
// The thread holds one dedicated connection (outside any pool), LISTENs on one channel and
// hands every notification's payload to `on_notify`, in the order the server sends them
// (commit order). A connection that breaks (server restart, pg_terminate_backend, a network
// cut seen by the periodic ping) is replaced, with a growing pause between attempts (up to
// 5 s); notifications sent while it was away are lost, so `on_connected` is called after each
// (re)connection for the owner to catch up. It can also call `on_due` at requested times
// (schedule()), which the queue uses for the end of a retry's backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet::postgres::detail {

struct ListenerCallbacks {
  std::function<void(std::string_view payload)> on_notify;
  std::function<void()> on_connected;  // after the first connection too; optional
  std::function<void()> on_due;        // a schedule()d time came; optional
};

class Listener {
 public:
  // Connects and LISTENs before returning (kIo when the server cannot be reached), then runs.
  // `channel` is [a-z0-9_]{1,63} (kInvalidArgument otherwise): it is an SQL identifier.
  static Result<std::unique_ptr<Listener>> start(std::string url, std::string channel,
                                                 ListenerCallbacks callbacks);
  // Stops the thread; no callback runs once it returns.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Calls on_due at (about) `at_ms`, Unix epoch milliseconds. Thread safe.
  void schedule(int64_t at_ms);
  // Reconnections so far (tests and metrics).
  uint64_t reconnects() const;
  // The backend pid of the current connection (0 while disconnected), e.g. to terminate it.
  int backend_pid() const;

  // True when `channel` is a valid channel name (see start()).
  static bool valid_channel(std::string_view channel);

 private:
  struct Impl;
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::postgres::detail
