// The API's JSON documents (docs/api.md), made from the platform's typed answers. The only
// place a platform value becomes JSON; route files call view() and send the result.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "streamlet/platform.hpp"

namespace streamlet::server {

using nlohmann::json;

// RFC 3339 UTC with seconds, from Unix epoch milliseconds: "2026-12-01T18:40:19Z".
std::string rfc3339_ms(int64_t ms);
// Compact JSON text; bytes that are not UTF-8 come out as U+FFFD instead of throwing.
std::string json_text(const json& doc);

json user_view(const catalog::User& user);
json view(const accounts::Session& session);           // {"user","token","expires_at"}
json view(const catalog::NewApiKey& key);              // {"id","key","name","created_at"}
json view(const std::vector<catalog::ApiKey>& keys);   // {"items":[...]}
json view(const platform::VideoView& video);
json view(const platform::Page<platform::VideoView>& page);  // {"items","page","per_page","total"}
json view(const platform::CaptionView& caption);       // {"language","label","cues","url",...}
json view(const std::vector<platform::CaptionView>& captions);  // {"items":[...]}
json view(const platform::Page<catalog::User>& page);       // the same, of user_view
json view(const catalog::User& user);                       // {"user"}
// {"from","to","views","watch_seconds","unique_viewers","days":[{"day","views",...}]}
json view(const platform::VideoStatsView& stats);
json view(const platform::LibraryStatsView& stats);  // the same, and "videos":[{"id","title",...}]
json view(const platform::LikeView& likes);            // {"likes","liked"}
json view(const platform::CommentView& comment);       // {"id","body","author","created_at",...}
json view(const platform::CommentList& comments);      // {"items","next_cursor","total"}
json view(const jobs::Job& job);
json view(const jobs::JobPage& page);                  // {"items","next_cursor"}

struct ShareCard;  // share.hpp
// The oEmbed 1.0 document of a video (type "video"), its html the `iframe` of width x height.
json oembed_view(const ShareCard& card, const std::string& iframe, int width, int height);

// The API's error body: {"error": message, "code": snake_case code}.
std::string error_json(const Status& status);
std::string_view error_code_name(ErrorCode code);

}  // namespace streamlet::server
