#include "steppewatch/daemon/reloader.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "steppewatch/common/files.h"
#include "steppewatch/common/log.h"
#include "steppewatch/daemon/systemd_notify.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::daemon {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kComponent = "reload";

// Directories watched at most: each costs one inotify watch from the per-user limit
// (fs.inotify.max_user_watches, 8192 on small hosts), and a pack of thousands of directories is
// a mistake, not a layout.
constexpr size_t kMaxWatchedDirs = 1024;

// Events that can change what the loader reads. IN_MODIFY as well as IN_CLOSE_WRITE: a writer
// that keeps the file open still changes it. IN_ATTRIB: touch(1) and chmod are how operators
// nudge a reload by hand.
constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                                IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;

double UnixSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

std::string_view FirstLine(std::string_view text) { return text.substr(0, text.find('\n')); }

}  // namespace

namespace {

// Counts, per rule index of `pack`, the items of `payloads` it fires on, through the item
// processor the workers use (so the configured decoder.fields and limits apply).
absl::StatusOr<std::vector<uint64_t>> CountFiring(std::shared_ptr<const rules::CompiledPack> pack,
                                                  const pipeline::ProcessorOptions& options,
                                                  const std::vector<std::string>& payloads) {
  auto processor = pipeline::ItemProcessor::Create(pack, options);
  if (!processor.ok()) return processor.status();
  std::vector<uint64_t> counts(pack->rules().size(), 0);
  int64_t line = 0;
  for (const std::string& payload : payloads) {
    pipeline::Origin origin;
    origin.offset = ++line;
    const pipeline::Outcome& outcome = (*processor)->Process(payload, origin);
    for (uint32_t r : outcome.fired_rules) ++counts[r];
  }
  return counts;
}

}  // namespace

absl::StatusOr<std::vector<RuleHitDiff>> CompareOnSample(
    std::shared_ptr<const rules::CompiledPack> before,
    std::shared_ptr<const rules::CompiledPack> after, const fs::path& sample, size_t max_items,
    const pipeline::ProcessorOptions& processor) {
  std::ifstream in(sample, std::ios::binary);
  if (!in)
    return absl::NotFoundError(log::Cat("reload gate sample ", sample.string(), ": cannot open"));
  std::vector<std::string> payloads;
  for (std::string line; payloads.size() < max_items && std::getline(in, line);) {
    if (!line.empty()) payloads.push_back(std::move(line));
  }
  auto counts_before = CountFiring(before, processor, payloads);
  if (!counts_before.ok()) return counts_before.status();
  auto counts_after = CountFiring(after, processor, payloads);
  if (!counts_after.ok()) return counts_after.status();
  std::map<std::string, RuleHitDiff> by_id;
  for (size_t r = 0; r < before->rules().size(); ++r) {
    RuleHitDiff& d = by_id[before->rules()[r].id];
    d.rule = before->rules()[r].id;
    d.before = (*counts_before)[r];
  }
  for (size_t r = 0; r < after->rules().size(); ++r) {
    RuleHitDiff& d = by_id[after->rules()[r].id];
    d.rule = after->rules()[r].id;
    d.after = (*counts_after)[r];
  }
  std::vector<RuleHitDiff> diffs;
  for (auto& [id, d] : by_id) {
    if (d.before != d.after) diffs.push_back(std::move(d));
  }
  return diffs;
}

absl::StatusOr<std::shared_ptr<const rules::CompiledPack>> LoadAndTestPack(
    const fs::path& dir, const rules::PackOptions& options, rules::TestReport* report) {
  auto pack = rules::CompiledPack::Load(dir, options);
  if (!pack.ok()) return pack.status();
  if (absl::Status tests = rules::CheckPackTests(*pack, report); !tests.ok()) return tests;
  return pack;
}

absl::StatusOr<std::unique_ptr<RuleReloader>> RuleReloader::Create(pipeline::PackHolder* holder,
                                                                   ReloaderOptions options) {
  if (holder == nullptr || holder->Get() == nullptr) {
    return absl::InvalidArgumentError("RuleReloader needs a PackHolder with the initial pack");
  }
  std::error_code ec;
  if (!fs::is_directory(options.rules_dir, ec)) {
    return absl::NotFoundError(
        log::Cat("rules directory ", options.rules_dir.string(), " is not a directory"));
  }
  if (!options.loader) {
    options.loader = [pack_options = options.pack_options](const fs::path& dir) {
      return LoadAndTestPack(dir, pack_options);
    };
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return absl::InternalError(log::Cat("eventfd: ", strerror(errno)));
  int inotify_fd = -1;
  if (options.watch) {
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd < 0) {
      close(wake_fd);
      return absl::ResourceExhaustedError(log::Cat("inotify_init1: ", strerror(errno)));
    }
  }
  std::unique_ptr<RuleReloader> reloader(
      new RuleReloader(holder, std::move(options), inotify_fd, wake_fd));
  if (reloader->inotify_fd_ >= 0) {
    if (absl::Status s = reloader->SyncWatches(); !s.ok()) return s;
  }
  reloader->thread_ = std::thread([r = reloader.get()] { r->Run(); });
  return reloader;
}

RuleReloader::RuleReloader(pipeline::PackHolder* holder, ReloaderOptions options, int inotify_fd,
                           int wake_fd)
    : holder_(holder), options_(std::move(options)), inotify_fd_(inotify_fd), wake_fd_(wake_fd) {}

RuleReloader::~RuleReloader() {
  Stop();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  close(wake_fd_);
}

void RuleReloader::RequestReload() {
  reload_requested_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  // A full eventfd counter (2^64-2 pending wakeups) cannot happen; the result is irrelevant
  // either way because the flag above is what the thread reads.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void RuleReloader::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  thread_.join();
}

void RuleReloader::MarkInitialPack(absl::Time loaded_at) {
  counters_.last_success_unix_seconds.store(UnixSeconds(loaded_at), std::memory_order_relaxed);
  MutexLock lock(&mu_);
  last_success_ = loaded_at;
}

ReloaderStatus RuleReloader::status() const {
  ReloaderStatus out;
  out.success = counters_.success.load(std::memory_order_relaxed);
  out.failure = counters_.failure.load(std::memory_order_relaxed);
  out.unchanged = counters_.unchanged.load(std::memory_order_relaxed);
  if (auto pack = holder_->Get(); pack != nullptr) out.running = pack->info();
  MutexLock lock(&mu_);
  out.attempts = attempts_;
  out.last_error = last_error_;
  out.last_success = last_success_;
  return out;
}

bool RuleReloader::AwaitAttempts(uint64_t attempts, absl::Duration timeout) const {
  const bool forever = timeout == absl::InfiniteDuration();
  const auto deadline =
      std::chrono::steady_clock::now() +
      (forever ? std::chrono::nanoseconds(0) : absl::ToChronoNanoseconds(timeout));
  MutexLock lock(&mu_);
  while (attempts_ < attempts) {
    if (forever) {
      attempts_cv_.Wait(&mu_);
    } else if (!attempts_cv_.WaitUntil(&mu_, deadline)) {
      return attempts_ >= attempts;
    }
  }
  return true;
}

absl::Status RuleReloader::SyncWatches() {
  // inotify_add_watch on an already watched directory returns its existing descriptor, so
  // re-adding everything and removing the descriptors not seen again is the diff. The IN_IGNORED
  // events that removal queues are skipped by DrainEvents().
  std::vector<int> added;
  std::error_code ec;
  const int root = inotify_add_watch(inotify_fd_, options_.rules_dir.c_str(), kWatchMask);
  if (root < 0) {
    root_watched_ = false;
    counters_.watch_active.store(false, std::memory_order_relaxed);
    return absl::UnavailableError(
        log::Cat("inotify_add_watch ", options_.rules_dir.string(), ": ", strerror(errno)));
  }
  root_wd_ = root;
  root_watched_ = true;
  counters_.watch_active.store(true, std::memory_order_relaxed);
  added.push_back(root);
  // The same walk as the pack loader: follow directory symlinks, skip names starting with '.'
  // (the ConfigMap's `..data` and `..<timestamp>` copies are reached through the top-level
  // symlinks instead, and their swap shows up as a rename in the root).
  auto it = fs::recursive_directory_iterator(options_.rules_dir,
                                             fs::directory_options::follow_directory_symlink, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory(ec)) continue;
    if (added.size() >= kMaxWatchedDirs) {
      SW_LOG(kWarning, kComponent, "more than ", kMaxWatchedDirs, " directories under ",
             options_.rules_dir.string(), ": not watching the rest (SIGHUP still reloads)");
      break;
    }
    const int wd = inotify_add_watch(inotify_fd_, it->path().c_str(), kWatchMask);
    if (wd < 0) {
      SW_LOG(kWarning, kComponent, "inotify_add_watch ", it->path().string(), ": ", strerror(errno),
             " (changes there need SIGHUP)");
      continue;
    }
    added.push_back(wd);
  }
  std::sort(added.begin(), added.end());
  for (int wd : watched_) {
    if (!std::binary_search(added.begin(), added.end(), wd)) inotify_rm_watch(inotify_fd_, wd);
  }
  watched_ = std::move(added);
  return absl::OkStatus();
}

bool RuleReloader::DrainEvents() {
  // Large enough for a burst of events with names; aligned as inotify(7) requires.
  alignas(struct inotify_event) char buf[16 * 1024];
  bool changed = false;
  for (;;) {
    const ssize_t n = read(inotify_fd_, buf, sizeof(buf));
    if (n <= 0) break;  // EAGAIN: drained.
    for (const char* p = buf; p < buf + n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(p);
      if ((event->mask & IN_IGNORED) == 0) changed = true;
      // The root deleted or renamed: its watch is gone or follows the old directory; Run()
      // watches the path again once a directory is there. (Other watches' IN_IGNORED come
      // from SyncWatches() removing them or from subdirectories going away.)
      if (event->wd == root_wd_ && (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))) {
        if (root_watched_) {
          SW_LOG(kWarning, kComponent, "rules directory ", options_.rules_dir.string(),
                 " was removed or moved: watching for it to come back (SIGHUP reloads too)");
        }
        root_watched_ = false;
        counters_.watch_active.store(false, std::memory_order_relaxed);
        changed = true;
      }
      // IN_Q_OVERFLOW: events were lost, so assume a change (the reload reads the truth).
      p += sizeof(struct inotify_event) + event->len;
    }
  }
  return changed;
}

void RuleReloader::Run() {
  std::optional<absl::Time> first_event;
  absl::Time last_event;
  while (!stop_.load(std::memory_order_acquire)) {
    int timeout_ms = -1;
    if (first_event.has_value()) {
      const absl::Time due =
          std::min(last_event + options_.debounce, *first_event + options_.max_debounce);
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(absl::Ceil(due - absl::Now(), absl::Milliseconds(1)))));
    }
    const bool rewatch = inotify_fd_ >= 0 && !root_watched_;
    if (rewatch) {
      const int period_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.rewatch_period));
      timeout_ms = timeout_ms < 0 ? period_ms : std::min(timeout_ms, period_ms);
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int ready = poll(fds, inotify_fd_ >= 0 ? 2 : 1, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      SW_LOG(kError, kComponent, "poll: ", strerror(errno), "; reloader stops");
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
    }
    if (stop_.load(std::memory_order_acquire)) break;
    if (inotify_fd_ >= 0 && (fds[1].revents & POLLIN) && DrainEvents()) {
      const absl::Time now = absl::Now();
      if (!first_event.has_value()) first_event = now;
      last_event = now;
    }
    if (rewatch && !root_watched_) {
      std::error_code ec;
      if (fs::is_directory(options_.rules_dir, ec) && SyncWatches().ok()) {
        SW_LOG(kInfo, kComponent, "rules directory ", options_.rules_dir.string(),
               " is back: watching it again");
        // Its content is new to us: reload once it is quiet, like any change.
        const absl::Time now = absl::Now();
        if (!first_event.has_value()) first_event = now;
        last_event = now;
      }
    }
    const bool requested = reload_requested_.exchange(false, std::memory_order_acq_rel);
    const bool files_due =
        first_event.has_value() && absl::Now() >= std::min(last_event + options_.debounce,
                                                           *first_event + options_.max_debounce);
    if (!requested && !files_due) continue;
    if (inotify_fd_ >= 0) {
      // Watch the tree as it is now (new subdirectories, a swapped ConfigMap) before reading it,
      // so a change made during the load triggers the next reload.
      if (absl::Status s = SyncWatches(); !s.ok()) {
        SW_LOG(kWarning, kComponent, std::string(s.message()),
               " (watched again when it is back; SIGHUP reloads too)");
      }
      DrainEvents();
    }
    first_event.reset();
    ReloadOnce(requested ? Trigger::kRequest : Trigger::kFiles);
  }
}

void RuleReloader::LogGate(std::shared_ptr<const rules::CompiledPack> running,
                           std::shared_ptr<const rules::CompiledPack> candidate) {
  auto diffs = CompareOnSample(running, candidate, options_.gate_sample, options_.gate_max_items,
                               options_.processor);
  if (!diffs.ok()) {
    SW_LOG(kWarning, kComponent, "reload gate skipped: ", diffs.status());
    return;
  }
  SW_LOG(kInfo, kComponent, "reload gate on ", options_.gate_sample.string(), ": ", diffs->size(),
         " rule(s) fire on a different number of sample items");
  for (const RuleHitDiff& d : *diffs) {
    SW_LOG(kInfo, kComponent, "  ", d.rule, ": ", d.before, " -> ", d.after, " items (",
           d.after >= d.before ? "+" : "-",
           d.after >= d.before ? d.after - d.before : d.before - d.after, ")");
  }
}

void RuleReloader::ReloadOnce(Trigger trigger) {
  const std::string_view why = trigger == Trigger::kRequest ? "on request" : "on file change";
  const std::string dir = options_.rules_dir.string();
  if (options_.notifier != nullptr) {
    options_.notifier->Reloading(log::Cat("reloading rules from ", dir, " ", why)).IgnoreError();
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<const rules::CompiledPack>> candidate =
      options_.loader(options_.rules_dir);
  ReloadOutcome outcome;
  outcome.started_unix_ms = absl::ToUnixMillis(start);
  const absl::Time end = absl::Now();
  const double seconds = absl::ToDoubleSeconds(end - start);
  counters_.last_attempt_unix_seconds.store(UnixSeconds(end), std::memory_order_relaxed);
  counters_.last_duration_seconds.store(seconds, std::memory_order_relaxed);

  std::shared_ptr<const rules::CompiledPack> running = holder_->Get();
  std::string status_line;
  std::string error;
  bool installed = false;
  if (!candidate.ok() || *candidate == nullptr) {
    error = candidate.ok() ? std::string("loader returned no pack")
                           : std::string(candidate.status().message());
    counters_.failure.fetch_add(1, std::memory_order_relaxed);
    SW_LOG(kError, kComponent, "rule reload ", why, " from ", dir, " FAILED after ", seconds,
           " s; keeping pack ", running->info().name, " ", running->info().version, " ",
           running->info().hash, ". Errors:");
    // One log line per problem, each "file:line:column: message", so editors and log search
    // find them.
    for (std::string_view rest = error; !rest.empty();) {
      const size_t nl = rest.find('\n');
      SW_LOG(kError, kComponent, "  ", rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
    status_line = log::Cat("pack ", running->info().name, " ", running->info().version,
                           "; last reload FAILED: ", FirstLine(error));
    outcome.result = "refused";
    outcome.pack = running->info().hash;
    outcome.error = error;
  } else if ((*candidate)->info().hash == running->info().hash) {
    counters_.unchanged.fetch_add(1, std::memory_order_relaxed);
    SW_LOG(kInfo, kComponent, "rule reload ", why, ": pack ", running->info().name, " ",
           running->info().hash, " unchanged; nothing to swap");
    status_line = log::Cat("pack ", running->info().name, " ", running->info().version);
    outcome.result = "unchanged";
    outcome.pack = running->info().hash;
  } else {
    const rules::CompiledPack& next = **candidate;
    if (!options_.gate_sample.empty()) LogGate(running, *candidate);
    holder_->Swap(*candidate);
    installed = true;
    counters_.success.fetch_add(1, std::memory_order_relaxed);
    counters_.last_success_unix_seconds.store(UnixSeconds(end), std::memory_order_relaxed);
    SW_LOG(kInfo, kComponent, "rule reload ", why, ": installed pack ", next.info().name, " ",
           next.info().version, " ", next.info().hash, " (", next.stats().enabled_rules,
           " enabled rules, ", next.stats().terms, " terms, ", next.stats().tests,
           " tests passed) in ", seconds, " s; replaced ", running->info().version, " ",
           running->info().hash);
    status_line = log::Cat("pack ", next.info().name, " ", next.info().version, " reloaded");
    LogNewTopics(*running, next);
    outcome.result = "installed";
    outcome.pack = next.info().hash;
  }
  counters_.last_ok.store(error.empty(), std::memory_order_relaxed);
  outcome.finished_unix_ms = absl::ToUnixMillis(end);
  if (options_.notifier != nullptr) options_.notifier->Ready(status_line).IgnoreError();
  running.reset();  // Drop our reference to the old pack before waking waiters.

  {
    MutexLock lock(&mu_);
    outcome.attempt = attempts_ + 1;
  }
  // Written before attempts_ grows, so a waiter woken by AwaitAttempts() finds the file
  // already describing its attempt.
  if (!options_.status_file.empty()) {
    if (absl::Status st = WriteReloadStatus(options_.status_file, outcome); !st.ok()) {
      SW_LOG_EVERY(kWarning, kComponent, 60000, "reload status: ", st);
    }
  }
  MutexLock lock(&mu_);
  ++attempts_;
  attempts_cv_.SignalAll();
  if (!error.empty()) last_error_ = std::move(error);
  if (installed) last_success_ = end;
}

void RuleReloader::LogNewTopics(const rules::CompiledPack& before,
                                const rules::CompiledPack& after) {
  const std::vector<std::string>& old_topics = before.topics();
  for (const std::string& topic : after.topics()) {
    if (std::find(old_topics.begin(), old_topics.end(), topic) != old_topics.end()) continue;
    // The producer writes to it from now on: a topic that does not exist (and is not
    // auto-created) fails those alerts' deliveries, and its subscribers need to know of it.
    SW_LOG(kWarning, kComponent, "the new pack sends alerts to a new topic ", topic,
           ": check that it exists and that its subscribers know");
  }
}

absl::Status WriteReloadStatus(const fs::path& path, const ReloadOutcome& outcome) {
  std::string text = log::Cat("attempt=", outcome.attempt, " started_ms=", outcome.started_unix_ms,
                              " finished_ms=", outcome.finished_unix_ms, " result=", outcome.result,
                              " pack=", outcome.pack, "\n", outcome.error);
  if (!outcome.error.empty() && outcome.error.back() != '\n') text += "\n";
  // --reload-and-wait polls the file: it must see the old outcome or the new one, never a part.
  if (absl::Status st = files::WriteFileAtomically(path.string(), {text}); !st.ok()) {
    return absl::UnavailableError(st.message());
  }
  return absl::OkStatus();
}

absl::StatusOr<ReloadOutcome> ReadReloadStatus(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(log::Cat(path.string(), ": cannot open"));
  std::string header;
  std::getline(in, header);
  ReloadOutcome out;
  bool has_attempt = false;
  for (std::string_view rest = header; !rest.empty();) {
    const size_t sp = rest.find(' ');
    const std::string_view field = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = field.substr(0, eq);
    const std::string value(field.substr(eq + 1));
    if (key == "attempt") {
      has_attempt = absl::SimpleAtoi(value, &out.attempt);
    } else if (key == "started_ms") {
      (void)absl::SimpleAtoi(value, &out.started_unix_ms);
    } else if (key == "finished_ms") {
      (void)absl::SimpleAtoi(value, &out.finished_unix_ms);
    } else if (key == "result") {
      out.result = value;
    } else if (key == "pack") {
      out.pack = value;
    }
  }
  if (!has_attempt) {
    return absl::DataLossError(log::Cat(path.string(), ": not a reload status: '", header, "'"));
  }
  out.error.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return out;
}

}  // namespace steppewatch::daemon
