// Manifest rewriting for signed playback: a player resolves every URI in a
// manifest relative to the manifest's URL but drops its query, so the origin
// appends the token to each relative URI itself. Text-level on purpose: the
// rest of the manifest must come out byte for byte as the packager wrote it.
#include <array>
#include <string>
#include <string_view>

#include "origin/detail.hpp"

namespace streamlet::origin::detail {
namespace {

bool is_absolute(std::string_view uri) {
  if (uri.empty() || uri.front() == '/') return true;  // "/x" and "//host/x" leave the video
  // RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any / ? #.
  size_t end = uri.find_first_of(":/?#");
  if (end == std::string_view::npos || uri[end] != ':' || end == 0) return false;
  return true;
}

std::string with_query(std::string_view uri, std::string_view query, std::string_view amp) {
  if (is_absolute(uri) || query.empty()) return std::string(uri);
  size_t hash = uri.find('#');
  std::string_view base = uri.substr(0, hash);
  std::string_view fragment = hash == std::string_view::npos ? "" : uri.substr(hash);
  std::string out(base);
  size_t q = base.find('?');
  if (q == std::string_view::npos) {
    out += '?';
  } else if (q + 1 != base.size()) {
    out += amp;
  }
  out += query;
  out += fragment;
  return out;
}

// Rewrites the URI attribute of one HLS tag line. The attribute list is walked
// as RFC 8216 4.2 defines it, so text inside another quoted value (a NAME or
// LANGUAGE taken from the source's metadata) is never mistaken for a URI.
void rewrite_tag(std::string_view line, std::string_view query, std::string& out) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    out.append(line);
    return;
  }
  size_t copied = 0;
  size_t pos = colon + 1;
  while (pos < line.size()) {
    size_t eq = line.find_first_of("=,", pos);
    if (eq == std::string_view::npos) break;
    if (line[eq] == ',') {  // a bare value (#EXTINF:4.0,title): no attributes here
      pos = eq + 1;
      continue;
    }
    std::string_view name = line.substr(pos, eq - pos);
    size_t value_end;
    if (eq + 1 < line.size() && line[eq + 1] == '"') {
      size_t close = line.find('"', eq + 2);
      if (close == std::string_view::npos) break;  // unterminated: leave the rest as it is
      if (name == "URI") {
        out.append(line.substr(copied, eq + 2 - copied));
        out += with_query(line.substr(eq + 2, close - eq - 2), query, "&");
        copied = close;
      }
      value_end = close + 1;
    } else {
      value_end = line.find(',', eq + 1);
      if (value_end == std::string_view::npos) value_end = line.size();
    }
    pos = line.find(',', value_end);
    if (pos == std::string_view::npos) break;
    ++pos;
  }
  out.append(line.substr(copied));
}

}  // namespace

std::string append_query(std::string_view uri, std::string_view query) {
  return with_query(uri, query, "&");
}

std::string rewrite_hls(std::string_view playlist, std::string_view query) {
  std::string out;
  out.reserve(playlist.size() + playlist.size() / 2);
  while (!playlist.empty()) {
    size_t nl = playlist.find('\n');
    std::string_view line = playlist.substr(0, nl);
    std::string_view rest = nl == std::string_view::npos ? "" : playlist.substr(nl);
    playlist = nl == std::string_view::npos ? "" : playlist.substr(nl + 1);
    std::string_view cr;
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
      cr = "\r";
    }
    if (line.starts_with("#EXT")) {
      rewrite_tag(line, query, out);
    } else if (line.empty() || line.front() == '#') {
      out.append(line);  // blank line or comment
    } else {
      out += with_query(line, query, "&");  // a URI line: segment or variant playlist
    }
    out += cr;
    if (!rest.empty()) out += '\n';
  }
  return out;
}

std::string rewrite_dash(std::string_view mpd, std::string_view query) {
  // The query goes into an XML attribute: '&' must be written as an entity.
  std::string xml_query;
  for (char c : query) {
    if (c == '&') {
      xml_query += "&amp;";
    } else {
      xml_query += c;
    }
  }
  static constexpr std::array<std::string_view, 4> kAttributes = {"media", "initialization",
                                                                  "index", "sourceURL"};
  std::string out;
  out.reserve(mpd.size() + mpd.size() / 4);
  size_t pos = 0;  // copied up to here
  size_t scan = 0;
  while (scan < mpd.size()) {
    size_t eq = mpd.find('=', scan);
    if (eq == std::string_view::npos) break;
    scan = eq + 1;
    if (eq + 1 >= mpd.size() || (mpd[eq + 1] != '"' && mpd[eq + 1] != '\'')) continue;
    size_t name_start = eq;
    while (name_start > 0 && mpd[name_start - 1] != ' ' && mpd[name_start - 1] != '\t' &&
           mpd[name_start - 1] != '\n' && mpd[name_start - 1] != '\r' && mpd[name_start - 1] != '<')
      --name_start;
    std::string_view name = mpd.substr(name_start, eq - name_start);
    char quote = mpd[eq + 1];
    size_t value = eq + 2;
    size_t close = mpd.find(quote, value);
    if (close == std::string_view::npos) break;
    // Skip the whole value, rewritten or not: an '=' inside it is not an attribute.
    scan = close + 1;
    bool wanted = false;
    for (std::string_view a : kAttributes) wanted = wanted || name == a;
    if (!wanted || name_start == 0 || mpd[name_start - 1] == '<') continue;
    out.append(mpd.substr(pos, value - pos));
    out += with_query(mpd.substr(value, close - value), xml_query, "&amp;");
    pos = close;
  }
  out.append(mpd.substr(pos));
  // A <BaseURL> that names a file (a caption sidecar's) gets the token too; one naming a
  // directory ("./") only prefixes the URLs above, which already carry it.
  constexpr std::string_view kOpen = "<BaseURL>", kClose = "</BaseURL>";
  for (size_t at = 0; (at = out.find(kOpen, at)) != std::string::npos;) {
    const size_t value = at + kOpen.size();
    const size_t close = out.find(kClose, value);
    if (close == std::string::npos) break;
    const std::string_view text = std::string_view(out).substr(value, close - value);
    const std::string uri =
        text.empty() || text.back() == '/' ? std::string(text) : with_query(text, xml_query, "&amp;");
    out.replace(value, close - value, uri);
    at = value + uri.size() + kClose.size();
  }
  return out;
}

}  // namespace streamlet::origin::detail
