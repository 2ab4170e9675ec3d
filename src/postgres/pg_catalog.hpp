// The PostgreSQL catalog's seams for the other PostgreSQL backends (internal): the catalog on
// a pool someone already holds, and a video's status change on a caller's connection, so that
// a queue can change a video's status and enqueue its job in one transaction.
#pragma once

#include <memory>
#include <string_view>

#include "postgres/pool.hpp"
#include "streamlet/catalog.hpp"

namespace streamlet::postgres::detail {

// Migrates the catalog's schema on `pool`'s database (as open_catalog does) and returns the
// catalog over that pool.
Result<std::shared_ptr<catalog::Catalog>> open_catalog_on(std::shared_ptr<Pool> pool);

// Catalog::set_status on `conn`, typically inside Pool::with_transaction: the change commits
// or rolls back with whatever else that transaction does. The video's row stays locked until
// then. kNotFound for an unknown id. The catalog's migrations must have run on this database.
Result<catalog::Video> set_video_status(Connection& conn, std::string_view id,
                                        catalog::VideoStatus status, std::string_view reason = {});

}  // namespace streamlet::postgres::detail
