// The cli stage's use of the shared flag parser (common/flags.h), and its usage-error printer.
#pragma once

#include <string_view>

#include "steppewatch/common/flags.h"

namespace steppewatch::cli {

using Flags = ::steppewatch::cmdline::Flags;

// Prints "steppewatch COMMAND: message" and the usage to stderr; returns kExitUsage.
int UsageError(std::string_view command, std::string_view message, std::string_view usage);

}  // namespace steppewatch::cli
