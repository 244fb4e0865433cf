// steppewatchd's top level: flags, start-up, the main loop and shutdown, as a function that
// returns the process exit code (src/main/steppewatchd_main.cc only parses argv into
// DaemonFlags).
//
// Start-up: block SIGTERM/SIGINT/SIGHUP (before any thread exists, so every thread inherits the
// mask and the main loop reads them from a signalfd), load the config, load+compile+test the
// rule pack, start the embedded broker if asked, the metrics endpoint, the rule reloader and the
// Kafka pipeline, then READY=1.
// Main loop (the main thread, waking at least every second): main-loop heartbeat (liveness),
// WATCHDOG=1, SIGHUP -> RuleReloader::RequestReload(), fatal Kafka error -> exit 3,
// SIGTERM/SIGINT -> graceful stop on a helper thread within pipeline.shutdown_budget_seconds
// while the loop keeps watching signals; a second SIGTERM/SIGINT exits at once (130) without
// storing anything more (what was stored was delivered).
#pragma once

#include <string>
#include <vector>

namespace steppewatch::daemon {

// Exit codes (documented in `steppewatchd --help` and deploy/README.md by ExitCodeTable()).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;  // start-up failed (broker, metrics port, ...)
inline constexpr int kExitConfigError = 2;   // bad flags, config or rule pack
inline constexpr int kExitKafkaFatal = 3;    // fatal idempotent-producer error: restart me
inline constexpr int kExitSecondSignal = 130;

struct DaemonFlags {
  std::string config_path;    // --config; empty = the default path, which may be missing
  std::string rules_dir;      // --rules: overrides rules.dir
  std::string brokers;        // --brokers: overrides kafka.brokers
  bool embedded = false;      // --embedded: kafka.brokers = embedded
  std::string demo_file;      // --demo FILE: produce these items, print alerts as they arrive
  bool demo_exit = false;     // --demo-exit: exit 0 once every demo alert was printed
  bool check_config = false;  // --check-config: validate config and pack, print, exit
  std::vector<std::string> overrides;  // --set key=value (config.h dotted keys), in order
};

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
