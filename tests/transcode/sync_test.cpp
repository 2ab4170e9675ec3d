// Lip sync as a viewer would notice it: a white flash and a beep happen at
// the same instant in the source; after transcoding, an independent player
// (ffmpeg reading the HLS and the DASH manifests) must see them together.
#include <regex>

#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;

namespace {

fs::path flash_and_beep() {
  return fixture("flash_beep.mp4",
                 {"-f", "lavfi", "-i", "color=black:size=640x360:rate=30:duration=8", "-f", "lavfi", "-i",
                  "sine=frequency=1000:sample_rate=48000:duration=8", "-filter_complex",
                  "[0]drawbox=enable='between(t,6.5,6.6)':color=white:t=fill[v];"
                  "[1]volume=enable='not(between(t,6.5,6.6))':volume=0,aformat=channel_layouts=stereo[a]",
                  "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                  "yuv420p", "-c:a", "aac", "-b:a", "128k"});
}

// When the picture stops being black and when the sound stops being silent.
std::pair<double, double> flash_and_beep_times(const fs::path& input) {
  auto r = run({"ffmpeg", "-nostdin", "-hide_banner", "-i", input.string(), "-map", "0:v:0", "-vf",
                "blackdetect=d=0.02:pix_th=0.3", "-map", "0:a:0", "-af", "silencedetect=n=-30dB:d=0.2",
                "-f", "null", "-"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(r.output, m, std::regex("black_end:([0-9.]+)")), r.output);
  double flash = std::stod(m[1]);
  REQUIRE_MESSAGE(std::regex_search(r.output, m, std::regex("silence_end: ([0-9.]+)")), r.output);
  double beep = std::stod(m[1]);
  return {flash, beep};
}

}  // namespace

TEST_CASE("audio and video stay in sync through HLS and DASH") {
  fs::path src = flash_and_beep();
  fs::path out = cached_cli_transcode("sync", src, {"--ladder", "360p", "--segment-seconds", "4"});
  auto [src_flash, src_beep] = flash_and_beep_times(src);
  MESSAGE("source: flash " << src_flash << " beep " << src_beep);
  REQUIRE(std::fabs(src_flash - src_beep) < 0.04);  // the fixture itself is in sync
  for (std::string manifest : {"master.m3u8", "manifest.mpd"}) {
    auto [flash, beep] = flash_and_beep_times(out / manifest);
    MESSAGE(manifest << ": flash " << flash << " beep " << beep);
    // One video frame (33 ms) plus the detectors' own granularity.
    CHECK_MESSAGE(std::fabs((flash - beep) - (src_flash - src_beep)) < 0.045, manifest);
  }
}
