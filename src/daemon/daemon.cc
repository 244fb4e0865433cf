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
#include "steppewatch/common/log.h"
#include "steppewatch/common/notification.h"
#include "steppewatch/common/version.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/daemon/component_options.h"
#include "steppewatch/daemon/demo.h"
#include "steppewatch/daemon/reloader.h"
#include "steppewatch/daemon/systemd_notify.h"
#include "steppewatch/kafka/allocator.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "steppewatch/metrics/metrics.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/pipeline/stats.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/rules/pack_tests.h"
#include "steppewatch/stories/stage.h"
#include "steppewatch/versions/library_versions.h"

namespace steppewatch::daemon {
namespace {

constexpr char kLog[] = "steppewatchd";

// The signals the main loop reads from its signalfd.
sigset_t DaemonSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Blocks the signals the main loop handles, in the calling thread (and so in every thread it
// creates afterwards), and returns a signalfd that reads them (including those that arrived,
// blocked, before); -1 on error.
int BlockSignalsAndOpenFd() {
  BlockDaemonSignals();
  const sigset_t set = DaemonSignalSet();
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// Reads the signals pending on the signalfd during start-up, before the main loop runs: a
// SIGHUP is remembered (the reloader does not exist yet), a stop signal is returned.
class StartupSignals {
 public:
  explicit StartupSignals(int fd) : fd_(fd) {}
  // Returns the first stop signal read (SIGTERM or SIGINT), or 0.
  int PollStop() {
    signalfd_siginfo info;
    while (read(fd_, &info, sizeof(info)) == sizeof(info)) {
      const int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGHUP) {
        if (!reload_pending_) SW_LOG(kInfo, kLog, "SIGHUP before ready: reloading once started");
        reload_pending_ = true;
      } else if (sig == SIGTERM || sig == SIGINT) {
        return sig;
      }
    }
    return 0;
  }
  bool reload_pending() const { return reload_pending_; }

 private:
  const int fd_;
  bool reload_pending_ = false;
};

// Logs a stop signal that came before ready and returns the exit code: nothing was consumed
// yet, so there is nothing to drain or store.
int StopBeforeReady(int sig, std::string_view step) {
  SW_LOG(kInfo, kLog, sig == SIGTERM ? "SIGTERM" : "SIGINT", " before ready (", step,
         "): exiting; nothing was consumed");
  return kExitOk;
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

void BlockDaemonSignals() {
  const sigset_t set = DaemonSignalSet();
  // sigprocmask and signal are async-signal-safe and need no initialised C++ runtime: this runs
  // from .preinit_array, before any constructor. Errors cannot happen with valid arguments.
  // SIGPIPE first: once the mask shows the others blocked, everything here is in place.
  (void)signal(SIGPIPE, SIG_IGN);
  (void)pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

absl::Duration StopDrainBudget(absl::Duration budget) {
  const absl::Duration reserve = std::clamp(budget / 4, absl::Seconds(1), absl::Seconds(10));
  return std::max(budget - reserve, absl::ZeroDuration());
}

int RunDaemon(const DaemonFlags& flags) {
  // Before any thread exists (librdkafka's, the reloader's, civetweb's): they all inherit the
  // blocked mask, so the signals reach only the signalfd read by the main loop.
  const int signal_fd = BlockSignalsAndOpenFd();
  if (signal_fd < 0) {
    SW_LOG(kError, kLog, "cannot set up signal handling: ", std::strerror(errno));
    return kExitRuntimeError;
  }
  StartupSignals early(signal_fd);
  // Also before any thread: glibc's arenas are chosen as threads first allocate
  // (steppewatch/kafka/allocator.h: librdkafka's fetch buffers were faulted in afresh).
  const std::string allocator_line = kafka::TuneAllocator();

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
  if (!flags.demo_file.empty()) {
    // The demo shows both stages: alerts, then stories and a spike. Its items span a month
    // (their times are moved so the newest is now, see DemoOptions::shift_to_now) and arrive
    // in any order over the partitions, so the window covers the month and no warm-up is
    // needed. Flags given with --set still win (they come later).
    for (const char* o :
         {"roles=match,stories", "stories.window_hours=720", "stories.warmup_days=0"}) {
      load.overrides.push_back(o);
    }
  }
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
  SW_LOG(kInfo, kLog, "steppewatchd ", Version(), " (revision ", Revision(), "; ",
         LibraryVersions(), ") instance ", cfg.instance);
  SW_LOG(kInfo, kLog, allocator_line);
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
  if (int sig = early.PollStop(); sig != 0 && !flags.check_config) {
    return StopBeforeReady(sig, "rule pack loaded");
  }

  const bool run_match = HasRole(cfg, "match");
  const bool run_stories = HasRole(cfg, "stories");
  if (run_stories) {
    // The stage's own rules (a spike window of whole buckets, ...), checked as at start.
    auto stage = stories::StoriesStage::Create(StoriesRoleOptionsFrom(cfg, {}).stage);
    if (!stage.ok()) errors.push_back(std::string(stage.status().message()));  // "stories: ..."
  }
  if (!flags.demo_file.empty() && !run_match) {
    errors.push_back("--demo feeds items to the match role: roles must include match");
  }

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
           cfg.kafka.embedded.partitions, " partitions",
           HasRole(cfg, "stories") ? " (the stories role's lease and outputs: 1)" : "");
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
  ro.status_file = flags.reload_status_file;
  absl::StatusOr<std::unique_ptr<RuleReloader>> reloader = RuleReloader::Create(&packs, ro);
  if (!reloader.ok()) {
    SW_LOG(kError, kLog, "rule reloader: ", reloader.status());
    return kExitRuntimeError;
  }
  (*reloader)->MarkInitialPack(absl::Now());
  if (int sig = early.PollStop(); sig != 0) return StopBeforeReady(sig, "reloader started");

  // --- the stories role: created before the metrics server, which serves its metrics ---
  std::unique_ptr<kafka::StoriesRole> stories_role;
  if (run_stories) {
    kafka::StoriesRoleOptions so = StoriesRoleOptionsFrom(cfg, alert_topics, bootstrap);
    // Alone, the role's consumer is the one readiness and the consumer metrics tell about.
    if (!run_match) so.stats = &stats;
    so.fetch_start_stats = &stats;  // labelled role="stories" beside the matcher's
    absl::StatusOr<std::unique_ptr<kafka::StoriesRole>> made = kafka::StoriesRole::Create(so);
    if (!made.ok()) {
      SW_LOG(kError, kLog, "stories: ", made.status());
      return kExitConfigError;
    }
    stories_role = *std::move(made);
    SW_LOG(kInfo, kLog, "stories role: reading ", so.input_topics.size(), " alert topic(s), group ",
           so.group_id, ", window ", absl::FormatDuration(so.stage.window));
  }

  // --- metrics (/metrics, /healthz, /readyz) ---
  const metrics::MetricsOptions mo = MetricsOptionsFrom(cfg);
  // librdkafka's statistics of the pipeline's clients, for /metrics; made before both.
  kafka::ClientStatistics kafka_stats;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!cfg.metrics.listen.empty()) {
    const ReloadCounters* rc = &(*reloader)->counters();
    auto server = metrics::StartMetricsServer(
        mo, {.stats = &stats,
             // The pack's families (steppewatch_rule_pack_info, rules loaded, terms) describe
             // the rules a process evaluates: a stories-only process evaluates none (it took its
             // alert topics from the pack at start and does not watch it), so it exports none,
             // and SteppewatchRulePackMismatch compares the matchers' packs only.
             .packs = run_match ? &packs : nullptr,
             .reloads =
                 [rc] {
                   return metrics::ReloadSnapshot{rc->success.load(),
                                                  rc->failure.load(),
                                                  rc->unchanged.load(),
                                                  rc->last_success_unix_seconds.load(),
                                                  rc->last_duration_seconds.load(),
                                                  rc->last_ok.load(),
                                                  rc->last_attempt_unix_seconds.load(),
                                                  rc->watch_active.load()};
                 },
             .stories = stories_role.get(),
             .kafka_clients = [&kafka_stats] { return kafka_stats.Snapshot(); }});
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
  if (int sig = early.PollStop(); sig != 0) return StopBeforeReady(sig, "metrics started");

  // --- pipeline (the match role) ---
  std::unique_ptr<kafka::KafkaPipeline> pipe;
  if (run_match) {
    po.client_statistics = &kafka_stats;
    absl::StatusOr<std::unique_ptr<kafka::KafkaPipeline>> made =
        kafka::KafkaPipeline::Create(po, &packs, &stats);
    if (!made.ok()) {
      SW_LOG(kError, kLog, made.status());
      return kExitConfigError;
    }
    pipe = *std::move(made);
    if (int sig = early.PollStop(); sig != 0) return StopBeforeReady(sig, "pipeline created");
    if (absl::Status st = pipe->Start(); !st.ok()) {
      SW_LOG(kError, kLog, st);
      return kExitRuntimeError;
    }
  }
  // --- the stories role ---
  if (stories_role != nullptr) {
    if (absl::Status st = stories_role->Start(); !st.ok()) {
      SW_LOG(kError, kLog, st);
      return kExitRuntimeError;
    }
    if (!flags.demo_file.empty()) {
      // The demo's alerts must reach a live stories reader: one that joins later treats the
      // alerts already there as history (replayed, not published). The mock's first group
      // join takes about 3 s; 30 s bounds a broken setup.
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (!stories_role->counters().active.load() && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }

  std::unique_ptr<DemoFeed> demo;
  if (!flags.demo_file.empty()) {
    auto made = DemoFeed::Create({.bootstrap = bootstrap,
                                  .items_file = flags.demo_file,
                                  .input_topic = cfg.kafka.input_topics.front(),
                                  .alert_topics = alert_topics,
                                  .partitions = cfg.kafka.embedded.partitions,
                                  .dead_letter_topic = cfg.kafka.dead_letter_topic,
                                  .stories = stories_role.get(),
                                  .stories_topic = cfg.stories.topic,
                                  .spikes_topic = cfg.stories.spikes_topic},
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
  // Read what came during start-up once more: a SIGHUP read by the checks above is applied
  // now (once, however many came); a stop signal starts the stop below, like in the loop.
  const int early_stop = early.PollStop();
  if (early.reload_pending()) {
    SW_LOG(kInfo, kLog, "SIGHUP received during start-up: reloading the rule pack");
    (*reloader)->RequestReload();
  }

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
  const absl::Duration budget = loop_options.stop_budget;
  absl::Time stop_deadline = absl::InfiniteFuture();
  auto begin_stop = [&](const char* why) {
    SW_LOG(kInfo, kLog, why, ": stopping (budget ", absl::FormatDuration(budget), ", of which ",
           absl::FormatDuration(StopDrainBudget(budget)),
           " to drain); a second signal exits at once");
    (void)(*notifier)->Stopping("draining");
    stop_deadline = absl::Now() + budget;
    stopper = std::thread([&] {
      if (pipe != nullptr) stop_status = pipe->Stop(StopDrainBudget(budget));
      // The stories role stops after the matcher: the matcher's last alerts are delivered by
      // then, and what the role does not read now a standby (or the next start) replays.
      if (stories_role != nullptr) {
        absl::Status st = stories_role->Stop(StopDrainBudget(budget) / 2);
        if (stop_status.ok()) stop_status = st;
      }
      stopped.Notify();
    });
  };
  if (early_stop != 0) begin_stop(early_stop == SIGTERM ? "SIGTERM" : "SIGINT");
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
    if (pipe != nullptr && pipe->fatal()) {
      // Nothing more is stored (the pipeline stopped storing at the error); leave at once.
      std::fflush(stdout);
      std::_Exit(pipe->fatal_kind() == kafka::FatalKind::kFenced ? kExitKafkaFenced
                                                                 : kExitKafkaFatal);
    }
    if (stories_role != nullptr && stories_role->fatal()) {
      // The role's consumer failed, or its producer gave up: it publishes and stores nothing
      // more, so a restart (or the standby instance) must take over; its unstored alerts are
      // consumed again.
      SW_LOG(kError, kLog, "stories role: fatal Kafka error: exiting ", kExitKafkaFatal);
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
    if (stopper.joinable() && absl::Now() >= stop_deadline) {
      // The stop is stuck beyond what was budgeted, typically in the consumer close waiting
      // for a group coordinator that is down. Offsets stored so far were committed by the
      // auto-commit or are lost with the process like every unstored item: all of them are
      // consumed again after a restart, so leaving now loses nothing.
      SW_LOG(kWarning, kLog, "stop budget of ", absl::FormatDuration(budget), " exceeded: exiting ",
             kExitStopBudget, " without finishing the stop; items not stored are consumed again");
      std::fflush(stdout);
      std::_Exit(kExitStopBudget);
    }
  }
  stopper.join();
  if (!stop_status.ok()) {
    SW_LOG(kWarning, kLog, "stop: ", stop_status);
  } else {
    SW_LOG(kInfo, kLog, "stopped: every consumed item was finished and its offset stored");
  }
  demo.reset();
  (*reloader)->Stop();
  pipe.reset();
  stories_role.reset();
  metrics_server.reset();
  broker.reset();
  close(signal_fd);
  return exit_code;
}

}  // namespace steppewatch::daemon
