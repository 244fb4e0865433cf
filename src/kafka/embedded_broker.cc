// EmbeddedBroker (see embedded_broker.h).
#include "steppewatch/kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>

#include "steppewatch/common/log.h"
#include "steppewatch/kafka/client.h"
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
  ClientSpec spec;
  spec.type = RD_KAFKA_PRODUCER;
  // Errors only: the bookkeeping handle has no bootstrap servers and would warn about it.
  spec.properties = {{"log_level", "3"}};
  // The mock brokers log through this handle: through the project's logger, as JSON when asked.
  spec.route_logs = true;
  spec.what = "embedded broker";
  absl::StatusOr<ClientHandle> client = NewClient(spec);
  if (!client.ok()) return client.status();
  rd_kafka_t* rk = client->release();  // owned by the EmbeddedBroker from here
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
