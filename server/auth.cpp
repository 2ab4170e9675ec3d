#include "auth.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace streamlet::server {

namespace fs = std::filesystem;

namespace {
// A generated key is 48 hex characters; anything stored shorter than this is not one of ours.
constexpr size_t kMinStoredKey = 16;
}  // namespace

Result<ApiKey> resolve_api_key(const std::string& given, const fs::path& data_dir) {
  ApiKey out;
  out.file = data_dir / "api-key";
  if (!given.empty()) {
    out.key = given;
    return out;
  }
  std::error_code ec;
  if (fs::exists(out.file, ec)) {
    // The file is only ever written whole (temp file, fsync, rename), so an empty or short
    // one was broken by someone: replacing it would silently change the admin's key.
    std::ifstream in(out.file);
    if (!in) return error(ErrorCode::kIo, out.file.string() + ": cannot read the api-key file");
    std::getline(in, out.key);
    if (out.key.size() < kMinStoredKey)
      return error(ErrorCode::kInvalidArgument,
                   out.file.string() + ": the api-key file is " +
                       (out.key.empty() ? "empty" : "cut short (" + std::to_string(out.key.size()) +
                                                        " characters)") +
                       "; restore it, or remove it to generate a new admin key");
    return out;
  }
  unsigned char raw[24];
  {
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    if (!urandom.read(reinterpret_cast<char*>(raw), sizeof raw))
      return error(ErrorCode::kIo, "cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : raw) {
    out.key += kHex[c >> 4];
    out.key += kHex[c & 15];
  }
  // Owner-only from the first byte: create with 0600, write, fsync, rename into place.
  fs::path tmp = data_dir / "api-key.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::kIo, "cannot write " + tmp.string());
  std::string line = out.key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == ssize_t(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), out.file.c_str()) != 0)
    return error(ErrorCode::kIo, "cannot write " + out.file.string());
  out.generated = true;
  return out;
}

}  // namespace streamlet::server
