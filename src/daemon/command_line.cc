// steppewatchd's command line (see daemon.h): its flags, the --help text with the exit codes,
// and the --reload-and-wait client mode that systemd's ExecReload runs.
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "steppewatch/common/flags.h"
#include "steppewatch/common/log.h"
#include "steppewatch/daemon/daemon.h"
#include "steppewatch/daemon/reloader.h"

namespace steppewatch::daemon {

int ReloadAndWait(const DaemonFlags& flags) {
  if (flags.reload_status_file.empty()) {
    std::fprintf(stderr, "steppewatchd: --reload-and-wait needs --reload-status FILE\n");
    return kExitConfigError;
  }
  const std::filesystem::path status = flags.reload_status_file;
  // Only reloads that start after the signal count: one already running when it arrives was
  // loading the old files.
  const int64_t sent_ms = absl::ToUnixMillis(absl::Now());
  if (kill(flags.reload_and_wait_pid, SIGHUP) != 0) {
    std::fprintf(stderr, "steppewatchd: cannot signal process %d: %s\n", flags.reload_and_wait_pid,
                 std::strerror(errno));
    return kExitRuntimeError;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(flags.reload_timeout_seconds);
  for (;;) {
    absl::StatusOr<ReloadOutcome> outcome = ReadReloadStatus(status);
    if (outcome.ok() && outcome->started_unix_ms >= sent_ms) {
      if (outcome->result == "refused") {
        std::fprintf(stderr, "steppewatchd: rule reload REFUSED; the running pack %s stays:\n%s",
                     outcome->pack.c_str(), outcome->error.c_str());
        return kExitConfigError;
      }
      std::printf("steppewatchd: rule reload %s: pack %s\n", outcome->result.c_str(),
                  outcome->pack.c_str());
      return kExitOk;
    }
    if (kill(flags.reload_and_wait_pid, 0) != 0 && errno == ESRCH) {
      std::fprintf(stderr, "steppewatchd: process %d exited before reloading\n",
                   flags.reload_and_wait_pid);
      return kExitRuntimeError;
    }
    if (absl::Now() >= deadline) {
      std::fprintf(stderr, "steppewatchd: no reload outcome in %s after %d s\n", status.c_str(),
                   flags.reload_timeout_seconds);
      return kExitRuntimeError;
    }
    // A reload takes milliseconds from the compiled-pack cache, seconds for a cold compile.
    absl::SleepFor(absl::Milliseconds(50));
  }
}

std::string UsageText() {
  return R"(usage: steppewatchd [flags]

Consumes news items from Kafka, matches them against the rule pack and publishes alerts, with
at-least-once delivery (an input offset is committed only after every alert and dead letter of
that item and of all earlier items of its partition was acknowledged).

flags:
  --config FILE     YAML configuration (default /etc/steppewatch/steppewatch.yaml; when that
                    default is missing the built-in defaults are used). Keys and defaults:
                    config/steppewatch.example.yaml; STEPPEWATCH_* environment variables override.
  --rules DIR       rule pack directory (overrides rules.dir)
  --brokers LIST    Kafka bootstrap servers (overrides kafka.brokers), or "embedded"
  --embedded        run an in-process Kafka-protocol broker (librdkafka mock cluster) with the
                    input, alert and dead-letter topics; prints
                    "steppewatchd: embedded Kafka broker at 127.0.0.1:PORT" on stdout so that
                    kcat / steppewatch tail can connect. Nothing survives the process.
  --demo FILE       (embedded mode) produce the JSON-lines items of FILE to the input topic and
                    print every alert readably on stdout as it arrives
  --demo-exit       with --demo: exit 0 once every demo item is processed and its alerts printed
  --set KEY=VALUE   override one config key (dotted, e.g. --set pipeline.workers=2); repeatable
  --check-config    validate the configuration, build both librdkafka configurations, bind the
                    metrics address, check the cache directory, load, compile and test the rule
                    pack; print the effective configuration (secrets redacted), every warning
                    and every error, and exit (0 = valid, 2 = problems). An invalid value stops
                    it earlier: every invalid value is printed with its file:line, and the later
                    checks wait until the configuration is valid
  --reload-status FILE
                    after each rule reload, replace FILE with its outcome (first line
                    "attempt=N started_ms=T finished_ms=T result=installed|unchanged|refused
                    pack=HASH", then the errors of a refused pack)
  --reload-and-wait PID
                    with --reload-status FILE: do not run a daemon; send SIGHUP to PID, wait
                    for the outcome of the reload it starts and exit 0 (installed or unchanged),
                    2 (refused: the running pack stays) or 1 (no outcome within
                    --reload-timeout SECONDS, default 90). systemd's ExecReload uses it, so
                    `systemctl reload` fails when the new pack is refused.
  --version         print versions and exit
  --help            this text

stdout lines (stable, for scripts):
  steppewatchd: embedded Kafka broker at HOST:PORT
  steppewatchd: metrics on http://HOST:PORT/metrics
  steppewatchd: ready
Logs go to stderr.

signals (handled from the first instruction on; never the default action):
  SIGTERM, SIGINT   stop taking input, finish in-flight items, store offsets, close, exit 0,
                    all within pipeline.shutdown_budget_seconds (the whole stop); a stop not
                    finished at the budget exits 4. Before "ready": exit 0 at once (nothing
                    consumed). A second one exits at once (130), storing nothing more
  SIGHUP            reload the rule pack (kept only if it compiles and its tests pass); one
                    that arrives before "ready" is applied once, right after start-up
  SIGPIPE           ignored: a closed log pipe or socket is a write error, counted in
                    steppewatch_log_write_errors_total

)" + ExitCodeTable();
}

std::string ExitCodeTable() {
  return R"(exit codes:
  0    stopped cleanly after SIGTERM/SIGINT (every consumed item finished, offsets stored);
       --check-config: the configuration and the rule pack are valid
  1    start-up or runtime failure: metrics address taken, embedded broker or Kafka clients
       could not start, signal handling unavailable
  2    bad flags, configuration or rule pack (every problem is logged with its file:line or
       environment variable; --check-config prints them all); with --reload-and-wait: the
       reload was refused (the running pack stays)
  3    fatal Kafka error that in-process recovery could not cure: restart (items whose offsets
       were not stored are consumed again, nothing is lost)
  4    stop budget exceeded: exited without finishing the stop (unstored items are consumed
       again; nothing is lost)
  5    fenced: another live instance has this kafka.instance_id (do not restart)
  130  a second SIGTERM/SIGINT during the drain: exited at once, storing nothing more
)";
}

bool ParseFlags(const std::vector<std::string>& args, DaemonFlags* flags, bool* help, bool* version,
                std::string* error) {
  cmdline::Flags parsed({"config", "rules", "brokers", "demo", "set", "reload-status",
                         "reload-and-wait", "reload-timeout"},
                        {"embedded", "demo-exit", "check-config", "version"},
                        /*repeatable=*/{"set"});
  if (!parsed.Parse(args)) {
    *error = parsed.error();
    return false;
  }
  if (!parsed.positional().empty()) {
    *error = "unexpected argument '" + parsed.positional().front() + "' (flags only; see --help)";
    return false;
  }
  *help = parsed.help();
  *version = parsed.Has("version");
  flags->config_path = parsed.Get("config").value_or(flags->config_path);
  flags->rules_dir = parsed.Get("rules").value_or(flags->rules_dir);
  flags->brokers = parsed.Get("brokers").value_or(flags->brokers);
  flags->demo_file = parsed.Get("demo").value_or(flags->demo_file);
  flags->embedded = flags->embedded || parsed.Has("embedded");
  flags->demo_exit = flags->demo_exit || parsed.Has("demo-exit");
  flags->check_config = flags->check_config || parsed.Has("check-config");
  flags->reload_status_file = parsed.Get("reload-status").value_or(flags->reload_status_file);
  for (const char* name : {"reload-and-wait", "reload-timeout"}) {
    if (!parsed.Has(name)) continue;
    int64_t n = 0;
    if (!parsed.GetInt(name, 1, INT32_MAX, &n)) {
      *error = log::Cat("--", name, " needs a positive number, got '",
                        parsed.Get(name).value_or(""), "'");
      return false;
    }
    (std::string_view(name) == "reload-and-wait" ? flags->reload_and_wait_pid
                                                 : flags->reload_timeout_seconds) =
        static_cast<int>(n);
  }
  for (const std::string& kv : parsed.GetAll("set")) {
    if (kv.find('=') == std::string::npos) {
      *error = "--set needs KEY=VALUE, got '" + kv + "'";
      return false;
    }
    flags->overrides.push_back(kv);
  }
  if (!flags->demo_file.empty() && !flags->embedded && flags->brokers != "embedded") {
    *error = "--demo needs embedded mode (--embedded)";
    return false;
  }
  return true;
}

}  // namespace steppewatch::daemon
