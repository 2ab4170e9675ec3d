// The request parsers alone, against the RFC 9110 rules they implement.
#include <doctest/doctest.h>

#include <string>

#include "origin/detail.hpp"
#include "streamlet/origin.hpp"

namespace streamlet::test {
namespace {

using namespace origin::detail;

TEST_CASE("parse_range follows RFC 9110 14.1.2 for one range") {
  auto sat = [](const char* h, uint64_t size, uint64_t first, uint64_t last) {
    CAPTURE(h);
    RangeDecision d = parse_range(h, size);
    REQUIRE(d.kind == RangeKind::kSatisfiable);
    CHECK(d.range.first == first);
    CHECK(d.range.last == last);
  };
  sat("bytes=0-0", 10, 0, 0);
  sat("bytes=0-", 10, 0, 9);
  sat("bytes=9-", 10, 9, 9);
  sat("bytes=3-100", 10, 3, 9);
  sat("bytes=-1", 10, 9, 9);
  sat("bytes=-10", 10, 0, 9);
  sat("bytes=-11", 10, 0, 9);
  sat("bytes=18446744073709551614-", 18446744073709551615ull, 18446744073709551614ull,
      18446744073709551614ull);

  for (const char* h : {"bytes=10-", "bytes=10-20", "bytes=-0"}) {
    CAPTURE(h);
    CHECK(parse_range(h, 10).kind == RangeKind::kUnsatisfiable);
  }
  CHECK(parse_range("bytes=0-", 0).kind == RangeKind::kUnsatisfiable);
  CHECK(parse_range("bytes=-5", 0).kind == RangeKind::kUnsatisfiable);

  for (const char* h :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-4", "bytes=+1-2", "bytes=0-1,3-4",
        "bits=0-1", "bytes=0x1-2", "bytes=99999999999999999999-", "bytes=1 2-3"}) {
    CAPTURE(h);
    CHECK(parse_range(h, 10).kind == RangeKind::kIgnore);
  }
}

TEST_CASE("none_match uses the weak comparison and understands lists and *") {
  const std::string etag = "\"abc-1\"";
  CHECK(none_match("\"abc-1\"", etag));
  CHECK(none_match("W/\"abc-1\"", etag));
  CHECK(none_match("\"x\", W/\"abc-1\" ,\"y\"", etag));
  CHECK(none_match(" * ", etag));
  CHECK_FALSE(none_match("\"abc\"", etag));
  CHECK_FALSE(none_match("abc-1", etag));  // unquoted is not the same tag
  CHECK_FALSE(none_match("", etag));
  CHECK_FALSE(none_match(",,", etag));
}

TEST_CASE("HTTP dates round-trip as IMF-fixdate") {
  CHECK(http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(parse_http_date(http_date(1700000000)) == 1700000000);
  CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
  CHECK_FALSE(parse_http_date(""));
}


TEST_CASE("append_query leaves absolute URIs alone and keeps fragments last") {
  CHECK(append_query("seg.m4s", "t=1") == "seg.m4s?t=1");
  CHECK(append_query("a/seg.m4s?x=2", "t=1") == "a/seg.m4s?x=2&t=1");
  CHECK(append_query("seg.m4s?", "t=1") == "seg.m4s?t=1");
  CHECK(append_query("seg.m4s#f", "t=1") == "seg.m4s?t=1#f");
  CHECK(append_query("a:b/c", "t=1") == "a:b/c");
  CHECK(append_query("dir/a:b", "t=1") == "dir/a:b?t=1");  // ':' after '/' is not a scheme
  CHECK(append_query("data:abc", "t=1") == "data:abc");
  CHECK(append_query("/root.m4s", "t=1") == "/root.m4s");
  CHECK(append_query("", "t=1") == "");
}

TEST_CASE("content_type_for serves only player files") {
  CHECK(origin::content_type_for("a.m3u8") == "application/vnd.apple.mpegurl");
  CHECK(origin::content_type_for("a.mpd") == "application/dash+xml");
  CHECK(origin::content_type_for("init.mp4") == "video/mp4");
  CHECK(origin::content_type_for("seg_00001.m4s") == "video/iso.segment");
  CHECK(origin::content_type_for("poster.jpg") == "image/jpeg");
  CHECK(origin::content_type_for("en.vtt").starts_with("text/vtt"));
  CHECK(origin::content_type_for("summary.json").empty());
  CHECK(origin::content_type_for("source.mov").empty());
  CHECK(origin::content_type_for("SEG.M4S").empty());
  CHECK(origin::content_type_for(".m4s").empty());
}

}  // namespace
}  // namespace streamlet::test
