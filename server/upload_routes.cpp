#include "upload_routes.hpp"

#include "auth.hpp"
#include "http_errors.hpp"

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
  uint64_t drained = 0;
  bool whole = !body_touched && (*reader)([&drained](const char*, size_t size) {
    drained += size;
    return drained <= kMaxDrain;
  });
  // Otherwise unread bytes would be parsed as the next request on this connection.
  if (!whole) res.set_header("Connection", "close");
}

void serve(upload::TusHandler& tus, const std::string& api_key, const httplib::Request& req,
           httplib::Response& res, const httplib::ContentReader* reader) {
  upload::TusRequest treq;
  treq.method = req.method;
  treq.path = req.path;
  // Behind a TLS-terminating proxy, upload URLs must say https.
  std::string scheme = req.get_header_value("X-Forwarded-Proto") == "https" ? "https" : "http";
  if (auto host = req.get_header_value("Host"); !host.empty())
    treq.scheme_host = scheme + "://" + host;
  for (const auto& [name, value] : req.headers) treq.headers.emplace_back(name, value);
  bool body_touched = false;
  if (reader) {
    // Streams the body chunk by chunk from the socket into the store: never req.body.
    treq.body = [reader, &body_touched](const upload::BodySink& sink) {
      body_touched = true;
      return (*reader)([&sink](const char* data, size_t size) { return sink(data, size); });
    };
  }

  std::string method = req.get_header_value("X-HTTP-Method-Override");
  if (method.empty()) method = req.method;
  if (method != "OPTIONS" && !authorized(req.get_header_value("Authorization"), api_key)) {
    res.set_header("Tus-Resumable", "1.0.0");
    res.set_header("Access-Control-Allow-Origin", "*");
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, error(ErrorCode::kUnauthenticated, "missing or wrong API key"));
    drain_or_close(reader, false, res);
    return;
  }

  upload::TusResponse out = tus.handle(treq);
  for (const auto& [name, value] : out.headers) res.set_header(name, value);
  if (!out.error.ok()) {
    send_error(res, out.error);
  } else {
    res.status = out.status;
    if (!out.body.empty()) res.set_content(out.body, "application/json");
  }
  if (out.body_unread) drain_or_close(reader, body_touched, res);
}

}  // namespace

void register_upload_routes(httplib::Server& server, upload::TusHandler& tus,
                            const std::string& base_path, const std::string& api_key) {
  // One pattern for the collection and every upload under it; the handler splits the path.
  const std::string pattern = base_path + "(/[^/]*)?";
  auto plain = [&tus, api_key](const httplib::Request& req, httplib::Response& res) {
    serve(tus, api_key, req, res, nullptr);
  };
  auto streamed = [&tus, api_key](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    serve(tus, api_key, req, res, &reader);
  };
  server.Options(pattern, plain);
  server.Get(pattern, plain);  // httplib routes HEAD through GET handlers
  server.Delete(pattern, streamed);
  server.Post(pattern, streamed);
  server.Patch(pattern, streamed);
}

}  // namespace streamlet::server
