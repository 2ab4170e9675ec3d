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

namespace {

uint32_t be32(const std::string& b, size_t at) {
  REQUIRE(at + 4 <= b.size());
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

// Calls f(type, payload_begin, box_end) for each box in [begin, end).
template <typename F>
void for_each_box(const std::string& b, size_t begin, size_t end, F&& f) {
  while (begin + 8 <= end) {
    uint64_t size = be32(b, begin);
    std::string type = b.substr(begin + 4, 4);
    size_t header = 8;
    if (size == 1) {
      size = (uint64_t(be32(b, begin + 8)) << 32) | be32(b, begin + 12);
      header = 16;
    }
    REQUIRE_MESSAGE(size >= header, "bad box size");
    REQUIRE_MESSAGE(begin + size <= end, "box " << type << " runs past its parent");
    f(type, begin + header, begin + size);
    begin += size;
  }
}

}  // namespace

std::vector<uint32_t> fragment_sample_durations(const fs::path& track_dir) {
  uint32_t trex_default = 0;
  std::string init = read_file(track_dir / "init.mp4");
  for_each_box(init, 0, init.size(), [&](const std::string& t, size_t b, size_t e) {
    if (t != "moov") return;
    for_each_box(init, b, e, [&](const std::string& t2, size_t b2, size_t e2) {
      if (t2 != "mvex") return;
      for_each_box(init, b2, e2, [&](const std::string& t3, size_t b3, size_t) {
        if (t3 == "trex")
          trex_default = be32(init, b3 + 12);  // version/flags, track_ID, desc index
      });
    });
  });
  std::vector<uint32_t> out;
  for (const auto& seg : segment_files(track_dir)) {
    std::string s = read_file(seg);
    for_each_box(s, 0, s.size(), [&](const std::string& t, size_t b, size_t e) {
      if (t != "moof") return;
      for_each_box(s, b, e, [&](const std::string& t2, size_t b2, size_t e2) {
        if (t2 != "traf") return;
        uint32_t def = trex_default;
        for_each_box(s, b2, e2, [&](const std::string& t3, size_t b3, size_t) {
          const uint32_t flags = be32(s, b3) & 0xffffff;
          if (t3 == "tfhd") {
            size_t p = b3 + 8;        // version/flags, track_ID
            if (flags & 0x1) p += 8;  // base-data-offset
            if (flags & 0x2) p += 4;  // sample-description-index
            if (flags & 0x8) def = be32(s, p);
          } else if (t3 == "trun") {
            const uint32_t n = be32(s, b3 + 4);
            size_t p = b3 + 8;
            if (flags & 0x1) p += 4;  // data-offset
            if (flags & 0x4) p += 4;  // first-sample-flags
            for (uint32_t i = 0; i < n; ++i) {
              uint32_t d = def;
              if (flags & 0x100) d = be32(s, p), p += 4;
              if (flags & 0x200) p += 4;  // size
              if (flags & 0x400) p += 4;  // flags
              if (flags & 0x800) p += 4;  // composition offset
              out.push_back(d);
            }
          }
        });
      });
    });
  }
  return out;
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
