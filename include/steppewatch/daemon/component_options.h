// The adapters from the daemon's configuration (config::DaemonConfig) to the options of each
// component it starts. RunDaemon builds every component from these and sets no key by hand, and
// tests/daemon/component_options_test.cc sets every key of the schema to a non-default value and
// finds it in one of these structs, so a parsed key that reaches no component cannot exist.
//
// Threading: pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "steppewatch/common/log.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/daemon/reloader.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/metrics/metrics.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::daemon {

struct LogOptions {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
};

// log.level and log.format (validated by the config, so they always parse).
LogOptions LogOptionsFrom(const config::DaemonConfig& cfg);

// The rule pack's options: matcher cache (rules.cache_dir), hit cap (pipeline.max_hits_per_item),
// default alert topic (kafka.default_alert_topic). The same options go to every reload.
rules::PackOptions PackOptionsFrom(const config::DaemonConfig& cfg);

// The item processor of the workers and of the reload gate: decoder (decoder.*), instance.
pipeline::ProcessorOptions ProcessorOptionsFrom(const config::DaemonConfig& cfg);

// The reloader: rules.dir, rules.reload_on_change, rules.reload_gate_sample, the pack options and
// the processor options (the gate decodes its sample as the workers do).
ReloaderOptions ReloaderOptionsFrom(const config::DaemonConfig& cfg);

// The metrics endpoint: metrics.*, and kafka.dead_letter_topic for its label.
metrics::MetricsOptions MetricsOptionsFrom(const config::DaemonConfig& cfg);

// The embedded cluster (kafka.brokers: embedded): every input, output and kafka.embedded.topics
// topic with kafka.embedded.partitions partitions, and with the stories role its output topics
// and its one-partition lease topic. `alert_topics` are the pack's.
// Partitions of the stories role's lease, stories and spikes topics in the embedded cluster: one,
// so a reader (the demo's) sees the stage's output in the order the stage wrote it.
inline constexpr int kEmbeddedStoriesPartitions = 1;
kafka::EmbeddedBrokerOptions EmbeddedBrokerOptionsFrom(
    const config::DaemonConfig& cfg, const std::vector<std::string>& alert_topics);

// The Kafka pipeline: topics, group, both clients' librdkafka properties
// (config::BuildKafkaProperties), workers (0 resolved to the core count), in-flight limits,
// processor. `bootstrap` replaces kafka.brokers (the embedded cluster's address); empty =
// kafka.brokers.
kafka::PipelineOptions PipelineOptionsFrom(const config::DaemonConfig& cfg,
                                           std::string_view bootstrap = {});

// True when `roles` lists `role` ("match" or "stories").
bool HasRole(const config::DaemonConfig& cfg, std::string_view role);

// The stories role: stories.*, the clients' librdkafka properties (the same security settings
// as the matcher's), and its input topics: stories.input_topics, or `alert_topics` (the pack's)
// when that is empty. `bootstrap` as for PipelineOptionsFrom.
kafka::StoriesRoleOptions StoriesRoleOptionsFrom(const config::DaemonConfig& cfg,
                                                 const std::vector<std::string>& alert_topics,
                                                 std::string_view bootstrap = {});

// What the daemon's main loop itself uses.
struct MainLoopOptions {
  // pipeline.shutdown_budget_seconds: how long a stop may drain in-flight items.
  absl::Duration stop_budget = absl::Seconds(30);
};
MainLoopOptions MainLoopOptionsFrom(const config::DaemonConfig& cfg);

}  // namespace steppewatch::daemon
