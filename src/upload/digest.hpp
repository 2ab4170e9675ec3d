// Streaming message digests over OpenSSL EVP, kept out of the public header.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "streamlet/upload.hpp"

namespace streamlet::upload::detail {

// One running digest. Not thread-safe; owns its EVP context.
class Digest {
 public:
  explicit Digest(ChecksumAlgorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const char* data, size_t size);
  // Raw digest bytes; the digest cannot be updated afterwards.
  std::string finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string to_hex(std::string_view bytes);

}  // namespace streamlet::upload::detail
