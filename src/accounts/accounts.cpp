#include <mutex>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/json_text.hpp"
#include "streamlet/accounts.hpp"

namespace streamlet::accounts {

// OWASP's argon2id recommendation (m=19 MiB, t=2, p=1): memory-hard enough
// to make GPU guessing expensive, small enough that a server answering many
// logins at once (and its start-up, which hashes the admin password) does not
// need 64 MiB per hash.
constexpr unsigned long long kPasswordOpsLimit = 2;
constexpr size_t kPasswordMemLimit = 19u * 1024 * 1024;

Result<std::string> hash_password(std::string_view password) {
  // The upper bound keeps a hostile request from costing more than a normal one.
  if (password.size() < 8 || password.size() > 1024)
    return error(ErrorCode::kInvalidArgument, "password must be 8 to 1024 bytes long");
  if (!detail::sodium_ready()) return error(ErrorCode::kInternal, "libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kPasswordOpsLimit,
                            kPasswordMemLimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return error(ErrorCode::kResourceExhausted, "password hashing ran out of memory");
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (!detail::sodium_ready() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES)
    return false;
  std::string h(hash);  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

namespace {

int64_t unix_now() {
  return detail::now_ms() / 1000;
}

// A disabled account gets nothing done, whatever credential it shows.
Status usable(const catalog::User& user) {
  if (user.disabled)
    return error(ErrorCode::kPermissionDenied, "this account is disabled; ask an admin");
  return Status::Ok();
}

Status unauthenticated(std::string why) {
  return error(ErrorCode::kUnauthenticated, "invalid session token: " + std::move(why));
}

// The header is fixed, so an issued token is byte-for-byte predictable.
const std::string& encoded_header() {
  static const std::string h = detail::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  return h;
}

}  // namespace

TokenSigner::TokenSigner(std::string secret, std::chrono::seconds ttl)
    : secret_(std::move(secret)), ttl_(ttl) {}

std::string TokenSigner::issue(std::string_view subject, catalog::Role role, int64_t now,
                               std::string_view session_id) const {
  if (now == 0) now = unix_now();
  nlohmann::json claims = {{"sub", std::string(subject)},
                           {"role", std::string(catalog::to_string(role))},
                           {"iat", now},
                           {"exp", now + ttl_.count()}};
  if (!session_id.empty()) claims["sid"] = std::string(session_id);
  std::string signing_input =
      encoded_header() + "." + detail::base64url_encode(detail::json_text(claims));
  return signing_input + "." +
         detail::base64url_encode(detail::hmac_sha256(secret_, signing_input));
}

Result<TokenClaims> TokenSigner::verify(std::string_view token, int64_t now) const {
  if (now == 0) now = unix_now();
  if (token.size() > 4096) return unauthenticated("too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return unauthenticated("not three parts");
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);

  // Check the algorithm before anything else: a token must not pick its own
  // (alg "none" or a downgrade) — we only ever sign with HS256.
  auto header_text = detail::base64url_decode(header_b64);
  if (!header_text) return unauthenticated("bad header encoding");
  auto header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || header["alg"] != "HS256")
    return unauthenticated("algorithm must be HS256");

  auto signature = detail::base64url_decode(signature_b64);
  const std::string expected =
      detail::hmac_sha256(secret_, token.substr(0, dot2));  // header.payload as sent
  if (!signature || !detail::constant_time_equal(*signature, expected))
    return unauthenticated("bad signature");

  auto payload_text = detail::base64url_decode(payload_b64);
  if (!payload_text) return unauthenticated("bad payload encoding");
  auto payload = nlohmann::json::parse(*payload_text, nullptr, false);
  if (!payload.is_object() || !payload.contains("sub") || !payload["sub"].is_string() ||
      !payload.contains("exp") || !payload["exp"].is_number_integer() ||
      !payload.contains("role") || !payload["role"].is_string())
    return unauthenticated("missing claims");
  auto role = catalog::parse_role(payload["role"].get<std::string>());
  if (!role.ok()) return unauthenticated("unknown role");

  TokenClaims claims;
  claims.subject = payload["sub"].get<std::string>();
  claims.role = *role;
  claims.expires_at = payload["exp"].get<int64_t>();
  claims.issued_at = payload.value("iat", int64_t{0});
  if (payload.contains("sid")) {
    if (!payload["sid"].is_string()) return unauthenticated("bad session id");
    claims.session_id = payload["sid"].get<std::string>();
  }
  if (claims.subject.empty()) return unauthenticated("empty subject");
  if (now >= claims.expires_at) return unauthenticated("expired");
  return claims;
}

std::string generate_secret() {
  return detail::base64url_encode(detail::random_bytes(32));
}

bool authorize(const Principal& who, Action action, const catalog::Video& video) {
  if (who.admin()) return true;
  if (who.authenticated() && who.user_id == video.owner_id) return true;
  if (action == Action::kView) return video.visibility != catalog::Visibility::kPrivate;
  return false;
}

Status check(const Principal& who, Action action, const catalog::Video& video) {
  if (authorize(who, action, video)) return Status::Ok();
  if (!authorize(who, Action::kView, video)) {
    if (!who.authenticated())
      return error(ErrorCode::kUnauthenticated, "sign in to see this video");
    return error(ErrorCode::kNotFound, "no video '" + video.id + "'");
  }
  if (!who.authenticated()) return error(ErrorCode::kUnauthenticated, "sign in to change videos");
  return error(ErrorCode::kPermissionDenied, "only the owner or an admin may change this video");
}

AccountService::AccountService(std::shared_ptr<catalog::Catalog> catalog, TokenSigner signer)
    : catalog_(std::move(catalog)), signer_(std::move(signer)) {}

Result<catalog::User> AccountService::register_user(std::string_view username,
                                                    std::string_view password,
                                                    std::string_view email, catalog::Role role) {
  STREAMLET_ASSIGN_OR_RETURN(std::string hash, hash_password(password));
  catalog::NewUser user;
  user.username = std::string(username);
  user.email = std::string(email);
  user.password_hash = std::move(hash);
  user.role = role;
  return catalog_->create_user(user);
}

Result<Session> AccountService::login(std::string_view username, std::string_view password) {
  const Status wrong = error(ErrorCode::kUnauthenticated, "wrong username or password");
  auto user = catalog_->find_user_by_name(username);
  if (!user.ok()) {
    if (user.status().code() != ErrorCode::kNotFound) return user.status();
    // A real argon2id hash of a random password, made on first need (not at
    // start-up): verifying against it costs what a real check costs, so
    // unknown names do not answer faster.
    std::call_once(*dummy_once_, [this] {
      auto dummy = hash_password(generate_secret());
      if (dummy.ok()) dummy_hash_ = *dummy;
    });
    (void)verify_password(password, dummy_hash_);
    return wrong;
  }
  if (!verify_password(password, user->password_hash)) return wrong;
  STREAMLET_RETURN_IF_ERROR(usable(*user));
  return start_session(*user);
}

Result<Session> AccountService::start_session(const catalog::User& user) {
  Session s;
  const int64_t now = unix_now();
  s.expires_at = now + signer_.ttl().count();
  STREAMLET_ASSIGN_OR_RETURN(s.id, catalog_->create_session(user.id, s.expires_at * 1000));
  s.token = signer_.issue(user.id, user.role, now, s.id);
  s.user = user;
  return s;
}

Status AccountService::logout(std::string_view session_id) {
  if (session_id.empty())
    return error(ErrorCode::kInvalidArgument, "not a session: API keys are revoked instead");
  Status st = catalog_->delete_session(session_id);
  if (st.code() == ErrorCode::kNotFound)
    return error(ErrorCode::kUnauthenticated, "the session has already ended");
  return st;
}

Status AccountService::change_password(std::string_view user_id, std::string_view current,
                                       std::string_view replacement, std::string_view keep) {
  STREAMLET_ASSIGN_OR_RETURN(auto user, catalog_->get_user(user_id));
  if (!verify_password(current, user.password_hash))
    return error(ErrorCode::kUnauthenticated, "the current password is wrong");
  STREAMLET_ASSIGN_OR_RETURN(std::string hash, hash_password(replacement));
  STREAMLET_RETURN_IF_ERROR(catalog_->set_password_hash(user.id, hash));
  // Whoever else holds a session (a stolen token, a forgotten device) is out now.
  return catalog_->delete_sessions_of(user.id, keep).status();
}

Result<Principal> AccountService::authenticate(std::string_view credential) {
  if (credential.rfind("sk_", 0) == 0) {
    STREAMLET_ASSIGN_OR_RETURN(auto user, catalog_->find_user_by_api_key(credential));
    STREAMLET_RETURN_IF_ERROR(usable(user));
    return Principal{user.id, user.role, {}};
  }
  STREAMLET_ASSIGN_OR_RETURN(auto claims, signer_.verify(credential));
  // A token is only as good as its session: ended sessions (logout, a password change)
  // and tokens that name none (issued before sessions were kept) are refused.
  if (claims.session_id.empty())
    return error(ErrorCode::kUnauthenticated, "the token names no session; sign in again");
  STREAMLET_RETURN_IF_ERROR(catalog_->check_session(claims.session_id, claims.subject));
  // The role comes from the catalog, not the token, so a demoted admin loses
  // admin rights at once rather than when the token expires.
  auto user = catalog_->get_user(claims.subject);
  if (!user.ok()) {
    if (user.status().code() == ErrorCode::kNotFound)
      return error(ErrorCode::kUnauthenticated, "the token's user no longer exists");
    return user.status();
  }
  STREAMLET_RETURN_IF_ERROR(usable(*user));
  return Principal{user->id, user->role, claims.session_id};
}

Result<int64_t> AccountService::sign_out_everywhere(std::string_view user_id) {
  return catalog_->delete_sessions_of(user_id);
}

Result<catalog::User> AccountService::update_user(std::string_view user_id,
                                                  const catalog::UserUpdate& update) {
  STREAMLET_ASSIGN_OR_RETURN(auto user, catalog_->update_user(user_id, update));
  // authenticate() refuses a disabled account anyway; ending its sessions means enabling
  // it again does not bring old tokens back.
  if (user.disabled) STREAMLET_RETURN_IF_ERROR(catalog_->delete_sessions_of(user.id).status());
  return user;
}

}  // namespace streamlet::accounts
