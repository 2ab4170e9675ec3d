// Durable file operations: write-then-rename publication and fsync helpers.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet::detail {

// fsync a file or directory by path.
Status fsync_path(const std::filesystem::path& path);
// Writes `content` to a temporary sibling, fsyncs it, renames it over `path`
// and fsyncs the directory: readers see the old file or the new one.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);
// Status for a failed system call, with errno mapped to a code.
Status errno_status(int err, std::string_view what, const std::filesystem::path& path);

}  // namespace streamlet::detail
