#include "upload_routes.hpp"

#include <strings.h>

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

// The upload id at the end of an upload URL ("http://h/v1/uploads/<id>" -> "<id>").
std::string last_segment(const std::string& url) {
  auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

void serve(upload::TusHandler& tus, platform::Platform& platform, const std::string& base_path,
           RequestMetrics& metrics, const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader* reader) {
  upload::TusRequest treq;
  treq.method = req.method;
  treq.path = req.path;
  // Behind a TLS-terminating proxy, upload URLs must say https.
  std::string scheme = req.get_header_value("X-Forwarded-Proto") == "https" ? "https" : "http";
  if (auto host = req.get_header_value("Host"); !host.empty())
    treq.scheme_host = scheme + "://" + host;
  for (const auto& [name, value] : req.headers)
    if (strcasecmp(name.c_str(), "Upload-Metadata") != 0) treq.headers.emplace_back(name, value);
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

  auto refuse = [&](const Status& why) {
    res.set_header("Tus-Resumable", "1.0.0");
    res.set_header("Access-Control-Allow-Origin", "*");
    if (why.code() == ErrorCode::kUnauthenticated) res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, why);
    drain_or_close(reader, false, res);
  };

  std::string method = req.get_header_value("X-HTTP-Method-Override");
  if (method.empty()) method = req.method;
  std::optional<platform::Platform::Creation> creation;
  std::string metadata = req.get_header_value("Upload-Metadata");
  if (method != "OPTIONS") {
    auto who = platform.authenticate(req.get_header_value("Authorization"));
    if (!who.ok()) return refuse(who.status());
    if (!who->authenticated())
      return refuse(error(ErrorCode::kUnauthenticated, "sign in or use an API key to upload"));
    const bool collection = req.path == base_path || req.path == base_path + "/";
    if (method == "POST" && collection) {
      // The video exists from creation on; its id and the uploader travel in the metadata.
      bool partial = req.get_header_value("Upload-Concat") == "partial";
      auto c = platform.begin_upload(*who, metadata, partial);
      if (!c.ok()) return refuse(c.status());
      creation = *c;
      metadata = c->metadata_header;
    } else if (!collection) {
      Status access =
          platform.check_upload_access(*who, last_segment(req.path), method == "DELETE");
      if (!access.ok()) return refuse(access);
    }
  }
  if (!metadata.empty()) treq.headers.emplace_back("Upload-Metadata", metadata);

  // (A terminated unfinished upload takes its video with it: the platform hears it from the
  // upload store.)
  upload::TusResponse out = tus.handle(treq);
  for (const auto& [name, value] : out.headers) res.set_header(name, value);
  if (creation) {
    std::string location;
    for (const auto& [name, value] : out.headers)
      if (name == "Location") location = value;
    const bool created = out.error.ok() && out.status == 201 && !location.empty();
    platform.finish_upload_creation(*creation, created ? last_segment(location) : "");
    if (created && !creation->video_id.empty()) {
      res.set_header("Streamlet-Video-Id", creation->video_id);
      std::string expose = res.get_header_value("Access-Control-Expose-Headers");
      res.headers.erase("Access-Control-Expose-Headers");
      res.set_header("Access-Control-Expose-Headers",
                     expose.empty() ? "Streamlet-Video-Id" : expose + ", Streamlet-Video-Id");
    }
  }
  if (!out.error.ok()) {
    send_error(res, out.error);
  } else {
    res.status = out.status;
    if (!out.body.empty()) res.set_content(out.body, "application/json");
  }
  // A body the handler did not read (an X-HTTP-Method-Override of OPTIONS or HEAD, say) is
  // drained or the connection closed; the front closes it anyway if bytes are left.
  if (out.body_unread || !body_touched) drain_or_close(reader, body_touched, res);
}

}  // namespace

void register_upload_routes(httplib::Server& server, upload::TusHandler& tus,
                            platform::Platform& platform, const std::string& base_path,
                            RequestMetrics& metrics) {
  // One pattern for the collection and every upload under it; the handler splits the path.
  const std::string pattern = base_path + "(/[^/]*)?";
  auto plain = [&tus, &platform, &metrics, base_path](const httplib::Request& req,
                                                      httplib::Response& res) {
    serve(tus, platform, base_path, metrics, req, res, nullptr);
  };
  auto streamed = [&tus, &platform, &metrics, base_path](const httplib::Request& req,
                                                         httplib::Response& res,
                                                         const httplib::ContentReader& reader) {
    serve(tus, platform, base_path, metrics, req, res, &reader);
  };
  server.Options(pattern, plain);
  server.Get(pattern, plain);  // httplib routes HEAD through GET handlers
  server.Delete(pattern, streamed);
  server.Post(pattern, streamed);
  server.Patch(pattern, streamed);
}

}  // namespace streamlet::server
