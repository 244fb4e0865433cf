// ClientStatistics and ParseClientStatistics (see client_statistics.h). Runs once per statistics
// interval per client: the DOM parser and the padded copy are off the hot path.
#include "steppewatch/kafka/client_statistics.h"

#include <algorithm>
#include <utility>

#include "simdjson.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {

absl::StatusOr<ParsedClientStatistics> ParseClientStatistics(std::string_view json,
                                                             std::string_view client) {
  // librdkafka's buffer is not padded for simdjson: parse a padded copy.
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err) {
    return absl::InvalidArgumentError(log::Cat("statistics JSON: ", simdjson::error_message(err)));
  }
  ParsedClientStatistics out;
  int64_t v;
  if (root["msg_cnt"].get(v) == simdjson::SUCCESS) out.queue_messages = v;
  if (root["msg_size"].get(v) == simdjson::SUCCESS) out.queue_bytes = v;
  simdjson::dom::object brokers;
  if (root["brokers"].get(brokers) != simdjson::SUCCESS) return out;
  for (auto [name, broker] : brokers) {
    // Bootstrap entries (node id -1) and logical ones (the group coordinator's alias) duplicate
    // a learned broker's connection or have none.
    int64_t node_id = -1;
    std::string_view source;
    if (broker["nodeid"].get(node_id) != simdjson::SUCCESS || node_id < 0) continue;
    if (broker["source"].get(source) == simdjson::SUCCESS && source != "learned" &&
        source != "configured") {
      continue;
    }
    BrokerStatistics b;
    b.client = std::string(client);
    b.broker = std::string(name);
    // Window statistics: rtt in microseconds, throttle in milliseconds; cnt 0 = nothing in
    // the window, where librdkafka reports zeros that are not measurements.
    int64_t cnt = 0, avg = 0, p99 = 0, max = 0;
    if (broker["rtt"]["cnt"].get(cnt) == simdjson::SUCCESS && cnt > 0 &&
        broker["rtt"]["avg"].get(avg) == simdjson::SUCCESS &&
        broker["rtt"]["p99"].get(p99) == simdjson::SUCCESS) {
      b.rtt_avg_seconds = static_cast<double>(avg) / 1e6;
      b.rtt_p99_seconds = static_cast<double>(p99) / 1e6;
    }
    if (broker["throttle"]["cnt"].get(cnt) == simdjson::SUCCESS && cnt > 0 &&
        broker["throttle"]["max"].get(max) == simdjson::SUCCESS) {
      b.throttle_max_seconds = static_cast<double>(max) / 1e3;
    } else {
      b.throttle_max_seconds = 0;  // no throttled response in the window
    }
    out.brokers.push_back(std::move(b));
  }
  return out;
}

void ClientStatistics::Update(std::string_view client, ParsedClientStatistics parsed) {
  MutexLock lock(&mu_);
  auto& brokers = state_.brokers;
  brokers.erase(std::remove_if(brokers.begin(), brokers.end(),
                               [&](const BrokerStatistics& b) { return b.client == client; }),
                brokers.end());
  for (BrokerStatistics& b : parsed.brokers) {
    b.client = std::string(client);
    brokers.push_back(std::move(b));
  }
  if (client == "producer") {
    state_.producer_queue_messages = parsed.queue_messages;
    state_.producer_queue_bytes = parsed.queue_bytes;
  }
}

void ClientStatistics::SetLagSeconds(std::vector<PartitionLagSeconds> lags) {
  MutexLock lock(&mu_);
  state_.lag_seconds = std::move(lags);
}

void ClientStatistics::RetainLagSeconds(
    const std::function<bool(std::string_view topic, int32_t partition)>& keep) {
  MutexLock lock(&mu_);
  auto& lags = state_.lag_seconds;
  lags.erase(
      std::remove_if(lags.begin(), lags.end(),
                     [&](const PartitionLagSeconds& l) { return !keep(l.topic, l.partition); }),
      lags.end());
}

void ClientStatistics::AddProducerRecovery() {
  MutexLock lock(&mu_);
  ++state_.producer_recoveries;
}

ClientStatisticsSnapshot ClientStatistics::Snapshot() const {
  MutexLock lock(&mu_);
  return state_;
}

}  // namespace steppewatch::kafka
