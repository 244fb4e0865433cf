#include "steppewatch/pipeline/backpressure.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace steppewatch::pipeline {
namespace {

using Decision = InFlightLimiter::Decision;

TEST(InFlightLimiter, PausesAtTheItemLimitAndResumesBelowTheLowWatermark) {
  Health health;
  std::atomic<int> wakeups{0};
  InFlightLimiter limiter({.max_items = 10, .max_bytes = 1 << 20, .resume_fraction = 0.5}, &health,
                          [&] { wakeups++; });
  for (int i = 0; i < 9; ++i) limiter.Admit(100);
  EXPECT_EQ(limiter.Decide(), Decision::kNone);
  limiter.Admit(100);
  EXPECT_EQ(limiter.Decide(), Decision::kPause);
  EXPECT_EQ(limiter.Decide(), Decision::kNone);  // already paused
  EXPECT_EQ(health.in_flight_items.Value(), 10);
  EXPECT_EQ(health.in_flight_bytes.Value(), 1000);
  // 10 -> 5: not below 5 yet (hysteresis), no resume.
  for (int i = 0; i < 5; ++i) limiter.Release(100);
  EXPECT_EQ(limiter.Decide(), Decision::kNone);
  EXPECT_EQ(wakeups.load(), 0);
  limiter.Release(100);  // 4 < 5
  EXPECT_EQ(wakeups.load(), 1);
  limiter.Release(100);
  EXPECT_EQ(wakeups.load(), 1);  // signalled once per pause
  EXPECT_EQ(limiter.Decide(), Decision::kResume);
  EXPECT_FALSE(limiter.paused());
}

TEST(InFlightLimiter, PausesAtTheByteLimit) {
  InFlightLimiter limiter({.max_items = 1000, .max_bytes = 1000, .resume_fraction = 0.5}, nullptr);
  limiter.Admit(600);
  EXPECT_EQ(limiter.Decide(), Decision::kNone);
  limiter.Admit(600);
  EXPECT_EQ(limiter.Decide(), Decision::kPause);
  limiter.Release(600);  // 600 bytes: above 500
  EXPECT_EQ(limiter.Decide(), Decision::kNone);
  limiter.Release(600);
  EXPECT_EQ(limiter.Decide(), Decision::kResume);
}

// The pipeline admits a poll round and releases a worker's batch at once; the room tells the
// consumer how large a round may be without passing a limit.
TEST(InFlightLimiter, AdmitsAndReleasesBatchesAndReportsTheRoomLeft) {
  Health health;
  std::atomic<int> wakeups{0};
  InFlightLimiter limiter({.max_items = 10, .max_bytes = 1000, .resume_fraction = 0.5}, &health,
                          [&] { wakeups++; });
  size_t items = 0, bytes = 0;
  limiter.Room(&items, &bytes);
  EXPECT_EQ(items, 10u);
  EXPECT_EQ(bytes, 1000u);
  limiter.Admit(/*bytes=*/300, /*items=*/7);
  limiter.Room(&items, &bytes);
  EXPECT_EQ(items, 3u);
  EXPECT_EQ(bytes, 700u);
  EXPECT_EQ(limiter.Decide(), Decision::kNone);
  limiter.Admit(800, 3);  // both limits reached, the bytes passed
  limiter.Room(&items, &bytes);
  EXPECT_EQ(items, 0u);
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(limiter.Decide(), Decision::kPause);
  EXPECT_EQ(health.in_flight_items.Value(), 10);
  EXPECT_EQ(health.in_flight_bytes.Value(), 1100);
  limiter.Release(1000, 6);  // 4 items and 100 bytes: both below half
  EXPECT_EQ(wakeups.load(), 1);
  EXPECT_EQ(limiter.items(), 4u);
  EXPECT_EQ(limiter.Decide(), Decision::kResume);
  limiter.Release(100, 4);
  EXPECT_TRUE(limiter.WaitEmpty(absl::Now()));
}

TEST(InFlightLimiter, WaitEmptyHonoursTheDeadlineAndWakesOnRelease) {
  InFlightLimiter limiter({}, nullptr);
  limiter.Admit(1);
  EXPECT_FALSE(limiter.WaitEmpty(absl::Now() + absl::Milliseconds(1)));
  std::thread t([&] { limiter.Release(1); });
  EXPECT_TRUE(limiter.WaitEmpty(absl::InfiniteFuture()));
  t.join();
}

}  // namespace
}  // namespace steppewatch::pipeline
