#include "request_metrics.hpp"

#include <sstream>

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

void RequestMetrics::observe(const std::string& route, const std::string& method, int status,
                             std::chrono::duration<double> elapsed) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < std::size(kBuckets); ++i)
    if (elapsed.count() <= kBuckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += elapsed.count();
}

std::string RequestMetrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  out << "# TYPE streamlet_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out << "streamlet_http_requests_total{route=\"" << route << "\",method=\"" << method
        << "\",status=\"" << status << "\"} " << n << "\n";
  }
  out << "# TYPE streamlet_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < std::size(kBuckets); ++i)
      out << "streamlet_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << kBuckets[i] << "\"} " << h.counts[i] << "\n";
    out << "streamlet_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
        << h.count << "\n";
    out << "streamlet_http_request_duration_seconds_sum{route=\"" << route << "\"} " << h.sum
        << "\n";
    out << "streamlet_http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count
        << "\n";
  }
  out << "# TYPE streamlet_upload_bytes_total counter\nstreamlet_upload_bytes_total "
      << upload_bytes_.load() << "\n";
  out << "# TYPE streamlet_transcode_fps gauge\nstreamlet_transcode_fps " << fps_.load() << "\n";
  return out.str();
}

}  // namespace streamlet::server
