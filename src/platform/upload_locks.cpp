#include "platform/upload_locks.hpp"

#include "core/crypto.hpp"

namespace streamlet::platform::internal {

namespace {

using Clock = std::chrono::steady_clock;

class CatalogUploadLock final : public upload::UploadLock {
 public:
  CatalogUploadLock(std::shared_ptr<catalog::Catalog> catalog, std::string name,
                    std::string holder, std::chrono::milliseconds ttl)
      : catalog_(std::move(catalog)),
        name_(std::move(name)),
        holder_(std::move(holder)),
        ttl_(ttl),
        renewed_(Clock::now()) {}
  ~CatalogUploadLock() override { (void)catalog_->release_lease(name_, holder_); }

  Status keep() override {
    const auto now = Clock::now();
    if (now - renewed_ < ttl_ / 3) return Status::Ok();
    auto kept = catalog_->take_lease(name_, holder_, ttl_);
    // A catalog out of reach for a moment is not a lost lease: the next chunk tries again,
    // and only once the lease may have run out is the request stopped.
    if (!kept.ok() && now - renewed_ < ttl_ * 2 / 3) return Status::Ok();
    if (!kept.ok() || !*kept)
      return error(ErrorCode::kConflict,
                   "the upload's lock was lost (the catalog was out of reach for too long)");
    renewed_ = now;
    return Status::Ok();
  }

 private:
  std::shared_ptr<catalog::Catalog> catalog_;
  std::string name_;
  std::string holder_;
  std::chrono::milliseconds ttl_;
  Clock::time_point renewed_;
};

class CatalogUploadLocker final : public upload::UploadLocker {
 public:
  CatalogUploadLocker(std::shared_ptr<catalog::Catalog> catalog, std::chrono::milliseconds ttl)
      : catalog_(std::move(catalog)), ttl_(ttl) {}

  Result<std::unique_ptr<upload::UploadLock>> lock(std::string_view id) override {
    std::string name = "upload:" + std::string(id);
    // A holder per request, not per node: two requests of one node are two holders.
    std::string holder = streamlet::detail::random_id(24);
    STREAMLET_ASSIGN_OR_RETURN(bool taken, catalog_->take_lease(name, holder, ttl_));
    if (!taken)
      return error(ErrorCode::kConflict,
                   "upload is locked by another request (on this or another node); retry once "
                   "it has finished");
    return std::unique_ptr<upload::UploadLock>(
        new CatalogUploadLock(catalog_, std::move(name), std::move(holder), ttl_));
  }

 private:
  std::shared_ptr<catalog::Catalog> catalog_;
  std::chrono::milliseconds ttl_;
};

}  // namespace

std::shared_ptr<upload::UploadLocker> catalog_upload_locker(
    std::shared_ptr<catalog::Catalog> catalog, std::chrono::milliseconds ttl) {
  return std::make_shared<CatalogUploadLocker>(std::move(catalog), ttl);
}

}  // namespace streamlet::platform::internal
