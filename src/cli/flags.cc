#include "cli/flags.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "steppewatch/cli/command.h"

namespace steppewatch::cli {

int UsageError(std::string_view command, std::string_view message, std::string_view usage) {
  std::fprintf(stderr, "steppewatch %.*s: %.*s\n\n%.*s", static_cast<int>(command.size()),
               command.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(usage.size()), usage.data());
  return kExitUsage;
}

std::FILE* OpenFile(std::string_view command, const std::string& path, const char* mode,
                    std::FILE* dash) {
  if (path == "-") return dash;
  std::FILE* f = std::fopen(path.c_str(), mode);
  if (f == nullptr) {
    std::fprintf(stderr, "steppewatch %.*s: cannot %s %s: %s\n", static_cast<int>(command.size()),
                 command.data(), mode[0] == 'r' ? "open" : "write", path.c_str(),
                 std::strerror(errno));
  }
  return f;
}

}  // namespace steppewatch::cli
