// The Kafka client layer's base: RAII owners of librdkafka's objects, the one function that holds
// steppewatch's client defaults, and the one function that creates a client handle. Every
// librdkafka client of the project (the daemon's consumer and producer, the stories stage, the
// demo feed, `steppewatch feed`/`tail`, the tests' helpers) is made by NewClient(), so a default,
// a log route or a callback is set in one place.
//
// librdkafka's types are the point of this interface, so this header includes rdkafka.h.
//
// Thread-safety: the functions are thread-safe. The handles own one librdkafka object each and
// follow librdkafka's own threading rules for it.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace steppewatch::kafka {

// librdkafka properties, name -> value (sorted: rendering and logging are stable).
using PropertyMap = std::map<std::string, std::string>;

// --- RAII owners --------------------------------------------------------------------------------

struct ClientDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* msg) const { rd_kafka_message_destroy(msg); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};

// A client handle. Destroying it destroys the client: a producer should be flushed (or purged)
// and a consumer closed first; a topic handle or queue made from it must go before it.
using ClientHandle = std::unique_ptr<rd_kafka_t, ClientDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

// Returns an empty partition list with room for `size` entries.
inline PartitionListHandle NewPartitionList(int size) {
  return PartitionListHandle(rd_kafka_topic_partition_list_new(size));
}

// --- Defaults -----------------------------------------------------------------------------------

enum class ClientRole {
  kConsumer,  // a consumer-group member that reads items (the daemon's input)
  kProducer,  // an idempotent producer of alerts and dead letters (the daemon's output)
};

// Returns steppewatch's defaults for a client of `role`: the values the daemon ships with, which
// its tests and every other client built on this layer use too. The caller's properties replace
// them key by key. The values and their reasons are in client.cc.
const PropertyMap& DefaultProperties(ClientRole role);

// The consumer's prefetch cap (queued.max.messages.kbytes) for a process whose `workers` threads
// drain it: 128 MiB per worker, at most 1 GiB. librdkafka 2.0.2 stops fetching when the queue is
// full and looks again only after its one-second idle wait, so a queue that holds less than a
// second of what the workers take starves them for the rest of that second (client.cc).
int64_t PrefetchQueueKbytes(int workers);

// --- Creation -----------------------------------------------------------------------------------

// Callbacks and their opaque; librdkafka calls them from the thread that polls the handle.
struct ClientCallbacks {
  void* opaque = nullptr;
  void (*rebalance)(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*,
                    void*) = nullptr;
  int (*statistics)(rd_kafka_t*, char* json, size_t len, void*) = nullptr;
  void (*error)(rd_kafka_t*, int err, const char* reason, void*) = nullptr;
  void (*delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr;
  // librdkafka's log callback, for a caller that must see the lines itself; it routes them on
  // with RouteLog() (log_route.h). Replaces the routing that `route_logs` would install.
  void (*log)(const rd_kafka_t*, int level, const char* fac, const char* buf) = nullptr;
};

struct ClientSpec {
  rd_kafka_type_t type = RD_KAFKA_PRODUCER;
  // DefaultProperties(*defaults) first, when set; tools with their own tuning leave it empty.
  std::optional<ClientRole> defaults;
  // Then these, in order: the caller's properties, then what the caller's guarantee depends on.
  PropertyMap properties;
  PropertyMap forced;
  ClientCallbacks callbacks;
  // Route librdkafka's log lines through steppewatch's log (rate-limited), instead of stderr.
  bool route_logs = true;
  // Name of the client in error messages ("kafka consumer", "demo producer").
  std::string what = "kafka client";
};

// Sets `properties` on `conf`; the error names the property and says why librdkafka refused it.
absl::Status ApplyProperties(rd_kafka_conf_t* conf, const PropertyMap& properties);

// Builds the configuration of `spec` without creating a client (for checks and tests).
absl::StatusOr<ConfHandle> NewConf(const ClientSpec& spec);

// Creates the client of `spec`. For a consumer, the consumer queue is also made the poll queue
// (rd_kafka_poll_set_consumer) when the spec has a rebalance callback or is a group member.
absl::StatusOr<ClientHandle> NewClient(const ClientSpec& spec);

// Returns the value of property `name` as the client `rk` was configured (rd_kafka_conf_get on
// the handle's own configuration), or nullopt when librdkafka does not know it.
std::optional<std::string> GetProperty(const rd_kafka_t* rk, std::string_view name);

// Returns the partition count of `topic`, NotFound when the broker does not know it.
absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

}  // namespace steppewatch::kafka
