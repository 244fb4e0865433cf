// The `steppewatch` CLI's command table. Each command is a function from its arguments to an
// exit code; Main() dispatches argv[1] to it and prints the overview for `--help`.
//
// Adding a command without editing the table's files: define `int RunX(int argc, char** argv)`
// and call RegisterCommand() before Main() runs (src/main/steppewatch_main.cc registers the
// commands of other files, e.g. kafka_commands.h's broker/feed/tail). A static
// CommandRegistration object also works, but only if something else pulls its object file out
// of the static library sw_cli, so prefer the explicit call in main.
//
// Threading: register from the main thread before Main(); Main() runs one command.
#pragma once

#include <string_view>
#include <vector>

namespace steppewatch::cli {

// Exit codes of every command, as a careful CLI has them.
inline constexpr int kExitOk = 0;       // done; for checks: nothing wrong found
inline constexpr int kExitFailure = 1;  // ran, and found failures (errors, failed tests, I/O)
inline constexpr int kExitUsage = 2;    // bad command line: nothing was done

struct Command {
  std::string_view name;     // the word after `steppewatch`
  std::string_view summary;  // one line for `steppewatch --help`
  // Runs the command: argv[0] is the command name. Handles its own `--help` (exit 0). Writes to
  // stdout/stderr and returns the exit code.
  int (*run)(int argc, char** argv) = nullptr;
};

// Adds `command` to the table (a later registration of the same name replaces the earlier).
void RegisterCommand(const Command& command);

// Returns the registered commands, sorted by name.
std::vector<Command> Commands();

// Registers at static-initialisation time (see the caveat above).
struct CommandRegistration {
  explicit CommandRegistration(const Command& command) { RegisterCommand(command); }
};

// Registers the commands of the cli stage's own files: rules, match, explain, version.
void RegisterBuiltinCommands();

// Runs `steppewatch argv[1] ...`; returns the exit code.
int Main(int argc, char** argv);

}  // namespace steppewatch::cli
