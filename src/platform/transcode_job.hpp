// What a "transcode" job does: the source in, the published output and what the catalog
// keeps about it out. It changes no status and tells nobody: the lifecycle does that with
// what this returns.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "streamlet/catalog.hpp"
#include "streamlet/jobs.hpp"
#include "streamlet/storage.hpp"
#include "streamlet/transcode.hpp"

namespace streamlet::platform::internal {

// The job's payload: {"source_key": "<storage key of the source>", "upload_id": "...",
// "display_name": "<the uploader's file name>", "transcode": {...}}. "transcode" holds the
// output options the job was enqueued with (ladder, preset, segment and keyframe lengths,
// audio bitrate, which outputs), so whichever worker of a cluster runs it produces the same
// ladder; how the work is run (threads, packets in flight) stays the worker's own. (Jobs of
// earlier versions carry no "transcode" and take the worker's options; the oldest carry
// {"input": "<absolute path>"} instead of a key, still honoured.)
struct TranscodePayload {
  std::string source_key;
  std::string legacy_input_path;
  std::string upload_id;
  std::string display_name = "the uploaded file";
  std::optional<transcode::Options> options;  // nullopt: the worker's own
};
std::string encode_payload(const TranscodePayload& payload);
// kInvalidArgument for a payload without a source or with output options that cannot be
// (an unknown field type, an empty ladder, a non-positive length): not worth a retry.
Result<TranscodePayload> decode_payload(const jobs::Job& job);
// The options a job runs with: the payload's output options over the worker's `local` ones.
transcode::Options job_options(const TranscodePayload& payload, const transcode::Options& local);

// Transcodes `input` (a local file) into one publication of `prefix` ("media/<video>/") in
// `out` and returns what the catalog stores (keys relative to "media/": "<video>/master.m3u8").
// A failure's message names the source by `shown` and objects of the output by their name
// inside it, never a machine path or a storage key.
Result<catalog::ReadyInfo> transcode_video(const std::string& input, const std::string& shown,
                                           storage::Storage& out, const std::string& prefix,
                                           const transcode::Options& options,
                                           const jobs::ProgressFn& progress,
                                           const CancelToken& cancel);

// A video's chunks as jobs of a flow (transcode::chunk_parts): part `part` into `staging`
// ("chunks/<video>/"), and the join of every part into `prefix`, published manifests last.
// Failures are told as transcode_video() tells them.
Status encode_video_part(const std::string& input, const std::string& shown, storage::Storage& out,
                         const std::string& staging, const transcode::Options& options, int part,
                         const jobs::ProgressFn& progress, const CancelToken& cancel);
Result<catalog::ReadyInfo> join_video(const std::string& input, const std::string& shown,
                                      storage::Storage& out, const std::string& staging,
                                      const std::string& prefix, const transcode::Options& options,
                                      const jobs::ProgressFn& progress, const CancelToken& cancel);

}  // namespace streamlet::platform::internal
