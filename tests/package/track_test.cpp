#include "ladder_fixture.hpp"
#include "support/support.hpp"

using namespace streamlet;
using namespace streamlet::test;

TEST_CASE("segment names count from first_segment_number with five digits") {
  package::Track t = ladder_360p();
  CHECK(t.segment_name(0) == "seg_00001.m4s");
  CHECK(t.segment_name(41) == "seg_00042.m4s");
  t.first_segment_number = 0;
  CHECK(t.segment_name(0) == "seg_00000.m4s");
  t.first_segment_number = 99999;
  CHECK(t.segment_name(1) == "seg_100000.m4s");  // widens instead of wrapping
}

TEST_CASE("track duration and byte totals come from the segment list") {
  package::Track t = ladder_720p();
  CHECK(t.duration() == 5 * 540540 + 225000);
  CHECK(t.duration_seconds() == doctest::Approx(32.53).epsilon(1e-12));
  CHECK(t.total_bytes() == 13574500u);
  CHECK(ladder_audio().duration_seconds() == doctest::Approx(32.53).epsilon(1e-12));
}

TEST_CASE("average and peak bit rates match hand-worked values and round up") {
  // See ladder_fixture.hpp for the arithmetic.
  CHECK(ladder_720p().average_bitrate() == 3338334u);
  CHECK(ladder_720p().peak_bitrate() == 5000000u);  // the short last segment
  CHECK(ladder_480p().average_bitrate() == 1500000u);
  CHECK(ladder_480p().peak_bitrate() == 1500000u);
  CHECK(ladder_audio().peak_bitrate() == 133334u);
  CHECK(ladder_audio().average_bitrate() == 128985u);
}

TEST_CASE("an empty track has zero duration and bit rates instead of dividing by zero") {
  package::Track t;
  CHECK(t.duration() == 0);
  CHECK(t.duration_seconds() == 0.0);
  CHECK(t.average_bitrate() == 0u);
  CHECK(t.peak_bitrate() == 0u);
}

TEST_CASE("presentation duration is the longest track") {
  package::Presentation p = ladder_with_audio();
  p.audio->segments.push_back({p.audio->duration(), 48000, 1000});  // one more second of audio
  CHECK(p.duration_seconds() == doctest::Approx(33.53).epsilon(1e-12));
}
