// The local storage backend on a real directory: key rules at every call, symlinks planted
// inside the root never followed, writes and publications visible whole or not at all.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"
#include "support/support.hpp"

using namespace streamlet;
using streamlet::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<storage::Storage> open_store(const fs::path& root, bool durable = false) {
  auto s = storage::open_local({.root = root, .durable = durable});
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return s.value();
}

std::vector<std::string> keys(storage::Storage& s, std::string_view prefix = "") {
  std::vector<std::string> out;
  Status st = s.list(prefix, [&](const storage::ObjectInfo& i) {
    out.push_back(i.key);
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return out;
}

std::string read_all(const storage::Reader& r) {
  std::string out(r.info().size, '\0');
  auto n = r.read_at(0, out.data(), out.size());
  REQUIRE(n.ok());
  out.resize(n.value());
  return out;
}

// Every file and directory name under `dir` (hidden ones included), relative.
std::vector<std::string> disk_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

bool has_hidden(const fs::path& dir) {
  for (const auto& e : disk_entries(dir))
    if (e.find("/.") != std::string::npos || e.starts_with(".")) return true;
  return false;
}

}  // namespace

TEST_CASE("invalid keys are refused on every call with invalid argument") {
  TempDir tmp;
  auto store = open_store(tmp.path() / "root");
  const std::vector<std::string> bad = {"../x",
                                        "/etc/passwd",
                                        "a//b",
                                        "a/./b",
                                        "a/../b",
                                        "",
                                        std::string("a\0b", 3),
                                        "a\x01"
                                        "b",
                                        "a\x7f",
                                        "a/",
                                        ".",
                                        "..",
                                        std::string(1025, 'k')};
  auto invalid = [](const Status& s) { return s.code() == ErrorCode::kInvalidArgument; };
  for (const std::string& key : bad) {
    CAPTURE(key);
    CHECK(invalid(storage::check_key(key)));
    CHECK(invalid(store->open(key).status()));
    CHECK(invalid(store->stat(key).status()));
    CHECK(invalid(store->write(key).status()));
    CHECK(invalid(store->append(key, true).status()));
    CHECK(invalid(store->append(key, false).status()));
    CHECK(invalid(store->remove(key)));
    CHECK(invalid(store->put(key, "x")));
    CHECK(invalid(store->get(key).status()));
    CHECK(invalid(store->local_file(key, tmp.path() / "scratch").status()));
    CHECK(invalid(store->publish(key + "/").status()));
    if (!key.empty() && key != "a/") {  // "" and "a/" are fine prefixes (everything, a's)
      CHECK(invalid(store->list(key, [](const storage::ObjectInfo&) { return true; })));
      CHECK(invalid(store->remove_prefix(key).status()));
    }
    auto pub = store->publish("media/v1/");
    REQUIRE(pub.ok());
    CHECK(invalid(pub.value()->create(key).status()));
    CHECK(invalid(pub.value()->open(key).status()));
  }
  CHECK(storage::check_key(std::string(1024, 'k')).ok());
  CHECK(storage::check_key("media/v1/720p/seg_00001.m4s").ok());
  // The message names the key, with control bytes escaped.
  CHECK(storage::check_key("a\x01"
                           "b")
            .message()
            .find("a\\x01b") != std::string::npos);
  // Nothing was created by any of it, not even outside the root.
  CHECK(keys(*store).empty());
  CHECK_FALSE(fs::exists(tmp.path() / "x"));
}

TEST_CASE("a symlink planted inside the root is never followed") {
  TempDir tmp;
  const fs::path outside = tmp.path() / "outside";
  fs::create_directories(outside);
  test::write_file(outside / "secret.txt", "SECRET");
  const fs::path root = tmp.path() / "root";
  auto store = open_store(root);
  REQUIRE(store->put("media/v1/real.txt", "real").ok());
  fs::create_symlink(outside / "secret.txt", root / "media/v1/link.txt");
  fs::create_directory_symlink(outside, root / "media/v1/dirlink");
  fs::create_directory_symlink(outside, root / "uploads");

  for (const std::string key :
       {"media/v1/link.txt", "media/v1/dirlink/secret.txt", "uploads/secret.txt"}) {
    CAPTURE(key);
    CHECK(store->open(key).status().code() == ErrorCode::kNotFound);
    CHECK(store->stat(key).status().code() == ErrorCode::kNotFound);
    CHECK(store->get(key).status().code() == ErrorCode::kNotFound);
    CHECK(store->append(key, false).status().code() == ErrorCode::kNotFound);
    CHECK_FALSE(store->local_file(key, tmp.path() / "scratch").ok());
    auto app = store->append(key, true);
    CHECK_FALSE(app.ok());
  }
  // Listing sees the real object only.
  CHECK(keys(*store) == std::vector<std::string>{"media/v1/real.txt"});
  CHECK(keys(*store, "uploads/").empty());
  // Writing through a linked directory fails; writing over a link replaces the link itself.
  CHECK_FALSE(store->put("media/v1/dirlink/new.txt", "x").ok());
  CHECK_FALSE(store->put("uploads/new.txt", "x").ok());
  CHECK_FALSE(fs::exists(outside / "new.txt"));
  CHECK(store->put("media/v1/link.txt", "mine").ok());
  CHECK(store->get("media/v1/link.txt").value() == "mine");
  CHECK(test::read_file(outside / "secret.txt") == "SECRET");
  // A publication through a linked directory is refused.
  CHECK_FALSE(store->publish("uploads/v2/").ok());
  // remove_prefix unlinks links, never what they point at.
  fs::create_symlink(outside / "secret.txt", root / "media/v1/link2.txt");
  CHECK(store->remove("media/v1/dirlink").ok());
  CHECK(store->remove_prefix("media/").ok());
  CHECK(store->remove_prefix("uploads/").value() == 0);
  CHECK(store->remove_prefix("").ok());
  CHECK(test::read_file(outside / "secret.txt") == "SECRET");
  CHECK(disk_entries(outside) == std::vector<std::string>{"secret.txt"});
  CHECK(keys(*store).empty());
}

TEST_CASE("a FIFO planted inside the root is not an object and does not hang") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  fs::create_directories(tmp.path() / "media");
  REQUIRE(::mkfifo((tmp.path() / "media/pipe.m4s").c_str(), 0644) == 0);
  CHECK(store->open("media/pipe.m4s").status().code() == ErrorCode::kNotFound);
  CHECK(store->stat("media/pipe.m4s").status().code() == ErrorCode::kNotFound);
  CHECK(store->append("media/pipe.m4s", false).status().code() == ErrorCode::kNotFound);
  CHECK(keys(*store).empty());
}

TEST_CASE("keys map to files under the root, byte for byte") {
  TempDir tmp;
  auto store = open_store(tmp.path(), true);
  REQUIRE(store->put("uploads/abc.bin", std::string("a\0b", 3)).ok());
  REQUIRE(store->put("media/v1/720p/seg_00001.m4s", "segment").ok());
  CHECK(test::read_file(tmp.path() / "uploads/abc.bin") == std::string("a\0b", 3));
  CHECK(test::read_file(tmp.path() / "media/v1/720p/seg_00001.m4s") == "segment");
  CHECK(disk_entries(tmp.path()) == std::vector<std::string>{"media", "media/v1", "media/v1/720p",
                                                             "media/v1/720p/seg_00001.m4s",
                                                             "uploads", "uploads/abc.bin"});
  auto info = store->stat("uploads/abc.bin");
  REQUIRE(info.ok());
  CHECK(info->size == 3);
  CHECK(info->modified_ms > 1600000000000);
  auto r = store->open("media/v1/720p/seg_00001.m4s");
  REQUIRE(r.ok());
  CHECK(r.value()->fd() >= 0);
  char buf[4];
  CHECK(::pread(r.value()->fd(), buf, 4, 3) == 4);
  CHECK(std::string(buf, 4) == "ment");
  CHECK(r.value()->read_at(7, buf, 4).value() == 0);
  CHECK(store->describe() == "local:" + fs::absolute(tmp.path()).lexically_normal().string());
  auto free = store->free_bytes();
  REQUIRE(free.has_value());
  CHECK(*free > 0);
  CHECK(store->get("uploads/abc.bin", 2).status().code() == ErrorCode::kTooLarge);
  CHECK(store->open("uploads/none").status().code() == ErrorCode::kNotFound);
  CHECK(store->remove("uploads/none").ok());
  CHECK(store->remove("uploads/abc.bin").ok());
  CHECK_FALSE(fs::exists(tmp.path() / "uploads/abc.bin"));
}

TEST_CASE("an uncommitted writer leaves nothing, not even in a listing") {
  TempDir tmp;
  auto store = open_store(tmp.path() / "root");
  {
    auto w = store->write("media/v1/poster.jpg");
    REQUIRE(w.ok());
    REQUIRE(w.value()->write("jpeg", 4).ok());
    CHECK(w.value()->bytes_written() == 4);
    // Being written: not there yet.
    CHECK(store->open("media/v1/poster.jpg").status().code() == ErrorCode::kNotFound);
    CHECK(keys(*store).empty());
  }
  CHECK(store->stat("media/v1/poster.jpg").status().code() == ErrorCode::kNotFound);
  CHECK(keys(*store).empty());
  CHECK_FALSE(has_hidden(tmp.path() / "root"));
}

TEST_CASE("commit replaces an object atomically, and an open reader keeps the old bytes") {
  TempDir tmp;
  auto store = open_store(tmp.path(), true);
  REQUIRE(store->put("media/v1/master.m3u8", "old").ok());
  auto before = store->open("media/v1/master.m3u8");
  REQUIRE(before.ok());
  auto w = store->write("media/v1/master.m3u8");
  REQUIRE(w.ok());
  REQUIRE(w.value()->write("new bytes", 9).ok());
  CHECK(store->get("media/v1/master.m3u8").value() == "old");  // not yet
  REQUIRE(w.value()->commit().ok());
  CHECK(store->get("media/v1/master.m3u8").value() == "new bytes");
  CHECK(read_all(*before.value()) == "old");
  CHECK(keys(*store) == std::vector<std::string>{"media/v1/master.m3u8"});
  // A second commit is an error, not a second object.
  CHECK_FALSE(w.value()->commit().ok());

  auto current = store->open("media/v1/master.m3u8");
  REQUIRE(current.ok());
  REQUIRE(store->remove("media/v1/master.m3u8").ok());
  CHECK(store->open("media/v1/master.m3u8").status().code() == ErrorCode::kNotFound);
  CHECK(read_all(*current.value()) == "new bytes");
  CHECK_FALSE(has_hidden(tmp.path()));
}

TEST_CASE("an appender grows an object readable at once, and truncates back") {
  TempDir tmp;
  auto store = open_store(tmp.path(), true);
  CHECK(store->append("uploads/u1.bin", false).status().code() == ErrorCode::kNotFound);
  {
    auto a = store->append("uploads/u1.bin", true);
    REQUIRE(a.ok());
    CHECK(a.value()->size() == 0);
    REQUIRE(a.value()->append("hello", 5).ok());
    CHECK(a.value()->size() == 5);
    REQUIRE(a.value()->sync().ok());
    CHECK(store->get("uploads/u1.bin").value() == "hello");
    REQUIRE(a.value()->truncate(2).ok());
    CHECK(a.value()->size() == 2);
    REQUIRE(a.value()->append("y", 1).ok());
    CHECK(a.value()->truncate(10).code() == ErrorCode::kInvalidArgument);
    CHECK(a.value()->size() == 3);
  }
  CHECK(store->get("uploads/u1.bin").value() == "hey");
  auto again = store->append("uploads/u1.bin", false);
  REQUIRE(again.ok());
  CHECK(again.value()->size() == 3);
  REQUIRE(again.value()->append("!", 1).ok());
  // create on an existing object opens it as it is.
  auto third = store->append("uploads/u1.bin", true);
  REQUIRE(third.ok());
  CHECK(third.value()->size() == 4);
  CHECK(store->get("uploads/u1.bin").value() == "hey!");
}

TEST_CASE("list is in key order with a plain string prefix, and stops when asked") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  const std::vector<std::string> all = {"a-c", "a/b",        "a/c/d",       "a0",
                                        "b",   "media/v1/x", "media/v10/y", "media/v2/z"};
  for (auto it = all.rbegin(); it != all.rend(); ++it) REQUIRE(store->put(*it, *it).ok());
  std::vector<std::string> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  CHECK(keys(*store) == sorted);
  CHECK(keys(*store, "a/") == std::vector<std::string>{"a/b", "a/c/d"});
  CHECK(keys(*store, "a") == std::vector<std::string>{"a-c", "a/b", "a/c/d", "a0"});
  CHECK(keys(*store, "media/v1") == std::vector<std::string>{"media/v1/x", "media/v10/y"});
  CHECK(keys(*store, "media/v1/") == std::vector<std::string>{"media/v1/x"});
  CHECK(keys(*store, "nothing/").empty());
  std::vector<std::string> first_two;
  CHECK(store
            ->list("",
                   [&](const storage::ObjectInfo& i) {
                     first_two.push_back(i.key);
                     return first_two.size() < 2;
                   })
            .ok());
  CHECK(first_two == std::vector<std::string>{"a-c", "a/b"});
  std::map<std::string, uint64_t> sizes;
  CHECK(store
            ->list("media/",
                   [&](const storage::ObjectInfo& i) {
                     sizes[i.key] = i.size;
                     return true;
                   })
            .ok());
  CHECK(sizes["media/v10/y"] == std::string("media/v10/y").size());

  // remove_prefix: how many, and the neighbours stay.
  CHECK(store->remove_prefix("media/v1/").value() == 1);
  CHECK(keys(*store, "media/") == std::vector<std::string>{"media/v10/y", "media/v2/z"});
  CHECK_FALSE(fs::exists(tmp.path() / "media/v1"));  // the directory went too
  CHECK(store->remove_prefix("a").value() == 4);
  CHECK(keys(*store) == std::vector<std::string>{"b", "media/v10/y", "media/v2/z"});
}

TEST_CASE("the backend's hidden temporary and staging names are never objects") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  fs::create_directories(tmp.path() / "media/.v1.streamlet-tmp-1-2/720p");
  test::write_file(tmp.path() / "media/.v1.streamlet-tmp-1-2/720p/seg.m4s", "x");
  test::write_file(tmp.path() / "media/.streamlet-0123", "x");
  for (const std::string key :
       {"media/.v1.streamlet-tmp-1-2/720p/seg.m4s", "media/.streamlet-0123"}) {
    CAPTURE(key);
    CHECK(store->open(key).status().code() == ErrorCode::kNotFound);
    CHECK(store->stat(key).status().code() == ErrorCode::kNotFound);
    CHECK(store->write(key).status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(keys(*store).empty());
  CHECK(keys(*store, "media/.v1.streamlet-tmp-1-2/").empty());
  CHECK(store->remove_prefix("media/.v1.streamlet-tmp-1-2/").value() == 0);
}

TEST_CASE("a publication replaces a whole prefix at once") {
  TempDir tmp;
  auto store = open_store(tmp.path(), true);
  REQUIRE(store->put("media/v1/old.txt", "old").ok());
  REQUIRE(store->put("media/v1/720p/seg_00001.m4s", "old segment").ok());
  REQUIRE(store->put("media/v10/other.txt", "neighbour").ok());
  auto old_reader = store->open("media/v1/old.txt");
  REQUIRE(old_reader.ok());

  auto pub = store->publish("media/v1/");
  REQUIRE(pub.ok());
  auto put = [&](const std::string& name, const std::string& bytes) {
    auto w = pub.value()->create(name);
    REQUIRE(w.ok());
    REQUIRE(w.value()->write(bytes.data(), bytes.size()).ok());
    REQUIRE(w.value()->commit().ok());
  };
  put("720p/seg_00001.m4s", "new segment");
  put("master.m3u8", "#EXTM3U");
  // Readable back inside the publication, invisible outside it.
  auto back = pub.value()->open("720p/seg_00001.m4s");
  REQUIRE(back.ok());
  CHECK(read_all(*back.value()) == "new segment");
  CHECK(pub.value()->open("missing").status().code() == ErrorCode::kNotFound);
  CHECK(keys(*store, "media/v1/") ==
        std::vector<std::string>{"media/v1/720p/seg_00001.m4s", "media/v1/old.txt"});
  CHECK(store->get("media/v1/720p/seg_00001.m4s").value() == "old segment");

  REQUIRE(pub.value()->publish({"master.m3u8"}).ok());
  CHECK(keys(*store, "media/v1/") ==
        std::vector<std::string>{"media/v1/720p/seg_00001.m4s", "media/v1/master.m3u8"});
  CHECK(store->get("media/v1/720p/seg_00001.m4s").value() == "new segment");
  CHECK(store->get("media/v10/other.txt").value() == "neighbour");
  CHECK(read_all(*old_reader.value()) == "old");  // an open reader keeps its bytes
  CHECK_FALSE(pub.value()->publish().ok());       // once
  pub.value().reset();
  CHECK_FALSE(has_hidden(tmp.path()));

  // Onto a prefix that held nothing.
  auto fresh = store->publish("media/v2/");
  REQUIRE(fresh.ok());
  auto w = fresh.value()->create("a/b.txt");
  REQUIRE(w.ok());
  REQUIRE(w.value()->commit().ok());
  REQUIRE(fresh.value()->publish().ok());
  CHECK(keys(*store, "media/v2/") == std::vector<std::string>{"media/v2/a/b.txt"});
}

TEST_CASE("an abandoned publication leaves nothing listable and the old output intact") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  REQUIRE(store->put("media/v1/master.m3u8", "old").ok());
  {
    auto pub = store->publish("media/v1/");
    REQUIRE(pub.ok());
    auto w = pub.value()->create("master.m3u8");
    REQUIRE(w.ok());
    REQUIRE(w.value()->write("new", 3).ok());
    REQUIRE(w.value()->commit().ok());
    auto half = pub.value()->create("720p/seg_00001.m4s");  // never committed
    REQUIRE(half.ok());
    REQUIRE(half.value()->write("x", 1).ok());
    // The staging directory is on disk but is not an object.
    bool staging = false;
    for (const auto& e : fs::directory_iterator(tmp.path() / "media"))
      staging |= e.path().filename().string().find(".streamlet-tmp-") != std::string::npos;
    CHECK(staging);
    CHECK(keys(*store) == std::vector<std::string>{"media/v1/master.m3u8"});
  }
  CHECK(keys(*store) == std::vector<std::string>{"media/v1/master.m3u8"});
  CHECK(store->get("media/v1/master.m3u8").value() == "old");
  CHECK_FALSE(has_hidden(tmp.path()));
  // A publication prefix names a directory.
  CHECK(store->publish("media/v1").status().code() == ErrorCode::kInvalidArgument);
}

namespace {
// A backend with no files of its own: objects in memory (for the base local_file).
class MemoryStorage : public storage::Storage {
 public:
  std::map<std::string, std::string, std::less<>> objects;

  class MemoryReader : public storage::Reader {
   public:
    MemoryReader(std::string key, std::string bytes)
        : info_{std::move(key), bytes.size(), 0}, bytes_(std::move(bytes)) {}
    const storage::ObjectInfo& info() const override { return info_; }
    Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
      if (offset >= bytes_.size()) return size_t{0};
      size_t n = std::min<size_t>(size, bytes_.size() - offset);
      std::copy_n(bytes_.data() + offset, n, data);
      return n;
    }

   private:
    storage::ObjectInfo info_;
    std::string bytes_;
  };

  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    auto it = objects.find(key);
    if (it == objects.end()) return Status(ErrorCode::kNotFound, std::string(key));
    return std::unique_ptr<storage::Reader>(new MemoryReader(it->first, it->second));
  }
  Status unsupported() { return Status(ErrorCode::kUnsupported, "not in this test"); }
  Result<storage::ObjectInfo> stat(std::string_view) override { return unsupported(); }
  Result<std::unique_ptr<storage::Writer>> write(std::string_view) override {
    return unsupported();
  }
  Result<std::unique_ptr<storage::Appender>> append(std::string_view, bool) override {
    return unsupported();
  }
  Status remove(std::string_view) override { return unsupported(); }
  Status list(std::string_view, const std::function<bool(const storage::ObjectInfo&)>&) override {
    return unsupported();
  }
  Result<uint64_t> remove_prefix(std::string_view) override { return unsupported(); }
  Result<std::unique_ptr<storage::Publication>> publish(std::string_view) override {
    return unsupported();
  }
  std::string describe() const override { return "memory:"; }
};
}  // namespace

TEST_CASE("local_file of a backend without files copies the object into scratch space") {
  TempDir tmp;
  MemoryStorage mem;
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  mem.objects["sources/v1/input.mp4"] = big;
  fs::path path;
  {
    auto file = mem.local_file("sources/v1/input.mp4", tmp.path() / "scratch");
    REQUIRE_MESSAGE(file.ok(), file.status().to_string());
    path = file->path;
    CHECK(path.parent_path() == tmp.path() / "scratch");
    CHECK(path.extension() == ".mp4");
    CHECK(test::read_file(path) == big);
    auto copy = file.value();  // the copy lives while any holder does
    file = Status(ErrorCode::kInternal, "dropped");
    CHECK(fs::exists(path));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::is_empty(tmp.path() / "scratch"));
  CHECK(mem.local_file("sources/none.mp4", tmp.path() / "scratch").status().code() ==
        ErrorCode::kNotFound);
  CHECK(mem.local_file("../x", tmp.path() / "scratch").status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(mem.get("sources/v1/input.mp4").value() == big);

  // The local backend hands out its own file: no copy.
  auto store = open_store(tmp.path() / "root");
  REQUIRE(store->put("sources/v1/input.mp4", "bytes").ok());
  auto own = store->local_file("sources/v1/input.mp4", tmp.path() / "scratch2");
  REQUIRE(own.ok());
  CHECK(own->path == fs::absolute(tmp.path() / "root/sources/v1/input.mp4").lexically_normal());
  CHECK_FALSE(fs::exists(tmp.path() / "scratch2"));
}

TEST_CASE("a publication sweeps the staging left by a dead process, never a live one's") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  // pid 2^22+1 is above Linux's pid_max ceiling: no such process can be running.
  const fs::path dead = tmp.path() / "media/.v1.streamlet-tmp-4194305-7";
  fs::create_directories(dead / "720p");
  test::write_file(dead / "720p/seg_00001.m4s", "half");
  auto live = store->publish("media/v1/");  // this process: alive
  REQUIRE(live.ok());
  CHECK_FALSE(fs::exists(dead));
  auto second = store->publish("media/v1/");
  REQUIRE(second.ok());
  size_t staging = 0;
  for (const auto& e : fs::directory_iterator(tmp.path() / "media"))
    staging += e.path().filename().string().find(".streamlet-tmp-") != std::string::npos;
  CHECK(staging == 2);  // the first, still in progress, was left alone
  REQUIRE(second.value()->publish().ok());
  live.value().reset();
  second.value().reset();
  CHECK_FALSE(has_hidden(tmp.path()));
  // remove_abandoned_work_dirs sweeps the same names.
  fs::create_directories(dead);
  CHECK(streamlet::transcode::remove_abandoned_work_dirs((tmp.path() / "media").string()) == 1);
  CHECK_FALSE(fs::exists(dead));
}
