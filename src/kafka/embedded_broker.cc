// EmbeddedBroker (see embedded_broker.h).
#include "steppewatch/kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>

#include "steppewatch/common/log.h"
#include "steppewatch/kafka/log_route.h"

namespace steppewatch::kafka {

EmbeddedBroker::EmbeddedBroker(rd_kafka_t* handle, rd_kafka_mock_cluster_t* cluster)
    : handle_(handle), cluster_(cluster), bootstrap_(rd_kafka_mock_cluster_bootstraps(cluster)) {}

EmbeddedBroker::~EmbeddedBroker() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Create(
    const EmbeddedBrokerOptions& options) {
  if (options.num_brokers < 1) {
    return absl::InvalidArgumentError("embedded broker: num_brokers must be at least 1");
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // Errors only: the bookkeeping handle has no bootstrap servers and would warn about it.
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(log::Cat("embedded broker: ", err));
  }
  // The mock brokers log through this handle: through the project's logger, as JSON when asked.
  RouteLogs(conf);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(log::Cat("embedded broker: cannot create a client handle: ", err));
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, options.num_brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return absl::InternalError("embedded broker: rd_kafka_mock_cluster_new failed");
  }
  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker(rk, cluster));
  for (const EmbeddedTopic& topic : options.topics) {
    absl::Status st = broker->CreateTopic(topic.name, topic.partitions);
    if (!st.ok()) return st;
  }
  return broker;
}

absl::Status EmbeddedBroker::CreateTopic(const std::string& name, int partitions) {
  if (name.empty() || partitions < 1) {
    return absl::InvalidArgumentError(
        log::Cat("embedded broker: bad topic '", name, "' with ", partitions, " partitions"));
  }
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(
        log::Cat("embedded broker: cannot create topic '", name, "': ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

}  // namespace steppewatch::kafka
