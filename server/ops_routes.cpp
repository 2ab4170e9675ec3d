// Operations (/healthz, /readyz, /metrics) and the web app's static files.
#include <fstream>
#include <sstream>

#include "http_errors.hpp"
#include "routes.hpp"

namespace streamlet::server {

namespace {
// Compares every byte whatever the first difference, so the time says nothing about the token.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

void serve_metrics(const RequestMetrics& metrics, const std::string& token,
                   const httplib::Request& req, httplib::Response& res) {
  if (!token.empty()) {
    const std::string given = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    const bool ok = given.rfind(kBearer, 0) == 0 &&
                    same_secret(std::string_view(given).substr(kBearer.size()), token);
    if (!ok) {
      res.set_header("WWW-Authenticate", "Bearer");
      return send_error(res, error(ErrorCode::kUnauthenticated, "/metrics needs its token"));
    }
  }
  res.set_header("Cache-Control", "no-store");
  res.set_content(metrics.render(), std::string(metrics::kContentType));
}

Result<std::unique_ptr<MetricsListener>> MetricsListener::start(const std::string& host, int port,
                                                                const RequestMetrics& metrics,
                                                                std::string token) {
  std::unique_ptr<MetricsListener> l(new MetricsListener());
  l->server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
  l->server_.set_read_timeout(10, 0);
  l->server_.set_write_timeout(10, 0);
  l->server_.Get("/metrics", [&metrics, token = std::move(token)](const httplib::Request& req,
                                                                  httplib::Response& res) {
    serve_metrics(metrics, token, req, res);
  });
  l->server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.status < 400) return;
    if (res.status == 404)
      send_error(res, error(ErrorCode::kNotFound, "only /metrics is served here"));
  });
  l->port_ = port == 0 ? l->server_.bind_to_any_port(host)
                       : (l->server_.bind_to_port(host, port) ? port : -1);
  if (l->port_ <= 0) return error(ErrorCode::kIo, "cannot listen on " + host);
  l->thread_ = std::thread([raw = l.get()] { raw->server_.listen_after_bind(); });
  return l;
}

MetricsListener::~MetricsListener() {
  stop();
}

void MetricsListener::stop() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

void register_ops_routes(Routes& r, httplib::Server& svr) {
  route(r, svr, RouteId::kHealthz, [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, R"({"status":"ok"})");
  });
  route(r, svr, RouteId::kReadyz, [&r](const httplib::Request&, httplib::Response& res) {
    if (r.platform.ready() && !r.stopping)
      send_json(res, 200, R"({"status":"ready"})");
    else
      send_error(res, error(ErrorCode::kResourceExhausted, "not ready"));
  });
  if (r.metrics_here)
    route(r, svr, RouteId::kMetrics, [&r](const httplib::Request& req, httplib::Response& res) {
      serve_metrics(r.metrics, r.metrics_token, req, res);
    });
}

void send_web_page(const std::filesystem::path& web_root, httplib::Response& res,
                   const std::string& head, bool frameable) {
  // Clickjacking: no other site may frame a page that acts for the signed-in user.
  if (frameable) {
    res.set_header("Content-Security-Policy", "frame-ancestors *");
  } else {
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Content-Security-Policy", "frame-ancestors 'none'");
  }
  std::ifstream in(web_root / "index.html", std::ios::binary);
  if (web_root.empty() || !in) {
    // The share tags still go out: a link unfurls whether or not the app was built.
    res.set_content(
        "<!doctype html><meta charset=utf-8>" +
        (head.empty() ? std::string("<title>Streamlet</title>") : head) +
        "<h1>Streamlet</h1><p>The web app was not built (no index.html in the web root). "
        "The API is at <code>/v1/</code>; see docs/api.md. Build the web app or start the "
        "server with <code>--web-root DIR</code>.</p>",
        "text/html; charset=utf-8");
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string page = ss.str();
  constexpr std::string_view kTitle = "<title>Streamlet</title>\n";
  if (const size_t at = page.find(kTitle); !head.empty() && at != std::string::npos)
    page.replace(at, kTitle.size(), head);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(page, "text/html; charset=utf-8");
}

void register_web_routes(Routes& r, httplib::Server& svr) {
  auto index = [&r](const httplib::Request&, httplib::Response& res) {
    send_web_page(r.web_root, res);
  };
  // The web app's pages are the table's kWebPage rows (its router knows the same list). The
  // watch page's own head is the share routes' (share_routes.cpp).
  for (const RouteSpec& row : kRouteTable)
    if (row.handling == RouteHandling::kWebPage && row.id != RouteId::kWebWatch &&
        row.id != RouteId::kWebEmbed)
      route(r, svr, row.id, index);
  // Built assets carry content hashes in their names: cacheable for long. A mount point, not
  // a route: other methods there stay 404.
  std::string assets(pattern_prefix(route_spec(RouteId::kWebAssets).pattern));
  assets.pop_back();  // httplib's mount point is "/assets", without the slash
  if (!r.web_root.empty() && std::filesystem::is_directory(r.web_root / "assets"))
    svr.set_mount_point(assets, (r.web_root / "assets").string(),
                        {{"Cache-Control", "public, max-age=31536000, immutable"}});
}

}  // namespace streamlet::server
