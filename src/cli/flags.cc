#include "cli/flags.h"

#include <cstdio>

#include "steppewatch/cli/command.h"

namespace steppewatch::cli {

int UsageError(std::string_view command, std::string_view message, std::string_view usage) {
  std::fprintf(stderr, "steppewatch %.*s: %.*s\n\n%.*s", static_cast<int>(command.size()),
               command.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(usage.size()), usage.data());
  return kExitUsage;
}

}  // namespace steppewatch::cli
