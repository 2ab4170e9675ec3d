// Streamlet-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
// Signing the timestamp with the body lets a receiver reject replays of an
// old delivery; several v1 entries are accepted so secrets can be rotated.
#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/json_text.hpp"
#include "core/time_format.hpp"
#include "streamlet/webhooks.hpp"

namespace streamlet::webhooks {

namespace {

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string mac_hex(std::string_view secret, int64_t t, std::string_view body) {
  std::string payload = std::to_string(t);
  payload += '.';
  payload.append(body);
  return hex(streamlet::detail::hmac_sha256(secret, payload));
}

}  // namespace

std::string sign(std::string_view secret, int64_t t, std::string_view body) {
  return "t=" + std::to_string(t) + ",v1=" + mac_hex(secret, t, body);
}

Status verify(std::string_view secret, std::string_view header, std::string_view body, int64_t now,
              int64_t tolerance_seconds) {
  auto fail = [](std::string why) {
    return Status(ErrorCode::kUnauthenticated, "webhook signature: " + why);
  };
  std::optional<int64_t> t;
  std::vector<std::string_view> signatures;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
      if (key == "t") {
        if (value.empty() || value.size() > 18 ||
            value.find_first_not_of("0123456789") != std::string_view::npos)
          return fail("bad timestamp");
        t = std::stoll(std::string(value));
      } else if (key == "v1") {
        signatures.push_back(value);
      }  // unknown schemes are ignored, as future versions may add them
    }
    pos = comma + 1;
  }
  if (!t) return fail("no timestamp");
  if (signatures.empty()) return fail("no v1 signature");
  if (*t < now - tolerance_seconds || *t > now + tolerance_seconds)
    return fail("timestamp outside the tolerance window");
  const std::string expected = mac_hex(secret, *t, body);
  bool match = false;
  for (auto s : signatures) match |= streamlet::detail::constant_time_equal(expected, s);
  if (!match) return fail("no signature matches");
  return Status::Ok();
}

Result<std::string> event_body(std::string_view event, std::string_view video_json,
                               std::chrono::system_clock::time_point sent_at) {
  nlohmann::json video = nlohmann::json::parse(video_json, nullptr, /*allow_exceptions=*/false);
  if (!video.is_object())
    return Status(ErrorCode::kInvalidArgument, "webhook event: video is not a JSON object");
  const std::string when = streamlet::detail::rfc3339(std::chrono::system_clock::to_time_t(sent_at));
  nlohmann::json body = {
      {"event", std::string(event)}, {"video", std::move(video)}, {"sent_at", when}};
  return streamlet::detail::json_text(body);
}

}  // namespace streamlet::webhooks
