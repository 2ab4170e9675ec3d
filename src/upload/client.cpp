// upload::Client: the tus steps over HttpSession, and the whole upload (parts, resume,
// retries, progress, cancel) on top of them.
#include "streamlet/upload_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/file_util.hpp"
#include "net/http_client.hpp"
#include "streamlet/upload.hpp"
#include "upload/resume_state.hpp"

namespace streamlet::upload {

namespace {

namespace fs = std::filesystem;
using net::HttpRequest;
using net::HttpResponse;

// The shared HTTP client, set up from the upload client's options.
class HttpSession : public net::HttpSession {
 public:
  explicit HttpSession(const ClientOptions& o) : net::HttpSession(http_options(o)) {}

 private:
  static net::HttpOptions http_options(const ClientOptions& o) {
    net::HttpOptions h;
    h.connect_timeout = o.connect_timeout;
    h.idle_timeout = o.idle_timeout;
    h.max_response_bytes = o.max_response_bytes;
    h.ca_file = o.ca_file;
    return h;
  }
};

constexpr int kMaxParallel = 64;

// The Status for an answer that is not the one a step expects (or for no answer at all).
Status remote_error(const Result<HttpResponse>& res, const std::string& what) {
  if (!res.ok()) return res.status().with_context(what);
  const int status = res->status;
  std::string message = "HTTP " + std::to_string(status);
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    message += ": " + body["error"].get<std::string>();
  ErrorCode code = status == 401   ? ErrorCode::kUnauthenticated
                   : status == 403 ? ErrorCode::kPermissionDenied
                   : status == 404 ? ErrorCode::kNotFound
                   : status == 409 ? ErrorCode::kConflict
                   : status == 410 ? ErrorCode::kGone
                   : status == 413 ? ErrorCode::kTooLarge
                   : status == 429 ? ErrorCode::kRateLimited
                   : status == 460 ? ErrorCode::kChecksumMismatch
                   : status >= 500 ? ErrorCode::kResourceExhausted
                                   : ErrorCode::kInvalidArgument;
  return error(code, what + ": " + message);
}

// Failures worth another attempt after asking the server for its offset.
bool retryable(const Status& s) {
  return s.code() == ErrorCode::kIo || s.code() == ErrorCode::kConflict ||
         s.code() == ErrorCode::kResourceExhausted || s.code() == ErrorCode::kChecksumMismatch;
}

std::vector<std::string> tus_headers(const ClientOptions& o) {
  std::vector<std::string> h{"Tus-Resumable: 1.0.0"};
  if (!o.bearer_token.empty()) h.push_back("Authorization: Bearer " + o.bearer_token);
  return h;
}

// A relative Location is resolved against the endpoint's origin.
Result<std::string> location_of(const HttpResponse& res, const std::string& endpoint,
                                const std::string& what) {
  std::string location = res.header("Location");
  if (location.empty()) return error(ErrorCode::kInternal, what + ": no Location header");
  if (location[0] == '/') {
    STREAMLET_ASSIGN_OR_RETURN(std::string origin, net::url_origin(endpoint));
    location = origin + location;
  }
  STREAMLET_RETURN_IF_ERROR(net::url_origin(location).status().with_context(what));
  return location;
}

// HEAD of an upload: the answer when it is 200.
Result<HttpResponse> head_upload(HttpSession& session, const ClientOptions& o,
                                 const std::string& url,
                                 const std::function<bool()>& cancelled = {}) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = url;
  req.headers = tus_headers(o);
  req.cancelled = cancelled;
  auto res = session.perform(req);
  if (!res.ok() || res->status != 200) return remote_error(res, "get upload offset");
  return res;
}

Result<uint64_t> head_offset(HttpSession& session, const ClientOptions& o, const std::string& url,
                             const std::function<bool()>& cancelled = {}) {
  STREAMLET_ASSIGN_OR_RETURN(auto res, head_upload(session, o, url, cancelled));
  auto offset = parse_uint(res.header("Upload-Offset"));
  if (!offset.ok())
    return error(ErrorCode::kInternal, "get upload offset: the server sent no Upload-Offset");
  return *offset;
}

// Sleeps `d`, waking early when `stop()` turns true.
void sleep_unless(std::chrono::milliseconds d, const std::function<bool()>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(20), until - std::chrono::steady_clock::now()));
}

// One part of an upload: file bytes [begin, end) go to `url`, whose data starts at `begin`.
struct Part {
  std::string url;
  uint64_t begin = 0, end = 0;
  std::atomic<uint64_t> acknowledged{0};  // bytes of this part the server confirmed
  std::atomic<uint64_t> in_flight{0};     // bytes of the current PATCH sent so far
  uint64_t held_at_start = 0;             // what the server had when this call began
  Status status;
};

// PATCHes the part chunk by chunk from the server's offset; after a retryable failure, waits
// (backoff), asks the offset again and goes on from there.
Status send_part(const ClientOptions& o, int fd, Part& part, uint64_t max_send_speed,
                 const std::function<bool()>& stop) {
  HttpSession session(o);
  const uint64_t length = part.end - part.begin;
  std::optional<uint64_t> offset;  // unknown until the server says
  bool first = true;
  int failures = 0;
  Status read_error;

  auto fail = [&](const Status& st) -> bool {  // true: give up with `st`
    if (!retryable(st) || ++failures > o.retries) return true;
    auto wait = o.backoff_initial * (1LL << std::min(failures - 1, 20));
    sleep_unless(std::min<std::chrono::milliseconds>(wait, o.backoff_max), stop);
    offset.reset();
    return false;
  };

  while (true) {
    if (stop()) return error(ErrorCode::kCancelled, "upload cancelled");
    if (!offset) {
      auto now = head_offset(session, o, part.url, stop);
      if (!now.ok()) {
        if (now.status().code() == ErrorCode::kCancelled || fail(now.status())) return now.status();
        continue;
      }
      if (*now > length)
        return error(ErrorCode::kInternal, "get upload offset: the server reports " +
                                               std::to_string(*now) + " bytes of " +
                                               std::to_string(length));
      offset = *now;
      part.acknowledged = *now;
      if (first) part.held_at_start = *now;
      first = false;
    }
    if (*offset >= length) return Status::Ok();

    const uint64_t chunk = std::min<uint64_t>(o.chunk_size, length - *offset);
    const uint64_t file_pos = part.begin + *offset;
    uint64_t read = 0;
    HttpRequest req;
    req.method = "PATCH";
    req.url = part.url;
    req.headers = tus_headers(o);
    req.headers.push_back("Upload-Offset: " + std::to_string(*offset));
    req.headers.push_back("Content-Type: application/offset+octet-stream");
    req.body_length = chunk;
    req.body = [&](char* buf, size_t size) -> long {
      size_t n = size_t(std::min<uint64_t>(size, chunk - read));
      if (n == 0) return 0;
      ssize_t got = ::pread(fd, buf, n, off_t(file_pos + read));
      if (got < 0) {
        read_error = streamlet::detail::errno_status(errno, "read", "the file");
        return -1;
      }
      if (got == 0) {
        read_error = error(ErrorCode::kIo, "the file got shorter while it was being uploaded");
        return -1;
      }
      read += uint64_t(got);
      return long(got);
    };
    req.rewind = [&](uint64_t to) {
      if (to > chunk) return false;
      read = to;
      return true;
    };
    req.max_send_speed = max_send_speed;
    req.cancelled = stop;
    req.uploaded = &part.in_flight;
    auto res = session.perform(req);
    part.in_flight = 0;
    if (!read_error.ok()) return read_error;
    if (!res.ok() && res.status().code() == ErrorCode::kCancelled)
      return error(ErrorCode::kCancelled, "upload cancelled");
    if (res.ok() && res->status == 204) {
      auto next = parse_uint(res->header("Upload-Offset"));
      if (!next.ok())
        return error(ErrorCode::kInternal, "upload: the server sent no Upload-Offset");
      // The new offset must lie within what this request carried.
      if (*next <= *offset || *next > *offset + chunk)
        return error(ErrorCode::kInternal,
                     "upload: the server answered offset " + std::to_string(*next) + " to " +
                         std::to_string(chunk) + " bytes sent at " + std::to_string(*offset));
      offset = *next;
      part.acknowledged = *next;
      failures = 0;
      continue;
    }
    Status st = remote_error(res, "upload");
    if (fail(st)) return st;
  }
}

// Identifies one file's upload across runs: same file (path, size, mtime), same server,
// same parts, same range.
std::string resume_key(const fs::path& file, const struct stat& st, const UploadParams& p,
                       uint64_t begin, uint64_t end) {
  std::error_code ec;
  std::string key = fs::absolute(file, ec).string() + "|" + std::to_string(st.st_size) + "|" +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                    "|" + p.endpoint + "|" + std::to_string(p.parallel);
  if (begin != 0 || end != uint64_t(st.st_size))
    key += "|" + std::to_string(begin) + "-" + std::to_string(end);
  return key;
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {}
Client::~Client() = default;

Result<std::string> Client::create(const std::string& endpoint, uint64_t length,
                                   const std::map<std::string, std::string>& metadata,
                                   bool partial) const {
  STREAMLET_RETURN_IF_ERROR(net::url_origin(endpoint).status());
  HttpSession session(options_);
  HttpRequest req;
  req.method = "POST";
  req.url = endpoint;
  req.headers = tus_headers(options_);
  req.headers.push_back("Upload-Length: " + std::to_string(length));
  if (!metadata.empty()) req.headers.push_back("Upload-Metadata: " + format_metadata(metadata));
  if (partial) req.headers.push_back("Upload-Concat: partial");
  req.headers.push_back("Content-Type: application/offset+octet-stream");
  auto res = session.perform(req);
  if (!res.ok() || res->status != 201) return remote_error(res, "create upload");
  return location_of(*res, endpoint, "create upload");
}

Result<std::string> Client::concatenate(const std::string& endpoint,
                                        const std::vector<std::string>& part_urls,
                                        const std::map<std::string, std::string>& metadata) const {
  STREAMLET_RETURN_IF_ERROR(net::url_origin(endpoint).status());
  std::string concat = "Upload-Concat: final;";
  for (size_t i = 0; i < part_urls.size(); ++i) concat += (i ? " " : "") + part_urls[i];
  HttpSession session(options_);
  HttpRequest req;
  req.method = "POST";
  req.url = endpoint;
  req.headers = tus_headers(options_);
  req.headers.push_back(concat);
  if (!metadata.empty()) req.headers.push_back("Upload-Metadata: " + format_metadata(metadata));
  req.headers.push_back("Content-Type:");  // none: there is no body
  auto res = session.perform(req);
  if (!res.ok() || res->status != 201) return remote_error(res, "concatenate parts");
  return location_of(*res, endpoint, "concatenate parts");
}

Result<uint64_t> Client::offset(const std::string& url) const {
  STREAMLET_RETURN_IF_ERROR(net::url_origin(url).status());
  HttpSession session(options_);
  return head_offset(session, options_, url);
}

Status Client::terminate(const std::string& url) const {
  STREAMLET_RETURN_IF_ERROR(net::url_origin(url).status());
  HttpSession session(options_);
  HttpRequest req;
  req.method = "DELETE";
  req.url = url;
  req.headers = tus_headers(options_);
  auto res = session.perform(req);
  if (!res.ok() || res->status != 204) return remote_error(res, "terminate upload");
  return Status::Ok();
}

Result<UploadResult> Client::upload(const UploadParams& p) const {
  STREAMLET_RETURN_IF_ERROR(net::url_origin(p.endpoint).status());
  if (p.parallel < 1 || p.parallel > kMaxParallel)
    return error(ErrorCode::kInvalidArgument,
                 "parallel must be 1.." + std::to_string(kMaxParallel));
  if (options_.chunk_size == 0)
    return error(ErrorCode::kInvalidArgument, "chunk size must be positive");

  streamlet::detail::Fd fd(::open(p.file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return error(ErrorCode::kNotFound, p.file.string() + ": not a readable regular file");
  const uint64_t file_size = uint64_t(st.st_size);
  const uint64_t begin = p.begin, end = p.end.value_or(file_size);
  if (begin > end || end > file_size)
    return error(ErrorCode::kInvalidArgument, p.file.string() + ": byte range " +
                                                  std::to_string(begin) + "-" +
                                                  std::to_string(end) + " is outside its " +
                                                  std::to_string(file_size) + " bytes");
  const uint64_t size = end - begin;

  // Parts: [begin, end) of the range, one tus upload each (just one when not parallel).
  const uint64_t n = uint64_t(p.parallel);
  const uint64_t per_part = (size + n - 1) / n;
  std::vector<Part> parts(n);
  for (uint64_t i = 0; i < n; ++i) {
    parts[i].begin = begin + std::min(size, per_part * i);
    parts[i].end = begin + std::min(size, per_part * (i + 1));
  }

  UploadResult result;
  result.bytes = size;
  const bool remember = !p.resume_state.empty();
  const detail::ResumeState state(p.resume_state);
  const std::string key = remember ? resume_key(p.file, st, p, begin, end) : std::string();
  std::vector<std::string> urls;
  if (!p.resume_urls.empty() && p.resume_urls.size() != parts.size())
    return error(ErrorCode::kInvalidArgument,
                 "resume_urls holds " + std::to_string(p.resume_urls.size()) + " URLs for " +
                     std::to_string(parts.size()) + " parts");
  if (!p.resume_urls.empty() || (remember && p.resume)) {
    urls = !p.resume_urls.empty() ? p.resume_urls : state.get(key);
    if (urls.size() != parts.size()) urls.clear();
    for (const auto& u : urls) {
      if (!offset(u).ok()) {  // expired or removed on the server: start over
        urls.clear();
        break;
      }
    }
    result.resumed = !urls.empty();
  }
  if (urls.empty()) {
    for (const auto& part : parts) {
      STREAMLET_ASSIGN_OR_RETURN(std::string url,
                                 create(p.endpoint, part.end - part.begin, p.metadata, n > 1));
      urls.push_back(std::move(url));
    }
    if (remember) state.put(key, urls);
  }
  for (size_t i = 0; i < parts.size(); ++i) parts[i].url = urls[i];
  result.part_urls = urls;
  if (p.on_start) p.on_start(urls, result.resumed);

  // Parts go side by side; the first real failure stops the others (what they sent stays
  // on the server, resumable).
  std::atomic<bool> failed{false};
  auto stop = [&] {
    return failed.load(std::memory_order_relaxed) ||
           p.cancel.cancelled();
  };
  const uint64_t speed = options_.rate_limit ? std::max<uint64_t>(1, options_.rate_limit / n) : 0;
  std::vector<std::thread> workers;
  std::atomic<size_t> running{parts.size()};
  for (auto& part : parts) {
    workers.emplace_back([&, fdv = fd.get()] {
      part.status = send_part(options_, fdv, part, speed, stop);
      if (!part.status.ok() && part.status.code() != ErrorCode::kCancelled) failed = true;
      --running;
    });
  }
  auto progress = [&] {
    UploadProgress pr;
    pr.total = size;
    for (const auto& part : parts) {
      pr.acknowledged += part.acknowledged.load();
      pr.sent += part.acknowledged.load() + part.in_flight.load();
    }
    pr.sent = std::min(pr.sent, size);
    return pr;
  };
  const auto interval = std::max(p.progress_interval, std::chrono::milliseconds(10));
  while (running.load() > 0) {
    sleep_unless(interval, [&] { return running.load() == 0; });
    if (p.on_progress && running.load() > 0) p.on_progress(progress());
  }
  for (auto& w : workers) w.join();
  if (p.on_progress) p.on_progress(progress());

  Status first_failure;
  for (const auto& part : parts)
    if (!part.status.ok() && part.status.code() != ErrorCode::kCancelled) {
      first_failure = part.status;
      break;
    }
  if (!first_failure.ok()) return first_failure;
  for (const auto& part : parts)
    if (!part.status.ok()) return part.status;  // cancelled
  for (const auto& part : parts) result.bytes_sent += (part.end - part.begin) - part.held_at_start;

  result.url = urls[0];
  if (n > 1) {
    STREAMLET_ASSIGN_OR_RETURN(result.url, concatenate(p.endpoint, urls, p.metadata));
  }
  if (remember) state.put(key, {});  // done: a later upload of the same file starts fresh
  // streamlet-server names the upload's video; another tus server does not (left empty).
  HttpSession session(options_);
  if (auto head = head_upload(session, options_, result.url); head.ok())
    result.video_id = head->header("Streamlet-Video-Id");
  return result;
}

Result<VideoProgress> Client::follow_video(
    const std::string& server, const std::string& video_id,
    const std::function<void(const VideoProgress&)>& on_update, const CancelToken& cancel) const {
  std::string base = server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  net::HttpOptions ho;
  ho.connect_timeout = options_.connect_timeout;
  ho.idle_timeout = options_.idle_timeout;  // the server sends a comment every few seconds
  ho.ca_file = options_.ca_file;
  net::HttpSession session(ho);
  VideoProgress now;
  int failures = 0;
  auto delay = options_.backoff_initial;
  for (;;) {
    if (cancel.cancelled()) return error(ErrorCode::kCancelled, "cancelled");
    std::string buffer;
    bool done = false;
    HttpRequest req;
    req.url = base + "/v1/videos/" + video_id + "/events";
    req.headers = {"Accept: text/event-stream"};
    if (!options_.bearer_token.empty())
      req.headers.push_back("Authorization: Bearer " + options_.bearer_token);
    req.cancelled = [&] { return cancel.cancelled(); };
    // Each "event: NAME\ndata: JSON\n\n" block becomes an update.
    req.sink = [&](const char* data, size_t size) {
      buffer.append(data, size);
      size_t end;
      while ((end = buffer.find("\n\n")) != std::string::npos) {
        std::string block = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        std::string name = "message", payload;
        size_t at = 0;
        while (at < block.size()) {
          size_t nl = block.find('\n', at);
          std::string line = block.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
          at = nl == std::string::npos ? block.size() : nl + 1;
          const size_t colon = line.find(':');
          if (colon == std::string::npos || colon == 0) continue;  // no field, or a comment
          std::string value = line.substr(colon + 1);
          if (!value.empty() && value[0] == ' ') value.erase(0, 1);
          if (line.compare(0, colon, "event") == 0) name = value;
          if (line.compare(0, colon, "data") == 0) payload += value;
        }
        auto j = nlohmann::json::parse(payload, nullptr, false);
        if (!j.is_object()) continue;
        if (name == "status") {
          now.status = j.value("status", now.status);
          now.reason = j.value("reason", std::string());
          done = now.status == "ready" || now.status == "failed";
        } else if (name == "progress") {
          now.status = "processing";
          now.percent = j.value("percent", now.percent);
        } else {
          continue;
        }
        failures = 0;
        if (on_update) on_update(now);
      }
      return !done;  // the stream ends with the video's last status
    };
    auto res = session.perform(req);
    if (done) return now;
    if (res.ok() && res->status != 200) return remote_error(res, "follow the video");
    if (!res.ok() && res.status().code() == ErrorCode::kCancelled) return res.status();
    if (++failures > options_.retries)
      return (res.ok() ? error(ErrorCode::kIo, "the progress stream kept ending") : res.status())
          .with_context("follow the video");
    sleep_unless(delay, [&] { return cancel.cancelled(); });
    delay = std::min(delay * 2, options_.backoff_max);
  }
}

}  // namespace streamlet::upload
