#include "steppewatch/kafka/consumer_lag.h"

#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace steppewatch::kafka {
namespace {

// The shape of librdkafka 2.0.2's statistics (trimmed): partition -1 is the internal
// unassigned partition; "in"/2 is known to the client but no longer assigned.
constexpr char kStats[] = R"({
  "name": "steppewatch#consumer-1", "type": "consumer",
  "topics": {
    "in": {"topic": "in", "partitions": {
      "0": {"partition": 0, "consumer_lag": 12, "consumer_lag_stored": 15},
      "1": {"partition": 1, "consumer_lag": -1, "consumer_lag_stored": -1},
      "2": {"partition": 2, "consumer_lag": 99, "consumer_lag_stored": 99},
      "-1": {"partition": -1, "consumer_lag": -1, "consumer_lag_stored": -1}}},
    "other": {"topic": "other", "partitions": {}}
  }
})";

TEST(ParseConsumerLag, ReadsAssignedPartitionsAndSkipsTheRest) {
  auto lags = ParseConsumerLag(kStats, [](std::string_view topic, int32_t partition) {
    return topic == "in" && partition != 2;
  });
  ASSERT_THAT(lags, steppewatch::testing::IsOk());
  ASSERT_EQ(lags->size(), 2u);
  EXPECT_EQ((*lags)[0].topic, "in");
  EXPECT_EQ((*lags)[0].partition, 0);
  EXPECT_EQ((*lags)[0].consumer_lag, 12);
  EXPECT_EQ((*lags)[0].consumer_lag_stored, 15);
  EXPECT_EQ((*lags)[1].partition, 1);
  EXPECT_EQ((*lags)[1].consumer_lag, -1);
}

TEST(ParseConsumerLag, RejectsBrokenJsonAndAcceptsNoTopics) {
  auto all = [](std::string_view, int32_t) { return true; };
  EXPECT_FALSE(ParseConsumerLag("{\"topics\": {", all).ok());
  auto none = ParseConsumerLag("{\"name\": \"x\"}", all);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace steppewatch::kafka
