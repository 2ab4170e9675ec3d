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

}  // namespace streamlet::postgres
