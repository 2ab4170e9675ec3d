// A library's views (Catalog::library_view_stats), on SQLite and on PostgreSQL.
#include "catalog/catalog_backend.hpp"
#include "streamlet/catalog.hpp"
#include "support/support.hpp"

namespace sc = streamlet::catalog;
using streamlet::ErrorCode;
using streamlet::test::CatalogStore;

namespace {

struct Library {
  std::shared_ptr<sc::Catalog> c;
  std::string alice, bob, sunset, harbour, bobs;
};

std::string video(sc::Catalog& c, const std::string& owner, const std::string& title) {
  auto v = c.create_video({owner, title, "", sc::Visibility::kPublic, sc::VideoStatus::kReady});
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return v->id;
}

void beacon(sc::Catalog& c, const std::string& id, const std::string& viewer, double seconds,
            const std::string& day, bool first = true) {
  auto s = c.record_view({id, viewer, seconds, day, first});
  REQUIRE_MESSAGE(s.ok(), s.to_string());
}

Library two_owners(CatalogStore& store) {
  Library l;
  l.c = store.open();
  l.alice = l.c->create_user({"alice", "alice@example.com", "$argon2id$x", sc::Role::kUser})->id;
  l.bob = l.c->create_user({"bob", "bob@example.com", "$argon2id$x", sc::Role::kUser})->id;
  l.sunset = video(*l.c, l.alice, "Sunset");
  l.harbour = video(*l.c, l.alice, "Harbour");
  l.bobs = video(*l.c, l.bob, "Bob's");
  auto& c = *l.c;
  // May 1: A watches both of alice's videos (one unique viewer of the library that day), B
  // one of them; May 3: B again. Bob's video is not alice's business.
  beacon(c, l.sunset, "A", 10, "2024-05-01");
  beacon(c, l.sunset, "A", 5, "2024-05-01", false);
  beacon(c, l.harbour, "A", 20, "2024-05-01");
  beacon(c, l.sunset, "B", 30, "2024-05-01");
  beacon(c, l.harbour, "B", 40, "2024-05-03");
  beacon(c, l.harbour, "B", 1, "2024-05-03");
  beacon(c, l.bobs, "A", 99, "2024-05-01");
  return l;
}

}  // namespace

TEST_CASE("library stats: per day over the owner's videos, a viewer of two videos counted once") {
  CATALOG_STORE(store);
  auto l = two_owners(store);
  auto s = l.c->library_view_stats(l.alice, "", "", 10);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  CHECK(s->totals.views == 5);
  CHECK(s->totals.watch_seconds == doctest::Approx(106));
  CHECK(s->totals.unique_viewers == 2);
  REQUIRE(s->totals.days.size() == 2);  // only days with activity
  CHECK(s->totals.days[0].day == "2024-05-01");
  CHECK(s->totals.days[0].views == 3);
  CHECK(s->totals.days[0].watch_seconds == doctest::Approx(65));
  CHECK(s->totals.days[0].unique_viewers == 2);  // A (two videos) and B
  CHECK(s->totals.days[1].day == "2024-05-03");
  CHECK(s->totals.days[1].views == 2);
  CHECK(s->totals.days[1].unique_viewers == 1);

  // Most views first; a tie would go to watch time.
  REQUIRE(s->top.size() == 2);
  CHECK(s->top[0].video_id == l.harbour);
  CHECK(s->top[0].title == "Harbour");
  CHECK(s->top[0].views == 3);
  CHECK(s->top[0].watch_seconds == doctest::Approx(61));
  CHECK(s->top[0].unique_viewers == 2);
  CHECK(s->top[1].video_id == l.sunset);
  CHECK(s->top[1].views == 2);
  CHECK(s->top[1].unique_viewers == 2);

  auto one = l.c->library_view_stats(l.alice, "", "", 1);
  REQUIRE(one.ok());
  REQUIRE(one->top.size() == 1);
  CHECK(one->top[0].video_id == l.harbour);
  CHECK(one->totals.views == 5);  // the list is cut, the totals are not

  auto bobs = l.c->library_view_stats(l.bob, "", "", 10);
  REQUIRE(bobs.ok());
  CHECK(bobs->totals.views == 1);
  CHECK(bobs->totals.watch_seconds == doctest::Approx(99));
  REQUIRE(bobs->top.size() == 1);
  CHECK(bobs->top[0].video_id == l.bobs);
}

TEST_CASE("library stats: a day range bounds totals, days and the top list") {
  CATALOG_STORE(store);
  auto l = two_owners(store);
  auto may3 = l.c->library_view_stats(l.alice, "2024-05-02", "2024-05-03", 10);
  REQUIRE(may3.ok());
  CHECK(may3->totals.views == 2);
  CHECK(may3->totals.unique_viewers == 1);
  REQUIRE(may3->totals.days.size() == 1);
  CHECK(may3->totals.days[0].day == "2024-05-03");
  REQUIRE(may3->top.size() == 1);
  CHECK(may3->top[0].video_id == l.harbour);
  CHECK(may3->top[0].views == 2);

  auto none = l.c->library_view_stats(l.alice, "2024-06-01", "2024-06-30", 10);
  REQUIRE(none.ok());
  CHECK(none->totals.views == 0);
  CHECK(none->totals.unique_viewers == 0);
  CHECK(none->totals.days.empty());
  CHECK(none->top.empty());

  // Someone with no videos, or no such user: an empty library.
  auto carol = l.c->create_user({"carol", "carol@example.com", "$argon2id$x", sc::Role::kUser});
  REQUIRE(carol.ok());
  CHECK(l.c->library_view_stats(carol->id, "", "", 10)->totals.views == 0);
  CHECK(l.c->library_view_stats("nobody", "", "", 10)->top.empty());

  CHECK(l.c->library_view_stats(l.alice, "May 1", "", 10).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(l.c->library_view_stats(l.alice, "", "2024-13-01", 10).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(l.c->library_view_stats(l.alice, "", "", -1).status().code() ==
        ErrorCode::kInvalidArgument);

  // A deleted video's views leave the library with it.
  REQUIRE(l.c->delete_video(l.harbour).ok());
  auto after = l.c->library_view_stats(l.alice, "", "", 10);
  REQUIRE(after.ok());
  CHECK(after->totals.views == 2);
  REQUIRE(after->top.size() == 1);
  CHECK(after->top[0].video_id == l.sunset);
}
