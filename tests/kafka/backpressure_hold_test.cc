// KafkaPipeline backpressure, first stage: at the in-flight limit the consumer thread holds
// (takes nothing more from librdkafka) instead of pausing its partitions, so librdkafka's
// prefetched data is kept; a pause comes only when the hold lasts hold_before_pause. Real
// librdkafka against the in-process mock cluster. The pause stage itself is covered by
// KafkaPipeline.PausesAtTheInFlightLimitAndResumes in kafka_pipeline_test.cc.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

using ::steppewatch::testing::IsOk;
using namespace ::steppewatch::kafka::testing;  // NOLINT: test helpers

// The workers are gated for as long as the test likes; with a hold that never turns into a
// pause, the consumer stops at exactly the limit and no partition is ever paused; once the
// workers run again every item is processed and committed.
TEST(Backpressure, HoldsAtTheLimitWithoutPausingThenCatchesUp) {
  auto broker =
      EmbeddedBroker::Create({.num_brokers = 1, .topics = {{kIn, 2}, {kAlerts, 2}, {kDlq, 1}}});
  ASSERT_THAT(broker, IsOk());
  const std::string bootstrap = (*broker)->bootstrap();
  constexpr int kItems = 500;
  constexpr size_t kLimit = 20;
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < kItems; ++i) items.push_back({"k" + std::to_string(i), "plain"});
  ASSERT_EQ(ProduceAll(bootstrap, kIn, items), kItems);

  ::steppewatch::Notification gate;
  pipeline::PackHolder packs(nullptr);
  pipeline::Stats stats(1);
  PipelineOptions options =
      ScriptedPipelineOptions(bootstrap, "hold", 1, kIn, kDlq, kAlerts, &gate);
  options.limits.max_items = kLimit;
  options.hold_before_pause = absl::Hours(1);
  SW_ASSERT_OK_AND_ASSIGN(auto pipe, KafkaPipeline::Create(options, &packs, &stats));
  ASSERT_THAT(pipe->Start(), IsOk());
  ASSERT_TRUE(WaitUntil([&] { return stats.Snapshot().pauses >= 1; }, absl::Seconds(30)))
      << "the consumer never reached the in-flight limit";
  // Holding means not polling: give a polling consumer ample time to overshoot, then look.
  absl::SleepFor(absl::Milliseconds(500));
  const pipeline::StatsSnapshot held = stats.Snapshot();
  EXPECT_EQ(held.in_flight_items, static_cast<int64_t>(kLimit))
      << "a holding consumer admits nothing past the limit";
  EXPECT_EQ(held.paused_partitions, 0) << "a hold shorter than hold_before_pause never pauses";
  EXPECT_EQ(held.items_processed, 0u);

  gate.Notify();
  EXPECT_EQ(WaitCommitted(bootstrap, "hold", kIn, 2, SumIs(kItems), absl::Seconds(60)), "");
  const pipeline::StatsSnapshot done = stats.Snapshot();
  EXPECT_EQ(done.items_processed, static_cast<uint64_t>(kItems));
  EXPECT_EQ(done.paused_partitions, 0);
  EXPECT_THAT(pipe->Stop(absl::Seconds(10)), IsOk());
}

}  // namespace
}  // namespace steppewatch::kafka
