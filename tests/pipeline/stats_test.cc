#include "steppewatch/pipeline/stats.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/rules/pack.h"
#include "testing/paths.h"

namespace steppewatch::pipeline {
namespace {

using ::testing::ElementsAre;

TEST(Stats, FoldsWorkersAndKeepsHistogramShape) {
  Stats stats(2);
  stats.worker(0).items_processed.Add(3);
  stats.worker(1).items_processed.Add(4);
  stats.worker(0).processing_time.ObserveNanos(1'000);          // 1 us: first bucket (<= 2 us)
  stats.worker(1).processing_time.ObserveNanos(3'000'000);      // 3 ms: the 5 ms bucket
  stats.worker(1).processing_time.ObserveNanos(1'000'000'000);  // 1 s: +Inf
  StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.items_processed, 7u);
  ASSERT_EQ(s.processing_time.upper_bounds.size(), kProcessingTimeBuckets.size());
  ASSERT_EQ(s.processing_time.cumulative_counts.size(), kProcessingTimeBuckets.size() + 1);
  EXPECT_EQ(s.processing_time.cumulative_counts[0], 1u);
  EXPECT_EQ(s.processing_time.cumulative_counts[9], 1u);   // <= 2 ms
  EXPECT_EQ(s.processing_time.cumulative_counts[10], 2u);  // <= 5 ms
  EXPECT_EQ(s.processing_time.cumulative_counts.back(), 3u);
  EXPECT_EQ(s.processing_time.count, 3u);
  EXPECT_NEAR(s.processing_time.sum_seconds, 1.003001, 1e-9);
  EXPECT_EQ(s.end_to_end_latency.upper_bounds.size(), kEndToEndLatencyBuckets.size());
}

TEST(Stats, LocalObservationsAddUpToTheSameHistogram) {
  // The same durations observed one by one and through a LocalHistogram (a worker's batch)
  // give the same buckets and sum; a duration equal to a bound counts in that bound's bucket.
  const std::vector<int64_t> nanos = {-5,          0,           1'999,        2'000,
                                      2'001,       5'000,       10'000,       3'000'000,
                                      100'000'000, 100'000'001, 7'000'000'000};
  LatencyHistogram<kProcessingTimeBuckets.size()> direct(kProcessingTimeBuckets);
  LatencyHistogram<kProcessingTimeBuckets.size()> batched(kProcessingTimeBuckets);
  LocalHistogram<kProcessingTimeBuckets.size()> local(kProcessingTimeBuckets);
  for (int64_t n : nanos) direct.ObserveNanos(n);
  // Two batches: the second flush must add only what came after the first.
  for (size_t i = 0; i < 4; ++i) local.ObserveNanos(nanos[i]);
  EXPECT_EQ(local.count(), 4u);
  batched.Add(&local);
  EXPECT_EQ(local.count(), 0u);
  for (size_t i = 4; i < nanos.size(); ++i) local.ObserveNanos(nanos[i]);
  batched.Add(&local);
  batched.Add(&local);  // empty: adds nothing

  HistogramSnapshot a, b;
  direct.FoldInto(&a);
  batched.FoldInto(&b);
  // <= 2 us: -5 (as 0), 0, 1999, 2000; <= 5 us: 2001, 5000; <= 10 us: 10000; ...
  EXPECT_THAT(a.cumulative_counts,
              ElementsAre(4u, 6u, 7u, 7u, 7u, 7u, 7u, 7u, 7u, 7u, 8u, 8u, 8u, 9u, 11u));
  EXPECT_EQ(b.cumulative_counts, a.cumulative_counts);
  EXPECT_EQ(b.count, nanos.size());
  EXPECT_DOUBLE_EQ(b.sum_seconds, a.sum_seconds);
  EXPECT_NEAR(a.sum_seconds, 7.203021001, 1e-9);
}

TEST(Stats, DeadLetterReasonsAreClosed) {
  EXPECT_EQ(kDeadLetterReasons[DeadLetterReasonIndex("invalid_json")], "invalid_json");
  EXPECT_EQ(kDeadLetterReasons[DeadLetterReasonIndex("match_error")], "match_error");
  EXPECT_EQ(kDeadLetterReasons[DeadLetterReasonIndex("no such reason")], "other");
}

TEST(Stats, TopicTableRegistersOnceAndOverflowsToOther) {
  Stats stats(0);
  TopicCounters* a = stats.consumer().consumed.Register("news.items");
  EXPECT_EQ(stats.consumer().consumed.Register("news.items"), a);
  EXPECT_EQ(stats.consumer().consumed.Find("news.items"), a);
  EXPECT_EQ(stats.consumer().consumed.Find("nope"), nullptr);
  a->messages.Add(5);
  for (int i = 0; i < 100; ++i) {
    stats.delivery().produced.Register("t" + std::to_string(i))->messages.Add(1);
  }
  StatsSnapshot s = stats.Snapshot();
  ASSERT_EQ(s.consumed_by_topic.size(), 1u);
  EXPECT_EQ(s.consumed_by_topic[0].messages, 5u);
  ASSERT_EQ(s.produced_by_topic.size(), kMaxTopics);
  EXPECT_EQ(s.produced_by_topic.back().name, "_other");
  EXPECT_EQ(s.produced_by_topic.back().messages, 100u - (kMaxTopics - 1));
}

TEST(Stats, RuleCountsFollowTheNewestPack) {
  Stats stats(2);
  // Two loads of one pack are two packs; Stats only holds them (the counts given are its own).
  auto pack1 = rules::CompiledPack::Load(testing::SourceDir() / "tests/data/rules/good");
  auto pack2 = rules::CompiledPack::Load(testing::SourceDir() / "tests/data/rules/good");
  ASSERT_TRUE(pack1.ok() && pack2.ok());
  stats.worker(0).BeginPack(1, *pack1, 3);
  stats.worker(1).BeginPack(1, *pack1, 3);
  stats.worker(0).CountRule(0);
  stats.worker(1).CountRule(0);
  stats.worker(1).CountRule(2);
  stats.worker(1).CountRule(7);  // out of range: ignored
  StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.rule_pack, *pack1);
  EXPECT_THAT(s.rule_matches, ElementsAre(2, 0, 1));
  stats.worker(0).BeginPack(2, *pack2, 2);
  stats.worker(0).CountRule(1);
  s = stats.Snapshot();
  EXPECT_EQ(s.rule_pack, *pack2);
  EXPECT_EQ(s.rule_pack_generation, 2u);
  EXPECT_THAT(s.rule_matches, ElementsAre(0, 1));
}

TEST(Stats, LagIsReplacedAndRevokedPartitionsRemoved) {
  Stats stats(1);
  stats.SetConsumerLag({{"in", 0, 5, 7}, {"in", 1, 0, 0}});
  std::vector<std::pair<std::string, int32_t>> revoked = {{"in", 0}};
  stats.RemoveConsumerLag(revoked);
  StatsSnapshot s = stats.Snapshot();
  ASSERT_EQ(s.consumer_lag.size(), 1u);
  EXPECT_EQ(s.consumer_lag[0].partition, 1);
}

// A scrape concurrent with a writer sees monotonically growing values (run under TSan too).
TEST(Stats, SnapshotRacesWritersSafely) {
  Stats stats(1);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i) {
      stats.worker(0).items_processed.Add();
      stats.worker(0).processing_time.ObserveNanos(i);
    }
    done = true;
  });
  uint64_t last = 0;
  while (!done) {
    uint64_t now = stats.Snapshot().items_processed;
    EXPECT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(stats.Snapshot().items_processed, 100000u);
  EXPECT_EQ(stats.Snapshot().processing_time.count, 100000u);
}

}  // namespace
}  // namespace steppewatch::pipeline
