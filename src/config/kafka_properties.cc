// The librdkafka properties of the daemon's two clients, and the check that builds them
// through librdkafka itself.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/internal.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/kafka_pipeline.h"

namespace steppewatch::config {
namespace {

// librdkafka's configuration warnings (log level <= 4 while creating a client), collected for
// the check instead of printed.
struct ConfLog {
  Mutex mu;
  std::vector<std::string> lines ABSL_GUARDED_BY(mu);
};

void CollectLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (level > 4) return;
  auto* log = static_cast<ConfLog*>(rd_kafka_opaque(rk));
  if (log == nullptr) return;
  MutexLock lock(&log->mu);
  log->lines.push_back(Cat(fac, ": ", buf));
}

// The user's key that put `property` into the `client` configuration: kafka.<client>.<p>,
// kafka.common.<p>, or the brokers/group/client keys.
std::string UserKey(const DaemonConfig& c, std::string_view client, const std::string& property) {
  const PropertyMap& own = client == "consumer" ? c.kafka.consumer : c.kafka.producer;
  if (own.count(property)) return Cat("kafka.", client, ".", property);
  if (c.kafka.common.count(property)) return Cat("kafka.common.", property);
  if (property == "bootstrap.servers") return "kafka.brokers";
  if (property == "group.id") return "kafka.group_id";
  if (property == "client.id") return "kafka.client_id";
  if (property == "group.instance.id") return "kafka.instance_id";
  return Cat("kafka.", client, " (steppewatch's default ", property, ")");
}

// True when the user did not set `property` for `client` (it is one of steppewatch's own).
bool IsDefaultOnly(const DaemonConfig& c, std::string_view client, const std::string& property) {
  const PropertyMap& own = client == "consumer" ? c.kafka.consumer : c.kafka.producer;
  return own.count(property) == 0 && c.kafka.common.count(property) == 0;
}

std::string WithOrigin(const Origins& origins, const std::string& key) {
  auto it = origins.find(key);
  return it == origins.end() ? key : Cat(it->second, ": ", key);
}

}  // namespace

const std::vector<std::string_view>& RefusedKafkaProperties() {
  static const std::vector<std::string_view> kRefused = {
      "enable.auto.offset.store", "enable.auto.commit", "enable.idempotence",
      "bootstrap.servers",        "group.id",           "client.id",
      "group.instance.id"};
  return kRefused;
}

KafkaClientProperties BuildKafkaProperties(const DaemonConfig& config,
                                           std::string_view bootstrap_servers) {
  const KafkaConfig& k = config.kafka;
  KafkaClientProperties props;
  // steppewatch's defaults live in the Kafka client layer (one place for every client).
  const std::string bootstrap =
      bootstrap_servers.empty() ? k.brokers : std::string(bootstrap_servers);
  props.consumer = kafka::DefaultProperties(kafka::ClientRole::kConsumer);
  // A second of input for the workers that drain the prefetch queue (kafka/client.h); the
  // operator's kafka.consumer value replaces it below.
  props.consumer["queued.max.messages.kbytes"] = std::to_string(
      kafka::PrefetchQueueKbytes(kafka::KafkaPipeline::ResolveWorkers(config.pipeline.workers)));
  props.consumer["bootstrap.servers"] = bootstrap;
  props.consumer["client.id"] = k.client_id;
  props.consumer["group.id"] = k.group_id;
  // At-least-once: the daemon stores an offset only after every output of the items up to it
  // was acked; librdkafka's auto-commit then commits what was stored.
  props.consumer["enable.auto.offset.store"] = "false";
  props.consumer["enable.auto.commit"] = "true";
  props.producer = kafka::DefaultProperties(kafka::ClientRole::kProducer);
  props.producer["bootstrap.servers"] = bootstrap;
  props.producer["client.id"] = k.client_id;
  for (const auto& [key, value] : k.common) {
    props.consumer[key] = value;
    props.producer[key] = value;
  }
  for (const auto& [key, value] : k.consumer) props.consumer[key] = value;
  for (const auto& [key, value] : k.producer) props.producer[key] = value;
  // ValidateConfig refuses these in the user maps; re-assert them in case a caller skipped it.
  props.consumer["enable.auto.offset.store"] = "false";
  props.consumer["enable.auto.commit"] = "true";
  props.consumer["group.id"] = k.group_id;
  if (!k.instance_id.empty()) props.consumer["group.instance.id"] = k.instance_id;
  props.producer["enable.idempotence"] = "true";
  return props;
}

void CheckKafkaClients(const DaemonConfig& config, const Origins& origins, PreflightReport* out) {
  // Embedded mode: the mock cluster's address is known only once it runs; any address does for
  // building the configuration (nothing connects before the client is destroyed).
  const bool embedded = config.kafka.brokers == "embedded";
  const KafkaClientProperties props =
      BuildKafkaProperties(config, embedded ? "127.0.0.1:9" : std::string_view());
  std::vector<std::string> reported;  // a kafka.common error shows up in both clients
  auto report = [&](std::vector<std::string>* list, std::string line) {
    if (std::find(reported.begin(), reported.end(), line) != reported.end()) return;
    reported.push_back(line);
    list->push_back(std::move(line));
  };
  for (const auto& [client, map] :
       {std::pair<std::string_view, const PropertyMap*>{"consumer", &props.consumer},
        {"producer", &props.producer}}) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    for (const auto& [key, value] : *map) {
      // The client built below must not connect (or wait on a name lookup when destroyed):
      // the broker list is checked on a configuration of its own.
      rd_kafka_conf_t* target = conf;
      if (key == "bootstrap.servers") target = rd_kafka_conf_new();
      const rd_kafka_conf_res_t res =
          rd_kafka_conf_set(target, key.c_str(), value.c_str(), err, sizeof(err));
      if (target != conf) rd_kafka_conf_destroy(target);
      if (res != RD_KAFKA_CONF_OK) {
        // Reported; the client is still built without it, to find the other problems too.
        report(&out->errors, Cat(WithOrigin(origins, UserKey(config, client, key)), ": ", err));
      }
    }
    // Creating the client checks what single properties cannot (e.g. acks with idempotence,
    // unreadable ssl.ca.location); without brokers it connects to nothing.
    ConfLog log;
    rd_kafka_conf_set_opaque(conf, &log);
    rd_kafka_conf_set_log_cb(conf, &CollectLog);
    rd_kafka_t* rk = rd_kafka_new(client == "consumer" ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                                  conf, err, sizeof(err));
    if (rk == nullptr) {
      rd_kafka_conf_destroy(conf);
      // librdkafka names the properties in backquotes: name the user's keys (and where they
      // were set) instead, when the user set them.
      std::string keys;
      for (std::string_view rest = err;;) {
        const size_t open = rest.find('`');
        const size_t close = open == std::string_view::npos ? open : rest.find('`', open + 1);
        if (close == std::string_view::npos) break;
        const std::string property(rest.substr(open + 1, close - open - 1));
        const std::string key = UserKey(config, client, property);
        if (key.find(' ') == std::string::npos && !IsDefaultOnly(config, client, property)) {
          keys += Cat(keys.empty() ? "" : ", ", WithOrigin(origins, key));
        }
        rest.remove_prefix(close + 1);
      }
      report(&out->errors, Cat(keys.empty() ? Cat("kafka.", client) : keys, ": ", err));
      continue;
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    MutexLock lock(&log.mu);
    for (const std::string& line : log.lines)
      report(&out->warnings, Cat("kafka ", client, ": ", line));
  }
}

}  // namespace steppewatch::config
