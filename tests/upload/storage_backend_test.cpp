// The upload store on a storage backend that is not the local one: a map of key -> bytes
// written here, with appenders, writers that commit and a crash that drops every byte not
// synced. No directory exists, so the store can only have used the storage::Storage
// interface; each case checks what an uploader would (offsets, bytes, errors) and what the
// backend holds afterwards.
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "streamlet/storage.hpp"
#include "streamlet/upload.hpp"
#include "support/support.hpp"
#include "upload/digest.hpp"

namespace up = streamlet::upload;
namespace st = streamlet::storage;
using streamlet::ErrorCode;
using streamlet::Result;
using streamlet::Status;

namespace {

// Objects in memory. An appendable object remembers how much of it was synced; crash()
// keeps only that much, as a machine losing its page cache would. A Writer's bytes appear
// only on commit. Every key goes through check_key, as the interface promises.
class MemoryStorage final : public st::Storage {
 public:
  struct Object {
    std::string bytes;
    uint64_t synced = 0;
  };

  Result<std::unique_ptr<st::Reader>> open(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(st::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Status(ErrorCode::kNotFound, "no object " + std::string(key));
    return std::unique_ptr<st::Reader>(new MemoryReader(std::string(key), it->second->bytes));
  }
  Result<st::ObjectInfo> stat(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(st::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Status(ErrorCode::kNotFound, "no object " + std::string(key));
    return st::ObjectInfo{std::string(key), it->second->bytes.size(), 0};
  }
  Result<std::unique_ptr<st::Writer>> write(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(st::check_key(key));
    return std::unique_ptr<st::Writer>(new MemoryWriter(*this, std::string(key)));
  }
  Result<std::unique_ptr<st::Appender>> append(std::string_view key, bool create) override {
    STREAMLET_RETURN_IF_ERROR(st::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) {
      if (!create) return Status(ErrorCode::kNotFound, "no object " + std::string(key));
      it = objects_.emplace(std::string(key), std::make_shared<Object>()).first;
    }
    ++appenders_opened;
    return std::unique_ptr<st::Appender>(new MemoryAppender(*this, std::string(key), it->second));
  }
  Status remove(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(st::check_key(key));
    std::lock_guard lock(mu_);
    if (auto it = objects_.find(key); it != objects_.end()) objects_.erase(it);
    return Status::Ok();
  }
  Status list(std::string_view prefix,
              const std::function<bool(const st::ObjectInfo&)>& each) override {
    std::vector<st::ObjectInfo> found;
    {
      std::lock_guard lock(mu_);
      for (auto it = objects_.lower_bound(prefix);
           it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        found.push_back({it->first, it->second->bytes.size(), 0});
    }
    for (const auto& o : found)
      if (!each(o)) break;
    return Status::Ok();
  }
  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (auto it = objects_.lower_bound(prefix);
         it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++n)
      it = objects_.erase(it);
    return n;
  }
  Result<std::unique_ptr<st::Publication>> publish(std::string_view) override {
    return Status(ErrorCode::kUnsupported, "no publications in this test backend");
  }
  std::optional<uint64_t> free_bytes() override {
    std::lock_guard lock(mu_);
    return free_;
  }
  std::string describe() const override { return "memory:"; }

  // ---- for the tests ----
  void set_free_bytes(std::optional<uint64_t> free) {
    std::lock_guard lock(mu_);
    free_ = free;
  }
  // Appends fail as a full disk would once this many more bytes went in.
  void fail_appends_after(uint64_t bytes) {
    std::lock_guard lock(mu_);
    append_budget_ = bytes;
  }
  // What survives a power cut: synced bytes of appendable objects, committed objects whole.
  void crash() {
    std::lock_guard lock(mu_);
    for (auto& [key, o] : objects_) o->bytes.resize(o->synced);
  }
  std::vector<std::string> keys() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [key, o] : objects_) out.push_back(key);
    return out;
  }
  bool has(const std::string& key) {
    std::lock_guard lock(mu_);
    return objects_.count(key) > 0;
  }
  std::string bytes(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    REQUIRE(it != objects_.end());
    return it->second->bytes;
  }
  // Adds bytes to an object without syncing them (what a crash mid-append leaves behind).
  void scribble(const std::string& key, const std::string& more) {
    std::lock_guard lock(mu_);
    objects_.at(key)->bytes += more;
  }
  int appenders_opened = 0;

 private:
  class MemoryReader final : public st::Reader {
   public:
    MemoryReader(std::string key, std::string bytes)
        : info_{std::move(key), bytes.size(), 0}, bytes_(std::move(bytes)) {}
    const st::ObjectInfo& info() const override { return info_; }
    Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
      if (offset >= bytes_.size()) return size_t(0);
      size_t n = std::min<uint64_t>(size, bytes_.size() - offset);
      std::memcpy(data, bytes_.data() + offset, n);
      return n;
    }

   private:
    st::ObjectInfo info_;
    std::string bytes_;  // the bytes it was opened on
  };
  class MemoryWriter final : public st::Writer {
   public:
    MemoryWriter(MemoryStorage& owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Status write(const char* data, size_t size) override {
      bytes_.append(data, size);
      return Status::Ok();
    }
    Status commit() override {
      auto o = std::make_shared<Object>();
      o->bytes = std::move(bytes_);
      o->synced = o->bytes.size();
      std::lock_guard lock(owner_.mu_);
      owner_.objects_[key_] = std::move(o);
      return Status::Ok();
    }
    uint64_t bytes_written() const override { return bytes_.size(); }

   private:
    MemoryStorage& owner_;
    std::string key_;
    std::string bytes_;
  };
  class MemoryAppender final : public st::Appender {
   public:
    MemoryAppender(MemoryStorage& owner, std::string key, std::shared_ptr<Object> o)
        : owner_(owner), key_(std::move(key)), o_(std::move(o)) {}
    uint64_t size() const override {
      std::lock_guard lock(owner_.mu_);
      return o_->bytes.size();
    }
    Status append(const char* data, size_t size) override {
      std::lock_guard lock(owner_.mu_);
      if (owner_.append_budget_) {
        size_t take = std::min<uint64_t>(size, *owner_.append_budget_);
        o_->bytes.append(data, take);
        *owner_.append_budget_ -= take;
        if (take < size)
          return Status(ErrorCode::kResourceExhausted,
                        "append to memory:/secret/" + key_ + ": No space left on device");
        return Status::Ok();
      }
      o_->bytes.append(data, size);
      return Status::Ok();
    }
    Status sync() override {
      std::lock_guard lock(owner_.mu_);
      o_->synced = o_->bytes.size();
      return Status::Ok();
    }
    Status truncate(uint64_t size) override {
      std::lock_guard lock(owner_.mu_);
      if (size > o_->bytes.size()) return Status(ErrorCode::kInvalidArgument, "grows");
      o_->bytes.resize(size);
      o_->synced = std::min(o_->synced, size);
      return Status::Ok();
    }

   private:
    MemoryStorage& owner_;
    std::string key_;
    std::shared_ptr<Object> o_;
  };

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Object>, std::less<>> objects_;
  std::optional<uint64_t> free_;
  std::optional<uint64_t> append_budget_;
};

std::string random_bytes(size_t n, unsigned seed = 1) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(gen());
  return s;
}

up::BodyReader body_of(const std::string& data, size_t piece = 64 * 1024) {
  return [data, piece](const up::BodySink& sink) {
    for (size_t at = 0; at < data.size(); at += piece)
      if (!sink(data.data() + at, std::min(piece, data.size() - at))) return false;
    return true;
  };
}

up::Checksum checksum_of(up::ChecksumAlgorithm algorithm, const std::string& data) {
  up::detail::Digest d(algorithm);
  d.update(data.data(), data.size());
  return {algorithm, d.finish()};
}

std::unique_ptr<up::UploadStore> open_on(std::shared_ptr<MemoryStorage> mem,
                                         up::StoreOptions o = {}) {
  o.storage = std::move(mem);
  auto store = up::UploadStore::open(std::move(o));
  REQUIRE(store.ok());
  return std::move(store).value();
}

std::string data_of(const std::string& id) {
  return "uploads/" + id + ".bin";
}
std::string state_of(const std::string& id) {
  return "uploads/" + id + ".json";
}

}  // namespace

TEST_CASE("backend: create and append keep data and state under the prefix, nothing else") {
  auto mem = std::make_shared<MemoryStorage>();
  REQUIRE(mem->put("media/v1/poster.jpg", "not an upload").ok());
  auto store = open_on(mem);
  std::vector<up::CompletedUpload> done;
  store->set_completion_callback([&](const up::CompletedUpload& c) { done.push_back(c); });
  std::string data = random_bytes(3 * 1024 * 1024 + 7);
  auto info = store->create({.length = data.size(), .metadata = {{"filename", "a.mp4"}}});
  REQUIRE(info.ok());
  CHECK(mem->keys() ==
        std::vector<std::string>{"media/v1/poster.jpg", data_of(info->id), state_of(info->id)});
  size_t half = data.size() / 2 + 3;
  REQUIRE(store->append(info->id, {.offset = 0}, body_of(data.substr(0, half))).ok());
  CHECK(done.empty());
  auto second = store->append(info->id, {.offset = half}, body_of(data.substr(half)));
  REQUIRE(second.ok());
  CHECK(second->complete());
  REQUIRE(done.size() == 1);
  CHECK(done[0].key == data_of(info->id));
  CHECK(store->data_key(info->id).value() == done[0].key);
  CHECK(mem->bytes(done[0].key) == data);
  // A caller that needs a file gets a copy from this backend (the base local_file).
  streamlet::test::TempDir scratch;
  auto file = store->options().storage->local_file(done[0].key, scratch.path());
  REQUIRE(file.ok());
  CHECK(streamlet::test::read_file(file->path) == data);
  // The state is the object the store reads back: it says what was acknowledged.
  auto state = nlohmann::json::parse(mem->bytes(state_of(info->id)));
  CHECK(state.at("offset") == data.size());
  CHECK(mem->bytes("media/v1/poster.jpg") == "not an upload");
}

TEST_CASE("backend: every acknowledged byte survives a crash and a reopen resumes there") {
  auto mem = std::make_shared<MemoryStorage>();
  std::string data = random_bytes(500000, 2);
  std::string id;
  {
    auto store = open_on(mem);
    auto info = store->create({.length = data.size(), .metadata = {{"title", "t\xff\x01"}}});
    REQUIRE(info.ok());
    id = info->id;
    REQUIRE(store->append(id, {.offset = 0}, body_of(data.substr(0, 300000))).ok());
  }
  // What a crash mid-append leaves: bytes past the acknowledged offset, never synced.
  mem->scribble(data_of(id), std::string(123, 'z'));
  mem->crash();  // anything the store did not sync before acknowledging is lost here
  {
    auto store = open_on(mem);
    auto info = store->info(id);
    REQUIRE(info.ok());
    CHECK(info->offset == 300000);
    CHECK(info->metadata.at("title") == "t\xff\x01");
    CHECK(mem->bytes(data_of(id)) == data.substr(0, 300000));
  }
  // Unsynced bytes that did survive the crash are cut back to the acknowledged offset.
  mem->scribble(data_of(id), std::string(77, 'q'));
  auto store = open_on(mem);
  CHECK(mem->bytes(data_of(id)) == data.substr(0, 300000));
  REQUIRE(store->append(id, {.offset = 300000}, body_of(data.substr(300000))).ok());
  mem->crash();
  auto again = open_on(mem);
  CHECK(again->info(id)->complete());
  CHECK(mem->bytes(again->data_key(id).value()) == data);
}

TEST_CASE("backend: a checksum mismatch keeps the offset and drops the rejected bytes") {
  auto mem = std::make_shared<MemoryStorage>();
  auto store = open_on(mem);
  std::string a = random_bytes(200000, 3), b = random_bytes(100000, 4);
  auto info = store->create({.length = a.size() + b.size()});
  REQUIRE(info.ok());
  REQUIRE(store
              ->append(info->id,
                       {.offset = 0, .checksum = checksum_of(up::ChecksumAlgorithm::kSha1, a)},
                       body_of(a))
              .ok());
  auto bad = store->append(
      info->id, {.offset = a.size(), .checksum = checksum_of(up::ChecksumAlgorithm::kSha256, a)},
      body_of(b));
  CHECK(bad.status().code() == ErrorCode::kChecksumMismatch);
  CHECK(store->info(info->id)->offset == a.size());
  CHECK(mem->bytes(data_of(info->id)) == a);
  mem->crash();
  auto reopened = open_on(mem);
  CHECK(reopened->info(info->id)->offset == a.size());
  REQUIRE(
      reopened
          ->append(info->id,
                   {.offset = a.size(), .checksum = checksum_of(up::ChecksumAlgorithm::kSha256, b)},
                   body_of(b))
          .ok());
  CHECK(mem->bytes(data_of(info->id)) == a + b);
}

TEST_CASE("backend: concatenated parts give the final upload's bytes and the parts go") {
  auto mem = std::make_shared<MemoryStorage>();
  auto store = open_on(mem, {.prefix = "tenant-7/uploads/"});
  // Larger than the store's copy buffer, so parts are read back in several pieces.
  std::string data = random_bytes(3 * 1024 * 1024 + 333, 9);
  std::vector<std::string> ids;
  size_t part = data.size() / 3 + 1;
  for (size_t at = 0; at < data.size(); at += part) {
    std::string piece = data.substr(at, part);
    auto p = store->create({.length = piece.size(), .partial = true});
    REQUIRE(p.ok());
    REQUIRE(store->append(p->id, {.offset = 0}, body_of(piece)).ok());
    ids.push_back(p->id);
  }
  std::vector<up::CompletedUpload> done;
  store->set_completion_callback([&](const up::CompletedUpload& c) { done.push_back(c); });
  auto final_upload = store->concatenate(ids, {{"filename", "joined.bin"}});
  REQUIRE(final_upload.ok());
  CHECK(final_upload->complete());
  REQUIRE(done.size() == 1);
  CHECK(done[0].key == "tenant-7/uploads/" + final_upload->id + ".bin");
  CHECK(mem->bytes(done[0].key) == data);
  CHECK(mem->keys() == std::vector<std::string>{"tenant-7/uploads/" + final_upload->id + ".bin",
                                                "tenant-7/uploads/" + final_upload->id + ".json"});
  CHECK(store->info(ids[0]).status().code() == ErrorCode::kGone);
  mem->crash();
  auto reopened = open_on(mem, {.prefix = "tenant-7/uploads/"});
  CHECK(mem->bytes(reopened->data_key(final_upload->id).value()) == data);
}

TEST_CASE("backend: terminate and expiry remove the upload's objects and tell the callback") {
  auto mem = std::make_shared<MemoryStorage>();
  auto store = open_on(mem);
  std::vector<up::RemovalReason> removed;
  store->set_removal_callback([&](const up::UploadInfo& info, up::RemovalReason why) {
    CHECK_FALSE(mem->has(data_of(info.id)));
    CHECK_FALSE(mem->has(state_of(info.id)));
    removed.push_back(why);
  });
  auto a = store->create({.length = 10});
  REQUIRE(a.ok());
  REQUIRE(store->append(a->id, {.offset = 0}, body_of("abc")).ok());
  REQUIRE(store->terminate(a->id).ok());
  CHECK(store->info(a->id).status().code() == ErrorCode::kGone);
  CHECK(mem->keys().empty());

  auto mem2 = std::make_shared<MemoryStorage>();
  auto expiring = open_on(mem2, {.expiration = std::chrono::seconds(0)});
  expiring->set_removal_callback(
      [&](const up::UploadInfo&, up::RemovalReason why) { removed.push_back(why); });
  auto idle = expiring->create({.length = 10});
  auto finished = expiring->create({.length = 0});
  REQUIRE(idle.ok());
  REQUIRE(finished.ok());
  CHECK(expiring->info(idle->id).status().code() == ErrorCode::kGone);
  CHECK(expiring->expire_idle() == 1);  // finished uploads do not expire
  CHECK(mem2->keys() == std::vector<std::string>{data_of(finished->id), state_of(finished->id)});
  CHECK(removed == std::vector<up::RemovalReason>{up::RemovalReason::kTerminated,
                                                  up::RemovalReason::kExpired});
}

TEST_CASE("backend: the free-space reserve uses free_bytes and is skipped when it is unknown") {
  auto mem = std::make_shared<MemoryStorage>();
  mem->set_free_bytes(1000);
  auto store = open_on(mem, {.min_free_bytes = 100});
  CHECK(store->create({.length = 901}).status().code() == ErrorCode::kResourceExhausted);
  auto fits = store->create({.length = 900});
  REQUIRE(fits.ok());
  mem->set_free_bytes(50);
  CHECK(store->append(fits->id, {.offset = 0, .content_length = 4}, body_of("abcd"))
            .status()
            .code() == ErrorCode::kResourceExhausted);
  CHECK(store->info(fits->id)->offset == 0);
  mem->set_free_bytes(std::nullopt);  // an object store does not know: the writes tell
  CHECK(store->create({.length = 5000}).ok());
  CHECK(store->append(fits->id, {.offset = 0}, body_of("abcd")).ok());
}

TEST_CASE("backend: a failing append keeps acknowledged bytes and names no key in its error") {
  auto mem = std::make_shared<MemoryStorage>();
  auto store = open_on(mem);
  auto info = store->create({});
  REQUIRE(info.ok());
  std::string first = random_bytes(1 << 20, 5);
  REQUIRE(store->append(info->id, {.offset = 0}, body_of(first)).ok());
  mem->fail_appends_after(1500000);
  auto full = store->append(info->id, {.offset = first.size()}, body_of(random_bytes(4 << 20, 6)));
  REQUIRE_FALSE(full.ok());
  CHECK(full.status().code() == ErrorCode::kResourceExhausted);
  // The uploader reads this: what failed and why, not where the server keeps things.
  CHECK(full.status().message() == "write upload data: No space left on device");
  CHECK(store->info(info->id)->offset == first.size());
  CHECK(mem->bytes(data_of(info->id)) == first);  // the failed append's bytes are gone
  mem->fail_appends_after(uint64_t(1) << 40);
  CHECK(store->append(info->id, {.offset = first.size()}, body_of("tail")).ok());
  CHECK(mem->bytes(data_of(info->id)) == first + "tail");
}

TEST_CASE("backend: stores of two nodes on one shared storage resume, finish and end each other's uploads") {
  auto mem = std::make_shared<MemoryStorage>();
  up::StoreOptions shared;
  shared.shared = true;
  shared.expiration = std::chrono::seconds(3600);
  auto a = open_on(mem, shared);  // API node 1
  auto b = open_on(mem, shared);  // API node 2, opened before the upload exists
  std::vector<up::CompletedUpload> done_on_b;
  b->set_completion_callback([&](const up::CompletedUpload& c) { done_on_b.push_back(c); });
  std::string data = random_bytes(700000, 5);
  auto info = a->create({.length = data.size(), .metadata = {{"filename", "a.mp4"}}});
  REQUIRE(info.ok());
  const size_t half = 300001;
  REQUIRE(a->append(info->id, {.offset = 0}, body_of(data.substr(0, half))).ok());
  // The client moves to node 2: it knows the upload and its offset from storage.
  auto seen = b->info(info->id);
  REQUIRE_MESSAGE(seen.ok(), seen.status().to_string());
  CHECK(seen->offset == half);
  auto rest = b->append(info->id, {.offset = half}, body_of(data.substr(half)));
  REQUIRE_MESSAGE(rest.ok(), rest.status().to_string());
  CHECK(rest->complete());
  REQUIRE(done_on_b.size() == 1);
  CHECK(mem->bytes(done_on_b[0].key) == data);
  // Node 1 sees the offset node 2 reached, not the one it last wrote.
  auto back = a->info(info->id);
  REQUIRE(back.ok());
  CHECK(back->offset == data.size());
  // A stale offset on node 1 is a conflict, as on one node.
  auto stale = a->append(info->id, {.offset = half}, body_of("x"));
  CHECK_FALSE(stale.ok());

  // An upload made on node 1 and terminated on node 2 is gone on node 1 too.
  auto other = a->create({.length = 10});
  REQUIRE(other.ok());
  REQUIRE(b->terminate(other->id).ok());
  CHECK(a->info(other->id).status().code() == streamlet::ErrorCode::kGone);
}

TEST_CASE("backend: a shared store's sweep expires uploads another node made and left") {
  auto mem = std::make_shared<MemoryStorage>();
  up::StoreOptions shared;
  shared.shared = true;
  shared.expiration = std::chrono::seconds(1);
  auto a = open_on(mem, shared);
  auto b = open_on(mem, shared);
  auto info = a->create({.length = 100});
  REQUIRE(info.ok());
  a.reset();  // node 1 is gone for good
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(b->expire_idle() == 1);
  CHECK_FALSE(mem->has(state_of(info->id)));
  CHECK_FALSE(mem->has(data_of(info->id)));
}
