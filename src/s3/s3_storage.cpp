// storage::Storage over an S3 bucket (include/streamlet/s3.hpp says what lives where).
#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <set>

#include "s3/client.hpp"
#include "streamlet/s3.hpp"

namespace streamlet::s3 {

namespace {

using detail::Client;
using detail::PartInfo;
using detail::Request;

constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr std::string_view kTailInfix = ".tail.";
constexpr std::string_view kStaging = ".streamlet-staging/";

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), int(bytes));
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// "<key>.tail.000012" -> 12; -1 when `name` is not a tail of `key`.
long tail_index(std::string_view name, std::string_view key) {
  if (name.size() <= key.size() + kTailInfix.size() || name.substr(0, key.size()) != key ||
      name.substr(key.size(), kTailInfix.size()) != kTailInfix)
    return -1;
  std::string_view digits = name.substr(key.size() + kTailInfix.size());
  long n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// True for the backend's own keys (tails of appenders), which list() never shows.
bool is_tail(std::string_view key) {
  size_t at = key.rfind(kTailInfix);
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view digits = key.substr(at + kTailInfix.size());
  return !digits.empty() &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string tail_key(const std::string& key, size_t n) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%06zu", n);
  return key + std::string(kTailInfix) + digits;
}

// "Wed, 01 May 2024 12:34:56 GMT" -> Unix ms (0 when malformed).
int64_t http_date_ms(const std::string& s) {
  struct tm t = {};
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &t)) return 0;
  return int64_t(timegm(&t)) * 1000;
}

struct Head {
  storage::ObjectInfo info;
  std::string etag;
};

// HEAD of a plain object; kNotFound when there is none.
Result<Head> head_object(Client& c, const std::string& full, std::string_view key) {
  auto res = c.perform({.method = "HEAD", .key = full});
  if (!res.ok() || res->status != 200) return c.failure(res, "stat", full);
  Head h;
  h.info.key = std::string(key);
  h.info.size = std::strtoull(res->header("Content-Length").c_str(), nullptr, 10);
  h.info.modified_ms = http_date_ms(res->header("Last-Modified"));
  h.etag = res->header("ETag");
  return h;
}

// ---- Reader: ranged GETs pinned to the ETag it was opened on ------------------------------
class S3Reader final : public storage::Reader {
 public:
  S3Reader(std::shared_ptr<Client> c, std::string full, Head head)
      : c_(std::move(c)), full_(std::move(full)), head_(std::move(head)) {}
  const storage::ObjectInfo& info() const override { return head_.info; }

  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    if (offset >= head_.info.size || size == 0) return size_t(0);
    size = size_t(std::min<uint64_t>(size, head_.info.size - offset));
    size_t got = 0;
    Request r{.method = "GET", .key = full_};
    r.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" +
                        std::to_string(offset + size - 1));
    if (!head_.etag.empty()) r.headers.push_back("If-Match: " + head_.etag);
    r.sink = [&](const char* bytes, size_t n) {
      if (got + n > size) return false;  // more than asked: refuse rather than overrun
      std::memcpy(data + got, bytes, n);
      got += n;
      return true;
    };
    auto res = c_->perform(r);
    if (res.ok() && res->status == 412)
      return error(ErrorCode::kIo, "s3 read " + full_ + ": the object was replaced while open");
    if (!res.ok() || (res->status != 206 && res->status != 200))
      return c_->failure(res, "read", full_);
    if (got != size)
      return error(ErrorCode::kIo, "s3 read " + full_ + ": " + std::to_string(got) + " of " +
                                       std::to_string(size) + " bytes came");
    return got;
  }

 private:
  std::shared_ptr<Client> c_;
  std::string full_;
  Head head_;
};

// ---- Writer: one PUT, or a multipart upload once past one part ----------------------------
class S3Writer final : public storage::Writer {
 public:
  S3Writer(std::shared_ptr<Client> c, std::string full,
           std::function<void(const std::string&)> on_commit = {})
      : c_(std::move(c)), full_(std::move(full)), on_commit_(std::move(on_commit)) {}
  ~S3Writer() override {
    if (!upload_id_.empty() && !committed_) (void)c_->abort_multipart(full_, upload_id_);
  }

  Status write(const char* data, size_t size) override {
    if (committed_) return error(ErrorCode::kInternal, "s3 write after commit");
    buffer_.append(data, size);
    written_ += size;
    const uint64_t part = c_->options().part_size;
    while (buffer_.size() >= part + part / 2) STREAMLET_RETURN_IF_ERROR(send_part(part));
    return Status::Ok();
  }

  Status commit() override {
    if (committed_) return Status::Ok();
    if (upload_id_.empty()) {
      STREAMLET_RETURN_IF_ERROR(c_->put(full_, buffer_));
    } else {
      if (!buffer_.empty()) STREAMLET_RETURN_IF_ERROR(send_part(buffer_.size()));
      STREAMLET_RETURN_IF_ERROR(c_->complete_multipart(full_, upload_id_, parts_));
    }
    buffer_.clear();
    buffer_.shrink_to_fit();
    committed_ = true;
    if (on_commit_) on_commit_(full_);
    return Status::Ok();
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  Status send_part(size_t n) {
    if (upload_id_.empty()) {
      STREAMLET_ASSIGN_OR_RETURN(upload_id_, c_->create_multipart(full_));
    }
    const int number = int(parts_.size()) + 1;
    STREAMLET_ASSIGN_OR_RETURN(
        auto etag, c_->upload_part(full_, upload_id_, number, std::string_view(buffer_).substr(0, n)));
    parts_.push_back({.number = number, .size = n, .etag = etag});
    buffer_.erase(0, n);
    return Status::Ok();
  }

  std::shared_ptr<Client> c_;
  std::string full_;
  std::function<void(const std::string&)> on_commit_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<PartInfo> parts_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// ---- Appender: multipart parts + a durable tail object, resumable from any node ----------
// The tail object "<key>.tail.<N>" holds the bytes after parts 1..N and, in its metadata, the
// multipart upload's id: the newest tail is the truth. Parts past N may exist (uploaded by
// appends not synced yet); they are ignored and overwritten. sync() writes a new tail (after
// uploading full parts) and keeps the one of the previous sync, so the owner can truncate
// back to what it last acknowledged after a crash between sync and acknowledgement.
class S3Appender final : public storage::Appender {
 public:
  static Result<std::unique_ptr<storage::Appender>> open(std::shared_ptr<Client> c,
                                                          const std::string& full,
                                                          std::string_view key, bool create) {
    auto a = std::unique_ptr<S3Appender>(new S3Appender(std::move(c), full));
    STREAMLET_RETURN_IF_ERROR(a->load(key, create));
    return std::unique_ptr<storage::Appender>(std::move(a));
  }

  uint64_t size() const override { return finished_ ? finished_size_ : part_bytes() + buffer_.size(); }

  Status append(const char* data, size_t size) override {
    if (finished_) return error(ErrorCode::kConflict, "s3 append " + full_ + ": already finished");
    buffer_.append(data, size);
    dirty_ = true;
    const uint64_t part = c_->options().part_size;
    while (buffer_.size() >= part) STREAMLET_RETURN_IF_ERROR(send_part(part));
    return Status::Ok();
  }

  Status sync() override {
    if (finished_ || !dirty_) return Status::Ok();
    const size_t n = parts_.size();
    std::vector<std::string> headers;
    if (!upload_id_.empty()) headers.push_back("x-amz-meta-upload-id: " + upload_id_);
    STREAMLET_RETURN_IF_ERROR(c_->put(tail_key(full_, n), buffer_, headers));
    // Keep this tail and the previous sync's; the rest are stale.
    std::vector<std::string> stale;
    for (size_t t : tails_)
      if (t != n && t != last_sync_tail_) stale.push_back(tail_key(full_, t));
    if (!stale.empty()) STREAMLET_RETURN_IF_ERROR(c_->remove_keys(stale));
    std::set<size_t> kept{n};
    if (tails_.count(last_sync_tail_) && last_sync_tail_ != n) kept.insert(last_sync_tail_);
    tails_ = kept;
    last_sync_tail_ = n;
    dirty_ = false;
    return Status::Ok();
  }

  Status truncate(uint64_t to) override {
    if (to > size()) return error(ErrorCode::kInvalidArgument, "s3 truncate past the end");
    if (finished_) {
      if (to == finished_size_) return Status::Ok();
      return error(ErrorCode::kConflict, "s3 truncate " + full_ + ": already finished");
    }
    if (to == size()) return Status::Ok();
    if (to >= part_bytes()) {
      buffer_.resize(size_t(to - part_bytes()));
      dirty_ = true;
      return Status::Ok();
    }
    // Back into parts: start again from the newest kept tail at or before `to`.
    for (auto it = tails_.rbegin(); it != tails_.rend(); ++it) {
      const size_t t = *it;
      if (t > parts_.size() || part_bytes(t) > to) continue;
      STREAMLET_ASSIGN_OR_RETURN(auto text, get_tail(t));
      if (part_bytes(t) + text.size() < to) break;
      parts_.resize(t);
      buffer_ = text.substr(0, size_t(to - part_bytes(t)));
      dirty_ = true;
      last_sync_tail_ = t;  // the tails after it are stale from now on
      return Status::Ok();
    }
    return error(ErrorCode::kConflict, "s3 truncate " + full_ + " to " + std::to_string(to) +
                                           ": those bytes are in parts synced since");
  }

  Status finish() override {
    if (finished_) return Status::Ok();
    if (parts_.empty()) {
      STREAMLET_RETURN_IF_ERROR(c_->put(full_, buffer_));
    } else {
      if (!buffer_.empty()) STREAMLET_RETURN_IF_ERROR(send_part(buffer_.size()));
      STREAMLET_RETURN_IF_ERROR(c_->complete_multipart(full_, upload_id_, parts_));
    }
    finished_size_ = part_bytes() + buffer_.size();
    finished_ = true;
    buffer_.clear();
    return remove_tails();
  }

 private:
  S3Appender(std::shared_ptr<Client> c, std::string full) : c_(std::move(c)), full_(std::move(full)) {}

  uint64_t part_bytes(size_t count = SIZE_MAX) const {
    uint64_t sum = 0;
    size_t i = 0;
    for (const auto& p : parts_) {
      if (i++ == count) break;
      sum += p.size;
    }
    return sum;
  }

  Result<std::string> get_tail(size_t n) {
    std::string text;
    Request r{.method = "GET", .key = tail_key(full_, n)};
    r.sink = [&](const char* d, size_t len) {
      if (text.size() + len > c_->options().part_size * 2) return false;
      text.append(d, len);
      return true;
    };
    auto res = c_->perform(r);
    if (!res.ok() || res->status != 200) return c_->failure(res, "read tail of", full_);
    if (upload_id_.empty()) upload_id_ = res->header("x-amz-meta-upload-id");
    return text;
  }

  Status load(std::string_view key, bool create) {
    STREAMLET_RETURN_IF_ERROR(c_->list(full_ + std::string(kTailInfix), [&](const detail::ListedObject& o) {
      long n = tail_index(o.key, full_);
      if (n >= 0) tails_.insert(size_t(n));
      return true;
    }));
    if (tails_.empty()) {
      auto head = head_object(*c_, full_, key);
      if (head.ok()) {
        finished_ = true;
        finished_size_ = head->info.size;
        return Status::Ok();
      }
      if (head.status().code() != ErrorCode::kNotFound || !create) return head.status();
      dirty_ = true;
      return sync();  // exists (empty) from now on
    }
    const size_t n = *tails_.rbegin();
    last_sync_tail_ = n;
    STREAMLET_ASSIGN_OR_RETURN(buffer_, get_tail(n));
    if (n == 0) return Status::Ok();
    std::string id = upload_id_;
    if (id.empty()) return error(ErrorCode::kIo, "s3 " + full_ + ": tail without its upload id");
    auto parts = c_->list_parts(full_, id);
    if (!parts.ok() && parts.status().code() == ErrorCode::kNotFound) {
      // Completed, and the tails outlived it (a crash before their removal).
      auto head = head_object(*c_, full_, key);
      if (!head.ok()) return error(ErrorCode::kIo, "s3 " + full_ + ": its multipart upload is gone");
      finished_ = true;
      finished_size_ = head->info.size;
      return remove_tails();
    }
    if (!parts.ok()) return parts.status();
    for (size_t i = 0; i < n; ++i) {
      if (i >= parts->size() || (*parts)[i].number != int(i + 1))
        return error(ErrorCode::kIo, "s3 " + full_ + ": part " + std::to_string(i + 1) +
                                         " of a synced upload is missing");
      parts_.push_back((*parts)[i]);
    }
    return Status::Ok();
  }

  Status send_part(size_t n) {
    if (upload_id_.empty()) {
      STREAMLET_ASSIGN_OR_RETURN(upload_id_, c_->create_multipart(full_));
    }
    const int number = int(parts_.size()) + 1;
    STREAMLET_ASSIGN_OR_RETURN(
        auto etag, c_->upload_part(full_, upload_id_, number, std::string_view(buffer_).substr(0, n)));
    parts_.push_back({.number = number, .size = n, .etag = etag});
    buffer_.erase(0, n);
    return Status::Ok();
  }

  Status remove_tails() {
    std::vector<std::string> keys;
    STREAMLET_RETURN_IF_ERROR(c_->list(full_ + std::string(kTailInfix), [&](const detail::ListedObject& o) {
      if (tail_index(o.key, full_) >= 0) keys.push_back(o.key);
      return true;
    }));
    tails_.clear();
    return c_->remove_keys(keys);
  }

  std::shared_ptr<Client> c_;
  std::string full_;
  std::string upload_id_;
  std::vector<PartInfo> parts_;  // parts 1..N in order
  std::string buffer_;           // the bytes after the parts
  std::set<size_t> tails_;       // indices of the tail objects in the bucket
  size_t last_sync_tail_ = 0;
  bool dirty_ = false;
  bool finished_ = false;  // the object is plain now
  uint64_t finished_size_ = 0;
};

class S3Storage;

// ---- Publication: staged objects copied into place, manifests last ------------------------
class S3Publication final : public storage::Publication {
 public:
  S3Publication(std::shared_ptr<Client> c, std::string prefix, std::string staging)
      : c_(std::move(c)), prefix_(std::move(prefix)), staging_(std::move(staging)) {}
  ~S3Publication() override {
    if (published_) return;
    (void)remove_under(staging_);
    if (revealing_) (void)remove_under(prefix_);  // withdraw what was shown
  }

  Result<std::unique_ptr<storage::Writer>> create(std::string_view name) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(name));
    std::string n(name);
    return std::unique_ptr<storage::Writer>(
        new S3Writer(c_, staging_ + n, [this, n](const std::string&) {
          names_.insert(n);
          revealed_.erase(n);  // new bytes: shown again at the next reveal or publish
        }));
  }

  // A server-side copy to the final key: one PUT, so readers see one version or the other.
  Status reveal(std::string_view name) override {
    if (published_) return error(ErrorCode::kInternal, "reveal after publish");
    STREAMLET_RETURN_IF_ERROR(storage::check_key(name));
    const std::string n(name);
    if (!names_.count(n)) return error(ErrorCode::kNotFound, "not in this publication: " + n);
    if (!revealing_) {
      STREAMLET_RETURN_IF_ERROR(remove_under(prefix_));  // no older output mixed in
      revealing_ = true;
    }
    STREAMLET_RETURN_IF_ERROR(c_->copy(staging_ + n, prefix_ + n));
    revealed_.insert(n);
    return Status::Ok();
  }

  Result<std::unique_ptr<storage::Reader>> open(std::string_view name) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(name));
    if (!names_.count(std::string(name)))
      return error(ErrorCode::kNotFound, "not in this publication: " + std::string(name));
    const std::string full = staging_ + std::string(name);
    STREAMLET_ASSIGN_OR_RETURN(auto head, head_object(*c_, full, name));
    return std::unique_ptr<storage::Reader>(new S3Reader(c_, full, std::move(head)));
  }

  Status publish(const std::vector<std::string>& last) override {
    if (published_) return error(ErrorCode::kInternal, "publish called twice");
    std::set<std::string> later(last.begin(), last.end());
    for (const auto& n : names_)
      if (!later.count(n) && !revealed_.count(n))
        STREAMLET_RETURN_IF_ERROR(c_->copy(staging_ + n, prefix_ + n));
    for (const auto& n : last)
      if (names_.count(n)) STREAMLET_RETURN_IF_ERROR(c_->copy(staging_ + n, prefix_ + n));
    // What the prefix held before and this output does not have goes now.
    std::vector<std::string> old;
    STREAMLET_RETURN_IF_ERROR(c_->list(prefix_, [&](const detail::ListedObject& o) {
      if (!names_.count(o.key.substr(prefix_.size()))) old.push_back(o.key);
      return true;
    }));
    STREAMLET_RETURN_IF_ERROR(c_->remove_keys(old));
    published_ = true;
    return remove_under(staging_);
  }

 private:
  Status remove_under(const std::string& prefix) {
    std::vector<std::string> keys;
    STREAMLET_RETURN_IF_ERROR(c_->list(prefix, [&](const detail::ListedObject& o) {
      keys.push_back(o.key);
      return true;
    }));
    return c_->remove_keys(keys);
  }

  std::shared_ptr<Client> c_;
  std::string prefix_;   // full
  std::string staging_;  // full, ends in '/'
  std::set<std::string> names_;
  std::set<std::string> revealed_;  // shown by reveal() and not written since
  bool revealing_ = false;          // the prefix holds what reveal() showed
  bool published_ = false;
};

// ---- Storage ------------------------------------------------------------------------------
class S3Storage final : public storage::Storage {
 public:
  explicit S3Storage(std::shared_ptr<Client> c) : c_(std::move(c)) {}

  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    const std::string full = c_->full_key(key);
    STREAMLET_ASSIGN_OR_RETURN(auto head, head_object(*c_, full, key));
    return std::unique_ptr<storage::Reader>(new S3Reader(c_, full, std::move(head)));
  }

  Result<storage::ObjectInfo> stat(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    const std::string full = c_->full_key(key);
    auto head = head_object(*c_, full, key);
    if (head.ok()) return head->info;
    if (head.status().code() != ErrorCode::kNotFound) return head.status();
    // An appender's data before finish(): its size is its parts and tail.
    bool appending = false;
    STREAMLET_RETURN_IF_ERROR(c_->list(full + std::string(kTailInfix), [&](const detail::ListedObject& o) {
      appending = tail_index(o.key, full) >= 0;
      return !appending;
    }));
    if (!appending) return head.status();
    STREAMLET_ASSIGN_OR_RETURN(auto a, S3Appender::open(c_, full, key, false));
    storage::ObjectInfo info;
    info.key = std::string(key);
    info.size = a->size();
    return info;
  }

  Result<std::unique_ptr<storage::Writer>> write(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    return std::unique_ptr<storage::Writer>(new S3Writer(c_, c_->full_key(key)));
  }

  Result<std::unique_ptr<storage::Appender>> append(std::string_view key, bool create) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    return S3Appender::open(c_, c_->full_key(key), key, create);
  }

  Status remove(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    const std::string full = c_->full_key(key);
    STREAMLET_RETURN_IF_ERROR(c_->remove(full));
    // An appender's pieces: its multipart uploads first (they hold the data), then the tails.
    STREAMLET_ASSIGN_OR_RETURN(auto uploads, c_->list_multipart(full));
    for (const auto& [k, id] : uploads)
      if (k == full) STREAMLET_RETURN_IF_ERROR(c_->abort_multipart(k, id));
    std::vector<std::string> tails;
    STREAMLET_RETURN_IF_ERROR(c_->list(full + std::string(kTailInfix), [&](const detail::ListedObject& o) {
      if (tail_index(o.key, full) >= 0) tails.push_back(o.key);
      return true;
    }));
    return c_->remove_keys(tails);
  }

  Status list(std::string_view prefix,
              const std::function<bool(const storage::ObjectInfo&)>& each) override {
    const std::string& root = c_->options().key_prefix;
    std::string last_reported;
    return c_->list(c_->full_key(prefix), [&](const detail::ListedObject& o) {
      std::string_view key = std::string_view(o.key).substr(root.size());
      if (key.substr(0, kStaging.size()) == kStaging) return true;
      if (is_tail(key)) {
        // An unfinished appender shows as its key (size: its tail's bytes only).
        std::string base(key.substr(0, key.rfind(kTailInfix)));
        if (base == last_reported || base.substr(0, prefix.size()) != prefix) return true;
        last_reported = base;
        return each({.key = base, .size = o.size, .modified_ms = o.modified_ms});
      }
      if (key == last_reported) return true;
      last_reported = std::string(key);
      return each({.key = std::string(key), .size = o.size, .modified_ms = o.modified_ms});
    });
  }

  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    const std::string full = c_->full_key(prefix);
    std::vector<std::string> keys;
    uint64_t objects = 0;
    STREAMLET_RETURN_IF_ERROR(c_->list(full, [&](const detail::ListedObject& o) {
      keys.push_back(o.key);
      if (!is_tail(o.key)) ++objects;
      return true;
    }));
    STREAMLET_ASSIGN_OR_RETURN(auto uploads, c_->list_multipart(full));
    for (const auto& [k, id] : uploads) STREAMLET_RETURN_IF_ERROR(c_->abort_multipart(k, id));
    STREAMLET_RETURN_IF_ERROR(c_->remove_keys(keys));
    return objects;
  }

  Result<std::unique_ptr<storage::Publication>> publish(std::string_view prefix) override {
    if (prefix.size() < 2 || prefix.back() != '/')
      return error(ErrorCode::kInvalidArgument,
                   "a publication prefix names a directory, ending with '/': " + std::string(prefix));
    STREAMLET_RETURN_IF_ERROR(storage::check_key(prefix.substr(0, prefix.size() - 1)));
    // Staged under the prefix it publishes, so what a killed attempt left can be found.
    std::string staging =
        c_->full_key(std::string(kStaging) + std::string(prefix) + random_hex(12) + "/");
    return std::unique_ptr<storage::Publication>(
        new S3Publication(c_, c_->full_key(prefix), std::move(staging)));
  }

  Status discard_unpublished(std::string_view prefix) override {
    if (prefix.size() < 2 || prefix.back() != '/')
      return error(ErrorCode::kInvalidArgument,
                   "a publication prefix names a directory, ending with '/': " + std::string(prefix));
    std::vector<std::string> keys;
    STREAMLET_RETURN_IF_ERROR(
        c_->list(c_->full_key(std::string(kStaging) + std::string(prefix)),
                 [&](const detail::ListedObject& o) {
                   keys.push_back(o.key);
                   return true;
                 }));
    return c_->remove_keys(keys);
  }

  std::string describe() const override { return c_->describe(); }

 private:
  std::shared_ptr<Client> c_;
};

}  // namespace

Result<S3Options> parse_s3_url(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return error(ErrorCode::kInvalidArgument, "storage URL " + std::string(url) + ": " + why +
                                                  " (expected s3://BUCKET?endpoint=http://HOST:PORT"
                                                  "&region=REGION[&path_style=1])");
  };
  if (url.substr(0, 5) != "s3://") return bad("not an s3:// URL");
  std::string_view rest = url.substr(5);
  size_t q = rest.find('?');
  std::string_view bucket = rest.substr(0, q);
  S3Options o;
  if (size_t slash = bucket.find('/'); slash != std::string_view::npos) {
    o.key_prefix = std::string(bucket.substr(slash + 1));
    bucket = bucket.substr(0, slash);
    if (!o.key_prefix.empty() && o.key_prefix.back() != '/') o.key_prefix += '/';
  }
  if (bucket.size() < 3 || bucket.size() > 63 ||
      !std::all_of(bucket.begin(), bucket.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      }))
    return bad("the bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'");
  o.bucket = std::string(bucket);
  if (q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      if (name == "endpoint") o.endpoint = value;
      else if (name == "region") o.region = value;
      else if (name == "path_style") {
        if (value != "0" && value != "1") return bad("path_style must be 0 or 1");
        o.path_style = value == "1";
      } else if (name == "part_size") {
        char* end = nullptr;
        o.part_size = std::strtoull(value.c_str(), &end, 10);
        if (value.empty() || *end) return bad("part_size must be a number of bytes");
      } else return bad("unknown parameter \"" + std::string(name) + "\"");
    }
  }
  if (o.endpoint.empty()) return bad("endpoint= is required");
  if (o.endpoint.substr(0, 7) != "http://" && o.endpoint.substr(0, 8) != "https://")
    return bad("the endpoint must be http:// or https://");
  if (o.region.empty()) return bad("region= must not be empty");
  const char* access = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  if (!access || !*access || !secret || !*secret)
    return bad("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the bucket's credentials");
  o.access_key = access;
  o.secret_key = secret;
  return o;
}

Result<std::shared_ptr<storage::Storage>> open_s3_storage(const S3Options& options) {
  auto bad = [](const std::string& why) { return error(ErrorCode::kInvalidArgument, "s3: " + why); };
  if (options.bucket.empty()) return bad("a bucket is required");
  if (options.endpoint.empty()) return bad("an endpoint is required");
  if (options.access_key.empty() || options.secret_key.empty())
    return bad("credentials (access key and secret key) are required");
  if (options.part_size < kMinPartSize)
    return bad("part_size must be at least 5 MiB (S3's smallest part)");
  if (!options.key_prefix.empty() && options.key_prefix.back() != '/')
    return bad("key_prefix must end in '/'");
  STREAMLET_RETURN_IF_ERROR(net::url_origin(options.endpoint).status());
  auto c = std::make_shared<Client>(options);
  Status st = c->head_bucket();
  if (!st.ok() && st.code() == ErrorCode::kNotFound && options.create_bucket) st = c->create_bucket();
  if (!st.ok()) return st;
  return std::shared_ptr<storage::Storage>(std::make_shared<S3Storage>(std::move(c)));
}

}  // namespace streamlet::s3
