#include <filesystem>
#include <set>
#include <thread>

#include "catalog/sqlite_db.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "catalog/catalog_backend.hpp"
#include "support/support.hpp"

namespace sc = streamlet::catalog;
using streamlet::ErrorCode;
using streamlet::test::CatalogStore;
using streamlet::test::sqlite_only;

namespace {

std::shared_ptr<sc::Catalog> open(CatalogStore& store) { return store.open(); }

sc::User make_user(sc::Catalog& c, const std::string& name) {
  auto u = c.create_user({name, name + "@example.com", "$argon2id$placeholder", sc::Role::kUser});
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  return *u;
}

sc::Video make_video(sc::Catalog& c, const std::string& owner, const std::string& title,
                     const std::string& description = "",
                     sc::Visibility vis = sc::Visibility::kPublic) {
  auto v = c.create_video({owner, title, description, vis, sc::VideoStatus::kQueued});
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return *v;
}

}  // namespace

TEST_CASE("videos: create, read, update, status, ready, delete") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");

  auto v = make_video(*c, alice.id, "Sunset", "over the bay", sc::Visibility::kPrivate);
  CHECK(v.id.size() == 12);
  CHECK(v.owner_id == alice.id);
  CHECK(v.status == sc::VideoStatus::kQueued);
  CHECK(v.created_at_ms > 0);

  auto got = c->get_video(v.id);
  REQUIRE(got.ok());
  CHECK(got->title == "Sunset");
  CHECK(got->visibility == sc::Visibility::kPrivate);

  sc::VideoUpdate up;
  up.title = "Sunset at the bay";
  up.visibility = sc::Visibility::kUnlisted;
  auto updated = c->update_video(v.id, up);
  REQUIRE(updated.ok());
  CHECK(updated->title == "Sunset at the bay");
  CHECK(updated->description == "over the bay");  // untouched field kept
  CHECK(updated->visibility == sc::Visibility::kUnlisted);

  auto failed = c->set_status(v.id, sc::VideoStatus::kFailed, "decoder error");
  REQUIRE(failed.ok());
  CHECK(failed->status == sc::VideoStatus::kFailed);
  CHECK(failed->status_reason == "decoder error");

  sc::ReadyInfo info;
  info.duration_seconds = 12.5;
  info.renditions_json = R"([{"id":"360p"}])";
  info.hls_master = "abc/master.m3u8";
  info.poster = "abc/poster.jpg";
  auto ready = c->set_ready(v.id, info);
  REQUIRE(ready.ok());
  CHECK(ready->status == sc::VideoStatus::kReady);
  CHECK(ready->status_reason.empty());
  CHECK(ready->duration_seconds == doctest::Approx(12.5));
  CHECK(ready->hls_master == "abc/master.m3u8");

  info.renditions_json = "{not json";
  CHECK(c->set_ready(v.id, info).status().code() == ErrorCode::kInvalidArgument);

  REQUIRE(c->delete_video(v.id).ok());
  CHECK(c->get_video(v.id).status().code() == ErrorCode::kNotFound);
  CHECK(c->delete_video(v.id).code() == ErrorCode::kNotFound);
  CHECK(c->update_video("nope", up).status().code() == ErrorCode::kNotFound);
  CHECK(
      c->create_video({"no-such-user", "x", "", sc::Visibility::kPublic, sc::VideoStatus::kQueued})
          .status()
          .code() == ErrorCode::kNotFound);
}

TEST_CASE("videos: full-text search finds description words and forgets deleted videos") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto cats = make_video(*c, alice.id, "Holiday", "Two cats chasing a laser pointer");
  auto dogs = make_video(*c, alice.id, "Park day", "Dogs in the park");
  make_video(*c, alice.id, "Cooking", "Pasta from scratch");

  sc::VideoQuery q;
  q.text = "laser";
  auto r = c->list_videos(q);
  REQUIRE(r.ok());
  REQUIRE(r->items.size() == 1);
  CHECK(r->items[0].id == cats.id);
  CHECK(r->total == 1);

  q.text = "park";  // title and description of the same video, once
  r = c->list_videos(q);
  REQUIRE(r.ok());
  REQUIRE(r->items.size() == 1);
  CHECK(r->items[0].id == dogs.id);

  q.text = "chas";  // prefix of a word
  r = c->list_videos(q);
  REQUIRE(r.ok());
  CHECK(r->total == 1);

  q.text = "\"laser\" OR (NEAR";  // query syntax from a user is just words, never an error
  r = c->list_videos(q);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());

  // Renaming updates the index: the old word no longer matches, the new one does.
  sc::VideoUpdate up;
  up.description = "Two kittens and a ball of wool";
  REQUIRE(c->update_video(cats.id, up).ok());
  q.text = "laser";
  CHECK(c->list_videos(q)->total == 0);
  q.text = "kittens";
  CHECK(c->list_videos(q)->total == 1);

  REQUIRE(c->delete_video(cats.id).ok());
  CHECK(c->list_videos(q)->total == 0);
  CHECK(c->list_videos(q)->items.empty());
}

TEST_CASE("videos: pagination, owner and visibility filters") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto bob = make_user(*c, "bob");
  std::vector<std::string> alice_public;
  for (int i = 0; i < 7; ++i)
    alice_public.push_back(make_video(*c, alice.id, "clip " + std::to_string(i)).id);
  make_video(*c, alice.id, "secret", "", sc::Visibility::kPrivate);
  make_video(*c, alice.id, "link only", "", sc::Visibility::kUnlisted);
  make_video(*c, bob.id, "bob's", "", sc::Visibility::kPublic);

  sc::VideoQuery q;
  q.owner_id = alice.id;
  q.visibility = sc::Visibility::kPublic;
  q.limit = 3;
  std::set<std::string> seen;
  std::vector<std::string> order;
  for (int page = 0; page < 3; ++page) {
    q.offset = page * 3;
    auto r = c->list_videos(q);
    REQUIRE(r.ok());
    CHECK(r->total == 7);
    CHECK(r->items.size() == (page < 2 ? 3u : 1u));
    for (auto& v : r->items) {
      CHECK(v.owner_id == alice.id);
      CHECK(v.visibility == sc::Visibility::kPublic);
      seen.insert(v.id);
      order.push_back(v.id);
    }
  }
  CHECK(seen.size() == 7);                      // pages neither overlap nor skip
  CHECK(order.front() == alice_public.back());  // newest first

  q = {};
  q.visibility = sc::Visibility::kPublic;
  CHECK(c->list_videos(q)->total == 8);  // private and unlisted stay out of the public list
  q.visibility = sc::Visibility::kPrivate;
  CHECK(c->list_videos(q)->total == 1);
  q = {};
  q.owner_id = alice.id;
  CHECK(c->list_videos(q)->total == 9);
  q.status = sc::VideoStatus::kReady;
  CHECK(c->list_videos(q)->total == 0);
}

TEST_CASE("videos: visible_to lists others' public ready videos and all of the viewer's own") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto bob = make_user(*c, "bob");
  auto ready = [&](const sc::Video& v) {
    REQUIRE(c->set_status(v.id, sc::VideoStatus::kReady, "").ok());
    return v.id;
  };
  const std::string bob_public = ready(make_video(*c, bob.id, "bob public ocean"));
  make_video(*c, bob.id, "bob public still queued ocean");
  ready(make_video(*c, bob.id, "bob unlisted", "", sc::Visibility::kUnlisted));
  ready(make_video(*c, bob.id, "bob private", "", sc::Visibility::kPrivate));
  const std::string alice_private =
      ready(make_video(*c, alice.id, "alice private ocean", "", sc::Visibility::kPrivate));
  const std::string alice_queued = make_video(*c, alice.id, "alice queued").id;
  auto ids = [&](sc::VideoQuery q) {
    auto page = c->list_videos(q);
    REQUIRE(page.ok());
    std::set<std::string> out;
    for (const auto& v : page->items) out.insert(v.id);
    CHECK(page->total == int64_t(out.size()));
    return out;
  };
  sc::VideoQuery q;
  q.visible_to = alice.id;
  CHECK(ids(q) == std::set<std::string>{bob_public, alice_private, alice_queued});
  q.visible_to = "";  // anonymous
  CHECK(ids(q) == std::set<std::string>{bob_public});
  // The other filters apply to both halves.
  q.visible_to = alice.id;
  q.text = "ocean";
  CHECK(ids(q) == std::set<std::string>{bob_public, alice_private});
  q.text.clear();
  q.status = sc::VideoStatus::kQueued;
  CHECK(ids(q) == std::set<std::string>{alice_queued});
  // Paging walks the union newest first.
  q = {};
  q.visible_to = alice.id;
  q.limit = 2;
  auto first = c->list_videos(q);
  REQUIRE(first.ok());
  CHECK(first->total == 3);
  CHECK(first->items.size() == 2);
  CHECK(first->items[0].id == alice_queued);
}

TEST_CASE("catalog: opening an existing file again keeps the data and the schema") {
  CATALOG_STORE(dir);
  std::string id;
  {
    auto c = open(dir);
    auto u = make_user(*c, "alice");
    id = make_video(*c, u.id, "kept", "searchable words").id;
  }
  for (int i = 0; i < 2; ++i) {
    auto c = open(dir);  // migrations already applied: nothing to redo, nothing lost
    auto v = c->get_video(id);
    REQUIRE(v.ok());
    CHECK(v->title == "kept");
    sc::VideoQuery q;
    q.text = "searchable";
    CHECK(c->list_videos(q)->total == 1);
  }
}

TEST_CASE("catalog: a file from a newer schema version is refused, naming file and versions" *
          sqlite_only()) {
  CATALOG_STORE(dir);
  const std::string path = dir.sqlite_path().string();
  { open(dir); }
  {
    auto db = streamlet::detail::sql::Db::open(path);
    REQUIRE(db.ok());
    REQUIRE((*db)->exec("UPDATE schema_version SET version = 99 WHERE component = 'catalog'").ok());
  }
  auto again = sc::open_sqlite_catalog(path);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == ErrorCode::kUnsupported);
  const std::string& m = again.status().message();
  CHECK_MESSAGE(m.find(path) != std::string::npos, m);
  CHECK_MESSAGE(m.find("schema version 99") != std::string::npos, m);
  CHECK_MESSAGE(m.find("knows 9") != std::string::npos, m);
  // The job queue shares the file and checks its own component the same way.
  {
    auto db = streamlet::detail::sql::Db::open(path);
    REQUIRE((*db)->exec("UPDATE schema_version SET version = 1 WHERE component = 'catalog'").ok());
  }
  REQUIRE(streamlet::jobs::open_sqlite_job_queue(path).ok());
  {
    auto db = streamlet::detail::sql::Db::open(path);
    REQUIRE((*db)->exec("UPDATE schema_version SET version = 9 WHERE component = 'jobs'").ok());
  }
  auto queue = streamlet::jobs::open_sqlite_job_queue(path);
  REQUIRE_FALSE(queue.ok());
  CHECK(queue.status().message().find("jobs schema version 9") != std::string::npos);
}

TEST_CASE("catalog: titles, descriptions and key names must be UTF-8 text") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  for (std::string bad : {std::string("caf\xE9"), std::string("\xED\xA0\x80"),
                          std::string("tab\there"), std::string("new\nline")}) {
    CAPTURE(bad);
    auto v =
        c->create_video({alice.id, bad, "", sc::Visibility::kPublic, sc::VideoStatus::kQueued});
    CHECK(v.status().code() == ErrorCode::kInvalidArgument);
    CHECK(v.status().message().rfind("title: ", 0) == 0);
    CHECK(c->create_api_key(alice.id, bad).status().code() == ErrorCode::kInvalidArgument);
  }
  auto v = make_video(*c, alice.id, "ok", "two\nlines\tand a tab");
  sc::VideoUpdate bad_description;
  bad_description.description = "bad \xFF";
  CHECK(c->update_video(v.id, bad_description).status().code() == ErrorCode::kInvalidArgument);
  // A status reason is the system's text: kept, with bad bytes replaced, never refused.
  auto failed = c->set_status(v.id, sc::VideoStatus::kFailed, "decoder said \xFF\xFE");
  REQUIRE(failed.ok());
  CHECK(failed->status_reason == "decoder said \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("users: unique names, lookup, roles") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  CHECK(alice.role == sc::Role::kUser);
  auto dup = c->create_user({"Alice", "", "$hash", sc::Role::kUser});
  CHECK(dup.status().code() == ErrorCode::kAlreadyExists);  // names differ only by case
  CHECK(c->create_user({"a b", "", "$hash"}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(c->create_user({"xy", "", "$hash"}).status().code() == ErrorCode::kInvalidArgument);

  auto found = c->find_user_by_name("ALICE");
  REQUIRE(found.ok());
  CHECK(found->id == alice.id);
  CHECK(c->find_user_by_name("carol").status().code() == ErrorCode::kNotFound);
  REQUIRE(c->set_user_role(alice.id, sc::Role::kAdmin).ok());
  CHECK(c->get_user(alice.id)->role == sc::Role::kAdmin);
  CHECK(*c->count_users() == 1);
}

TEST_CASE("api keys: found by the key itself, never by a wrong one, revocable") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto key = c->create_api_key(alice.id, "uploader");
  REQUIRE(key.ok());
  CHECK(key->key.rfind("sk_", 0) == 0);
  CHECK(key->key.size() == 3 + 43);
  CHECK(key->key.substr(0, key->info.prefix.size()) == key->info.prefix);

  auto who = c->find_user_by_api_key(key->key);
  REQUIRE(who.ok());
  CHECK(who->id == alice.id);

  std::string wrong = key->key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  CHECK(c->find_user_by_api_key(wrong).status().code() == ErrorCode::kUnauthenticated);
  CHECK(c->find_user_by_api_key("").status().code() == ErrorCode::kUnauthenticated);

  // Neither the database nor its write-ahead log holds a copy of the key.
  if (!streamlet::test::kCatalogOnPostgres) {
    for (const char* file : {"streamlet.db", "streamlet.db-wal"}) {
      if (!std::filesystem::exists(dir.dir() / file)) continue;
      CHECK(streamlet::test::read_file(dir.dir() / file).find(key->key) == std::string::npos);
    }
    CHECK(std::filesystem::exists(dir.dir() / "streamlet.db-wal"));  // WAL mode is on
  }
#ifdef STREAMLET_CATALOG_PG
  {
    // No column of any key row holds the key (the whole row as text).
    auto pool = streamlet::postgres::detail::Pool::open(dir.postgres().url(), {.size = 1});
    REQUIRE(pool.ok());
    auto rows = (*pool)->exec("SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0",
                              {key->key});
    REQUIRE_MESSAGE(rows.ok(), rows.status().to_string());
    CHECK(rows->int64(0, 0) == 0);
    CHECK((*pool)->exec("SELECT count(*) FROM api_keys")->int64(0, 0) == 1);
  }
#endif

  auto keys = c->list_api_keys(alice.id);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].name == "uploader");
  CHECK((*keys)[0].last_used_at_ms > 0);

  REQUIRE(c->revoke_api_key(alice.id, key->info.id).ok());
  CHECK(c->find_user_by_api_key(key->key).status().code() == ErrorCode::kUnauthenticated);
}

TEST_CASE("views: counts, watch time and unique viewers per day") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto v = make_video(*c, alice.id, "popular");
  auto other = make_video(*c, alice.id, "other");

  auto beacon = [&](const std::string& viewer, double secs, const std::string& day, bool first) {
    auto s = c->record_view({v.id, viewer, secs, day, first});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
  };
  // Day 1: viewer A plays twice (start beacon + a progress beacon each), B once.
  beacon("A", 10, "2024-05-01", true);
  beacon("A", 20, "2024-05-01", false);
  beacon("A", 5, "2024-05-01", true);
  beacon("B", 30, "2024-05-01", true);
  // Day 2: A again.
  beacon("A", 60, "2024-05-02", true);
  REQUIRE(c->record_view({other.id, "A", 1, "2024-05-02", true}).ok());

  auto stats = c->view_stats(v.id);
  REQUIRE(stats.ok());
  CHECK(stats->views == 4);
  CHECK(stats->watch_seconds == doctest::Approx(125));
  CHECK(stats->unique_viewers == 2);
  REQUIRE(stats->days.size() == 2);
  CHECK(stats->days[0].day == "2024-05-01");
  CHECK(stats->days[0].views == 3);
  CHECK(stats->days[0].unique_viewers == 2);
  CHECK(stats->days[0].watch_seconds == doctest::Approx(65));
  CHECK(stats->days[1].unique_viewers == 1);
  CHECK(stats->days[1].views == 1);

  auto day2 = c->view_stats(v.id, "2024-05-02", "2024-05-02");
  REQUIRE(day2.ok());
  CHECK(day2->views == 1);
  CHECK(day2->unique_viewers == 1);

  auto video = c->get_video(v.id);
  CHECK(video->view_count == 4);
  CHECK(video->watch_seconds == doctest::Approx(125));

  CHECK(c->record_view({"missing", "A", 1, "", true}).code() == ErrorCode::kNotFound);
  CHECK(c->record_view({v.id, "A", -1, "", true}).code() == ErrorCode::kInvalidArgument);
  CHECK(c->record_view({v.id, "A", 1, "yesterday", true}).code() == ErrorCode::kInvalidArgument);
  CHECK(c->record_view({v.id, "", 1, "", true}).code() == ErrorCode::kInvalidArgument);

  // A beacon without a day counts today.
  REQUIRE(c->record_view({v.id, "C", 3, "", true}).ok());
  CHECK(c->view_stats(v.id)->views == 5);

  // Statistics go with the video.
  REQUIRE(c->delete_video(v.id).ok());
  CHECK(c->view_stats(v.id).status().code() == ErrorCode::kNotFound);
}

TEST_CASE("views: once_per_day counts a viewer's first beacon of each day, across a reopen") {
  CATALOG_STORE(dir);
  std::string id;
  auto beacon = [&](sc::Catalog& c, const std::string& viewer, double secs,
                    const std::string& day) {
    sc::ViewBeacon b{id, viewer, secs, day};
    b.new_view = false;  // ignored: the catalog decides
    b.once_per_day = true;
    auto s = c.record_view(b);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
  };
  {
    auto c = open(dir);
    id = make_video(*c, make_user(*c, "alice").id, "daily").id;
    beacon(*c, "A", 0, "2024-05-01");
    beacon(*c, "A", 10, "2024-05-01");
    beacon(*c, "B", 0, "2024-05-01");
  }
  auto c = open(dir);
  beacon(*c, "A", 5, "2024-05-01");  // the same day after a reopen: still one view
  beacon(*c, "A", 0, "2024-05-02");  // the next day counts again
  CHECK(c->record_view({"missing", "A", 1, "2024-05-01", false, true}).code() ==
        ErrorCode::kNotFound);

  auto stats = c->view_stats(id);
  REQUIRE(stats.ok());
  CHECK(stats->views == 3);
  CHECK(stats->watch_seconds == doctest::Approx(15));
  REQUIRE(stats->days.size() == 2);
  CHECK(stats->days[0].views == 2);
  CHECK(stats->days[0].unique_viewers == 2);
  CHECK(stats->days[1].views == 1);
  CHECK(c->get_video(id)->view_count == 3);
}

TEST_CASE("views: view_interval counts a viewer at most once per interval, across a reopen") {
  CATALOG_STORE(dir);
  std::string id;
  const int64_t t0 = 1714557600000;  // 2024-05-01 10:00 UTC
  auto beacon = [&](sc::Catalog& c, const std::string& viewer, int64_t at_ms) {
    sc::ViewBeacon b{id, viewer, 1, ""};
    b.new_view = true;  // ignored: the catalog decides
    b.view_interval_seconds = 30 * 60;
    b.at_ms = at_ms;
    auto s = c.record_view(b);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
  };
  const int64_t minute = 60'000;
  {
    auto c = open(dir);
    id = make_video(*c, make_user(*c, "alice").id, "watched").id;
    beacon(*c, "A", t0);                // a view
    beacon(*c, "A", t0 + 10 * minute);  // the same playback going on: no view
    beacon(*c, "B", t0 + 10 * minute);  // another viewer: a view
  }
  auto c = open(dir);
  beacon(*c, "A", t0 + 29 * minute);  // still within 30 min of the counted view
  CHECK(c->get_video(id)->view_count == 2);
  beacon(*c, "A", t0 + 30 * minute);  // half an hour on: a view again
  beacon(*c, "A", t0 + 45 * minute);  // measured from that one, not the first
  CHECK(c->get_video(id)->view_count == 3);
  beacon(*c, "A", t0 + 60 * minute);
  auto stats = c->view_stats(id);
  REQUIRE(stats.ok());
  CHECK(stats->views == 4);
  CHECK(stats->watch_seconds == doctest::Approx(7));
  CHECK(stats->unique_viewers == 2);
  sc::ViewBeacon bad{id, "A", 1, ""};
  bad.view_interval_seconds = -1;
  CHECK(c->record_view(bad).code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("catalog: concurrent writers from several threads all land") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto v = make_video(*c, alice.id, "busy");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        CHECK(c->record_view({v.id, "viewer" + std::to_string(t), 1, "2024-01-01", true}).ok());
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c->get_video(v.id)->view_count == 100);
  CHECK(c->view_stats(v.id)->unique_viewers == 4);
}

TEST_CASE("videos: caption tracks are recorded per language, replaced, listed, removed") {
  CATALOG_STORE(dir);
  auto c = open(dir);
  auto alice = make_user(*c, "alice");
  auto v = make_video(*c, alice.id, "Talk", "", sc::Visibility::kPublic);

  CHECK(c->put_caption({"nope12345678", "en", "English", 3, 0}).status().code() ==
        ErrorCode::kNotFound);
  CHECK(c->put_caption({v.id, "en", "two\nlines", 3, 0}).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(c->put_caption({v.id, "en/../x", "English", 3, 0}).status().code() ==
        ErrorCode::kInvalidArgument);
  REQUIRE(c->put_caption({v.id, "pt-BR", "Portugu\xC3\xAAs", 2, 0}).ok());
  auto en = c->put_caption({v.id, "en", "English", 3, 0});
  REQUIRE(en.ok());
  CHECK(en->updated_at_ms > 0);
  REQUIRE(c->put_caption({v.id, "en", "English (CC)", 5, 0}).ok());  // replaces
  auto list = c->list_captions(v.id).value();
  REQUIRE(list.size() == 2);
  CHECK(list[0].language == "en");
  CHECK(list[0].label == "English (CC)");
  CHECK(list[0].cues == 5);
  CHECK(list[1].language == "pt-BR");

  CHECK(c->delete_caption(v.id, "fr").code() == ErrorCode::kNotFound);
  CHECK(c->delete_caption(v.id, "en").ok());
  CHECK(c->list_captions(v.id).value().size() == 1);

  auto posted = c->set_poster(v.id, v.id + "/poster_1.jpg");
  REQUIRE(posted.ok());
  CHECK(posted->poster == v.id + "/poster_1.jpg");
  CHECK(c->set_poster("nope12345678", "x").status().code() == ErrorCode::kNotFound);

  // The video's captions go with it.
  REQUIRE(c->delete_video(v.id).ok());
  CHECK(c->list_captions(v.id).value().empty());
}
