// Accounts: password hashing, signed session tokens, API-key authentication
// and the authorization rules the server applies to videos.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "streamlet/catalog.hpp"
#include "streamlet/status.hpp"

namespace streamlet::accounts {

// ---- passwords ------------------------------------------------------------

// argon2id through libsodium with OWASP's recommended parameters (2 passes,
// 19 MiB): tens of milliseconds per hash, so online guessing is slow, an HTTP
// login stays responsive, and concurrent logins do not each take 64 MiB. The result embeds its salt and parameters.
// kInvalidArgument for a password outside 8..1024 bytes; kResourceExhausted
// if the memory cannot be had.
Result<std::string> hash_password(std::string_view password);
// true only when `password` matches `hash`; false for any malformed hash.
bool verify_password(std::string_view password, std::string_view hash);

// ---- session tokens ---------------------------------------------------------

// What a verified token says. Times are Unix epoch seconds.
struct TokenClaims {
  std::string subject;     // the user id
  std::string session_id;  // claim "sid": the catalog session it stands for ("" if none)
  catalog::Role role = catalog::Role::kUser;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

// Issues and verifies JWTs (RFC 7519) signed with HMAC-SHA256. Verification
// accepts only alg "HS256" (never "none" or another algorithm), compares the
// signature in constant time, and rejects expired or malformed tokens with
// kUnauthenticated. Immutable after construction: thread safe.
class TokenSigner {
 public:
  // `secret` should be at least 32 random bytes (see generate_secret()).
  explicit TokenSigner(std::string secret, std::chrono::seconds ttl = std::chrono::minutes(15));

  // `now` (Unix seconds) is for tests; 0 means the system clock. A non-empty `session_id`
  // is carried as the "sid" claim.
  std::string issue(std::string_view subject, catalog::Role role, int64_t now = 0,
                    std::string_view session_id = {}) const;
  Result<TokenClaims> verify(std::string_view token, int64_t now = 0) const;

  std::chrono::seconds ttl() const { return ttl_; }

 private:
  std::string secret_;
  std::chrono::seconds ttl_;
};

// 32 random bytes, base64url: a fresh server secret.
std::string generate_secret();

// ---- authorization ----------------------------------------------------------

// Who is asking. An empty user_id is an anonymous visitor.
struct Principal {
  std::string user_id;  // ""
  catalog::Role role = catalog::Role::kUser;
  std::string session_id{};  // the session a session token stands for; "" for API keys
  bool authenticated() const { return !user_id.empty(); }
  bool admin() const { return authenticated() && role == catalog::Role::kAdmin; }
};

enum class Action {
  kView,    // play or read metadata
  kModify,  // change title, description, visibility; retry processing
  kDelete,
};

// Owners may do anything with their videos and admins with all videos;
// public and unlisted videos may be viewed by anyone, private ones only by
// their owner and admins.
bool authorize(const Principal& who, Action action, const catalog::Video& video);
// The same rule as a Status for handlers: Ok, kUnauthenticated (anonymous and
// not allowed), kNotFound (may not view it: its existence is not revealed), or
// kPermissionDenied (may view, may not change).
Status check(const Principal& who, Action action, const catalog::Video& video);

// ---- the account service ------------------------------------------------------

struct Session {
  std::string token;       // the signed JWT
  std::string id;          // its row in the catalog's sessions
  int64_t expires_at = 0;  // Unix seconds
  catalog::User user;
};

// Registration, login and authentication over a Catalog. Thread safe as the
// catalog is; keeps shared ownership of it.
//
// A session is a signed token (lasting the signer's ttl) plus a row in the
// catalog's sessions that the token names: a token is good only while its row
// is there, so logout() and change_password() end sessions at once, on every
// server sharing the catalog, rather than when their tokens expire.
class AccountService {
 public:
  AccountService(std::shared_ptr<catalog::Catalog> catalog, TokenSigner signer);

  // kAlreadyExists for a taken name, kInvalidArgument for a bad name or password.
  Result<catalog::User> register_user(std::string_view username, std::string_view password,
                                      std::string_view email = {},
                                      catalog::Role role = catalog::Role::kUser);
  // kUnauthenticated for an unknown user or a wrong password (the same
  // message and about the same time, so names cannot be probed).
  Result<Session> login(std::string_view username, std::string_view password);
  // A new session for a user already known to be who they say (e.g. just registered).
  Result<Session> start_session(const catalog::User& user);
  // A bearer credential: an "sk_" API key or a session token. kUnauthenticated if bad,
  // expired, or a session that has ended (or a token from before sessions were kept);
  // kPermissionDenied when the account is disabled (login() answers the same, once the
  // password is right).
  Result<Principal> authenticate(std::string_view credential);
  // Ends one session (the caller's own: Principal::session_id).
  Status logout(std::string_view session_id);
  // Checks `current`, stores the hash of `replacement` and ends every other session of the
  // user (all but `keep`; "" = all). kUnauthenticated for a wrong current password,
  // kInvalidArgument for an unacceptable new one (see hash_password).
  Status change_password(std::string_view user_id, std::string_view current,
                         std::string_view replacement, std::string_view keep = {});

  // Ends every session of the user, the caller's own included; returns how many ended.
  Result<int64_t> sign_out_everywhere(std::string_view user_id);
  // An admin's change (Catalog::update_user: kConflict for the last enabled admin). Disabling
  // also ends the user's sessions; API keys stay, refused while the account is disabled.
  Result<catalog::User> update_user(std::string_view user_id, const catalog::UserUpdate& update);

  const TokenSigner& signer() const { return signer_; }

 private:
  std::shared_ptr<catalog::Catalog> catalog_;
  TokenSigner signer_;
  std::string dummy_hash_;  // verified against when the user does not exist
  std::shared_ptr<std::once_flag> dummy_once_ = std::make_shared<std::once_flag>();
};

}  // namespace streamlet::accounts
