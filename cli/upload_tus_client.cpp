#include "upload_tus_client.hpp"

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "streamlet/upload.hpp"

namespace streamlet::cli {

namespace {

Status remote_error(const httplib::Result& res, const std::string& what) {
  if (!res) return error(ErrorCode::kIo, what + ": " + httplib::to_string(res.error()));
  std::string message = "HTTP " + std::to_string(res->status);
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    message += ": " + body["error"].get<std::string>();
  ErrorCode code = res->status == 401   ? ErrorCode::kUnauthenticated
                   : res->status == 403 ? ErrorCode::kPermissionDenied
                   : res->status == 404 ? ErrorCode::kNotFound
                   : res->status == 409 ? ErrorCode::kConflict
                   : res->status == 410 ? ErrorCode::kGone
                   : res->status == 413 ? ErrorCode::kTooLarge
                   : res->status == 429 ? ErrorCode::kRateLimited
                   : res->status == 460 ? ErrorCode::kChecksumMismatch
                   : res->status >= 500 ? ErrorCode::kResourceExhausted
                                        : ErrorCode::kInvalidArgument;
  return error(code, what + ": " + message);
}

std::unique_ptr<httplib::Client> make_client(const std::string& scheme_host) {
  auto c = std::make_unique<httplib::Client>(scheme_host);
  c->set_connection_timeout(10, 0);
  c->set_read_timeout(120, 0);
  c->set_write_timeout(120, 0);
  c->set_keep_alive(true);
  return c;
}

bool retryable(const Status& s) {
  return s.code() == ErrorCode::kIo || s.code() == ErrorCode::kConflict ||
         s.code() == ErrorCode::kResourceExhausted || s.code() == ErrorCode::kChecksumMismatch;
}

}  // namespace

Result<Url> parse_url(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos ||
      (url.compare(0, scheme, "http") && url.compare(0, scheme, "https")))
    return error(ErrorCode::kInvalidArgument, "not an http(s) URL: " + url);
  size_t slash = url.find('/', scheme + 3);
  Url out;
  out.scheme_host = url.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : url.substr(slash);
  return out;
}

Result<std::string> TusClient::create(const std::string& endpoint, uint64_t length,
                                      const std::map<std::string, std::string>& metadata,
                                      bool partial) {
  STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(endpoint));
  auto client = make_client(u.scheme_host);
  httplib::Headers headers{{"Tus-Resumable", "1.0.0"},
                           {"Upload-Length", std::to_string(length)},
                           {"Upload-Metadata", upload::format_metadata(metadata)}};
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  if (partial) headers.emplace("Upload-Concat", "partial");
  auto res = client->Post(u.path, headers, std::string(), "application/offset+octet-stream");
  if (!res || res->status != 201) return remote_error(res, "create upload");
  std::string location = res->get_header_value("Location");
  if (location.empty()) return error(ErrorCode::kInternal, "create upload: no Location header");
  if (location[0] == '/') location = u.scheme_host + location;
  return location;
}

Result<std::string> TusClient::concatenate(const std::string& endpoint,
                                           const std::vector<std::string>& part_urls,
                                           const std::map<std::string, std::string>& metadata) {
  STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(endpoint));
  std::string concat = "final;";
  for (size_t i = 0; i < part_urls.size(); ++i) concat += (i ? " " : "") + part_urls[i];
  httplib::Headers headers{{"Tus-Resumable", "1.0.0"},
                           {"Upload-Concat", concat},
                           {"Upload-Metadata", upload::format_metadata(metadata)}};
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  auto res = make_client(u.scheme_host)->Post(u.path, headers, std::string(), "");
  if (!res || res->status != 201) return remote_error(res, "concatenate parts");
  std::string location = res->get_header_value("Location");
  if (!location.empty() && location[0] == '/') location = u.scheme_host + location;
  return location;
}

Result<uint64_t> TusClient::offset(const std::string& url) {
  STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(url));
  httplib::Headers headers{{"Tus-Resumable", "1.0.0"}};
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  auto res = make_client(u.scheme_host)->Head(u.path, headers);
  if (!res || res->status != 200) return remote_error(res, "get upload offset");
  return upload::parse_uint(res->get_header_value("Upload-Offset"));
}

Status TusClient::send(const std::string& url, int fd, uint64_t begin, uint64_t end,
                       std::atomic<uint64_t>& sent) {
  STREAMLET_ASSIGN_OR_RETURN(Url u, parse_url(url));
  auto client = make_client(u.scheme_host);
  STREAMLET_ASSIGN_OR_RETURN(uint64_t offset, this->offset(url));
  sent += offset;
  auto started = std::chrono::steady_clock::now();
  uint64_t throttled = 0;  // bytes counted against the rate limit
  int failures = 0;
  std::vector<char> buf(1 << 20);

  while (begin + offset < end) {
    uint64_t chunk = std::min<uint64_t>(options_.chunk_size, end - begin - offset);
    httplib::Headers headers{{"Tus-Resumable", "1.0.0"}, {"Upload-Offset", std::to_string(offset)}};
    if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
    const uint64_t file_pos = begin + offset;
    auto provider = [&](size_t at, size_t length, httplib::DataSink& sink) {
      size_t n = std::min(length, buf.size());
      ssize_t got = ::pread(fd, buf.data(), n, off_t(file_pos + at));
      if (got <= 0) return false;
      if (options_.rate_limit) {
        throttled += uint64_t(got);
        auto due = started + std::chrono::duration<double>(double(throttled) / options_.rate_limit);
        std::this_thread::sleep_until(due);
      }
      return sink.write(buf.data(), size_t(got));
    };
    auto res =
        client->Patch(u.path, headers, size_t(chunk), provider, "application/offset+octet-stream");
    Status st;
    if (res && res->status == 204) {
      auto next = upload::parse_uint(res->get_header_value("Upload-Offset"));
      if (!next.ok()) return error(ErrorCode::kInternal, "server sent no Upload-Offset");
      sent += *next - offset;
      offset = *next;
      failures = 0;
      continue;
    }
    st = remote_error(res, "upload");
    if (!retryable(st) || ++failures > options_.retries) return st;
    // Back off, then ask the server where the upload really stands and go on from there.
    std::this_thread::sleep_for(std::chrono::milliseconds(250 << std::min(failures, 4)));
    client = make_client(u.scheme_host);
    auto now = this->offset(url);
    if (!now.ok()) {
      if (!retryable(now.status())) return now.status();
      continue;
    }
    // The server may have kept part of the failed request.
    if (*now >= offset)
      sent += *now - offset;
    else
      sent -= offset - *now;
    offset = *now;
  }
  return Status::Ok();
}

}  // namespace streamlet::cli
