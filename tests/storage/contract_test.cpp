// What every storage backend promises (include/streamlet/storage.hpp), run on local disk and,
// registered a second time as "storage-s3:", on a real Ceph RGW through the S3 backend.
#include <algorithm>
#include <map>

#include "streamlet/storage.hpp"
#include "support/s3_support.hpp"
#include "support/support.hpp"

using namespace streamlet;
using streamlet::test::TempDir;

namespace {

#define OPEN_STORE(var, tmp)                                                \
  std::string why_##var;                                                    \
  auto var = test::test_storage((tmp).path().string(), &why_##var);         \
  if (!var) STREAMLET_SKIP(why_##var)

std::vector<std::string> keys(storage::Storage& s, std::string_view prefix = "") {
  std::vector<std::string> out;
  Status st = s.list(prefix, [&](const storage::ObjectInfo& i) {
    out.push_back(i.key);
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return out;
}

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed * 7 + (i >> 12)) & 0xff);
  return s;
}

}  // namespace

TEST_SUITE("contract") {

TEST_CASE("contract: put, get, stat, ranged reads and remove") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  CHECK(store->open("a/none").status().code() == ErrorCode::kNotFound);
  CHECK(store->stat("a/none").status().code() == ErrorCode::kNotFound);
  const std::string body = pattern(300000, 1);
  REQUIRE(store->put("a/obj.bin", body).ok());
  auto st = store->stat("a/obj.bin");
  REQUIRE_MESSAGE(st.ok(), st.status().to_string());
  CHECK(st->size == body.size());
  CHECK(st->modified_ms > 0);
  auto r = store->open("a/obj.bin");
  REQUIRE(r.ok());
  CHECK((*r)->info().size == body.size());
  char buf[1000];
  auto n = (*r)->read_at(123456, buf, sizeof buf);
  REQUIRE_MESSAGE(n.ok(), n.status().to_string());
  CHECK(*n == sizeof buf);
  CHECK(std::string(buf, *n) == body.substr(123456, 1000));
  n = (*r)->read_at(body.size() - 10, buf, sizeof buf);  // short only at the end
  REQUIRE(n.ok());
  CHECK(*n == 10);
  CHECK((*r)->read_at(body.size(), buf, sizeof buf).value() == 0);
  CHECK(store->get("a/obj.bin").value() == body);
  REQUIRE(store->remove("a/obj.bin").ok());
  CHECK(store->remove("a/obj.bin").ok());  // nothing there is fine
  CHECK(store->stat("a/obj.bin").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("contract: a writer is invisible until commit, and a big one is whole after it") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  const std::string big = pattern(13 << 20, 2);  // several S3 parts
  {
    auto w = store->write("v/big.bin");
    REQUIRE(w.ok());
    for (size_t at = 0; at < big.size(); at += 1 << 20)
      REQUIRE((*w)->write(big.data() + at, std::min<size_t>(1 << 20, big.size() - at)).ok());
    CHECK(store->stat("v/big.bin").status().code() == ErrorCode::kNotFound);
    CHECK(keys(*store, "v/").empty());
    Status c = (*w)->commit();
    REQUIRE_MESSAGE(c.ok(), c.to_string());
    CHECK((*w)->bytes_written() == big.size());
  }
  CHECK(store->get("v/big.bin", 64 << 20).value() == big);
  {
    auto w = store->write("v/dropped.bin");
    REQUIRE(w.ok());
    REQUIRE((*w)->write(big.data(), big.size()).ok());
  }  // destroyed uncommitted
  CHECK(keys(*store, "v/") == std::vector<std::string>{"v/big.bin"});
}

TEST_CASE("contract: keys with spaces, unicode and '+' round-trip and list as themselves") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  const std::vector<std::string> names = {"k/a b+c.txt", "k/caf\xc3\xa9 \xe2\x9c\x93.bin",
                                          "k/p%20q&r=s?t", "k/~tilde*star'(x)"};
  for (const auto& k : names) {
    CAPTURE(k);
    Status st = store->put(k, k);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    CHECK(store->get(k).value() == k);
    CHECK(store->stat(k).value().size == k.size());
  }
  auto sorted = names;
  std::sort(sorted.begin(), sorted.end());
  CHECK(keys(*store, "k/") == sorted);
  CHECK(store->remove_prefix("k/").value() == names.size());
  CHECK(keys(*store, "k/").empty());
}

TEST_CASE("contract: list is in key order with a plain prefix, stops when asked, remove_prefix counts") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  const std::vector<std::string> all = {"a-c", "a/b", "a/c/d", "a0", "b", "media/v1/x",
                                        "media/v10/y", "media/v2/z"};
  for (auto it = all.rbegin(); it != all.rend(); ++it) REQUIRE(store->put(*it, *it).ok());
  CHECK(keys(*store) == all);
  CHECK(keys(*store, "a/") == std::vector<std::string>{"a/b", "a/c/d"});
  CHECK(keys(*store, "media/v1") == std::vector<std::string>{"media/v1/x", "media/v10/y"});
  std::vector<std::string> first_two;
  CHECK(store->list("", [&](const storage::ObjectInfo& i) {
                 first_two.push_back(i.key);
                 return first_two.size() < 2;
               }).ok());
  CHECK(first_two == std::vector<std::string>{"a-c", "a/b"});
  CHECK(store->remove_prefix("media/v1/").value() == 1);
  CHECK(keys(*store, "media/") == std::vector<std::string>{"media/v10/y", "media/v2/z"});
  CHECK(store->remove_prefix("a").value() == 4);
  CHECK(keys(*store) == std::vector<std::string>{"b", "media/v10/y", "media/v2/z"});
}

TEST_CASE("contract: an appender grows, syncs, truncates back, resumes and finishes") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  CHECK(store->append("uploads/u1.bin", false).status().code() == ErrorCode::kNotFound);
  const std::string data = pattern(12 << 20, 3);  // two parts and a tail on S3 (5 MiB parts)
  {
    auto a = store->append("uploads/u1.bin", true);
    REQUIRE_MESSAGE(a.ok(), a.status().to_string());
    CHECK((*a)->size() == 0);
    for (size_t at = 0; at < 7 << 20; at += 1 << 20) REQUIRE((*a)->append(data.data() + at, 1 << 20).ok());
    REQUIRE((*a)->sync().ok());
    CHECK((*a)->size() == 7u << 20);
    REQUIRE((*a)->append("junk", 4).ok());
    REQUIRE((*a)->truncate(7 << 20).ok());
    CHECK((*a)->size() == 7u << 20);
    REQUIRE((*a)->sync().ok());
  }
  CHECK(store->stat("uploads/u1.bin").value().size == 7u << 20);
  {
    // Reopened (another node, a restart): the size is what was synced.
    auto a = store->append("uploads/u1.bin", false);
    REQUIRE_MESSAGE(a.ok(), a.status().to_string());
    REQUIRE((*a)->size() == 7u << 20);
    REQUIRE((*a)->append(data.data() + (7 << 20), data.size() - (7 << 20)).ok());
    REQUIRE((*a)->sync().ok());
    Status f = (*a)->finish();
    REQUIRE_MESSAGE(f.ok(), f.to_string());
    CHECK((*a)->finish().ok());
  }
  CHECK(store->get("uploads/u1.bin", 64 << 20).value() == data);
  CHECK(keys(*store, "uploads/") == std::vector<std::string>{"uploads/u1.bin"});
  auto again = store->append("uploads/u1.bin", true);  // create on an existing object opens it
  REQUIRE(again.ok());
  CHECK((*again)->size() == data.size());
  REQUIRE(store->remove("uploads/u1.bin").ok());
  CHECK(keys(*store, "uploads/").empty());
}

TEST_CASE("contract: a small appender (under one part) finishes into a plain object") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  {
    auto a = store->append("uploads/s.bin", true);
    REQUIRE(a.ok());
    REQUIRE((*a)->append("hello", 5).ok());
    REQUIRE((*a)->sync().ok());
    REQUIRE((*a)->truncate(2).ok());
    REQUIRE((*a)->append("y!", 2).ok());
    REQUIRE((*a)->sync().ok());
  }
  CHECK(store->stat("uploads/s.bin").value().size == 4);
  CHECK(keys(*store, "uploads/") == std::vector<std::string>{"uploads/s.bin"});
  {
    auto a = store->append("uploads/s.bin", false);
    REQUIRE(a.ok());
    REQUIRE((*a)->finish().ok());
  }
  CHECK(store->get("uploads/s.bin").value() == "hey!");
}

TEST_CASE("contract: a publication shows nothing until publish, then replaces the prefix") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  REQUIRE(store->put("media/v1/old.txt", "old").ok());
  REQUIRE(store->put("media/v1/master.m3u8", "old manifest").ok());
  REQUIRE(store->put("media/v10/other.txt", "neighbour").ok());
  {
    auto p = store->publish("media/v1/");
    REQUIRE(p.ok());
    for (std::string name : {"720p/seg_00001.m4s", "master.m3u8"}) {
      auto w = (*p)->create(name);
      REQUIRE(w.ok());
      REQUIRE((*w)->write(name.data(), name.size()).ok());
      REQUIRE((*w)->commit().ok());
    }
    CHECK((*p)->open("master.m3u8").ok());
    CHECK(keys(*store, "media/v1/") ==
          std::vector<std::string>{"media/v1/master.m3u8", "media/v1/old.txt"});
    CHECK(store->get("media/v1/master.m3u8").value() == "old manifest");
    Status st = (*p)->publish({"master.m3u8"});
    REQUIRE_MESSAGE(st.ok(), st.to_string());
  }
  CHECK(keys(*store, "media/v1/") ==
        std::vector<std::string>{"media/v1/720p/seg_00001.m4s", "media/v1/master.m3u8"});
  CHECK(store->get("media/v1/master.m3u8").value() == "master.m3u8");
  CHECK(store->get("media/v10/other.txt").value() == "neighbour");
  {
    auto p = store->publish("media/v2/");
    REQUIRE(p.ok());
    auto w = (*p)->create("master.m3u8");
    REQUIRE((*w)->write("x", 1).ok());
    REQUIRE((*w)->commit().ok());
  }  // abandoned
  CHECK(keys(*store, "media/v2/").empty());
  CHECK(keys(*store) == std::vector<std::string>{"media/v1/720p/seg_00001.m4s",
                                                 "media/v1/master.m3u8", "media/v10/other.txt"});
}

TEST_CASE("contract: a progressive publication shows what it reveals, then publishes the rest") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  REQUIRE(store->put("media/v1/old.txt", "older output").ok());
  auto commit = [](storage::Publication& p, const std::string& name, const std::string& bytes) {
    auto w = p.create(name);
    REQUIRE(w.ok());
    REQUIRE((*w)->write(bytes.data(), bytes.size()).ok());
    REQUIRE((*w)->commit().ok());
  };
  {
    auto p = store->publish("media/v1/");
    REQUIRE(p.ok());
    commit(**p, "720p/seg_00001.m4s", "segment one");
    commit(**p, "720p/index.m3u8", "event: 1");
    CHECK(keys(*store, "media/v1/") == std::vector<std::string>{"media/v1/old.txt"});
    REQUIRE((*p)->reveal("720p/seg_00001.m4s").ok());
    REQUIRE((*p)->reveal("720p/index.m3u8").ok());
    // The older output is gone at the first reveal; what was revealed reads back.
    CHECK(keys(*store, "media/v1/") ==
          std::vector<std::string>{"media/v1/720p/index.m3u8", "media/v1/720p/seg_00001.m4s"});
    CHECK(store->get("media/v1/720p/index.m3u8").value() == "event: 1");
    commit(**p, "720p/seg_00002.m4s", "segment two");
    CHECK(store->stat("media/v1/720p/seg_00002.m4s").status().code() == ErrorCode::kNotFound);
    // A reader holding the old playlist keeps it while the new one replaces it.
    auto before = store->open("media/v1/720p/index.m3u8");
    REQUIRE(before.ok());
    commit(**p, "720p/index.m3u8", "event: 1 2");
    REQUIRE((*p)->reveal("720p/seg_00002.m4s").ok());
    REQUIRE((*p)->reveal("720p/index.m3u8").ok());
    CHECK(store->get("media/v1/720p/index.m3u8").value() == "event: 1 2");
    // It reads the bytes it was opened on, or (a bucket without versions: S3's If-Match)
    // says they were replaced; never the new bytes under the old size.
    char buf[16] = {};
    auto n = (*before)->read_at(0, buf, sizeof buf);
    if (n.ok())
      CHECK(std::string(buf, *n) == "event: 1");
    else
      CHECK_MESSAGE(n.status().message().find("replaced while open") != std::string::npos,
                    n.status().to_string());
    CHECK((*p)->reveal("nothing/here.m4s").code() == ErrorCode::kNotFound);
    commit(**p, "720p/index.m3u8", "vod: 1 2");
    commit(**p, "summary.json", "{}");
    CHECK(store->get("media/v1/720p/index.m3u8").value() == "event: 1 2");
    Status st = (*p)->publish({"720p/index.m3u8", "summary.json"});
    REQUIRE_MESSAGE(st.ok(), st.to_string());
  }
  CHECK(keys(*store, "media/v1/") ==
        std::vector<std::string>{"media/v1/720p/index.m3u8", "media/v1/720p/seg_00001.m4s",
                                 "media/v1/720p/seg_00002.m4s", "media/v1/summary.json"});
  CHECK(store->get("media/v1/720p/index.m3u8").value() == "vod: 1 2");
  CHECK(store->get("media/v1/720p/seg_00002.m4s").value() == "segment two");
}

TEST_CASE("contract: a progressive publication abandoned after a reveal withdraws it all") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  REQUIRE(store->put("media/v10/other.txt", "neighbour").ok());
  {
    auto p = store->publish("media/v1/");
    REQUIRE(p.ok());
    for (std::string name : {"720p/seg_00001.m4s", "master.m3u8"}) {
      auto w = (*p)->create(name);
      REQUIRE(w.ok());
      REQUIRE((*w)->write(name.data(), name.size()).ok());
      REQUIRE((*w)->commit().ok());
      REQUIRE((*p)->reveal(name).ok());
    }
    CHECK(store->get("media/v1/master.m3u8").value() == "master.m3u8");
  }  // a failed transcode: never published
  CHECK(store->stat("media/v1/master.m3u8").status().code() == ErrorCode::kNotFound);
  CHECK(keys(*store) == std::vector<std::string>{"media/v10/other.txt"});
}

TEST_CASE("contract: local_file gives the object's bytes as a file") {
  TempDir tmp;
  OPEN_STORE(store, tmp);
  const std::string body = pattern(3 << 20, 4);
  REQUIRE(store->put("sources/v.mp4", body).ok());
  auto f = store->local_file("sources/v.mp4", tmp / "scratch");
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  CHECK(test::read_file(f->path) == body);
}

}  // TEST_SUITE
