// ClientStatistics: what librdkafka's statistics (statistics.interval.ms, every 5 s) say about
// the daemon's Kafka clients, kept for /metrics: per-broker round-trip and throttle time, the
// producer's queue, the consumer's lag in seconds, and the producer's in-process recoveries.
// ParseClientStatistics reads one statistics document.
//
// Lag in seconds, per assigned partition: 0 when the partition is caught up (consumer_lag 0),
// otherwise the age (now minus Kafka timestamp) of the last record consumed from it. Every
// unread record was written after that one, so this bounds how long the oldest unread record
// has waited; it is exact when input arrives steadily. Chosen over lag / consume rate, which
// needs a rate window, is undefined when consumption stops, and would fall to zero exactly when
// a stalled consumer most needs an alert: the age keeps growing while nothing is consumed.
//
// Thread-safe: the clients' statistics callbacks write (consumer thread, producer poll thread),
// scrapes read Snapshot() on HTTP threads; one mutex, taken every 5 s and per scrape.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/common/mutex.h"

namespace steppewatch::kafka {

// One broker connection of one client.
struct BrokerStatistics {
  std::string client;  // "consumer" | "producer"
  std::string broker;  // librdkafka's broker name, "host:port/id"
  // Over librdkafka's statistics window; -1 = no request answered in it.
  double rtt_avg_seconds = -1;
  double rtt_p99_seconds = -1;
  double throttle_max_seconds = -1;  // the longest broker-imposed throttle (quotas)
};

struct PartitionLagSeconds {
  std::string topic;
  int32_t partition = 0;
  double seconds = 0;
};

struct ClientStatisticsSnapshot {
  std::vector<BrokerStatistics> brokers;
  int64_t producer_queue_messages = -1;  // -1 = no producer statistics yet
  int64_t producer_queue_bytes = -1;
  std::vector<PartitionLagSeconds> lag_seconds;  // assigned partitions with a known lag
  uint64_t producer_recoveries = 0;
};

// The parts of one statistics document that ClientStatistics keeps.
struct ParsedClientStatistics {
  std::vector<BrokerStatistics> brokers;  // learned brokers only (no bootstrap or logical ones)
  int64_t queue_messages = -1;            // msg_cnt: messages in the client's queues
  int64_t queue_bytes = -1;               // msg_size
};

// Parses librdkafka's statistics JSON of a client of `client` kind ("consumer"/"producer").
absl::StatusOr<ParsedClientStatistics> ParseClientStatistics(std::string_view json,
                                                             std::string_view client);

class ClientStatistics {
 public:
  // Replaces the broker entries of `parsed`'s client; a producer's also sets the queue.
  void Update(std::string_view client, ParsedClientStatistics parsed);
  void SetLagSeconds(std::vector<PartitionLagSeconds> lags);
  // Drops the lag of partitions `keep` rejects (a revoke: their series end at once).
  void RetainLagSeconds(const std::function<bool(std::string_view topic, int32_t partition)>& keep);
  void AddProducerRecovery();
  ClientStatisticsSnapshot Snapshot() const;

 private:
  mutable Mutex mu_;
  ClientStatisticsSnapshot state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace steppewatch::kafka
