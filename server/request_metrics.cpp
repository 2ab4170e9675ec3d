#include "request_metrics.hpp"

#include <cstdio>
#include <cstdlib>

namespace streamlet::server {

namespace {
bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += path[i];
    }
  }
  return out;
}
}  // namespace

std::string route_label(const std::string& path, int status) {
  if (starts_with(path, "/media/")) return "/media/{id}/{file}";
  if (starts_with(path, "/assets/")) return "/assets/{file}";
  if (starts_with(path, "/watch/")) return "/watch/{id}";
  auto s = segments(path);
  if (s.size() >= 3 && s[0] == "v1") {
    if (s[1] == "uploads") return "/v1/uploads/{id}";
    if (s[1] == "videos" && s.size() == 3) return "/v1/videos/{id}";
    if (s[1] == "videos" && s.size() == 4) return "/v1/videos/{id}/" + s[3];
    if (s[1] == "jobs" && s.size() == 4) return "/v1/jobs/{id}/" + s[3];
    if (s[1] == "auth" && s.size() == 4 && s[2] == "api-keys") return "/v1/auth/api-keys/{id}";
  }
  // Fixed paths; anything else that found no route is one label, not one per path.
  if (status == 404 && !starts_with(path, "/v1/")) return "unmatched";
  static const char* kFixed[] = {
      "/",           "/upload",        "/library",          "/login",           "/healthz",
      "/readyz",     "/metrics",       "/v1/videos",        "/v1/jobs",         "/v1/uploads",
      "/v1/auth/me", "/v1/auth/login", "/v1/auth/register", "/v1/auth/api-keys"};
  for (const char* f : kFixed)
    if (path == f) return path;
  return "unmatched";
}

namespace {
// Registration of fixed, well-formed names cannot fail; if it did, it is a bug here.
template <typename T>
T* must(Result<T*> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "streamlet-server: metrics: %s\n", r.status().to_string().c_str());
    std::abort();
  }
  return *r;
}
}  // namespace

RequestMetrics::RequestMetrics()
    : requests_(must(registry_.counter("streamlet_http_requests_total",
                                       "HTTP requests by route template, method and status",
                                       {"route", "method", "status"}))),
      latency_(must(registry_.histogram("streamlet_http_request_duration_seconds",
                                        "Time from routing to the end of the response",
                                        {"route"}))),
      upload_bytes_(&must(registry_.counter("streamlet_upload_bytes_total",
                                            "Upload bytes acknowledged to tus clients"))
                         ->get()),
      fps_(&must(registry_.gauge("streamlet_transcode_fps",
                                 "Source frames per second of the running transcode"))
                ->get()) {}

void RequestMetrics::observe(const std::string& route, const std::string& method, int status,
                             std::chrono::duration<double> elapsed) {
  requests_->labels({route, method, std::to_string(status)}).inc();
  latency_->labels({route}).observe(elapsed.count());
}

void RequestMetrics::set_job_counts(
    std::function<std::vector<std::pair<std::string, int64_t>>()> source) {
  (void)registry_.gauge_callback(
      "streamlet_jobs", "Transcode jobs by state", {"state"}, [source] {
        std::vector<metrics::GaugeSample> out;
        for (const auto& [state, n] : source()) out.push_back({{state}, static_cast<double>(n)});
        return out;
      });
  (void)registry_.gauge_callback("streamlet_queue_depth", "Jobs waiting for a worker", {},
                                 [source] {
                                   double queued = 0;
                                   for (const auto& [state, n] : source())
                                     if (state == "queued") queued = static_cast<double>(n);
                                   return std::vector<metrics::GaugeSample>{{{}, queued}};
                                 });
}

}  // namespace streamlet::server
