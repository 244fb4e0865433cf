// ParseConsumerLag and ParseFetchStates (see consumer_lag.h). Each runs at most once per
// statistics interval on the consumer thread: the DOM parser and the padded copy are off the hot
// path.
#include "steppewatch/kafka/consumer_lag.h"

#include <cstdlib>
#include <string>

#include "simdjson.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {
namespace {

// Calls fn(topic, partition id, partition object) for each partition of each topic in
// librdkafka's statistics `root` that `wanted` accepts; skips the internal partition -1.
template <typename Fn>
void ForEachPartition(simdjson::dom::element root,
                      const std::function<bool(std::string_view topic, int32_t partition)>& wanted,
                      Fn fn) {
  simdjson::dom::object topics;
  if (root["topics"].get(topics) != simdjson::SUCCESS) return;  // no topics yet
  for (auto [topic_name, topic] : topics) {
    simdjson::dom::object partitions;
    if (topic["partitions"].get(partitions) != simdjson::SUCCESS) continue;
    const std::string_view topic_view(topic_name.data(), topic_name.size());
    for (auto [partition_key, partition] : partitions) {
      const std::string key(partition_key.data(), partition_key.size());
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (end == key.c_str() || *end != '\0' || id < 0) continue;  // "-1": internal UA partition
      if (!wanted(topic_view, static_cast<int32_t>(id))) continue;
      fn(topic_view, static_cast<int32_t>(id), partition);
    }
  }
}

absl::Status Parse(std::string_view json, simdjson::dom::parser& parser,
                   simdjson::padded_string& padded, simdjson::dom::element* root) {
  // The statistics JSON librdkafka hands over has no SIMDJSON_PADDING bytes after it: parse a
  // padded copy.
  padded = simdjson::padded_string(json.data(), json.size());
  if (auto err = parser.parse(padded).get(*root); err) {
    return absl::InvalidArgumentError(log::Cat("statistics JSON: ", simdjson::error_message(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<pipeline::PartitionLag>> ParseConsumerLag(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& assigned) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded;
  simdjson::dom::element root;
  if (absl::Status st = Parse(json, parser, padded, &root); !st.ok()) return st;
  std::vector<pipeline::PartitionLag> lags;
  ForEachPartition(root, assigned,
                   [&](std::string_view topic, int32_t id, simdjson::dom::element partition) {
                     pipeline::PartitionLag lag;
                     lag.topic = std::string(topic);
                     lag.partition = id;
                     int64_t v;
                     if (partition["consumer_lag"].get(v) == simdjson::SUCCESS) {
                       lag.consumer_lag = v;
                     }
                     if (partition["consumer_lag_stored"].get(v) == simdjson::SUCCESS) {
                       lag.consumer_lag_stored = v;
                     }
                     lags.push_back(std::move(lag));
                   });
  return lags;
}

absl::StatusOr<std::vector<PartitionFetchState>> ParseFetchStates(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& wanted,
    StatisticsGroupState* group) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded;
  simdjson::dom::element root;
  if (absl::Status st = Parse(json, parser, padded, &root); !st.ok()) return st;
  if (group != nullptr) {
    *group = StatisticsGroupState();
    int64_t ts = 0;
    if (root["ts"].get(ts) == simdjson::SUCCESS) group->ts_us = ts;
    std::string_view v;
    if (root["cgrp"]["state"].get(v) == simdjson::SUCCESS) group->state = std::string(v);
    if (root["cgrp"]["join_state"].get(v) == simdjson::SUCCESS) group->join_state = std::string(v);
  }
  std::vector<PartitionFetchState> states;
  ForEachPartition(
      root, wanted, [&](std::string_view topic, int32_t id, simdjson::dom::element partition) {
        std::string_view state;
        if (partition["fetch_state"].get(state) != simdjson::SUCCESS) return;
        states.push_back(
            {.topic = std::string(topic),
             .partition = id,
             .fetch_state = std::string(state),
             .started = state == "offset-query" || state == "offset-wait" || state == "active"});
      });
  return states;
}

}  // namespace steppewatch::kafka
