// Sharing: the watch page's share tags, the embed page's frame headers, /oembed, and the
// original file's download. Parse, call the platform, format (share.hpp).
#include <algorithm>

#include "http_errors.hpp"
#include "routes.hpp"
#include "share.hpp"
#include "upload_routes.hpp"

namespace streamlet::server {

namespace {

// A video as a stranger may see it: what a shared link may tell about (private videos, and
// videos not ready to play, tell nothing).
Result<platform::VideoView> shareable(platform::Platform& p, std::string_view id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, p.get_video(accounts::Principal{}, id));
  if (v.video.visibility == catalog::Visibility::kPrivate ||
      v.video.status != catalog::VideoStatus::kReady)
    return error(ErrorCode::kNotFound, "no such video");
  return v;
}

// The video id of a watch or embed page's URL ("https://h/watch/abc?t=9" -> "abc"), or "".
std::string video_id_of(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    url.remove_prefix(std::min(url.find('/'), url.size()));
  }
  url = url.substr(0, std::min(url.find('?'), url.find('#')));
  for (RouteId page : {RouteId::kWebWatch, RouteId::kWebEmbed}) {
    const std::string_view pattern = route_spec(page).pattern;
    if (!pattern_matches(pattern, url)) continue;
    url.remove_prefix(pattern_prefix(pattern).size());
    if (url.ends_with('/')) url.remove_suffix(1);
    return std::string(url);
  }
  return "";
}

// A positive integer query parameter, 0 when absent; nullopt after answering 400.
std::optional<int> size_param(const httplib::Request& req, const char* name,
                              httplib::Response& res) {
  const std::string v = req.get_param_value(name);
  if (v.empty()) return 0;
  if (v.size() <= 5 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    if (int n = std::stoi(v); n > 0) return n;
  send_error(res, error(ErrorCode::kInvalidArgument, std::string(name) + ": a positive number"));
  return std::nullopt;
}

void send_page_with_card(Routes& r, const httplib::Request& req, httplib::Response& res,
                         bool frameable) {
  std::string head;
  auto base = request_base_url(r.public_url, req);
  auto video = shareable(r.platform, req.matches[1].str());
  if (base && video.ok()) head = share_head(share_card(*video, *base));
  send_web_page(r.web_root, res, head, frameable);
}

}  // namespace

void register_share_routes(Routes& r, httplib::Server& svr) {
  route(r, svr, RouteId::kWebWatch, [&r](const httplib::Request& req, httplib::Response& res) {
    send_page_with_card(r, req, res, false);
  });
  // Who may play is the player's business (the API and signed URLs), as on the watch page.
  route(r, svr, RouteId::kWebEmbed, [&r](const httplib::Request& req, httplib::Response& res) {
    send_page_with_card(r, req, res, true);
  });
  route(r, svr, RouteId::kOEmbed, [&r](const httplib::Request& req, httplib::Response& res) {
    // oEmbed 2.2: a format the provider cannot make is 501.
    if (const std::string format = req.get_param_value("format");
        !format.empty() && format != "json") {
      res.status = 501;
      res.set_content(R"({"error":"format: only json is supported","code":"not_implemented"})",
                      "application/json");
      return;
    }
    const std::string url = req.get_param_value("url");
    if (url.empty())
      return send_error(res, error(ErrorCode::kInvalidArgument,
                                   "url: the address of a watch page (/watch/{id})"));
    auto max_width = size_param(req, "maxwidth", res);
    if (!max_width) return;
    auto max_height = size_param(req, "maxheight", res);
    if (!max_height) return;
    const std::string id = video_id_of(url);
    if (id.empty()) return send_error(res, error(ErrorCode::kNotFound, "not a watch page's url"));
    auto video = shareable(r.platform, id);
    if (!video.ok()) return send_error(res, video.status());
    auto base = request_base_url(r.public_url, req);
    if (!base)
      return send_error(res, error(ErrorCode::kInvalidArgument,
                                   "the Host header is not a host[:port]; set --public-url"));
    const ShareCard card = share_card(*video, *base);
    // Within maxwidth x maxheight, keeping the aspect.
    double scale = 1;
    if (*max_width) scale = std::min(scale, double(*max_width) / card.width);
    if (*max_height) scale = std::min(scale, double(*max_height) / card.height);
    const int width = std::max(1, int(card.width * scale));
    const int height = std::max(1, int(card.height * scale));
    res.set_header("Cache-Control", "public, max-age=300");
    send_json(res, 200, json_text(oembed_view(card, embed_iframe(card, width, height), width, height)));
  });
  route(r, svr, RouteId::kVideoOriginal,
        [&r](const httplib::Request& req, httplib::Response& res) {
          // A signed link (original/link) needs no session; without one, the caller's.
          const std::string id = req.matches[1].str();
          Result<platform::OriginalFile> original = Status(ErrorCode::kInternal, "");
          if (req.has_param("sig") || req.has_param("exp")) {
            original = r.platform.original_file_signed(
                id, "exp=" + req.get_param_value("exp") + "&sig=" + req.get_param_value("sig"));
            // A link that is not good is refused alike, however it is wrong.
            if (!original.ok() && original.status().code() == ErrorCode::kUnauthenticated)
              original = Status(ErrorCode::kPermissionDenied, original.status().message());
          } else {
            auto who = principal(r, req, res);
            if (!who) return;
            original = r.platform.original_file(*who, id);
          }
          if (!original.ok()) return send_error(res, original.status());
          res.set_header("Content-Disposition", content_disposition(original->filename));
          res.set_header("X-Content-Type-Options", "nosniff");
          res.set_header("Cache-Control", "private, no-store");
          std::shared_ptr<const storage::Reader> file = original->file;
          // httplib answers a Range of it (206, 416) from the length.
          res.set_content_provider(
              size_t(file->info().size), "application/octet-stream",
              [file](size_t offset, size_t length, httplib::DataSink& sink) {
                char buf[64 * 1024];
                auto got = file->read_at(offset, buf, std::min(length, sizeof buf));
                if (!got.ok() || *got == 0) return false;
                return sink.write(buf, *got);
              });
        });
  route(r, svr, RouteId::kVideoOriginalLink,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto link = r.platform.original_link(*who, req.matches[1].str());
          if (!link.ok()) return send_error(res, link.status());
          res.set_header("Cache-Control", "no-store");
          json doc{{"path", link->path_and_query},
                   {"expires_at", rfc3339_ms(link->expires_unix * 1000)}};
          // Absolute where this server knows how it is reached (--public-url, else Host).
          auto base = request_base_url(r.public_url, req);
          doc["url"] = base ? *base + link->path_and_query : link->path_and_query;
          send_json(res, 200, json_text(doc));
        });
}

}  // namespace streamlet::server
