// What /metrics reports about HTTP traffic, uploads and transcodes.
//
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "streamlet/metrics.hpp"

namespace streamlet::server {

// The route template of a request path ("/v1/videos/{id}/events"), so labels stay few
// whatever ids clients send. "unmatched" for paths no route serves.
std::string route_label(const std::string& path, int status);

// The server's metric families, registered once in a streamlet::metrics::Registry.
// observe() and the setters are called from connection threads (lock-free after
// the first sample of a label set); render() is /metrics.
class RequestMetrics {
 public:
  RequestMetrics();
  void observe(const std::string& route, const std::string& method, int status,
               std::chrono::duration<double> elapsed);
  void add_upload_bytes(uint64_t n) { upload_bytes_->inc(static_cast<double>(n)); }
  void set_transcode_fps(double fps) { fps_->set(fps); }
  // Jobs by state and queue depth, read from the queue at every scrape.
  void set_job_counts(std::function<std::vector<std::pair<std::string, int64_t>>()> source);
  std::string render() const { return registry_.render(); }

 private:
  metrics::Registry registry_;
  metrics::CounterFamily* requests_;
  metrics::HistogramFamily* latency_;
  metrics::Counter* upload_bytes_;
  metrics::Gauge* fps_;
};

}  // namespace streamlet::server
