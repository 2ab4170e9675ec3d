// What /metrics reports about HTTP traffic, uploads and transcodes.
//
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/metrics.hpp"
#include "streamlet/platform.hpp"

namespace streamlet::server {

// Route labels come from the route table (route_table.hpp), never from what a client sent:
// each registered handler notes its row's label for the request on its thread (note_route),
// and the logger takes it (request_route). So label values are a fixed set however many
// distinct paths, ids or methods arrive.

// Called by a route's handler: `label` is its route table row's label.
void note_route(const std::string& label);
// Forgets the route noted on this thread (at the start of every request).
void clear_route();
// The noted route of the request on this thread, and clears it. Requests no handler took:
// fallback_label(path) ("/assets/{file}" for the web app's static files, served by a mount
// point, "/media/{id}/{file}" for any other path under /media/, else "unmatched").
std::string request_route(const std::string& path);
// `method` if it is an HTTP method the server knows, else "other"; `status` as a label,
// "other" outside 100..599.
std::string method_label(const std::string& method);
std::string status_label(int status);

// The server's metric families, registered once in a streamlet::metrics::Registry.
// observe() and the setters are called from connection threads (lock-free after
// the first sample of a label set); render() is /metrics.
class RequestMetrics {
 public:
  RequestMetrics();
  void observe(const std::string& route, const std::string& method, int status,
               std::chrono::duration<double> elapsed);
  void add_upload_bytes(uint64_t n) { upload_bytes_->inc(static_cast<double>(n)); }
  // Jobs by state, queue depth and transcode speed, read from the platform at every scrape.
  void set_platform_stats(std::function<platform::PlatformStats()> source);
  std::string render() const { return registry_.render(); }
  // For the platform's own metrics (PlatformOptions::metrics): rendered with the server's.
  metrics::Registry& registry() { return registry_; }

 private:
  metrics::Registry registry_;
  metrics::CounterFamily* requests_;
  metrics::HistogramFamily* latency_;
  metrics::Counter* upload_bytes_;
};

}  // namespace streamlet::server
