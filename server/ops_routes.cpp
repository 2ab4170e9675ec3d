// Operations (/healthz, /readyz, /metrics) and the web app's static files.
#include <fstream>
#include <sstream>

#include "http_errors.hpp"
#include "routes.hpp"

namespace streamlet::server {

void register_ops_routes(Routes& r, httplib::Server& svr) {
  route(r, svr, "GET", "/healthz", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, R"({"status":"ok"})");
  });
  route(r, svr, "GET", "/readyz", [&r](const httplib::Request&, httplib::Response& res) {
    if (r.platform.ready() && !r.stopping)
      send_json(res, 200, R"({"status":"ready"})");
    else
      send_error(res, error(ErrorCode::kResourceExhausted, "not ready"));
  });
  route(r, svr, "GET", "/metrics", [&r](const httplib::Request&, httplib::Response& res) {
    res.set_content(r.metrics.render(), std::string(metrics::kContentType));
  });
}

void register_web_routes(Routes& r, httplib::Server& svr) {
  auto index = [&r](const httplib::Request&, httplib::Response& res) {
    std::ifstream in(r.web_root / "index.html", std::ios::binary);
    if (r.web_root.empty() || !in) {
      res.set_content(
          "<!doctype html><meta charset=utf-8><title>Streamlet</title>"
          "<h1>Streamlet</h1><p>The web app was not built (no index.html in the web root). "
          "The API is at <code>/v1/</code>; see docs/api.md. Build the web app or start the "
          "server with <code>--web-root DIR</code>.</p>",
          "text/html; charset=utf-8");
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    res.set_header("Cache-Control", "no-cache");
    res.set_content(ss.str(), "text/html; charset=utf-8");
  };
  for (const char* p : {"/", "/upload", "/library", "/login", R"(/watch/[A-Za-z0-9_-]+)"})
    route(r, svr, "GET", p, index);
  // Built assets carry content hashes in their names: cacheable for long.
  if (!r.web_root.empty() && std::filesystem::is_directory(r.web_root / "assets"))
    svr.set_mount_point("/assets", (r.web_root / "assets").string(),
                        {{"Cache-Control", "public, max-age=31536000, immutable"}});
}

}  // namespace streamlet::server
