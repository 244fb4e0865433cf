#include "steppewatch/pipeline/offset_tracker.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace steppewatch::pipeline {
namespace {

TEST(PartitionOffsets, NothingCommittableUntilTheFirstItemFinishes) {
  PartitionOffsets p("in", 0);
  uint64_t a = p.Begin(10);
  uint64_t b = p.Begin(11);
  EXPECT_EQ(p.TakeCommittable(), -1);
  p.Finish(b);  // out of order: 10 still in flight
  EXPECT_EQ(p.TakeCommittable(), -1);
  EXPECT_EQ(p.in_flight(), 2u);
  p.Finish(a);
  EXPECT_EQ(p.TakeCommittable(), 12);  // both done: store last + 1
  EXPECT_EQ(p.TakeCommittable(), -1);  // unchanged since the last take
  EXPECT_EQ(p.in_flight(), 0u);
  EXPECT_EQ(p.committed_watermark(), 12);
}

TEST(PartitionOffsets, WatermarkStopsAtTheOldestUnfinishedItem) {
  PartitionOffsets p("in", 3);
  std::vector<uint64_t> seq;
  for (int64_t o = 100; o < 110; ++o) seq.push_back(p.Begin(o));
  // Finish everything but offset 104 (an item whose alert is still unacknowledged).
  for (int i = 9; i >= 0; --i) {
    if (i != 4) p.Finish(seq[i]);
  }
  EXPECT_EQ(p.TakeCommittable(), 104);  // 100..103 done: 104 must be re-consumed after a crash
  p.Finish(seq[4]);
  EXPECT_EQ(p.TakeCommittable(), 110);
}

TEST(PartitionOffsets, FinishManyMarksEveryItemAndAdvancesOnce) {
  PartitionOffsets p("in", 1);
  std::vector<uint64_t> seq;
  for (int64_t o = 200; o < 208; ++o) seq.push_back(p.Begin(o));
  // A worker's batch, out of order, leaving 203 and 207 in flight.
  const uint64_t batch[] = {seq[2], seq[0], seq[6], seq[1], seq[5], seq[4]};
  p.FinishMany(batch, 6);
  EXPECT_EQ(p.TakeCommittable(), 203);
  EXPECT_EQ(p.in_flight(), 5u);  // 203..207 until the watermark passes them
  const uint64_t rest[] = {seq[3]};
  p.FinishMany(rest, 1);
  EXPECT_EQ(p.TakeCommittable(), 207);  // 204..206 were marked by the first call
  p.FinishMany(nullptr, 0);
  EXPECT_EQ(p.TakeCommittable(), -1);
  p.Finish(seq[7]);
  EXPECT_EQ(p.TakeCommittable(), 208);
  EXPECT_TRUE(p.WaitIdle(absl::Now()));
}

TEST(PartitionOffsets, OffsetGapsAreFine) {
  PartitionOffsets p("in", 0);
  uint64_t a = p.Begin(5);
  uint64_t b = p.Begin(9);  // 6..8 compacted away or transaction markers
  p.Finish(a);
  EXPECT_EQ(p.TakeCommittable(), 6);
  p.Finish(b);
  EXPECT_EQ(p.TakeCommittable(), 10);
}

TEST(PartitionOffsets, RingGrowsPastItsInitialSize) {
  PartitionOffsets p("in", 0);
  std::vector<uint64_t> seq;
  for (int64_t o = 0; o < 5000; ++o) seq.push_back(p.Begin(o));
  for (size_t i = 1; i < seq.size(); ++i) p.Finish(seq[i]);
  EXPECT_EQ(p.TakeCommittable(), -1);
  p.Finish(seq[0]);
  EXPECT_EQ(p.TakeCommittable(), 5000);
}

TEST(PartitionOffsets, AbandonedPartitionNeverCommits) {
  PartitionOffsets p("in", 0);
  uint64_t a = p.Begin(1);
  p.Abandon();
  EXPECT_TRUE(p.abandoned());
  p.Finish(a);
  EXPECT_EQ(p.TakeCommittable(), -1);
  EXPECT_EQ(p.in_flight(), 0u);
}

TEST(PartitionOffsets, WaitIdleTimesOutThenSucceeds) {
  PartitionOffsets p("in", 0);
  uint64_t a = p.Begin(1);
  EXPECT_FALSE(p.WaitIdle(absl::Now()));  // deadline already passed, item in flight
  std::thread t([&] { p.Finish(a); });
  EXPECT_TRUE(p.WaitIdle(absl::InfiniteFuture()));
  t.join();
}

// Multi-output items finishing on many threads in random order: the committable offset never
// passes an unfinished item and ends at the last offset + 1.
TEST(PartitionOffsets, ConcurrentRandomFinishNeverPassesAnUnfinishedItem) {
  constexpr int kItems = 20000;
  PartitionOffsets p("in", 0);
  std::vector<uint64_t> seq(kItems);
  std::vector<std::atomic<bool>> done(kItems);
  for (int i = 0; i < kItems; ++i) seq[i] = p.Begin(i * 2);  // even offsets only
  std::vector<int> order(kItems);
  for (int i = 0; i < kItems; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::atomic<size_t> next{0};
  auto finisher = [&] {
    for (size_t k; (k = next.fetch_add(1)) < order.size();) {
      done[order[k]].store(true);
      p.Finish(seq[order[k]]);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(finisher);
  // Sample the watermark while the finishers run, as the consumer thread does.
  int64_t last = -1;
  auto check = [&](int64_t c) {
    if (c < 0) return;
    ASSERT_GT(c, last);
    for (int i = 0; i < kItems && i * 2 < c; ++i) ASSERT_TRUE(done[i].load()) << i;
    last = c;
  };
  while (next.load() < order.size()) check(p.TakeCommittable());
  for (auto& t : threads) t.join();
  check(p.TakeCommittable());
  EXPECT_EQ(p.in_flight(), 0u);
  EXPECT_EQ(last, 2 * (kItems - 1) + 1);
}

}  // namespace
}  // namespace steppewatch::pipeline
