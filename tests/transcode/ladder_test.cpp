#include "streamlet/transcode.hpp"
#include "support/support.hpp"

namespace tc = streamlet::transcode;

TEST_CASE("the default ladder follows common authoring practice") {
  auto l = tc::default_ladder();
  REQUIRE(l.size() == 4);
  CHECK(l[0].name == "1080p");
  CHECK(l[0].bitrate == 5'000'000);
  CHECK(l[3].name == "360p");
  CHECK(l[3].bitrate == 800'000);
  for (const auto& r : l) {
    CHECK(r.maxrate_factor == doctest::Approx(1.07));
    CHECK(r.buffer_factor == doctest::Approx(1.5));
    CHECK(r.profile == "high");
  }
}

TEST_CASE("parse_ladder: known rungs, custom rungs, and clear refusals") {
  auto l = tc::parse_ladder("480p,1080p,240p:400k");
  REQUIRE(l.ok());
  REQUIRE(l->size() == 3);
  CHECK((*l)[0].height == 1080);  // sorted highest first
  CHECK((*l)[2].bitrate == 400'000);
  CHECK(tc::parse_ladder("2160p:15M")->front().bitrate == 15'000'000);
  for (const char* bad : {"", "720", "abcp", "720p,720p", "250p", "240p:", "240p:-5k", "240p:fast", "99999p:1k"})
    CHECK_MESSAGE(tc::parse_ladder(bad).status().code() == streamlet::ErrorCode::kInvalidArgument, bad);
}

TEST_CASE("plan_ladder never upscales, keeps aspect, makes sizes even") {
  auto l = tc::default_ladder();
  auto p = tc::plan_ladder(l, 1280, 720);
  REQUIRE(p.size() == 3);
  CHECK(p[0].width == 1280);
  CHECK(p[0].height == 720);
  CHECK(p[1].width == 854);  // 853.33 -> even
  CHECK(p[2].width == 640);

  auto portrait = tc::plan_ladder(l, 1080, 1920);
  REQUIRE(portrait.size() == 4);
  CHECK(portrait[0].width == 1080);
  CHECK(portrait[0].height == 1920);
  CHECK(portrait[3].width == 360);
  CHECK(portrait[3].height == 640);

  auto tiny = tc::plan_ladder(l, 321, 241);  // below every rung: one at its own size
  REQUIRE(tiny.size() == 1);
  CHECK(tiny[0].height % 2 == 0);
  CHECK(tiny[0].width % 2 == 0);
  CHECK(tiny[0].height <= 241);
  CHECK(tiny[0].rendition.bitrate < 800'000);

  auto cinema = tc::plan_ladder(l, 1920, 800);  // 2.4:1, short side 800
  REQUIRE(cinema.size() == 3);
  CHECK(cinema[0].height == 720);
  CHECK(cinema[0].width == 1728);
}
