// KafkaPipeline and fatal Kafka errors, against the real librdkafka and an in-process mock
// cluster: a fatal producer error (rd_kafka_test_fatal_error, or the broker's
// OUT_OF_ORDER_SEQUENCE_NUMBER answers to Produce) is recovered in process without losing an
// alert and without fatal(); repeated ones end in fatal() (the daemon's exit code 3); a fenced
// static member ends in fatal() of kind kFenced. Also: the clients carry the layer's defaults
// and the static-membership id.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

std::unique_ptr<EmbeddedBroker> MakeBroker(int in_partitions, int brokers = 1) {
  auto broker = EmbeddedBroker::Create(
      {.num_brokers = brokers, .topics = {{kIn, in_partitions}, {kAlerts, 2}, {kDlq, 1}}});
  EXPECT_THAT(broker, IsOk());
  return broker.ok() ? *std::move(broker) : nullptr;
}

std::vector<std::pair<std::string, std::string>> MatchingItems(int from, int to) {
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = from; i < to; ++i) {
    items.push_back({"k" + std::to_string(i), "match:item-" + std::to_string(i)});
  }
  return items;
}

std::set<std::string> AlertKeys(const std::string& bootstrap, size_t expected) {
  std::set<std::string> keys;
  for (const Record& r : ReadTopic(bootstrap, kAlerts, 2, expected, absl::Seconds(60))) {
    keys.insert(r.key);
  }
  return keys;
}

// `inject` raises the fault after the first half of the items was delivered.
void ExpectRecoveryWithoutLoss(const std::function<void(EmbeddedBroker*, KafkaPipeline*)>& inject,
                               const std::string& group) {
  // Input, group coordinator and dead letters on broker 1, alerts on broker 2: a fault injected
  // into broker 2's Produce handling hits the pipeline's producer, not the test's input feed.
  auto broker = MakeBroker(2, /*brokers=*/2);
  ASSERT_NE(broker, nullptr);
  rd_kafka_mock_cluster_t* mc = broker->cluster();
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kIn, p, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kAlerts, p, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_mock_coordinator_set(mc, "group", group.c_str(), 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  constexpr int kItems = 400;
  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(2);
  SW_ASSERT_OK_AND_ASSIGN(
      auto pipe, KafkaPipeline::Create(
                     ScriptedPipelineOptions(broker->bootstrap(), group, 2, kIn, kDlq, kAlerts),
                     &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, MatchingItems(0, kItems / 2)), kItems / 2);
  ASSERT_TRUE(WaitUntil([&] { return pipe->items_finished() == kItems / 2; }, absl::Seconds(60)));
  inject(broker.get(), pipe.get());
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, MatchingItems(kItems / 2, kItems)), kItems / 2);
  // Every item is finished and committed, every alert is on the topic, and the process would
  // go on: no fatal().
  ASSERT_TRUE(WaitUntil([&] { return pipe->items_finished() == kItems; }, absl::Seconds(60)))
      << pipe->items_finished();
  EXPECT_EQ(WaitCommitted(broker->bootstrap(), group, kIn, 2, SumIs(kItems), absl::Seconds(30)),
            "");
  EXPECT_EQ(AlertKeys(broker->bootstrap(), kItems).size(), static_cast<size_t>(kItems));
  // The fault took effect.
  EXPECT_GE(pipe->producer_recoveries(), 1);
  EXPECT_FALSE(pipe->fatal());
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
}

TEST(KafkaFatal, InjectedFatalProducerErrorIsRecoveredWithoutLoss) {
  ExpectRecoveryWithoutLoss(
      [](EmbeddedBroker*, KafkaPipeline* pipe) {
        ASSERT_THAT(pipe->InjectFatalErrorForTesting(
                        /*producer=*/true, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER),
                    IsOk());
      },
      "fatal-injected");
}

TEST(KafkaFatal, BrokersOutOfOrderSequenceErrorsAreRecoveredWithoutLoss) {
  ExpectRecoveryWithoutLoss(
      [](EmbeddedBroker* broker, KafkaPipeline*) {
        // The alert leader's next Produce requests (ApiKey 0) get a sequence error.
        ASSERT_EQ(rd_kafka_mock_broker_push_request_error_rtts(
                      broker->cluster(), /*broker_id=*/2, /*Produce=*/0, 2,
                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 0,
                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 0),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
      },
      "fatal-broker");
}

// A scripted one-worker pipeline, created and not started, on its own one-partition broker.
struct Created {
  std::unique_ptr<EmbeddedBroker> broker;
  pipeline::PackHolder packs{nullptr};
  pipeline::Stats stats{1};
  PipelineOptions options;
  std::unique_ptr<KafkaPipeline> pipe;
};

// `adjust` (may be empty) changes the options before the pipeline is created.
std::unique_ptr<Created> CreatePipeline(const std::string& group,
                                        const std::function<void(PipelineOptions*)>& adjust = {}) {
  auto c = std::make_unique<Created>();
  c->broker = MakeBroker(1);
  if (c->broker == nullptr) return nullptr;
  c->options = ScriptedPipelineOptions(c->broker->bootstrap(), group, 1, kIn, kDlq, kAlerts);
  if (adjust) adjust(&c->options);
  auto pipe = KafkaPipeline::Create(c->options, &c->packs, &c->stats);
  EXPECT_THAT(pipe, IsOk());
  if (!pipe.ok()) return nullptr;
  c->pipe = *std::move(pipe);
  return c;
}

// Fatal errors that keep coming: the pipeline gives up, stores nothing more, and says so
// (the daemon then exits 3).
TEST(KafkaFatal, RepeatedFatalProducerErrorsAreFatal) {
  auto c = CreatePipeline("fatal-repeated");
  ASSERT_NE(c, nullptr);
  KafkaPipeline* pipe = c->pipe.get();
  const PipelineOptions& options = c->options;
  ASSERT_THAT(pipe->Start(), IsOk());
  for (int round = 1; round <= options.max_fatal_producer_errors; ++round) {
    ASSERT_FALSE(pipe->fatal()) << "round " << round;
    ASSERT_THAT(pipe->InjectFatalErrorForTesting(/*producer=*/true, RD_KAFKA_RESP_ERR__FENCED),
                IsOk());
    if (round < options.max_fatal_producer_errors) {
      ASSERT_TRUE(
          WaitUntil([&] { return pipe->producer_recoveries() == round; }, absl::Seconds(30)));
    }
  }
  EXPECT_TRUE(pipe->WaitFatal(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(pipe->fatal_kind(), FatalKind::kProducer);
  (void)pipe->Stop(absl::Seconds(2));
}

// Static membership: the id reaches librdkafka, and a fenced member (another live member with
// the same id; raised here as librdkafka raises it, the 2.0.2 mock cluster does not fence) ends
// in fatal() of kind kFenced.
TEST(KafkaFatal, StaticMemberIdReachesLibrdkafkaAndFencingIsFatal) {
  auto c = CreatePipeline("static", [](PipelineOptions* o) { o->instance_id = "steppewatch-0"; });
  ASSERT_NE(c, nullptr);
  KafkaPipeline* pipe = c->pipe.get();
  EmbeddedBroker* broker = c->broker.get();
  EXPECT_EQ(pipe->ClientPropertyForTesting(/*producer=*/false, "group.instance.id"),
            "steppewatch-0");
  ASSERT_THAT(pipe->Start(), IsOk());
  ASSERT_EQ(ProduceAll(broker->bootstrap(), kIn, MatchingItems(0, 5)), 5);
  ASSERT_TRUE(WaitUntil([&] { return pipe->items_finished() == 5; }, absl::Seconds(60)));
  ASSERT_THAT(
      pipe->InjectFatalErrorForTesting(/*producer=*/false, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID),
      IsOk());
  EXPECT_TRUE(pipe->WaitFatal(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(pipe->fatal_kind(), FatalKind::kFenced);
  (void)pipe->Stop(absl::Seconds(2));
}

// One place for the defaults: the pipeline's clients carry DefaultProperties (the daemon's
// values), and the caller's properties win key by key.
TEST(KafkaFatal, ClientsCarryTheLayersDefaults) {
  auto c = CreatePipeline("defaults");
  ASSERT_NE(c, nullptr);
  KafkaPipeline* pipe = c->pipe.get();
  const PropertyMap& consumer = DefaultProperties(ClientRole::kConsumer);
  EXPECT_EQ(consumer.at("queued.max.messages.kbytes"), "131072");
  EXPECT_EQ(pipe->ClientPropertyForTesting(false, "queued.max.messages.kbytes"), "131072");
  EXPECT_EQ(pipe->ClientPropertyForTesting(false, "partition.assignment.strategy"),
            "range,roundrobin");
  EXPECT_EQ(pipe->ClientPropertyForTesting(false, "enable.auto.offset.store"), "false");
  // The tests' own session timeout (the mock's group timings) replaces the default.
  EXPECT_EQ(consumer.at("session.timeout.ms"), "10000");
  EXPECT_EQ(pipe->ClientPropertyForTesting(false, "session.timeout.ms"), "6000");
  EXPECT_EQ(pipe->ClientPropertyForTesting(true, "acks"), "-1");  // librdkafka's name for all
  EXPECT_EQ(pipe->ClientPropertyForTesting(true, "enable.idempotence"), "true");
  EXPECT_EQ(pipe->ClientPropertyForTesting(false, "group.instance.id"), std::nullopt)
      << "no static membership unless asked";
}

}  // namespace
}  // namespace steppewatch::kafka
