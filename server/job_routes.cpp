// /v1/jobs: the transcode queue as its owners and admins see it.
#include <charconv>

#include "http_errors.hpp"
#include "routes.hpp"

namespace streamlet::server {

void register_job_routes(Routes& r, httplib::Server& svr) {
  route(r, svr, RouteId::kJobList, [&r](const httplib::Request& req, httplib::Response& res) {
    auto who = principal(r, req, res);
    if (!who) return;
    std::optional<jobs::JobState> state;
    if (auto s = req.get_param_value("state"); !s.empty()) {
      // The API says "done" where the queue says "succeeded".
      auto parsed = jobs::parse_job_state(s == "done" ? "succeeded" : s);
      if (!parsed.ok()) return send_error(res, parsed.status());
      state = *parsed;
    }
    int limit = 100;
    if (auto l = req.get_param_value("limit"); !l.empty()) {
      auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), limit);
      if (ec != std::errc() || end != l.data() + l.size())
        return send_error(res, error(ErrorCode::kInvalidArgument, "limit must be a number"));
    }
    send_result(res, r.platform.list_jobs(*who, state, req.get_param_value("cursor"), limit));
  });
  route(r, svr, RouteId::kJobRetry,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_result(res, r.platform.retry_job(*who, req.matches[1].str()));
        });
  route(r, svr, RouteId::kJobCancel,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_result(res, r.platform.cancel_job(*who, req.matches[1].str()));
        });
}

}  // namespace streamlet::server
