// A packaged video as the package module lays it out on disk, small enough to
// write in every test: real HLS/DASH manifests from the package writers, and
// segment/init/poster files filled with deterministic bytes (the origin never
// parses media, so their content only has to be recognisable).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "streamlet/origin.hpp"
#include "streamlet/package.hpp"
#include "streamlet/storage.hpp"
#include "support/support.hpp"

namespace streamlet::test {

inline std::string pattern_bytes(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

inline package::Track small_track(package::TrackKind kind, const char* id, const char* codecs,
                                  int height, std::vector<uint64_t> bytes) {
  package::Track t;
  t.kind = kind;
  t.id = id;
  t.codecs = codecs;
  t.timescale = kind == package::TrackKind::kVideo ? 90000 : 48000;
  if (kind == package::TrackKind::kVideo) {
    t.height = height;
    t.width = height * 16 / 9;
    t.frame_rate = 25;
  } else {
    t.sample_rate = 48000;
    t.channels = 2;
  }
  int64_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    int64_t d = static_cast<int64_t>(t.timescale) * (i + 1 < bytes.size() ? 4 : 2);
    t.segments.push_back({start, d, bytes[i]});
    if (kind == package::TrackKind::kVideo)
      t.iframes.push_back({static_cast<uint32_t>(i), 100, bytes[i] / 3, start, d});
    start += d;
  }
  return t;
}

// <tmp>/videos/<id>/ holds the package output; <tmp>/outside.m4s and
// <tmp>/secret.txt are files an attacker would like to reach. store() is the local storage
// backend on <tmp>, so the video's objects are under the key prefix "videos/<id>/".
class FakeVideo {
 public:
  explicit FakeVideo(std::string id = "vid-abc123") : id_(std::move(id)) {
    root_ = tmp_.path() / "videos" / id_;
    presentation_.video = {
        small_track(package::TrackKind::kVideo, "720p", "avc1.64001f", 720, {3000, 2500, 900}),
        small_track(package::TrackKind::kVideo, "360p", "avc1.640015", 360, {1200, 1100, 400})};
    presentation_.audio =
        small_track(package::TrackKind::kAudio, "audio", "mp4a.40.2", 0, {700, 700, 350});
    presentation_.target_segment_seconds = 4;

    put("master.m3u8", package::hls_master_playlist(presentation_));
    put("manifest.mpd", package::dash_manifest(presentation_));
    put("poster.jpg", "\xff\xd8\xff\xe0" + pattern_bytes(2000, 7));
    uint32_t seed = 100;
    auto write_track = [&](const package::Track& t) {
      put(t.id + "/init.mp4", pattern_bytes(800, seed++));
      put(t.id + "/index.m3u8", package::hls_media_playlist(t));
      if (!t.iframes.empty()) put(t.id + "/iframes.m3u8", package::hls_iframe_playlist(t));
      for (uint32_t i = 0; i < t.segments.size(); ++i)
        put(t.id + "/" + t.segment_name(i), pattern_bytes(t.segments[i].bytes, seed++));
    };
    for (const auto& t : presentation_.video) write_track(t);
    write_track(*presentation_.audio);
    // Files the package step leaves behind that a player must never get.
    put("summary.json", R"({"source":"/srv/uploads/secret-name.mov"})");
    put(".hidden.m4s", "hidden");

    write_file(tmp_.path() / "outside.m4s", "OUTSIDE-THE-ROOT");
    write_file(tmp_.path() / "secret.txt", "top secret");
    auto opened = storage::open_local({.root = tmp_.path(), .durable = false});
    REQUIRE(opened.ok());
    store_ = std::move(*opened);
  }

  const std::string& id() const { return id_; }
  const std::filesystem::path& root() const { return root_; }
  storage::Storage& store() const { return *store_; }
  std::string prefix() const { return "videos/" + id_ + "/"; }
  const std::filesystem::path& tmp() const { return tmp_.path(); }
  const package::Presentation& presentation() const { return presentation_; }

  // Every file written under the root, relative path -> content.
  const std::map<std::string, std::string>& files() const { return files_; }
  // The bytes of a file under the root, as written.
  std::string bytes(const std::string& rel) const { return files_.at(rel); }

  void put(const std::string& rel, const std::string& content) {
    std::filesystem::create_directories((root_ / rel).parent_path());
    write_file(root_ / rel, content);
    files_[rel] = content;
  }

 private:
  TempDir tmp_;
  std::string id_;
  std::filesystem::path root_;
  std::shared_ptr<storage::Storage> store_;
  package::Presentation presentation_;
  std::map<std::string, std::string> files_;
};

inline origin::OriginRequest request(std::string path, std::string query = {},
                                     std::map<std::string, std::string> headers = {},
                                     std::string method = "GET") {
  origin::OriginRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = std::move(headers);
  return r;
}

// What the client receives as the body: the generated body, or the object range
// the adapter would stream (through the descriptor when the reader has one, as the front does).
inline std::string received_body(const origin::OriginResponse& r) {
  if (!r.has_file()) return r.body;
  std::string out(r.length, '\0');
  if (r.file->fd() >= 0) {
    REQUIRE(::pread(r.file->fd(), out.data(), out.size(), off_t(r.offset)) == ssize_t(r.length));
    return out;
  }
  size_t done = 0;
  while (done < out.size()) {
    auto n = r.file->read_at(r.offset + done, out.data() + done, out.size() - done);
    REQUIRE(n.ok());
    REQUIRE(*n > 0);
    done += *n;
  }
  return out;
}

inline std::string header_or_empty(const origin::OriginResponse& r, const char* name) {
  const std::string* v = r.header(name);
  return v ? *v : std::string();
}

inline constexpr const char* kTestKey = "0123456789abcdef0123456789abcdef-test-key";
inline constexpr int64_t kNow = 1700000000;

inline origin::OriginOptions test_options() {
  origin::OriginOptions o;
  o.signing_key = kTestKey;
  o.clock = [] { return kNow; };
  // Every range as an open file, so tests see what an adapter streams; inlining has its own test.
  o.inline_file_bytes = 0;
  return o;
}

}  // namespace streamlet::test
