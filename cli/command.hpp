// streamlet-cli is a set of subcommands, each in its own file, registering
// itself here. A command parses its arguments, calls the library and formats
// the result; it returns the process exit code.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "streamlet/status.hpp"

namespace streamlet::cli {

// Exit codes shared by every command, so scripts can tell bad input from our failure.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,    // our fault or the machine's (I/O, bugs)
  kExitUsage = 2,       // the command line is wrong
  kExitBadInput = 3,    // the input file/URL is not acceptable (not a video, missing, ...)
  kExitCancelled = 130, // interrupted by the user (SIGINT)
  kExitRemote = 4,      // a server refused or failed (upload)
};

// Maps a library Status to the exit code above; the one place that does so.
int exit_code(const Status& status);

// Prints "streamlet-cli <command>: <message>" on stderr, one line.
void print_error(const std::string& command, const std::string& message);

struct Command {
  std::string summary;
  std::function<int(int argc, char** argv)> run;  // argv[0] is the command name
};

std::map<std::string, Command>& commands();

struct RegisterCommand {
  RegisterCommand(const std::string& name, Command command) {
    commands().emplace(name, std::move(command));
  }
};

}  // namespace streamlet::cli
