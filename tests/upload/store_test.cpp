// The upload store and tus header codecs, against a real directory (no HTTP).
#include <sys/mount.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "streamlet/upload.hpp"
#include "support/s3_support.hpp"
#include "support/support.hpp"
#include "upload/digest.hpp"

namespace up = streamlet::upload;
using streamlet::ErrorCode;
using streamlet::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string random_bytes(size_t n, unsigned seed = 1) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(gen());
  return s;
}

// A body reader that hands `data` over in `piece`-sized chunks, like a socket would.
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

// On local disk at dir/uploads; in the S3 registration ("upload-s3: ...") on the test RGW
// under a prefix of its own per directory (so reopening `dir` reopens the same uploads).
std::unique_ptr<up::UploadStore> open_store(const TempDir& dir, up::StoreOptions o = {}) {
  if (streamlet::test::storage_is_s3()) {
    std::string why;
    o.storage = streamlet::test::test_storage(dir.path().string(), &why);
    REQUIRE_MESSAGE(o.storage, why);
    o.prefix = "uploads/";
  } else {
    o.dir = dir / "uploads";
  }
  auto store = up::UploadStore::open(o);
  REQUIRE_MESSAGE(store.ok(), store.status().to_string());
  return std::move(store).value();
}

// The bytes of upload `id` (on S3, of a finished one: parts are readable only then).
std::string stored(const TempDir& dir, const std::string& id) {
  if (streamlet::test::storage_is_s3()) {
    std::string why;
    auto s = streamlet::test::test_storage(dir.path().string(), &why);
    REQUIRE_MESSAGE(s, why);
    return s->get("uploads/" + id + ".bin", 64 << 20).value();
  }
  return streamlet::test::read_file(dir / "uploads" / (id + ".bin"));
}

}  // namespace

TEST_CASE("store: appends in pieces assemble the file and hand it to the callback once") {
  TempDir dir;
  auto store = open_store(dir);
  std::vector<up::CompletedUpload> done;
  store->set_completion_callback([&](const up::CompletedUpload& c) { done.push_back(c); });
  std::string data = random_bytes(3 * 1024 * 1024 + 7);
  auto info = store->create({.length = data.size(), .metadata = {{"filename", "a.mp4"}}});
  REQUIRE(info.ok());
  CHECK(info->offset == 0);
  CHECK(info->id.size() == 32);

  size_t half = data.size() / 2;
  auto first = store->append(info->id, {.offset = 0}, body_of(data.substr(0, half)));
  REQUIRE(first.ok());
  CHECK(first->offset == half);
  CHECK(done.empty());
  auto second = store->append(info->id, {.offset = half}, body_of(data.substr(half)));
  REQUIRE(second.ok());
  CHECK(second->complete());
  REQUIRE(done.size() == 1);
  CHECK(done[0].info.metadata.at("filename") == "a.mp4");
  auto file = store->options().storage->local_file(done[0].key, dir / "scratch");
  REQUIRE(file.ok());
  if (!streamlet::test::storage_is_s3())
    CHECK(file->path == dir / "uploads" / (info->id + ".bin"));  // the file itself, no copy
  CHECK(streamlet::test::read_file(file->path) == data);
}

TEST_CASE("store: a mismatched offset is a conflict and writes nothing") {
  TempDir dir;
  auto store = open_store(dir);
  auto info = store->create({.length = 100});
  REQUIRE(info.ok());
  REQUIRE(store->append(info->id, {.offset = 0}, body_of(std::string(40, 'a'))).ok());
  auto stale = store->append(info->id, {.offset = 10}, body_of(std::string(30, 'b')));
  CHECK(stale.status().code() == ErrorCode::kConflict);
  auto ahead = store->append(info->id, {.offset = 60}, body_of(std::string(30, 'b')));
  CHECK(ahead.status().code() == ErrorCode::kConflict);
  CHECK(store->info(info->id)->offset == 40);
  CHECK(stored(dir, info->id) == std::string(40, 'a'));
}

TEST_CASE("store: sha1 and sha256 checksums are verified and a mismatch leaves the offset") {
  TempDir dir;
  auto store = open_store(dir);
  std::string a = random_bytes(200000, 2), b = random_bytes(100000, 3);
  auto info = store->create({.length = a.size() + b.size()});
  REQUIRE(info.ok());
  auto good = store->append(info->id,
                            {.offset = 0, .checksum = checksum_of(up::ChecksumAlgorithm::kSha1, a)},
                            body_of(a));
  REQUIRE(good.ok());
  auto bad = store->append(
      info->id, {.offset = a.size(), .checksum = checksum_of(up::ChecksumAlgorithm::kSha256, a)},
      body_of(b));
  CHECK(bad.status().code() == ErrorCode::kChecksumMismatch);
  CHECK(store->info(info->id)->offset == a.size());
  CHECK(stored(dir, info->id) == a);  // the rejected bytes are gone from disk too
  auto fixed = store->append(
      info->id, {.offset = a.size(), .checksum = checksum_of(up::ChecksumAlgorithm::kSha256, b)},
      body_of(b));
  REQUIRE(fixed.ok());
  CHECK(stored(dir, info->id) == a + b);
}

TEST_CASE("store: reopening truncates bytes that were never acknowledged") {
  TempDir dir;
  std::string id;
  {
    auto store = open_store(dir);
    auto info = store->create({.length = 1000, .metadata = {{"title", "t\xff\x01"}}});
    REQUIRE(info.ok());
    id = info->id;
    REQUIRE(store->append(id, {.offset = 0}, body_of(std::string(300, 'x'))).ok());
  }
  // What a crash mid-append leaves: bytes on disk past the acknowledged offset.
  {
    std::ofstream out(dir / "uploads" / (id + ".bin"), std::ios::app | std::ios::binary);
    out << std::string(123, 'z');
  }
  streamlet::test::write_file(dir / "uploads" / (id + ".json.tmp"), "{half a st");
  auto store = open_store(dir);
  auto info = store->info(id);
  REQUIRE(info.ok());
  CHECK(info->offset == 300);
  CHECK(info->metadata.at("title") == "t\xff\x01");
  CHECK(stored(dir, id) == std::string(300, 'x'));
  CHECK_FALSE(std::filesystem::exists(dir / "uploads" / (id + ".json.tmp")));
  REQUIRE(store->append(id, {.offset = 300}, body_of(std::string(700, 'y'))).ok());
  CHECK(store->info(id)->complete());
}

TEST_CASE("store: a body cut off mid-way keeps what arrived unless a checksum was sent") {
  TempDir dir;
  auto store = open_store(dir);
  auto info = store->create({.length = 1000});
  REQUIRE(info.ok());
  auto broken = [](const up::BodySink& sink) {
    std::string part(250, 'p');
    sink(part.data(), part.size());
    return false;  // connection lost
  };
  auto kept = store->append(info->id, {.offset = 0}, broken);
  REQUIRE(kept.ok());
  CHECK(kept->offset == 250);
  auto dropped = store->append(
      info->id, {.offset = 250, .checksum = checksum_of(up::ChecksumAlgorithm::kSha1, "x")},
      broken);
  CHECK_FALSE(dropped.ok());
  CHECK(store->info(info->id)->offset == 250);
  CHECK(stored(dir, info->id).size() == 250);
}

TEST_CASE("store: deferred length is fixed later and completes the upload") {
  TempDir dir;
  auto store = open_store(dir);
  int completions = 0;
  store->set_completion_callback([&](const up::CompletedUpload&) { ++completions; });
  auto info = store->create({});
  REQUIRE(info.ok());
  CHECK_FALSE(info->length.has_value());
  REQUIRE(store->append(info->id, {.offset = 0}, body_of("hello ")).ok());
  CHECK(store->declare_length(info->id, 3).status().code() == ErrorCode::kInvalidArgument);
  REQUIRE(store->declare_length(info->id, 11).ok());
  CHECK(store->declare_length(info->id, 12).status().code() == ErrorCode::kInvalidArgument);
  auto done = store->append(info->id, {.offset = 6}, body_of("world"));
  REQUIRE(done.ok());
  CHECK(done->complete());
  CHECK(completions == 1);
}

TEST_CASE("store: concatenated parts give the same bytes as a sequential upload") {
  TempDir dir;
  auto store = open_store(dir);
  std::string data = random_bytes(2 * 1024 * 1024 + 333, 9);
  std::vector<std::string> ids;
  size_t part = data.size() / 3 + 1;
  for (size_t at = 0; at < data.size(); at += part) {
    std::string piece = data.substr(at, part);
    auto p = store->create({.length = piece.size(), .partial = true});
    REQUIRE(p.ok());
    REQUIRE(store->append(p->id, {.offset = 0}, body_of(piece)).ok());
    ids.push_back(p->id);
  }
  int completions = 0;
  store->set_completion_callback([&](const up::CompletedUpload&) { ++completions; });
  auto final_upload = store->concatenate(ids, {{"filename", "joined.bin"}});
  REQUIRE(final_upload.ok());
  CHECK(final_upload->complete());
  CHECK(final_upload->parts == ids);
  CHECK(completions == 1);
  auto key = store->data_key(final_upload->id);
  REQUIRE(key.ok());
  CHECK(stored(dir, final_upload->id) == data);
  CHECK(*key == (streamlet::test::storage_is_s3() ? "uploads/" : "") + final_upload->id + ".bin");
  CHECK(store->info(ids[0]).status().code() == ErrorCode::kGone);  // parts were consumed
  // Patching a final upload is forbidden by tus.
  CHECK(store->append(final_upload->id, {.offset = data.size()}, body_of("")).status().code() ==
        ErrorCode::kPermissionDenied);
}

TEST_CASE("store: concatenation refuses unfinished or non-partial parts") {
  TempDir dir;
  auto store = open_store(dir);
  auto unfinished = store->create({.length = 10, .partial = true});
  auto whole = store->create({.length = 0});
  REQUIRE(unfinished.ok());
  REQUIRE(whole.ok());
  CHECK(store->concatenate({unfinished->id}, {}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(store->concatenate({whole->id}, {}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(store->concatenate({"0123456789abcdef0123456789abcdef"}, {}).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("store: terminate and expiry remove uploads and their files") {
  TempDir dir;
  auto store = open_store(dir);
  auto a = store->create({.length = 10});
  REQUIRE(a.ok());
  REQUIRE(store->terminate(a->id).ok());
  CHECK(store->info(a->id).status().code() == ErrorCode::kGone);
  CHECK_FALSE(std::filesystem::exists(dir / "uploads" / (a->id + ".bin")));
  CHECK(store->info("ffffffffffffffffffffffffffffffff").status().code() == ErrorCode::kNotFound);
  CHECK(store->info("../../etc/passwd").status().code() == ErrorCode::kNotFound);

  TempDir dir2;
  auto expiring = open_store(dir2, {.expiration = std::chrono::seconds(0)});
  auto b = expiring->create({.length = 10});
  auto finished = expiring->create({.length = 0});
  REQUIRE(b.ok());
  CHECK(expiring->info(b->id).status().code() == ErrorCode::kGone);
  CHECK(expiring->expire_idle() == 1);  // finished uploads do not expire
  CHECK(expiring->info(finished->id).ok());
  CHECK_FALSE(std::filesystem::exists(dir2 / "uploads" / (b->id + ".bin")));
}

TEST_CASE("store: the removal callback hears of each expired or terminated upload once") {
  TempDir dir, dir2;
  auto store = open_store(dir);
  auto expiring = open_store(dir2, {.expiration = std::chrono::seconds(0)});
  std::vector<std::pair<std::string, up::RemovalReason>> removed;
  auto record = [&](up::UploadStore& s, const TempDir& d) {
    s.set_removal_callback([&](const up::UploadInfo& info, up::RemovalReason why) {
      // Called once the files are gone, with no store lock held.
      CHECK_FALSE(std::filesystem::exists(d / "uploads" / (info.id + ".bin")));
      CHECK(s.info(info.id).status().code() == ErrorCode::kGone);
      removed.emplace_back(info.metadata.at("video"), why);
    });
  };
  record(*store, dir);
  record(*expiring, dir2);

  auto finished = store->create({.length = 0, .metadata = {{"video", "a"}}});
  auto p1 = store->create({.length = 1, .metadata = {{"video", "p1"}}, .partial = true});
  auto p2 = store->create({.length = 1, .metadata = {{"video", "p2"}}, .partial = true});
  auto idle = expiring->create({.length = 10, .metadata = {{"video", "b"}}});
  REQUIRE(finished.ok());
  REQUIRE(p1.ok());
  REQUIRE(p2.ok());
  REQUIRE(idle.ok());
  REQUIRE(store->append(p1->id, {.offset = 0}, body_of("x")).ok());
  REQUIRE(store->append(p2->id, {.offset = 0}, body_of("y")).ok());
  // Parts consumed by a concatenation live on in the final upload: not a removal.
  REQUIRE(store->concatenate({p1->id, p2->id}, {}).ok());
  CHECK(removed.empty());

  REQUIRE(store->terminate(finished->id).ok());
  CHECK(store->terminate(finished->id).code() == ErrorCode::kGone);
  CHECK(expiring->expire_idle() == 1);
  CHECK(expiring->expire_idle() == 0);
  REQUIRE(removed.size() == 2);
  CHECK(removed[0] ==
        std::pair<std::string, up::RemovalReason>("a", up::RemovalReason::kTerminated));
  CHECK(removed[1] == std::pair<std::string, up::RemovalReason>("b", up::RemovalReason::kExpired));
}

TEST_CASE("store: size, concurrency and disk-space limits are errors, not corrupt files") {
  TempDir dir;
  auto store = open_store(dir, {.max_upload_size = 1000, .max_concurrent_uploads = 2});
  CHECK(store->create({.length = 1001}).status().code() == ErrorCode::kTooLarge);
  auto a = store->create({.length = 100});
  REQUIRE(a.ok());
  auto deferred = store->create({});
  REQUIRE(deferred.ok());
  CHECK(store->create({.length = 5}).status().code() == ErrorCode::kResourceExhausted);
  // Past the length, announced or not.
  CHECK(store->append(a->id, {.offset = 0, .content_length = 101}, body_of(std::string(101, 'a')))
            .status()
            .code() == ErrorCode::kTooLarge);
  CHECK(store->append(a->id, {.offset = 0}, body_of(std::string(150, 'a'))).status().code() ==
        ErrorCode::kTooLarge);
  CHECK(store->info(a->id)->offset == 0);
  CHECK(stored(dir, a->id).empty());
  CHECK(
      store->append(deferred->id, {.offset = 0}, body_of(std::string(1001, 'd'))).status().code() ==
      ErrorCode::kTooLarge);

  // A "full disk": the free-space reserve cannot be met.
  TempDir dir2;
  auto full = open_store(dir2, {.min_free_bytes = uint64_t(1) << 60});
  CHECK(full->create({.length = 10}).status().code() == ErrorCode::kResourceExhausted);
  auto d = full->create({});
  REQUIRE(d.ok());
  CHECK(full->append(d->id, {.offset = 0, .content_length = 4}, body_of("abcd")).status().code() ==
        ErrorCode::kResourceExhausted);
  CHECK(full->info(d->id)->offset == 0);
}

TEST_CASE("store: one append per upload at a time and others get a conflict") {
  TempDir dir;
  auto store = open_store(dir);
  auto info = store->create({.length = 20});
  REQUIRE(info.ok());
  streamlet::Status inner;
  auto outer = store->append(info->id, {.offset = 0}, [&](const up::BodySink& sink) {
    inner = store->append(info->id, {.offset = 0}, body_of("x")).status();
    return sink("0123456789", 10);
  });
  REQUIRE(outer.ok());
  CHECK(inner.code() == ErrorCode::kConflict);
  CHECK(outer->offset == 10);
}

TEST_CASE("store: state and data files are owner-only") {
  TempDir dir;
  auto store = open_store(dir);
  auto info = store->create({.length = 1});
  REQUIRE(info.ok());
  struct stat st {};
  REQUIRE(::stat((dir / "uploads" / (info->id + ".bin")).c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  REQUIRE(::stat((dir / "uploads" / (info->id + ".json")).c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
}

TEST_CASE("codec: metadata, checksum, integers and base64 parse strictly") {
  auto meta = up::parse_metadata("filename bXkgdmlkZW8ubXA0,title,empty ");
  REQUIRE(meta.ok());
  CHECK(meta->at("filename") == "my video.mp4");
  CHECK(meta->at("title").empty());
  CHECK(up::parse_metadata(up::format_metadata(*meta)).value() == *meta);
  CHECK_FALSE(up::parse_metadata("filename !!!").ok());
  CHECK_FALSE(up::parse_metadata("a YQ==,a YQ==").ok());
  CHECK_FALSE(up::parse_metadata(" ,x").ok());

  CHECK(up::parse_uint("0").value() == 0);
  CHECK(up::parse_uint("18446744073709551").value() == 18446744073709551ull);
  for (const char* bad : {"", "-1", "+1", "1.5", " 1", "abc", "99999999999999999999", "0x10"})
    CHECK_FALSE(up::parse_uint(bad).ok());

  auto sha1 = up::parse_checksum("sha1 " + up::base64_encode(std::string(20, '\x01')));
  REQUIRE(sha1.ok());
  CHECK(sha1->algorithm == up::ChecksumAlgorithm::kSha1);
  CHECK(up::parse_checksum("sha256 " + up::base64_encode(std::string(32, 'a'))).ok());
  CHECK_FALSE(up::parse_checksum("crc32 AAAA").ok());
  CHECK_FALSE(up::parse_checksum("sha1 " + up::base64_encode("short")).ok());
  CHECK_FALSE(up::parse_checksum("sha1").ok());

  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"})
    CHECK(up::base64_decode(up::base64_encode(s)).value() == s);
  CHECK(up::base64_encode("foobar") == "Zm9vYmFy");
  CHECK_FALSE(up::base64_decode("Zm9v$mFy").ok());
  CHECK(up::http_date(std::chrono::system_clock::time_point(std::chrono::seconds(784111777))) ==
        "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("store: racing creations never exceed the unfinished-upload limit") {
  TempDir dir;
  auto store = open_store(dir, {.max_concurrent_uploads = 3});
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i)
    threads.emplace_back([&] {
      auto r = store->create({.length = 10});
      (r.ok() ? created : refused)++;
    });
  for (auto& t : threads) t.join();
  CHECK(created == 3);
  CHECK(refused == 9);
}

TEST_CASE("store: a really full disk fails the append cleanly and keeps acknowledged bytes") {
  TempDir dir;
  fs::path small = dir / "small";
  fs::create_directories(small);
  // A 4 MiB filesystem of our own; mounting needs root (CI runs as root), so elsewhere
  // this case is reported as skipped.
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0)
    STREAMLET_SKIP(std::string("cannot mount a small tmpfs here (needs root): ") +
                   std::strerror(errno));
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  // No reserve and a deferred length: nothing stops the write before the disk does.
  auto store = up::UploadStore::open({.dir = small / "uploads", .min_free_bytes = 0});
  REQUIRE(store.ok());
  auto info = (*store)->create({});
  REQUIRE(info.ok());
  std::string first = random_bytes(1 << 20, 4);
  REQUIRE((*store)->append(info->id, {.offset = 0}, body_of(first)).ok());
  auto full =
      (*store)->append(info->id, {.offset = first.size()}, body_of(random_bytes(6 << 20, 5)));
  CHECK(full.status().code() == ErrorCode::kResourceExhausted);
  CHECK((*store)->info(info->id)->offset == first.size());
  CHECK(streamlet::test::read_file(small / "uploads" / (info->id + ".bin")) == first);
  // The space the failed append took is given back: a small append still fits.
  CHECK((*store)->append(info->id, {.offset = first.size()}, body_of("tail")).ok());
}

TEST_CASE("store: reopening keeps data whose state is unreadable and drops consumed parts") {
  TempDir dir;
  std::string final_id, part_id, odd_id;
  {
    auto store = open_store(dir);
    auto part = store->create({.length = 3, .partial = true});
    REQUIRE(part.ok());
    REQUIRE(store->append(part->id, {.offset = 0}, body_of("abc")).ok());
    part_id = part->id;
    auto odd = store->create({.length = 3});
    odd_id = odd->id;
  }
  fs::path uploads = dir / "uploads";
  // As if the process died after the final upload was published but before its part was
  // removed: the final's state lists the part, which is still on disk.
  auto saved_part = streamlet::test::read_file(uploads / (part_id + ".json"));
  {
    auto store = open_store(dir);
    auto joined = store->concatenate({part_id}, {});
    REQUIRE(joined.ok());
    final_id = joined->id;
  }
  streamlet::test::write_file(uploads / (part_id + ".json"), saved_part);
  streamlet::test::write_file(uploads / (part_id + ".bin"), "abc");
  streamlet::test::write_file(uploads / (odd_id + ".json"), "not json");  // unreadable state
  auto store = open_store(dir);
  CHECK(store->info(final_id).ok());
  CHECK(store->info(part_id).status().code() == ErrorCode::kNotFound);
  CHECK_FALSE(fs::exists(uploads / (part_id + ".bin")));
  CHECK(fs::exists(uploads / (odd_id + ".bin")));  // never deleted on a guess
}

namespace {
up::StoreOptions owned(up::OwnerLimits limits) {
  up::StoreOptions o;
  o.durable = false;
  o.owner_key = "owner";
  o.owner_limits = [limits](std::string_view owner) {
    return owner == "root" ? up::OwnerLimits{} : limits;  // an owner the app exempts
  };
  return o;
}
up::CreateParams of(const std::string& owner, std::optional<uint64_t> length,
                    bool partial = false) {
  up::CreateParams p;
  p.length = length;
  p.metadata = {{"owner", owner}};
  p.partial = partial;
  return p;
}
}  // namespace

TEST_CASE("store: an owner's unfinished uploads are limited apart from everyone else's") {
  TempDir dir;
  auto store = open_store(dir, owned({.max_unfinished = 2}));
  auto a = store->create(of("alice", 4));
  REQUIRE(a.ok());
  REQUIRE(store->create(of("alice", 4)).ok());
  auto third = store->create(of("alice", 4));
  REQUIRE(!third.ok());
  CHECK(third.status().code() == ErrorCode::kRateLimited);
  // The wait is until alice's first upload would expire (24 h by default), not forever.
  CHECK(third.status().retry_after() > std::chrono::hours(23));
  CHECK(third.status().retry_after() <= std::chrono::hours(24));
  CHECK(store->create(of("bob", 4)).ok());
  for (int i = 0; i < 5; ++i) CHECK(store->create(of("root", 4)).ok());
  // Finishing one gives alice room again; so does ending one.
  REQUIRE(store->append(a->id, {.offset = 0}, body_of("abcd")).ok());
  CHECK(store->create(of("alice", 4)).ok());
  CHECK(store->create(of("alice", 4)).status().code() == ErrorCode::kRateLimited);
}

TEST_CASE("store: an owner's bytes are capped over declared, deferred and finished uploads") {
  TempDir dir;
  auto store = open_store(dir, owned({.max_bytes = 100}));
  auto done = store->create(of("alice", 40));
  REQUIRE(done.ok());
  REQUIRE(store->append(done->id, {.offset = 0}, body_of(std::string(40, 'a'))).ok());
  // 40 finished + 60 declared = the quota; one byte more is refused.
  REQUIRE(store->create(of("alice", 60)).ok());
  CHECK(store->create(of("alice", 1)).status().code() == ErrorCode::kRateLimited);
  CHECK(store->create(of("bob", 100)).ok());
  // A deferred upload at the quota cannot be made, nor declared or streamed past it.
  CHECK(store->create(of("alice", std::nullopt)).status().code() == ErrorCode::kRateLimited);
  TempDir dir2;
  auto s2 = open_store(dir2, owned({.max_bytes = 100}));
  auto d = s2->create(of("carol", std::nullopt));
  REQUIRE(d.ok());
  CHECK(s2->declare_length(d->id, 101).status().code() == ErrorCode::kRateLimited);
  // Without a length the body streams until the quota, then stops: what came before the
  // quota is kept, nothing past it.
  auto streamed = s2->append(d->id, {.offset = 0}, body_of(std::string(150, 'x'), 30));
  REQUIRE(!streamed.ok());
  CHECK(streamed.status().code() == ErrorCode::kRateLimited);
  auto now = s2->info(d->id);
  REQUIRE(now.ok());
  CHECK(now->offset <= 100);
  // An announced body that does not fit is refused before anything is read.
  const uint64_t at = now->offset;
  bool read = false;
  auto announced =
      s2->append(d->id, {.offset = at, .content_length = 101 - at}, [&read](const up::BodySink&) {
        read = true;
        return true;
      });
  CHECK(announced.status().code() == ErrorCode::kRateLimited);
  CHECK(!read);
  CHECK(s2->declare_length(d->id, 100).ok());
}

TEST_CASE("store: a final upload takes only parts of its own owner, and says no more") {
  TempDir dir;
  auto store = open_store(dir, owned({}));
  auto part = store->create(of("alice", 3, /*partial=*/true));
  REQUIRE(part.ok());
  REQUIRE(store->append(part->id, {.offset = 0}, body_of("abc")).ok());
  auto unfinished = store->create(of("alice", 3, true));
  REQUIRE(unfinished.ok());
  auto stolen = store->concatenate({part->id}, {{"owner", "bob"}});
  auto unknown = store->concatenate({"0123456789abcdef0123456789abcdef"}, {{"owner", "bob"}});
  auto stolen_unfinished = store->concatenate({unfinished->id}, {{"owner", "bob"}});
  REQUIRE(!stolen.ok());
  CHECK(stolen.status().code() == unknown.status().code());
  CHECK(stolen.status().message() == "Upload-Concat: unknown part " + part->id);
  // Not "is not finished": that would tell bob the part exists.
  CHECK(stolen_unfinished.status().message() == "Upload-Concat: unknown part " + unfinished->id);
  CHECK(store->concatenate({part->id}, {}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(store->info(part->id)->offset == 3);
  auto mine = store->concatenate({part->id}, {{"owner", "alice"}});
  REQUIRE(mine.ok());
  CHECK(stored(dir, mine->id) == "abc");
}

TEST_CASE(
    "store: an upload directory written by the previous store opens with every acknowledged byte") {
  // Exactly what the store before the storage interface left in data/uploads (captured from
  // its binary): <id>.bin and <id>.json side by side, a state temp file of a crashed save,
  // and a data file whose creation was never acknowledged. Only the times are made recent.
  TempDir dir;
  fs::path uploads = dir / "uploads";
  fs::create_directories(uploads);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto times = [&](const std::string& rest) {
    return "{\"created\":" + std::to_string(now - 60) +
           ",\"expires\":" + std::to_string(now + 86340) + "," + rest;
  };
  const std::string movie = "d2d8c9853458d8e553e841427dd031bf";
  const std::string part = "fff3ac285cb530d1d1d38e798bf744dd";
  const std::string empty = "06e09722564a9d990772701fdc35fb9a";
  const std::string orphan = "0123456789abcdef0123456789abcdef";
  streamlet::test::write_file(
      uploads / (movie + ".json"),
      times("\"id\":\"" + movie +
            "\",\"length\":10,\"metadata_b64\":{\"ZmlsZW5hbWU=\":\"b2xkLm1wNA==\",\"dGl0bGU=\":"
            "\"dP8=\"},\"offset\":4,\"partial\":false,\"parts\":[]}"));
  // Four acknowledged bytes, then what a crash mid-append left past them.
  streamlet::test::write_file(uploads / (movie + ".bin"),
                              "0123"
                              "unacked");
  streamlet::test::write_file(uploads / (part + ".json"),
                              times("\"id\":\"" + part +
                                    "\",\"length\":2,\"metadata_b64\":{},\"offset\":2,"
                                    "\"partial\":true,\"parts\":[]}"));
  streamlet::test::write_file(uploads / (part + ".bin"), "ab");
  streamlet::test::write_file(uploads / (empty + ".json"),
                              times("\"id\":\"" + empty +
                                    "\",\"length\":0,\"metadata_b64\":{},\"offset\":0,"
                                    "\"partial\":false,\"parts\":[]}"));
  streamlet::test::write_file(uploads / (empty + ".bin"), "");
  streamlet::test::write_file(uploads / (movie + ".json.tmp"), "{\"created\":17961");
  streamlet::test::write_file(uploads / (orphan + ".bin"), "never acknowledged");

  auto store = open_store(dir);
  auto info = store->info(movie);
  REQUIRE(info.ok());
  CHECK(info->offset == 4);
  CHECK(info->length == 10u);
  CHECK(info->metadata.at("filename") == "old.mp4");
  CHECK(info->metadata.at("title") == "t\xff");
  CHECK(stored(dir, movie) == "0123");
  CHECK(store->info(empty)->complete());
  CHECK(store->info(part)->partial);
  CHECK_FALSE(fs::exists(uploads / (movie + ".json.tmp")));
  CHECK_FALSE(fs::exists(uploads / (orphan + ".bin")));
  CHECK(store->info(orphan).status().code() == ErrorCode::kNotFound);

  // The old uploads carry on: resumed to completion, concatenated, in the same files.
  REQUIRE(store->append(movie, {.offset = 4}, body_of("456789")).ok());
  CHECK(store->info(movie)->complete());
  CHECK(stored(dir, movie) == "0123456789");
  CHECK(store->data_key(movie).value() == movie + ".bin");
  auto joined = store->concatenate({part}, {});
  REQUIRE(joined.ok());
  CHECK(stored(dir, joined->id) == "ab");
  // And what the new store writes is what the old one read: same names, same state fields.
  auto state = nlohmann::json::parse(streamlet::test::read_file(uploads / (movie + ".json")));
  CHECK(state.at("offset") == 10);
  CHECK(state.at("metadata_b64").at("ZmlsZW5hbWU=") == "b2xkLm1wNA==");
}
