// What every route file shares: the platform, the request -> principal step,
// and JSON in/out helpers. Route files only parse, call the platform, format.
#pragma once

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http_errors.hpp"
#include "request_metrics.hpp"
#include "views.hpp"
#include "route_table.hpp"
#include "streamlet/origin_front.hpp"
#include "streamlet/platform.hpp"

namespace streamlet::server {

struct Routes {
  platform::Platform& platform;
  std::filesystem::path web_root;  // "" when the web app was not built
  std::atomic<bool>& stopping;     // set on SIGTERM: long-lived streams end
  RequestMetrics& metrics;         // what /metrics reports
  // The rows of the route table this server answers (by a handler here or in the front), so
  // other methods on a known path answer 405.
  std::vector<RouteId> served;
  // /metrics: on this port unless --metrics-listen moved it; "Bearer <token>" required
  // when the token is not empty.
  bool metrics_here = true;
  std::string metrics_token;
  // Socket peers whose X-Forwarded-For is believed (--trusted-proxy); none by default.
  std::vector<std::string> trusted_proxies;
  // --public-url: the base of absolute links (share tags, oEmbed); "" = the request's Host.
  std::string public_url;
};

// The client address that per-address limits count: the socket peer, or, when the peer
// is a trusted proxy, the rightmost X-Forwarded-For entry that is not a trusted proxy
// (what the first untrusted hop looked like to the proxies). Never a header alone.
std::string client_address(const Routes& r, const httplib::Request& req);

// The caller, or nullopt after answering 401 for a bad credential.
std::optional<accounts::Principal> principal(Routes& r, const httplib::Request& req,
                                             httplib::Response& res);
// The body as a JSON object (an empty body is {}), or nullopt after answering 400.
std::optional<nlohmann::json> json_body(const httplib::Request& req, httplib::Response& res);
// Reads each named query parameter that is present as a whole decimal int into its field;
// false after answering 400 ("page: a number") for one that is not.
bool int_params(const httplib::Request& req, httplib::Response& res,
                std::initializer_list<std::pair<const char*, int*>> fields);
void send_json(httplib::Response& res, int status, const std::string& json_text);
// Sends the view (views.hpp) of `result` with `ok_status`, or its error.
template <typename T>
void send_result(httplib::Response& res, const Result<T>& result, int ok_status = 200) {
  if (!result.ok()) return send_error(res, result.status());
  send_json(res, ok_status, json_text(view(*result)));
}
void send_status(httplib::Response& res, const Status& status, int ok_status = 204);

// Registers `handler` for the route table's row `id` (its method and pattern; the request's
// metric label is the row's) and remembers it for 405 answers.
void route(Routes& r, httplib::Server& svr, RouteId id, httplib::Server::Handler handler);
// Registers `handler` for a PUT row whose body streams (RouteHandling::kUpload): the body is
// read whole up to `max_bytes` and handed over; a larger one is answered 413 (kTooLarge) and
// its connection closed, without reading it all.
using BodyHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;
void route_with_body(Routes& r, httplib::Server& svr, RouteId id, size_t max_bytes,
                     BodyHandler handler);
// Remembers a row answered elsewhere (the front, a mount point) for 405 answers.
void route_elsewhere(Routes& r, RouteId id);
// After every route: other methods on a known pattern answer 405 with Allow.
void register_method_not_allowed(Routes& r, httplib::Server& svr);

// GET /metrics: the exposition, or 401 without "Authorization: Bearer <token>" (token "" =
// no check).
void serve_metrics(const RequestMetrics& metrics, const std::string& token,
                   const httplib::Request& req, httplib::Response& res);

// /metrics on an address of its own (--metrics-listen), so the public port never serves it.
// Runs its own two threads until stop() or destruction.
class MetricsListener {
 public:
  // kIo when HOST:PORT cannot be bound; port 0 picks a free one (see port()).
  static Result<std::unique_ptr<MetricsListener>> start(const std::string& host, int port,
                                                        const RequestMetrics& metrics,
                                                        std::string token);
  ~MetricsListener();
  int port() const { return port_; }
  void stop();

 private:
  MetricsListener() = default;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

void register_auth_routes(Routes& r, httplib::Server& svr);
void register_video_routes(Routes& r, httplib::Server& svr);
// Likes and comments of videos.
void register_social_routes(Routes& r, httplib::Server& svr);
void register_job_routes(Routes& r, httplib::Server& svr);
void register_media_routes(Routes& r, httplib::Server& svr);
void register_ops_routes(Routes& r, httplib::Server& svr);
void register_web_routes(Routes& r, httplib::Server& svr);
// /oembed, the original file's download, and the watch page's share tags (share.hpp).
void register_share_routes(Routes& r, httplib::Server& svr);
// The web app's index.html as `res` (or, without a built app, a page saying so); the status is
// the caller's to set. `head`, when not empty, replaces the page's <title> (share_head()).
// Only `frameable` pages may be shown in another site's frame.
void send_web_page(const std::filesystem::path& web_root, httplib::Response& res,
                   const std::string& head = "", bool frameable = false);

// What the front does with a request before any thread sees it, from its route table row:
// upload bodies stream to the taker, progress streams stay in the front, everything else
// (and every path not in the table) arrives whole.
origin::RequestKind classify_request(const origin::FrontRequest& req);
// GET /v1/videos/{id}/events as a stream the front writes (no thread per open stream).
origin::StreamHandler event_stream_handler(Routes& r);

}  // namespace streamlet::server
