// Progressive publishing (Options::progressive), checked from outside the transcoder: every
// playlist version a reader could see while the transcode ran, the partial stream read by
// ffprobe, the finished output compared byte for byte with an unprogressive run's, and a
// transcode stopped half way withdrawing what it had shown.
#include <map>
#include <mutex>

#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"
#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace tc = streamlet::transcode;
namespace st = streamlet::storage;
namespace mf = streamlet::test::manifest;
using streamlet::Result;
using streamlet::Status;

namespace {

// A local store whose publications tell `seen` what a reader finds under the prefix right
// after each reveal: the storage a transcode writes into, watched at every moment it changes.
class WatchedStorage final : public st::Storage {
 public:
  using Seen = std::function<void(const std::string& name)>;
  WatchedStorage(std::shared_ptr<st::Storage> inner, Seen seen)
      : inner_(std::move(inner)), seen_(std::move(seen)) {}
  Result<std::unique_ptr<st::Reader>> open(std::string_view k) override { return inner_->open(k); }
  Result<st::ObjectInfo> stat(std::string_view k) override { return inner_->stat(k); }
  Result<std::unique_ptr<st::Writer>> write(std::string_view k) override { return inner_->write(k); }
  Result<std::unique_ptr<st::Appender>> append(std::string_view k, bool c) override {
    return inner_->append(k, c);
  }
  Status remove(std::string_view k) override { return inner_->remove(k); }
  Status list(std::string_view p, const std::function<bool(const st::ObjectInfo&)>& f) override {
    return inner_->list(p, f);
  }
  Result<uint64_t> remove_prefix(std::string_view p) override { return inner_->remove_prefix(p); }
  std::string describe() const override { return "watched " + inner_->describe(); }
  Result<std::unique_ptr<st::Publication>> publish(std::string_view prefix) override {
    auto p = inner_->publish(prefix);
    if (!p.ok()) return p.status();
    return std::unique_ptr<st::Publication>(new Watched(std::move(*p), seen_));
  }

 private:
  class Watched final : public st::Publication {
   public:
    Watched(std::unique_ptr<st::Publication> p, Seen seen) : p_(std::move(p)), seen_(seen) {}
    Result<std::unique_ptr<st::Writer>> create(std::string_view n) override { return p_->create(n); }
    Result<std::unique_ptr<st::Reader>> open(std::string_view n) override { return p_->open(n); }
    Status publish(const std::vector<std::string>& last) override { return p_->publish(last); }
    Status reveal(std::string_view name) override {
      Status s = p_->reveal(name);
      if (s.ok()) seen_(std::string(name));
      return s;
    }

   private:
    std::unique_ptr<st::Publication> p_;
    Seen seen_;
  };
  std::shared_ptr<st::Storage> inner_;
  Seen seen_;
};

std::map<std::string, std::string> contents(st::Storage& s, const std::string& prefix) {
  std::map<std::string, std::string> out;
  Status status = s.list(prefix, [&](const st::ObjectInfo& i) {
    out[i.key.substr(prefix.size())] = s.get(i.key, 64u << 20).value();
    return true;
  });
  REQUIRE_MESSAGE(status.ok(), status.to_string());
  return out;
}

std::vector<std::string> uris(const std::string& playlist) {
  std::vector<std::string> out;
  for (const auto& line : mf::lines(playlist))
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

tc::Options small_options() {
  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k,180p:200k").value();
  o.segment_seconds = 2;
  o.keyframe_interval_seconds = 1;
  o.threads = 1;  // one x264 thread per rung: the same bytes from both runs
  return o;
}

}  // namespace

TEST_CASE(
    "a progressive transcode shows growing EVENT playlists whose segments are there, then "
    "publishes exactly what an unprogressive run does") {
  TempDir d;
  auto local = st::open_local({.root = d / "live", .durable = false}).value();
  std::mutex mu;
  std::vector<std::string> versions;  // of 240p/index.m3u8, as a reader saw it
  int missing = 0, probed = 0;
  std::string probe_errors;
  WatchedStorage store(local, [&](const std::string& name) {
    if (name != "240p/index.m3u8") return;
    std::lock_guard lock(mu);
    const std::string text = local->get("media/v1/240p/index.m3u8").value();
    versions.push_back(text);
    for (const auto& uri : uris(text)) missing += !local->stat("media/v1/240p/" + uri).ok();
    missing += !local->stat("media/v1/master.m3u8").ok() && versions.size() > 1;
    if (versions.size() == 2) {
      // The partial stream as a player reads it, while the rest is still being encoded: the
      // init segment and the listed segments, one after the other (ffmpeg on the playlist
      // itself would wait for the ENDLIST of a live stream).
      std::string joined = local->get("media/v1/240p/init.mp4").value();
      for (const auto& uri : uris(text)) joined += local->get("media/v1/240p/" + uri).value();
      write_file(d / "partial.mp4", joined);
      auto p = ffprobe(d / "partial.mp4");
      probed = p.contains("streams") ? int(p["streams"].size()) : 0;
      probe_errors = decode_errors(d / "partial.mp4");
    }
  });
  int playable_calls = 0;
  size_t segments_when_playable = 0;
  tc::Options o = small_options();
  o.progressive = true;
  o.on_playable = [&] {
    ++playable_calls;
    segments_when_playable = uris(local->get("media/v1/240p/index.m3u8").value()).size();
  };
  auto r = tc::transcode(clip_480p_audio().string(), store, "media/v1/", o);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());

  CHECK(playable_calls == 1);
  CHECK(segments_when_playable == 1);
  REQUIRE(versions.size() >= 3);  // 8 s in 2 s segments: 4, the last one only in the VOD
  CHECK(missing == 0);
  CHECK(probed == 1);
  CHECK(probe_errors == "");
  for (size_t i = 0; i < versions.size(); ++i) {
    CAPTURE(versions[i]);
    auto ls = mf::lines(versions[i]);
    CHECK(mf::tag_value(ls, "#EXT-X-PLAYLIST-TYPE") == "EVENT");
    CHECK(mf::count_lines_starting(ls, "#EXT-X-ENDLIST") == 0);
    if (i == 0) CHECK(uris(versions[i]).size() == 1);  // shown from the first segment
    if (i > 0) {  // only ever appended to
      CHECK(uris(versions[i]).size() > uris(versions[i - 1]).size());
      CHECK(versions[i].starts_with(versions[i - 1]));
    }
  }
  const auto finished = contents(*local, "media/v1/");
  auto vod = mf::lines(finished.at("240p/index.m3u8"));
  CHECK(mf::tag_value(vod, "#EXT-X-PLAYLIST-TYPE") == "VOD");
  CHECK(vod.back() == "#EXT-X-ENDLIST");
  CHECK(finished.at("manifest.mpd").find("type=\"static\"") != std::string::npos);

  // The same source, unprogressive: the same objects with the same bytes (summary.json
  // differs only in the wall-clock figures it reports).
  auto plain_store = st::open_local({.root = d / "plain", .durable = false}).value();
  auto plain = tc::transcode(clip_480p_audio().string(), *plain_store, "media/v1/", small_options());
  REQUIRE_MESSAGE(plain.ok(), plain.status().to_string());
  auto expected = contents(*plain_store, "media/v1/");
  std::vector<std::string> names, expected_names;
  for (const auto& [k, v] : finished) names.push_back(k);
  for (const auto& [k, v] : expected) expected_names.push_back(k);
  CHECK(names == expected_names);
  for (const auto& [name, bytes] : expected) {
    if (name == "summary.json" || !finished.count(name)) continue;
    CHECK_MESSAGE(finished.at(name) == bytes, name << " differs from the unprogressive run's");
  }
}

TEST_CASE("a progressive transcode stopped half way withdraws everything it showed") {
  TempDir d;
  auto local = st::open_local({.root = d / "data", .durable = false}).value();
  streamlet::CancelToken cancel;
  bool shown = false;
  tc::Options o = small_options();
  o.progressive = true;
  o.on_playable = [&] {
    shown = local->stat("media/v1/master.m3u8").ok() && local->stat("media/v1/manifest.mpd").ok();
    cancel.cancel();  // as a job cancelled (or a worker stopping) once playback could start
  };
  auto r = tc::transcode(clip_480p_audio().string(), *local, "media/v1/", o, {}, cancel);
  CHECK(r.status().code() == streamlet::ErrorCode::kCancelled);
  CHECK(shown);
  CHECK(contents(*local, "media/v1/").empty());
  CHECK(local->stat("media/v1/master.m3u8").status().code() == streamlet::ErrorCode::kNotFound);
}
