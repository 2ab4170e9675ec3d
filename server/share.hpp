// Sharing a video off the site: the absolute links of a video, the <head> tags that make a
// watch page unfurl in chat apps (OpenGraph, Twitter card, the oEmbed discovery link), the
// oEmbed document's iframe, and a download's Content-Disposition. Pure functions of typed
// values: every page and answer that shows a video elsewhere is made here, escaped here.
#pragma once

#include <string>
#include <string_view>

#include "streamlet/platform.hpp"

namespace streamlet::server {

// Text that is inert inside an HTML element or a double-quoted attribute value (& < > " ').
std::string html_escape(std::string_view text);
// Percent-encoding of everything but RFC 3986's unreserved characters (a query value).
std::string url_encode(std::string_view text);

// What a link to one video shows where it is shared. URLs are absolute.
struct ShareCard {
  std::string title;
  std::string description;
  std::string site_url;    // <base>/
  std::string page_url;    // <base>/watch/<id>
  std::string embed_url;   // <base>/embed/<id>
  std::string image_url;   // <base>/media/<id>/poster.jpg, "" without a poster
  std::string oembed_url;  // <base>/oembed?url=<page_url>&format=json
  std::string author_name;  // "" when the owner is gone
  std::string author_url;   // <base>/u/<name>, "" when the owner is gone
  // The embed's size: kEmbedWidth wide, the video's aspect (16:9 without a rendition).
  int width = 0;
  int height = 0;
};
inline constexpr int kEmbedWidth = 640;

// The card of a video a stranger may see; `base` is "scheme://host[:port][/path]" without a
// trailing '/' (--public-url, or the request's own).
ShareCard share_card(const platform::VideoView& video, std::string_view base);
// The <title> and the meta and link tags for a watch page's <head>.
std::string share_head(const ShareCard& card);
// The embed as an <iframe> of `width` x `height` (the oEmbed document's html).
std::string embed_iframe(const ShareCard& card, int width, int height);
// "attachment; filename=...; filename*=UTF-8''..." for a file name (RFC 6266): the quoted
// form has only printable ASCII (others become '_'), the extended form the name itself.
std::string content_disposition(std::string_view filename);

}  // namespace streamlet::server
