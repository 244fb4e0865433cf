// The cli stage's use of the shared flag parser (common/flags.h), and its usage-error printer.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "steppewatch/common/flags.h"

namespace steppewatch::cli {

using Flags = ::steppewatch::cmdline::Flags;

// Prints "steppewatch COMMAND: message" and the usage to stderr; returns kExitUsage.
int UsageError(std::string_view command, std::string_view message, std::string_view usage);

// Opens the file a command reads (`mode` "rb") or writes ("wb"); "-" is `dash` (stdin or
// stdout). On failure prints "steppewatch COMMAND: cannot open|write PATH: REASON" to stderr and
// returns null.
std::FILE* OpenFile(std::string_view command, const std::string& path, const char* mode,
                    std::FILE* dash);

}  // namespace steppewatch::cli
