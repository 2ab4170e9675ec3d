#include "request_metrics.hpp"

#include <cstdio>
#include <cstdlib>

namespace streamlet::server {

namespace {
thread_local std::string noted_route;
}  // namespace

std::string route_template(std::string_view pattern) {
  std::string out;
  auto skip_quantifier = [&](size_t& i) {
    if (i < pattern.size() && (pattern[i] == '?' || pattern[i] == '*' || pattern[i] == '+')) ++i;
  };
  // End of a bracket expression starting at `i` ('['), or npos.
  auto class_end = [&](size_t i) {
    size_t j = i + 1;
    if (j < pattern.size() && pattern[j] == '^') ++j;
    if (j < pattern.size() && pattern[j] == ']') ++j;
    for (; j < pattern.size(); ++j) {
      if (pattern[j] == '\\')
        ++j;
      else if (pattern[j] == ']')
        return j;
    }
    return std::string_view::npos;
  };
  for (size_t i = 0; i < pattern.size();) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += pattern[i + 1];
      i += 2;
    } else if (c == '[') {
      size_t end = class_end(i);
      if (end == std::string_view::npos) return out + "{id}";
      i = end + 1;
      skip_quantifier(i);
      out += "{id}";
    } else if (c == '(') {
      int depth = 0;
      size_t j = i;
      for (; j < pattern.size(); ++j) {
        if (pattern[j] == '\\') {
          ++j;
        } else if (pattern[j] == '[') {
          j = class_end(j);
          if (j == std::string_view::npos) break;
        } else if (pattern[j] == '(') {
          ++depth;
        } else if (pattern[j] == ')' && --depth == 0) {
          break;
        }
      }
      if (j == std::string_view::npos || j >= pattern.size()) return out + "{id}";
      const std::string_view body = pattern.substr(i + 1, j - i - 1);
      out += body == ".*" || body == ".+" ? "{file}" : "{id}";
      i = j + 1;
      skip_quantifier(i);
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

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
  // Fixed labels for the two areas served by prefix: a playback path no pattern took (an id
  // the front found implausible) is still a playback request.
  if (path.rfind("/assets/", 0) == 0) return "/assets/{file}";
  if (path.rfind("/media/", 0) == 0) return "/media/{id}/{file}";
  return "unmatched";
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
                         ->get()) {}

void RequestMetrics::observe(const std::string& route, const std::string& method, int status,
                             std::chrono::duration<double> elapsed) {
  requests_->labels({route, method_label(method), status_label(status)}).inc();
  latency_->labels({route}).observe(elapsed.count());
}

void RequestMetrics::set_platform_stats(std::function<platform::PlatformStats()> source) {
  (void)registry_.gauge_callback(
      "streamlet_jobs", "Transcode jobs by state", {"state"}, [source] {
        std::vector<metrics::GaugeSample> out;
        for (const auto& [state, n] : source().jobs)
          out.push_back({{std::string(jobs::to_string(state))}, static_cast<double>(n)});
        return out;
      });
  (void)registry_.gauge_callback("streamlet_queue_depth", "Jobs waiting for a worker", {},
                                 [source] {
                                   double queued = 0;
                                   for (const auto& [state, n] : source().jobs)
                                     if (state == jobs::JobState::kQueued) queued = double(n);
                                   return std::vector<metrics::GaugeSample>{{{}, queued}};
                                 });
  (void)registry_.gauge_callback(
      "streamlet_transcode_fps", "Source frames per second of the running transcode", {},
      [source] { return std::vector<metrics::GaugeSample>{{{}, source().transcode_fps}}; });
}

}  // namespace streamlet::server
