// ParseConsumerLag: the per-partition consumer lag out of librdkafka's statistics JSON
// (statistics.interval.ms), for the consumer-lag gauge.
// Reads topics.<t>.partitions.<p>.consumer_lag / consumer_lag_stored; skips the internal
// partition -1 and the partitions `assigned` rejects (librdkafka keeps reporting partitions it
// still knows about after a revoke). Stateless and thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka {

absl::StatusOr<std::vector<pipeline::PartitionLag>> ParseConsumerLag(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& assigned);

}  // namespace steppewatch::kafka
