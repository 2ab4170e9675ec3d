// What every backend shares: the key rules, the put/get conveniences, and local_file by
// copying through open() for backends that have no file of their own.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "core/file_util.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::storage {

namespace {

constexpr size_t kMaxKeyBytes = 1024;

// The key as it may appear in a message: control bytes (and the NUL) shown as \xNN.
std::string printable(std::string_view key) {
  std::string out;
  for (unsigned char c : key.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (key.size() > 200) out += "...";
  return out;
}

Status bad_key(std::string_view key, std::string_view why) {
  return Status(ErrorCode::kInvalidArgument,
                "invalid storage key \"" + printable(key) + "\": " + std::string(why));
}

}  // namespace

Status check_key(std::string_view key) {
  if (key.empty()) return bad_key(key, "empty");
  if (key.size() > kMaxKeyBytes) return bad_key(key, "longer than 1024 bytes");
  if (key.front() == '/') return bad_key(key, "starts with '/'");
  for (unsigned char c : key)
    if (c < 0x20 || c == 0x7f) return bad_key(key, "control byte");
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    std::string_view segment =
        key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return bad_key(key, "empty segment");
    if (segment == "." || segment == "..") return bad_key(key, "'.' or '..' segment");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

Status Storage::put(std::string_view key, std::string_view bytes) {
  STREAMLET_ASSIGN_OR_RETURN(auto w, write(key));
  STREAMLET_RETURN_IF_ERROR(w->write(bytes.data(), bytes.size()));
  return w->commit();
}

Result<std::string> Storage::get(std::string_view key, uint64_t max_bytes) {
  STREAMLET_ASSIGN_OR_RETURN(auto r, open(key));
  const uint64_t size = r->info().size;
  if (size > max_bytes)
    return Status(ErrorCode::kTooLarge, std::string(key) + ": " + std::to_string(size) +
                                            " bytes, more than " + std::to_string(max_bytes));
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    STREAMLET_ASSIGN_OR_RETURN(size_t n, r->read_at(done, out.data() + done, size - done));
    if (n == 0) break;  // shorter than it said: what is there
    done += n;
  }
  out.resize(done);
  return out;
}

Result<LocalFile> Storage::local_file(std::string_view key,
                                      const std::filesystem::path& scratch_dir) {
  STREAMLET_RETURN_IF_ERROR(check_key(key));
  STREAMLET_ASSIGN_OR_RETURN(auto r, open(key));
  std::error_code ec;
  std::filesystem::create_directories(scratch_dir, ec);
  if (ec) return Status(ErrorCode::kIo, "create " + scratch_dir.string() + ": " + ec.message());

  // Keep the key's extension: some demuxers look at it.
  std::string extension;
  size_t slash = key.rfind('/');
  std::string_view base = slash == std::string_view::npos ? key : key.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && base.size() - dot <= 16)
    extension = std::string(base.substr(dot));
  std::string pattern = (scratch_dir / "streamlet-copy-XXXXXX").string() + extension;
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  streamlet::detail::Fd fd(::mkostemps(name.data(), static_cast<int>(extension.size()), O_CLOEXEC));
  if (!fd.valid()) return streamlet::detail::errno_status(errno, "create", pattern);
  std::filesystem::path path(name.data());
  // From here on the copy is removed on every path out, and with the last LocalFile.
  std::shared_ptr<void> keep(new std::filesystem::path(path), [](void* p) {
    auto* owned = static_cast<std::filesystem::path*>(p);
    ::unlink(owned->c_str());
    delete owned;
  });

  std::vector<char> buffer(1 << 20);
  uint64_t offset = 0;
  for (;;) {
    STREAMLET_ASSIGN_OR_RETURN(size_t n, r->read_at(offset, buffer.data(), buffer.size()));
    if (n == 0) break;
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(fd.get(), buffer.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return streamlet::detail::errno_status(errno, "write", path);
      done += static_cast<size_t>(w);
    }
    offset += n;
  }
  return LocalFile{path, std::move(keep)};
}

Status Publication::reveal(std::string_view name) {
  return Status(ErrorCode::kUnsupported,
                "this storage backend cannot show a publication before it is published (" +
                    std::string(name) + ")");
}

Status Storage::discard_unpublished(std::string_view) {
  return Status::Ok();
}

}  // namespace streamlet::storage
