#include "core/file_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace streamlet::detail {

Status errno_status(int err, std::string_view what, const std::filesystem::path& path) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::kResourceExhausted;
  else if (err == ENOENT) code = ErrorCode::kNotFound;
  else if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::kPermissionDenied;
  else if (err == EEXIST || err == ENOTEMPTY) code = ErrorCode::kAlreadyExists;
  return Status(code, std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

Status fsync_path(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno, "open", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status(err, "fsync", path);
  return Status::Ok();
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  std::random_device rd;
  auto tmp = path;
  tmp += ".tmp-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(errno, "create", tmp);
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return errno_status(err, "write", tmp);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return errno_status(err, "fsync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errno_status(err, "rename", path);
  }
  auto dir = path.parent_path();
  return fsync_path(dir.empty() ? std::filesystem::path(".") : dir);
}

}  // namespace streamlet::detail
