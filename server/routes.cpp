#include "routes.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

#include "http_errors.hpp"

namespace streamlet::server {

std::optional<accounts::Principal> principal(Routes& r, const httplib::Request& req,
                                             httplib::Response& res) {
  auto who = r.platform.authenticate(req.get_header_value("Authorization"));
  if (!who.ok()) {
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, who.status());
    return std::nullopt;
  }
  return *who;
}

std::optional<nlohmann::json> json_body(const httplib::Request& req, httplib::Response& res) {
  if (req.body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    send_error(res, error(ErrorCode::kInvalidArgument, "the body must be a JSON object"));
    return std::nullopt;
  }
  return j;
}

std::string client_address(const Routes& r, const httplib::Request& req) {
  auto trusted = [&r](const std::string& a) {
    return std::find(r.trusted_proxies.begin(), r.trusted_proxies.end(), a) !=
           r.trusted_proxies.end();
  };
  if (r.trusted_proxies.empty() || !trusted(req.remote_addr)) return req.remote_addr;
  // Every X-Forwarded-For field, in order, as one list; walked from the right.
  std::vector<std::string> hops;
  const size_t n = req.get_header_value_count("X-Forwarded-For");
  for (size_t i = 0; i < n; ++i) {
    const std::string v = req.get_header_value("X-Forwarded-For", i);
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      std::string hop =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      hop.erase(0, hop.find_first_not_of(" \t"));
      hop.erase(hop.find_last_not_of(" \t") + 1);
      if (!hop.empty()) hops.push_back(hop);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (trusted(*it)) continue;
    unsigned char buf[sizeof(in6_addr)];
    const bool ip =
        ::inet_pton(AF_INET, it->c_str(), buf) == 1 || ::inet_pton(AF_INET6, it->c_str(), buf) == 1;
    return ip ? *it : req.remote_addr;  // a proxy that passes garbage: count the proxy
  }
  return req.remote_addr;
}

void send_json(httplib::Response& res, int status, const std::string& json_text) {
  res.status = status;
  res.set_content(json_text, "application/json");
}

void send_status(httplib::Response& res, const Status& status, int ok_status) {
  if (status.ok())
    res.status = ok_status;
  else
    send_error(res, status);
}

origin::RequestKind classify_request(const origin::FrontRequest& req, std::string_view uploads_path) {
  std::string_view path = req.path();
  if ((req.method == "POST" || req.method == "PATCH" || req.method == "DELETE") &&
      path.starts_with(uploads_path) &&
      (path.size() == uploads_path.size() || path[uploads_path.size()] == '/'))
    return origin::RequestKind::kStreamed;
  constexpr std::string_view kVideos = "/v1/videos/", kEvents = "/events";
  if (req.method == "GET" && path.size() > kVideos.size() + kEvents.size() &&
      path.starts_with(kVideos) && path.ends_with(kEvents) &&
      origin::plausible_video_id(
          path.substr(kVideos.size(), path.size() - kVideos.size() - kEvents.size())))
    return origin::RequestKind::kEventStream;
  return origin::RequestKind::kBuffered;
}

void route(Routes& r, httplib::Server& svr, const std::string& method, const std::string& pattern,
           httplib::Server::Handler inner) {
  r.served.emplace_back(method, pattern);
  // The metrics label is the route's template, whatever the request's path said.
  auto handler = [label = route_template(pattern), inner = std::move(inner)](
                     const httplib::Request& req, httplib::Response& res) {
    note_route(label);
    inner(req, res);
  };
  if (method == "GET")
    svr.Get(pattern, std::move(handler));
  else if (method == "POST")
    svr.Post(pattern, std::move(handler));
  else if (method == "PATCH")
    svr.Patch(pattern, std::move(handler));
  else if (method == "DELETE")
    svr.Delete(pattern, std::move(handler));
  else if (method == "PUT")
    svr.Put(pattern, std::move(handler));
  else if (method == "OPTIONS")
    svr.Options(pattern, std::move(handler));
}

void register_method_not_allowed(Routes& r, httplib::Server& svr) {
  std::map<std::string, std::set<std::string>> by_pattern;
  for (const auto& [method, pattern] : r.served) by_pattern[pattern].insert(method);
  for (const auto& [pattern, methods] : by_pattern) {
    std::string allow;
    for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    if (methods.count("GET")) allow += ", HEAD";
    auto refuse = [allow, label = route_template(pattern)](const httplib::Request&,
                                                           httplib::Response& res) {
      note_route(label);
      // No Status code means "wrong method": the one answer not mapped in http_errors.
      res.set_header("Allow", allow);
      res.status = 405;
      res.set_content(R"({"error":"method not allowed","code":"method_not_allowed"})",
                      "application/json");
    };
    for (const char* m : {"GET", "POST", "PATCH", "DELETE", "PUT"}) {
      if (methods.count(m)) continue;
      std::string method = m;
      if (method == "GET")
        svr.Get(pattern, refuse);
      else if (method == "POST")
        svr.Post(pattern, refuse);
      else if (method == "PATCH")
        svr.Patch(pattern, refuse);
      else if (method == "DELETE")
        svr.Delete(pattern, refuse);
      else
        svr.Put(pattern, refuse);
    }
  }
}

}  // namespace streamlet::server
