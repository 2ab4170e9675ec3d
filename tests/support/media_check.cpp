#include "support/media_check.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace streamlet::test {

std::vector<fs::path> segment_files(const fs::path& track_dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(track_dir))
    if (e.path().extension() == ".m4s") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

fs::path join_track(const fs::path& track_dir, const fs::path& scratch,
                    const std::vector<fs::path>& segments) {
  static int counter = 0;
  fs::path out = scratch / (track_dir.filename().string() + "-joined-" + std::to_string(counter++) + ".mp4");
  std::ofstream o(out, std::ios::binary);
  o << read_file(track_dir / "init.mp4");
  for (const auto& s : segments) o << read_file(s);
  return out;
}

fs::path join_track(const fs::path& track_dir, const fs::path& scratch) {
  return join_track(track_dir, scratch, segment_files(track_dir));
}

std::vector<ProbedPacket> probe_packets(const fs::path& file) {
  auto r = run({"ffprobe", "-v", "error", "-select_streams", "0", "-show_entries",
                "packet=pts_time,dts_time,flags,size", "-of", "csv=p=0", file.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::vector<ProbedPacket> out;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    // pts_time,dts_time,size,flags (ffprobe prints in its own field order)
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    if (f.size() < 4) continue;
    ProbedPacket p;
    p.pts = std::stod(f[0]);
    p.dts = std::stod(f[1]);
    p.size = std::stoi(f[2]);
    p.key = f[3].find('K') != std::string::npos;
    out.push_back(p);
  }
  return out;
}

std::string decode_errors(const fs::path& file, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-v", "error"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"-i", file.string(), "-map", "0", "-f", "null", "-"});
  auto r = run(argv);
  if (r.exit_code != 0 && r.output.empty()) return "ffmpeg exited with " + std::to_string(r.exit_code);
  return r.output;
}

int64_t count_video_frames(const fs::path& file) {
  auto r = run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                "stream=nb_read_frames", "-of", "csv=p=0", file.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  return std::stoll(r.output);
}

fs::path cached_cli_transcode(const std::string& name, const fs::path& input,
                              const std::vector<std::string>& args) {
  fs::path dir = STREAMLET_TEST_FIXTURE_DIR;
  fs::create_directories(dir);
  fs::path out = dir / ("out-" + name);
  int lock = ::open((dir / (name + ".lock")).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  REQUIRE(lock >= 0);
  ::flock(lock, LOCK_EX);
  if (!fs::exists(out / "summary.json")) {
    std::vector<std::string> argv = {cli_path().string(), "transcode", input.string(), "-o",
                                     out.string(), "--quiet"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    if (r.exit_code != 0) {
      ::close(lock);
      FAIL("transcode " << name << " failed: " << r.output);
    }
  }
  ::close(lock);
  return out;
}

}  // namespace streamlet::test
