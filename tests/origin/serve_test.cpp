// What a player sees from a public video: content types, HEAD, byte ranges,
// conditional requests, cache headers, CORS and methods.
#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "origin/origin_fixture.hpp"

namespace streamlet::test {
namespace {

using origin::AccessPolicy;
using origin::Origin;
using origin::OriginResponse;

TEST_CASE("each file a player needs is served with its content type and exact bytes") {
  FakeVideo v;
  Origin o(test_options());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"master.m3u8", "application/vnd.apple.mpegurl"},
      {"720p/index.m3u8", "application/vnd.apple.mpegurl"},
      {"720p/iframes.m3u8", "application/vnd.apple.mpegurl"},
      {"manifest.mpd", "application/dash+xml"},
      {"720p/init.mp4", "video/mp4"},
      {"720p/seg_00001.m4s", "video/iso.segment"},
      {"audio/seg_00003.m4s", "video/iso.segment"},
      {"poster.jpg", "image/jpeg"},
  };
  for (const auto& [path, type] : cases) {
    CAPTURE(path);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path));
    CHECK(r.status == 200);
    CHECK(header_or_empty(r, "Content-Type") == type);
    CHECK(header_or_empty(r, "Content-Length") == std::to_string(v.bytes(path).size()));
    CHECK(header_or_empty(r, "Accept-Ranges") == "bytes");
    CHECK(header_or_empty(r, "X-Content-Type-Options") == "nosniff");
    // Public files are streamed from disk, not copied into memory.
    CHECK(r.has_file());
    CHECK(r.body.empty());
    CHECK(received_body(r) == v.bytes(path));
  }
}

TEST_CASE("small files come back in the body, with the same bytes and headers as streamed ones") {
  FakeVideo v;
  origin::OriginOptions inlined = test_options();
  inlined.inline_file_bytes = 1000;
  Origin small(inlined), streamed(test_options());
  for (const char* path : {"master.m3u8", "720p/index.m3u8", "720p/seg_00001.m4s"}) {
    for (const char* range : {"", "bytes=5-104", "bytes=-900", "bytes=0-"}) {
      CAPTURE(path);
      CAPTURE(range);
      std::map<std::string, std::string> h;
      if (*range) h["range"] = range;
      OriginResponse a = small.serve(v.store(), v.prefix(), v.id(), request(path, "", h));
      OriginResponse b = streamed.serve(v.store(), v.prefix(), v.id(), request(path, "", h));
      REQUIRE(b.has_file());
      CHECK(a.status == b.status);
      CHECK(a.headers == b.headers);
      CHECK(received_body(a) == received_body(b));
      // Only ranges within the limit are read into memory (the segment is 3000 bytes).
      CHECK(a.has_file() == (b.length > 1000));
    }
  }
  OriginResponse head = small.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", "", {}, "HEAD"));
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK_FALSE(head.has_file());
}

TEST_CASE("subtitles are served as text/vtt") {
  FakeVideo v;
  v.put("subs/en.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n");
  OriginResponse r = Origin(test_options()).serve(v.store(), v.prefix(), v.id(), request("subs/en.vtt"));
  CHECK(r.status == 200);
  CHECK(header_or_empty(r, "Content-Type").starts_with("text/vtt"));
  CHECK(received_body(r) == v.bytes("subs/en.vtt"));
}

TEST_CASE("files a player does not need are 404: unknown types, summary.json, hidden files") {
  FakeVideo v;
  v.put("notes.txt", "x");
  Origin o(test_options());
  for (const char* path : {"summary.json", ".hidden.m4s", "notes.txt", "720p", "720p/",
                           "missing.m3u8", "720p/seg_00099.m4s", "m4s", ".m4s"}) {
    CAPTURE(path);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path));
    CHECK(r.status == 404);
    CHECK_FALSE(r.has_file());
    CHECK(header_or_empty(r, "Content-Type") == "application/json");
    CHECK(header_or_empty(r, "Cache-Control") == "no-store");
    CHECK(nlohmann::json::parse(r.body).at("error") == "not found");
    CHECK(r.body.find("secret-name") == std::string::npos);
  }
}

TEST_CASE("a video directory that does not exist is 404") {
  FakeVideo v;
  OriginResponse r =
      Origin(test_options()).serve(v.store(), "videos/nope/", "nope", request("master.m3u8"));
  CHECK(r.status == 404);
  CHECK_FALSE(r.has_file());
}

TEST_CASE("HEAD has the GET headers and no body") {
  FakeVideo v;
  Origin o(test_options());
  for (const char* path : {"720p/seg_00002.m4s", "master.m3u8", "summary.json"}) {
    CAPTURE(path);
    OriginResponse get = o.serve(v.store(), v.prefix(), v.id(), request(path));
    OriginResponse head = o.serve(v.store(), v.prefix(), v.id(), request(path, "", {}, "HEAD"));
    CHECK(head.status == get.status);
    CHECK(head.headers == get.headers);
    CHECK(head.body.empty());
    CHECK_FALSE(head.has_file());
  }
  OriginResponse ranged = o.serve(
      v.store(), v.prefix(), v.id(), request("720p/seg_00001.m4s", "", {{"range", "bytes=10-19"}}, "HEAD"));
  CHECK(ranged.status == 206);
  CHECK(header_or_empty(ranged, "Content-Length") == "10");
  CHECK_FALSE(ranged.has_file());
}

TEST_CASE("Range: a single byte range gets 206 with exactly those bytes") {
  FakeVideo v;
  Origin o(test_options());
  const std::string path = "720p/seg_00001.m4s";
  const std::string all = v.bytes(path);  // 3000 bytes
  REQUIRE(all.size() == 3000);
  struct Case {
    const char* header;
    uint64_t first;
    uint64_t last;
  };
  for (const Case& c :
       {Case{"bytes=0-99", 0, 99}, Case{"bytes=100-", 100, 2999}, Case{"bytes=-500", 2500, 2999},
        Case{"bytes=2999-2999", 2999, 2999}, Case{"bytes=2000-999999", 2000, 2999},
        Case{"bytes=-5000", 0, 2999}, Case{"bytes = 5 - 9", 5, 9}, Case{"Bytes=0-0", 0, 0}}) {
    CAPTURE(c.header);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"range", c.header}}));
    REQUIRE(r.status == 206);
    CHECK(header_or_empty(r, "Content-Range") ==
          "bytes " + std::to_string(c.first) + "-" + std::to_string(c.last) + "/3000");
    CHECK(header_or_empty(r, "Content-Length") == std::to_string(c.last - c.first + 1));
    CHECK(r.offset == c.first);
    CHECK(received_body(r) == all.substr(c.first, c.last - c.first + 1));
  }
}

TEST_CASE("Range: past the end is 416 with the size, and malformed or multiple ranges get 200") {
  FakeVideo v;
  Origin o(test_options());
  const std::string path = "720p/seg_00001.m4s";
  for (const char* h : {"bytes=3000-", "bytes=5000-6000", "bytes=-0"}) {
    CAPTURE(h);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"range", h}}));
    CHECK(r.status == 416);
    CHECK(header_or_empty(r, "Content-Range") == "bytes */3000");
    CHECK_FALSE(r.has_file());
  }
  for (const char* h : {"bytes=abc", "bytes=10-5", "items=0-10", "bytes=", "bytes=--5",
                        "bytes=0-10,20-30", "0-10", "bytes=1-2-3", "bytes=-"}) {
    CAPTURE(h);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"range", h}}));
    CHECK(r.status == 200);
    CHECK(header_or_empty(r, "Content-Range").empty());
    CHECK(received_body(r) == v.bytes(path));
  }
}

TEST_CASE("If-Range: a stale validator turns the range into a full 200") {
  FakeVideo v;
  Origin o(test_options());
  const std::string path = "720p/seg_00002.m4s";
  OriginResponse first = o.serve(v.store(), v.prefix(), v.id(), request(path));
  const std::string etag = header_or_empty(first, "ETag");
  OriginResponse same =
      o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"range", "bytes=0-9"}, {"if-range", etag}}));
  CHECK(same.status == 206);
  OriginResponse stale = o.serve(
      v.store(), v.prefix(), v.id(), request(path, "", {{"range", "bytes=0-9"}, {"if-range", "\"other\""}}));
  CHECK(stale.status == 200);
  CHECK(received_body(stale) == v.bytes(path));
}

TEST_CASE("ETag: a matching If-None-Match gets 304 with validators and no body") {
  FakeVideo v;
  Origin o(test_options());
  const std::string path = "720p/seg_00001.m4s";
  OriginResponse first = o.serve(v.store(), v.prefix(), v.id(), request(path));
  const std::string etag = header_or_empty(first, "ETag");
  REQUIRE(etag.size() > 2);
  CHECK(etag.front() == '"');  // strong
  CHECK(etag.back() == '"');
  // Stable for an unchanged file, distinct between files.
  CHECK(header_or_empty(o.serve(v.store(), v.prefix(), v.id(), request(path)), "ETag") == etag);
  CHECK(header_or_empty(o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_00002.m4s")), "ETag") != etag);

  for (std::string inm : {etag, "W/" + etag, "\"nope\", " + etag, std::string("*")}) {
    CAPTURE(inm);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"if-none-match", inm}}));
    CHECK(r.status == 304);
    CHECK(header_or_empty(r, "ETag") == etag);
    CHECK(header_or_empty(r, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK(r.body.empty());
    CHECK_FALSE(r.has_file());
  }
  OriginResponse miss =
      o.serve(v.store(), v.prefix(), v.id(), request(path, "", {{"if-none-match", "\"something-else\""}}));
  CHECK(miss.status == 200);
  CHECK(received_body(miss) == v.bytes(path));
}

TEST_CASE("ETag changes when a manifest is replaced") {
  FakeVideo v;
  Origin o(test_options());
  const std::string etag =
      header_or_empty(o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8")), "ETag");
  v.put("master.m3u8", v.bytes("master.m3u8") + "\n");
  OriginResponse r =
      o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", "", {{"if-none-match", etag}}));
  CHECK(r.status == 200);
  CHECK(header_or_empty(r, "ETag") != etag);
}

TEST_CASE("Last-Modified and If-Modified-Since") {
  FakeVideo v;
  Origin o(test_options());
  OriginResponse first = o.serve(v.store(), v.prefix(), v.id(), request("poster.jpg"));
  const std::string lm = header_or_empty(first, "Last-Modified");
  REQUIRE(lm.size() == 29);
  CHECK(lm.ends_with(" GMT"));
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("poster.jpg", "", {{"if-modified-since", lm}})).status ==
        304);
  CHECK(o.serve(v.store(), v.prefix(), v.id(),
                request("poster.jpg", "", {{"if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT"}}))
            .status == 200);
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("poster.jpg", "", {{"if-modified-since", "garbage"}}))
            .status == 200);
  // If-None-Match takes precedence: a mismatching tag means 200 whatever the date says.
  CHECK(o.serve(v.store(), v.prefix(), v.id(),
                request("poster.jpg", "", {{"if-modified-since", lm}, {"if-none-match", "\"x\""}}))
            .status == 200);
}

TEST_CASE(
    "Cache-Control: segments immutable, manifests short-lived, processing manifests revalidated") {
  FakeVideo v;
  origin::OriginOptions opts = test_options();
  opts.manifest_max_age = 30;
  Origin o(opts);
  auto cc = [&](const char* path, AccessPolicy policy = {}) {
    return header_or_empty(o.serve(v.store(), v.prefix(), v.id(), request(path), policy), "Cache-Control");
  };
  CHECK(cc("720p/seg_00001.m4s") == "public, max-age=31536000, immutable");
  CHECK(cc("720p/init.mp4") == "public, max-age=31536000, immutable");
  CHECK(cc("master.m3u8") == "public, max-age=30");
  CHECK(cc("720p/index.m3u8") == "public, max-age=30");
  CHECK(cc("manifest.mpd") == "public, max-age=30");
  CHECK(cc("poster.jpg") == "public, max-age=30");
  AccessPolicy processing;
  processing.ready = false;
  CHECK(cc("master.m3u8", processing) == "public, no-cache");
  CHECK(cc("720p/seg_00001.m4s", processing) == "public, max-age=31536000, immutable");
  CHECK(cc("nope.m3u8") == "no-store");
}

TEST_CASE("CORS: every response lets a player on another origin read it, and preflight answers") {
  FakeVideo v;
  Origin o(test_options());
  for (const char* path : {"master.m3u8", "720p/seg_00001.m4s", "nope.m4s"}) {
    CAPTURE(path);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path));
    CHECK(header_or_empty(r, "Access-Control-Allow-Origin") == "*");
    const std::string expose = header_or_empty(r, "Access-Control-Expose-Headers");
    for (const char* h : {"Content-Length", "Content-Range", "ETag", "Accept-Ranges"})
      CHECK(expose.find(h) != std::string::npos);
  }
  OriginResponse pre = o.serve(v.store(), v.prefix(), v.id(),
                               request("720p/seg_00001.m4s", "",
                                       {{"origin", "https://player.example"},
                                        {"access-control-request-method", "GET"},
                                        {"access-control-request-headers", "range"}},
                                       "OPTIONS"));
  CHECK(pre.status == 204);
  CHECK(header_or_empty(pre, "Access-Control-Allow-Origin") == "*");
  CHECK(header_or_empty(pre, "Access-Control-Allow-Methods") == "GET, HEAD, OPTIONS");
  const std::string allow_headers = header_or_empty(pre, "Access-Control-Allow-Headers");
  CHECK(allow_headers.find("Range") != std::string::npos);
  CHECK(allow_headers.find("If-None-Match") != std::string::npos);
  CHECK_FALSE(header_or_empty(pre, "Access-Control-Max-Age").empty());
  CHECK(pre.body.empty());
  CHECK_FALSE(pre.has_file());

  origin::OriginOptions site = test_options();
  site.cors_allow_origin = "https://player.example";
  CHECK(header_or_empty(Origin(site).serve(v.store(), v.prefix(), v.id(), request("master.m3u8")),
                        "Access-Control-Allow-Origin") == "https://player.example");
  origin::OriginOptions none = test_options();
  none.cors_allow_origin.clear();
  CHECK(Origin(none)
            .serve(v.store(), v.prefix(), v.id(), request("master.m3u8"))
            .header("Access-Control-Allow-Origin") == nullptr);
}

TEST_CASE("methods other than GET, HEAD and OPTIONS get 405 with Allow") {
  FakeVideo v;
  Origin o(test_options());
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "get", "TRACE"}) {
    CAPTURE(m);
    OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", "", {}, m));
    CHECK(r.status == 405);
    CHECK(header_or_empty(r, "Allow") == "GET, HEAD, OPTIONS");
    CHECK_FALSE(r.has_file());
  }
  CHECK(v.bytes("master.m3u8") == read_file(v.root() / "master.m3u8"));  // untouched
}

TEST_CASE("serve() is safe to call from many threads at once") {
  FakeVideo v;
  Origin o(test_options());
  const std::string query = o.sign(v.id(), kNow + 600).value();
  AccessPolicy priv;
  priv.is_private = true;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto a =
            o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_00001.m4s", "", {{"range", "bytes=1-2"}}));
        auto b = o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", query), priv);
        if (a.status != 206 || b.status != 200) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
}

}  // namespace
}  // namespace streamlet::test
