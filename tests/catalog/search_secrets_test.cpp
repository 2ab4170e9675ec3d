// Hostile search text and names, diacritics, and shared secrets, on every catalog backend.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "catalog/catalog_backend.hpp"
#include "streamlet/catalog.hpp"

namespace sc = streamlet::catalog;
using streamlet::ErrorCode;
using streamlet::test::CatalogStore;

namespace {

sc::User user(sc::Catalog& c, const std::string& name) {
  auto u = c.create_user({name, "", "$argon2id$placeholder", sc::Role::kUser});
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  return *u;
}

std::string video(sc::Catalog& c, const std::string& owner, const std::string& title,
                  const std::string& description = "") {
  auto v = c.create_video({owner, title, description, sc::Visibility::kPublic,
                           sc::VideoStatus::kQueued});
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return v->id;
}

std::vector<std::string> search(sc::Catalog& c, const std::string& text) {
  sc::VideoQuery q;
  q.text = text;
  auto page = c.list_videos(q);
  REQUIRE_MESSAGE(page.ok(), (text + ": " + page.status().to_string()));
  std::vector<std::string> ids;
  for (const auto& v : page->items) ids.push_back(v.id);
  CHECK(page->total == int64_t(ids.size()));
  return ids;
}

}  // namespace

TEST_CASE("search: diacritics are folded and words match by prefix") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice");
  const std::string ecoute = video(*c, alice.id, "Écoute attentive", "Un café à Zürich");
  const std::string other = video(*c, alice.id, "Listening", "plain ascii");
  CHECK(search(*c, "ecou") == std::vector<std::string>{ecoute});
  CHECK(search(*c, "ÉCOUTE") == std::vector<std::string>{ecoute});
  CHECK(search(*c, "cafe") == std::vector<std::string>{ecoute});
  CHECK(search(*c, "zuri") == std::vector<std::string>{ecoute});
  CHECK(search(*c, "écou zür") == std::vector<std::string>{ecoute});  // all words must match
  CHECK(search(*c, "ecou plain").empty());
  CHECK(search(*c, "listen") == std::vector<std::string>{other});
}

TEST_CASE("search: query syntax and SQL in the text are only words") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice");
  const std::string cats = video(*c, alice.id, "Cats", "cats and a laser");
  video(*c, alice.id, "Dogs", "dogs in a park");
  for (std::string text :
       {"'; DROP TABLE videos; --", "cats' OR '1'='1", "cats:* | dogs", "!cats & (dogs",
        "cats <-> dogs", "\"cats\" OR (NEAR", "\\", "'", ":*", "&&&|||", "cats\\' dogs",
        "‘cats’ «laser»", "%_", "$1", "cats)) OR ((true"}) {
    CAPTURE(text);
    sc::VideoQuery q;
    q.text = text;
    auto page = c->list_videos(q);
    CHECK_MESSAGE(page.ok(), page.status().to_string());
  }
  // Punctuation separates words; it never becomes an operator.
  CHECK(search(*c, "cats' OR '1'='1").empty());  // "or" and "1" are words no video has
  CHECK(search(*c, "cats:* | dogs").empty());     // cats AND dogs: no video has both
  CHECK(search(*c, "‘laser’") == std::vector<std::string>{cats});
  CHECK(search(*c, "la%") == std::vector<std::string>{cats});
  // The table is still there and whole.
  sc::VideoQuery all;
  CHECK(c->list_videos(all)->total == 2);
  // Invalid UTF-8 in a search is refused or matches nothing; never a server error.
  sc::VideoQuery bad;
  bad.text = "caf\xE9";
  auto page = c->list_videos(bad);
  if (!page.ok()) CHECK(page.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("users: names that look like SQL are refused before any query, lookups find nothing") {
  CATALOG_STORE(store);
  auto c = store.open();
  auto alice = user(*c, "alice");
  for (std::string name : {"alice' --", "x'); DROP TABLE users; --", "a\"b", "%", "al_ce%"}) {
    CAPTURE(name);
    CHECK(c->create_user({name, "", "$hash"}).status().code() == ErrorCode::kInvalidArgument);
    CHECK(c->find_user_by_name(name).status().code() == ErrorCode::kNotFound);
  }
  // LIKE wildcards are not wildcards: "al_ce" is not "alice".
  CHECK(c->find_user_by_name("al_ce").status().code() == ErrorCode::kNotFound);
  CHECK(c->find_user_by_name("ALICE")->id == alice.id);
  // Ids with odd bytes are just unknown ids.
  for (std::string id : {std::string("x' OR '1'='1"), std::string("a\0b", 3),
                         std::string("\xFF\xFE"), std::string()}) {
    CHECK(c->get_user(id).status().code() == ErrorCode::kNotFound);
    CHECK(c->get_video(id).status().code() == ErrorCode::kNotFound);
    CHECK(c->delete_video(id).code() == ErrorCode::kNotFound);
    CHECK(c->check_session(id, alice.id).code() == ErrorCode::kUnauthenticated);
  }
  CHECK(*c->count_users() == 1);
}

TEST_CASE("secrets: the first value stored wins, for every caller, across a reopen") {
  CATALOG_STORE(store);
  std::string first;
  {
    auto c = store.open();
    auto s = c->shared_secret("session-signing", "candidate-one");
    REQUIRE_MESSAGE(s.ok(), s.status().to_string());
    CHECK(*s == "candidate-one");
    CHECK(*c->shared_secret("session-signing", "candidate-two") == "candidate-one");
    CHECK(*c->shared_secret("url-signing", "other") == "other");  // names are independent
    first = *s;
  }
  auto c = store.open();
  CHECK(*c->shared_secret("session-signing", "candidate-three") == first);
  CHECK(c->shared_secret("", "x").status().code() == ErrorCode::kInvalidArgument);
  CHECK(c->shared_secret("name", "").status().code() == ErrorCode::kInvalidArgument);
  CHECK(c->shared_secret("bad\nname", "x").status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("secrets: nodes asking at the same moment all get one winner's value") {
  CATALOG_STORE(store);
  constexpr int kNodes = 8;
  std::vector<std::shared_ptr<sc::Catalog>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(store.open());
  std::vector<std::string> got(kNodes);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kNodes) std::this_thread::yield();
      auto s = nodes[i]->shared_secret("webhook", "from-node-" + std::to_string(i));
      got[i] = s.ok() ? *s : "error: " + s.status().to_string();
    });
  for (auto& t : threads) t.join();
  std::set<std::string> distinct(got.begin(), got.end());
  CHECK_MESSAGE(distinct.size() == 1, *distinct.begin());
  CHECK(got[0].rfind("from-node-", 0) == 0);
}

TEST_CASE("leases: one holder at a time, renewed by it, free once released or run out") {
  CATALOG_STORE(store);
  auto a = store.open(), b = store.open();
  using std::chrono::milliseconds;
  CHECK(*a->take_lease("upload:1", "node-a", milliseconds(60'000)));
  CHECK_FALSE(*b->take_lease("upload:1", "node-b", milliseconds(60'000)));  // a holds it
  CHECK(*b->take_lease("upload:2", "node-b", milliseconds(60'000)));       // names apart
  CHECK(*a->take_lease("upload:1", "node-a", milliseconds(60'000)));       // a renews
  CHECK(b->release_lease("upload:1", "node-b").ok());  // not b's: nothing happens
  CHECK_FALSE(*b->take_lease("upload:1", "node-b", milliseconds(60'000)));
  CHECK(a->release_lease("upload:1", "node-a").ok());
  CHECK(*b->take_lease("upload:1", "node-b", milliseconds(1)));
  // b's lease ran out (b died): another takes it.
  std::this_thread::sleep_for(milliseconds(20));
  CHECK(*a->take_lease("upload:1", "node-a", milliseconds(60'000)));
  CHECK(a->take_lease("", "x", milliseconds(1)).status().code() == ErrorCode::kInvalidArgument);
  CHECK(a->take_lease("n", "", milliseconds(1)).status().code() == ErrorCode::kInvalidArgument);
  CHECK(a->take_lease(std::string(201, 'n'), "x", milliseconds(1)).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("leases: of many nodes taking one lease at the same moment, one gets it") {
  CATALOG_STORE(store);
  constexpr int kNodes = 8;
  std::vector<std::shared_ptr<sc::Catalog>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(store.open());
  std::atomic<int> ready{0}, taken{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kNodes) std::this_thread::yield();
      auto t = nodes[i]->take_lease("upload:x", "node-" + std::to_string(i),
                                    std::chrono::milliseconds(60'000));
      if (!t.ok()) ++failed;
      else if (*t) ++taken;
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(taken == 1);
}

TEST_CASE("users: one of many nodes registering the same name in any case wins") {
  CATALOG_STORE(store);
  constexpr int kNodes = 6;
  const char* spellings[kNodes] = {"carol", "Carol", "CAROL", "cArOl", "caroL", "CaRoL"};
  std::vector<std::shared_ptr<sc::Catalog>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(store.open());
  std::vector<ErrorCode> codes(kNodes);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kNodes) std::this_thread::yield();
      codes[i] = nodes[i]->create_user({spellings[i], "", "$hash"}).status().code();
    });
  for (auto& t : threads) t.join();
  int won = 0;
  for (ErrorCode code : codes) {
    if (code == ErrorCode::kOk) ++won;
    else CHECK(code == ErrorCode::kAlreadyExists);
  }
  CHECK(won == 1);
  CHECK(*nodes[0]->count_users() == 1);
}
