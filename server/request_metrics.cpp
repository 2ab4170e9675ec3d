#include "request_metrics.hpp"

#include <cstdio>
#include <cstdlib>

#include "route_table.hpp"

namespace streamlet::server {

namespace {
thread_local std::string noted_route;
}  // namespace

void note_route(const std::string& label) {
  noted_route = label;
}

void clear_route() {
  noted_route.clear();
}

std::string request_route(const std::string& path) {
  std::string label = std::move(noted_route);
  noted_route.clear();
  if (!label.empty()) return label;
  // An area served by prefix keeps its label for paths no pattern took (a playback path
  // with an id the front found implausible is still a playback request).
  return std::string(fallback_label(path));
}

std::string method_label(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (method == m) return method;
  return "other";
}

std::string status_label(int status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status);
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
  requests_->labels({route, method_label(method), status_label(status)}).inc();
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
