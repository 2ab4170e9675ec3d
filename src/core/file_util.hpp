// Durable file operations: write-then-rename publication and fsync helpers.
#pragma once

#include <unistd.h>

#include <sys/types.h>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

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

// Walks `dirs` down from the open directory `dir` one component at a time with O_NOFOLLOW, so
// a symlink anywhere on the way (pointing in or out) is never followed. With `create`, missing
// directories are made (0755), and with `sync_created` the directory holding each new one is
// fsynced. Returns the last directory (a new descriptor; a new open of `dir` when `dirs` is
// empty), or an invalid Fd with `err` set.
Fd open_dirs_at(int dir, std::span<const std::string> dirs, bool create, int& err,
                bool sync_created = false);
// The same walk from `root` (trusted configuration: it may itself be a symlink).
Fd open_dirs_beneath(const std::filesystem::path& root, std::span<const std::string> dirs,
                     bool create, int& err, bool sync_created = false);
// Opens the file `segments` (directories, then the file name) beneath `root` without
// following a symlink at any component; `flags` gets O_NOFOLLOW | O_CLOEXEC added.
Fd open_beneath(const std::filesystem::path& root, std::span<const std::string> segments,
                int flags, int& err, mode_t mode = 0644);

// Hidden work directories of outputs published by directory swap: ".<name>.streamlet-tmp-<pid>-<n>"
// beside <name>. One name scheme for the local storage backend (which makes them) and the
// sweeps that remove those of dead processes.
inline constexpr std::string_view kWorkDirMark = ".streamlet-tmp-";
std::string work_dir_name(std::string_view name);  // for this process, with a fresh <n>
// True for a work directory name (of any output).
bool is_work_dir_name(std::string_view entry);
// Removes the work directories in `parent` left by processes that are gone: those of output
// `name`, or of every output when `name` is empty. Returns how many it removed.
size_t remove_stale_work_dirs(const std::filesystem::path& parent, const std::string& name);

}  // namespace streamlet::detail
