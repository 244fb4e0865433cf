// KafkaPipeline against the real librdkafka and an in-process mock cluster (EmbeddedBroker):
// alerts out with keys and headers, dead letters with their reason headers, offsets committed
// only after delivery (a broker outage on the alert topic's leader), graceful stop and restart
// without loss, and pause/resume backpressure.
#include "steppewatch/kafka/kafka_pipeline.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using ::testing::Contains;
using ::testing::Pair;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

struct Fixture {
  std::unique_ptr<EmbeddedBroker> broker;
  pipeline::PackHolder packs{nullptr};
  std::unique_ptr<pipeline::Stats> stats;
};

PipelineOptions Options(const std::string& bootstrap, const std::string& group, int workers,
                        ::steppewatch::Notification* gate = nullptr) {
  return ScriptedPipelineOptions(bootstrap, group, workers, kIn, kDlq, kAlerts, gate);
}

// One member's view for a failure message: what it holds, has processed and has in flight.
std::string DescribeMember(const std::string& name, const pipeline::Stats& stats) {
  const pipeline::StatsSnapshot s = stats.Snapshot();
  return name + ": " + std::to_string(s.assigned_partitions) + " partition(s) assigned, " +
         std::to_string(s.paused_partitions) + " paused, " + std::to_string(s.items_processed) +
         " item(s) processed, " + std::to_string(s.in_flight_items) + " in flight";
}

std::unique_ptr<EmbeddedBroker> MakeBroker(int brokers, int in_partitions) {
  auto broker = EmbeddedBroker::Create(
      {.num_brokers = brokers, .topics = {{kIn, in_partitions}, {kAlerts, 2}, {kDlq, 1}}});
  EXPECT_THAT(broker, IsOk());
  return broker.ok() ? *std::move(broker) : nullptr;
}

TEST(KafkaPipeline, AlertsAndDeadLettersOutOffsetsCommitted) {
  auto broker = MakeBroker(1, 4);
  ASSERT_NE(broker, nullptr);
  // 60 items: every 3rd matches, every 5th (not matching) is bad.
  std::vector<std::pair<std::string, std::string>> items;
  std::set<std::string> matching, bad;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (i % 3 == 0) {
      items.push_back({key, "match:item-" + std::to_string(i)});
      matching.insert("item-" + std::to_string(i));
    } else if (i % 5 == 0) {
      items.push_back({key, "bad:" + std::to_string(i)});
      bad.insert(key);
    } else {
      items.push_back({key, "nothing here " + std::to_string(i)});
    }
  }
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, items, {{"source", "test"}}), 60);

  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(2);
  SW_ASSERT_OK_AND_ASSIGN(
      auto pipe, KafkaPipeline::Create(Options(broker->bootstrap(), "g1", 2), &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());

  std::vector<Record> alerts =
      ReadTopic(broker->bootstrap(), kAlerts, 2, matching.size(), absl::Seconds(60));
  std::vector<Record> dead = ReadTopic(broker->bootstrap(), kDlq, 1, bad.size(), absl::Seconds(30));
  // Every item's offset is committed (auto-commit every 100 ms of what we stored).
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), "g1", kIn, 4, SumIs(60), absl::Seconds(30)), "");
  ASSERT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());

  std::set<std::string> alert_keys;
  for (const Record& r : alerts) {
    alert_keys.insert(r.key);
    EXPECT_THAT(r.headers, Contains(Pair("steppewatch.rules", "test.rule")));
    EXPECT_THAT(r.value, ::testing::HasSubstr("\"id\":\"" + r.key + "\""));
  }
  EXPECT_EQ(alert_keys, matching);
  EXPECT_EQ(alerts.size(), matching.size()) << "no duplicates without faults";

  std::set<std::string> dead_keys;
  for (const Record& r : dead) {
    dead_keys.insert(r.key);
    EXPECT_EQ(r.value, "bad:" + r.key.substr(1)) << "original value kept";
    EXPECT_THAT(r.headers, Contains(Pair("steppewatch.error.reason", "invalid_json")));
    EXPECT_THAT(r.headers, Contains(Pair("steppewatch.error.message", "scripted bad item")));
    EXPECT_THAT(r.headers, Contains(Pair("steppewatch.error.topic", kIn)));
    EXPECT_THAT(r.headers, Contains(Pair("source", "test"))) << "original headers kept";
    EXPECT_TRUE(r.headers.contains("steppewatch.error.partition"));
    EXPECT_TRUE(r.headers.contains("steppewatch.error.offset"));
    EXPECT_TRUE(r.headers.contains("steppewatch.error.rule_pack"));
    EXPECT_GT(r.timestamp_ms, 0);
  }
  EXPECT_EQ(dead_keys, bad);

  pipeline::StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.items_processed, 60u);
  EXPECT_EQ(s.items_matched, matching.size());
  EXPECT_EQ(s.dead_letters_by_reason[pipeline::DeadLetterReasonIndex("invalid_json")], bad.size());
  EXPECT_EQ(s.dead_letters_produced_by_reason[pipeline::DeadLetterReasonIndex("invalid_json")],
            bad.size());
  EXPECT_EQ(s.end_to_end_latency.count, matching.size());
  // The workers' duration histograms (gathered per batch, added after it): one observation per
  // item, match time for every item that was not dead-lettered.
  EXPECT_EQ(s.processing_time.count, 60u);
  EXPECT_EQ(s.queue_wait.count, 60u);
  EXPECT_EQ(s.match_time.count, 60u - bad.size());
  EXPECT_GT(s.processing_time.sum_seconds, 0);
  EXPECT_GE(s.rebalances_by_kind[0], 1u);
  EXPECT_EQ(s.in_flight_items, 0);
  ASSERT_EQ(s.consumed_by_topic.size(), 1u);
  EXPECT_EQ(s.consumed_by_topic[0].messages, 60u);
}

// The alert topic's leader goes down: deliveries fail (after a short message.timeout.ms) and are
// re-produced; meanwhile the committed offset must stop exactly at the first matching item.
TEST(KafkaPipeline, OffsetNeverPassesAnUndeliveredAlert) {
  auto broker = MakeBroker(2, 1);
  ASSERT_NE(broker, nullptr);
  rd_kafka_mock_cluster_t* mc = broker->cluster();
  // Input partition, group coordinator and dead letters on broker 1; alerts on broker 2.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kIn, 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kAlerts, 0, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kAlerts, 1, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_coordinator_set(mc, "group", "g2", 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(1);
  PipelineOptions options = Options(broker->bootstrap(), "g2", 1);
  // Fail deliveries after 1.5 s instead of 5 minutes, so the re-produce path runs.
  options.producer_properties["message.timeout.ms"] = "1500";
  SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());

  // Warm up: one alert delivered, so the producer knows the alert topic's leader.
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, {{"w", "match:warm"}}), 1);
  ASSERT_EQ(ReadTopic(broker->bootstrap(), kAlerts, 2, 1, absl::Seconds(30)).size(), 1u);
  ASSERT_EQ(WaitCommitted(broker->bootstrap(), "g2", kIn, 1, SumIs(1), absl::Seconds(30)), "");

  ASSERT_EQ(rd_kafka_mock_broker_set_down(mc, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  // Offsets 1..3 match nothing, 4 matches (its alert cannot be delivered), 5..9 match nothing.
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 1; i <= 9; ++i) {
    items.push_back({"k" + std::to_string(i), i == 4 ? "match:blocked" : "plain"});
  }
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, items), 9);
  // All 9 processed, the delivery of offset 4's alert failed at least once...
  ASSERT_TRUE(WaitUntil(
      [&] {
        pipeline::StatsSnapshot s = stats.Snapshot();
        uint64_t failed = 0;
        for (const auto& t : s.produced_by_topic) failed += t.failed;
        return s.items_processed == 10 && failed >= 1 && s.produce_retries >= 1;
      },
      absl::Seconds(30)));
  // ...and the committed offset stops at 4: items 5..9 are finished but not stored.
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), "g2", kIn, 1, SumIs(4), absl::Seconds(10)), "");
  EXPECT_EQ(Committed(broker->bootstrap(), "g2", kIn, 1)[0], 4);

  ASSERT_EQ(rd_kafka_mock_broker_set_up(mc, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), "g2", kIn, 1, SumIs(10), absl::Seconds(60)), "");
  std::vector<Record> alerts = ReadTopic(broker->bootstrap(), kAlerts, 2, 2, absl::Seconds(30));
  std::set<std::string> keys;
  for (const Record& r : alerts) keys.insert(r.key);
  EXPECT_EQ(keys, (std::set<std::string>{"warm", "blocked"}));
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
}

// Stop mid-stream, restart in the same group: every matching item has its alert, and a graceful
// stop leaves no duplicates (everything finished was stored and committed on close).
TEST(KafkaPipeline, GracefulStopThenRestartLosesNothing) {
  auto broker = MakeBroker(1, 4);
  ASSERT_NE(broker, nullptr);
  constexpr int kItems = 2000;
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < kItems; ++i) {
    items.push_back(
        {"k" + std::to_string(i), i % 2 == 0 ? "match:item-" + std::to_string(i) : "plain"});
  }
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, items), kItems);

  pipeline::PackHolder packs(nullptr);
  uint64_t first_run = 0;
  {
    pipeline::Stats stats(2);
    PipelineOptions options = Options(broker->bootstrap(), "g3", 2);
    options.limits.max_items = 50;  // keep the first run from finishing everything at once
    SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
    ASSERT_THAT(pipe->Start(), IsOk());
    ASSERT_TRUE(WaitUntil([&] { return pipe->items_finished() >= 200; }, absl::Seconds(60)));
    ASSERT_THAT(pipe->Stop(absl::Seconds(20)), IsOk());
    first_run = pipe->items_finished();
  }
  const int64_t committed = SumCommitted(Committed(broker->bootstrap(), "g3", kIn, 4));
  EXPECT_EQ(committed, static_cast<int64_t>(first_run)) << "everything finished was committed";
  {
    pipeline::Stats stats(2);
    SW_ASSERT_OK_AND_ASSIGN(
        auto pipe, KafkaPipeline::Create(Options(broker->bootstrap(), "g3", 2), &packs, &stats));
    ASSERT_THAT(pipe->Start(), IsOk());
    ASSERT_EQ(WaitCommitted(broker->bootstrap(), "g3", kIn, 4, SumIs(kItems), absl::Seconds(60)),
              "");
    ASSERT_THAT(pipe->Stop(absl::Seconds(20)), IsOk());
  }
  std::vector<Record> alerts =
      ReadTopic(broker->bootstrap(), kAlerts, 2, kItems / 2, absl::Seconds(60));
  std::map<std::string, int> seen;
  for (const Record& r : alerts) seen[r.key]++;
  int duplicates = 0;
  for (int i = 0; i < kItems; i += 2) {
    const std::string id = "item-" + std::to_string(i);
    EXPECT_GE(seen[id], 1) << id << " lost";
    duplicates += std::max(0, seen[id] - 1);
  }
  EXPECT_EQ(duplicates, 0);
  std::printf("first run finished %llu of %d items; alerts %zu, duplicates %d\n",
              static_cast<unsigned long long>(first_run), kItems, alerts.size(), duplicates);
}

// With the workers held, the consumer admits up to the in-flight limit, pauses every assigned
// partition, and resumes when the workers catch up.
TEST(KafkaPipeline, PausesAtTheInFlightLimitAndResumes) {
  auto broker = MakeBroker(1, 2);
  ASSERT_NE(broker, nullptr);
  constexpr int kItems = 500;
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < kItems; ++i) items.push_back({"k" + std::to_string(i), "plain"});
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, items), kItems);

  ::steppewatch::Notification gate;
  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(1);
  PipelineOptions options = Options(broker->bootstrap(), "g4", 1, &gate);
  options.limits.max_items = 20;
  SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());
  ASSERT_TRUE(WaitUntil(
      [&] {
        pipeline::StatsSnapshot s = stats.Snapshot();
        return s.pauses >= 1 && s.paused_partitions == 2;
      },
      absl::Seconds(30)));
  pipeline::StatsSnapshot paused = stats.Snapshot();
  EXPECT_GE(paused.in_flight_items, 20);
  // Pausing stops the flow: what was admitted is the limit plus what one poll batch carried in
  // before the pause took effect, far from all 500.
  EXPECT_LT(paused.in_flight_items, kItems);
  gate.Notify();
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), "g4", kIn, 2, SumIs(kItems), absl::Seconds(60)), "");
  pipeline::StatsSnapshot done = stats.Snapshot();
  EXPECT_EQ(done.items_processed, static_cast<uint64_t>(kItems));
  EXPECT_EQ(done.paused_partitions, 0) << "resumed";
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
}

// A member whose workers are stuck when a second member joins: its revoke callback waits
// revoke_drain_timeout, abandons the stuck items (their offsets are never stored) and lets the
// rebalance go on; the group then processes every item, at least once.
TEST(KafkaPipeline, RevokeAbandonsStuckItemsAndTheGroupLosesNothing) {
  auto broker = MakeBroker(1, 4);
  ASSERT_NE(broker, nullptr);
  constexpr int kItems = 200;
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < kItems; ++i) {
    items.push_back({"k" + std::to_string(i), "match:item-" + std::to_string(i)});
  }
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, items), kItems);

  pipeline::PackHolder packs(nullptr);
  ::steppewatch::Notification gate;
  pipeline::Stats stats_a(1), stats_b(1);
  PipelineOptions a_options = Options(broker->bootstrap(), "g5", 1, &gate);
  a_options.limits.max_items = 20;
  a_options.revoke_drain_timeout = absl::Seconds(2);
  SW_ASSERT_OK_AND_ASSIGN(auto a, KafkaPipeline::Create(a_options, &packs, &stats_a));
  ASSERT_THAT(a->Start(), IsOk());
  ASSERT_TRUE(
      WaitUntil([&] { return stats_a.Snapshot().in_flight_items >= 20; }, absl::Seconds(30)));
  SW_ASSERT_OK_AND_ASSIGN(
      auto b, KafkaPipeline::Create(Options(broker->bootstrap(), "g5", 1), &packs, &stats_b));
  ASSERT_THAT(b->Start(), IsOk());
  // A's revoke gave up on its stuck items (its callback ends with nothing assigned, after
  // revoke_drain_timeout); then its worker is released. Released as soon as the revoke began,
  // the worker would finish the items within the drain and nothing would be abandoned.
  pipeline::StatsSnapshot a_seen;
  ASSERT_TRUE(WaitUntil(
      [&] {
        a_seen = stats_a.Snapshot();
        return a_seen.rebalances_by_kind[1] >= 1 && a_seen.assigned_partitions == 0;
      },
      absl::Seconds(30)))
      << "A's revokes " << a_seen.rebalances_by_kind[1] << ", assigned "
      << a_seen.assigned_partitions;
  gate.Notify();
  // Each partition's committed offset reaches its end. On failure the last answer says which
  // partition stopped (-1001: nothing committed), and the members' views say who holds what.
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), "g5", kIn, 4, SumIs(kItems), absl::Seconds(90)), "")
      << DescribeMember("A", stats_a) << "; " << DescribeMember("B", stats_b);
  EXPECT_THAT(a->Stop(absl::Seconds(10)), IsOk());
  EXPECT_THAT(b->Stop(absl::Seconds(10)), IsOk());

  // Duplicates are expected here, so the count of alerts is unknown: read for 10 s (the stop
  // above flushed every delivery, so everything is on the broker already). No cap near kItems:
  // under TSan a run had 300 duplicates (the commit on revoke can fail with "rebalance in
  // progress", and the next owner re-reads from the last commit), and a cap of 2 x kItems
  // stopped the read before every item was seen.
  std::vector<Record> alerts =
      ReadTopic(broker->bootstrap(), kAlerts, 2, 50 * kItems, absl::Seconds(10));
  std::map<std::string, int> seen;
  for (const Record& r : alerts) seen[r.key]++;
  int duplicates = 0;
  for (int i = 0; i < kItems; ++i) {
    const std::string id = "item-" + std::to_string(i);
    EXPECT_GE(seen[id], 1) << id << " lost";
    duplicates += std::max(0, seen[id] - 1);
  }
  std::printf("revoke with stuck items: %zu alerts for %d items, %d duplicates\n", alerts.size(),
              kItems, duplicates);
}

}  // namespace
}  // namespace steppewatch::kafka
