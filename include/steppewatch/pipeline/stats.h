// Stats: the counters, gauges and histograms the pipeline keeps for metrics and health, and
// Stats::Snapshot(), a plain-value copy of them for a scrape.
//
// Why this shape: the hot path must not lock or allocate for metrics (they may cost under 3% of
// throughput), and
// prometheus-cpp's own Counter/Histogram take a mutex. So every value lives here as a relaxed
// atomic written by exactly one thread (a worker, the consumer thread or the producer's
// delivery-report thread); the metrics stage reads them at scrape time through a Collectable
// that calls Snapshot() and folds the per-worker parts. Writers never wait for readers.
//
// Writers and their parts:
//   WorkerStats (one per worker thread) .... items processed/matched, bytes scanned, dead letters
//                                            by reason, processing-time histogram, per-rule
//                                            match counts, worker heartbeat.
//   ConsumerStats (the consumer thread) .... items/bytes consumed by input topic, rebalances by
//                                            kind, assigned/paused partitions, consumer lag.
//   DeliveryStats (the delivery-report thread) alerts/dead letters produced and failed by output
//                                            topic, end-to-end latency histogram.
//   Health (any thread) .................... readiness flags, main-loop heartbeat, broker state,
//                                            in-flight items/bytes.
// Thread-safe: Snapshot() may run on any thread at any time, concurrently with all writers.
// Owned by the daemon (or a test); outlives the pipeline that writes it and the metrics
// collectable that reads it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "steppewatch/common/mutex.h"

namespace steppewatch::rules {
class CompiledPack;  // steppewatch/rules/pack.h; only held here, never looked into
}  // namespace steppewatch::rules

namespace steppewatch::pipeline {

// A monotonically increasing count with a single writer thread: Add() is a relaxed load and
// store (no locked instruction), Value() a relaxed load from any thread.
class SingleWriterCounter {
 public:
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A count or gauge that several threads update (relaxed fetch_add/fetch_sub).
class SharedCounter {
 public:
  void Add(int64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Upper bounds (seconds, ascending) of the two histograms; the last bucket is +Inf.
//
// Processing time of one item (decode + match + rules + render, on one worker): the field notes
// measured ~3-10 us for a 3 KB item with 1k-10k literals, ~0.7 us of it JSON; a 60 KB article or
// a pack of 100k terms reaches a few hundred us; 1 MiB items (the decode limit) or a match
// explosion reach milliseconds. Buckets from 2 us to 100 ms resolve all of that.
inline constexpr std::array<double, 14> kProcessingTimeBuckets = {
    2e-6,   5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6,
    500e-6, 1e-3, 2e-3,  5e-3,  10e-3, 50e-3,  100e-3};
// End-to-end latency, the item's Kafka timestamp to the alert's delivery report: a few ms on a
// healthy local cluster (linger + one produce round trip), hundreds of ms under backpressure,
// seconds to minutes when the daemon catches up after a restart or an outage (the timestamp is
// the producer's, so a backlog shows as latency). 1 ms .. 5 min.
inline constexpr std::array<double, 17> kEndToEndLatencyBuckets = {
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0,  2.5,    5.0,  10.0,  30.0,  60.0,  120.0,  300.0};

// Wait in the work queue, from the consumer thread's hand-off to a worker picking the item up:
// tens of us when a worker is idle, up to the whole in-flight backlog under backpressure
// (20k items at tens of thousands per second: about a second). 10 us .. 5 s.
inline constexpr std::array<double, 14> kQueueWaitBuckets = {10e-6,  50e-6,  100e-6, 500e-6, 1e-3,
                                                             2.5e-3, 5e-3,   10e-3,  25e-3,  50e-3,
                                                             100e-3, 250e-3, 1.0,    5.0};
// A plain copy of a histogram in Prometheus' shape.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;         // ascending, without +Inf
  std::vector<uint64_t> cumulative_counts;  // size upper_bounds.size() + 1; last = +Inf = count
  uint64_t count = 0;
  double sum_seconds = 0;
};

// Returns `bounds` (seconds) as whole nanoseconds, rounded to nearest: the histograms compare
// integer durations against them (no int -> double conversion per observation).
template <size_t N>
constexpr std::array<int64_t, N> BoundsNanos(const std::array<double, N>& bounds) {
  std::array<int64_t, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<int64_t>(bounds[i] * 1e9 + 0.5);
  return out;
}

// Returns the bucket of `nanos` among `bounds_ns` (ascending): the first bound >= nanos, or N
// (+Inf). Prometheus' `le`: a duration equal to a bound counts in that bound's bucket.
template <size_t N>
inline size_t BucketOf(const std::array<int64_t, N>& bounds_ns, int64_t nanos) {
  size_t i = 0;
  while (i < N && nanos > bounds_ns[i]) ++i;
  return i;
}

template <size_t N>
class LatencyHistogram;

// A histogram's observations gathered by its writer thread in plain memory, added to the
// histogram at once with LatencyHistogram::Add(): a worker observes three durations per item,
// and per batch of items the shared histogram then sees one store per touched bucket instead of
// two per observation. Not thread-safe: one per writer thread, like the histogram it feeds.
template <size_t N>
class LocalHistogram {
 public:
  explicit LocalHistogram(const std::array<double, N>& bounds) : bounds_ns_(BoundsNanos(bounds)) {}

  void ObserveNanos(int64_t nanos) {
    if (nanos < 0) nanos = 0;  // as LatencyHistogram::ObserveNanos
    ++buckets_[BucketOf(bounds_ns_, nanos)];
    sum_nanos_ += static_cast<uint64_t>(nanos);
    ++count_;
  }
  uint64_t count() const { return count_; }

 private:
  friend class LatencyHistogram<N>;
  const std::array<int64_t, N> bounds_ns_;
  std::array<uint64_t, N + 1> buckets_{};
  uint64_t sum_nanos_ = 0;
  uint64_t count_ = 0;
};

// A fixed-bucket histogram of durations with a single writer thread. Observe() costs a short
// linear scan of the bounds and two relaxed stores; no lock.
template <size_t N>
class LatencyHistogram {
 public:
  explicit LatencyHistogram(const std::array<double, N>& bounds)
      : bounds_(bounds), bounds_ns_(BoundsNanos(bounds)) {}

  void ObserveNanos(int64_t nanos) {
    if (nanos < 0) nanos = 0;  // clock skew between the item's producer and us: count as 0
    Bump(BucketOf(bounds_ns_, nanos), 1);
    sum_nanos_.store(sum_nanos_.load(std::memory_order_relaxed) + static_cast<uint64_t>(nanos),
                     std::memory_order_relaxed);
  }

  // Adds `local`'s observations (made with the same bounds) and empties it. The writer thread's
  // call, like ObserveNanos().
  void Add(LocalHistogram<N>* local) {
    if (local->count_ == 0) return;
    for (size_t i = 0; i <= N; ++i) {
      if (local->buckets_[i] != 0) Bump(i, local->buckets_[i]);
      local->buckets_[i] = 0;
    }
    sum_nanos_.store(sum_nanos_.load(std::memory_order_relaxed) + local->sum_nanos_,
                     std::memory_order_relaxed);
    local->sum_nanos_ = 0;
    local->count_ = 0;
  }

  // Adds this histogram's counts into `out` (which must have this histogram's bounds or be
  // empty). Counts and sum are read without a common lock: a scrape racing a write may see the
  // new bucket count before the new sum; both are exact again at the next scrape.
  void FoldInto(HistogramSnapshot* out) const {
    if (out->upper_bounds.empty()) {
      out->upper_bounds.assign(bounds_.begin(), bounds_.end());
      out->cumulative_counts.assign(N + 1, 0);
    }
    uint64_t running = 0;
    for (size_t i = 0; i <= N; ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      out->cumulative_counts[i] += running;
    }
    out->count += running;
    out->sum_seconds += static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  void Bump(size_t i, uint64_t n) {
    buckets_[i].store(buckets_[i].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  const std::array<double, N> bounds_;
  const std::array<int64_t, N> bounds_ns_;
  std::array<std::atomic<uint64_t>, N + 1> buckets_{};
  std::atomic<uint64_t> sum_nanos_{0};
};

// The closed set of dead-letter reasons (the `steppewatch.error.reason` header and the
// `reason` metric label): the decode errors of decode::DecodeErrorName, then the reasons of the
// later stages. Index with DeadLetterReasonIndex(). Never rename one (dashboards and consumers
// match the names); add new reasons just before "other", which must stay last: it is
// DeadLetterReasonIndex()'s fallback. The indexes themselves are internal and may shift.
inline constexpr std::array<std::string_view, 14> kDeadLetterReasons = {
    "tombstone",     "empty_payload",   "too_large",   "invalid_utf8", "invalid_json",
    "not_an_object", "missing_id",      "no_text",     "wrong_type",   "match_error",
    "render_error",  "processor_error", "undecodable", "other"};
inline constexpr size_t kDeadLetterReasonCount = kDeadLetterReasons.size();
// Returns the index of `reason` in kDeadLetterReasons, or that of "other" when unknown.
size_t DeadLetterReasonIndex(std::string_view reason);

// Rebalance kinds (the `kind` metric label).
enum class RebalanceKind : uint8_t { kAssign = 0, kRevoke = 1, kLost = 2 };
inline constexpr std::array<std::string_view, 3> kRebalanceKindNames = {"assign", "revoke", "lost"};
// The daemon's consumers, by role (the metrics' `role` label): the matcher's input, the stories
// role's alert input.
enum class ConsumerRole : uint8_t { kMatch = 0, kStories = 1 };
inline constexpr std::array<std::string_view, 2> kConsumerRoleNames = {"match", "stories"};

// Topics are bounded by configuration (input topics) and by the rule pack (alert topics): a fixed
// table keeps the lookup lock-free. 64 covers any sane deployment (the default pack uses 2-3
// alert topics); topics beyond it are counted under the name "_other".
inline constexpr size_t kMaxTopics = 64;

// Counters of one worker thread. Written only by that worker.
struct alignas(64) WorkerStats {
  SingleWriterCounter items_processed;  // every item the worker finished (any outcome)
  SingleWriterCounter items_matched;    // items with at least one alert
  SingleWriterCounter bytes_scanned;    // Outcome::bytes_scanned
  SingleWriterCounter hits;             // term hits (Outcome::hits)
  std::array<SingleWriterCounter, kDeadLetterReasonCount> dead_letters;  // by reason, at process
  LatencyHistogram<kProcessingTimeBuckets.size()> processing_time{kProcessingTimeBuckets};
  LatencyHistogram<kQueueWaitBuckets.size()> queue_wait{kQueueWaitBuckets};
  // The matcher's share of processing_time (Outcome::match_nanos), items that were scanned.
  LatencyHistogram<kProcessingTimeBuckets.size()> match_time{kProcessingTimeBuckets};
  // Stats::SteadyNowNanos() of the worker's last sign of life: set after each item and on each
  // idle wake-up (workers wake at least every 500 ms when idle).
  std::atomic<int64_t> heartbeat_steady_ns{0};

  // Per-rule match counts for the pack the worker currently uses: BeginPack() when the worker
  // builds an ItemProcessor for a new pack (rare; takes a lock), CountRule() per fired rule
  // (no lock). The counts restart at each pack: counters are "matches since this pack was
  // loaded", which Prometheus' rate() treats as a counter reset.
  void BeginPack(uint64_t generation, std::shared_ptr<const rules::CompiledPack> pack,
                 size_t rule_count);
  // The worker that calls BeginPack() is the only writer of the fields below, so its own reads
  // here need no lock (only other threads' reads, in Stats::Snapshot, do).
  void CountRule(uint32_t rule_index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (rule_index < rule_count_) {
      auto& c = rule_counts_[rule_index];
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  }

 private:
  friend class Stats;
  mutable Mutex rules_mu_;  // guards the array's replacement, never taken per item
  uint64_t pack_generation_ ABSL_GUARDED_BY(rules_mu_) = 0;
  std::shared_ptr<const rules::CompiledPack> pack_ ABSL_GUARDED_BY(rules_mu_);
  std::unique_ptr<std::atomic<uint64_t>[]> rule_counts_ ABSL_GUARDED_BY(rules_mu_);
  size_t rule_count_ ABSL_GUARDED_BY(rules_mu_) = 0;
};

// Consumer lag of one assigned partition, from librdkafka's statistics.
struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t consumer_lag = -1;         // messages between the high watermark and our position
  int64_t consumer_lag_stored = -1;  // ... and our last stored offset; -1 = unknown
};

// Per-topic counters (a slot of a TopicTable).
struct TopicCounters {
  SingleWriterCounter messages;  // consumed (input) or delivered (output)
  SingleWriterCounter bytes;
  SingleWriterCounter failed;  // output only: deliveries that failed after librdkafka's retries
};

// A fixed table of topic names -> counters. Register() takes a lock (once per topic name);
// Find() is lock-free and may be called on the hot path.
class TopicTable {
 public:
  TopicTable();
  // Returns the slot for `topic`, adding it if new (the "_other" slot when the table is full).
  TopicCounters* Register(std::string_view topic);
  // Returns the slot for `topic` or nullptr. Lock-free.
  TopicCounters* Find(std::string_view topic) const;
  // Calls `fn(name, counters)` for each registered topic.
  template <typename Fn>
  void ForEach(Fn fn) const {
    const size_t n = size_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) fn(std::string_view(names_[i]), slots_[i]);
  }

 private:
  Mutex mu_;  // serialises Register(); readers go through size_, so names_ is not GUARDED_BY
  std::array<std::string, kMaxTopics> names_;  // written before size_ is published
  std::array<TopicCounters, kMaxTopics> slots_;
  std::atomic<size_t> size_{0};
};

// Everything else the pipeline counts, written by the consumer or delivery threads.
struct ConsumerStats {
  TopicTable consumed;                            // items consumed by input topic
  std::array<SingleWriterCounter, 3> rebalances;  // by RebalanceKind
  SharedCounter assigned_partitions;
  SharedCounter paused_partitions;
  // By ConsumerRole, written by kafka::Consumer: assigned partitions whose fetcher it has not
  // seen started yet, and the fetch restarts of partitions that did not start.
  std::array<SharedCounter, 2> unstarted_partitions;
  std::array<SharedCounter, 2> fetch_restarts;
  // Times the pipeline stopped taking input for backpressure (it holds first and pauses the
  // partitions only if the hold lasts, see kafka_pipeline.cc).
  SingleWriterCounter pauses;
  SingleWriterCounter consume_errors;  // consumer errors other than partition EOF
  // Age of each item when the consumer thread receives it: wall clock minus the item's Kafka
  // timestamp. The part of the end-to-end latency spent before the daemon (the producer's
  // batching, the broker, the fetch), and the backlog after a restart.
  LatencyHistogram<kEndToEndLatencyBuckets.size()> consume_age{kEndToEndLatencyBuckets};
};

struct DeliveryStats {
  TopicTable produced;  // alerts and dead letters, by output topic (failed = delivery failures)
  std::array<SingleWriterCounter, kDeadLetterReasonCount>
      dead_letters_produced;      // acked, by reason
  SharedCounter produce_retries;  // re-produces after a failed delivery (at-least-once)
  LatencyHistogram<kEndToEndLatencyBuckets.size()> end_to_end_latency{kEndToEndLatencyBuckets};
};

// Health and readiness: the metrics stage's /healthz and /readyz read these.
struct Health {
  std::atomic<bool> rules_loaded{false};
  std::atomic<bool> consumer_created{false};
  std::atomic<bool> draining{false};
  // Steady-clock ns of the main loop's last iteration (it wakes at least every second).
  std::atomic<int64_t> main_loop_heartbeat_steady_ns{0};
  // Steady-clock ns of the stories role's loop's last turn (it turns at least every 50 ms);
  // 0 without the role.
  std::atomic<int64_t> stories_heartbeat_steady_ns{0};
  // Broker state from the clients' error callbacks: RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN sets
  // all_brokers_down and counts an event; the next successful fetch or delivery clears it.
  SharedCounter brokers_down_events;
  std::atomic<bool> all_brokers_down{false};
  SharedCounter in_flight_items;
  SharedCounter in_flight_bytes;

  // RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN from a client: sets all_brokers_down; true (and an
  // event counted) when it was not set.
  bool NoteAllBrokersDown() {
    if (all_brokers_down.exchange(true)) return false;
    brokers_down_events.Add();
    return true;
  }
  // A consumer's statistics JSON: a broker in state UP (librdkafka writes `"state":"UP"` for each
  // broker it is connected to) clears the outage even when no message or delivery report does,
  // as with an idle input or a stories standby. True when it cleared it.
  bool NoteStatistics(std::string_view json) {
    return json.find("\"state\":\"UP\"") != std::string_view::npos &&
           all_brokers_down.exchange(false);
  }
};

// A scrape's copy of everything above, folded over workers.
struct StatsSnapshot {
  struct Topic {
    std::string name;
    uint64_t messages = 0;
    uint64_t bytes = 0;
    uint64_t failed = 0;
  };
  std::vector<Topic> consumed_by_topic;
  std::vector<Topic> produced_by_topic;
  uint64_t items_processed = 0;
  uint64_t items_matched = 0;
  uint64_t bytes_scanned = 0;
  uint64_t hits = 0;
  std::array<uint64_t, kDeadLetterReasonCount> dead_letters_by_reason{};  // decided by workers
  std::array<uint64_t, kDeadLetterReasonCount> dead_letters_produced_by_reason{};  // acked
  uint64_t produce_retries = 0;
  std::array<uint64_t, 3> rebalances_by_kind{};
  int64_t assigned_partitions = 0;
  int64_t paused_partitions = 0;
  std::array<int64_t, 2> unstarted_partitions_by_role{};
  std::array<int64_t, 2> fetch_restarts_by_role{};
  uint64_t pauses = 0;
  uint64_t consume_errors = 0;
  int64_t in_flight_items = 0;
  int64_t in_flight_bytes = 0;
  bool all_brokers_down = false;
  int64_t brokers_down_events = 0;
  std::vector<PartitionLag> consumer_lag;  // assigned partitions only
  HistogramSnapshot processing_time;
  HistogramSnapshot queue_wait;
  HistogramSnapshot match_time;
  HistogramSnapshot consume_age;
  HistogramSnapshot end_to_end_latency;
  // Per-rule matches of the newest pack any worker uses: counts[i] is rule i of `rule_pack`,
  // summed over the workers that already use it.
  uint64_t rule_pack_generation = 0;
  std::shared_ptr<const rules::CompiledPack> rule_pack;
  std::vector<uint64_t> rule_matches;
  // Health.
  bool rules_loaded = false;
  bool consumer_created = false;
  bool draining = false;
  int64_t main_loop_heartbeat_steady_ns = 0;
  int64_t stories_heartbeat_steady_ns = 0;        // 0 = no stories role (or not started)
  int64_t oldest_worker_heartbeat_steady_ns = 0;  // min over workers; 0 = no workers yet
};

// The root object. Thread-safe (see the file comment).
class Stats {
 public:
  explicit Stats(int num_workers);
  Stats(const Stats&) = delete;
  Stats& operator=(const Stats&) = delete;

  int num_workers() const { return static_cast<int>(workers_.size()); }
  WorkerStats& worker(int i) { return *workers_[i]; }
  ConsumerStats& consumer() { return consumer_; }
  DeliveryStats& delivery() { return delivery_; }
  Health& health() { return health_; }

  // Replaces the lag of all partitions (called from librdkafka's statistics callback, once per
  // statistics.interval.ms; a lock here is off the hot path).
  void SetConsumerLag(std::vector<PartitionLag> lags);
  // Forgets the lag of revoked/lost partitions so their series disappear.
  void RemoveConsumerLag(absl::Span<const std::pair<std::string, int32_t>> partitions);

  // Returns a plain-value copy; safe concurrently with all writers.
  StatsSnapshot Snapshot() const;

  // Returns the steady-clock time in ns used by the heartbeats.
  static int64_t SteadyNowNanos();

 private:
  std::vector<std::unique_ptr<WorkerStats>> workers_;
  ConsumerStats consumer_;
  DeliveryStats delivery_;
  Health health_;
  mutable Mutex lag_mu_;
  std::vector<PartitionLag> lag_ ABSL_GUARDED_BY(lag_mu_);
};

}  // namespace steppewatch::pipeline
