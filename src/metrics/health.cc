#include "steppewatch/metrics/health.h"

#include "absl/strings/str_cat.h"

namespace steppewatch::metrics {
namespace {

// Returns an empty string when `beat_ns` is fresh (or 0: not started), else why it is stale.
std::string StaleReason(const char* who, int64_t beat_ns, int64_t now_ns,
                        const HealthOptions& options) {
  if (beat_ns == 0) return "";
  const int64_t age_ns = now_ns - beat_ns;
  const int64_t limit_ns = options.stale_after.count();
  if (age_ns <= limit_ns) return "";
  return absl::StrCat(who, " heartbeat is stale: last beat ", age_ns / 1000000, " ms ago (limit ",
                      limit_ns / 1000000, " ms)");
}

}  // namespace

Verdict EvaluateLiveness(const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns,
                         const HealthOptions& options) {
  std::string reason =
      StaleReason("main loop", snapshot.main_loop_heartbeat_steady_ns, now_steady_ns, options);
  if (reason.empty()) {
    reason =
        StaleReason("worker", snapshot.oldest_worker_heartbeat_steady_ns, now_steady_ns, options);
  }
  if (reason.empty()) {
    reason =
        StaleReason("stories role", snapshot.stories_heartbeat_steady_ns, now_steady_ns, options);
  }
  if (!reason.empty()) return {false, std::move(reason)};
  return {true, "ok"};
}

namespace {

// In a consumer group with the eager protocol every assignment ends with a revoke or a loss
// before the next one, so the member holds an assignment exactly when it has seen more
// assignments than ends of one.
bool GroupJoined(const pipeline::StatsSnapshot& s) {
  const auto kind = [&s](pipeline::RebalanceKind k) {
    return s.rebalances_by_kind[static_cast<size_t>(k)];
  };
  return kind(pipeline::RebalanceKind::kAssign) >
         kind(pipeline::RebalanceKind::kRevoke) + kind(pipeline::RebalanceKind::kLost);
}

}  // namespace

std::array<bool, kReadyConditionNames.size()> EvaluateReadyConditions(
    const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns, const HealthOptions& options) {
  std::array<bool, kReadyConditionNames.size()> met{};
  met[static_cast<size_t>(ReadyCondition::kLive)] =
      EvaluateLiveness(snapshot, now_steady_ns, options).ok;
  met[static_cast<size_t>(ReadyCondition::kNotDraining)] = !snapshot.draining;
  met[static_cast<size_t>(ReadyCondition::kRulePackLoaded)] = snapshot.rules_loaded;
  met[static_cast<size_t>(ReadyCondition::kConsumerCreated)] = snapshot.consumer_created;
  met[static_cast<size_t>(ReadyCondition::kBrokersReachable)] = !snapshot.all_brokers_down;
  met[static_cast<size_t>(ReadyCondition::kGroupJoined)] = GroupJoined(snapshot);
  return met;
}

Verdict EvaluateReadiness(const pipeline::StatsSnapshot& snapshot, int64_t now_steady_ns,
                          const HealthOptions& options) {
  // Checked in start-up order, so the reason names the first step that is not done.
  Verdict live = EvaluateLiveness(snapshot, now_steady_ns, options);
  if (!live.ok) return {false, absl::StrCat("not live: ", live.reason)};
  if (snapshot.draining) return {false, "draining"};
  if (!snapshot.rules_loaded) return {false, "rule pack not loaded"};
  if (!snapshot.consumer_created) return {false, "consumer not created"};
  if (snapshot.all_brokers_down) return {false, "all brokers down (unreachable or unresolvable)"};
  if (!GroupJoined(snapshot)) {
    return {false, "not a member of the consumer group yet (no partition assignment)"};
  }
  return {true, "ok"};
}

Verdict HealthChecker::Liveness() const {
  return EvaluateLiveness(stats_->Snapshot(), pipeline::Stats::SteadyNowNanos(), options_);
}

Verdict HealthChecker::Readiness() const {
  return EvaluateReadiness(stats_->Snapshot(), pipeline::Stats::SteadyNowNanos(), options_);
}

}  // namespace steppewatch::metrics
