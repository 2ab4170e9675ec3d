// Private videos: what a player with a signed URL can play (everything the
// manifests reference) and what anyone else gets (403, and nothing read).
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "origin/detail.hpp"
#include "origin/origin_fixture.hpp"

namespace streamlet::test {
namespace {

using origin::AccessPolicy;
using origin::Origin;
using origin::OriginResponse;

AccessPolicy private_video() {
  AccessPolicy p;
  p.is_private = true;
  return p;
}

struct Uri {
  std::string path;   // relative to the video root, still percent-encoded
  std::string query;  // without '?'
};

// Resolves `ref` (as a manifest holds it) against the manifest's own path.
Uri resolve(const std::string& manifest_path, const std::string& ref) {
  Uri u;
  size_t q = ref.find('?');
  std::string path = ref.substr(0, q);
  u.query = q == std::string::npos ? "" : ref.substr(q + 1);
  size_t slash = manifest_path.rfind('/');
  u.path = (slash == std::string::npos ? "" : manifest_path.substr(0, slash + 1)) + path;
  return u;
}

// The URIs a player would fetch from an HLS playlist: URI lines and URI="..." attributes.
std::vector<std::string> hls_uris(const std::string& playlist) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < playlist.size()) {
    size_t nl = playlist.find('\n', pos);
    std::string line = playlist.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? playlist.size() : nl + 1;
    if (line.empty()) continue;
    if (line[0] != '#') {
      out.push_back(line);
      continue;
    }
    for (size_t at = line.find("URI=\""); at != std::string::npos;
         at = line.find("URI=\"", at + 1)) {
      size_t close = line.find('"', at + 5);
      out.push_back(line.substr(at + 5, close - at - 5));
    }
  }
  return out;
}

std::string xml_unescape(std::string s) {
  for (size_t at = s.find("&amp;"); at != std::string::npos; at = s.find("&amp;", at + 1))
    s.replace(at, 5, "&");
  return s;
}

// All values of attribute `name` in an MPD, XML-unescaped.
std::vector<std::string> xml_attributes(const std::string& mpd, const std::string& name) {
  std::vector<std::string> out;
  const std::string needle = " " + name + "=\"";
  for (size_t at = mpd.find(needle); at != std::string::npos; at = mpd.find(needle, at + 1)) {
    size_t start = at + needle.size();
    out.push_back(xml_unescape(mpd.substr(start, mpd.find('"', start) - start)));
  }
  return out;
}

std::string replace_number(std::string templ, uint32_t number) {
  const std::string token = "$Number%05d$";
  size_t at = templ.find(token);
  REQUIRE(at != std::string::npos);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%05u", number);
  return templ.replace(at, token.size(), buf);
}

TEST_CASE("sign() gives exp and a base64url HMAC, and verify() accepts it until it expires") {
  auto q = origin::sign("vid-1", kNow + 60, kTestKey);
  REQUIRE(q.ok());
  CHECK(q->starts_with("exp=" + std::to_string(kNow + 60) + "&sig="));
  const std::string sig = q->substr(q->find("sig=") + 4);
  CHECK(sig.size() == 43);  // 32 bytes, unpadded
  CHECK(sig.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  CHECK(origin::sign("vid-1", kNow + 60, kTestKey).value() == *q);  // deterministic

  CHECK(origin::verify("vid-1", *q, kNow, kTestKey).ok());
  CHECK(origin::verify("vid-1", *q, kNow + 60, kTestKey).ok());  // valid through exp
  CHECK(origin::verify("vid-1", "player=x&" + *q + "&t=3", kNow, kTestKey).ok());
  CHECK(origin::verify("vid-1", *q, kNow + 61, kTestKey).code() == ErrorCode::kGone);
  CHECK(origin::verify("vid-2", *q, kNow, kTestKey).code() == ErrorCode::kPermissionDenied);
  CHECK(origin::verify("vid-1", *q, kNow, "another-key").code() == ErrorCode::kPermissionDenied);
  CHECK(origin::verify("vid-1", "", kNow, kTestKey).code() == ErrorCode::kUnauthenticated);
  CHECK(origin::verify("vid-1", *q, kNow, "").code() == ErrorCode::kUnauthenticated);

  CHECK_FALSE(origin::sign("", kNow, kTestKey).ok());
  CHECK_FALSE(origin::sign("vid-1", 0, kTestKey).ok());
  CHECK_FALSE(origin::sign("vid-1", kNow, "").ok());
}

TEST_CASE("verify() refuses tampered, extended, duplicated and malformed tokens") {
  const std::string q = origin::sign("vid-1", kNow + 60, kTestKey).value();
  const std::string exp = q.substr(0, q.find('&'));
  const std::string sig = q.substr(q.find("sig=") + 4);
  // Any one character of the signature changed.
  for (size_t i = 0; i < sig.size(); ++i) {
    std::string t = sig;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    CAPTURE(t);
    CHECK_FALSE(origin::verify("vid-1", exp + "&sig=" + t, kNow, kTestKey).ok());
  }
  // A later expiry with the old signature.
  CHECK(
      origin::verify("vid-1", "exp=" + std::to_string(kNow + 6000) + "&sig=" + sig, kNow, kTestKey)
          .code() == ErrorCode::kPermissionDenied);
  for (std::string bad : {exp, "sig=" + sig, q + "&sig=" + sig, q + "&" + exp, exp + "&sig=",
                          exp + "&sig=" + sig + "=", exp + "&sig=" + sig.substr(0, 42),
                          "exp=-5&sig=" + sig, "exp=%31&sig=" + sig, exp + "0&sig=" + sig + "A"}) {
    CAPTURE(bad);
    CHECK_FALSE(origin::verify("vid-1", bad, kNow, kTestKey).ok());
  }
  // The video id is length-prefixed: shifting characters between id and exp fails.
  const std::string q1 = origin::sign("vid-1", 12345, kTestKey).value();
  CHECK_FALSE(
      origin::verify("vid-11", "exp=2345&sig=" + q1.substr(q1.find("sig=") + 4), 0, kTestKey).ok());
}

TEST_CASE("a private video without a valid signature gets 403 and nothing is read") {
  FakeVideo v;
  Origin o(test_options());
  const std::string good = o.sign(v.id(), kNow + 600).value();
  const std::string sig = good.substr(good.find("sig=") + 4);
  std::string tampered = good;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  const std::string other = o.sign("another-video", kNow + 600).value();
  const std::string expired = o.sign(v.id(), kNow - 1).value();
  const std::string wrong_key = origin::sign(v.id(), kNow + 600, "not-our-key").value();
  struct Case {
    std::string query;
    std::string error;
  };
  for (const Case& c :
       {Case{"", "missing signature"}, Case{tampered, "invalid signature"},
        Case{other, "invalid signature"}, Case{expired, "signature expired"},
        Case{wrong_key, "invalid signature"},
        Case{"exp=" + std::to_string(kNow + 99999) + "&sig=" + sig, "invalid signature"}}) {
    for (const char* path :
         {"master.m3u8", "720p/seg_00001.m4s", "manifest.mpd", "no-such-file.m4s"}) {
      CAPTURE(c.query);
      CAPTURE(path);
      OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, c.query), private_video());
      CHECK(r.status == 403);
      CHECK_FALSE(r.has_file());
      CHECK(header_or_empty(r, "Cache-Control") == "no-store");
      CHECK(header_or_empty(r, "Content-Type") == "application/json");
      CHECK(nlohmann::json::parse(r.body).at("error") == c.error);
    }
  }
  OriginResponse ok =
      o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_00001.m4s", good), private_video());
  CHECK(ok.status == 200);
  CHECK(received_body(ok) == v.bytes("720p/seg_00001.m4s"));
}

TEST_CASE("without a signing key, private videos are refused rather than served") {
  FakeVideo v;
  origin::OriginOptions opts = test_options();
  opts.signing_key.clear();
  Origin o(opts);
  CHECK_FALSE(o.sign(v.id(), kNow + 60).ok());
  const std::string forged = origin::sign(v.id(), kNow + 60, "x").value();
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", forged), private_video()).status == 403);
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8")).status == 200);  // public still plays
}

TEST_CASE("require_signature makes every video private") {
  FakeVideo v;
  origin::OriginOptions opts = test_options();
  opts.require_signature = true;
  Origin o(opts);
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_00001.m4s")).status == 403);
  CHECK(o.serve(v.store(), v.prefix(), v.id(), request("720p/seg_00001.m4s", o.sign(v.id(), kNow + 5).value()))
            .status == 200);
}

TEST_CASE("signed responses are private and cached no longer than the token lives") {
  FakeVideo v;
  Origin o(test_options());
  auto cc = [&](const char* path, int64_t ttl) {
    return header_or_empty(
        o.serve(v.store(), v.prefix(), v.id(), request(path, o.sign(v.id(), kNow + ttl).value()),
                private_video()),
        "Cache-Control");
  };
  CHECK(cc("720p/seg_00001.m4s", 86400 * 400) == "private, max-age=31536000, immutable");
  CHECK(cc("720p/seg_00001.m4s", 10) == "private, max-age=10, immutable");
  CHECK(cc("master.m3u8", 3600) == "private, max-age=60");
  CHECK(cc("master.m3u8", 0) == "private, max-age=0");
}

TEST_CASE("a signed master playlist leads a player to every file of the video, all playable") {
  FakeVideo v;
  Origin o(test_options());
  const std::string token = o.sign(v.id(), kNow + 3600).value();

  std::set<std::string> reached;
  std::function<void(const std::string&, const std::string&)> fetch =
      [&](const std::string& path, const std::string& query) {
        CAPTURE(path);
        OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request(path, query), private_video());
        REQUIRE(r.status == 200);
        // Without the token the same URI is refused.
        CHECK(o.serve(v.store(), v.prefix(), v.id(), request(path), private_video()).status == 403);
        const std::string body = received_body(r);
        if (!reached.insert(path).second) return;
        if (!path.ends_with(".m3u8")) {
          CHECK(body == v.bytes(path));
          return;
        }
        CHECK(header_or_empty(r, "Content-Type") == "application/vnd.apple.mpegurl");
        CHECK(header_or_empty(r, "Content-Length") == std::to_string(body.size()));
        // The rewrite only adds the token: remove it and the packager's text is back.
        std::string original = body;
        for (size_t at = original.find("?" + token); at != std::string::npos;
             at = original.find("?" + token))
          original.erase(at, token.size() + 1);
        CHECK(original == v.bytes(path));
        for (const std::string& ref : hls_uris(body)) {
          Uri u = resolve(path, ref);
          CHECK(u.query == token);  // the same token, nothing else from the request
          fetch(u.path, u.query);
        }
      };
  fetch("master.m3u8", "junk=1&" + token);

  std::set<std::string> expected;
  for (const auto& [rel, content] : v.files()) {
    if (rel.find('/') != std::string::npos && !rel.starts_with(".")) expected.insert(rel);
  }
  expected.insert("master.m3u8");
  CHECK(reached == expected);
  CHECK(reached.count("720p/iframes.m3u8") == 1);
  CHECK(reached.count("audio/index.m3u8") == 1);
}

TEST_CASE("a signed MPD carries the token in its SegmentTemplate URLs, which all play") {
  FakeVideo v;
  Origin o(test_options());
  const std::string token = o.sign(v.id(), kNow + 3600).value();
  OriginResponse r = o.serve(v.store(), v.prefix(), v.id(), request("manifest.mpd", token), private_video());
  REQUIRE(r.status == 200);
  CHECK(header_or_empty(r, "Content-Type") == "application/dash+xml");
  const std::string mpd = r.body;
  CHECK(mpd.find("&sig=") == std::string::npos);  // '&' is escaped inside XML attributes
  CHECK(mpd.find("&amp;sig=") != std::string::npos);

  if (run_shell("command -v xmllint >/dev/null 2>&1").exit_code == 0) {
    TempDir tmp;
    write_file(tmp / "signed.mpd", mpd);
    auto lint = run({"xmllint", "--noout", (tmp / "signed.mpd").string()});
    CHECK_MESSAGE(lint.exit_code == 0, lint.output);
  }

  const auto inits = xml_attributes(mpd, "initialization");
  const auto medias = xml_attributes(mpd, "media");
  REQUIRE(inits.size() == 3);
  REQUIRE(medias.size() == 3);
  std::set<std::string> played;
  for (const std::string& init : inits) {
    Uri u = resolve("manifest.mpd", init);
    CHECK(u.query == token);
    OriginResponse seg = o.serve(v.store(), v.prefix(), v.id(), request(u.path, u.query), private_video());
    CHECK(seg.status == 200);
    CHECK(received_body(seg) == v.bytes(u.path));
    played.insert(u.path);
  }
  for (const std::string& media : medias) {
    for (uint32_t n = 1; n <= 3; ++n) {
      Uri u = resolve("manifest.mpd", replace_number(media, n));
      CAPTURE(u.path);
      CHECK(u.query == token);
      OriginResponse seg = o.serve(v.store(), v.prefix(), v.id(), request(u.path, u.query), private_video());
      CHECK(seg.status == 200);
      CHECK(received_body(seg) == v.bytes(u.path));
      played.insert(u.path);
    }
  }
  CHECK(played.size() == 12);  // 3 tracks x (init + 3 segments)

  // Apart from the token, the MPD is what the packager wrote.
  std::string original = mpd;
  const std::string xml_token =
      "?" + token.substr(0, token.find('&')) + "&amp;" + token.substr(token.find('&') + 1);
  for (size_t at = original.find(xml_token); at != std::string::npos; at = original.find(xml_token))
    original.erase(at, xml_token.size());
  CHECK(original == v.bytes("manifest.mpd"));
}

TEST_CASE("rewritten manifests have their own ETag, honour If-None-Match and Range") {
  FakeVideo v;
  Origin o(test_options());
  const std::string t1 = o.sign(v.id(), kNow + 100).value();
  const std::string t2 = o.sign(v.id(), kNow + 200).value();
  OriginResponse a = o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", t1), private_video());
  OriginResponse b = o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", t2), private_video());
  const std::string public_etag =
      header_or_empty(o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8")), "ETag");
  const std::string etag = header_or_empty(a, "ETag");
  CHECK(etag != header_or_empty(b, "ETag"));
  CHECK(etag != public_etag);
  CHECK(a.body != b.body);

  OriginResponse again = o.serve(
      v.store(), v.prefix(), v.id(), request("master.m3u8", t1, {{"if-none-match", etag}}), private_video());
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(header_or_empty(again, "Cache-Control") == "private, max-age=60");

  OriginResponse part = o.serve(
      v.store(), v.prefix(), v.id(), request("master.m3u8", t1, {{"range", "bytes=7-26"}}), private_video());
  CHECK(part.status == 206);
  CHECK(part.body == a.body.substr(7, 20));
  CHECK(header_or_empty(part, "Content-Range") == "bytes 7-26/" + std::to_string(a.body.size()));

  OriginResponse head =
      o.serve(v.store(), v.prefix(), v.id(), request("master.m3u8", t1, {}, "HEAD"), private_video());
  CHECK(head.body.empty());
  CHECK(header_or_empty(head, "Content-Length") == std::to_string(a.body.size()));
}

TEST_CASE("rewrite_hls adds the token to relative URIs only, keeping everything else") {
  using origin::detail::rewrite_hls;
  const std::string q = "exp=1&sig=abc";
  const std::string in =
      "#EXTM3U\r\n"
      "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/index.m3u8\"\r\n"
      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"720p/iframes.m3u8\"\r\n"
      "#EXT-X-MAP:URI=\"init.mp4?v=2\"\r\n"
      "#EXT-X-SESSION-DATA:DATA-ID=\"x\",XURI=\"keep\"\r\n"
      "# a comment with URI=\"keep\"\r\n"
      "\r\n"
      "seg_00001.m4s\r\n"
      "seg_00002.m4s#t=3\r\n"
      "https://cdn.example/seg.m4s\r\n"
      "//cdn.example/seg.m4s\r\n"
      "/abs/seg.m4s\r\n"
      "#EXT-X-ENDLIST";
  const std::string want =
      "#EXTM3U\r\n"
      "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/"
      "index.m3u8?exp=1&sig=abc\"\r\n"
      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"720p/iframes.m3u8?exp=1&sig=abc\"\r\n"
      "#EXT-X-MAP:URI=\"init.mp4?v=2&exp=1&sig=abc\"\r\n"
      "#EXT-X-SESSION-DATA:DATA-ID=\"x\",XURI=\"keep\"\r\n"
      "# a comment with URI=\"keep\"\r\n"
      "\r\n"
      "seg_00001.m4s?exp=1&sig=abc\r\n"
      "seg_00002.m4s?exp=1&sig=abc#t=3\r\n"
      "https://cdn.example/seg.m4s\r\n"
      "//cdn.example/seg.m4s\r\n"
      "/abs/seg.m4s\r\n"
      "#EXT-X-ENDLIST";
  CHECK(rewrite_hls(in, q) == want);
}

TEST_CASE("text inside other quoted values is never taken for a URI") {
  // NAME and LANGUAGE come from the source's metadata: an upload controls them.
  const std::string hls = "#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a,URI=\",URI=\"audio/index.m3u8\"\n";
  CHECK(origin::detail::rewrite_hls(hls, "t=1") ==
        "#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a,URI=\",URI=\"audio/index.m3u8?t=1\"\n");
  const std::string mpd =
      "<AdaptationSet lang=\"en media=\" x=\"1\"><SegmentTemplate media=\"s.m4s\"/>";
  CHECK(origin::detail::rewrite_dash(mpd, "t=1") ==
        "<AdaptationSet lang=\"en media=\" x=\"1\"><SegmentTemplate media=\"s.m4s?t=1\"/>");
}

TEST_CASE("rewrite_dash adds the token to template and URL attributes only") {
  using origin::detail::rewrite_dash;
  const std::string in =
      "<MPD><Period><AdaptationSet mimeType=\"video/mp4\">\n"
      "<SegmentTemplate timescale=\"90000\" initialization=\"720p/init.mp4\"\n"
      "  media='720p/seg_$Number%05d$.m4s' startNumber=\"1\"/>\n"
      "<SegmentList><SegmentURL media=\"https://cdn.example/a.m4s\" mediaRange=\"0-9\"/>"
      "<Initialization sourceURL=\"i.mp4\"/></SegmentList>\n"
      "<BaseURL>./</BaseURL></AdaptationSet></Period></MPD>\n";
  const std::string want =
      "<MPD><Period><AdaptationSet mimeType=\"video/mp4\">\n"
      "<SegmentTemplate timescale=\"90000\" initialization=\"720p/init.mp4?exp=1&amp;sig=x\"\n"
      "  media='720p/seg_$Number%05d$.m4s?exp=1&amp;sig=x' startNumber=\"1\"/>\n"
      "<SegmentList><SegmentURL media=\"https://cdn.example/a.m4s\" mediaRange=\"0-9\"/>"
      "<Initialization sourceURL=\"i.mp4?exp=1&amp;sig=x\"/></SegmentList>\n"
      "<BaseURL>./</BaseURL></AdaptationSet></Period></MPD>\n";
  CHECK(rewrite_dash(in, "exp=1&sig=x") == want);
  // A BaseURL naming a file (a caption sidecar) is a URL of its own: it gets the token.
  CHECK(rewrite_dash("<Representation><BaseURL>subs/en.vtt</BaseURL></Representation>",
                     "exp=1&sig=x") ==
        "<Representation><BaseURL>subs/en.vtt?exp=1&amp;sig=x</BaseURL></Representation>");
}

}  // namespace
}  // namespace streamlet::test
