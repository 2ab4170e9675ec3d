// Durable file operations: write-then-rename publication and fsync helpers.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <utility>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet::detail {

// Owns a file descriptor (or socket) and closes it on every path out of a scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Gives up ownership: the caller closes the descriptor.
  int release() { return std::exchange(fd_, -1); }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

// fsync a file or directory by path.
Status fsync_path(const std::filesystem::path& path);
// Writes `content` to a temporary sibling, fsyncs it, renames it over `path`
// and fsyncs the directory: readers see the old file or the new one.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);
// Status for a failed system call, with errno mapped to a code.
Status errno_status(int err, std::string_view what, const std::filesystem::path& path);

}  // namespace streamlet::detail
