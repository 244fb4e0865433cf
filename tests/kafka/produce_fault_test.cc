// KafkaPipeline while the broker refuses every Produce request (librdkafka's mock cluster with
// request errors pushed for the Produce API): no input offset past an undelivered alert is
// committed for the whole fault window, failed deliveries are counted and re-produced, and once
// the errors stop every item's alert is delivered exactly once and every offset committed.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

constexpr int16_t kProduceApiKey = 0;  // the Kafka protocol's ProduceRequest

struct Delivery {
  uint64_t delivered = 0;
  uint64_t failed = 0;
};

Delivery AlertDeliveries(const pipeline::StatsSnapshot& s) {
  Delivery d;
  for (const auto& t : s.produced_by_topic) {
    if (t.name == kAlerts) {
      d.delivered += t.messages;
      d.failed += t.failed;
    }
  }
  return d;
}

class ProduceFaultTest : public ::testing::TestWithParam<rd_kafka_resp_err_t> {};

TEST_P(ProduceFaultTest, CommitsStallWhileProduceFailsThenEveryItemIsDeliveredOnce) {
  // One input partition, so that one undelivered alert holds back every offset after it.
  auto broker = EmbeddedBroker::Create({.topics = {{kIn, 1}, {kAlerts, 2}, {kDlq, 1}}});
  ASSERT_THAT(broker, IsOk());
  const std::string bootstrap = (*broker)->bootstrap();
  rd_kafka_mock_cluster_t* mc = (*broker)->cluster();

  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(1);
  // The worker waits for `gate`, so that the input can be produced before the broker starts
  // refusing Produce requests (the test's own producer would be refused too).
  ::steppewatch::Notification gate;
  PipelineOptions options = ScriptedPipelineOptions(bootstrap, "pf", 1, kIn, kDlq, kAlerts, &gate);
  // Deliveries fail after 1 s instead of 5 minutes, so the pipeline's own re-produce path runs
  // inside the fault window (librdkafka alone would keep retrying silently).
  options.producer_properties["message.timeout.ms"] = "1000";
  SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());

  // Offsets 0..19: every other item matches, starting with offset 0.
  std::vector<std::pair<std::string, std::string>> items;
  std::set<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "item-" + std::to_string(i);
    items.push_back({"k" + std::to_string(i), i % 2 == 0 ? "match:" + id : "plain " + id});
    if (i % 2 == 0) expected.insert(id);
  }
  ASSERT_EQ(ProduceAll(bootstrap, kIn, items), 20);
  ASSERT_TRUE(WaitUntil([&] { return stats.Snapshot().in_flight_items >= 1; }, absl::Seconds(30)))
      << "the pipeline consumed nothing";

  // Every Produce request from now on is refused (far more errors than the window can use).
  std::vector<rd_kafka_resp_err_t> errors(100000, GetParam());
  rd_kafka_mock_push_request_errors_array(mc, kProduceApiKey, errors.size(), errors.data());
  gate.Notify();
  // All 20 items processed, and some alert deliveries failed and were produced again: the
  // broker's errors reached the pipeline.
  ASSERT_TRUE(WaitUntil(
      [&] {
        pipeline::StatsSnapshot s = stats.Snapshot();
        return s.items_processed == 20 && AlertDeliveries(s).failed >= 1 && s.produce_retries >= 1;
      },
      absl::Seconds(30)));

  // The window: for 3 s no offset is committed and no alert is delivered, although every
  // item has been processed.
  const absl::Time window_end = absl::Now() + absl::Seconds(3);
  int samples = 0;
  while (absl::Now() < window_end) {
    ASSERT_LT(Committed(bootstrap, "pf", kIn, 1)[0], 0) << "committed past an undelivered alert";
    pipeline::StatsSnapshot s = stats.Snapshot();
    ASSERT_EQ(AlertDeliveries(s).delivered, 0u) << "an alert was delivered during the fault";
    ASSERT_GE(s.in_flight_items, 1);
    ++samples;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_GE(samples, 5);
  const pipeline::StatsSnapshot during = stats.Snapshot();
  EXPECT_GE(AlertDeliveries(during).failed, 2u) << "re-produced alerts kept failing";

  // The errors stop: every alert is delivered and every offset committed.
  rd_kafka_mock_clear_request_errors(mc, kProduceApiKey);
  EXPECT_EQ(WaitCommitted(bootstrap, "pf", kIn, 1, SumIs(20), absl::Seconds(60)), "");
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
  // Read to the end of the topic (not up to the expected count, which cannot see a duplicate).
  std::vector<Record> alerts = ReadWholeTopic(bootstrap, kAlerts, 2, absl::Seconds(30));
  std::set<std::string> keys;
  for (const Record& r : alerts) keys.insert(r.key);
  EXPECT_EQ(keys, expected);
  // A refused Produce appends nothing, so each re-produced alert exists once.
  EXPECT_EQ(alerts.size(), expected.size());
  const pipeline::StatsSnapshot end = stats.Snapshot();
  EXPECT_EQ(AlertDeliveries(end).delivered, expected.size());
  EXPECT_EQ(end.in_flight_items, 0);
}

INSTANTIATE_TEST_SUITE_P(RetriableErrors, ProduceFaultTest,
                         ::testing::Values(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                           RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT),
                         [](const ::testing::TestParamInfo<rd_kafka_resp_err_t>& info) {
                           return std::string(rd_kafka_err2name(info.param));
                         });

}  // namespace
}  // namespace steppewatch::kafka
