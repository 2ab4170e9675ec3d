// /media/{id}/{path}: the library's origin adapted to httplib. File ranges are streamed
// from disk in chunks, never read whole into memory.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "http_errors.hpp"
#include "routes.hpp"
#include "streamlet/origin_front.hpp"

namespace streamlet::server {

namespace {

constexpr size_t kChunk = 256 * 1024;

void serve_media(Routes& r, const httplib::Request& req, httplib::Response& res) {
  // The origin decodes the path itself (exactly once), so it gets the raw request target.
  auto media = origin::parse_media_target(req.target, "/media/");
  if (!media) return send_error(res, error(ErrorCode::kNotFound, "no such video"));
  origin::OriginRequest oreq;
  oreq.method = req.method;
  oreq.path = std::move(media->path);
  oreq.query = std::move(media->query);
  for (const auto& [name, value] : req.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    oreq.headers.emplace(lower, value);
  }
  origin::OriginResponse out = r.platform.serve_media(media->video_id, oreq);

  // The origin already answered any Range: stop httplib from applying it a second time to
  // the range we hand it. The Request object is not const in httplib; only the handler's view is.
  const_cast<httplib::Request&>(req).ranges.clear();
  res.status = out.status;
  std::string content_type = "application/octet-stream";
  for (const auto& [name, value] : out.headers) {
    if (name == "Content-Length") continue;  // httplib computes it from what we hand over
    if (name == "Content-Type") {
      content_type = value;
      continue;
    }
    res.set_header(name, value);
  }
  if (out.has_file()) {
    auto file = out.file;  // the descriptor the origin checked, kept open by the provider
    const uint64_t base = out.offset;
    res.set_content_provider(out.length, content_type,
                             [file, base](size_t offset, size_t length, httplib::DataSink& sink) {
                               char buf[kChunk];
                               size_t n = std::min(length, kChunk);
                               ssize_t got = ::pread(file->fd(), buf, n, off_t(base + offset));
                               if (got <= 0) return false;
                               return sink.write(buf, size_t(got));
                             });
  } else if (!out.body.empty()) {
    res.set_content(out.body, content_type);
  } else if (req.method == "HEAD") {
    // No body, but the length of the GET answer (httplib leaves an explicit one alone).
    if (const auto* cl = out.header("Content-Length")) res.set_header("Content-Length", *cl);
    res.set_header("Content-Type", content_type);
  }
}

}  // namespace

void register_media_routes(Routes& r, httplib::Server& svr) {
  const std::string pattern = R"(/media/([A-Za-z0-9_-]+)/(.*))";
  auto h = [&r](const httplib::Request& req, httplib::Response& res) { serve_media(r, req, res); };
  route(r, svr, "GET", pattern, h);
  route(r, svr, "OPTIONS", pattern, h);
}

}  // namespace streamlet::server
