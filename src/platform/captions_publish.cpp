#include "platform/captions_publish.hpp"

#include <set>

#include "streamlet/captions.hpp"

namespace streamlet::platform::internal {

std::string caption_sources_prefix(std::string_view video_id) {
  return "captions/" + std::string(video_id) + "/";
}
std::string caption_source_key(std::string_view video_id, std::string_view language) {
  return caption_sources_prefix(video_id) + std::string(language) + ".vtt";
}
std::string caption_file(std::string_view language) {
  return "subs/" + std::string(language) + ".vtt";
}

namespace {
std::string playlist_of(std::string_view language) {
  return "subs/" + std::string(language) + "/index.m3u8";
}
}  // namespace

Status publish_captions(storage::Storage& storage, std::string_view media_prefix,
                        std::string_view video_id, const std::vector<catalog::Caption>& tracks) {
  const std::string prefix(media_prefix);
  auto master = storage.get(prefix + "master.m3u8");
  auto mpd = storage.get(prefix + "manifest.mpd");
  if (!master.ok() && !mpd.ok()) return Status::Ok();  // not published yet: done after it is

  // The segment durations and the presentation's start, from what the transcoder wrote.
  std::vector<double> durations;
  if (master.ok()) {
    const std::string variant = captions::first_variant_uri(*master);
    if (!variant.empty())
      if (auto media = storage.get(prefix + variant); media.ok())
        durations = captions::segment_durations(*media);
  }
  const int64_t start_90k = mpd.ok() ? captions::presentation_start_90k(*mpd) : 0;

  std::vector<captions::TextTrack> text;
  for (const auto& c : tracks) {
    STREAMLET_ASSIGN_OR_RETURN(auto source,
                               storage.get(caption_source_key(video_id, c.language), captions::kMaxBytes * 2));
    STREAMLET_ASSIGN_OR_RETURN(auto cues, captions::parse(source));
    STREAMLET_RETURN_IF_ERROR(storage.put(prefix + caption_file(c.language), source));
    if (!durations.empty()) {
      const auto segmented = captions::segment(cues, durations, start_90k);
      const std::string dir = prefix + "subs/" + c.language + "/";
      for (size_t i = 0; i < segmented.segments.size(); ++i)
        STREAMLET_RETURN_IF_ERROR(storage.put(
            dir + captions::SegmentedSubtitles::segment_name(i), segmented.segments[i]));
      STREAMLET_RETURN_IF_ERROR(storage.put(prefix + playlist_of(c.language), segmented.playlist));
    }
    text.push_back({c.language, c.label, playlist_of(c.language), caption_file(c.language)});
  }
  // The manifests last: each names only files already there, and is replaced whole.
  if (master.ok() && !durations.empty())
    STREAMLET_RETURN_IF_ERROR(storage.put(prefix + "master.m3u8",
                                          captions::hls_master_with_subtitles(*master, text)));
  if (mpd.ok())
    STREAMLET_RETURN_IF_ERROR(
        storage.put(prefix + "manifest.mpd", captions::dash_with_text_tracks(*mpd, text)));

  // Files of tracks that are gone: nothing names them any more.
  std::set<std::string> keep;
  for (const auto& c : tracks) keep.insert(c.language);
  std::vector<std::string> stale;
  STREAMLET_RETURN_IF_ERROR(storage.list(prefix + "subs/", [&](const storage::ObjectInfo& o) {
    std::string rest = o.key.substr(prefix.size() + 5);  // after "subs/"
    const size_t cut = rest.find('/');
    std::string language = cut == std::string::npos ? rest.substr(0, rest.rfind(".vtt")) : rest.substr(0, cut);
    if (!keep.count(language)) stale.push_back(o.key);
    return true;
  }));
  for (const auto& key : stale) (void)storage.remove(key);
  return Status::Ok();
}

}  // namespace streamlet::platform::internal
