// What a "transcode" job does: the source in, the published output and what the catalog
// keeps about it out. It changes no status and tells nobody: the lifecycle does that with
// what this returns.
#pragma once

#include <filesystem>
#include <string>

#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/transcode.hpp"

namespace streamlet::platform::internal {

// The job's payload: {"source_key": "<storage key of the source>", "upload_id": "...",
// "display_name": "<the uploader's file name>"}. (Jobs queued by earlier versions carry
// {"input": "<absolute path>"} instead, still honoured.)
struct TranscodePayload {
  std::string source_key;
  std::string legacy_input_path;
  std::string upload_id;
  std::string display_name = "the uploaded file";
};
std::string encode_payload(const TranscodePayload& payload);
Result<TranscodePayload> decode_payload(const jobs::Job& job);

// Transcodes `input` (a local file) into `media_root/<video_id>` and returns what the
// catalog stores (paths relative to the media root). A failure's message names the source
// by `shown` and files of the output by their name inside it, never a machine path.
Result<catalog::ReadyInfo> transcode_video(const std::string& input, const std::string& shown,
                                           const std::filesystem::path& media_root,
                                           const std::string& video_id,
                                           const transcode::Options& options,
                                           const jobs::ProgressFn& progress,
                                           const CancelToken& cancel);

}  // namespace streamlet::platform::internal
