#include "streamlet/captions.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "core/text.hpp"
#include "package/text.hpp"

namespace streamlet::captions {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

Status bad_line(size_t line, const std::string& what) {
  return error(ErrorCode::kInvalidArgument, "captions: line " + std::to_string(line) + ": " + what);
}

// [hh:]mm:ss(.|,)ttt -> ms at `s[pos]`, advancing pos; -1 when it is not one. SRT uses ','
// and always has hours; WebVTT uses '.' and may leave hours out. Both are taken either way.
int64_t timestamp(std::string_view s, size_t& pos) {
  int64_t parts[3] = {0, 0, 0};
  int n = 0;
  size_t i = pos;
  while (true) {
    size_t start = i;
    int64_t v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 10) v = v * 10 + (s[i++] - '0');
    if (i == start || n == 3) return -1;
    parts[n++] = v;
    if (i < s.size() && s[i] == ':') {
      ++i;
      continue;
    }
    break;
  }
  if (n < 2 || i >= s.size() || (s[i] != '.' && s[i] != ',')) return -1;
  ++i;
  if (i + 3 > s.size() || !is_digit(s[i]) || !is_digit(s[i + 1]) || !is_digit(s[i + 2])) return -1;
  const int64_t ms = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
  i += 3;
  int64_t h = 0, m, sec;
  if (n == 3) {
    h = parts[0], m = parts[1], sec = parts[2];
  } else {
    m = parts[0], sec = parts[1];
  }
  if (m > 59 || sec > 59) return -1;
  pos = i;
  return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

void append_timestamp(std::string& out, int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000));
  out += buf;
}

// "start --> end[ settings]" -> the cue's times and settings; false when it is no timing line.
bool timing_line(std::string_view line, Cue& cue, std::string& why) {
  size_t pos = 0;
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  const int64_t start = timestamp(line, pos);
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  if (start < 0 || line.substr(pos, 3) != "-->") {
    why = "expected a timing line such as 00:00:01.000 --> 00:00:04.000";
    return false;
  }
  pos += 3;
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  const int64_t end = timestamp(line, pos);
  if (end < 0) {
    why = "the end time does not parse (expected hh:mm:ss.mmm)";
    return false;
  }
  if (end <= start) {
    why = "the cue ends before it starts";
    return false;
  }
  cue.start_ms = start;
  cue.end_ms = end;
  std::string_view rest = line.substr(pos);
  const size_t first = rest.find_first_not_of(" \t");
  cue.settings = first == std::string_view::npos ? "" : std::string(rest.substr(first));
  while (!cue.settings.empty() && (cue.settings.back() == ' ' || cue.settings.back() == '\t'))
    cue.settings.pop_back();
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<std::vector<Cue>> parse(std::string_view text) {
  if (text.size() > kMaxBytes)
    return error(ErrorCode::kTooLarge, "captions: the file is larger than " +
                                           std::to_string(kMaxBytes) + " bytes");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (!streamlet::detail::valid_utf8(text))
    return error(ErrorCode::kInvalidArgument, "captions: the file is not UTF-8 text");
  if (text.find('\0') != std::string_view::npos)
    return error(ErrorCode::kInvalidArgument, "captions: the file holds a NUL byte");

  std::vector<std::string_view> lines;
  for (size_t at = 0; at <= text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(at, nl - at);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.push_back(l);
    at = nl + 1;
  }
  size_t i = 0;
  const bool vtt = !lines.empty() && lines[0].substr(0, 6) == "WEBVTT" &&
                   (lines[0].size() == 6 || lines[0][6] == ' ' || lines[0][6] == '\t');
  if (vtt) {
    // The header block ends at the first blank line.
    while (i < lines.size() && !blank(lines[i])) ++i;
  }
  std::vector<Cue> cues;
  while (i < lines.size()) {
    if (blank(lines[i])) {
      ++i;
      continue;
    }
    const size_t block = i;
    if (vtt && (lines[i].substr(0, 4) == "NOTE" || lines[i] == "STYLE" || lines[i] == "REGION" ||
                lines[i].substr(0, 6) == "STYLE " || lines[i].substr(0, 7) == "REGION ")) {
      while (i < lines.size() && !blank(lines[i])) ++i;  // comments and styling: not cues
      continue;
    }
    Cue cue;
    std::string why;
    // An identifier (SRT's counter, WebVTT's optional id) may come before the timing line.
    if (lines[i].find("-->") == std::string_view::npos) {
      if (i + 1 >= lines.size() || lines[i + 1].find("-->") == std::string_view::npos)
        return bad_line(block + 1, "expected a cue timing line such as 00:00:01.000 --> "
                                   "00:00:04.000, found '" +
                                       std::string(lines[i].substr(0, 60)) + "'");
      ++i;
    }
    if (!timing_line(lines[i], cue, why)) return bad_line(i + 1, why);
    ++i;
    for (; i < lines.size() && !blank(lines[i]); ++i) {
      if (lines[i].find("-->") != std::string_view::npos)
        return bad_line(i + 1, "a cue's text cannot hold '-->' (is a blank line missing?)");
      if (!cue.text.empty()) cue.text += '\n';
      cue.text += lines[i];
    }
    if (cues.size() == kMaxCues)
      return error(ErrorCode::kInvalidArgument,
                   "captions: more than " + std::to_string(kMaxCues) + " cues");
    cues.push_back(std::move(cue));
  }
  if (cues.empty() && !vtt)
    return error(ErrorCode::kInvalidArgument,
                 "captions: neither WebVTT (a file starting with WEBVTT) nor SRT cues");
  std::stable_sort(cues.begin(), cues.end(),
                   [](const Cue& a, const Cue& b) { return a.start_ms < b.start_ms; });
  return cues;
}

namespace {
void append_cue(std::string& out, const Cue& c) {
  append_timestamp(out, c.start_ms);
  out += " --> ";
  append_timestamp(out, c.end_ms);
  if (!c.settings.empty()) out += ' ' + c.settings;
  out += '\n';
  out += c.text;
  out += "\n\n";
}
}  // namespace

std::string to_webvtt(const std::vector<Cue>& cues) {
  std::string out = "WEBVTT\n\n";
  for (const Cue& c : cues) append_cue(out, c);
  return out;
}

Result<std::string> canonical_language(std::string_view tag) {
  const Status bad = error(ErrorCode::kInvalidArgument,
                           "'" + std::string(tag.substr(0, 40)) +
                               "' is not a BCP 47 language tag (such as en, pt-BR, zh-Hant)");
  if (tag.empty() || tag.size() > 35) return bad;
  std::vector<std::string> sub;
  for (size_t at = 0; at <= tag.size();) {
    size_t dash = tag.find('-', at);
    if (dash == std::string_view::npos) dash = tag.size();
    std::string_view s = tag.substr(at, dash - at);
    if (s.empty() || s.size() > 8) return bad;
    for (char c : s)
      if (!is_alpha(c) && !is_digit(c)) return bad;
    sub.push_back(lower(s));
    at = dash + 1;
  }
  auto all_alpha = [](const std::string& s) { return std::all_of(s.begin(), s.end(), is_alpha); };
  auto all_digit = [](const std::string& s) { return std::all_of(s.begin(), s.end(), is_digit); };
  size_t i = 0;
  // language: 2-3 letters (then up to three 3-letter extlangs) or 4-8 letters.
  if (!all_alpha(sub[0]) || sub[0].size() < 2) return bad;
  ++i;
  if (sub[0].size() <= 3)
    for (int n = 0; n < 3 && i < sub.size() && sub[i].size() == 3 && all_alpha(sub[i]); ++n) ++i;
  if (i < sub.size() && sub[i].size() == 4 && all_alpha(sub[i])) {  // script
    sub[i][0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sub[i][0])));
    ++i;
  }
  if (i < sub.size() && ((sub[i].size() == 2 && all_alpha(sub[i])) ||
                         (sub[i].size() == 3 && all_digit(sub[i])))) {  // region
    for (char& c : sub[i]) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ++i;
  }
  while (i < sub.size() && (sub[i].size() >= 5 || (sub[i].size() == 4 && is_digit(sub[i][0]))))
    ++i;  // variants
  while (i < sub.size() && sub[i].size() == 1) {  // extensions and private use
    const bool private_use = sub[i] == "x";
    ++i;
    const size_t start = i;
    while (i < sub.size() && (private_use ? true : sub[i].size() >= 2)) ++i;
    if (i == start) return bad;
  }
  if (i != sub.size()) return bad;
  std::string out;
  for (const auto& s : sub) out += (out.empty() ? "" : "-") + s;
  return out;
}

std::string SegmentedSubtitles::segment_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "seg_%05zu.vtt", index + 1);
  return buf;
}

SegmentedSubtitles segment(const std::vector<Cue>& cues, const std::vector<double>& durations,
                           int64_t mpegts) {
  SegmentedSubtitles out;
  const std::string header = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:" + std::to_string(mpegts) +
                             ",LOCAL:00:00:00.000\n\n";
  double target = 1;
  for (double d : durations) target = std::max(target, std::round(d));
  std::string body;
  int64_t start_us = 0;
  for (size_t i = 0; i < durations.size(); ++i) {
    const int64_t end_us = start_us + std::llround(durations[i] * 1e6);
    // The last segment takes every cue that is still to come, so none is lost past the end.
    const bool last = i + 1 == durations.size();
    std::string file = header;
    for (const Cue& c : cues)
      if (c.start_ms * 1000 < (last ? INT64_MAX : end_us) && c.end_ms * 1000 > start_us)
        append_cue(file, c);
    out.segments.push_back(std::move(file));
    body += "#EXTINF:" + package::detail::fixed(durations[i], 6) + ",\n" +
            SegmentedSubtitles::segment_name(i) + "\n";
    start_us = end_us;
  }
  out.playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:" +
                 std::to_string(static_cast<int64_t>(target)) +
                 "\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n" + body + "#EXT-X-ENDLIST\n";
  return out;
}

namespace {

constexpr std::string_view kGroupAttr = ",SUBTITLES=\"subs\"";
constexpr std::string_view kMediaPrefix = "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\"";
// Marks the adaptation sets dash_with_text_tracks wrote, so the next call finds them.
constexpr std::string_view kDashMark = "<!-- streamlet captions -->";

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

}  // namespace

std::string hls_master_with_subtitles(std::string_view master,
                                      const std::vector<TextTrack>& tracks) {
  std::string media;
  for (size_t i = 0; i < tracks.size(); ++i) {
    const TextTrack& t = tracks[i];
    media += std::string(kMediaPrefix) + ",NAME=\"" + package::detail::hls_quoted(t.label) +
             "\",LANGUAGE=\"" + t.language + "\",DEFAULT=NO,AUTOSELECT=" +
             (i == 0 ? "YES" : "NO") + ",URI=\"" + package::detail::hls_quoted(t.hls_uri) + "\"\n";
  }
  std::string out;
  bool placed = false;
  for (std::string_view line : split_lines(master)) {
    if (line.substr(0, kMediaPrefix.size()) == kMediaPrefix) continue;  // ours, from before
    std::string l(line);
    if (l.rfind("#EXT-X-STREAM-INF:", 0) == 0) {
      if (auto at = l.find(kGroupAttr); at != std::string::npos) l.erase(at, kGroupAttr.size());
      if (!placed) {
        out += media;
        if (!media.empty()) out += '\n';
        placed = true;
      }
      if (!tracks.empty()) l += kGroupAttr;
    }
    out += l;
    out += '\n';
  }
  // Drop the blank line a removed group leaves before the variants.
  for (size_t at; (at = out.find("\n\n\n")) != std::string::npos;) out.erase(at, 1);
  return out;
}

std::string dash_with_text_tracks(std::string_view mpd, const std::vector<TextTrack>& tracks) {
  std::string out(mpd);
  // Remove what an earlier call added: from each mark to the end of its AdaptationSet.
  for (size_t at; (at = out.find(kDashMark)) != std::string::npos;) {
    size_t line_start = out.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    size_t end = out.find("</AdaptationSet>", at);
    if (end == std::string::npos) break;
    end = out.find('\n', end);
    out.erase(line_start, (end == std::string::npos ? out.size() : end + 1) - line_start);
  }
  if (tracks.empty()) return out;
  std::string sets;
  for (size_t i = 0; i < tracks.size(); ++i) {
    const TextTrack& t = tracks[i];
    const std::string id = "text-" + t.language;
    sets += "    " + std::string(kDashMark) + "\n    <AdaptationSet id=\"" +
            std::to_string(100 + i) +
            "\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"" + t.language + "\">\n" +
            "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>\n" +
            "      <Label>" + package::detail::xml_escape(t.label) + "</Label>\n" +
            "      <Representation id=\"" + package::detail::xml_escape(id) +
            "\" bandwidth=\"256\">\n" + "        <BaseURL>" +
            package::detail::xml_escape(t.dash_uri) + "</BaseURL>\n" +
            "      </Representation>\n    </AdaptationSet>\n";
  }
  const size_t period_end = out.find("  </Period>");
  if (period_end == std::string::npos) return out;
  out.insert(period_end, sets);
  return out;
}

std::string first_variant_uri(std::string_view master) {
  bool next = false;
  for (std::string_view line : split_lines(master)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("#EXT-X-STREAM-INF:", 0) == 0) {
      next = true;
    } else if (next && !line.empty() && line[0] != '#') {
      return std::string(line);
    }
  }
  return "";
}

std::vector<double> segment_durations(std::string_view media_playlist) {
  std::vector<double> out;
  for (std::string_view line : split_lines(media_playlist)) {
    if (line.rfind("#EXTINF:", 0) != 0) continue;
    out.push_back(std::strtod(std::string(line.substr(8)).c_str(), nullptr));
  }
  return out;
}

int64_t presentation_start_90k(std::string_view mpd) {
  const size_t set = mpd.find("contentType=\"video\"");
  if (set == std::string_view::npos) return 0;
  const size_t tmpl = mpd.find("<SegmentTemplate", set);
  if (tmpl == std::string_view::npos) return 0;
  const size_t close = mpd.find('>', tmpl);
  const std::string_view tag = mpd.substr(tmpl, close - tmpl);
  auto number = [&](std::string_view name) -> int64_t {
    const std::string key = " " + std::string(name) + "=\"";
    const size_t at = tag.find(key);
    if (at == std::string_view::npos) return 0;
    return std::strtoll(std::string(tag.substr(at + key.size())).c_str(), nullptr, 10);
  };
  const int64_t timescale = number("timescale"), pto = number("presentationTimeOffset");
  if (timescale <= 0 || pto <= 0) return 0;
  return static_cast<int64_t>(static_cast<__int128>(pto) * 90000 / timescale);
}

}  // namespace streamlet::captions
