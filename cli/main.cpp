// streamlet-cli: dispatches to the registered subcommands.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "command.hpp"
#include "streamlet/media.hpp"

namespace streamlet::cli {

std::map<std::string, Command>& commands() {
  static std::map<std::string, Command> registry;
  return registry;
}

int exit_code(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk: return kExitOk;
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kInvalidMedia:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kTooLarge:
    case ErrorCode::kAlreadyExists: return kExitBadInput;
    case ErrorCode::kCancelled: return kExitCancelled;
    case ErrorCode::kConflict:
    case ErrorCode::kGone:
    case ErrorCode::kChecksumMismatch:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kRateLimited:
    case ErrorCode::kUnauthenticated: return kExitRemote;
    default: return kExitInternal;
  }
}

void print_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "streamlet-cli %s: %s\n", command.c_str(), message.c_str());
}

}  // namespace streamlet::cli

namespace {
void usage(FILE* out) {
  std::fprintf(out, "usage: streamlet-cli <command> [options]\n\ncommands:\n");
  for (const auto& [name, cmd] : streamlet::cli::commands())
    std::fprintf(out, "  %-10s %s\n", name.c_str(), cmd.summary.c_str());
  std::fprintf(out, "\nRun 'streamlet-cli <command> --help' for a command's options.\n");
}
}  // namespace

int main(int argc, char** argv) {
  using namespace streamlet::cli;
  // libav speaks only when asked: errors reach the user as one line of ours.
  streamlet::media::set_libav_log_level(std::getenv("STREAMLET_LIBAV_LOG")
                                            ? streamlet::media::LibavLogLevel::kInfo
                                            : streamlet::media::LibavLogLevel::kQuiet);
  if (argc < 2) {
    usage(stderr);
    return kExitUsage;
  }
  if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    usage(stdout);
    return kExitOk;
  }
  auto it = commands().find(argv[1]);
  if (it == commands().end()) {
    print_error(argv[1], "unknown command (try 'streamlet-cli --help')");
    return kExitUsage;
  }
  return it->second.run(argc - 1, argv + 1);
}
