// PostgreSQL backends for a cluster: several Streamlet nodes share one database.
//
// URL form: postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=...&...] (any connection
// string libpq accepts). Each open_* call opens its own pool of connections; every backend is
// thread safe. Schemas are migrated on open, once per database even when nodes start at the
// same moment (under an advisory lock); a database migrated by a newer Streamlet is refused.
#pragma once

#include <memory>
#include <string>

#include "streamlet/catalog.hpp"
#include "streamlet/events.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/status.hpp"

namespace streamlet::postgres {

struct PoolOptions {
  int size = 8;                   // connections at most (opened on demand), >= 1
  int acquire_timeout_ms = 30000; // a call waits this long for a free connection, then fails
};

// The catalog in PostgreSQL: everything catalog::Catalog promises, with full-text search over
// title + description (prefix matching, diacritics folded with the `unaccent` extension, which
// the database owner must be allowed to create: it is a trusted extension since PG 13).
// Errors: kInvalidArgument for a URL libpq refuses, kIo when the server cannot be reached,
// kUnsupported when the database was migrated by a newer Streamlet.
Result<std::shared_ptr<catalog::Catalog>> open_catalog(const std::string& url,
                                                       PoolOptions options = {});

// The job queue in PostgreSQL, with the SQLite queue's semantics and error codes: claims
// with FOR UPDATE SKIP LOCKED (many workers on many hosts never get the same job), leases
// renewed by heartbeat and taken over by others once expired, backoff, dead letter, the
// aged priority of jobs.hpp. Each instance is one lease owner with a listener connection of
// its own: enqueue, retry, release and a retry's backoff NOTIFY (on commit) with the time the
// job is due, so set_wake_callback() wakes idle workers on every host at once, or when the
// backoff ends (a timer on each listener). shares_catalog() when
// the database holds the catalog's videos table (open_catalog on the same URL).
struct QueueConfig {
  jobs::QueueOptions queue;
  int connections = 4;                  // pool size for this instance, >= 1
  std::string channel = "streamlet_jobs";  // NOTIFY channel, [a-z0-9_]{1,63}
};
// Errors: kInvalidArgument (options, URL), kIo (server unreachable), kUnsupported (a schema
// written by a newer Streamlet).
Result<std::unique_ptr<jobs::JobQueue>> open_job_queue(const std::string& url,
                                                       const QueueConfig& config = {});

// The event bus across hosts: publish() delivers to this process's subscribers at once (as
// InProcessBus does) and sends the event, as JSON, with NOTIFY on `channel` from a sender
// thread; a listener connection hands other processes' events to local subscribers. So
// every event reaches every process once (its own are recognised and not delivered twice),
// in the order its publisher published them; `sequence` is stamped by the receiving bus.
// Bounded like InProcessBus: events waiting for the sender beyond `max_pending` (database
// slow or away) drop, oldest first, as do those sent while a listener reconnects. A NOTIFY
// payload holds under 8000 bytes: a longer message is truncated (at a UTF-8 boundary, marked
// with "…") and an oversized `json` extra is left out for other hosts (local subscribers
// get the event whole).
struct EventBusConfig {
  std::string channel = "streamlet_events";  // [a-z0-9_]{1,63}; one per platform
  size_t max_pending = 10'000;               // events queued for the sender, at most
};
Result<std::shared_ptr<events::EventBus>> open_event_bus(const std::string& url,
                                                         const EventBusConfig& config = {});

}  // namespace streamlet::postgres
