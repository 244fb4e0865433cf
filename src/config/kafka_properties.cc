// The librdkafka properties of the daemon's two clients, and the check that builds them
// through librdkafka itself.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "config/internal.h"
#include "steppewatch/config/daemon_config.h"

namespace steppewatch::config {
namespace {

// librdkafka's configuration warnings (log level <= 4 while creating a client), collected for
// the check instead of printed.
struct ConfLog {
  std::mutex mu;
  std::vector<std::string> lines;
};

void CollectLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (level > 4) return;
  auto* log = static_cast<ConfLog*>(rd_kafka_opaque(rk));
  if (log == nullptr) return;
  std::lock_guard<std::mutex> lock(log->mu);
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
      "bootstrap.servers",        "group.id",           "client.id"};
  return kRefused;
}

KafkaClientProperties BuildKafkaProperties(const DaemonConfig& config,
                                           std::string_view bootstrap_servers) {
  const KafkaConfig& k = config.kafka;
  KafkaClientProperties props;
  PropertyMap base = {
      {"bootstrap.servers", bootstrap_servers.empty() ? k.brokers : std::string(bootstrap_servers)},
      {"client.id", k.client_id},
      // Lag and queue gauges for /metrics; 5 s keeps them fresh for a 15 s scrape at negligible
      // cost (one JSON document per interval).
      {"statistics.interval.ms", "5000"},
      // Latency: send each request (a fetch, a batch of alerts) at once rather than hold it
      // until the previous segment is acknowledged (Nagle with delayed ACKs can hold it up to
      // 40 ms on Linux). librdkafka batches by itself, so this costs no throughput.
      {"socket.nagle.disable", "true"},
  };
  props.consumer = base;
  props.consumer.insert({
      {"group.id", k.group_id},
      // At-least-once: the daemon stores an offset only after every output of the items up to
      // it was acked; librdkafka's auto-commit then commits what was stored.
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      // cooperative-sticky can abort librdkafka 2.0.2 when members close mid-rebalance.
      {"partition.assignment.strategy", "range,roundrobin"},
      // A new group starts at the oldest item: nothing published before the first start is lost.
      {"auto.offset.reset", "earliest"},
      // In 2.0.2 a full prefetch queue costs a fixed 1 s fetch backoff: hold at least a second
      // of input (100k items/s; 128 MiB = 1 s of 1.3 KB items, more of the typical 0.8 KB).
      {"queued.min.messages", "100000"},
      {"queued.max.messages.kbytes", "131072"},
      // CPU: librdkafka allocates one buffer per fetch response. At its default 50 MiB that is
      // above glibc's largest mmap threshold (32 MiB), so every response is a fresh mapping and
      // page-faults on every page it receives (perf: ~14% of the daemon's CPU in faults under
      // the receive copy). At 4 MiB the buffers come from the heap and are reused: the e2e run
      // (545,830 items, default pack) took 7.9-8.5 s of CPU instead of 10.0-11.5 s. It does not
      // cap one batch (KIP-74), and 4 MiB is still ~1,000 average items per response.
      {"fetch.max.bytes", "4194304"},
      // Liveness over hostile input (tests/reliability/hostile_test.py): librdkafka 2.0.2 treats
      // a fetch response larger than this, or a zstd batch that decompresses to more, as an error
      // and fetches the same offset again forever: the partition stalls. The broker returns the
      // first batch whole whatever fetch.max.bytes says (KIP-74), so this is the only cap that
      // matters; 512 MiB is 5x the 100 MB an operator might allow per batch and lets the daemon
      // fetch and dead-letter (too_large) such items and zstd bombs up to 512 MiB. It allocates
      // nothing by itself: the cost is the size of the largest batch actually received
      // (deploy/README.md, "Limits on hostile input").
      {"receive.message.max.bytes", "536870912"},
  });
  props.producer = base;
  props.producer.insert({
      // Retries never duplicate or reorder alerts; requires acks=all.
      {"enable.idempotence", "true"},
      {"acks", "all"},
  });
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
    std::lock_guard<std::mutex> lock(log.mu);
    for (const std::string& line : log.lines)
      report(&out->warnings, Cat("kafka ", client, ": ", line));
  }
}

}  // namespace steppewatch::config
