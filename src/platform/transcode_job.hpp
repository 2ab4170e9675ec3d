// What a "transcode" job does: the source in, the published output and what the catalog
// keeps about it out. It changes no status and tells nobody: the lifecycle does that with
// what this returns.
#pragma once

#include <filesystem>
#include <string>

#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/storage.hpp"
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

// Transcodes `input` (a local file) into one publication of `prefix` ("media/<video>/") in
// `out` and returns what the catalog stores (keys relative to "media/": "<video>/master.m3u8").
// A failure's message names the source by `shown` and objects of the output by their name
// inside it, never a machine path or a storage key.
Result<catalog::ReadyInfo> transcode_video(const std::string& input, const std::string& shown,
                                           storage::Storage& out, const std::string& prefix,
                                           const transcode::Options& options,
                                           const jobs::ProgressFn& progress,
                                           const CancelToken& cancel);

}  // namespace streamlet::platform::internal
