// /v1/videos/{id}/like and /v1/videos/{id}/comments: parse, call the platform, answer.
#include "http_errors.hpp"
#include "routes.hpp"

namespace streamlet::server {

void register_social_routes(Routes& r, httplib::Server& svr) {
  for (RouteId id : {RouteId::kVideoLikePut, RouteId::kVideoLikeDelete})
    route(r, svr, id, [&r, like = id == RouteId::kVideoLikePut](const httplib::Request& req,
                                                                httplib::Response& res) {
      if (auto who = principal(r, req, res))
        send_result(res, r.platform.set_like(*who, req.matches[1].str(), like));
    });
  route(r, svr, RouteId::kVideoCommentList,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          int limit = 20;
          if (!int_params(req, res, {{"limit", &limit}})) return;
          send_result(res, r.platform.list_comments(*who, req.matches[1].str(),
                                                    req.get_param_value("cursor"), limit));
        });
  route(r, svr, RouteId::kVideoCommentCreate,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          // Before the body is looked at: a refusal can only be about who is asking.
          if (!who->authenticated())
            return send_error(res, error(ErrorCode::kUnauthenticated, "sign in to comment"));
          auto body = json_body(req, res);
          if (!body) return;
          if (!body->contains("body") || !(*body)["body"].is_string())
            return send_error(res, error(ErrorCode::kInvalidArgument,
                                         "a comment is {\"body\": \"text\"}"));
          send_result(res,
                      r.platform.add_comment(*who, req.matches[1].str(),
                                             (*body)["body"].get<std::string>()),
                      201);
        });
  route(r, svr, RouteId::kVideoCommentDelete,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_status(res, r.platform.delete_comment(*who, req.matches[1].str(),
                                                       req.matches[2].str()));
        });
}

}  // namespace streamlet::server
