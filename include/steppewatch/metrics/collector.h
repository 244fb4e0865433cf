// StatsCollector: the steppewatch_* metric families, built at scrape time from a
// pipeline::Stats snapshot, the running rule pack and the reload counters. The pipeline's hot
// path only bumps its own relaxed atomics (stats.h); nothing here runs per item.
//
// Naming: steppewatch_<what>_<unit>, base units (seconds, bytes), `_total` on counters (which
// prometheus-cpp does not add), help text on every family. Labels are bounded: topics by
// configuration and pack (pipeline::kMaxTopics), reasons and kinds by closed sets, rules by the
// pack (or dropped with per_rule_labels = false), partitions by the assignment.
//
// Series that disappear on purpose: steppewatch_rule_matches_total is emitted for the rules of
// the newest pack the workers use, so a deleted rule's series ends at the reload (and the counts
// restart, which rate() reads as a counter reset); steppewatch_consumer_lag_messages covers the
// assigned partitions only, so a revoked partition's series ends at the revoke.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "steppewatch/kafka/client_statistics.h"
#include "steppewatch/metrics/health.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka {
class StoriesRole;  // kafka/stories_role.h
}  // namespace steppewatch::kafka

namespace steppewatch::metrics {

// Rule-pack reload outcomes, as the daemon's reloader counts them (daemon::ReloadCounters; the
// daemon stage depends on this one, so the collector reads them through a callback).
struct ReloadSnapshot {
  uint64_t success = 0;    // a new pack was installed
  uint64_t failure = 0;    // load, compile or an embedded test failed; the old pack kept running
  uint64_t unchanged = 0;  // loaded fine with the running pack's hash: nothing swapped
  double last_success_unix_seconds = 0;  // 0 = never (the start-up pack may count as one)
  double last_duration_seconds = 0;      // of the last attempt, whatever its result
  bool last_ok = true;                   // the last attempt installed or kept the disk's pack
  double last_attempt_unix_seconds = 0;  // 0 = no attempt since start-up
  bool watch_active = false;             // the rules directory is watched now
};

struct CollectorOptions {
  // Label steppewatch_rule_matches_total by rule id (and severity). False keeps only the
  // severity label: for packs of tens of thousands of rules, where one series per rule would
  // cost Prometheus more than the insight is worth.
  bool per_rule_labels = true;
  // The dead-letter topic: its deliveries are reported as dead letters, not as alerts.
  std::string dead_letter_topic;
  // For steppewatch_live / steppewatch_ready: the same limits the probes use.
  HealthOptions health;
};

// What the collector reads. `stats` is required; the others may be null (their families are
// then left out). All must outlive the collector.
struct CollectorSources {
  const pipeline::Stats* stats = nullptr;
  const pipeline::PackHolder* packs = nullptr;  // for steppewatch_rule_pack_info, rules loaded
  // Called once per scrape (on an HTTP thread); must be thread-safe, e.g. relaxed loads of
  // daemon::RuleReloader::counters().
  std::function<ReloadSnapshot()> reloads = {};
  // The stories role, when this process runs it: its families (metrics/stories_collector.h)
  // are served beside these.
  const kafka::StoriesRole* stories = nullptr;
  // The Kafka clients' statistics (kafka::ClientStatistics::Snapshot, thread-safe): broker
  // round-trip and throttle time, producer queue, lag in seconds, producer recoveries.
  std::function<kafka::ClientStatisticsSnapshot()> kafka_clients = {};
};

// Thread-safe: Collect() may run on several HTTP threads at once; it only reads.
class StatsCollector : public prometheus::Collectable {
 public:
  StatsCollector(CollectorSources sources, CollectorOptions options)
      : sources_(std::move(sources)), options_(std::move(options)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

  // Builds the families from given values (Collect() with a snapshot taken now; tests use this
  // directly with a hand-filled snapshot).
  std::vector<prometheus::MetricFamily> Build(const pipeline::StatsSnapshot& snapshot,
                                              int64_t now_steady_ns) const;

  // Appends the families of the Kafka clients' statistics (Collect() does, when
  // sources.kafka_clients is set).
  static void AppendKafkaClients(const kafka::ClientStatisticsSnapshot& snapshot,
                                 std::vector<prometheus::MetricFamily>* out);

 private:
  const CollectorSources sources_;
  const CollectorOptions options_;
};

// Renders `families` in the Prometheus text format (what /metrics serves).
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace steppewatch::metrics
