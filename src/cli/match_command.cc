#include <cstdio>

#include "cli/builtin.h"
#include "steppewatch/cli/command.h"

namespace steppewatch::cli {

// Lands with the sink stage (next commit).
int RunMatchCommand(int argc, char** argv) {
  std::fprintf(stderr, "steppewatch match: not available in this build yet\n");
  return kExitFailure;
}

}  // namespace steppewatch::cli
