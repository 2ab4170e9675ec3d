// What /metrics reports about HTTP traffic, uploads and transcodes.
//
// TODO(libplat): a stopgap until streamlet::metrics::Registry is on main; then observe() and
// render() become calls into the registry, and route_label() stays.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace streamlet::server {

// The route template of a request path ("/v1/videos/{id}/events"), so labels stay few
// whatever ids clients send. "unmatched" for paths no route serves.
std::string route_label(const std::string& path, int status);

class RequestMetrics {
 public:
  void observe(const std::string& route, const std::string& method, int status,
               std::chrono::duration<double> elapsed);
  void add_upload_bytes(uint64_t n) { upload_bytes_ += n; }
  void set_transcode_fps(double fps) { fps_ = fps; }
  // Prometheus text for the above (job and queue gauges are added by the caller).
  std::string render() const;

 private:
  static constexpr double kBuckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,   1,    2.5,   5,    10};
  struct Histogram {
    std::vector<uint64_t> counts = std::vector<uint64_t>(std::size(kBuckets), 0);
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::atomic<uint64_t> upload_bytes_{0};
  std::atomic<double> fps_{0};
};

}  // namespace streamlet::server
