// Signed playback URLs: HMAC-SHA256 over a canonical string naming the video
// and the expiry. The path is deliberately not covered, so one token opens
// every file of the video (the manifests reference hundreds of segments).

#include <array>
#include <charconv>
#include <string>
#include <string_view>

#include "core/crypto.hpp"
#include "origin/detail.hpp"
#include "streamlet/origin.hpp"

namespace streamlet::origin {
namespace {

constexpr size_t kMacBytes = 32;

// Versioned and length-prefixed so no (id, exp) pair can be read as another.
std::string canonical(std::string_view video_id, int64_t expires_unix) {
  std::string s = "streamlet-origin-v1\n";
  s += std::to_string(video_id.size());
  s += ':';
  s += video_id;
  s += '\n';
  s += std::to_string(expires_unix);
  return s;
}

struct SignedQuery {
  std::string_view exp;
  std::string_view sig;
};

// Finds exactly one exp and one sig; a repeated one is ambiguous (which one
// would a cache or a proxy act on?), so it counts as malformed.
bool split_query(std::string_view query, SignedQuery& out) {
  bool have_exp = false, have_sig = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (name == "exp") {
      if (have_exp) return false;
      have_exp = true;
      out.exp = value;
    } else if (name == "sig") {
      if (have_sig) return false;
      have_sig = true;
      out.sig = value;
    }
  }
  return have_exp && have_sig;
}

std::optional<int64_t> parse_exp(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> detail::token_query(std::string_view query) {
  SignedQuery q;
  if (!split_query(query, q)) return std::nullopt;
  return "exp=" + std::string(q.exp) + "&sig=" + std::string(q.sig);
}

Result<std::string> sign(std::string_view video_id, int64_t expires_unix, std::string_view key) {
  if (key.empty()) return error(ErrorCode::kInvalidArgument, "sign: no signing key configured");
  if (video_id.empty()) return error(ErrorCode::kInvalidArgument, "sign: empty video id");
  if (expires_unix <= 0 || expires_unix > 999999999999999999)
    return error(ErrorCode::kInvalidArgument, "sign: expiry must be a positive Unix time");
  std::string m = streamlet::detail::hmac_sha256(key, canonical(video_id, expires_unix));
  if (m.size() != kMacBytes) return error(ErrorCode::kInternal, "sign: HMAC-SHA256 failed");
  return "exp=" + std::to_string(expires_unix) + "&sig=" + streamlet::detail::base64url_encode(m);
}

Status verify(std::string_view video_id, std::string_view query, int64_t now_unix,
              std::string_view key) {
  if (key.empty()) return error(ErrorCode::kUnauthenticated, "signed urls are not configured");
  // sign() never signs an empty id, so no token can be valid for one.
  if (video_id.empty()) return error(ErrorCode::kPermissionDenied, "invalid signature");
  SignedQuery q;
  if (!split_query(query, q)) return error(ErrorCode::kUnauthenticated, "missing signature");
  std::optional<int64_t> exp = parse_exp(q.exp);
  std::optional<std::string> given = streamlet::detail::base64url_decode(q.sig);
  if (!exp || !given || given->size() != kMacBytes)
    return error(ErrorCode::kUnauthenticated, "malformed signature");
  std::string expected = streamlet::detail::hmac_sha256(key, canonical(video_id, *exp));
  if (expected.size() != kMacBytes) return error(ErrorCode::kInternal, "verify: HMAC-SHA256 failed");
  // Constant time: timing must not tell an attacker how many bytes were right.
  if (!streamlet::detail::constant_time_equal(expected, *given))
    return error(ErrorCode::kPermissionDenied, "invalid signature");
  // Checked after the MAC so that an attacker cannot learn anything from an
  // "expired" answer to a forged token.
  if (now_unix > *exp) return error(ErrorCode::kGone, "signature expired");
  return Status::Ok();
}

}  // namespace streamlet::origin
