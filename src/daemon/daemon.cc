// steppewatchd's top level (see daemon.h).
#include "steppewatch/daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "steppewatch/common/flags.h"
#include "steppewatch/common/log.h"
#include "steppewatch/common/notification.h"
#include "steppewatch/common/version.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/daemon/component_options.h"
#include "steppewatch/daemon/demo.h"
#include "steppewatch/daemon/reloader.h"
#include "steppewatch/daemon/systemd_notify.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "steppewatch/metrics/metrics.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/pipeline/stats.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::daemon {
namespace {

constexpr char kLog[] = "steppewatchd";

// Blocks the signals the main loop handles, in the calling thread (and so in every thread it
// creates afterwards), and returns a signalfd that reads them; -1 on error.
int BlockSignalsAndOpenFd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// Waits up to `timeout` for a signal; returns its number or 0.
int WaitSignal(int fd, absl::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  const int ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  if (poll(&p, 1, ms) <= 0) return 0;
  signalfd_siginfo info;
  if (read(fd, &info, sizeof(info)) != sizeof(info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

std::string PackSummary(const rules::CompiledPack& pack, const rules::TestReport& tests) {
  const rules::PackInfo& info = pack.info();
  const rules::PackStats& st = pack.stats();
  return log::Cat("rule pack ", info.name, " ", info.version, " (", info.hash, "): ", st.rules,
                  " rules (", st.enabled_rules, " enabled), ", st.terms, " terms, ",
                  rules::DescribeTestCounts(tests));
}

// Logs a multi-line text as one line per line, each with `prefix`.
void LogLines(log::Level level, std::string_view prefix, std::string_view text) {
  for (std::string_view rest = text; !rest.empty();) {
    const size_t nl = rest.find('\n');
    log::Line(level, kLog, log::Cat(prefix, rest.substr(0, nl)));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
}

}  // namespace

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
                    and every error, and exit (0 = valid, 2 = problems)
  --version         print versions and exit
  --help            this text

stdout lines (stable, for scripts):
  steppewatchd: embedded Kafka broker at HOST:PORT
  steppewatchd: metrics on http://HOST:PORT/metrics
  steppewatchd: ready
Logs go to stderr.

signals:
  SIGTERM, SIGINT   stop taking input, finish in-flight items within
                    pipeline.shutdown_budget_seconds, store offsets, close, exit 0;
                    a second one exits at once (130), storing nothing more
  SIGHUP            reload the rule pack (kept only if it compiles and its tests pass)

)" + ExitCodeTable();
}

std::string ExitCodeTable() {
  return R"(exit codes:
  0    stopped cleanly after SIGTERM/SIGINT (every consumed item finished, offsets stored);
       --check-config: the configuration and the rule pack are valid
  1    start-up or runtime failure: metrics address taken, embedded broker or Kafka clients
       could not start, signal handling unavailable
  2    bad flags, configuration or rule pack (every problem is logged with its file:line or
       environment variable; --check-config prints them all)
  3    fatal Kafka producer error: restart (items whose offsets were not stored are consumed
       again, nothing is lost)
  130  a second SIGTERM/SIGINT during the drain: exited at once, storing nothing more
)";
}

bool ParseFlags(const std::vector<std::string>& args, DaemonFlags* flags, bool* help, bool* version,
                std::string* error) {
  cmdline::Flags parsed({"config", "rules", "brokers", "demo", "set"},
                        {"embedded", "demo-exit", "check-config", "version"});
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

int RunDaemon(const DaemonFlags& flags) {
  // Before any thread exists (librdkafka's, the reloader's, civetweb's): they all inherit the
  // blocked mask, so the signals reach only the signalfd read by the main loop.
  const int signal_fd = BlockSignalsAndOpenFd();
  if (signal_fd < 0) {
    SW_LOG(kError, kLog, "cannot set up signal handling: ", std::strerror(errno));
    return kExitRuntimeError;
  }

  // --- configuration ---
  config::LoadOptions load;
  const bool config_given = !flags.config_path.empty();
  load.path = config_given ? flags.config_path : std::string(config::kDefaultConfigPath);
  // Without --config the default file may be missing (the demo, a container configured by
  // environment): the defaults apply. An explicitly named file must exist.
  load.allow_missing_file = !config_given;
  load.env = config::ProcessEnvironment();
  if (!flags.rules_dir.empty()) load.overrides.push_back("rules.dir=" + flags.rules_dir);
  if (!flags.brokers.empty()) load.overrides.push_back("kafka.brokers=" + flags.brokers);
  if (flags.embedded) load.overrides.push_back("kafka.brokers=embedded");
  for (const std::string& o : flags.overrides) load.overrides.push_back(o);
  std::vector<std::string> config_warnings;
  config::Origins origins;
  load.warnings = &config_warnings;
  load.origins = &origins;
  absl::StatusOr<config::DaemonConfig> loaded = config::LoadConfig(load);
  if (!loaded.ok()) {
    LogLines(log::Level::kError, "configuration: ", std::string(loaded.status().message()));
    return kExitConfigError;
  }
  const config::DaemonConfig cfg = *std::move(loaded);
  const LogOptions log_options = LogOptionsFrom(cfg);
  log::SetMinLevel(log_options.level);
  log::SetFormat(log_options.format);
  SW_LOG(kInfo, kLog, "steppewatchd ", Version(), " (", LibraryVersions(), ") instance ",
         cfg.instance);
  if (config_given || std::filesystem::exists(load.path)) {
    SW_LOG(kInfo, kLog, "configuration from ", load.path);
  } else {
    SW_LOG(kInfo, kLog, "no ", load.path, ": built-in defaults, environment and flags");
  }
  for (const std::string& w : config_warnings) SW_LOG(kWarning, kLog, "configuration: ", w);

  // What parsing cannot see: the librdkafka configurations, the metrics address (bound by
  // --check-config only: at start the server binds it and reports it), the cache directory.
  const config::PreflightReport preflight = config::Preflight(
      cfg, origins, {.check_listen = flags.check_config, .check_brokers = flags.check_config});
  for (const std::string& w : preflight.warnings) SW_LOG(kWarning, kLog, "configuration: ", w);
  std::vector<std::string> errors = preflight.errors;

  // --- rule pack ---
  rules::PackOptions pack_options = PackOptionsFrom(cfg);
  if (!preflight.cache_usable) pack_options.matcher.cache_dir.clear();
  const absl::Time pack_start = absl::Now();
  rules::TestReport tests;
  absl::StatusOr<std::shared_ptr<const rules::CompiledPack>> pack =
      LoadAndTestPack(cfg.rules.dir, pack_options, &tests);
  if (!pack.ok()) {
    // One line per problem, each with the pack directory, so the reason is on the line that
    // names the pack.
    const std::string message(pack.status().message());
    for (std::string_view rest = message; !rest.empty();) {
      const size_t nl = rest.find('\n');
      errors.push_back(log::Cat("rule pack ", cfg.rules.dir, ": ", rest.substr(0, nl)));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  } else {
    log::Line(log::Level::kInfo, kLog,
              log::Cat(PackSummary(**pack, tests), " in ",
                       absl::FormatDuration(
                           absl::Trunc(absl::Now() - pack_start, absl::Milliseconds(1)))),
              {{"rule_pack", (*pack)->info().name}, {"rule_pack_hash", (*pack)->info().hash}});
  }
  for (const std::string& e : errors) SW_LOG(kError, kLog, e);

  if (flags.check_config) {
    std::printf("%s\n", config::RenderRedacted(cfg, &origins).c_str());
    for (const std::string& w : config_warnings) std::printf("warning: %s\n", w.c_str());
    for (const std::string& w : preflight.warnings) std::printf("warning: %s\n", w.c_str());
    if (!errors.empty()) {
      for (const std::string& e : errors) std::printf("error: %s\n", e.c_str());
      std::printf("%zu error(s): steppewatchd would not start with this configuration\n",
                  errors.size());
      return kExitConfigError;
    }
    const size_t warnings = config_warnings.size() + preflight.warnings.size();
    std::printf("%s\nconfiguration and rule pack OK%s\n", PackSummary(**pack, tests).c_str(),
                warnings == 0 ? "" : log::Cat(" (", warnings, " warning(s) above)").c_str());
    return kExitOk;
  }
  if (!errors.empty()) return kExitConfigError;

  // --- Kafka ---
  const bool embedded = cfg.kafka.brokers == "embedded";
  std::vector<std::string> alert_topics = {cfg.kafka.default_alert_topic};
  for (const std::string& t : (*pack)->topics()) {
    if (std::find(alert_topics.begin(), alert_topics.end(), t) == alert_topics.end()) {
      alert_topics.push_back(t);
    }
  }
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  std::string bootstrap = cfg.kafka.brokers;
  if (embedded) {
    const kafka::EmbeddedBrokerOptions eo = EmbeddedBrokerOptionsFrom(cfg, alert_topics);
    auto made = kafka::EmbeddedBroker::Create(eo);
    if (!made.ok()) {
      SW_LOG(kError, kLog, made.status());
      return kExitRuntimeError;
    }
    broker = *std::move(made);
    bootstrap = broker->bootstrap();
    std::printf("steppewatchd: embedded Kafka broker at %s\n", bootstrap.c_str());
    std::fflush(stdout);
    SW_LOG(kInfo, kLog, "embedded broker at ", bootstrap, " with ", eo.topics.size(), " topics of ",
           cfg.kafka.embedded.partitions, " partitions");
  }
  kafka::PipelineOptions po = PipelineOptionsFrom(cfg, bootstrap);
  const MainLoopOptions loop_options = MainLoopOptionsFrom(cfg);

  const int workers = po.workers;
  pipeline::Stats stats(workers);
  pipeline::PackHolder packs(*pack);
  stats.health().rules_loaded.store(true);
  stats.health().main_loop_heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos());

  absl::StatusOr<std::unique_ptr<SystemdNotifier>> notifier =
      SystemdNotifier::Create(SystemdNotifierOptions::FromEnvironment());
  if (!notifier.ok()) {
    SW_LOG(kWarning, kLog, "systemd notify disabled: ", notifier.status());
    notifier = SystemdNotifier::Create(SystemdNotifierOptions{});
    if (!notifier.ok()) return kExitRuntimeError;
  }

  // --- rule reloader (SIGHUP, directory changes) ---
  ReloaderOptions ro = ReloaderOptionsFrom(cfg);
  ro.pack_options = pack_options;  // without the cache when it is unusable
  ro.notifier = notifier->get();
  absl::StatusOr<std::unique_ptr<RuleReloader>> reloader = RuleReloader::Create(&packs, ro);
  if (!reloader.ok()) {
    SW_LOG(kError, kLog, "rule reloader: ", reloader.status());
    return kExitRuntimeError;
  }
  (*reloader)->MarkInitialPack(absl::Now());

  // --- metrics (/metrics, /healthz, /readyz) ---
  const metrics::MetricsOptions mo = MetricsOptionsFrom(cfg);
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!cfg.metrics.listen.empty()) {
    const ReloadCounters* rc = &(*reloader)->counters();
    auto server = metrics::StartMetricsServer(
        mo, {.stats = &stats, .packs = &packs, .reloads = [rc] {
               return metrics::ReloadSnapshot{
                   rc->success.load(), rc->failure.load(), rc->unchanged.load(),
                   rc->last_success_unix_seconds.load(), rc->last_duration_seconds.load()};
             }});
    if (!server.ok()) {
      SW_LOG(kError, kLog, "metrics on ", cfg.metrics.listen, ": ", server.status());
      return kExitRuntimeError;
    }
    metrics_server = *std::move(server);
    const std::string host = cfg.metrics.listen.substr(0, cfg.metrics.listen.rfind(':'));
    std::printf("steppewatchd: metrics on http://%s:%d/metrics\n", host.c_str(),
                metrics_server->port());
    std::fflush(stdout);
  }

  // --- pipeline ---
  absl::StatusOr<std::unique_ptr<kafka::KafkaPipeline>> pipe =
      kafka::KafkaPipeline::Create(po, &packs, &stats);
  if (!pipe.ok()) {
    SW_LOG(kError, kLog, pipe.status());
    return kExitConfigError;
  }
  if (absl::Status st = (*pipe)->Start(); !st.ok()) {
    SW_LOG(kError, kLog, st);
    return kExitRuntimeError;
  }

  std::unique_ptr<DemoFeed> demo;
  if (!flags.demo_file.empty()) {
    auto made = DemoFeed::Create({.bootstrap = bootstrap,
                                  .items_file = flags.demo_file,
                                  .input_topic = cfg.kafka.input_topics.front(),
                                  .alert_topics = alert_topics,
                                  .partitions = cfg.kafka.embedded.partitions,
                                  .dead_letter_topic = cfg.kafka.dead_letter_topic},
                                 &stats);
    if (!made.ok()) {
      SW_LOG(kError, kLog, made.status());
      return kExitConfigError;
    }
    demo = *std::move(made);
    if (absl::Status st = demo->Start(); !st.ok()) {
      SW_LOG(kError, kLog, st);
      return kExitRuntimeError;
    }
  }

  (void)(*notifier)->Ready(log::Cat("processing ", cfg.kafka.input_topics.size(), " topic(s) with ",
                                    workers, " worker(s)"));
  std::printf("steppewatchd: ready\n");
  std::fflush(stdout);
  SW_LOG(kInfo, kLog, "ready");

  // --- main loop ---
  // Wakes at least every second (the liveness heartbeat's period, see metrics/health.h), or
  // at the watchdog's pace when systemd asks for more.
  absl::Duration tick = absl::Seconds(1);
  if (auto wd = (*notifier)->watchdog_interval(); wd.has_value()) tick = std::min(tick, *wd);
  std::thread stopper;
  Notification stopped;
  absl::Status stop_status;
  int exit_code = kExitOk;
  bool demo_reported = false;
  auto begin_stop = [&](const char* why) {
    SW_LOG(kInfo, kLog, why, ": draining (budget ", absl::FormatDuration(loop_options.stop_budget),
           "); a second signal exits at once");
    (void)(*notifier)->Stopping("draining");
    const absl::Duration budget = loop_options.stop_budget;
    stopper = std::thread([&, budget] {
      stop_status = (*pipe)->Stop(budget);
      stopped.Notify();
    });
  };
  for (;;) {
    const int sig = WaitSignal(signal_fd, stopper.joinable() ? absl::Milliseconds(100) : tick);
    stats.health().main_loop_heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(),
                                                       std::memory_order_relaxed);
    (void)(*notifier)->KickWatchdogIfDue();
    if (sig == SIGHUP) {
      SW_LOG(kInfo, kLog, "SIGHUP: reloading the rule pack");
      (*reloader)->RequestReload();
    } else if (sig == SIGTERM || sig == SIGINT) {
      if (stopper.joinable()) {
        SW_LOG(kWarning, kLog,
               "second stop signal: exiting now; unfinished items were not "
               "stored and will be consumed again");
        std::fflush(stdout);
        std::_Exit(kExitSecondSignal);
      }
      begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    if ((*pipe)->fatal()) {
      // Nothing more is stored (the pipeline stopped storing at the error); leave at once.
      std::fflush(stdout);
      std::_Exit(kExitKafkaFatal);
    }
    if (demo != nullptr && !demo_reported && demo->Done()) {
      demo_reported = true;
      std::printf("steppewatchd: demo: %zu items processed, %zu alerts printed\n", demo->items(),
                  demo->alerts_printed());
      std::fflush(stdout);
      if (flags.demo_exit && !stopper.joinable()) begin_stop("demo finished");
    }
    if (stopper.joinable() && stopped.HasBeenNotified()) break;
  }
  stopper.join();
  if (!stop_status.ok()) {
    SW_LOG(kWarning, kLog, "stop: ", stop_status);
  } else {
    SW_LOG(kInfo, kLog, "stopped: every consumed item was finished and its offset stored");
  }
  demo.reset();
  (*reloader)->Stop();
  pipe->reset();
  metrics_server.reset();
  broker.reset();
  close(signal_fd);
  return exit_code;
}

}  // namespace steppewatch::daemon
