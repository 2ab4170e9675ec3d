// The local backend: objects are files under a root directory, "uploads/x.bin" is
// <root>/uploads/x.bin, so the data directory keeps the layout it always had. Every access walks
// the key down from the root with O_NOFOLLOW on each component (a symlink planted inside the
// root is never followed); writes go to a hidden ".streamlet-*" sibling renamed into place; a
// publication is a hidden ".<name>.streamlet-tmp-<pid>-<n>" directory swapped in with one rename.
// Hidden names are the backend's own: open/stat/list never show them.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/file_util.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::storage {

namespace {

namespace fs = std::filesystem;
using streamlet::detail::errno_status;
using streamlet::detail::Fd;

constexpr std::string_view kTempPrefix = ".streamlet-";

// Names the backend makes for itself (temporary files, staging directories).
bool is_reserved(std::string_view segment) {
  return segment.starts_with(kTempPrefix) || streamlet::detail::is_work_dir_name(segment);
}

std::vector<std::string> split(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(key.substr(start));
      return out;
    }
    out.emplace_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

bool any_reserved(const std::vector<std::string>& segments) {
  return std::any_of(segments.begin(), segments.end(),
                     [](const auto& s) { return is_reserved(s); });
}

Status not_found(std::string_view key) {
  return Status(ErrorCode::kNotFound, "no object " + std::string(key));
}

Status reserved(std::string_view key) {
  return Status(ErrorCode::kInvalidArgument, "invalid storage key \"" + std::string(key) +
                                                 "\": names starting with \"" +
                                                 std::string(kTempPrefix) + "\" are reserved");
}

// An errno from walking to an object that says "nothing (readable) is there".
bool absent(int err) {
  return err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENXIO || err == EISDIR ||
         err == ENAMETOOLONG;
}

int64_t mtime_ms(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

std::string temp_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(kTempPrefix) + buf;
}

Status write_all(int fd, const char* data, size_t size, const fs::path& what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "write", what);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Removes `name` in `parent` and everything beneath it, never following a symlink (a link is
// unlinked, its target left alone). Returns how many visible regular files went.
uint64_t remove_tree_at(int parent, const std::string& name) {
  uint64_t removed = 0;
  Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.valid()) {
    std::vector<std::pair<std::string, bool>> entries;  // name, is a directory
    if (DIR* d = ::fdopendir(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0))) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        struct stat st {};
        if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        entries.emplace_back(n, S_ISDIR(st.st_mode));
        if (S_ISREG(st.st_mode) && !is_reserved(n)) ++removed;
      }
      ::closedir(d);
    }
    for (const auto& [n, is_dir] : entries) {
      if (is_dir) {
        removed += remove_tree_at(dir.get(), n);
      } else {
        ::unlinkat(dir.get(), n.c_str(), 0);
      }
    }
  }
  ::unlinkat(parent, name.c_str(), AT_REMOVEDIR);
  return removed;
}

Status sync_tree(int dir, const fs::path& what) {
  std::vector<std::string> subdirs;
  if (DIR* d = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0))) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        subdirs.push_back(n);
    }
    ::closedir(d);
  }
  for (const auto& n : subdirs) {
    Fd sub(::openat(dir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return errno_status(errno, "open", what / n);
    STREAMLET_RETURN_IF_ERROR(sync_tree(sub.get(), what / n));
  }
  if (::fsync(dir) != 0) return errno_status(errno, "fsync", what);
  return Status::Ok();
}

class LocalReader final : public Reader {
 public:
  LocalReader(Fd fd, ObjectInfo info) : fd_(std::move(fd)), info_(std::move(info)) {}
  const ObjectInfo& info() const override { return info_; }
  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    if (offset >= info_.size) return size_t{0};
    size = static_cast<size_t>(std::min<uint64_t>(size, info_.size - offset));
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_.get(), data + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status(errno, "read", info_.key);
      if (n == 0) break;  // truncated under us: what is there
      done += static_cast<size_t>(n);
    }
    return done;
  }
  int fd() const override { return fd_.get(); }

 private:
  Fd fd_;
  ObjectInfo info_;
};

// Opens `name` in `dir` as a reader, or kNotFound when it is not a regular file.
Result<std::unique_ptr<Reader>> open_reader_at(int dir, const std::string& name,
                                               std::string_view key) {
  Fd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    if (absent(errno)) return not_found(key);
    return errno_status(errno, "open", std::string(key));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status(errno, "stat", std::string(key));
  if (!S_ISREG(st.st_mode)) return not_found(key);
  ObjectInfo info{std::string(key), static_cast<uint64_t>(st.st_size), mtime_ms(st)};
  return std::unique_ptr<Reader>(new LocalReader(std::move(fd), std::move(info)));
}

class LocalWriter final : public Writer {
 public:
  LocalWriter(Fd dir, std::string name, std::string temp, Fd file, bool durable, bool sync_dir,
              std::string key)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        temp_(std::move(temp)),
        file_(std::move(file)),
        durable_(durable),
        sync_dir_(sync_dir),
        key_(std::move(key)) {}
  ~LocalWriter() override {
    if (!committed_) {
      file_ = Fd();
      ::unlinkat(dir_.get(), temp_.c_str(), 0);
    }
  }

  Status write(const char* data, size_t size) override {
    if (committed_ || !failed_.ok()) return done_error();
    Status s = write_all(file_.get(), data, size, key_);
    if (!s.ok()) {
      failed_ = s;
      return s;
    }
    bytes_ += size;
    return Status::Ok();
  }

  Status commit() override {
    if (committed_ || !failed_.ok()) return done_error();
    if (durable_ && ::fsync(file_.get()) != 0) return failed_ = errno_status(errno, "fsync", key_);
    file_ = Fd();
    if (::renameat(dir_.get(), temp_.c_str(), dir_.get(), name_.c_str()) != 0)
      return failed_ = errno_status(errno, "commit", key_);
    committed_ = true;
    if (durable_ && sync_dir_ && ::fsync(dir_.get()) != 0)
      return errno_status(errno, "fsync directory of", key_);
    return Status::Ok();
  }

  uint64_t bytes_written() const override { return bytes_; }

 private:
  Status done_error() const {
    if (!failed_.ok()) return failed_;
    return Status(ErrorCode::kInternal, key_ + ": write after commit");
  }

  Fd dir_;
  std::string name_, temp_;
  Fd file_;
  bool durable_, sync_dir_;
  std::string key_;
  uint64_t bytes_ = 0;
  bool committed_ = false;
  Status failed_;
};

Result<std::unique_ptr<Writer>> make_writer(Fd dir, const std::string& name, bool durable,
                                            bool sync_dir, std::string_view key,
                                            mode_t mode = 0644) {
  for (int attempt = 0;; ++attempt) {
    std::string temp = temp_name();
    Fd file(::openat(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     mode));
    if (!file.valid()) {
      if (errno == EEXIST && attempt < 8) continue;
      return errno_status(errno, "create", std::string(key));
    }
    return std::unique_ptr<Writer>(new LocalWriter(std::move(dir), name, std::move(temp),
                                                   std::move(file), durable, sync_dir,
                                                   std::string(key)));
  }
}

class LocalAppender final : public Appender {
 public:
  LocalAppender(Fd fd, uint64_t size, bool durable, std::string key)
      : fd_(std::move(fd)), size_(size), durable_(durable), key_(std::move(key)) {}
  uint64_t size() const override { return size_; }
  Status append(const char* data, size_t size) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd_.get(), data + done, size - done, static_cast<off_t>(size_ + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        size_ += done;
        return errno_status(errno, "append to", key_);
      }
      done += static_cast<size_t>(n);
    }
    size_ += size;
    // Start writeback of what is appended without waiting for it (as the upload store did
    // before it moved here): the sync that acknowledges an upload's bytes then finds little
    // left to write, and dirty pages stay few.
    if (durable_ && size_ - kicked_ >= kWritebackStep) {
      ::sync_file_range(fd_.get(), static_cast<off_t>(kicked_),
                        static_cast<off_t>(size_ - kicked_), SYNC_FILE_RANGE_WRITE);
      kicked_ = size_;
    }
    return Status::Ok();
  }
  Status sync() override {
    if (durable_ && ::fsync(fd_.get()) != 0) return errno_status(errno, "fsync", key_);
    return Status::Ok();
  }
  Status truncate(uint64_t size) override {
    if (size > size_)
      return Status(ErrorCode::kInvalidArgument, key_ + ": cannot truncate " +
                                                     std::to_string(size_) + " bytes to " +
                                                     std::to_string(size));
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0)
      return errno_status(errno, "truncate", key_);
    size_ = size;
    kicked_ = std::min(kicked_, size_);
    return Status::Ok();
  }

 private:
  static constexpr uint64_t kWritebackStep = 8 << 20;
  Fd fd_;
  uint64_t size_;
  uint64_t kicked_ = size_;  // bytes whose writeback has been started
  bool durable_;
  std::string key_;
};

class LocalPublication final : public Publication {
 public:
  LocalPublication(Fd parent, std::string name, std::string staging, Fd staging_fd, bool durable,
                   std::string prefix)
      : parent_(std::move(parent)),
        name_(std::move(name)),
        staging_(std::move(staging)),
        staging_fd_(std::move(staging_fd)),
        durable_(durable),
        prefix_(std::move(prefix)) {}
  ~LocalPublication() override {
    if (published_) return;
    remove_tree_at(parent_.get(), staging_);
    if (revealed_) remove_tree_at(parent_.get(), name_);  // withdraw what was shown
  }

  Result<std::unique_ptr<Writer>> create(std::string_view name) override {
    if (published_) return Status(ErrorCode::kInternal, prefix_ + ": already published");
    STREAMLET_RETURN_IF_ERROR(check_key(name));
    auto segments = split(name);
    if (any_reserved(segments)) return reserved(name);
    int err = 0;
    Fd dir = streamlet::detail::open_dirs_at(
        staging_fd_.get(), std::span(segments).first(segments.size() - 1), true, err);
    if (!dir.valid()) return errno_status(err, "create", prefix_ + std::string(name));
    // Directories are fsynced once, at publish().
    return make_writer(std::move(dir), segments.back(), durable_, false,
                       prefix_ + std::string(name));
  }

  Result<std::unique_ptr<Reader>> open(std::string_view name) override {
    STREAMLET_RETURN_IF_ERROR(check_key(name));
    auto segments = split(name);
    if (any_reserved(segments)) return not_found(name);
    int err = 0;
    Fd dir = streamlet::detail::open_dirs_at(
        staging_fd_.get(), std::span(segments).first(segments.size() - 1), false, err);
    if (!dir.valid()) {
      if (absent(err)) return not_found(prefix_ + std::string(name));
      return errno_status(err, "open", prefix_ + std::string(name));
    }
    return open_reader_at(dir.get(), segments.back(), prefix_ + std::string(name));
  }

  // A hard link of the staged file under a temporary name in the live directory, renamed
  // over the name: no copy, and a reader sees the old version or the new one.
  Status reveal(std::string_view name) override {
    if (published_) return Status(ErrorCode::kInternal, prefix_ + ": already published");
    STREAMLET_RETURN_IF_ERROR(check_key(name));
    auto segments = split(name);
    if (any_reserved(segments)) return reserved(name);
    const std::string what = prefix_ + std::string(name);
    const auto dirs = std::span(segments).first(segments.size() - 1);
    int err = 0;
    Fd from = streamlet::detail::open_dirs_at(staging_fd_.get(), dirs, false, err);
    if (!from.valid()) return absent(err) ? not_found(what) : errno_status(err, "reveal", what);
    if (!revealed_) {
      // The live directory starts empty: an older output is not mixed with this one.
      remove_tree_at(parent_.get(), name_);
      if (::mkdirat(parent_.get(), name_.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_status(errno, "reveal", prefix_);
      revealed_ = true;
    }
    std::vector<std::string> live_path{name_};
    live_path.insert(live_path.end(), dirs.begin(), dirs.end());
    Fd to = streamlet::detail::open_dirs_at(parent_.get(), live_path, true, err);
    if (!to.valid()) return errno_status(err, "reveal", what);
    const std::string temp = temp_name();
    if (::linkat(from.get(), segments.back().c_str(), to.get(), temp.c_str(), 0) != 0)
      return errno == ENOENT ? not_found(what) : errno_status(errno, "reveal", what);
    if (::renameat(to.get(), temp.c_str(), to.get(), segments.back().c_str()) != 0) {
      const int e = errno;
      ::unlinkat(to.get(), temp.c_str(), 0);
      return errno_status(e, "reveal", what);
    }
    return Status::Ok();
  }

  Status publish(
      const std::vector<std::string>& /*last: one swap shows everything at once*/) override {
    if (published_) return Status(ErrorCode::kInternal, prefix_ + ": already published");
    if (durable_) STREAMLET_RETURN_IF_ERROR(sync_tree(staging_fd_.get(), prefix_));
    const int p = parent_.get();
    if (::renameat2(p, staging_.c_str(), p, name_.c_str(), RENAME_EXCHANGE) == 0) {
      published_ = true;
      remove_tree_at(p, staging_);  // the old output, now under the staging name
    } else if (errno == ENOENT) {
      if (::renameat2(p, staging_.c_str(), p, name_.c_str(), RENAME_NOREPLACE) != 0)
        return errno_status(errno, "publish", prefix_);
      published_ = true;
    } else if (errno == EINVAL || errno == ENOSYS) {
      // A filesystem without RENAME_EXCHANGE: move the old output aside, then rename. A crash
      // in between leaves the prefix empty and the old output in a work directory (swept).
      std::string aside = streamlet::detail::work_dir_name(name_);
      if (::renameat(p, name_.c_str(), p, aside.c_str()) != 0 && errno != ENOENT)
        return errno_status(errno, "publish", prefix_);
      if (::renameat(p, staging_.c_str(), p, name_.c_str()) != 0)
        return errno_status(errno, "publish", prefix_);
      published_ = true;
      remove_tree_at(p, aside);
    } else {
      return errno_status(errno, "publish", prefix_);
    }
    if (durable_ && ::fsync(p) != 0) return errno_status(errno, "fsync directory of", prefix_);
    return Status::Ok();
  }

 private:
  Fd parent_;
  std::string name_, staging_;
  Fd staging_fd_;
  bool durable_;
  std::string prefix_;
  bool published_ = false;
  bool revealed_ = false;  // the live directory holds what reveal() showed
};

class LocalStorage final : public Storage {
 public:
  LocalStorage(LocalOptions options, Fd root) : options_(std::move(options)), root_(std::move(root)) {}

  Result<std::unique_ptr<Reader>> open(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return not_found(key);
    int err = 0;
    Fd dir = dir_of(segments, false, err);
    if (!dir.valid()) return walk_error(err, key);
    return open_reader_at(dir.get(), segments.back(), key);
  }

  Result<ObjectInfo> stat(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return not_found(key);
    int err = 0;
    Fd dir = dir_of(segments, false, err);
    if (!dir.valid()) return walk_error(err, key);
    struct stat st {};
    if (::fstatat(dir.get(), segments.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return walk_error(errno, key);
    if (!S_ISREG(st.st_mode)) return not_found(key);
    return ObjectInfo{std::string(key), static_cast<uint64_t>(st.st_size), mtime_ms(st)};
  }

  Result<std::unique_ptr<Writer>> write(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return reserved(key);
    int err = 0;
    Fd dir = dir_of(segments, true, err);
    if (!dir.valid()) return errno_status(err, "create", std::string(key));
    return make_writer(std::move(dir), segments.back(), options_.durable, true, key,
                       file_mode());
  }

  Result<std::unique_ptr<Appender>> append(std::string_view key, bool create) override {
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return create ? Status(reserved(key)) : not_found(key);
    int err = 0;
    Fd dir = dir_of(segments, create, err);
    if (!dir.valid()) {
      if (!create && absent(err)) return not_found(key);
      return errno_status(err, "open", std::string(key));
    }
    // O_NONBLOCK: a FIFO planted under the root must not hang the open.
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    Fd fd(::openat(dir.get(), segments.back().c_str(), flags));
    bool created = false;
    if (!fd.valid() && errno == ENOENT && create) {
      fd = Fd(::openat(dir.get(), segments.back().c_str(), flags | O_CREAT | O_EXCL,
                       file_mode()));
      created = fd.valid();
      if (!fd.valid() && errno == EEXIST)
        fd = Fd(::openat(dir.get(), segments.back().c_str(), flags));
    }
    if (!fd.valid()) {
      if (absent(errno)) return not_found(key);
      return errno_status(errno, "open", std::string(key));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_status(errno, "stat", std::string(key));
    if (!S_ISREG(st.st_mode)) return not_found(key);
    ::fcntl(fd.get(), F_SETFL, O_WRONLY);  // back to blocking writes
    if (created && options_.durable && ::fsync(dir.get()) != 0)
      return errno_status(errno, "fsync directory of", std::string(key));
    return std::unique_ptr<Appender>(new LocalAppender(
        std::move(fd), static_cast<uint64_t>(st.st_size), options_.durable, std::string(key)));
  }

  Status remove(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return Status::Ok();
    int err = 0;
    Fd dir = dir_of(segments, false, err);
    if (!dir.valid()) {
      if (absent(err)) return Status::Ok();
      return errno_status(err, "remove", std::string(key));
    }
    struct stat st {};
    const char* name = segments.back().c_str();
    if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
      return Status::Ok();  // nothing, or a directory (no object)
    if (::unlinkat(dir.get(), name, 0) != 0 && errno != ENOENT)
      return errno_status(errno, "remove", std::string(key));
    if (options_.durable && ::fsync(dir.get()) != 0)
      return errno_status(errno, "fsync directory of", std::string(key));
    return Status::Ok();
  }

  Status list(std::string_view prefix,
              const std::function<bool(const ObjectInfo&)>& each) override {
    STREAMLET_RETURN_IF_ERROR(check_prefix(prefix));
    auto [dirs, rest] = split_prefix(prefix);
    if (any_reserved(dirs)) return Status::Ok();
    int err = 0;
    Fd dir = streamlet::detail::open_dirs_at(root_.get(), dirs, false, err);
    if (!dir.valid()) {
      if (absent(err)) return Status::Ok();
      return errno_status(err, "list", std::string(prefix));
    }
    std::string key_prefix(prefix.substr(0, prefix.size() - rest.size()));
    Status status;
    walk(dir.get(), key_prefix, rest, each, status);
    return status;
  }

  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    STREAMLET_RETURN_IF_ERROR(check_prefix(prefix));
    auto [dirs, rest] = split_prefix(prefix);
    if (any_reserved(dirs)) return uint64_t{0};
    int err = 0;
    Fd dir = streamlet::detail::open_dirs_at(root_.get(), dirs, false, err);
    if (!dir.valid()) {
      if (absent(err)) return uint64_t{0};
      return errno_status(err, "remove", std::string(prefix));
    }
    uint64_t removed = 0;
    std::vector<std::pair<std::string, bool>> entries;
    if (DIR* d = ::fdopendir(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0))) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == ".." || is_reserved(n) || !n.starts_with(rest)) continue;
        struct stat st {};
        if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        entries.emplace_back(n, S_ISDIR(st.st_mode));
        if (S_ISREG(st.st_mode)) ++removed;
      }
      ::closedir(d);
    }
    for (const auto& [n, is_dir] : entries) {
      if (is_dir)
        removed += remove_tree_at(dir.get(), n);
      else
        ::unlinkat(dir.get(), n.c_str(), 0);
    }
    if (rest.empty() && !dirs.empty()) {
      // "media/v1/": the directory goes too when nothing (say, a live writer's file) is left.
      Fd parent = streamlet::detail::open_dirs_at(
          root_.get(), std::span(dirs).first(dirs.size() - 1), false, err);
      if (parent.valid()) ::unlinkat(parent.get(), dirs.back().c_str(), AT_REMOVEDIR);
    }
    if (options_.durable) ::fsync(dir.get());
    return removed;
  }

  Result<std::unique_ptr<Publication>> publish(std::string_view prefix) override {
    if (prefix.size() < 2 || prefix.back() != '/')
      return Status(
          ErrorCode::kInvalidArgument,
          "a publication prefix names a directory, ending with '/': " + std::string(prefix));
    std::string_view key = prefix.substr(0, prefix.size() - 1);
    STREAMLET_ASSIGN_OR_RETURN(auto segments, parse(key));
    if (any_reserved(segments)) return reserved(key);
    int err = 0;
    Fd parent = dir_of(segments, true, err);
    if (!parent.valid()) return errno_status(err, "create", std::string(prefix));
    fs::path parent_path = options_.root;
    for (size_t i = 0; i + 1 < segments.size(); ++i) parent_path /= segments[i];
    // Work directories of this output left by processes that died (crash, kill -9).
    streamlet::detail::remove_stale_work_dirs(parent_path, segments.back());
    std::string staging = streamlet::detail::work_dir_name(segments.back());
    if (::mkdirat(parent.get(), staging.c_str(), 0755) != 0)
      return errno_status(errno, "create", parent_path / staging);
    Fd staging_fd(
        ::openat(parent.get(), staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!staging_fd.valid()) {
      int e = errno;
      ::unlinkat(parent.get(), staging.c_str(), AT_REMOVEDIR);
      return errno_status(e, "open", parent_path / staging);
    }
    return std::unique_ptr<Publication>(
        new LocalPublication(std::move(parent), segments.back(), std::move(staging),
                             std::move(staging_fd), options_.durable, std::string(prefix)));
  }

  Result<LocalFile> local_file(std::string_view key, const fs::path& /*scratch_dir*/) override {
    // Its own file, no copy: checked here (regular, reached without a symlink).
    STREAMLET_ASSIGN_OR_RETURN(ObjectInfo info, stat(key));
    return LocalFile{options_.root / fs::path(std::string(key)), nullptr};
  }

  std::optional<uint64_t> free_bytes() override {
    struct statvfs vs {};
    if (::statvfs(options_.root.c_str(), &vs) != 0) return std::nullopt;
    return static_cast<uint64_t>(vs.f_bavail) * vs.f_frsize;
  }

  std::string describe() const override { return "local:" + options_.root.string(); }

 private:
  mode_t file_mode() const { return options_.private_files ? 0600 : 0644; }

  static Result<std::vector<std::string>> parse(std::string_view key) {
    STREAMLET_RETURN_IF_ERROR(check_key(key));
    return split(key);
  }

  // A prefix is a key with its end cut anywhere: "", "media/", "media/v1/seg_".
  static Status check_prefix(std::string_view prefix) {
    if (prefix.empty()) return Status::Ok();
    size_t slash = prefix.rfind('/');
    std::string_view last = slash == std::string_view::npos ? prefix : prefix.substr(slash + 1);
    Status s = check_key(std::string(prefix) + "x");
    if (!s.ok() || last == "." || last == "..")
      return Status(ErrorCode::kInvalidArgument,
                    "invalid storage prefix \"" + std::string(prefix) + "\"");
    return Status::Ok();
  }

  // "media/v1/seg_" -> directories {"media", "v1"}, name prefix "seg_".
  static std::pair<std::vector<std::string>, std::string> split_prefix(std::string_view prefix) {
    if (prefix.empty()) return {{}, ""};
    auto segments = split(prefix);
    std::string rest = std::move(segments.back());
    segments.pop_back();
    return {std::move(segments), std::move(rest)};
  }

  Fd dir_of(const std::vector<std::string>& segments, bool create, int& err) const {
    return streamlet::detail::open_dirs_at(root_.get(),
                                                std::span(segments).first(segments.size() - 1),
                                                create, err, create && options_.durable);
  }

  static Status walk_error(int err, std::string_view key) {
    if (absent(err)) return not_found(key);
    return errno_status(err, "open", std::string(key));
  }

  // Depth first, entries sorted with a '/' after directory names: that is key order.
  static bool walk(int dir, const std::string& key_prefix, std::string_view name_prefix,
                   const std::function<bool(const ObjectInfo&)>& each, Status& status) {
    struct Entry {
      std::string sort_key, name;
      bool is_dir;
      ObjectInfo info;
    };
    std::vector<Entry> entries;
    DIR* d = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
    if (!d) {
      status = errno_status(errno, "list", key_prefix);
      return false;
    }
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == ".." || is_reserved(n) || !n.starts_with(name_prefix)) continue;
      struct stat st {};
      if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        entries.push_back({n + "/", n, true, {}});
      } else if (S_ISREG(st.st_mode)) {
        entries.push_back(
            {n, n, false, {key_prefix + n, static_cast<uint64_t>(st.st_size), mtime_ms(st)}});
      }  // symlinks, FIFOs, devices: not objects
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.sort_key < b.sort_key; });
    for (const Entry& e : entries) {
      if (e.is_dir) {
        Fd sub(::openat(dir, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) continue;  // gone meanwhile
        if (!walk(sub.get(), key_prefix + e.name + "/", "", each, status)) return false;
      } else if (!each(e.info)) {
        return false;
      }
    }
    return true;
  }

  LocalOptions options_;
  // The root, opened once: every walk starts from it instead of resolving the path again.
  Fd root_;
};

}  // namespace

Result<std::shared_ptr<Storage>> open_local(LocalOptions options) {
  if (options.root.empty())
    return Status(ErrorCode::kInvalidArgument, "local storage: no root directory given");
  std::error_code ec;
  options.root = fs::absolute(options.root, ec).lexically_normal();
  if (ec) return Status(ErrorCode::kIo, "local storage: " + ec.message());
  if (options.root.has_filename() == false && options.root != options.root.root_path())
    options.root = options.root.parent_path();  // "data/" -> "data"
  fs::create_directories(options.root, ec);
  if (ec) return Status(ErrorCode::kIo, "create " + options.root.string() + ": " + ec.message());
  if (!fs::is_directory(options.root, ec))
    return Status(ErrorCode::kInvalidArgument,
                  "local storage: " + options.root.string() + " is not a directory");
  Fd root(::open(options.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return errno_status(errno, "open", options.root.string());
  return std::shared_ptr<Storage>(new LocalStorage(std::move(options), std::move(root)));
}

}  // namespace streamlet::storage
