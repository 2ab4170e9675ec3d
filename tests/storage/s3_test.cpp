// The S3 backend's own promises, on a real Ceph RGW (fixture "rgw"): uploads resumed from
// another node and after a kill -9, nothing left behind by expiry and terminate, readable
// errors for bad URLs and credentials, no manifest from a publication that never published.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "s3/client.hpp"
#include "streamlet/s3.hpp"
#include "streamlet/upload.hpp"
#include "support/s3_support.hpp"
#include "support/support.hpp"

using namespace streamlet;
using streamlet::test::TempDir;

namespace {

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed * 7 + (i >> 12)) & 0xff);
  return s;
}

#define RGW_OPTIONS(var, prefix)                  \
  std::string why_##var;                          \
  auto var = test::rgw_options(&why_##var);       \
  if (!var) STREAMLET_SKIP(why_##var);            \
  var->key_prefix = std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + "/"

std::shared_ptr<storage::Storage> open_or_fail(const s3::S3Options& o) {
  auto s = s3::open_s3_storage(o);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return *s;
}

// Everything in the bucket under the options' prefix: objects (tails included) and unfinished
// multipart uploads.
std::pair<size_t, size_t> leftovers(const s3::S3Options& o) {
  s3::detail::Client c(o);
  size_t objects = 0;
  REQUIRE(c.list(o.key_prefix, [&](const s3::detail::ListedObject&) {
               ++objects;
               return true;
             }).ok());
  auto uploads = c.list_multipart(o.key_prefix);
  REQUIRE(uploads.ok());
  return {objects, uploads->size()};
}

Result<upload::UploadInfo> send(upload::UploadStore& s, const std::string& id, uint64_t at,
                                std::string_view bytes) {
  return s.append(id, {.offset = at},
                  [&](const upload::BodySink& sink) { return sink(bytes.data(), bytes.size()); });
}

}  // namespace

TEST_CASE("s3 url: the URL form, its errors and the credentials from the environment") {
  ::setenv("AWS_ACCESS_KEY_ID", "AK", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "SK:with/colon", 1);
  auto o = s3::parse_s3_url("s3://media-1?endpoint=http://10.0.0.5:7480&region=eu-1&path_style=1");
  REQUIRE_MESSAGE(o.ok(), o.status().to_string());
  CHECK(o->bucket == "media-1");
  CHECK(o->endpoint == "http://10.0.0.5:7480");
  CHECK(o->region == "eu-1");
  CHECK(o->path_style);
  CHECK(o->access_key == "AK");
  CHECK(o->secret_key == "SK:with/colon");
  for (std::string bad : {"http://x", "s3://?endpoint=http://h", "s3://Bad_Name?endpoint=http://h",
                          "s3://bucket", "s3://bucket?endpoint=ftp://h",
                          "s3://bucket?endpoint=http://h&colour=blue",
                          "s3://bucket?endpoint=http://h&path_style=yes"}) {
    CAPTURE(bad);
    auto r = s3::parse_s3_url(bad);
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
    CHECK(r.status().message().find("s3://BUCKET?endpoint=") != std::string::npos);
  }
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto none = s3::parse_s3_url("s3://bucket?endpoint=http://h:1");
  CHECK(none.status().code() == ErrorCode::kInvalidArgument);
  CHECK(none.status().message().find("AWS_SECRET_ACCESS_KEY") != std::string::npos);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  s3::S3Options small = *o;
  small.part_size = 1 << 20;
  CHECK(s3::open_s3_storage(small).status().code() == ErrorCode::kInvalidArgument);
}

TEST_SUITE("s3") {

TEST_CASE("s3: wrong credentials are permission denied with the server's reason") {
  RGW_OPTIONS(o, "creds");
  open_or_fail(*o);  // the bucket exists
  o->secret_key = "not-the-secret";
  auto s = s3::open_s3_storage(*o);
  CHECK(s.status().code() == ErrorCode::kPermissionDenied);
  CHECK(s.status().message().find("SignatureDoesNotMatch") != std::string::npos);
  o->access_key = "NOSUCHKEY";
  s = s3::open_s3_storage(*o);
  CHECK(s.status().code() == ErrorCode::kPermissionDenied);
  CHECK(s.status().message().find("InvalidAccessKeyId") != std::string::npos);
  o->create_bucket = false;
  o->bucket = "no-such-bucket-here";
  auto r = test::rgw_options(&why_o);
  r->bucket = "no-such-bucket-here";
  r->create_bucket = false;
  CHECK(s3::open_s3_storage(*r).status().code() == ErrorCode::kNotFound);
  r->endpoint = "http://127.0.0.1:1";
  CHECK(s3::open_s3_storage(*r).status().code() == ErrorCode::kIo);
}

TEST_CASE("s3: an upload in 1 MiB chunks resumes through another node's storage") {
  RGW_OPTIONS(o, "resume");
  const std::string data = pattern(13 << 20, 5);
  std::string id;
  {
    auto node_a = open_or_fail(*o);
    auto store = upload::UploadStore::open({.storage = node_a, .prefix = "uploads/"});
    REQUIRE_MESSAGE(store.ok(), store.status().to_string());
    auto info = (*store)->create({.length = data.size()});
    REQUIRE(info.ok());
    id = info->id;
    for (size_t at = 0; at < (6u << 20); at += 1 << 20) {
      auto r = send(**store, id, at, std::string_view(data).substr(at, 1 << 20));
      REQUIRE_MESSAGE(r.ok(), r.status().to_string());
      CHECK(r->offset == at + (1 << 20));
    }
  }
  auto node_b = open_or_fail(*o);
  auto store = upload::UploadStore::open({.storage = node_b, .prefix = "uploads/"});
  REQUIRE_MESSAGE(store.ok(), store.status().to_string());
  REQUIRE((*store)->info(id).value().offset == 6u << 20);
  for (size_t at = 6u << 20; at < data.size(); at += 1 << 20) {
    auto r = send(**store, id, at, std::string_view(data).substr(at, std::min<size_t>(1 << 20, data.size() - at)));
    REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  }
  auto key = (*store)->data_key(id);
  REQUIRE(key.ok());
  CHECK(node_b->get(*key, 64 << 20).value() == data);
  CHECK(leftovers(*o).second == 0);  // completed: no multipart upload left
}

TEST_CASE("s3: an acknowledged offset survives kill -9 of the process that appended") {
  RGW_OPTIONS(o, "kill");
  const std::string data = pattern(11 << 20, 6);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto s = s3::open_s3_storage(*o);
    if (!s.ok()) ::_exit(2);
    auto a = (*s)->append("up/x.bin", true);
    if (!a.ok()) ::_exit(3);
    for (size_t at = 0; at < (6u << 20); at += 1 << 20)
      if (!(*a)->append(data.data() + at, 1 << 20).ok()) ::_exit(4);
    if (!(*a)->sync().ok()) ::_exit(5);
    (void)!::write(ready[1], "s", 1);  // "acknowledged"
    // More bytes, never synced, some of them in a part already.
    (void)(*a)->append(data.data() + (6 << 20), 5 << 20);
    (void)!::write(ready[1], "m", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c[2] = {0, 0};
  REQUIRE(::read(ready[0], &c[0], 1) == 1);
  REQUIRE(::read(ready[0], &c[1], 1) == 1);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  auto s = open_or_fail(*o);
  auto a = s->append("up/x.bin", false);
  REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  REQUIRE((*a)->size() == 6u << 20);
  REQUIRE((*a)->append(data.data() + (6 << 20), data.size() - (6 << 20)).ok());
  REQUIRE((*a)->finish().ok());
  CHECK(s->get("up/x.bin", 64 << 20).value() == data);
  CHECK(leftovers(*o) == std::pair<size_t, size_t>{1, 0});
}

TEST_CASE("s3: expiry and terminate leave no multipart upload and no tail behind") {
  RGW_OPTIONS(o, "expire");
  auto s = open_or_fail(*o);
  const std::string data = pattern(7 << 20, 7);
  auto store = upload::UploadStore::open(
      {.storage = s, .prefix = "uploads/", .expiration = std::chrono::seconds(0)});
  REQUIRE(store.ok());
  auto keep = upload::UploadStore::open({.storage = s, .prefix = "other/"});
  REQUIRE(keep.ok());
  auto a = (*store)->create({.length = uint64_t(20 << 20)});
  auto b = (*keep)->create({.length = uint64_t(20 << 20)});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  // Expiration 0: `a` is expired at once. `b` gets a part's worth first, then is terminated.
  REQUIRE(send(**keep, b->id, 0, data).ok());
  CHECK(leftovers(*o).second == 1);  // one part uploaded
  REQUIRE((*keep)->terminate(b->id).ok());
  CHECK((*store)->expire_idle() == 1);
  CHECK(leftovers(*o) == std::pair<size_t, size_t>{0, 0});
}

TEST_CASE("s3: a publication that dies before publish leaves no manifest visible") {
  RGW_OPTIONS(o, "pub");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto s = s3::open_s3_storage(*o);
    if (!s.ok()) ::_exit(2);
    auto p = (*s)->publish("media/v1/");
    if (!p.ok()) ::_exit(3);
    for (std::string name : {"720p/seg_00001.m4s", "master.m3u8"}) {
      auto w = (*p)->create(name);
      if (!w.ok() || !(*w)->write("x", 1).ok() || !(*w)->commit().ok()) ::_exit(4);
    }
    ::kill(::getpid(), SIGKILL);  // no destructor runs
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  auto s = open_or_fail(*o);
  CHECK(s->stat("media/v1/master.m3u8").status().code() == ErrorCode::kNotFound);
  size_t listed = 0;
  REQUIRE(s->list("", [&](const storage::ObjectInfo&) { return ++listed, true; }).ok());
  CHECK(listed == 0);
}

}  // TEST_SUITE
