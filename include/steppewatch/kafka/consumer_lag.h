// Per-partition figures out of librdkafka's statistics JSON (statistics.interval.ms):
// ParseConsumerLag for the consumer-lag gauge, ParseFetchStarted for the consumer's pause state
// (consumer.h: which new partitions librdkafka has started fetching).
// ParseConsumerLag reads topics.<t>.partitions.<p>.consumer_lag / consumer_lag_stored; skips the
// internal partition -1 and the partitions `assigned` rejects (librdkafka keeps reporting
// partitions it still knows about after a revoke). Stateless and thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka {

absl::StatusOr<std::vector<pipeline::PartitionLag>> ParseConsumerLag(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& assigned);

// One partition's fetcher state, topics.<t>.partitions.<p>.fetch_state.
struct PartitionFetchState {
  std::string topic;
  int32_t partition = 0;
  // librdkafka's name: "none" (never started), "stopping", "stopped", "offset-query",
  // "offset-wait", "active".
  std::string fetch_state;
  // Whether its fetch start has run: "offset-query", "offset-wait" or "active" (librdkafka's
  // RD_KAFKA_TOPPAR_FETCH_IS_STARTED). Any other name, a future one too, reads as not started.
  bool started = false;
};

// What the same document says about itself and the consumer group, for a fetch restart.
struct StatisticsGroupState {
  // "ts": librdkafka's monotonic clock (CLOCK_MONOTONIC, microseconds) when the document was
  // written, on librdkafka's main thread; -1 if absent.
  int64_t ts_us = -1;
  // cgrp.state ("up": the coordinator is known) and cgrp.join_state ("steady": no rebalance in
  // progress); empty if absent (no group).
  std::string state;
  std::string join_state;
};

// Returns the fetch state of each partition `wanted` accepts (partition -1 skipped), and fills
// `group` if given.
absl::StatusOr<std::vector<PartitionFetchState>> ParseFetchStates(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& wanted,
    StatisticsGroupState* group = nullptr);

}  // namespace steppewatch::kafka
