// Chunk-parallel encoding (Options::chunk_seconds): the same 12 s source transcoded whole and
// in 4 s chunks (2 s segments, so joints at 4 s and 8 s) must give a viewer the same ladder:
// the same segments, keyframes and decode timeline, manifests that play end to end, audio and
// video that agree, bitrates that hold, and no seam at a joint. Checked with ffprobe/ffmpeg.
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "streamlet/transcode.hpp"
#include "support/manifest_parse.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace mf = streamlet::test::manifest;
namespace tc = streamlet::transcode;

namespace {

constexpr double kJoints[] = {4.0, 8.0};
constexpr int kFps = 30;

// Moving, noisy picture (so rate control and VBV have work at the joints), a tone, and
// source keyframes every 3 s: a chunk's start (4 s, 8 s) is never one, so each chunk must
// decode from the keyframe before it.
fs::path source() {
  return fixture("chunk_source.mp4",
                 {"-f", "lavfi", "-i", "testsrc2=size=480x270:rate=30:duration=12", "-f", "lavfi",
                  "-i", "sine=frequency=440:sample_rate=48000:duration=12", "-vf",
                  "noise=alls=20:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
                  "-g", "90", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2"});
}

const std::vector<std::string> kArgs = {"--ladder", "270p:600k,180p:250k", "--segment-seconds", "2"};

fs::path whole() { return cached_cli_transcode("chunk-whole", source(), kArgs); }

fs::path chunked() {
  auto args = kArgs;
  for (const char* a : {"--chunk-seconds", "4", "--chunk-workers", "2", "--threads", "2"})
    args.push_back(a);
  return cached_cli_transcode("chunk-4s", source(), args);
}

const char* const kVideo[] = {"270p", "180p"};

// (uri, seconds) of every segment of a media playlist.
std::vector<std::pair<std::string, std::string>> extinfs(const fs::path& playlist) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ls = mf::lines(read_file(playlist));
  for (size_t i = 0; i + 1 < ls.size(); ++i)
    if (ls[i].rfind("#EXTINF:", 0) == 0) out.emplace_back(ls[i + 1], ls[i].substr(8));
  return out;
}

// Per-frame PSNR (dB, frame order) of `encoded` against `reference`, from ffmpeg's psnr filter.
std::vector<double> psnr_per_frame(const fs::path& encoded, const fs::path& reference,
                                   const fs::path& scratch) {
  fs::path stats = scratch / (encoded.stem().string() + ".psnr");
  auto r = run({"ffmpeg", "-nostdin", "-v", "error", "-i", encoded.string(), "-i", reference.string(),
                "-lavfi",
                "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]psnr=stats_file=" +
                    stats.string(),
                "-f", "null", "-"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::vector<double> out;
  std::regex avg("psnr_avg:([0-9.]+|inf)");
  std::istringstream in(read_file(stats));
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    REQUIRE(std::regex_search(line, m, avg));
    out.push_back(m[1] == "inf" ? 100.0 : std::stod(m[1]));
  }
  return out;
}

std::map<std::string, std::string> attributes(const std::string& line) {
  std::map<std::string, std::string> out;
  std::regex attr("([A-Z-]+)=(\"[^\"]*\"|[^,]*)");
  for (std::sregex_iterator i(line.begin(), line.end(), attr), e; i != e; ++i) out[(*i)[1]] = (*i)[2];
  return out;
}

}  // namespace

TEST_CASE("chunked: the same segments, keyframes and decode timeline as a whole encode") {
  fs::path a = whole(), b = chunked();
  TempDir scratch;
  for (std::string track : {"270p", "180p", "audio"}) {
    CAPTURE(track);
    // Segment names and EXTINF durations, as a player reads them.
    auto ea = extinfs(a / track / "index.m3u8"), eb = extinfs(b / track / "index.m3u8");
    CHECK(ea.size() == 6);
    CHECK(eb == ea);
    CHECK(segment_files(b / track).size() == segment_files(a / track).size());
    // One init segment serves the whole track, and it is the whole encode's.
    CHECK(read_file(b / track / "init.mp4") == read_file(a / track / "init.mp4"));
  }
  // The poster and the scrub previews are picked from the whole source, as without chunks.
  for (const char* name : {"poster.jpg", "storyboard.vtt", "storyboard_1.jpg"}) {
    CAPTURE(name);
    REQUIRE(fs::exists(b / name));
    CHECK(read_file(b / name) == read_file(a / name));
  }
  for (const char* track : kVideo) {
    CAPTURE(track);
    auto pa = probe_packets(join_track(a / track, scratch.path()));
    auto pb = probe_packets(join_track(b / track, scratch.path()));
    REQUIRE(pb.size() == pa.size());
    REQUIRE(pb.size() == 12 * kFps);
    // Every packet's presentation and decode time and keyframe flag (so tfdt continues across
    // each joint exactly as in the whole encode).
    for (size_t i = 0; i < pa.size(); ++i) {
      CAPTURE(i);
      CHECK(pb[i].pts == doctest::Approx(pa[i].pts).epsilon(1e-9));
      CHECK(pb[i].dts == doctest::Approx(pa[i].dts).epsilon(1e-9));
      CHECK(pb[i].key == pa[i].key);
    }
    // Each segment, fetched alone after the init segment, starts with a keyframe.
    for (const auto& seg : segment_files(b / track)) {
      CAPTURE(seg);
      auto one = probe_packets(join_track(b / track, scratch.path(), {seg}));
      REQUIRE_FALSE(one.empty());
      CHECK(one.front().key);
    }
  }
}

TEST_CASE("chunked: HLS and DASH decode to the end, audio and video start and end together") {
  fs::path a = whole(), b = chunked();
  for (std::string manifest : {"master.m3u8", "manifest.mpd"}) {
    CAPTURE(manifest);
    CHECK(decode_errors(b / manifest) == "");
    auto streams = [&](const fs::path& out) {
      std::map<std::string, std::pair<double, double>> m;  // codec_type -> (start, duration)
      auto j = ffprobe(out / manifest, {"-show_streams"});
      for (auto& s : j["streams"]) {
        std::string type = s["codec_type"];
        if (!m.count(type))
          m[type] = {std::stod(s.value("start_time", "0")), std::stod(s.value("duration", "0"))};
      }
      return m;
    };
    auto sa = streams(a), sb = streams(b);
    REQUIRE(sb.count("video"));
    REQUIRE(sb.count("audio"));
    // Within one AAC frame (21 ms) of each other, and as in the whole encode.
    CHECK(std::fabs(sb["video"].first - sb["audio"].first) < 0.022);
    CHECK(sb["video"].first == doctest::Approx(sa["video"].first).epsilon(1e-6));
    CHECK(sb["audio"].first == doctest::Approx(sa["audio"].first).epsilon(1e-6));
  }
  // Frames ffmpeg decodes from the chunked HLS: every frame of the source, once.
  auto frames = run({"ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                     (b / "270p" / "index.m3u8").string()});
  CHECK(std::stoi(frames.output) == 12 * kFps);
  auto samples = [](const fs::path& out) {
    auto j = ffprobe(out / "audio" / "index.m3u8", {"-count_packets", "-show_streams"});
    return std::stoll(j["streams"][0]["nb_read_packets"].get<std::string>());
  };
  CHECK(samples(b) == samples(a));  // the audio is one continuous AAC stream either way
}

TEST_CASE("chunked: declared bitrates hold and the VBV buffer holds across the joints") {
  fs::path a = whole(), b = chunked();
  TempDir scratch;
  auto master = mf::lines(read_file(b / "master.m3u8"));
  std::map<std::string, std::map<std::string, std::string>> declared;  // uri -> attributes
  for (size_t i = 0; i + 1 < master.size(); ++i)
    if (master[i].rfind("#EXT-X-STREAM-INF:", 0) == 0) declared[master[i + 1]] = attributes(master[i]);
  struct Rung { const char* id; double bitrate; };
  for (const Rung& r : {Rung{"270p", 600e3}, Rung{"180p", 250e3}}) {
    CAPTURE(r.id);
    // Measured from the files: the peak and average over the segments, video plus audio.
    auto bits = [&](const fs::path& out, const std::string& track) {
      std::vector<double> rates;
      double total = 0, seconds = 0;
      for (auto& [uri, d] : extinfs(out / track / "index.m3u8")) {
        double s = std::stod(d), n = 8.0 * fs::file_size(out / track / uri);
        rates.push_back(n / s);
        total += n;
        seconds += s;
      }
      return std::make_pair(rates, total / seconds);
    };
    auto [video_rates, video_avg] = bits(b, r.id);
    auto [audio_rates, audio_avg] = bits(b, "audio");
    double peak = 0;
    for (size_t i = 0; i < video_rates.size(); ++i) peak = std::max(peak, video_rates[i] + audio_rates[i]);
    auto& attr = declared[std::string(r.id) + "/index.m3u8"];
    REQUIRE(attr.count("BANDWIDTH"));
    CHECK(std::stod(attr["BANDWIDTH"]) >= peak * 0.999);
    CHECK(std::stod(attr["AVERAGE-BANDWIDTH"]) == doctest::Approx(video_avg + audio_avg).epsilon(0.01));
    // The chunked encode spends what the whole one does (within 5%).
    auto [whole_rates, whole_avg] = bits(a, r.id);
    CHECK(video_avg == doctest::Approx(whole_avg).epsilon(0.05));
    // The joined stream through the VBV model x264 was given (maxrate 1.07x, buffer 1.5x the
    // bitrate, starting 90% full): the decoder's buffer never runs dry, at a joint or anywhere.
    const double maxrate = r.bitrate * 1.07, buffer = r.bitrate * 1.5;
    auto packets = probe_packets(join_track(b / r.id, scratch.path()));
    std::sort(packets.begin(), packets.end(), [](auto& x, auto& y) { return x.dts < y.dts; });
    double level = 0.9 * buffer, t = packets.front().dts, lowest = buffer;
    for (const auto& p : packets) {
      level = std::min(buffer, level + (p.dts - t) * maxrate);
      t = p.dts;
      level -= 8.0 * p.size;
      lowest = std::min(lowest, level);
    }
    MESSAGE(r.id << ": lowest VBV level " << lowest / buffer << " of the buffer");
    CHECK(lowest >= 0);
  }
}

TEST_CASE("chunked: no visible seam: PSNR around each joint within 0.5 dB of a whole encode") {
  fs::path a = whole(), b = chunked();
  TempDir scratch;
  fs::path src = source();
  for (const char* track : {"270p"}) {  // the source's own size: PSNR against it directly
    auto pa = psnr_per_frame(join_track(a / track, scratch.path()), src, scratch.path());
    auto pb = psnr_per_frame(join_track(b / track, scratch.path()), src, scratch.path());
    REQUIRE(pa.size() == 12 * kFps);
    REQUIRE(pb.size() == pa.size());
    for (double joint : kJoints) {
      // Half a second either side of the joint.
      const int j = static_cast<int>(joint * kFps);
      double sa = 0, sb = 0;
      for (int n = j - kFps / 2; n < j + kFps / 2; ++n) sa += pa[n], sb += pb[n];
      sa /= kFps, sb /= kFps;
      MESSAGE(std::string(track) << " at " << joint << " s: whole " << sa << " dB, chunked " << sb << " dB");
      CHECK(sb > sa - 0.5);
    }
  }
}

TEST_CASE("chunked: a chunk duration that is not a whole number of segments is refused") {
  TempDir scratch;
  for (const char* bad : {"3", "-4", "0.5"}) {
    CAPTURE(bad);
    auto r = run({cli_path().string(), "transcode", clip_small().string(), "-o",
                  (scratch.path() / "out").string(), "--quiet", "--segment-seconds", "2",
                  "--chunk-seconds", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("chunk duration") != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(scratch.path() / "out"));
  }
  tc::Options o;
  o.segment_seconds = 2;
  o.chunk_seconds = 5;
  auto r = tc::transcode(clip_small().string(), (scratch.path() / "lib").string(), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == streamlet::ErrorCode::kInvalidArgument);
  o.chunk_seconds = 4;
  o.chunk_workers = -1;
  r = tc::transcode(clip_small().string(), (scratch.path() / "lib").string(), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == streamlet::ErrorCode::kInvalidArgument);
}

TEST_CASE("chunked: the platform chunks only where more cores than the ladder's encoders are") {
  tc::Options o;  // the default 4-rung ladder, 6 s segments
  CHECK(tc::auto_chunk_seconds(o, 2) == 0);    // this machine: one chunk worker, no gain
  CHECK(tc::auto_chunk_seconds(o, 15) == 0);
  CHECK(tc::auto_chunk_seconds(o, 16) == 60);  // two workers: a joint every minute
  o.segment_seconds = 7;
  CHECK(tc::auto_chunk_seconds(o, 32) == 63);  // a whole number of segments
  o.chunk_workers = 1;
  CHECK(tc::auto_chunk_seconds(o, 32) == 0);
  o.ladder.resize(1);
  o.chunk_workers = 0;
  CHECK(tc::auto_chunk_seconds(o, 4) == 63);   // one rung uses two threads well
}
