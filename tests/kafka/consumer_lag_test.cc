#include "steppewatch/kafka/consumer_lag.h"

#include <map>
#include <string>
#include <utility>

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

// fetch_state as librdkafka 2.0.2 writes it (rd_kafka_fetch_states[]): only a partition whose
// fetch start has run counts as started.
TEST(ParseFetchStates, StartedOnlyOnceTheFetchStartHasRun) {
  constexpr char kStates[] = R"({"topics": {
    "in": {"partitions": {
      "0": {"fetch_state": "none"}, "1": {"fetch_state": "stopping"},
      "2": {"fetch_state": "stopped"}, "3": {"fetch_state": "offset-query"},
      "4": {"fetch_state": "offset-wait"}, "5": {"fetch_state": "active"},
      "6": {"consumer_lag": 1}, "7": {"fetch_state": "active"},
      "-1": {"fetch_state": "active"}}}}})";
  auto states = ParseFetchStates(
      kStates, [](std::string_view topic, int32_t partition) { return partition != 7; });
  ASSERT_THAT(states, steppewatch::testing::IsOk());
  std::map<int32_t, std::pair<std::string, bool>> got;
  for (const PartitionFetchState& s : *states) {
    EXPECT_EQ(s.topic, "in");
    got[s.partition] = {s.fetch_state, s.started};
  }
  const std::map<int32_t, std::pair<std::string, bool>> want = {
      {0, {"none", false}},        {1, {"stopping", false}},   {2, {"stopped", false}},
      {3, {"offset-query", true}}, {4, {"offset-wait", true}}, {5, {"active", true}}};
  EXPECT_EQ(got, want);
  EXPECT_FALSE(
      ParseFetchStates("{\"topics\": {", [](std::string_view, int32_t) { return true; }).ok());
}

// The document's own time stamp and the group's state, as librdkafka 2.0.2 writes them: what a
// fetch restart needs (Consumer::CheckStarts).
TEST(ParseFetchStates, ReadsTheTimeStampAndTheGroupState) {
  constexpr char kDoc[] = R"({"name": "c#consumer-1", "ts":123456789, "time":1700000000,
    "topics": {"in": {"partitions": {"0": {"fetch_state": "none"}}}},
    "cgrp": { "state": "up", "stateage": 5, "join_state": "steady", "rebalance_age": 4,
              "rebalance_cnt": 1, "rebalance_reason": "x", "assignment_size": 1 }})";
  StatisticsGroupState group;
  auto states = ParseFetchStates(
      kDoc, [](std::string_view, int32_t) { return true; }, &group);
  ASSERT_THAT(states, steppewatch::testing::IsOk());
  ASSERT_EQ(states->size(), 1u);
  EXPECT_EQ(group.ts_us, 123456789);
  EXPECT_EQ(group.state, "up");
  EXPECT_EQ(group.join_state, "steady");
  // No group (a document without "cgrp"): empty states, which never read as settled.
  group.state = "stale";
  ASSERT_THAT(
      ParseFetchStates(R"({"ts": 1})", [](std::string_view, int32_t) { return true; }, &group),
      steppewatch::testing::IsOk());
  EXPECT_EQ(group.ts_us, 1);
  EXPECT_EQ(group.state, "");
  EXPECT_EQ(group.join_state, "");
}

}  // namespace
}  // namespace steppewatch::kafka
