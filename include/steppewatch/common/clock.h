// The wall clock in the unit Kafka timestamps, alert times and log lines use.
//
// Thread-safe.
#pragma once

#include <cstdint>

namespace steppewatch {

// Returns the wall clock (system_clock, not steady) in milliseconds since the Unix epoch, the
// unit of Kafka message timestamps: for ages and latencies measured against them.
int64_t WallMillis();

}  // namespace steppewatch
