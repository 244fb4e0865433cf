// Health: what /healthz (liveness) and /readyz (readiness) answer, computed from the pipeline's
// pipeline::Stats (its Health flags and the main-loop and worker heartbeats), so the pipeline
// has one place to report its state and the probes add no writes to the hot path.
//
// Meaning (the contract for Kubernetes probes; deploy/OBSERVABILITY.md explains it to operators):
// - Live   = the main loop, every worker and the stories role's loop beat within
//            `stale_after`. A heartbeat of 0 means "not started yet" (or, for the stories role,
//            stopped) and counts as live, so a long rule-pack compile at start-up is
//            not a failure (give such pods a startupProbe instead). Nothing about Kafka: a broker
//            outage must not restart pods, and the threads beat while they wait for the broker.
// - Ready  = able to consume now: live, not draining, the rule pack loaded, the consumer
//            created, the brokers reachable (librdkafka has not reported all brokers down), and
//            the consumer a member of its group (the last rebalance event was an assignment;
//            an assignment of zero partitions, in a group with more members than partitions,
//            counts: that member is ready to take partitions over). An unresolvable, closed or
//            down broker address, or a group that cannot be joined, is not ready.
//            Readiness never restarts anything (only liveness does) and steppewatch takes no
//            traffic through a Service, so a broker outage making every instance unready at
//            once is the truth, not a hazard. Each condition is also exported as
//            steppewatch_ready_condition{condition=...} so the metrics say which one fails.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "steppewatch/pipeline/stats.h"

namespace steppewatch::metrics {

struct HealthOptions {
  // A thread silent for this long is stuck. The main loop beats at least every second and idle
  // workers every 500 ms (pipeline/stats.h); 30 s leaves room for one pathological item (1 MiB,
  // a match explosion) and a stalled page-in, and with Kubernetes' default failureThreshold of 3
  // and periodSeconds of 10 a stuck pod is restarted about a minute after that.
  std::chrono::nanoseconds stale_after = std::chrono::seconds(30);
};

struct Verdict {
  bool ok = false;
  std::string reason;  // "ok", or what is wrong: the probe's response body
};

// The conditions of readiness, in start-up order (the metric label `condition`).
enum class ReadyCondition : uint8_t {
  kLive = 0,
  kNotDraining,
  kRulePackLoaded,
  kConsumerCreated,
  kBrokersReachable,
  kGroupJoined,
};
inline constexpr std::array<std::string_view, 6> kReadyConditionNames = {
    "live",        "not_draining", "rule_pack_loaded", "consumer_created", "brokers_reachable",
    "group_joined"};

// Returns each condition of readiness of `snapshot` (true = met), indexed by ReadyCondition.
std::array<bool, kReadyConditionNames.size()> EvaluateReadyConditions(
    const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns, const HealthOptions& options);

// Evaluates liveness / readiness of `snapshot` at steady-clock time `now_steady_ns`
// (pipeline::Stats::SteadyNowNanos()). Pure functions: the tests drive them with any clock.
Verdict EvaluateLiveness(const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns,
                         const HealthOptions& options);
Verdict EvaluateReadiness(const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns,
                          const HealthOptions& options);

// The probes' view of one daemon. Thread-safe (reads Stats::Snapshot(), which is); `stats` must
// outlive the checker. Each call takes one snapshot: a probe every few seconds, never per item.
class HealthChecker {
 public:
  HealthChecker(const pipeline::Stats* stats, HealthOptions options)
      : stats_(stats), options_(options) {}

  Verdict Liveness() const;
  Verdict Readiness() const;

 private:
  const pipeline::Stats* stats_;
  const HealthOptions options_;
};

}  // namespace steppewatch::metrics
