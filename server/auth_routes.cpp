// /v1/auth/*: registration, login, the current user and API keys; /v1/admin/users.
#include "http_errors.hpp"
#include "routes.hpp"

namespace streamlet::server {

namespace {
// {"username","password"} as strings, or nullopt after answering 400.
std::optional<std::pair<std::string, std::string>> credentials(const httplib::Request& req,
                                                               httplib::Response& res) {
  auto body = json_body(req, res);
  if (!body) return std::nullopt;
  if (!(*body)["username"].is_string() || !(*body)["password"].is_string()) {
    send_error(res, error(ErrorCode::kInvalidArgument, "username and password are required"));
    return std::nullopt;
  }
  return std::make_pair((*body)["username"].get<std::string>(),
                        (*body)["password"].get<std::string>());
}
}  // namespace

void register_auth_routes(Routes& r, httplib::Server& svr) {
  auto& p = r.platform;
  route(r, svr, RouteId::kAuthRegister,
        [&r, &p](const httplib::Request& req, httplib::Response& res) {
          if (auto c = credentials(req, res))
            send_result(res, p.register_user(c->first, c->second, client_address(r, req)), 201);
        });
  route(r, svr, RouteId::kAuthLogin,
        [&r, &p](const httplib::Request& req, httplib::Response& res) {
          if (auto c = credentials(req, res))
            send_result(res, p.login(c->first, c->second, client_address(r, req)));
        });
  route(r, svr, RouteId::kAuthLogout,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res)) send_status(res, r.platform.logout(*who));
        });
  route(r, svr, RouteId::kAuthPassword,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto body = json_body(req, res);
          if (!body) return;
          if (!(*body)["current_password"].is_string() || !(*body)["new_password"].is_string())
            return send_error(res, error(ErrorCode::kInvalidArgument,
                                         "current_password and new_password are required"));
          send_status(res, r.platform.change_password(
                               *who, (*body)["current_password"].get<std::string>(),
                               (*body)["new_password"].get<std::string>(), client_address(r, req)));
        });
  route(r, svr, RouteId::kAuthLogoutAll,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto ended = r.platform.sign_out_everywhere(*who);
          if (!ended.ok()) return send_error(res, ended.status());
          send_json(res, 200, json_text(json{{"ended_sessions", *ended}}));
        });
  route(r, svr, RouteId::kAuthMe, [&r](const httplib::Request& req, httplib::Response& res) {
    auto who = principal(r, req, res);
    if (!who) return;
    auto me = r.platform.me(*who);
    if (!me.ok()) return send_error(res, me.status());
    // "mail": whether this server sends mail at all (the account page says so).
    send_json(res, 200,
              json_text(json{{"user", user_view(*me)}, {"mail", r.platform.video_mail_enabled()}}));
  });
  route(r, svr, RouteId::kAuthMeUpdate, [&r](const httplib::Request& req, httplib::Response& res) {
    auto who = principal(r, req, res);
    if (!who) return;
    auto body = json_body(req, res);
    if (!body) return;
    catalog::UserUpdate u;
    for (const auto& [key, value] : body->items()) {
      if (key == "email" && value.is_string()) {
        u.email = value.get<std::string>();
      } else if (key == "email_notifications" && value.is_boolean()) {
        u.email_notifications = value.get<bool>();
      } else {
        return send_error(res, error(ErrorCode::kInvalidArgument,
                                     "fields: \"email\" (a string, \"\" for none) and "
                                     "\"email_notifications\" (true or false), not " + key));
      }
    }
    send_result(res, r.platform.update_me(*who, u));
  });
  route(r, svr, RouteId::kApiKeysCreate,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto body = json_body(req, res);
          if (!body) return;
          std::string name;
          if (body->contains("name")) {
            if (!(*body)["name"].is_string())
              return send_error(res, error(ErrorCode::kInvalidArgument, "name must be a string"));
            name = (*body)["name"].get<std::string>();
          }
          send_result(res, r.platform.create_api_key(*who, name), 201);
        });
  route(r, svr, RouteId::kApiKeysList,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res)) send_result(res, r.platform.list_api_keys(*who));
        });
  route(r, svr, RouteId::kApiKeyRevoke,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_status(res, r.platform.revoke_api_key(*who, req.matches[1].str()));
        });
  route(r, svr, RouteId::kAdminUserList,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          int page = 1, per_page = 50;
          if (!int_params(req, res, {{"page", &page}, {"per_page", &per_page}})) return;
          send_result(res, r.platform.list_users(*who, page, per_page));
        });
  route(r, svr, RouteId::kAdminUserUpdate,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto body = json_body(req, res);
          if (!body) return;
          catalog::UserUpdate u;
          for (const auto& [key, value] : body->items()) {
            if (key == "role" && value.is_string()) {
              auto role = catalog::parse_role(value.get<std::string>());
              if (!role.ok()) return send_error(res, role.status());
              u.role = *role;
            } else if (key == "disabled" && value.is_boolean()) {
              u.disabled = value.get<bool>();
            } else {
              return send_error(res, error(ErrorCode::kInvalidArgument,
                                           "fields: \"role\" (a string) and \"disabled\" (true "
                                           "or false), not " + key));
            }
          }
          send_result(res, r.platform.update_user(*who, req.matches[1].str(), u));
        });
}

}  // namespace streamlet::server
