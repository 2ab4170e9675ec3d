// Likes and comments in the catalog, on every backend (test_catalog and test_catalog_pg): bad
// bodies first, one like per user however the calls race, cursors that neither repeat nor
// skip, and what goes when a video or a user goes.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "catalog/catalog_backend.hpp"
#include "catalog/sqlite_db.hpp"
#include "streamlet/catalog.hpp"
#ifdef STREAMLET_CATALOG_PG
#include "postgres/pool.hpp"
#endif

namespace sc = streamlet::catalog;
using streamlet::ErrorCode;
using streamlet::test::CatalogStore;

namespace {

sc::User user(sc::Catalog& c, const std::string& name) {
  auto u = c.create_user({name, "", "$argon2id$placeholder", sc::Role::kUser});
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  return *u;
}

sc::Video video(sc::Catalog& c, const std::string& owner) {
  auto v = c.create_video({owner, "Talk", "", sc::Visibility::kPublic, sc::VideoStatus::kQueued});
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return *v;
}

// The catalog has no call that deletes a user (accounts are disabled); the database's own
// DELETE stands for whatever removes one, so the cascade is what is tested.
void delete_user_row(CatalogStore& store, const std::string& id) {
#ifdef STREAMLET_CATALOG_PG
  auto pool = streamlet::postgres::detail::Pool::open(store.postgres().url(), {.size = 1});
  REQUIRE(pool.ok());
  auto r = (*pool)->exec("DELETE FROM users WHERE id = $1", {id});
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
#else
  auto db = streamlet::detail::sql::Db::open(store.sqlite_path().string());
  REQUIRE(db.ok());
  auto s = (*db)->prepare("DELETE FROM users WHERE id = ?");
  REQUIRE(s.ok());
  s->bind(1, id);
  REQUIRE(s->run().ok());
#endif
}

}  // namespace

TEST_CASE("comments: blank, oversize, control characters and bad UTF-8 are refused") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice");
  auto v = video(*c, alice.id);
  for (std::string bad : {std::string(""), std::string(" \t\r\n "), std::string(2001, 'x'),
                          std::string("bell \x07"), std::string("cut \xC3"),
                          std::string("overlong \xC0\xAF"), std::string("surrogate \xED\xA0\x80")}) {
    CAPTURE(bad);
    CHECK(c->add_comment(v.id, alice.id, bad).status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(c->list_comments(v.id, "", 20)->total == 0);
  // 2000 characters is the limit, counted in characters, not bytes; whitespace is trimmed.
  std::string e_acute;
  for (int i = 0; i < 2000; ++i) e_acute += "\xC3\xA9";
  CHECK(c->add_comment(v.id, alice.id, "  " + e_acute + "\n").ok());
  CHECK(c->add_comment(v.id, alice.id, e_acute + "\xC3\xA9").status().code() ==
        ErrorCode::kInvalidArgument);
  auto kept = c->add_comment(v.id, alice.id, "\n  two\n\tlines  \n");
  REQUIRE(kept.ok());
  CHECK(kept->body == "two\n\tlines");
  CHECK(kept->author_username == "alice");
  CHECK(c->add_comment("nope12345678", alice.id, "hi").status().code() == ErrorCode::kNotFound);
  CHECK(c->add_comment(v.id, "nope12345678", "hi").status().code() == ErrorCode::kNotFound);
  CHECK(c->list_comments(v.id, "x'; DROP", 20).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("likes: one per user and video, also when the same like races from many threads") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice"), bob = user(*c, "bob");
  auto v = video(*c, alice.id);
  CHECK(c->set_like(v.id, bob.id, true).value() == 1);
  CHECK(c->set_like(v.id, bob.id, true).value() == 1);  // twice counts once
  CHECK(c->likes(v.id, bob.id).value());
  CHECK_FALSE(c->likes(v.id, alice.id).value());
  CHECK(c->get_video(v.id)->like_count == 1);
  CHECK(c->set_like(v.id, bob.id, false).value() == 0);
  CHECK(c->set_like(v.id, bob.id, false).value() == 0);
  CHECK(c->get_video(v.id)->like_count == 0);
  CHECK(c->set_like("nope12345678", bob.id, true).status().code() == ErrorCode::kNotFound);
  CHECK(c->set_like(v.id, "nope12345678", true).status().code() == ErrorCode::kNotFound);

  // Two "nodes" (catalogs on one store), four threads each, all liking as alice at once.
  auto other = store.open();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto& cat = t % 2 ? *other : *c;
      for (int i = 0; i < 10; ++i)
        if (!cat.set_like(v.id, alice.id, true).ok()) ++failures;
    });
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(c->set_like(v.id, bob.id, true).value() == 2);
  // The count is in every read of the video, listings included.
  CHECK(c->get_video(v.id)->like_count == 2);
  sc::VideoQuery q;
  auto page = c->list_videos(q);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].like_count == 2);
  sc::VideoUpdate up;
  up.title = "Renamed";
  CHECK(c->update_video(v.id, up)->like_count == 2);  // RETURNING on PostgreSQL
}

TEST_CASE("comments: newest first, a cursor that neither repeats nor skips, delete") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice"), bob = user(*c, "bob");
  auto v = video(*c, alice.id), w = video(*c, bob.id);
  for (int i = 0; i < 7; ++i)
    REQUIRE(c->add_comment(v.id, i % 2 ? bob.id : alice.id, "c" + std::to_string(i)).ok());
  REQUIRE(c->add_comment(w.id, bob.id, "elsewhere").ok());

  auto first = c->list_comments(v.id, "", 3).value();
  CHECK(first.total == 7);
  REQUIRE(first.items.size() == 3);
  CHECK(first.items[0].body == "c6");
  CHECK(first.items[0].author_username == "alice");
  CHECK(first.items[1].author_username == "bob");
  REQUIRE_FALSE(first.next_cursor.empty());
  // A comment posted meanwhile does not push one of the older ones onto the next page twice.
  REQUIRE(c->add_comment(v.id, bob.id, "late").ok());
  std::vector<std::string> seen;
  for (auto& x : first.items) seen.push_back(x.body);
  std::string cursor = first.next_cursor;
  while (!cursor.empty()) {
    auto page = c->list_comments(v.id, cursor, 3).value();
    for (auto& x : page.items) seen.push_back(x.body);
    cursor = page.next_cursor;
  }
  CHECK(seen == std::vector<std::string>{"c6", "c5", "c4", "c3", "c2", "c1", "c0"});

  auto one = c->list_comments(v.id, "", 1).value().items.at(0);
  CHECK(c->get_comment(v.id, one.id)->body == "late");
  CHECK(c->get_comment(w.id, one.id).status().code() == ErrorCode::kNotFound);  // not w's
  CHECK(c->delete_comment(w.id, one.id).code() == ErrorCode::kNotFound);
  CHECK(c->delete_comment(v.id, one.id).ok());
  CHECK(c->delete_comment(v.id, one.id).code() == ErrorCode::kNotFound);
  CHECK(c->list_comments(v.id, "", 20)->total == 7);
}

TEST_CASE("likes and comments go with their video and with their author") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice"), bob = user(*c, "bob");
  auto v = video(*c, alice.id), w = video(*c, alice.id);
  REQUIRE(c->set_like(v.id, bob.id, true).ok());
  REQUIRE(c->set_like(w.id, bob.id, true).ok());
  REQUIRE(c->set_like(w.id, alice.id, true).ok());
  REQUIRE(c->add_comment(v.id, bob.id, "on v").ok());
  REQUIRE(c->add_comment(w.id, bob.id, "bob on w").ok());
  REQUIRE(c->add_comment(w.id, alice.id, "alice on w").ok());

  REQUIRE(c->delete_video(v.id).ok());
  CHECK(c->list_comments(v.id, "", 20)->total == 0);
  CHECK_FALSE(c->likes(v.id, bob.id).value());

  delete_user_row(store, bob.id);
  auto left = c->list_comments(w.id, "", 20).value();
  REQUIRE(left.items.size() == 1);
  CHECK(left.items[0].body == "alice on w");
  CHECK(c->get_video(w.id)->like_count == 1);
}
