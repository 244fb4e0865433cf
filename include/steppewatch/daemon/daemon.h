// steppewatchd's top level: flags, start-up, the main loop and shutdown, as a function that
// returns the process exit code (src/main/steppewatchd_main.cc only parses argv into
// DaemonFlags).
//
// Start-up: SIGTERM/SIGINT/SIGHUP are blocked and SIGPIPE ignored before main() runs
// (BlockDaemonSignals(), from the executable's .preinit_array and again in main), so every
// thread inherits the mask and the signals wait, pending, for the signalfd of the main loop.
// Then: load the config, load+compile+test the rule pack, start the embedded broker if asked,
// the metrics endpoint, the rule reloader and the Kafka pipeline, then READY=1. Between these
// steps the pending signals are read: SIGTERM/SIGINT before ready exits 0 at once (nothing was
// consumed, so nothing is left to store); SIGHUP before ready is remembered and applied once,
// as one reload, as soon as the reloader runs.
// Main loop (the main thread, waking at least every second): main-loop heartbeat (liveness),
// WATCHDOG=1, SIGHUP -> RuleReloader::RequestReload(), fatal Kafka error -> exit 3,
// SIGTERM/SIGINT -> graceful stop on a helper thread within pipeline.shutdown_budget_seconds
// while the loop keeps watching signals; a second SIGTERM/SIGINT exits at once (130) without
// storing anything more (what was stored was delivered).
// The budget is the whole stop, SIGTERM to exit: the drain gets StopDrainBudget(budget), the
// rest is kept for storing offsets, closing the consumer and flushing the producer. When the
// stop has not finished at the budget (the consumer close waits for an unreachable group
// coordinator, up to the session timeout), the process logs it and exits 4 (kExitStopBudget):
// what was stored by then is committed or, like every unstored item, consumed again, so
// nothing is lost.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace steppewatch::daemon {

// Exit codes (documented in `steppewatchd --help` and deploy/README.md by ExitCodeTable()).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;  // start-up failed (broker, metrics port, ...)
inline constexpr int kExitConfigError = 2;   // bad flags, config or rule pack
inline constexpr int kExitKafkaFatal = 3;    // fatal Kafka errors kept coming: restart me
inline constexpr int kExitStopBudget = 4;    // the stop did not finish within its budget
// Another live member uses this kafka.instance_id (group.instance.id): a restart would fence
// the other one in turn, so supervisors should not restart on it (RestartPreventExitStatus).
inline constexpr int kExitKafkaFenced = 5;
inline constexpr int kExitSecondSignal = 130;

// Returns the part of the stop budget the drain may use: all but a quarter (1 s to 10 s) kept
// for the final offset store, the consumer close and the producer flush, which take well under
// a second against a reachable broker. systemd's TimeoutStopSec and Kubernetes'
// terminationGracePeriodSeconds must exceed the whole budget (tests/deploy checks the shipped
// files).
absl::Duration StopDrainBudget(absl::Duration budget);

struct DaemonFlags {
  std::string config_path;    // --config; empty = the default path, which may be missing
  std::string rules_dir;      // --rules: overrides rules.dir
  std::string brokers;        // --brokers: overrides kafka.brokers
  bool embedded = false;      // --embedded: kafka.brokers = embedded
  std::string demo_file;      // --demo FILE: produce these items, print alerts as they arrive
  bool demo_exit = false;     // --demo-exit: exit 0 once every demo alert was printed
  bool check_config = false;  // --check-config: validate config and pack, print, exit
  std::vector<std::string> overrides;  // --set key=value (config.h dotted keys), in order
  // --reload-status FILE: after each rule reload the daemon replaces FILE with the outcome
  // (see WriteReloadStatus in reloader.h); --reload-and-wait reads it.
  std::string reload_status_file;
  // --reload-and-wait PID: do not run a daemon; send SIGHUP to PID and wait for the outcome of
  // the reload it starts in --reload-status FILE (systemd's ExecReload).
  int reload_and_wait_pid = 0;
  // --reload-timeout SECONDS for --reload-and-wait.
  int reload_timeout_seconds = 90;
};

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and sets SIGPIPE to be ignored (a
// closed log pipe or socket then fails the write with EPIPE instead of killing the process).
// Async-signal-safe and idempotent; called before main() and again at its start.
void BlockDaemonSignals();

// --reload-and-wait: sends SIGHUP to flags.reload_and_wait_pid and waits (up to
// flags.reload_timeout_seconds) for a reload that started after the signal to be recorded in
// flags.reload_status_file. Prints the outcome; returns 0 when the new pack was installed or
// unchanged, kExitConfigError when it was refused (the running pack stays), kExitRuntimeError
// when the signal could not be sent or no outcome came in time.
int ReloadAndWait(const DaemonFlags& flags);

// Runs the daemon; returns the process exit code.
int RunDaemon(const DaemonFlags& flags);

// Parses argv (without argv[0]). Returns false and fills *error on a bad flag; sets *help or
// *version when asked.
bool ParseFlags(const std::vector<std::string>& args, DaemonFlags* flags, bool* help, bool* version,
                std::string* error);

// The text of `steppewatchd --help`.
std::string UsageText();

// The table of exit codes, as printed by --help and quoted in deploy/README.md (a test keeps the
// two equal).
std::string ExitCodeTable();

}  // namespace steppewatch::daemon
