// How much a Streamlet program prints: one level for the program's own lines and the
// libraries under it (media::set_log_level applies it to libav). Plain values, no state.
#pragma once

#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet {

// From quietest to loudest; each level prints what the ones before it print, and more.
enum class LogLevel {
  kError,  // failures only
  kWarn,   // and what an operator should look at (the default of streamlet-server)
  kInfo,   // and a line per finished upload, libav's warnings and notes (x264's statistics)
  kDebug,  // and libav's debugging output (much: lines per packet)
};

// "error", "warn" (or "warning"), "info", "debug"; else kInvalidArgument naming the choices.
Result<LogLevel> parse_log_level(std::string_view text);
std::string_view to_string(LogLevel level);

}  // namespace streamlet
