// The resume file of upload::Client: upload URLs of unfinished uploads by file identity, as
// {"<key>": {"parts": ["<url>", ...]}, ...}. Every change re-reads the file under an flock on
// "<file>.lock" and publishes it atomically, so processes sharing it keep each other's
// entries and a killed process never leaves a torn file. Losing it only costs a resume.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace streamlet::upload::detail {

class ResumeState {
 public:
  explicit ResumeState(std::filesystem::path path) : path_(std::move(path)) {}
  // The part URLs remembered under `key`; empty when none (or the file is unreadable).
  std::vector<std::string> get(const std::string& key) const;
  // Remembers `parts` under `key`; an empty `parts` forgets the key. Best effort.
  void put(const std::string& key, const std::vector<std::string>& parts) const;

 private:
  std::filesystem::path path_;
};

}  // namespace streamlet::upload::detail
