#include <cstdio>

#include "cli/builtin.h"
#include "steppewatch/cli/command.h"

namespace steppewatch::cli {

// Lands with the sink stage (next commit).
int RunExplainCommand(int argc, char** argv) {
  std::fprintf(stderr, "steppewatch explain: not available in this build yet\n");
  return kExitFailure;
}

}  // namespace steppewatch::cli
