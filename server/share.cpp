#include "share.hpp"

#include <cstdio>

namespace streamlet::server {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

ShareCard share_card(const platform::VideoView& view, std::string_view base) {
  const catalog::Video& v = view.video;
  const std::string b(base);
  ShareCard c;
  c.title = v.title;
  c.description = v.description;
  c.site_url = b + "/";
  c.page_url = b + view.page_url;
  c.embed_url = b + "/embed/" + v.id;
  // A stranger's view has no signature in it: the poster of a video they may see.
  if (!view.poster_url.empty()) c.image_url = b + view.poster_url;
  c.oembed_url = b + "/oembed?url=" + url_encode(c.page_url) + "&format=json";
  if (view.owner_username) {
    c.author_name = *view.owner_username;
    c.author_url = b + "/u/" + url_encode(*view.owner_username);
  }
  c.width = kEmbedWidth;
  c.height = kEmbedWidth * 9 / 16;
  if (!view.renditions.empty() && view.renditions.front().width > 0)
    c.height = int(int64_t(kEmbedWidth) * view.renditions.front().height /
                   view.renditions.front().width);
  return c;
}

std::string share_head(const ShareCard& c) {
  std::string out = "<title>" + html_escape(c.title) + " · Streamlet</title>\n";
  auto meta = [&out](std::string_view attr, std::string_view name, std::string_view value) {
    if (value.empty()) return;
    out += "<meta " + std::string(attr) + "=\"" + std::string(name) + "\" content=\"" +
           html_escape(value) + "\">\n";
  };
  const std::string width = std::to_string(c.width), height = std::to_string(c.height);
  meta("name", "description", c.description);
  meta("property", "og:site_name", "Streamlet");
  meta("property", "og:type", "video.other");
  meta("property", "og:title", c.title);
  meta("property", "og:description", c.description);
  meta("property", "og:url", c.page_url);
  meta("property", "og:image", c.image_url);
  meta("property", "og:video", c.embed_url);
  meta("property", "og:video:type", "text/html");
  meta("property", "og:video:width", width);
  meta("property", "og:video:height", height);
  meta("name", "twitter:card", "player");
  meta("name", "twitter:title", c.title);
  meta("name", "twitter:description", c.description);
  meta("name", "twitter:image", c.image_url);
  meta("name", "twitter:player", c.embed_url);
  meta("name", "twitter:player:width", width);
  meta("name", "twitter:player:height", height);
  out += "<link rel=\"canonical\" href=\"" + html_escape(c.page_url) + "\">\n";
  out += "<link rel=\"alternate\" type=\"application/json+oembed\" href=\"" +
         html_escape(c.oembed_url) + "\" title=\"" + html_escape(c.title) + "\">\n";
  return out;
}

std::string embed_iframe(const ShareCard& c, int width, int height) {
  return "<iframe src=\"" + html_escape(c.embed_url) + "\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(height) + "\" title=\"" + html_escape(c.title) +
         "\" frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" "
         "allowfullscreen></iframe>";
}

std::string content_disposition(std::string_view filename) {
  std::string plain;
  for (unsigned char c : filename)
    plain += c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? char(c) : '_';
  return "attachment; filename=\"" + plain + "\"; filename*=UTF-8''" + url_encode(filename);
}

}  // namespace streamlet::server
