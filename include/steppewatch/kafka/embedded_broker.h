// EmbeddedBroker: a Kafka wire-protocol broker inside this process (librdkafka's mock cluster),
// for the daemon's embedded mode (`kafka.brokers: embedded`, `--embedded`), for the integration
// tests and for demos without a Kafka installation. Other processes (kcat, Python
// confluent-kafka, `steppewatch tail`) connect to bootstrap() over loopback.
//
// One cluster for every client: librdkafka's `test.mock.num.brokers` would give each client
// handle its own cluster (a consumer and a producer would never meet), so the cluster is made
// once with rd_kafka_mock_cluster_new() and its bootstrap string handed to all clients.
// Limits of librdkafka 2.0.2's mock: ~5 MiB kept per partition (older messages silently dropped),
// random ports, no TLS/SASL, no admin API (topics are created here), the first group join waits
// ~3 s, nothing survives the process.
//
// Thread-safe: the cluster runs on its own librdkafka threads; CreateTopic() may be called from
// any thread. Destroy it after every client that uses it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace steppewatch::kafka {

struct EmbeddedTopic {
  std::string name;
  // 16 by default: enough parallelism for a few workers, and 16 x ~5 MiB of retention.
  int partitions = 16;
};

struct EmbeddedBrokerOptions {
  // Brokers in the cluster (ids 1..n). One is enough for a demo; tests of broker failover use 3.
  int num_brokers = 1;
  std::vector<EmbeddedTopic> topics;
};

class EmbeddedBroker {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Create(
      const EmbeddedBrokerOptions& options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,...]": the bootstrap.servers of the cluster.
  const std::string& bootstrap() const { return bootstrap_; }

  // Creates `name` with `partitions` partitions (replication factor 1). Creating an existing
  // topic is an error from the mock (AlreadyExists).
  absl::Status CreateTopic(const std::string& name, int partitions);

  // The mock cluster, for fault injection in tests (rdkafka_mock.h: broker_set_down/up,
  // push_request_errors, broker_set_rtt, topic_set_error).
  rd_kafka_mock_cluster_s* cluster() const { return cluster_; }

 private:
  EmbeddedBroker(rd_kafka_s* handle, rd_kafka_mock_cluster_s* cluster);

  rd_kafka_s* handle_;  // a producer handle that never produces: the mock's bookkeeping needs one
  rd_kafka_mock_cluster_s* cluster_;
  std::string bootstrap_;
};

}  // namespace steppewatch::kafka
