#include "upload_routes.hpp"

#include <strings.h>

#include "http_errors.hpp"
#include "route_table.hpp"

namespace streamlet::server {

namespace {

// A refused body that is still on its way: reading (and dropping) a modest one lets the client
// finish sending and see our answer; closing on it instead makes the kernel reset the
// connection, and the client sees a network error rather than the status. Large or
// half-read bodies are not worth it: the connection is closed.
constexpr uint64_t kMaxDrain = 16ull << 20;

void drain_or_close(const httplib::ContentReader* reader, bool body_touched,
                    httplib::Response& res) {
  if (!reader) return;
  // httplib sets 400 itself when a content receiver stops early; the answer is still the one
  // already given (409, 413, ...), which is what its JSON body says.
  const int status = res.status;
  uint64_t drained = 0;
  bool whole = !body_touched && (*reader)([&drained](const char*, size_t size) {
    drained += size;
    return drained <= kMaxDrain;
  });
  res.status = status;
  // Otherwise unread bytes would be parsed as the next request on this connection.
  if (!whole) res.set_header("Connection", "close");
}

bool all_of(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// `row` is the route table's row the request matched: the collection or one upload.
void serve(platform::Platform& platform, const RouteSpec& row, RequestMetrics& metrics,
           const std::string& public_url, const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader* reader) {
  note_route(std::string(row.label));
  upload::TusRequest treq;
  treq.method = req.method;
  treq.path = req.path;
  bool bad_host = false;
  if (!public_url.empty() || req.has_header("Host")) {
    // Reflected into Location, so a client's Host must be a host, not a link elsewhere.
    auto base = request_base_url(public_url, req);
    bad_host = !base;
    if (base) treq.scheme_host = *base;
  }
  for (const auto& [name, value] : req.headers) treq.headers.emplace_back(name, value);
  bool body_touched = false;
  if (reader) {
    // Streams the body chunk by chunk from the socket into the store: never req.body.
    treq.body = [reader, &body_touched, &metrics](const upload::BodySink& sink) {
      body_touched = true;
      return (*reader)([&sink, &metrics](const char* data, size_t size) {
        metrics.add_upload_bytes(size);
        return sink(data, size);
      });
    };
  }
  upload::TusResponse out;
  if (bad_host) {
    out.error = error(ErrorCode::kInvalidArgument,
                      "the Host header is not a host[:port]; use --public-url behind a proxy "
                      "that rewrites it");
    out.headers = {{"Tus-Resumable", "1.0.0"}, {"Access-Control-Allow-Origin", "*"}};
  } else {
    // Authentication, the video's creation, ownership and the tus protocol: the platform's.
    out = platform.handle_upload(treq);
  }
  for (const auto& [name, value] : out.headers) res.set_header(name, value);
  if (!out.error.ok()) {
    send_error(res, out.error);
  } else {
    res.status = out.status;
    if (!out.body.empty()) res.set_content(out.body, "application/json");
  }
  // A body nobody read (a refusal, an X-HTTP-Method-Override of OPTIONS or HEAD, say) is
  // drained or the connection closed; the front closes it anyway if bytes are left.
  if (out.body_unread || !body_touched) drain_or_close(reader, body_touched, res);
}

}  // namespace

void register_upload_routes(httplib::Server& server, platform::Platform& platform,
                            RequestMetrics& metrics, const std::string& public_url) {
  // The collection and every upload under it; the platform's tus handling splits the path.
  for (RouteId id : {RouteId::kUploadsOptions, RouteId::kUploadsHead, RouteId::kUploadsCreate,
                     RouteId::kUploadsPatch, RouteId::kUploadsDelete, RouteId::kUploadOptions,
                     RouteId::kUploadHead, RouteId::kUploadCreate, RouteId::kUploadPatch,
                     RouteId::kUploadDelete}) {
    const RouteSpec& row = route_spec(id);
    const std::string regex = pattern_regex(row.pattern);
    auto plain = [&platform, &metrics, &row, public_url](const httplib::Request& req,
                                                               httplib::Response& res) {
      serve(platform, row, metrics, public_url, req, res, nullptr);
    };
    auto streamed = [&platform, &metrics, &row, public_url](
                        const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& reader) {
      serve(platform, row, metrics, public_url, req, res, &reader);
    };
    if (row.method == "OPTIONS")
      server.Options(regex, plain);
    else if (row.method == "GET")
      server.Get(regex, plain);  // httplib routes HEAD through GET handlers
    else if (row.method == "DELETE")
      server.Delete(regex, streamed);
    else if (row.method == "POST")
      server.Post(regex, streamed);
    else if (row.method == "PATCH")
      server.Patch(regex, streamed);
  }
}

std::optional<std::string> request_base_url(const std::string& public_url,
                                            const httplib::Request& req) {
  if (!public_url.empty()) return public_url;
  const std::string host = req.get_header_value("Host");
  if (!plausible_host(host)) return std::nullopt;
  // Behind a TLS-terminating proxy, URLs must say https.
  const bool https = req.get_header_value("X-Forwarded-Proto") == "https";
  return std::string(https ? "https://" : "http://") + host;
}

bool plausible_host(std::string_view host) {
  if (host.empty() || host.size() > 261) return false;
  std::string_view port;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    auto inside = host.substr(1, close - 1);
    if (!all_of(inside, [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                 c == ':' || c == '.';
        }))
      return false;
    auto after = host.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':' || after.size() == 1) return false;
      port = after.substr(1);
    }
  } else {
    const size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty()) return false;
    }
    if (host.empty() || !all_of(host, name_char)) return false;
  }
  if (port.empty()) return true;
  if (port.size() > 5 || !all_of(port, [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoi(std::string(port)) <= 65535;
}

Result<std::string> parse_public_url(std::string_view url) {
  const Status bad = error(ErrorCode::kInvalidArgument,
                           "--public-url must be http[s]://host[:port][/path], e.g. "
                           "https://video.example.com, not '" +
                               std::string(url) + "'");
  size_t scheme_end = 0;
  if (url.rfind("https://", 0) == 0)
    scheme_end = 8;
  else if (url.rfind("http://", 0) == 0)
    scheme_end = 7;
  else
    return bad;
  std::string_view rest = url.substr(scheme_end);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (!plausible_host(authority)) return bad;
  if (!all_of(path, [](char c) { return name_char(c) || c == '/' || c == '~' || c == '%'; }))
    return bad;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return std::string(url.substr(0, scheme_end)) + std::string(authority) + std::string(path);
}

}  // namespace streamlet::server
