// The upload lock of a platform whose store other API nodes share: a lease in the catalog per
// upload, renewed while its request streams, so a second request on any node is refused and a
// node that dies mid-request holds the upload no longer than the lease.
#pragma once

#include <chrono>
#include <memory>

#include "streamlet/catalog.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::platform::internal {

// Leases named "upload:<id>" for `ttl`, renewed by keep() once a third of it has passed.
std::shared_ptr<upload::UploadLocker> catalog_upload_locker(
    std::shared_ptr<catalog::Catalog> catalog, std::chrono::milliseconds ttl);

}  // namespace streamlet::platform::internal
