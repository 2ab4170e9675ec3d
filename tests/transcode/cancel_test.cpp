#include <chrono>
#include <thread>

#include "streamlet/transcode.hpp"
#include "support/media_check.hpp"

namespace fs = std::filesystem;
using namespace streamlet::test;
namespace tc = streamlet::transcode;

TEST_CASE("cancelling mid-run stops promptly and leaves nothing behind") {
  TempDir d;
  tc::CancelToken cancel;
  std::chrono::steady_clock::time_point cancelled_at;
  double fraction_at_cancel = 0;
  auto progress = [&](const tc::Progress& p) {
    if (p.fraction >= 0.25 && !cancel.cancelled()) {
      fraction_at_cancel = p.fraction;
      cancelled_at = std::chrono::steady_clock::now();
      cancel.cancel();
    }
  };
  auto r = tc::transcode(clip_480p_audio().string(), (d / "out").string(), tc::Options{}, progress, cancel);
  auto stopped_in = std::chrono::duration<double>(std::chrono::steady_clock::now() - cancelled_at).count();
  REQUIRE(cancel.cancelled());
  CHECK(fraction_at_cancel < 1.0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == streamlet::ErrorCode::kCancelled);
  MESSAGE("stopped " << stopped_in << " s after cancel()");
  CHECK(stopped_in < 3.0);  // generous: the promise is about a second; CI machines are shared
  CHECK_FALSE(fs::exists(d / "out"));
  for (const auto& e : fs::directory_iterator(d.path())) FAIL_CHECK("left behind: " << e.path());
}

TEST_CASE("progress reports climb to the end with frames per second and speed") {
  TempDir d;
  std::vector<tc::Progress> seen;
  tc::Options o;
  o.ladder = tc::parse_ladder("240p:300k").value();
  auto r = tc::transcode(clip_480p_audio().string(), (d / "out").string(), o,
                         [&](const tc::Progress& p) { seen.push_back(p); });
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  REQUIRE(seen.size() >= 2);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].fraction >= seen[i - 1].fraction);
  CHECK(seen.back().fraction == doctest::Approx(1.0));
  CHECK(seen.back().frames == 240);
  CHECK(seen.back().fps > 0);
  CHECK(seen.back().speed > 0);
}
