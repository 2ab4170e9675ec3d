// /v1/videos: listing, metadata, deletion, the SSE progress stream, views and stats.
#include <chrono>
#include <memory>

#include "http_errors.hpp"
#include "streamlet/captions.hpp"
#include "streamlet/transcode.hpp"
#include "routes.hpp"

namespace streamlet::server {

namespace {

using nlohmann::json;

// One Server-Sent Event for a bus event, or "" for events the stream does not carry.
std::string sse_frame(const events::Event& e) {
  if (e.type == "status")
    return "event: status\ndata: " + json{{"status", e.state}, {"reason", e.message}}.dump() +
           "\n\n";
  if (e.type == "playable")  // a processing video's first segments are published
    return "event: playable\ndata: " + json{{"status", e.state}, {"playable", true}}.dump() +
           "\n\n";
  if (e.type == "progress")
    return "event: progress\ndata: " +
           json{{"percent", e.percent}, {"fps", e.fps}, {"speed", e.speed}}.dump() + "\n\n";
  return "";
}

bool finished(const std::string& status) {
  return status == "ready" || status == "failed";
}

origin::OriginResponse error_answer(const Status& status) {
  origin::OriginResponse res;
  res.status = http_status(status);
  res.body = error_json(status);
  res.headers = {{"Content-Type", "application/json"},
                 {"Content-Length", std::to_string(res.body.size())},
                 {"Cache-Control", "no-store"}};
  if (status.code() == ErrorCode::kUnauthenticated)
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

}  // namespace

// GET /v1/videos/{id}/events, written by the front's event loops: the bus callback formats
// each event and queues it on the channel, so an open stream holds no thread.
origin::StreamHandler event_stream_handler(Routes& r) {
  return [&r](const origin::FrontRequest& req, std::shared_ptr<origin::StreamChannel> channel) {
    origin::StreamAnswer answer;
    std::string_view path = req.path();
    constexpr std::string_view kPrefix = "/v1/videos/", kSuffix = "/events";
    const std::string id(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
    auto who = r.platform.authenticate(req.header("Authorization"));
    if (!who.ok()) {
      answer.response = error_answer(who.status());
      return answer;
    }
    auto following = r.platform.follow_video(*who, id, [channel](const events::Event& e) {
      std::string frame = sse_frame(e);
      if (frame.empty()) return;
      channel->send(frame);
      if (e.type == "status" && finished(e.state)) channel->finish();
    });
    if (!following.ok()) {
      answer.response = error_answer(following.status());
      return answer;
    }
    auto sub = std::make_shared<events::Subscription>(std::move(following->subscription));
    answer.on_end = [sub] { sub->close(); };
    events::Event first;
    first.type = "status";
    first.state = std::string(catalog::to_string(following->status));
    first.message = following->reason;
    answer.response.status = 200;
    answer.response.headers = {{"Content-Type", "text/event-stream"},
                               {"Cache-Control", "no-store"},
                               // nginx in front: do not buffer the stream
                               {"X-Accel-Buffering", "no"}};
    answer.first = sse_frame(first);
    if (following->playable && !finished(first.state)) {
      events::Event playable;  // already playable when the stream opened: said at once
      playable.type = "playable";
      playable.state = first.state;
      answer.first += sse_frame(playable);
    }
    if (finished(first.state)) channel->finish();
    return answer;
  };
}

namespace {
}  // namespace

void register_video_routes(Routes& r, httplib::Server& svr) {
  route(r, svr, RouteId::kVideoList, [&r](const httplib::Request& req, httplib::Response& res) {
    auto who = principal(r, req, res);
    if (!who) return;
    platform::VideoListParams p;
    p.q = req.get_param_value("q");
    // owner=me: the caller's library; owner=<username>: that user's channel.
    const std::string owner = req.get_param_value("owner");
    p.owner_me = owner == "me";
    if (!owner.empty() && owner != "me") p.owner_username = owner;
    if (auto s = req.get_param_value("status"); !s.empty()) {
      auto parsed = catalog::parse_video_status(s);
      if (!parsed.ok()) return send_error(res, parsed.status());
      p.status = *parsed;
    }
    if (auto v = req.get_param_value("visibility"); !v.empty()) {
      auto parsed = catalog::parse_visibility(v);
      if (!parsed.ok()) return send_error(res, parsed.status());
      p.visibility = *parsed;
    }
    if (auto v = req.get_param_value("sort"); !v.empty()) {
      auto parsed = catalog::parse_video_sort(v);
      if (!parsed.ok()) return send_error(res, parsed.status());
      p.sort = *parsed;
    }
    if (!int_params(req, res, {{"page", &p.page}, {"per_page", &p.per_page}})) return;
    send_result(res, r.platform.list_videos(*who, p));
  });
  route(r, svr, RouteId::kVideoGet,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_result(res, r.platform.get_video(*who, req.matches[1].str()));
        });
  route(r, svr, RouteId::kVideoUpdate,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          auto body = json_body(req, res);
          if (!body) return;
          catalog::VideoUpdate u;
          for (const auto& [key, value] : body->items()) {
            if (key != "title" && key != "description" && key != "visibility")
              return send_error(res, error(ErrorCode::kInvalidArgument, "unknown field " + key));
            if (!value.is_string())
              return send_error(res, error(ErrorCode::kInvalidArgument, key + " must be a string"));
          }
          if (body->contains("title")) u.title = (*body)["title"].get<std::string>();
          if (body->contains("description"))
            u.description = (*body)["description"].get<std::string>();
          if (body->contains("visibility")) {
            auto v = catalog::parse_visibility((*body)["visibility"].get<std::string>());
            if (!v.ok()) return send_error(res, v.status());
            u.visibility = *v;
          }
          send_result(res, r.platform.update_video(*who, req.matches[1].str(), u));
        });
  route(r, svr, RouteId::kVideoDelete,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_status(res, r.platform.delete_video(*who, req.matches[1].str()));
        });
  // The event stream is the front's (event_stream_handler); the route table still knows it.
  route_elsewhere(r, RouteId::kVideoEvents);
  route(r, svr, RouteId::kVideoViews,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          // A beacon (navigator.sendBeacon) may come with any content type: read it as JSON.
          auto body = json_body(req, res);
          if (!body) return;
          std::string viewer;
          double seconds = 0;
          if (body->contains("viewer")) {
            if (!(*body)["viewer"].is_string())
              return send_error(res, error(ErrorCode::kInvalidArgument, "viewer must be a string"));
            viewer = (*body)["viewer"].get<std::string>();
          }
          if (body->contains("seconds")) {
            if (!(*body)["seconds"].is_number())
              return send_error(res,
                                error(ErrorCode::kInvalidArgument, "seconds must be a number"));
            seconds = (*body)["seconds"].get<double>();
          }
          send_status(res, r.platform.record_view(*who, req.matches[1].str(), viewer, seconds,
                                                  client_address(r, req)));
        });
  route(r, svr, RouteId::kVideoCaptionList,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_result(res, r.platform.list_captions(*who, req.matches[1].str()));
        });
  // The body is the WebVTT or SRT file itself (label in ?label=), or a JSON object
  // {"label": ..., "content": "<the file>"}.
  route_with_body(
      r, svr, RouteId::kVideoCaptionPut, captions::kMaxBytes + 4096,
      [&r](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        auto who = principal(r, req, res);
        if (!who) return;
        // Before the body is looked at: a refusal can only be about who is asking.
        if (!who->authenticated())
          return send_error(res, error(ErrorCode::kUnauthenticated, "sign in to change videos"));
        std::string label = req.get_param_value("label");
        std::string content = body;
        if (req.get_header_value("Content-Type").rfind("application/json", 0) == 0) {
          auto doc = json::parse(body, nullptr, false);
          if (!doc.is_object() || !doc.contains("content") || !doc["content"].is_string() ||
              (doc.contains("label") && !doc["label"].is_string()))
            return send_error(res, error(ErrorCode::kInvalidArgument,
                                         "a JSON body is {\"content\": \"WEBVTT...\", "
                                         "\"label\": \"English\"}"));
          content = doc["content"].get<std::string>();
          if (doc.contains("label")) label = doc["label"].get<std::string>();
        }
        send_result(res, r.platform.put_caption(*who, req.matches[1].str(), req.matches[2].str(),
                                                label, content));
      });
  route(r, svr, RouteId::kVideoCaptionDelete,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_status(res, r.platform.delete_caption(*who, req.matches[1].str(),
                                                       req.matches[2].str()));
        });
  route_with_body(
      r, svr, RouteId::kVideoPosterPut, transcode::kMaxPosterBytes,
      [&r](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        auto who = principal(r, req, res);
        if (!who) return;
        // ?at=SECONDS (no body): the frame on screen then, as the storyboard shows it.
        if (req.has_param("at")) {
          const std::string at = req.get_param_value("at");
          char* end = nullptr;
          const double seconds = std::strtod(at.c_str(), &end);
          if (at.empty() || end != at.c_str() + at.size() || !body.empty())
            return send_error(res, error(ErrorCode::kInvalidArgument,
                                         "at: a number of seconds, with an empty body"));
          return send_result(res, r.platform.set_poster_at(*who, req.matches[1].str(), seconds));
        }
        send_result(res, r.platform.set_poster(*who, req.matches[1].str(), body));
      });
  route(r, svr, RouteId::kVideoRetry,
        [&r](const httplib::Request& req, httplib::Response& res) {
          if (auto who = principal(r, req, res))
            send_result(res, r.platform.retry_video(*who, req.matches[1].str()));
        });
  route(r, svr, RouteId::kVideoStats,
        [&r](const httplib::Request& req, httplib::Response& res) {
          auto who = principal(r, req, res);
          if (!who) return;
          platform::StatsQuery q{req.get_param_value("from"), req.get_param_value("to")};
          send_result(res, r.platform.video_stats(*who, req.matches[1].str(), q));
        });
  route(r, svr, RouteId::kMeStats, [&r](const httplib::Request& req, httplib::Response& res) {
    auto who = principal(r, req, res);
    if (!who) return;
    platform::StatsQuery q{req.get_param_value("from"), req.get_param_value("to")};
    if (!int_params(req, res, {{"top", &q.top}})) return;
    send_result(res, r.platform.library_stats(*who, q));
  });
}

}  // namespace streamlet::server
