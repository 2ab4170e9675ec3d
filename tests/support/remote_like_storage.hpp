// A real storage seen the way an object store is: its readers have no file descriptor, and
// every open, stat and read_at first calls a hook (to count it, to add a network round trip,
// or to hang like a cut connection); reads can be cut into pieces as ranged GETs come. It only
// observes: every byte comes from the inner storage. Header-only, so both the cache tests
// (tests/storage/cache_test.cpp) and the origin cache bench (bench/origin_cache_node.cpp) use
// this one wrapper.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "streamlet/storage.hpp"

namespace streamlet::test {

struct RemoteLikeHooks {
  // Each runs before the call reaches the inner storage; empty: nothing.
  std::function<void()> before_open, before_stat, before_read;
  // The largest piece one read_at returns; 0: what was asked for.
  size_t max_read = 0;
};

class RemoteLikeReader final : public storage::Reader {
 public:
  RemoteLikeReader(std::unique_ptr<storage::Reader> inner, const RemoteLikeHooks& hooks)
      : inner_(std::move(inner)), hooks_(hooks) {}
  const storage::ObjectInfo& info() const override { return inner_->info(); }
  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    if (hooks_.before_read) hooks_.before_read();
    return inner_->read_at(offset, data, hooks_.max_read ? std::min(size, hooks_.max_read) : size);
  }
  // fd() stays -1: no descriptor, like S3.

 private:
  std::unique_ptr<storage::Reader> inner_;
  const RemoteLikeHooks& hooks_;  // the storage's, which outlives its readers
};

class RemoteLikeStorage final : public storage::Storage {
 public:
  RemoteLikeStorage(std::shared_ptr<storage::Storage> inner, RemoteLikeHooks hooks)
      : inner_(std::move(inner)), hooks_(std::move(hooks)) {}
  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    if (hooks_.before_open) hooks_.before_open();
    STREAMLET_ASSIGN_OR_RETURN(auto r, inner_->open(key));
    return std::unique_ptr<storage::Reader>(new RemoteLikeReader(std::move(r), hooks_));
  }
  Result<storage::ObjectInfo> stat(std::string_view key) override {
    if (hooks_.before_stat) hooks_.before_stat();
    return inner_->stat(key);
  }
  Result<std::unique_ptr<storage::Writer>> write(std::string_view key) override {
    return inner_->write(key);
  }
  Result<std::unique_ptr<storage::Appender>> append(std::string_view key, bool create) override {
    return inner_->append(key, create);
  }
  Status remove(std::string_view key) override { return inner_->remove(key); }
  Status list(std::string_view prefix,
              const std::function<bool(const storage::ObjectInfo&)>& each) override {
    return inner_->list(prefix, each);
  }
  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    return inner_->remove_prefix(prefix);
  }
  Result<std::unique_ptr<storage::Publication>> publish(std::string_view prefix) override {
    return inner_->publish(prefix);
  }
  std::string describe() const override { return "remote-like:" + inner_->describe(); }

 private:
  std::shared_ptr<storage::Storage> inner_;
  RemoteLikeHooks hooks_;
};

}  // namespace streamlet::test
