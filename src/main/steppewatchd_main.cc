// steppewatchd: the Kafka daemon. Parses the flags and runs daemon::RunDaemon (daemon/daemon.h
// documents start-up, the main loop, signals and exit codes).
//
// Signals are taken over before anything else runs: a SIGHUP or SIGTERM that arrives while the
// process still starts (an operator's `systemctl reload` right after `start`, a supervisor that
// gives up early) must not hit the default action, which terminates the process. The mask is
// set twice: from the executable's .preinit_array, which the dynamic loader runs before the
// constructors of every shared library (so before any library could start a thread), and again
// as the first statement of main() (idempotent; covers a loader that skips .preinit_array).
// The blocked signals stay pending until daemon::RunDaemon reads them from a signalfd.
// Before that point the only window left is the dynamic loader's own work between exec and
// .preinit_array (about 1 ms here, 50 shared libraries), where no code of the program runs.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "steppewatch/common/version.h"
#include "steppewatch/daemon/daemon.h"
#include "steppewatch/versions/library_versions.h"

namespace {

// Blocks the stop and reload signals and ignores SIGPIPE in the calling (main) thread. Every
// thread created later inherits the mask. Async-signal-safe and idempotent.
void TakeOverSignals(int /*argc*/, char** /*argv*/, char** /*envp*/) {
  steppewatch::daemon::BlockDaemonSignals();
}

}  // namespace

// Runs before the shared libraries' constructors (ELF .preinit_array, executables only).
__attribute__((section(".preinit_array"),
               used)) static void (*const kTakeOverSignals)(int, char**, char**) = &TakeOverSignals;

int main(int argc, char** argv) {
  steppewatch::daemon::BlockDaemonSignals();
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
    std::printf("steppewatchd %s (revision %s; %s)\n", steppewatch::Version(),
                steppewatch::Revision(), steppewatch::LibraryVersions().c_str());
    return d::kExitOk;
  }
  if (flags.reload_and_wait_pid > 0) return d::ReloadAndWait(flags);
  return d::RunDaemon(flags);
}
