#include <fstream>
#include <string>

#include "streamlet/transcode.hpp"
#include "support/media_check.hpp"
#include "transcode/stages.hpp"

using namespace streamlet::test;
namespace tc = streamlet::transcode;

namespace {

// The "Threads:" line of /proc/self/status: every thread this process runs now.
int threads_now() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

}  // namespace

TEST_CASE("threads = 1 runs the whole transcode on the calling thread") {
  if (threads_now() < 0) STREAMLET_SKIP("no /proc/self/status here");
  TempDir d;
  const int before = threads_now();
  int most = before;
  tc::Options o;
  o.threads = 1;  // decoder, graph and every x264 single-threaded
  auto r = tc::transcode(clip_480p_audio().string(), (d / "out").string(), o,
                         [&](const tc::Progress&) { most = std::max(most, threads_now()); });
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->video.size() == 2);
  MESSAGE("threads before " << before << ", at most " << most << " during the transcode");
  CHECK(most == before);
}

TEST_CASE("x264 threads follow each rung's share of the pixels") {
  auto plan = tc::plan_ladder(tc::default_ladder(), 1920, 1080);
  REQUIRE(plan.size() == 4);
  // 2 cores: a budget of 3 threads; 1080p carries 57% of the pixels.
  CHECK(tc::detail::encoder_threads(plan, 2) == std::vector<int>{2, 1, 1, 1});
  CHECK(tc::detail::encoder_threads(plan, 8) == std::vector<int>{7, 3, 1, 1});
  CHECK(tc::detail::encoder_threads({plan.front()}, 2) == std::vector<int>{3});
  CHECK(tc::detail::encoder_threads(plan, 1) == std::vector<int>{1, 1, 1, 1});
  CHECK(tc::detail::encoder_threads({plan.front()}, 1) == std::vector<int>{1});
}

TEST_CASE("the smallest window of frames in flight still transcodes every frame, on any ladder") {
  // A window below what the stages hold at once (the frame waiting for its duration, one in
  // each rung) once stalled the graph, which then reported the input as truncated.
  for (const std::string ladder : {"360p", "360p,240p:300k"}) {
    CAPTURE(ladder);
    TempDir d;
    tc::Options o;
    auto rungs = tc::parse_ladder(ladder);
    REQUIRE(rungs.ok());
    o.ladder = *rungs;
    o.max_in_flight = 1;
    auto r = tc::transcode(clip_480p_audio().string(), (d / "out").string(), o);
    REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    REQUIRE(r->video.size() == o.ladder.size());
    const auto joined = join_track(d / "out" / "360p", d.path());
    CHECK(count_video_frames(joined) == count_video_frames(clip_480p_audio()));
  }
}
