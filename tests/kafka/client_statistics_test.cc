// ParseClientStatistics and ClientStatistics: the broker, queue and lag figures /metrics shows,
// from librdkafka's statistics JSON (the shape of 2.0.2's, trimmed), and the same figures out of
// a running pipeline against the mock cluster.
#include "steppewatch/kafka/client_statistics.h"

#include <string>

#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

// A bootstrap entry (node id -1), a logical coordinator alias, a learned broker with traffic
// and throttling, and a learned broker without requests in the window.
constexpr char kStats[] = R"({
  "name": "steppewatch#producer-1", "type": "producer", "msg_cnt": 42, "msg_size": 4200,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1,
      "source": "configured", "rtt": {"cnt": 3, "avg": 900, "p99": 1000},
      "throttle": {"cnt": 0, "max": 0}},
    "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": 1, "source": "logical",
      "rtt": {"cnt": 1, "avg": 5, "p99": 5}, "throttle": {"cnt": 0, "max": 0}},
    "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned",
      "rtt": {"cnt": 20, "avg": 1500, "p99": 12000}, "throttle": {"cnt": 2, "max": 250}},
    "127.0.0.1:9093/2": {"name": "127.0.0.1:9093/2", "nodeid": 2, "source": "learned",
      "rtt": {"cnt": 0, "avg": 0, "p99": 0}, "throttle": {"cnt": 0, "max": 0}}
  }
})";

TEST(ParseClientStatistics, ReadsLearnedBrokersAndTheQueue) {
  SW_ASSERT_OK_AND_ASSIGN(ParsedClientStatistics p, ParseClientStatistics(kStats, "producer"));
  EXPECT_EQ(p.queue_messages, 42);
  EXPECT_EQ(p.queue_bytes, 4200);
  ASSERT_EQ(p.brokers.size(), 2u);
  const BrokerStatistics& b1 =
      p.brokers[0].broker == "127.0.0.1:9092/1" ? p.brokers[0] : p.brokers[1];
  const BrokerStatistics& b2 = &b1 == &p.brokers[0] ? p.brokers[1] : p.brokers[0];
  EXPECT_EQ(b1.client, "producer");
  EXPECT_DOUBLE_EQ(b1.rtt_avg_seconds, 0.0015);
  EXPECT_DOUBLE_EQ(b1.rtt_p99_seconds, 0.012);
  EXPECT_DOUBLE_EQ(b1.throttle_max_seconds, 0.25);
  EXPECT_EQ(b2.broker, "127.0.0.1:9093/2");
  EXPECT_LT(b2.rtt_avg_seconds, 0) << "no request in the window: no sample";
  EXPECT_EQ(b2.throttle_max_seconds, 0);
  EXPECT_FALSE(ParseClientStatistics("{\"brokers\": {", "producer").ok());
}

TEST(ClientStatistics, KeepsEachClientsBrokersAndThePartitionsStillAssigned) {
  ClientStatistics stats;
  SW_ASSERT_OK_AND_ASSIGN(ParsedClientStatistics p, ParseClientStatistics(kStats, "producer"));
  stats.Update("producer", p);
  stats.Update("consumer", p);
  stats.Update("producer", p);  // replaces, never appends
  stats.SetLagSeconds({{"in", 0, 0.0}, {"in", 1, 12.5}});
  stats.RetainLagSeconds([](std::string_view, int32_t partition) { return partition == 1; });
  stats.AddProducerRecovery();
  const ClientStatisticsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.brokers.size(), 4u);
  EXPECT_EQ(s.producer_queue_messages, 42);
  ASSERT_EQ(s.lag_seconds.size(), 1u);
  EXPECT_EQ(s.lag_seconds[0].partition, 1);
  EXPECT_EQ(s.producer_recoveries, 1u);
}

// A running pipeline fills them from both clients' statistics (1 s here instead of 5 s).
TEST(ClientStatistics, ARunningPipelineReportsBrokersQueueAndLagSeconds) {
  auto broker = EmbeddedBroker::Create({.topics = {{"in", 2}, {"alerts", 2}, {"dlq", 1}}});
  ASSERT_THAT(broker, IsOk());
  ClientStatistics client_stats;
  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(1);
  PipelineOptions options =
      ScriptedPipelineOptions((*broker)->bootstrap(), "stats", 1, "in", "dlq", "alerts");
  options.consumer_properties["statistics.interval.ms"] = "1000";
  options.producer_properties["statistics.interval.ms"] = "1000";
  options.client_statistics = &client_stats;
  SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());
  ASSERT_EQ(ProduceAll((*broker)->bootstrap(), "in", {{"a", "match:a"}, {"b", "match:b"}}), 2);
  ASSERT_TRUE(WaitUntil([&] { return pipe->items_finished() == 2; }, absl::Seconds(60)));
  auto has_all = [&] {
    const ClientStatisticsSnapshot s = client_stats.Snapshot();
    // The consumer fetches all the time, so it has a round trip in every window (which
    // includes the broker's fetch long-poll, fetch.wait.max.ms); the idle producer has its
    // broker listed, without an rtt sample once nothing was produced in the window. A
    // partition that never had a record has no known lag (librdkafka says -1): one of two.
    bool consumer_rtt = false, producer_broker = false;
    for (const BrokerStatistics& b : s.brokers) {
      consumer_rtt |= b.client == "consumer" && b.rtt_avg_seconds >= 0;
      producer_broker |= b.client == "producer";
    }
    return consumer_rtt && producer_broker && s.producer_queue_messages >= 0 &&
           !s.lag_seconds.empty();
  };
  EXPECT_TRUE(WaitUntil(has_all, absl::Seconds(30))) << [&] {
    const ClientStatisticsSnapshot s = client_stats.Snapshot();
    std::string out = "queue " + std::to_string(s.producer_queue_messages) + ", lag partitions " +
                      std::to_string(s.lag_seconds.size()) + ", brokers:";
    for (const BrokerStatistics& b : s.brokers) {
      out += " " + b.client + "/" + b.broker + "/" + std::to_string(b.rtt_avg_seconds);
    }
    return out;
  }();
  for (const PartitionLagSeconds& l : client_stats.Snapshot().lag_seconds) {
    EXPECT_EQ(l.seconds, 0) << "caught up: " << l.topic << "/" << l.partition;
  }
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
}

}  // namespace
}  // namespace steppewatch::kafka
