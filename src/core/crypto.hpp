// Small cryptographic helpers shared by the catalog, the job queue, accounts
// and signed playback URLs. Randomness comes from libsodium (the OS CSPRNG); hashes
// and MACs from OpenSSL's libcrypto.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace streamlet::detail {

// Initialises libsodium once; safe to call from any thread, any number of times.
bool sodium_ready();

// `length` characters of [0-9A-Za-z], uniformly random (about 5.95 bits each).
std::string random_id(size_t length = 12);
std::string random_bytes(size_t length);

std::string base64url_encode(std::string_view bytes);  // no padding
// Unpadded only; rejects non-zero unused bits, so each byte string has one spelling.
std::optional<std::string> base64url_decode(std::string_view text);

std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
// Compares without an early exit so timing does not reveal the common prefix.
bool constant_time_equal(std::string_view a, std::string_view b);

int64_t now_ms();                       // Unix epoch milliseconds
std::string utc_day(int64_t epoch_ms);  // "YYYY-MM-DD"

}  // namespace streamlet::detail
