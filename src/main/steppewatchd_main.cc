// steppewatchd: the Kafka daemon. Parses the flags and runs daemon::RunDaemon (daemon/daemon.h
// documents start-up, the main loop, signals and exit codes).
#include <cstdio>
#include <string>
#include <vector>

#include "steppewatch/common/version.h"
#include "steppewatch/daemon/daemon.h"

int main(int argc, char** argv) {
  namespace d = steppewatch::daemon;
  std::vector<std::string> args(argv + 1, argv + argc);
  d::DaemonFlags flags;
  bool help = false;
  bool version = false;
  std::string error;
  if (!d::ParseFlags(args, &flags, &help, &version, &error)) {
    std::fprintf(stderr, "steppewatchd: %s\n\n%s", error.c_str(), d::UsageText().c_str());
    return d::kExitConfigError;
  }
  if (help) {
    std::printf("%s", d::UsageText().c_str());
    return d::kExitOk;
  }
  if (version) {
    std::printf("steppewatchd %s (%s)\n", steppewatch::Version(),
                steppewatch::LibraryVersions().c_str());
    return d::kExitOk;
  }
  return d::RunDaemon(flags);
}
