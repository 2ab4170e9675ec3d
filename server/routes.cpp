#include "routes.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
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

bool int_params(const httplib::Request& req, httplib::Response& res,
                std::initializer_list<std::pair<const char*, int*>> fields) {
  for (auto [name, field] : fields) {
    const std::string v = req.get_param_value(name);
    if (v.empty()) continue;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *field);
    if (ec != std::errc() || end != v.data() + v.size()) {
      send_error(res, error(ErrorCode::kInvalidArgument, std::string(name) + ": a number"));
      return false;
    }
  }
  return true;
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

origin::RequestKind classify_request(const origin::FrontRequest& req) {
  const RouteSpec* row = find_route(req.method, req.path());
  if (!row) return origin::RequestKind::kBuffered;
  switch (row->handling) {
    case RouteHandling::kUpload:
      return origin::RequestKind::kStreamed;
    case RouteHandling::kEventStream:
      return origin::RequestKind::kEventStream;
    default:
      return origin::RequestKind::kBuffered;
  }
}

namespace {
// httplib's registration call for `method`; false for a method it has none for.
bool add_handler(httplib::Server& svr, std::string_view method, const std::string& regex,
                 httplib::Server::Handler handler) {
  if (method == "GET")
    svr.Get(regex, std::move(handler));
  else if (method == "POST")
    svr.Post(regex, std::move(handler));
  else if (method == "PATCH")
    svr.Patch(regex, std::move(handler));
  else if (method == "DELETE")
    svr.Delete(regex, std::move(handler));
  else if (method == "PUT")
    svr.Put(regex, std::move(handler));
  else if (method == "OPTIONS")
    svr.Options(regex, std::move(handler));
  else
    return false;
  return true;
}
}  // namespace

void route(Routes& r, httplib::Server& svr, RouteId id, httplib::Server::Handler inner) {
  const RouteSpec& row = route_spec(id);
  r.served.push_back(id);
  // The metrics label is the row's, whatever the request's path said.
  auto handler = [label = std::string(row.label), inner = std::move(inner)](
                     const httplib::Request& req, httplib::Response& res) {
    note_route(label);
    inner(req, res);
  };
  add_handler(svr, row.method, pattern_regex(row.pattern), std::move(handler));
}

void route_with_body(Routes& r, httplib::Server& svr, RouteId id, size_t max_bytes,
                     BodyHandler inner) {
  const RouteSpec& row = route_spec(id);
  r.served.push_back(id);
  auto too_large = [max_bytes](httplib::Response& res) {
    send_error(res, error(ErrorCode::kTooLarge,
                          "the body is larger than " + std::to_string(max_bytes) + " bytes"));
    res.set_header("Connection", "close");  // the rest of it is not read
  };
  svr.Put(pattern_regex(row.pattern),
          [label = std::string(row.label), max_bytes, too_large, inner = std::move(inner)](
              const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
            note_route(label);
            if (req.has_header("Content-Length") &&
                req.get_header_value<uint64_t>("Content-Length") > max_bytes)
              return too_large(res);
            std::string body;
            bool over = false;
            reader([&](const char* data, size_t size) {
              if (body.size() + size > max_bytes) {
                over = true;
                return false;
              }
              body.append(data, size);
              return true;
            });
            if (over) return too_large(res);
            inner(req, res, body);
          });
}

void route_elsewhere(Routes& r, RouteId id) { r.served.push_back(id); }

void register_method_not_allowed(Routes& r, httplib::Server& svr) {
  // Rows that share a pattern share their 405 answer.
  std::map<std::string_view, std::set<std::string_view>> by_pattern;
  for (RouteId id : r.served) by_pattern[route_spec(id).pattern].insert(route_spec(id).method);
  for (const auto& [pattern, methods] : by_pattern) {
    std::string allow;
    for (const auto& m : methods) allow += std::string(allow.empty() ? "" : ", ") + std::string(m);
    if (methods.count("GET")) allow += ", HEAD";
    const RouteSpec* row = nullptr;
    for (RouteId id : r.served)
      if (route_spec(id).pattern == pattern) row = &route_spec(id);
    auto refuse = [allow, label = std::string(row->label)](const httplib::Request&,
                                                          httplib::Response& res) {
      note_route(label);
      // No Status code means "wrong method": the one answer not mapped in http_errors.
      res.set_header("Allow", allow);
      res.status = 405;
      res.set_content(R"({"error":"method not allowed","code":"method_not_allowed"})",
                      "application/json");
    };
    const std::string regex = pattern_regex(pattern);
    for (const char* m : {"GET", "POST", "PATCH", "DELETE", "PUT"})
      if (!methods.count(m)) add_handler(svr, m, regex, refuse);
  }
}

}  // namespace streamlet::server
