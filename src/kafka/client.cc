// The client layer's base (see client.h): defaults, creation, property read-back.
#include "steppewatch/kafka/client.h"

#include <algorithm>

#include "steppewatch/common/log.h"
#include "steppewatch/kafka/log_route.h"

namespace steppewatch::kafka {

int64_t PrefetchQueueKbytes(int workers) {
  // 128 MiB is ~160k items of the bench corpus (0.8 KB), a worker's ~1.3 s with the default pack
  // on the 2-core VM (benchmarks/README.md, "Fetch-queue round").
  constexpr int64_t kPerWorker = 131072;
  constexpr int64_t kMax = 1048576;
  return std::clamp<int64_t>(int64_t{workers} * kPerWorker, kPerWorker, kMax);
}

const PropertyMap& DefaultProperties(ClientRole role) {
  // Both clients.
  static const PropertyMap* const kCommon = new PropertyMap{
      // Lag, broker round-trip and queue gauges for /metrics; 5 s keeps them fresh for a 15 s
      // scrape at negligible cost (one JSON document per interval).
      {"statistics.interval.ms", "5000"},
      // Latency: send each request (a fetch, a batch of alerts) at once rather than hold it
      // until the previous segment is acknowledged (Nagle with delayed ACKs can hold it up to
      // 40 ms on Linux). librdkafka batches by itself, so this costs no throughput.
      {"socket.nagle.disable", "true"},
  };
  static const PropertyMap* const kConsumer = [] {
    auto* m = new PropertyMap(*kCommon);
    m->insert({
        // cooperative-sticky can abort librdkafka 2.0.2 (an assertion in the sticky assignor)
        // when members close mid-rebalance; the consumer's rebalance callback handles both
        // protocols, so switching later is configuration only.
        {"partition.assignment.strategy", "range,roundrobin"},
        // A new group starts at the oldest item: nothing published before the first start is
        // lost.
        {"auto.offset.reset", "earliest"},
        // In 2.0.2 a full prefetch queue costs a fixed 1 s fetch backoff (a partition that is
        // not fetchable is looked at again only when the broker thread wakes, at most once a
        // second; fetch.queue.backoff.ms came in 2.2): the queue must hold more than a second
        // of what the consumer's reader drains, or the reader starves for the rest of each
        // second. The byte cap bounds memory; the count must not bind first (a million 0.8 KB
        // items is 800 MB). The daemon sizes the byte cap by its workers (PrefetchQueueKbytes).
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "131072"},
        // CPU: librdkafka allocates one buffer per fetch response. At its default 50 MiB that is
        // above glibc's largest mmap threshold (32 MiB), so every response is a fresh mapping
        // and page-faults on every page it receives (~14% of the daemon's CPU). At 4 MiB the
        // buffers come from the heap and are reused: the e2e run took 7.9-8.5 s of CPU instead of
        // 10.0-11.5 s. It does not cap one batch (KIP-74), and 4 MiB is still ~1,000 items.
        {"fetch.max.bytes", "4194304"},
        // Liveness over hostile input: librdkafka 2.0.2 treats a fetch response larger than
        // this, or a zstd batch that decompresses to more, as an error and fetches the same
        // offset again forever. The broker returns the first batch whole whatever
        // fetch.max.bytes says, so this is the cap that matters; 512 MiB lets the daemon fetch
        // and dead-letter such items (too_large; a batch librdkafka cannot decode: undecodable).
        // It allocates nothing by itself.
        {"receive.message.max.bytes", "536870912"},
        // Recovery after a crash: the group waits this long for a member that stopped
        // heartbeating before its partitions move (or, with static membership, for the same
        // instance to come back and take them without a rebalance). 10 s is librdkafka's 45 s
        // cut to several times a supervisor's restart delay (systemd RestartSec=1, a pod
        // restart) while staying 3x heartbeat.interval.ms (3 s) above a missed heartbeat.
        {"session.timeout.ms", "10000"},
        {"enable.partition.eof", "false"},
    });
    return m;
  }();
  static const PropertyMap* const kProducer = [] {
    auto* m = new PropertyMap(*kCommon);
    m->insert({
        // Retries never duplicate or reorder alerts; requires acks=all.
        {"enable.idempotence", "true"},
        {"acks", "all"},
        // CPU against latency: each batch of alerts is a produce request, an acknowledgement and
        // wake-ups of librdkafka's broker thread. News alerts are judged in seconds (the alert
        // rule fires at a p99 item-to-alert latency of 30 s), so batching for up to 50 ms costs
        // nothing a reader sees and takes ~0.5 us of CPU per item off the daemon against
        // librdkafka's 5 ms (deploy/README.md, "CPU against alert latency").
        {"linger.ms", "50"},
    });
    return m;
  }();
  return role == ClientRole::kConsumer ? *kConsumer : *kProducer;
}

absl::Status ApplyProperties(rd_kafka_conf_t* conf, const PropertyMap& properties) {
  char err[512];
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(log::Cat("librdkafka property '", key, "': ", err));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfHandle> NewConf(const ClientSpec& spec) {
  ConfHandle conf(rd_kafka_conf_new());
  if (spec.defaults.has_value()) {
    absl::Status st = ApplyProperties(conf.get(), DefaultProperties(*spec.defaults));
    if (!st.ok()) return absl::InternalError(log::Cat(spec.what, " defaults: ", st.message()));
  }
  for (const PropertyMap* props : {&spec.properties, &spec.forced}) {
    absl::Status st = ApplyProperties(conf.get(), *props);
    if (!st.ok()) return absl::InvalidArgumentError(log::Cat(spec.what, ": ", st.message()));
  }
  const ClientCallbacks& cb = spec.callbacks;
  if (cb.opaque != nullptr) rd_kafka_conf_set_opaque(conf.get(), cb.opaque);
  if (cb.rebalance != nullptr) rd_kafka_conf_set_rebalance_cb(conf.get(), cb.rebalance);
  if (cb.statistics != nullptr) rd_kafka_conf_set_stats_cb(conf.get(), cb.statistics);
  if (cb.error != nullptr) rd_kafka_conf_set_error_cb(conf.get(), cb.error);
  if (cb.delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(conf.get(), cb.delivery);
  if (cb.log != nullptr) {
    rd_kafka_conf_set_log_cb(conf.get(), cb.log);
  } else if (spec.route_logs) {
    RouteLogs(conf.get());
  }
  return conf;
}

absl::StatusOr<ClientHandle> NewClient(const ClientSpec& spec) {
  absl::StatusOr<ConfHandle> conf = NewConf(spec);
  if (!conf.ok()) return conf.status();
  char err[512];
  // rd_kafka_new takes the configuration only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(spec.type, conf->get(), err, sizeof(err));
  if (rk == nullptr) return absl::InternalError(log::Cat(spec.what, ": ", err));
  (void)conf->release();
  ClientHandle handle(rk);
  if (spec.type == RD_KAFKA_CONSUMER) {
    // Serve every event (rebalances, statistics, errors) from the consumer poll, so one thread
    // owns the consumer's callbacks.
    rd_kafka_poll_set_consumer(rk);
  }
  return handle;
}

std::optional<std::string> GetProperty(const rd_kafka_t* rk, std::string_view name) {
  const std::string key(name);
  size_t size = 0;
  const rd_kafka_conf_t* conf = rd_kafka_conf(const_cast<rd_kafka_t*>(rk));
  if (rd_kafka_conf_get(conf, key.c_str(), nullptr, &size) != RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  std::string value(size, '\0');
  if (rd_kafka_conf_get(conf, key.c_str(), value.data(), &size) != RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  if (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  TopicHandle rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt.get(), &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        log::Cat("metadata for topic ", topic, ": ", rd_kafka_err2str(err)));
  }
  absl::Status status = absl::NotFoundError(log::Cat("topic ", topic, " not in metadata"));
  int count = 0;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic != md->topics[i].topic) continue;
    if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status =
          absl::NotFoundError(log::Cat("topic ", topic, ": ", rd_kafka_err2str(md->topics[i].err)));
    } else {
      count = md->topics[i].partition_cnt;
      status = absl::OkStatus();
    }
  }
  rd_kafka_metadata_destroy(md);
  if (!status.ok()) return status;
  return count;
}

}  // namespace steppewatch::kafka
