// Where a video's captions live in storage and how they reach its manifests (internal).
//
// The file the owner sent, as WebVTT, is kept under captions/<video>/<lang>.vtt, outside the
// video's media, so a new transcode (which replaces media/<video>/ whole) loses nothing: the
// platform publishes them again after it. Published, a track is media/<video>/subs/<lang>.vtt
// (the DASH sidecar) and media/<video>/subs/<lang>/index.m3u8 with one WebVTT segment per
// media segment; master.m3u8 and manifest.mpd are then rewritten, each replaced whole by one
// committed write, after every file they name is in place.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "streamlet/catalog.hpp"
#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::platform::internal {

std::string caption_source_key(std::string_view video_id, std::string_view language);
std::string caption_sources_prefix(std::string_view video_id);  // "captions/<id>/"
// The published WebVTT of one track, relative to the video's media prefix: "subs/en.vtt".
std::string caption_file(std::string_view language);

// Makes the published media under `media_prefix` carry exactly `tracks` (their sources already
// stored): writes each track's files, rewrites the manifests, then removes the files of
// tracks no longer listed. A video without manifests yet (not transcoded) is left alone: Ok.
Status publish_captions(storage::Storage& storage, std::string_view media_prefix,
                        std::string_view video_id, const std::vector<catalog::Caption>& tracks);

}  // namespace streamlet::platform::internal
