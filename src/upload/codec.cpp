// tus header codecs (metadata, checksums, integers, dates) and digest helpers.
#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "upload/digest.hpp"
#include "core/time_format.hpp"

namespace streamlet::upload {

namespace detail {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Digest::Digest(ChecksumAlgorithm algorithm) : ctx_(std::make_unique<Ctx>()) {
  const EVP_MD* type = algorithm == ChecksumAlgorithm::kSha1     ? EVP_sha1()
                       : algorithm == ChecksumAlgorithm::kSha256 ? EVP_sha256()
                                                                 : EVP_md5();
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, type, nullptr);
}

Digest::~Digest() = default;

void Digest::update(const char* data, size_t size) {
  EVP_DigestUpdate(ctx_->md, data, size);
}

std::string Digest::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out.data(), &len);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace detail

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  // Padding is optional (some clients strip it), but what is there must be well-formed.
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '=') --end;
  if (text.size() - end > 2 || end % 4 == 1)
    return error(ErrorCode::kInvalidArgument, "invalid base64");
  std::string out;
  out.reserve(end / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; ++i) {
    int v = b64_value(text[i]);
    if (v < 0) return error(ErrorCode::kInvalidArgument, "invalid base64");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

Result<uint64_t> parse_uint(std::string_view text) {
  if (text.empty() || text.size() > 19)
    return error(ErrorCode::kInvalidArgument,
                 "not a non-negative integer: '" + std::string(text.substr(0, 32)) + "'");
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return error(ErrorCode::kInvalidArgument,
                   "not a non-negative integer: '" + std::string(text.substr(0, 32)) + "'");
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

Result<std::map<std::string, std::string>> parse_metadata(std::string_view header) {
  std::map<std::string, std::string> out;
  if (trim(header).empty()) return out;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view pair =
        trim(header.substr(pos, comma == std::string_view::npos ? header.npos : comma - pos));
    size_t space = pair.find(' ');
    std::string_view key = pair.substr(0, space);
    std::string_view value = space == pair.npos ? std::string_view() : trim(pair.substr(space));
    if (key.empty()) return error(ErrorCode::kInvalidArgument, "Upload-Metadata: empty key");
    for (char c : key)
      if (c <= ' ' || c > '~')
        return error(ErrorCode::kInvalidArgument, "Upload-Metadata: invalid key");
    auto decoded = base64_decode(value);
    if (!decoded.ok())
      return error(ErrorCode::kInvalidArgument,
                   "Upload-Metadata: value of '" + std::string(key) + "' is not base64");
    if (!out.emplace(std::string(key), std::move(decoded).value()).second)
      return error(ErrorCode::kInvalidArgument,
                   "Upload-Metadata: duplicate key '" + std::string(key) + "'");
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string format_metadata(const std::map<std::string, std::string>& metadata) {
  std::string out;
  for (const auto& [key, value] : metadata) {
    if (!out.empty()) out += ',';
    out += key;
    if (!value.empty()) out += ' ' + base64_encode(value);
  }
  return out;
}

Result<Checksum> parse_checksum(std::string_view header) {
  header = trim(header);
  size_t space = header.find(' ');
  if (space == header.npos)
    return error(ErrorCode::kInvalidArgument, "Upload-Checksum: expected '<algorithm> <base64>'");
  std::string_view name = header.substr(0, space);
  Checksum checksum;
  size_t expected = 0;
  if (name == "sha1") {
    checksum.algorithm = ChecksumAlgorithm::kSha1;
    expected = 20;
  } else if (name == "sha256") {
    checksum.algorithm = ChecksumAlgorithm::kSha256;
    expected = 32;
  } else if (name == "md5") {
    checksum.algorithm = ChecksumAlgorithm::kMd5;
    expected = 16;
  } else {
    return error(ErrorCode::kInvalidArgument, "Upload-Checksum: unsupported algorithm '" +
                                                  std::string(name.substr(0, 32)) +
                                                  "' (supported: sha1, sha256, md5)");
  }
  auto digest = base64_decode(trim(header.substr(space)));
  if (!digest.ok() || digest->size() != expected)
    return error(ErrorCode::kInvalidArgument, "Upload-Checksum: digest is not valid base64 of " +
                                                  std::to_string(expected) + " bytes");
  checksum.digest = std::move(digest).value();
  return checksum;
}

std::string http_date(std::chrono::system_clock::time_point time) {
  return streamlet::detail::http_date(std::chrono::system_clock::to_time_t(time));
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(ErrorCode::kNotFound, path.string() + ": cannot open");
  detail::Digest digest(ChecksumAlgorithm::kSha256);
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return error(ErrorCode::kIo, path.string() + ": read failed");
    }
    if (n == 0) break;
    digest.update(buf.data(), size_t(n));
  }
  ::close(fd);
  return detail::to_hex(digest.finish());
}

}  // namespace streamlet::upload
