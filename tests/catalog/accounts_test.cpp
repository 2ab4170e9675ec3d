#include <thread>

#include "streamlet/accounts.hpp"
#include "core/crypto.hpp"
#include "catalog/catalog_backend.hpp"
#include "support/support.hpp"

namespace sa = streamlet::accounts;
namespace sc = streamlet::catalog;
using streamlet::ErrorCode;
using streamlet::Status;
using streamlet::test::TempDir;

TEST_CASE("accounts: argon2id hashes verify the right password only" *
          streamlet::test::sqlite_only()) {
  auto h = sa::hash_password("correct horse battery");
  REQUIRE(h.ok());
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(sa::verify_password("correct horse battery", *h));
  CHECK_FALSE(sa::verify_password("correct horse battery!", *h));
  CHECK_FALSE(sa::verify_password("", *h));
  CHECK_FALSE(sa::verify_password("correct horse battery", "garbage"));
  auto h2 = sa::hash_password("correct horse battery");
  REQUIRE(h2.ok());
  CHECK(*h2 != *h);  // salted
  CHECK(sa::hash_password("short").status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("accounts: session tokens round-trip and reject tampering, expiry and alg=none" *
          streamlet::test::sqlite_only()) {
  sa::TokenSigner signer("0123456789abcdef0123456789abcdef", std::chrono::seconds(900));
  const int64_t now = 1'700'000'000;
  std::string token = signer.issue("user123", sc::Role::kAdmin, now);
  CHECK(std::count(token.begin(), token.end(), '.') == 2);

  auto claims = signer.verify(token, now + 10);
  REQUIRE_MESSAGE(claims.ok(), claims.status().to_string());
  CHECK(claims->subject == "user123");
  CHECK(claims->role == sc::Role::kAdmin);
  CHECK(claims->issued_at == now);
  CHECK(claims->expires_at == now + 900);

  CHECK(signer.verify(token, now + 900).status().code() == ErrorCode::kUnauthenticated);

  // Another server's secret.
  sa::TokenSigner other("a different secret of enough size!", std::chrono::seconds(900));
  CHECK(other.verify(token, now).status().code() == ErrorCode::kUnauthenticated);

  // A payload rewritten to claim admin for someone else, signature kept.
  const size_t d1 = token.find('.'), d2 = token.rfind('.');
  std::string forged_payload = streamlet::detail::base64url_encode(
      R"({"sub":"attacker","role":"admin","iat":1700000000,"exp":1700000900})");
  std::string tampered = token.substr(0, d1 + 1) + forged_payload + token.substr(d2);
  CHECK(signer.verify(tampered, now).status().code() == ErrorCode::kUnauthenticated);

  // One flipped signature character.
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  CHECK(signer.verify(flipped, now).status().code() == ErrorCode::kUnauthenticated);

  // alg=none with an empty signature, the classic JWT downgrade.
  std::string none_header = streamlet::detail::base64url_encode(R"({"alg":"none","typ":"JWT"})");
  std::string unsigned_token = none_header + "." + token.substr(d1 + 1, d2 - d1 - 1) + ".";
  auto r = signer.verify(unsigned_token, now);
  CHECK(r.status().code() == ErrorCode::kUnauthenticated);
  CHECK(r.status().message().find("HS256") != std::string::npos);

  for (const char* bad : {"", "a.b", "a.b.c.d", "!!!.???.###", "..."})
    CHECK(signer.verify(bad, now).status().code() == ErrorCode::kUnauthenticated);
}

TEST_CASE("accounts: authorization matrix" *
          streamlet::test::sqlite_only()) {
  sc::Video v;
  v.id = "vid";
  v.owner_id = "owner";
  const sa::Principal anonymous{};
  const sa::Principal owner{"owner", sc::Role::kUser};
  const sa::Principal stranger{"someone", sc::Role::kUser};
  const sa::Principal admin{"root", sc::Role::kAdmin};

  for (auto vis : {sc::Visibility::kPublic, sc::Visibility::kUnlisted, sc::Visibility::kPrivate}) {
    CAPTURE(sc::to_string(vis));
    v.visibility = vis;
    const bool listed_or_linked = vis != sc::Visibility::kPrivate;
    CHECK(sa::authorize(anonymous, sa::Action::kView, v) == listed_or_linked);
    CHECK(sa::authorize(stranger, sa::Action::kView, v) == listed_or_linked);
    CHECK(sa::authorize(owner, sa::Action::kView, v));
    CHECK(sa::authorize(admin, sa::Action::kView, v));
    for (auto action : {sa::Action::kModify, sa::Action::kDelete}) {
      CHECK_FALSE(sa::authorize(anonymous, action, v));
      CHECK_FALSE(sa::authorize(stranger, action, v));
      CHECK(sa::authorize(owner, action, v));
      CHECK(sa::authorize(admin, action, v));
    }
  }
  v.visibility = sc::Visibility::kPrivate;
  CHECK(sa::check(stranger, sa::Action::kView, v).code() == ErrorCode::kNotFound);
  CHECK(sa::check(anonymous, sa::Action::kView, v).code() == ErrorCode::kUnauthenticated);
  v.visibility = sc::Visibility::kPublic;
  CHECK(sa::check(stranger, sa::Action::kModify, v).code() == ErrorCode::kPermissionDenied);
  CHECK(sa::check(anonymous, sa::Action::kDelete, v).code() == ErrorCode::kUnauthenticated);
  CHECK(sa::check(owner, sa::Action::kDelete, v).ok());
}

TEST_CASE("accounts: register, login, authenticate by token and by API key") {
  CATALOG_STORE(dir);
  std::shared_ptr<sc::Catalog> catalog = dir.open();
  sa::AccountService accounts(catalog, sa::TokenSigner(sa::generate_secret()));

  auto alice = accounts.register_user("alice", "s3cret-passphrase", "alice@example.com");
  REQUIRE_MESSAGE(alice.ok(), alice.status().to_string());
  CHECK(alice->password_hash != "s3cret-passphrase");
  CHECK(accounts.register_user("alice", "another-password").status().code() ==
        ErrorCode::kAlreadyExists);

  auto session = accounts.login("alice", "s3cret-passphrase");
  REQUIRE(session.ok());
  CHECK(session->user.id == alice->id);
  auto wrong = accounts.login("alice", "not-the-passphrase");
  auto unknown = accounts.login("mallory", "s3cret-passphrase");
  CHECK(wrong.status().code() == ErrorCode::kUnauthenticated);
  CHECK(unknown.status().code() == ErrorCode::kUnauthenticated);
  CHECK(wrong.status().message() == unknown.status().message());  // no user enumeration

  auto by_token = accounts.authenticate(session->token);
  REQUIRE(by_token.ok());
  CHECK(by_token->user_id == alice->id);
  CHECK_FALSE(by_token->admin());

  // Promotion takes effect on the next request, not at token expiry.
  REQUIRE(catalog->set_user_role(alice->id, sc::Role::kAdmin).ok());
  CHECK(accounts.authenticate(session->token)->admin());

  auto key = catalog->create_api_key(alice->id, "ci");
  REQUIRE(key.ok());
  auto by_key = accounts.authenticate(key->key);
  REQUIRE(by_key.ok());
  CHECK(by_key->user_id == alice->id);
  CHECK(accounts.authenticate("sk_wrong").status().code() == ErrorCode::kUnauthenticated);
  CHECK(accounts.authenticate("garbage").status().code() == ErrorCode::kUnauthenticated);
}

TEST_CASE("accounts: sessions end on logout and on a password change, tokens or not") {
  CATALOG_STORE(dir);
  std::shared_ptr<sc::Catalog> catalog = dir.open();
  const std::string secret = sa::generate_secret();
  sa::AccountService accounts(catalog, sa::TokenSigner(secret, std::chrono::hours(1)));
  auto alice = accounts.register_user("alice", "s3cret-passphrase");
  REQUIRE(alice.ok());
  auto laptop = accounts.login("alice", "s3cret-passphrase");
  auto phone = accounts.login("alice", "s3cret-passphrase");
  REQUIRE(laptop.ok());
  REQUIRE(phone.ok());
  CHECK(laptop->id != phone->id);
  auto who = accounts.authenticate(laptop->token);
  REQUIRE(who.ok());
  CHECK(who->session_id == laptop->id);

  // Logout: that token is refused although its signature and expiry are fine.
  REQUIRE(accounts.logout(laptop->id).ok());
  CHECK(accounts.authenticate(laptop->token).status().code() == ErrorCode::kUnauthenticated);
  CHECK(accounts.authenticate(phone->token).ok());
  CHECK(accounts.logout(laptop->id).code() == ErrorCode::kUnauthenticated);
  // A correctly signed token that names no session (as issued before sessions were kept),
  // or another user's session, is no session.
  sa::TokenSigner signer(secret, std::chrono::hours(1));
  CHECK(accounts.authenticate(signer.issue(alice->id, sc::Role::kUser)).status().code() ==
        ErrorCode::kUnauthenticated);
  auto bob = accounts.register_user("bob", "another-passphrase");
  REQUIRE(bob.ok());
  CHECK(
      accounts.authenticate(signer.issue(bob->id, sc::Role::kUser, 0, phone->id)).status().code() ==
      ErrorCode::kUnauthenticated);

  // A password change keeps the session it came from and ends every other.
  auto tablet = accounts.login("alice", "s3cret-passphrase");
  REQUIRE(tablet.ok());
  CHECK(
      accounts.change_password(alice->id, "wrong-passphrase", "new-passphrase", phone->id).code() ==
      ErrorCode::kUnauthenticated);
  CHECK(accounts.authenticate(tablet->token).ok());
  REQUIRE(
      accounts.change_password(alice->id, "s3cret-passphrase", "new-passphrase", phone->id).ok());
  CHECK(accounts.authenticate(phone->token).ok());
  CHECK(accounts.authenticate(tablet->token).status().code() == ErrorCode::kUnauthenticated);
  CHECK(!accounts.login("alice", "s3cret-passphrase").ok());
  CHECK(accounts.login("alice", "new-passphrase").ok());
  // Ended sessions stay ended when the catalog is opened again.
  catalog.reset();
  sa::AccountService again(dir.open(),
                           sa::TokenSigner(secret, std::chrono::hours(1)));
  CHECK(again.authenticate(phone->token).ok());
  CHECK(again.authenticate(tablet->token).status().code() == ErrorCode::kUnauthenticated);
}

TEST_CASE("accounts: disabling, roles and the last admin, users listed oldest first") {
  CATALOG_STORE(dir);
  std::shared_ptr<sc::Catalog> catalog = dir.open();
  sa::AccountService accounts(catalog, sa::TokenSigner(sa::generate_secret()));
  auto root = accounts.register_user("root", "s3cret-passphrase", {}, sc::Role::kAdmin);
  auto alice = accounts.register_user("alice", "s3cret-passphrase");
  REQUIRE(root.ok());
  REQUIRE(alice.ok());

  // The only admin can be neither demoted nor disabled, and nothing changes.
  for (sc::UserUpdate u : {sc::UserUpdate{sc::Role::kUser, {}}, sc::UserUpdate{{}, true}})
    CHECK(catalog->update_user(root->id, u).status().code() == ErrorCode::kConflict);
  CHECK(catalog->get_user(root->id)->role == sc::Role::kAdmin);
  CHECK_FALSE(catalog->get_user(root->id)->disabled);
  CHECK(catalog->update_user("nobody", {sc::Role::kUser, {}}).status().code() ==
        ErrorCode::kNotFound);

  // Disabled: the session ends and the key is refused until enabled again.
  auto session = accounts.login("alice", "s3cret-passphrase");
  auto key = catalog->create_api_key(alice->id, "ci");
  REQUIRE(session.ok());
  REQUIRE(key.ok());
  auto off = accounts.update_user(alice->id, {{}, true});
  REQUIRE(off.ok());
  CHECK(off->disabled);
  CHECK(accounts.authenticate(session->token).status().code() == ErrorCode::kUnauthenticated);
  CHECK(accounts.authenticate(key->key).status().code() == ErrorCode::kPermissionDenied);
  CHECK(accounts.login("alice", "s3cret-passphrase").status().code() ==
        ErrorCode::kPermissionDenied);
  CHECK(accounts.login("alice", "wrong-passphrase").status().code() ==
        ErrorCode::kUnauthenticated);
  REQUIRE(accounts.update_user(alice->id, {{}, false}).ok());
  CHECK(accounts.authenticate(key->key).ok());

  auto page = catalog->list_users(1, 1);
  REQUIRE(page.ok());
  CHECK(page->total == 2);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].username == "alice");  // the second oldest

  // Two admins demoting each other at the same moment: exactly one wins.
  REQUIRE(catalog->update_user(alice->id, {sc::Role::kAdmin, {}}).ok());
  for (int round = 0; round < 5; ++round) {
    Status a, b;
    std::thread ta([&] { a = catalog->update_user(root->id, {sc::Role::kUser, {}}).status(); });
    std::thread tb([&] { b = catalog->update_user(alice->id, {sc::Role::kUser, {}}).status(); });
    ta.join();
    tb.join();
    CHECK_MESSAGE(a.ok() != b.ok(), a.to_string() << " / " << b.to_string());
    const bool root_admin = catalog->get_user(root->id)->role == sc::Role::kAdmin;
    const bool alice_admin = catalog->get_user(alice->id)->role == sc::Role::kAdmin;
    CHECK(root_admin != alice_admin);
    REQUIRE(catalog->update_user(root_admin ? alice->id : root->id, {sc::Role::kAdmin, {}}).ok());
  }
}

TEST_CASE("accounts: a user's email and mail setting are kept, changed alone, and checked") {
  CATALOG_STORE(dir);
  std::shared_ptr<sc::Catalog> catalog = dir.open();
  sa::AccountService accounts(catalog, sa::TokenSigner(sa::generate_secret()));
  auto root = accounts.register_user("root", "s3cret-passphrase", {}, sc::Role::kAdmin);
  REQUIRE(root.ok());
  CHECK(root->email.empty());
  CHECK(root->email_notifications);  // on until the user turns it off
  sc::UserUpdate mail;
  mail.email = "root@example.com";
  auto set = catalog->update_user(root->id, mail);
  REQUIRE_MESSAGE(set.ok(), set.status().to_string());
  CHECK(set->email == "root@example.com");
  sc::UserUpdate quiet;
  quiet.email_notifications = false;
  REQUIRE(catalog->update_user(root->id, quiet).ok());
  auto again = catalog->get_user(root->id);
  REQUIRE(again.ok());
  CHECK(again->email == "root@example.com");  // untouched by an update that does not name it
  CHECK_FALSE(again->email_notifications);
  CHECK(again->role == sc::Role::kAdmin);
  sc::UserUpdate control;
  control.email = "a@b.c\r\nBcc: x@y.z";
  CHECK(catalog->update_user(root->id, control).status().code() == ErrorCode::kInvalidArgument);
  CHECK(catalog->get_user(root->id)->email == "root@example.com");
}
