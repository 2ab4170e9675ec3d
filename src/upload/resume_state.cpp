#include "upload/resume_state.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file_util.hpp"

namespace streamlet::upload::detail {

namespace {

namespace fs = std::filesystem;

// Not JSON, or not an object: treated as empty (the file is a cache of URLs, nothing more).
nlohmann::json load(const fs::path& path) {
  std::ifstream in(path);
  nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

std::vector<std::string> ResumeState::get(const std::string& key) const {
  nlohmann::json state = load(path_);
  std::vector<std::string> parts;
  auto it = state.find(key);
  if (it == state.end() || !it->is_object() || !it->contains("parts") || !(*it)["parts"].is_array())
    return {};
  for (const auto& u : (*it)["parts"]) {
    if (!u.is_string()) return {};
    parts.push_back(u.get<std::string>());
  }
  return parts;
}

void ResumeState::put(const std::string& key, const std::vector<std::string>& parts) const {
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  fs::path lock_path = path_;
  lock_path += ".lock";
  streamlet::detail::Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.valid()) ::flock(lock.get(), LOCK_EX);  // released when `lock` closes
  nlohmann::json state = load(path_);
  if (parts.empty())
    state.erase(key);
  else
    state[key] = {{"parts", parts}};
  (void)streamlet::detail::write_file_atomic(path_, state.dump(1));
}

}  // namespace streamlet::upload::detail
