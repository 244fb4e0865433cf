// ParseConsumerLag (see consumer_lag.h). Runs once per statistics interval on the consumer
// thread: the DOM parser and the padded copy are off the hot path.
#include "steppewatch/kafka/consumer_lag.h"

#include <cstdlib>
#include <string>

#include "simdjson.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {

absl::StatusOr<std::vector<pipeline::PartitionLag>> ParseConsumerLag(
    std::string_view json,
    const std::function<bool(std::string_view topic, int32_t partition)>& assigned) {
  // The statistics JSON librdkafka hands over has no SIMDJSON_PADDING bytes after it: parse a
  // padded copy.
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err) {
    return absl::InvalidArgumentError(log::Cat("statistics JSON: ", simdjson::error_message(err)));
  }
  std::vector<pipeline::PartitionLag> lags;
  simdjson::dom::object topics;
  if (root["topics"].get(topics) != simdjson::SUCCESS) return lags;  // no topics yet
  for (auto [topic_name, topic] : topics) {
    simdjson::dom::object partitions;
    if (topic["partitions"].get(partitions) != simdjson::SUCCESS) continue;
    const std::string_view topic_view(topic_name.data(), topic_name.size());
    for (auto [partition_key, partition] : partitions) {
      const std::string key(partition_key.data(), partition_key.size());
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (end == key.c_str() || *end != '\0' || id < 0) continue;  // "-1": internal UA partition
      if (!assigned(topic_view, static_cast<int32_t>(id))) continue;
      pipeline::PartitionLag lag;
      lag.topic = std::string(topic_view);
      lag.partition = static_cast<int32_t>(id);
      int64_t v;
      if (partition["consumer_lag"].get(v) == simdjson::SUCCESS) lag.consumer_lag = v;
      if (partition["consumer_lag_stored"].get(v) == simdjson::SUCCESS) {
        lag.consumer_lag_stored = v;
      }
      lags.push_back(std::move(lag));
    }
  }
  return lags;
}

}  // namespace steppewatch::kafka
