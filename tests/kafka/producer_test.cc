// RetryingProducer alone, against the real librdkafka and an in-process mock cluster: messages
// to several topics come back through the listener once each; a fatal idempotent-producer error
// (raised with rd_kafka_test_fatal_error, or caused by the broker's OUT_OF_ORDER_SEQUENCE_NUMBER
// answers to Produce) is recovered with a new producer and nothing is lost; repeated fatal
// errors make it give up.
#include "steppewatch/kafka/producer.h"

#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

// Counts outcomes per opaque (a message number cast to a pointer).
class Recorder : public ProducerListener {
 public:
  void OnDelivered(const rd_kafka_message_t& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    delivered_[reinterpret_cast<intptr_t>(msg._private)]++;
    topics_.insert(rd_kafka_topic_name(msg.rkt));
  }
  void OnDiscarded(void* opaque) override {
    std::lock_guard<std::mutex> lock(mu_);
    discarded_++;
  }
  void OnRecovered(rd_kafka_resp_err_t cause, size_t reproduced) override {
    std::lock_guard<std::mutex> lock(mu_);
    recovered_causes_.push_back(cause);
  }
  void OnFailed(const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    failed_reason_ = reason;
  }
  // Distinct opaques delivered at least once.
  size_t distinct_delivered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_.size();
  }
  std::set<std::string> topics() const {
    std::lock_guard<std::mutex> lock(mu_);
    return topics_;
  }
  std::string failed_reason() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_reason_;
  }
  size_t recoveries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recovered_causes_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<intptr_t, int> delivered_;
  std::set<std::string> topics_;
  std::vector<rd_kafka_resp_err_t> recovered_causes_;
  size_t discarded_ = 0;
  std::string failed_reason_;
};

void* Opaque(int i) { return reinterpret_cast<void*>(static_cast<intptr_t>(i)); }

std::unique_ptr<RetryingProducer> MakeProducer(const std::string& bootstrap, Recorder* recorder,
                                               PropertyMap extra = {}) {
  ProducerOptions options;
  options.properties = {{"bootstrap.servers", bootstrap}, {"log_level", "3"}};
  for (const auto& [k, v] : extra) options.properties[k] = v;
  auto producer = RetryingProducer::Create(options, recorder);
  EXPECT_THAT(producer, IsOk());
  return producer.ok() ? *std::move(producer) : nullptr;
}

void ProduceRange(RetryingProducer* p, const std::vector<std::string>& topics, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::string value = "v" + std::to_string(i);
    p->Produce(topics[i % topics.size()], key, value, nullptr, 0, Opaque(i), /*block=*/true);
  }
}

// A started producer on its own broker, with a Recorder as its listener.
struct Started {
  std::unique_ptr<EmbeddedBroker> broker;
  Recorder recorder;
  std::unique_ptr<RetryingProducer> producer;
  const std::string& bootstrap() const { return broker->bootstrap(); }
};

std::unique_ptr<Started> StartProducer(std::vector<EmbeddedTopic> topics) {
  auto s = std::make_unique<Started>();
  auto broker = EmbeddedBroker::Create({.topics = std::move(topics)});
  EXPECT_THAT(broker, IsOk());
  if (!broker.ok()) return nullptr;
  s->broker = *std::move(broker);
  s->producer = MakeProducer(s->broker->bootstrap(), &s->recorder);
  if (s->producer == nullptr) return nullptr;
  s->producer->Start();
  return s;
}

// Shuts `p` down as its owner does at stop (producer.h); returns Flush()'s answer.
bool ShutDown(RetryingProducer* p, absl::Duration timeout = absl::Seconds(5)) {
  p->DiscardRetries();
  p->StopPolling();
  return p->Flush(timeout);
}

// The distinct message keys of `topic`, read until `expected` messages or a timeout.
std::set<std::string> KeysOf(const std::string& bootstrap, const std::string& topic, int partitions,
                             size_t expected) {
  std::set<std::string> keys;
  for (const Record& r : ReadTopic(bootstrap, topic, partitions, expected, absl::Seconds(30))) {
    keys.insert(r.key);
  }
  return keys;
}

TEST(RetryingProducer, DeliversToSeveralTopicsOnceEach) {
  auto started = StartProducer({{"out.a", 2}, {"out.b", 2}, {"out.c", 1}});
  ASSERT_NE(started, nullptr);
  RetryingProducer* producer = started->producer.get();
  Recorder& recorder = started->recorder;
  // The client is made with the layer's producer defaults.
  EXPECT_EQ(producer->PropertyForTesting("enable.idempotence"), "true");
  EXPECT_EQ(producer->PropertyForTesting("linger.ms"), "50");
  ProduceRange(producer, {"out.a", "out.b", "out.c"}, 0, 300);
  ASSERT_TRUE(WaitUntil([&] { return recorder.distinct_delivered() == 300; }, absl::Seconds(30)));
  EXPECT_TRUE(ShutDown(producer));
  EXPECT_EQ(recorder.topics(), (std::set<std::string>{"out.a", "out.b", "out.c"}));
  EXPECT_EQ(ReadTopic(started->bootstrap(), "out.c", 1, 100, absl::Seconds(20)).size(), 100u);
  EXPECT_EQ(producer->recoveries(), 0);
}

// A fatal error in the middle of a stream: the producer is replaced, every message is delivered
// and the topic holds each of them (at least once).
TEST(RetryingProducer, RecoversFromAnInjectedFatalErrorWithoutLoss) {
  auto started = StartProducer({{"out", 4}});
  ASSERT_NE(started, nullptr);
  RetryingProducer* producer = started->producer.get();
  Recorder& recorder = started->recorder;
  ProduceRange(producer, {"out"}, 0, 200);
  ASSERT_THAT(producer->InjectFatalErrorForTesting(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER),
              IsOk());
  ProduceRange(producer, {"out"}, 200, 400);  // some hit the failed client: retried
  ASSERT_TRUE(WaitUntil([&] { return recorder.distinct_delivered() == 400; }, absl::Seconds(60)))
      << recorder.distinct_delivered();
  EXPECT_EQ(producer->recoveries(), 1);
  EXPECT_EQ(recorder.recoveries(), 1u);
  EXPECT_FALSE(producer->failed());
  EXPECT_TRUE(ShutDown(producer));
  EXPECT_EQ(KeysOf(started->bootstrap(), "out", 4, 400).size(), 400u);
}

// The broker answers Produce with OUT_OF_ORDER_SEQUENCE_NUMBER: librdkafka's idempotent producer
// raises a fatal error, which is recovered; nothing is lost.
TEST(RetryingProducer, RecoversFromTheBrokersOutOfOrderSequenceErrors) {
  auto started = StartProducer({{"out", 1}});
  ASSERT_NE(started, nullptr);
  RetryingProducer* producer = started->producer.get();
  Recorder& recorder = started->recorder;
  ProduceRange(producer, {"out"}, 0, 10);  // a first batch: the producer id is known
  ASSERT_TRUE(WaitUntil([&] { return recorder.distinct_delivered() == 10; }, absl::Seconds(30)));
  // ApiKey 0: Produce.
  rd_kafka_mock_push_request_errors(started->broker->cluster(), /*Produce=*/0, 1,
                                    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  ProduceRange(producer, {"out"}, 10, 100);
  ASSERT_TRUE(WaitUntil([&] { return recorder.distinct_delivered() == 100; }, absl::Seconds(60)))
      << recorder.distinct_delivered();
  // The fault took effect: the producer went through a recovery.
  EXPECT_GE(producer->recoveries(), 1);
  EXPECT_FALSE(producer->failed());
  (void)ShutDown(producer);
  EXPECT_EQ(KeysOf(started->bootstrap(), "out", 1, 100).size(), 100u);
}

TEST(RetryingProducer, GivesUpAfterRepeatedFatalErrors) {
  auto started = StartProducer({{"out", 1}});
  ASSERT_NE(started, nullptr);
  RetryingProducer* producer = started->producer.get();
  Recorder& recorder = started->recorder;
  for (int round = 1; round <= 3; ++round) {
    ProduceRange(producer, {"out"}, round * 10, round * 10 + 10);
    ASSERT_THAT(producer->InjectFatalErrorForTesting(RD_KAFKA_RESP_ERR__FENCED), IsOk());
    if (round < 3) {
      ASSERT_TRUE(WaitUntil([&] { return producer->recoveries() == round; }, absl::Seconds(30)));
      EXPECT_FALSE(producer->failed());
    }
  }
  ASSERT_TRUE(WaitUntil([&] { return producer->failed(); }, absl::Seconds(30)));
  EXPECT_EQ(producer->recoveries(), 2);
  EXPECT_NE(recorder.failed_reason().find("giving up"), std::string::npos)
      << recorder.failed_reason();
  (void)ShutDown(producer, absl::Seconds(1));
}

}  // namespace
}  // namespace steppewatch::kafka
