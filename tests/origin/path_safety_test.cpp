// What an attacker sees when a request tries to leave the video directory:
// 404, an error body that names nothing, and no file for the adapter to read.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "origin/detail.hpp"
#include "origin/origin_fixture.hpp"

namespace streamlet::test {
namespace {

namespace fs = std::filesystem;
using origin::Origin;
using origin::OriginResponse;

void check_refused(const OriginResponse& r) {
  CHECK(r.status == 404);
  CHECK_FALSE(r.has_file());
  CHECK(r.length == 0);
  CHECK(r.body.find("OUTSIDE") == std::string::npos);
  CHECK(r.body.find("secret") == std::string::npos);
  CHECK(header_or_empty(r, "Cache-Control") == "no-store");
}

TEST_CASE("traversal attempts, however encoded, get 404 and no file") {
  FakeVideo v;
  Origin o(test_options());
  const char* attempts[] = {
      "../outside.m4s",
      "%2e%2e/outside.m4s",
      "%2E%2E/outside.m4s",
      "..%2foutside.m4s",
      "%2E%2E%2Foutside.m4s",
      ".%2e/outside.m4s",
      "/etc/passwd",
      "//etc/passwd",
      "720p/../../outside.m4s",
      "720p/../../../secret.txt",
      "720p/%2e%2e/%2e%2e/outside.m4s",
      "a\\..\\b",
      "..\\outside.m4s",
      "720p%5c..%5c..%5coutside.m4s",
      "%00",
      "720p/seg_00001.m4s%00.jpg",
      "720p%2fseg_00001.m4s",
      "720p//seg_00001.m4s",
      "./master.m3u8",
      "720p/./seg_00001.m4s",
      "..",
      "../",
      "",
      "%",
      "%2",
      "%zz.m4s",
      "....//outside.m4s",
      "%252e%252e/outside.m4s",    // decoded once: a literal "%2e%2e" directory
      "%c0%ae%c0%ae/outside.m4s",  // overlong UTF-8 dots are not dots
      "720p/seg_00001.m4s\n",
      "a/b/c/d/e/seg_00001.m4s",  // deeper than any package output
  };
  for (const char* path : attempts) {
    CAPTURE(path);
    check_refused(o.serve(v.store(), v.prefix(), v.id(), request(path)));
    check_refused(o.serve(v.store(), v.prefix(), v.id(), request(path, "", {}, "HEAD")));
  }
}

TEST_CASE("traversal on a private video is 404 too, before any signature check") {
  FakeVideo v;
  Origin o(test_options());
  origin::AccessPolicy priv;
  priv.is_private = true;
  check_refused(o.serve(v.store(), v.prefix(), v.id(), request("../outside.m4s"), priv));
  check_refused(o.serve(v.store(), v.prefix(), v.id(),
                        request("%2e%2e/outside.m4s", o.sign(v.id(), kNow + 60).value()), priv));
}

TEST_CASE("percent-encoding of ordinary characters is decoded once") {
  FakeVideo v;
  Origin o(test_options());
  OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_0000%31.m4s"));
  CHECK(r.status == 200);
  CHECK(received_body(r) == v.bytes("720p/seg_00001.m4s"));
}

TEST_CASE("symlinks under the root are never followed") {
  FakeVideo v;
  Origin o(test_options());
  // A segment name that points outside the root.
  fs::create_symlink(v.tmp() / "outside.m4s", v.root() / "720p" / "seg_00009.m4s");
  // A directory that points outside the root.
  fs::create_directory_symlink(v.tmp(), v.root() / "evil");
  // A relative link climbing out.
  fs::create_symlink("../../../outside.m4s", v.root() / "720p" / "rel.m4s");
  // Even one pointing inside: a link is not something the packager writes.
  fs::create_symlink(v.root() / "720p" / "seg_00001.m4s", v.root() / "720p" / "inside.m4s");
  // A loop.
  fs::create_symlink(v.root() / "loop.m4s", v.root() / "loop.m4s");
  for (const char* path :
       {"720p/seg_00009.m4s", "evil/outside.m4s", "720p/rel.m4s", "720p/inside.m4s", "loop.m4s"}) {
    CAPTURE(path);
    check_refused(o.serve(v.store(), v.prefix(), v.id(), request(path)));
  }
}

TEST_CASE("a FIFO under the root is 404 and does not hang the request") {
  FakeVideo v;
  REQUIRE(::mkfifo((v.root() / "pipe.m4s").c_str(), 0600) == 0);
  check_refused(Origin(test_options()).serve(v.store(), v.prefix(), v.id(), request("pipe.m4s")));
}

TEST_CASE("the video root itself may be a symlink: it is trusted configuration") {
  FakeVideo v;
  // The storage root is the trusted configuration now: a link to it is followed.
  const auto alias = v.tmp().parent_path() / (v.tmp().filename().string() + "-alias");
  fs::create_directory_symlink(v.tmp(), alias);
  auto store = streamlet::storage::open_local({.root = alias, .durable = false});
  REQUIRE(store.ok());
  OriginResponse r =
      Origin(test_options()).serve(**store, v.prefix(), v.id(), request("720p/seg_00001.m4s"));
  fs::remove(alias);
  CHECK(r.status == 200);
  CHECK(received_body(r) == v.bytes("720p/seg_00001.m4s"));
}

TEST_CASE("safe_relative_path splits and decodes exactly once") {
  using origin::detail::safe_relative_path;
  CHECK(safe_relative_path("master.m3u8") == std::vector<std::string>{"master.m3u8"});
  CHECK(safe_relative_path("720p/seg_00001.m4s") ==
        std::vector<std::string>{"720p", "seg_00001.m4s"});
  CHECK(safe_relative_path("my%20track/init.mp4") ==
        std::vector<std::string>{"my track", "init.mp4"});
  CHECK(safe_relative_path("%252e%252e") == std::vector<std::string>{"%2e%2e"});
  CHECK_FALSE(safe_relative_path("a/../b"));
  CHECK_FALSE(safe_relative_path("a/%2e%2e/b"));
  CHECK_FALSE(safe_relative_path("a%2Fb"));
  CHECK_FALSE(safe_relative_path("a%5Cb"));
  CHECK_FALSE(safe_relative_path("a%7f"));
  CHECK_FALSE(safe_relative_path(std::string(2000, 'a')));
}

}  // namespace
}  // namespace streamlet::test
