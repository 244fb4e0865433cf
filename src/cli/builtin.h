// The cli stage's own commands (each in its file), registered by RegisterBuiltinCommands().
#pragma once

#include <string>
#include <vector>

#include "steppewatch/rules/pack.h"

namespace steppewatch::cli {

int RunRulesCommand(int argc, char** argv);    // rules_command.cc
int RunMatchCommand(int argc, char** argv);    // match_command.cc
int RunExplainCommand(int argc, char** argv);  // explain_command.cc
int RunStoriesCommand(int argc, char** argv);  // stories_command.cc
int RunVersionCommand(int argc, char** argv);  // builtin.cc

// Prints `d` of the pack at `dir` to stderr as "DIR/FILE:LINE:COLUMN: KIND: MESSAGE" (KIND
// "error" or "warning"); a diagnostic of the whole pack is reported as "DIR: KIND: MESSAGE".
void PrintDiagnostic(const std::string& dir, const rules::Diagnostic& d, const char* kind);

// Loads the pack at `dir` for a command; on failure prints every diagnostic (prefixed with
// `dir/`) and a count to stderr and returns null.
std::shared_ptr<const rules::CompiledPack> LoadPackOrPrint(const std::string& dir,
                                                           const rules::PackOptions& options = {});

// Formats a byte count for people: "812 B", "1.4 KiB", "12.0 MiB".
std::string HumanBytes(size_t bytes);

}  // namespace steppewatch::cli
