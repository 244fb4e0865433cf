// RuleReloader: hot reload of the rule pack, off the hot path. On request (SIGHUP, through
// RequestReload()) and when the rules directory changes (inotify), it loads and compiles the
// pack, runs every rule's embedded tests, and only when all passed installs the new pack with
// pipeline::PackHolder::Swap(). Otherwise the running pack stays, the errors are logged with
// file:line:column and the failure is counted. Workers never wait: they keep evaluating with the
// pack they hold and pick up the new one at their next item (PackHolder's contract).
//
// Outcome: every finished attempt updates counters() (lock-free, for the metrics: whether the
// last attempt succeeded and when) and, when ReloaderOptions::status_file is set, replaces that
// file (WriteReloadStatus) so that `steppewatchd --reload-and-wait` (systemd's ExecReload) can
// report a refused pack as a failed `systemctl reload`.
//
// Watching: inotify on the DIRECTORY tree (the root and every subdirectory the pack loader
// reads), never on files, because Kubernetes updates a mounted ConfigMap by writing a new
// hidden `..<timestamp>` directory and renaming a `..data` symlink over the old one: the files
// the pack sees are symlinks whose inodes never change. Events arrive in bursts (an editor's
// temp-file-and-rename, `git pull`, rsync, kubelet's swap), so a reload waits for the directory
// to be quiet for `debounce` (but never longer than `max_debounce` after the first event): a
// reload at the first event would compile a half-written pack and count a spurious failure.
// A reload whose result has the same pack hash as the running pack swaps nothing.
// When the rules directory itself goes away (`rm -rf` then a copy, a volume remounted) its
// watches die with it; the thread then retries every `rewatch_period` and, once the directory
// is back, watches it again and reloads (counters().watch_active says which state it is in).
//
// Threading: one background thread owns the inotify descriptor and does every load/compile/test,
// so a slow compile (seconds for a 10k-rule pack) delays only the next reload. RequestReload()
// is async-signal-safe (one write(2) to an eventfd), so a SIGHUP handler may call it directly.
// counters() are lock-free atomics for the metrics scrape; status() takes a mutex and copies.
// Memory: while a candidate compiles, the old and the new pack both live.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"  // absl::Now() for callers building deadlines
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::pipeline {
class PackHolder;
}

namespace steppewatch::daemon {

class SystemdNotifier;

// Loads, compiles and tests the pack in `dir`; returns it only when every embedded test passed.
using PackLoader = std::function<absl::StatusOr<std::shared_ptr<const rules::CompiledPack>>(
    const std::filesystem::path& dir)>;

// The default PackLoader: rules::CompiledPack::Load(dir, options) followed by
// rules::CheckPackTests, the runner `steppewatch rules test` uses (tests of disabled rules are
// skipped there and here alike). Errors list one problem per line, each starting with
// "file:line:column: ". `report`, when not null, receives the test counts.
absl::StatusOr<std::shared_ptr<const rules::CompiledPack>> LoadAndTestPack(
    const std::filesystem::path& dir, const rules::PackOptions& options,
    rules::TestReport* report = nullptr);

// How often one rule fired on the reload gate's sample, under the running and the candidate pack.
struct RuleHitDiff {
  std::string rule;     // rule id
  uint64_t before = 0;  // items the running pack's rule fired on (0 if the rule is new)
  uint64_t after = 0;   // items the candidate's rule fired on (0 if the rule was removed)
};

// The reload gate: replays the JSONL items of `sample` (one JSON news item per line, at most
// `max_items`) through `before` and `after` with the workers' pipeline::ItemProcessor built
// from `processor` (the daemon's decoder.fields and limits) and returns, sorted by rule id,
// every rule whose number of firing items differs. Lines that do not decode are dead letters
// for either pack alike, so they count for no rule.
absl::StatusOr<std::vector<RuleHitDiff>> CompareOnSample(
    std::shared_ptr<const rules::CompiledPack> before,
    std::shared_ptr<const rules::CompiledPack> after, const std::filesystem::path& sample,
    size_t max_items, const pipeline::ProcessorOptions& processor = {});

struct ReloaderOptions {
  // The pack directory (the same one the daemon loaded at startup).
  std::filesystem::path rules_dir;
  // Watch rules_dir with inotify; false leaves only RequestReload() (SIGHUP).
  bool watch = true;
  // Quiet time after the last file event before reloading: long enough to cover one writer's
  // burst (kubelet's swap, git checkout of a few hundred files: tens of ms), short enough that
  // an analyst's save is live within a second.
  absl::Duration debounce = absl::Milliseconds(500);
  // Upper bound on the delay from the first event: a directory that never goes quiet (a sync
  // tool writing continuously) still reloads every few seconds.
  absl::Duration max_debounce = absl::Seconds(5);
  // Options for the default loader (matcher cache dir, limits).
  rules::PackOptions pack_options;
  // Overrides the default loader (LoadAndTestPack with pack_options). Called on the reloader's
  // thread only.
  PackLoader loader;
  // Optional reload gate (config rules.reload_gate_sample): a JSONL sample replayed through the
  // running and the candidate pack before the swap; the per-rule difference in firing items is
  // logged. It informs, it does not block: the embedded tests are the pass/fail gate.
  std::filesystem::path gate_sample;
  // How the gate decodes and processes the sample: the workers' options (decoder.fields, ...).
  pipeline::ProcessorOptions processor;
  // Items of the sample used: the replay runs twice per reload on the reloader thread, so this
  // bounds the delay it adds (10k items of 3 KB: well under a second per pack here).
  size_t gate_max_items = 10000;
  // Told RELOADING=1 before and READY=1 after every reload; may be null. Not owned.
  SystemdNotifier* notifier = nullptr;
  // When not empty, replaced after every attempt with its outcome (WriteReloadStatus).
  std::filesystem::path status_file;
  // While the rules directory is gone (its watch removed), how often to try watching it again.
  absl::Duration rewatch_period = absl::Seconds(1);
};

// The outcome of one reload attempt, as the status file records it.
struct ReloadOutcome {
  uint64_t attempt = 0;         // 1 for the first attempt since start-up
  int64_t started_unix_ms = 0;  // wall clock when the load began
  int64_t finished_unix_ms = 0;
  std::string result;  // "installed", "unchanged" or "refused"
  std::string pack;    // hash of the pack running afterwards
  std::string error;   // refused: the loader's message (one problem per line)
};

// Replaces `path` atomically (write a sibling temporary, rename) with
//   attempt=N started_ms=T finished_ms=T result=R pack=HASH
// followed by the error lines, if any. Returns the error when the file cannot be written.
absl::Status WriteReloadStatus(const std::filesystem::path& path, const ReloadOutcome& outcome);
// Parses what WriteReloadStatus wrote; NotFound when the file does not exist.
absl::StatusOr<ReloadOutcome> ReadReloadStatus(const std::filesystem::path& path);

// Lock-free counters for the metrics stage (read at scrape time with relaxed loads).
struct ReloadCounters {
  std::atomic<uint64_t> success{0};    // a new pack was installed
  std::atomic<uint64_t> failure{0};    // load, compile or an embedded test failed; old pack kept
  std::atomic<uint64_t> unchanged{0};  // loaded fine, same hash as the running pack: no swap
  // Unix time (seconds) of the last install; 0 until the first successful reload. The daemon
  // may also set it at startup with the initial pack (MarkInitialPack()).
  std::atomic<double> last_success_unix_seconds{0};
  // Unix time and duration of the last attempt, whatever its result.
  std::atomic<double> last_attempt_unix_seconds{0};
  std::atomic<double> last_duration_seconds{0};
  // Whether the last attempt ended with the pack on disk running (installed or unchanged);
  // true until the first attempt (the start-up pack is the one on disk).
  std::atomic<bool> last_ok{true};
  // Whether the rules directory is watched now (false when watching is off or the directory
  // is gone and not back yet).
  std::atomic<bool> watch_active{false};
};

// A copy of the reloader's state for logs, status lines and tests.
struct ReloaderStatus {
  uint64_t attempts = 0;  // finished attempts, all results
  uint64_t success = 0;
  uint64_t failure = 0;
  uint64_t unchanged = 0;
  rules::PackInfo running;  // name, version, hash of the pack in the holder
  std::string last_error;   // of the last failed attempt; empty if none failed yet
  absl::Time last_success = absl::InfinitePast();
};

// Owned by the daemon, created after the initial pack is in the holder and destroyed (or
// Stop()ped) before the holder and the notifier.
class RuleReloader {
 public:
  // Starts the reloader thread and, when options.watch, the directory watch. Fails when the
  // directory cannot be watched (missing, or the inotify watch limit is reached).
  static absl::StatusOr<std::unique_ptr<RuleReloader>> Create(pipeline::PackHolder* holder,
                                                              ReloaderOptions options);
  ~RuleReloader();
  RuleReloader(const RuleReloader&) = delete;
  RuleReloader& operator=(const RuleReloader&) = delete;

  // Asks for a reload as soon as the thread is free (no debounce: an operator asked). Requests
  // that arrive while a reload runs coalesce into one more reload. Async-signal-safe.
  void RequestReload();

  // Stops the thread; waits for a reload in progress to finish (a compile cannot be
  // interrupted). Idempotent.
  void Stop();

  // Records the startup pack's load time as the last success (for the "last reload" gauge).
  void MarkInitialPack(absl::Time loaded_at);

  const ReloadCounters& counters() const { return counters_; }
  ReloaderStatus status() const;

  // Waits until at least `attempts` reload attempts have finished or `timeout` passed; returns
  // whether they had. For tests and for tools that reload once and report.
  bool AwaitAttempts(uint64_t attempts, absl::Duration timeout) const;

 private:
  RuleReloader(pipeline::PackHolder* holder, ReloaderOptions options, int inotify_fd, int wake_fd);
  void Run();
  enum class Trigger { kRequest, kFiles };
  void ReloadOnce(Trigger trigger);
  // Logs the reload gate's per-rule differences between the running pack and the candidate.
  void LogGate(std::shared_ptr<const rules::CompiledPack> running,
               std::shared_ptr<const rules::CompiledPack> candidate);
  // Logs each alert topic `after` sends to that `before` did not.
  void LogNewTopics(const rules::CompiledPack& before, const rules::CompiledPack& after);
  // Re-adds a watch on the root and every subdirectory the loader reads; drops stale ones.
  absl::Status SyncWatches();
  // Reads every pending inotify event; returns true when one of them is a change. Clears
  // root_watched_ when the root directory's watch went away (deleted or moved).
  bool DrainEvents();

  pipeline::PackHolder* const holder_;
  const ReloaderOptions options_;
  const int inotify_fd_;       // -1 when not watching
  const int wake_fd_;          // eventfd: RequestReload() and Stop()
  std::vector<int> watched_;   // inotify watch descriptors; Create() and then the thread only
  int root_wd_ = -1;           // the root's watch descriptor; thread only (after Create())
  bool root_watched_ = false;  // thread only (after Create())
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_requested_{false};
  ReloadCounters counters_;

  mutable Mutex mu_;
  mutable CondVar attempts_cv_;  // signalled when attempts_ grows
  uint64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  std::thread thread_;  // last: started after everything above is initialised
};

}  // namespace steppewatch::daemon
