#include "core/file_util.hpp"

#include <linux/openat2.h>
#include <sys/syscall.h>

#include <atomic>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
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

Fd open_dirs_at(int dir, std::span<const std::string> dirs, bool create, int& err,
                bool sync_created) {
  // The first component is opened from `dir` itself: a copy of it is only made when there
  // is nothing to walk (one fcntl and one close less per open on the playback path).
  if (dirs.empty()) {
    // A new open of "." rather than a dup: a dup shares the directory's read position, and
    // a listing through it would leave the next one through `dir` at the end.
    Fd copy(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!copy.valid()) err = errno;
    return copy;
  }
  // Reads take the whole walk in one openat2 where the kernel has it (Linux 5.6+): it refuses
  // a symlink at any component (RESOLVE_NO_SYMLINKS) and any way out of `dir`
  // (RESOLVE_BENEATH), which is what the walk below does one openat at a time.
  static std::atomic<bool> no_openat2{false};
  if (!create && !no_openat2.load(std::memory_order_relaxed)) {
    std::string path;
    for (const std::string& name : dirs) {
      if (!path.empty()) path += '/';
      path += name;
    }
    struct open_how how {};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how);
    if (fd >= 0) return Fd(int(fd));
    if (errno != ENOSYS && errno != EPERM && errno != E2BIG) {
      err = errno == EXDEV ? ENOENT : errno;  // EXDEV: the path would leave `dir`
      return Fd();
    }
    no_openat2.store(true, std::memory_order_relaxed);  // an old kernel, or a seccomp filter
  }
  Fd current;
  for (const std::string& name : dirs) {
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    const int at = current.valid() ? current.get() : dir;
    Fd next(::openat(at, name.c_str(), kFlags));
    if (!next.valid() && errno == ENOENT && create) {
      // Another thread may make it first: EEXIST is fine, the open below decides.
      if (::mkdirat(at, name.c_str(), 0755) != 0 && errno != EEXIST) {
        err = errno;
        return Fd();
      }
      if (sync_created && ::fsync(at) != 0) {
        err = errno;
        return Fd();
      }
      next = Fd(::openat(at, name.c_str(), kFlags));
    }
    if (!next.valid()) {
      err = errno;
      return Fd();
    }
    current = std::move(next);
  }
  return current;
}

Fd open_dirs_beneath(const std::filesystem::path& root, std::span<const std::string> dirs,
                     bool create, int& err, bool sync_created) {
  Fd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!top.valid()) {
    err = errno;
    return Fd();
  }
  if (dirs.empty()) return top;
  return open_dirs_at(top.get(), dirs, create, err, sync_created);
}

Fd open_beneath(const std::filesystem::path& root, std::span<const std::string> segments,
                int flags, int& err, mode_t mode) {
  if (segments.empty()) {
    err = ENOENT;
    return Fd();
  }
  Fd dir = open_dirs_beneath(root, segments.first(segments.size() - 1), false, err);
  if (!dir.valid()) return Fd();
  Fd file(::openat(dir.get(), segments.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!file.valid()) err = errno;
  return file;
}

std::string work_dir_name(std::string_view name) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return "." + std::string(name) + std::string(kWorkDirMark) + std::to_string(::getpid()) + "-" +
         std::to_string(rng() >> 16);
}

bool is_work_dir_name(std::string_view n) {
  size_t mark = n.find(kWorkDirMark);
  return !n.empty() && n[0] == '.' && mark != std::string_view::npos && mark >= 2;
}

size_t remove_stale_work_dirs(const std::filesystem::path& parent, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string n = entry.path().filename().string();
    if (!is_work_dir_name(n)) continue;
    size_t mark = n.find(kWorkDirMark);
    if (!name.empty() && (mark - 1 != name.size() || n.compare(1, mark - 1, name) != 0)) continue;
    long pid = std::strtol(n.c_str() + mark + kWorkDirMark.size(), nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
    if (fs::remove_all(entry.path(), ec) > 0 && !ec) ++removed;
  }
  return removed;
}

}  // namespace streamlet::detail
