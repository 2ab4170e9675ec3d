// The catalog suite runs against every backend through the Catalog interface: test_catalog
// against SQLite (a file in a TempDir), test_catalog_pg (the same sources built with
// STREAMLET_CATALOG_PG) against PostgreSQL (a database of its own per case). A case opens its
// store with CATALOG_STORE(store) and the catalog with open(store), as often as it likes:
// each open sees what the previous ones stored.
#pragma once

#include <memory>
#include <string>

#include "streamlet/catalog.hpp"
#include "support/support.hpp"
#ifdef STREAMLET_CATALOG_PG
#include "streamlet/postgres.hpp"
#include "support/postgres.hpp"
#endif

namespace streamlet::test {

#ifdef STREAMLET_CATALOG_PG
inline constexpr bool kCatalogOnPostgres = true;
#else
inline constexpr bool kCatalogOnPostgres = false;
#endif

// For cases that test one backend's own files, or nothing of the catalog at all: they run in
// the SQLite build only (doctest does not list skipped cases, so CTest never sees them twice).
inline doctest::skip sqlite_only() { return doctest::skip(kCatalogOnPostgres); }

class CatalogStore {
 public:
  bool ok() const {
#ifdef STREAMLET_CATALOG_PG
    return db_.ok();
#else
    return true;
#endif
  }
  std::string why_not() const {
#ifdef STREAMLET_CATALOG_PG
    return db_.why_not();
#else
    return {};
#endif
  }

  std::shared_ptr<catalog::Catalog> open() {
#ifdef STREAMLET_CATALOG_PG
    auto c = postgres::open_catalog(db_.url(), {.size = 4});
#else
    auto c = catalog::open_sqlite_catalog(sqlite_path().string());
#endif
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    return std::shared_ptr<catalog::Catalog>(std::move(c).value());
  }

  // The SQLite file (meaningful in the SQLite build only).
  fs::path sqlite_path() const { return dir_ / "streamlet.db"; }
  const TempDir& dir() const { return dir_; }
#ifdef STREAMLET_CATALOG_PG
  PostgresDatabase& postgres() { return db_; }
#endif

 private:
  TempDir dir_;
#ifdef STREAMLET_CATALOG_PG
  PostgresDatabase db_;
#endif
};

#define CATALOG_STORE(name)               \
  ::streamlet::test::CatalogStore name;   \
  do {                                    \
    if (!(name).ok()) STREAMLET_SKIP((name).why_not()); \
  } while (0)

}  // namespace streamlet::test
