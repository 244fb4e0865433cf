#include "steppewatch/metrics/health.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::metrics {
namespace {

using ::testing::HasSubstr;
using Clock = HealthState::Clock;

HealthState::Options StaleAfter(std::chrono::seconds seconds) {
  HealthState::Options options;
  options.stale_after = seconds;
  return options;
}

TEST(HealthState, IsLiveButNotReadyBeforeRulesLoad) {
  HealthState health(StaleAfter(std::chrono::seconds(30)));
  const Clock::time_point t0 = Clock::now();
  const int main_loop = health.AddHeartbeat("main");
  health.Beat(main_loop, t0);

  EXPECT_TRUE(health.Liveness(t0).ok);
  HealthState::Verdict ready = health.Readiness(t0);
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("rule pack"));
}

TEST(HealthState, WalksStartupReadyAndDraining) {
  HealthState health(StaleAfter(std::chrono::seconds(30)));
  const Clock::time_point t0 = Clock::now();
  health.Beat(health.AddHeartbeat("main"), t0);

  health.SetRulesLoaded(true);
  HealthState::Verdict ready = health.Readiness(t0);
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("consumer"));

  health.SetConsumerSubscribed(true);
  EXPECT_TRUE(health.Readiness(t0).ok);
  EXPECT_EQ(health.Readiness(t0).reason, "ok");

  health.SetDraining(true);
  ready = health.Readiness(t0);
  EXPECT_FALSE(ready.ok);
  EXPECT_THAT(ready.reason, HasSubstr("draining"));
  // Draining is a planned stop: the process is still alive and must not be killed for it.
  EXPECT_TRUE(health.Liveness(t0).ok);
}

TEST(HealthState, StaleWorkerMakesItUnhealthyAndUnready) {
  HealthState health(StaleAfter(std::chrono::seconds(30)));
  const Clock::time_point t0 = Clock::now();
  const int main_loop = health.AddHeartbeat("main");
  const int worker = health.AddHeartbeat("worker-1");
  health.SetRulesLoaded(true);
  health.SetConsumerSubscribed(true);
  health.Beat(main_loop, t0);
  health.Beat(worker, t0);

  const Clock::time_point later = t0 + std::chrono::seconds(31);
  health.Beat(main_loop, later);  // the main loop goes on, the worker is stuck
  HealthState::Verdict live = health.Liveness(later);
  EXPECT_FALSE(live.ok);
  EXPECT_THAT(live.reason, HasSubstr("worker-1"));
  EXPECT_FALSE(health.Readiness(later).ok);

  health.Beat(worker, later);  // it recovers
  EXPECT_TRUE(health.Liveness(later).ok);
  EXPECT_TRUE(health.Readiness(later).ok);
}

TEST(HealthState, BeatWithinLimitStaysLive) {
  HealthState health(StaleAfter(std::chrono::seconds(30)));
  const Clock::time_point t0 = Clock::now();
  const int worker = health.AddHeartbeat("worker-0");
  health.Beat(worker, t0);
  EXPECT_TRUE(health.Liveness(t0 + std::chrono::seconds(29)).ok);
  EXPECT_FALSE(health.Liveness(t0 + std::chrono::seconds(31)).ok);
}

TEST(HealthState, RemovedHeartbeatIsNoLongerChecked) {
  HealthState health(StaleAfter(std::chrono::seconds(30)));
  const Clock::time_point t0 = Clock::now();
  const int worker = health.AddHeartbeat("worker-0");
  health.Beat(worker, t0);
  health.RemoveHeartbeat(worker);
  EXPECT_TRUE(health.Liveness(t0 + std::chrono::hours(1)).ok);
}

TEST(HealthState, RefusesMoreThanMaxHeartbeats) {
  HealthState health;
  for (int i = 0; i < HealthState::kMaxHeartbeats; ++i) {
    ASSERT_EQ(health.AddHeartbeat("w"), i);
  }
  EXPECT_EQ(health.AddHeartbeat("one-too-many"), -1);
  health.Beat(-1);  // a refused slot is harmless to beat
}

}  // namespace
}  // namespace steppewatch::metrics
