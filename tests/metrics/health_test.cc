#include "steppewatch/metrics/health.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::metrics {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1000 * kSecond;  // an arbitrary steady-clock time

HealthOptions ThirtySeconds() {
  HealthOptions options;
  options.stale_after = std::chrono::seconds(30);
  return options;
}

// A pipeline that is running: both heartbeats fresh at kT0.
pipeline::StatsSnapshot Running() {
  pipeline::StatsSnapshot s;
  s.main_loop_heartbeat_steady_ns = kT0;
  s.oldest_worker_heartbeat_steady_ns = kT0;
  return s;
}

TEST(Health, LiveButNotReadyBeforeRulesLoad) {
  const pipeline::StatsSnapshot s = Running();
  EXPECT_TRUE(EvaluateLiveness(s, kT0, ThirtySeconds()).ok);
  const Verdict ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("rule pack not loaded"));
}

TEST(Health, NotStartedThreadsCountAsLive) {
  pipeline::StatsSnapshot s;  // heartbeats 0: compiling the pack, workers not started
  EXPECT_TRUE(EvaluateLiveness(s, kT0, ThirtySeconds()).ok);
  EXPECT_FALSE(EvaluateReadiness(s, kT0, ThirtySeconds()).ok);
}

TEST(Health, WalksStartupToReadyThenDraining) {
  pipeline::StatsSnapshot s = Running();
  s.rules_loaded = true;
  Verdict ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("consumer not created"));

  s.consumer_created = true;
  s.all_brokers_down = true;  // an unresolvable or closed broker address
  ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("all brokers down"));

  s.all_brokers_down = false;  // reachable, but the group has not assigned anything yet
  ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("consumer group"));

  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kAssign)] = 1;
  ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_TRUE(ready.ok);
  EXPECT_EQ(ready.reason, "ok");

  // A revoke ends the assignment; the next assignment makes the member ready again.
  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kRevoke)] = 1;
  EXPECT_FALSE(EvaluateReadiness(s, kT0, ThirtySeconds()).ok);
  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kAssign)] = 2;
  EXPECT_TRUE(EvaluateReadiness(s, kT0, ThirtySeconds()).ok);
  // A lost assignment ends it too.
  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kLost)] = 1;
  EXPECT_FALSE(EvaluateReadiness(s, kT0, ThirtySeconds()).ok);
  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kAssign)] = 3;
  EXPECT_TRUE(EvaluateReadiness(s, kT0, ThirtySeconds()).ok);

  s.draining = true;
  ready = EvaluateReadiness(s, kT0, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_EQ(ready.reason, "draining");
  // Draining is a planned stop: the process is alive and must not be killed for it.
  EXPECT_TRUE(EvaluateLiveness(s, kT0, ThirtySeconds()).ok);
}

TEST(Health, EachReadyConditionIsReportedApart) {
  pipeline::StatsSnapshot s = Running();
  s.rules_loaded = true;
  s.consumer_created = true;
  s.all_brokers_down = true;
  const auto met = EvaluateReadyConditions(s, kT0, ThirtySeconds());
  EXPECT_TRUE(met[static_cast<size_t>(ReadyCondition::kLive)]);
  EXPECT_TRUE(met[static_cast<size_t>(ReadyCondition::kNotDraining)]);
  EXPECT_TRUE(met[static_cast<size_t>(ReadyCondition::kRulePackLoaded)]);
  EXPECT_TRUE(met[static_cast<size_t>(ReadyCondition::kConsumerCreated)]);
  EXPECT_FALSE(met[static_cast<size_t>(ReadyCondition::kBrokersReachable)]);
  EXPECT_FALSE(met[static_cast<size_t>(ReadyCondition::kGroupJoined)]);
}

// A snapshot of a member that consumes: rules loaded, consumer created, brokers up, assigned.
pipeline::StatsSnapshot Consuming() {
  pipeline::StatsSnapshot s = Running();
  s.rules_loaded = true;
  s.consumer_created = true;
  s.rebalances_by_kind[static_cast<size_t>(pipeline::RebalanceKind::kAssign)] = 1;
  return s;
}

TEST(Health, StaleWorkerIsUnhealthyAndUnready) {
  pipeline::StatsSnapshot s = Consuming();
  s.main_loop_heartbeat_steady_ns = kT0 + 31 * kSecond;  // the main loop goes on, a worker hangs
  const int64_t now = kT0 + 31 * kSecond;

  const Verdict live = EvaluateLiveness(s, now, ThirtySeconds());
  EXPECT_FALSE(live.ok);
  EXPECT_THAT(live.reason, HasSubstr("worker heartbeat is stale"));
  const Verdict ready = EvaluateReadiness(s, now, ThirtySeconds());
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("not live"));

  s.oldest_worker_heartbeat_steady_ns = now;  // it recovers
  EXPECT_TRUE(EvaluateLiveness(s, now, ThirtySeconds()).ok);
  EXPECT_TRUE(EvaluateReadiness(s, now, ThirtySeconds()).ok);
}

TEST(Health, StaleStoriesRoleIsUnhealthy) {
  pipeline::StatsSnapshot s = Consuming();
  const int64_t now = kT0 + 31 * kSecond;
  s.main_loop_heartbeat_steady_ns = now;
  s.oldest_worker_heartbeat_steady_ns = now;
  s.stories_heartbeat_steady_ns = kT0;  // the stories role's loop hangs
  const Verdict live = EvaluateLiveness(s, now, ThirtySeconds());
  EXPECT_FALSE(live.ok);
  EXPECT_THAT(live.reason, HasSubstr("stories role heartbeat is stale"));
  s.stories_heartbeat_steady_ns = 0;  // no role, or a role that stopped: not a hang
  EXPECT_TRUE(EvaluateLiveness(s, now, ThirtySeconds()).ok);
}

TEST(Health, StaleMainLoopIsUnhealthy) {
  pipeline::StatsSnapshot s = Running();
  s.oldest_worker_heartbeat_steady_ns = kT0 + 60 * kSecond;
  const Verdict live = EvaluateLiveness(s, kT0 + 60 * kSecond, ThirtySeconds());
  EXPECT_FALSE(live.ok);
  EXPECT_THAT(live.reason, HasSubstr("main loop"));
}

TEST(Health, TheLimitIsInclusive) {
  const pipeline::StatsSnapshot s = Running();
  EXPECT_TRUE(EvaluateLiveness(s, kT0 + 30 * kSecond, ThirtySeconds()).ok);
  EXPECT_FALSE(EvaluateLiveness(s, kT0 + 30 * kSecond + 1, ThirtySeconds()).ok);
}

TEST(HealthChecker, ReadsTheLiveStats) {
  pipeline::Stats stats(/*num_workers=*/2);
  const HealthChecker checker(&stats, ThirtySeconds());
  EXPECT_FALSE(checker.Readiness().ok);

  const int64_t now = pipeline::Stats::SteadyNowNanos();
  stats.health().main_loop_heartbeat_steady_ns.store(now);
  stats.worker(0).heartbeat_steady_ns.store(now);
  stats.worker(1).heartbeat_steady_ns.store(now);
  stats.health().rules_loaded.store(true);
  stats.health().consumer_created.store(true);
  stats.consumer().rebalances[static_cast<int>(pipeline::RebalanceKind::kAssign)].Add();
  EXPECT_TRUE(checker.Liveness().ok);
  EXPECT_TRUE(checker.Readiness().ok);

  // Worker 1 last beat an hour ago.
  stats.worker(1).heartbeat_steady_ns.store(now - 3600 * kSecond);
  EXPECT_FALSE(checker.Liveness().ok);
  EXPECT_FALSE(checker.Readiness().ok);
}

}  // namespace
}  // namespace steppewatch::metrics
