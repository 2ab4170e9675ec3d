#include "streamlet/log.hpp"

#include <string>

namespace streamlet {

Result<LogLevel> parse_log_level(std::string_view text) {
  if (text == "error") return LogLevel::kError;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "info") return LogLevel::kInfo;
  if (text == "debug") return LogLevel::kDebug;
  return error(ErrorCode::kInvalidArgument,
               "log level must be error, warn, info or debug (got \"" + std::string(text) + "\")");
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "warn";
}

}  // namespace streamlet
