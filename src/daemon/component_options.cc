#include "steppewatch/daemon/component_options.h"

#include <algorithm>

namespace steppewatch::daemon {

LogOptions LogOptionsFrom(const config::DaemonConfig& cfg) {
  LogOptions out;
  (void)log::ParseLevel(cfg.log.level, &out.level);
  (void)log::ParseFormat(cfg.log.format, &out.format);
  return out;
}

rules::PackOptions PackOptionsFrom(const config::DaemonConfig& cfg) {
  rules::PackOptions out;
  out.matcher.cache_dir = cfg.rules.cache_dir;
  out.default_topic = cfg.kafka.default_alert_topic;
  out.matcher.max_hits_per_item = static_cast<uint32_t>(cfg.pipeline.max_hits_per_item);
  return out;
}

pipeline::ProcessorOptions ProcessorOptionsFrom(const config::DaemonConfig& cfg) {
  pipeline::ProcessorOptions out;
  out.decoder = cfg.decoder.options;
  out.instance = cfg.instance;
  (void)alert::ParseHitsMode(cfg.alerts.hits, &out.hits);  // validated by the config
  return out;
}

ReloaderOptions ReloaderOptionsFrom(const config::DaemonConfig& cfg) {
  ReloaderOptions out;
  out.rules_dir = cfg.rules.dir;
  out.watch = cfg.rules.reload_on_change;
  out.pack_options = PackOptionsFrom(cfg);
  out.gate_sample = cfg.rules.reload_gate_sample;  // empty: no gate
  out.processor = ProcessorOptionsFrom(cfg);
  return out;
}

metrics::MetricsOptions MetricsOptionsFrom(const config::DaemonConfig& cfg) {
  metrics::MetricsOptions out;
  out.server.listen_address = cfg.metrics.listen;
  out.server.basic_auth_user = cfg.metrics.basic_auth.user;
  out.server.basic_auth_password = cfg.metrics.basic_auth.password;
  out.collector.per_rule_labels = cfg.metrics.per_rule_label;
  out.collector.dead_letter_topic = cfg.kafka.dead_letter_topic;
  return out;
}

kafka::EmbeddedBrokerOptions EmbeddedBrokerOptionsFrom(
    const config::DaemonConfig& cfg, const std::vector<std::string>& alert_topics) {
  kafka::EmbeddedBrokerOptions out;
  std::vector<std::string> topics = cfg.kafka.input_topics;
  topics.push_back(cfg.kafka.dead_letter_topic);
  topics.push_back(cfg.kafka.default_alert_topic);
  topics.insert(topics.end(), alert_topics.begin(), alert_topics.end());
  topics.insert(topics.end(), cfg.kafka.embedded.topics.begin(), cfg.kafka.embedded.topics.end());
  if (HasRole(cfg, "stories")) {
    topics.insert(topics.end(), cfg.stories.input_topics.begin(), cfg.stories.input_topics.end());
  }
  auto add = [&out](const std::string& t, int partitions) {
    const bool dup = std::any_of(out.topics.begin(), out.topics.end(),
                                 [&](const kafka::EmbeddedTopic& e) { return e.name == t; });
    if (!dup) out.topics.push_back({t, partitions});
  };
  if (HasRole(cfg, "stories")) {
    // First, so a name also listed above keeps them. The lease is one partition by definition
    // (its holder is the one active instance). The stage's outputs get one partition each here,
    // so a reader of the embedded broker (the demo's STORY and SPIKE lines, which reads only
    // those) sees them in the order the one active stage wrote them: the stories topic is keyed
    // by item id, so over several partitions a story's third copy could be read before its
    // second. A real cluster's partitions are the operator's choice (deploy/README.md).
    add(cfg.stories.lease_topic, 1);
    add(cfg.stories.topic, kEmbeddedStoriesPartitions);
    add(cfg.stories.spikes_topic, kEmbeddedStoriesPartitions);
  }
  for (const std::string& t : topics) add(t, cfg.kafka.embedded.partitions);
  return out;
}

bool HasRole(const config::DaemonConfig& cfg, std::string_view role) {
  return std::find(cfg.roles.begin(), cfg.roles.end(), role) != cfg.roles.end();
}

kafka::StoriesRoleOptions StoriesRoleOptionsFrom(const config::DaemonConfig& cfg,
                                                 const std::vector<std::string>& alert_topics,
                                                 std::string_view bootstrap) {
  const config::KafkaClientProperties props = config::BuildKafkaProperties(cfg, bootstrap);
  const config::StoriesConfig& s = cfg.stories;
  kafka::StoriesRoleOptions out;
  out.brokers = bootstrap.empty() ? cfg.kafka.brokers : std::string(bootstrap);
  out.group_id = s.group_id;
  out.client_id = cfg.kafka.client_id + "-stories";
  out.input_topics = s.input_topics.empty() ? alert_topics : s.input_topics;
  out.lease_topic = s.lease_topic;
  out.stories_topic = s.topic;
  out.spikes_topic = s.spikes_topic;
  out.consumer_properties = props.consumer;
  out.producer_properties = props.producer;
  // The matcher's consumer tuning (a large prefetch for items) is not the stories' business;
  // only the connection settings carry over. group.id and client.id are the role's own.
  for (const char* key : {"queued.min.messages", "queued.max.messages.kbytes", "fetch.max.bytes",
                          "group.id", "client.id"}) {
    out.consumer_properties.erase(key);
  }
  if (cfg.kafka.brokers == "embedded" && !cfg.kafka.common.contains("session.timeout.ms") &&
      !cfg.kafka.consumer.contains("session.timeout.ms")) {
    out.consumer_properties["session.timeout.ms"] = "6000";  // as the matcher's
  }
  // Static membership is the matcher's (kafka.instance_id names a matcher instance); a stories
  // instance with the same id would fence it.
  out.consumer_properties.erase("group.instance.id");
  auto minutes = [](double m) { return absl::Milliseconds(config::StoriesMilliseconds(m)); };
  out.stage.window = minutes(s.window_hours * 60);
  out.stage.bucket = minutes(s.bucket_minutes);
  out.stage.spike_window = minutes(s.spike_window_minutes);
  out.stage.warmup_days = s.warmup_days;
  out.stage.baseline = minutes(s.baseline_hours * 60);
  out.stage.min_stories = s.min_stories;
  out.stage.baseline_floor = s.baseline_floor;
  out.stage.alpha = s.alpha;
  out.stage.top_story_ids = s.top_story_ids;
  out.stage.max_keys = static_cast<size_t>(s.max_keys);
  return out;
}

kafka::PipelineOptions PipelineOptionsFrom(const config::DaemonConfig& cfg,
                                           std::string_view bootstrap) {
  const config::KafkaClientProperties props = config::BuildKafkaProperties(cfg, bootstrap);
  kafka::PipelineOptions out;
  out.brokers = bootstrap.empty() ? cfg.kafka.brokers : std::string(bootstrap);
  out.group_id = cfg.kafka.group_id;
  out.client_id = cfg.kafka.client_id;
  out.input_topics = cfg.kafka.input_topics;
  out.dead_letter_topic = cfg.kafka.dead_letter_topic;
  out.consumer_properties = props.consumer;
  out.producer_properties = props.producer;
  out.instance_id = cfg.kafka.instance_id;
  if (cfg.kafka.brokers == "embedded" && !cfg.kafka.common.contains("session.timeout.ms") &&
      !cfg.kafka.consumer.contains("session.timeout.ms")) {
    // The mock cluster's first group join waits 3 s; a short session keeps the demo snappy.
    out.consumer_properties["session.timeout.ms"] = "6000";
  }
  out.workers = kafka::KafkaPipeline::ResolveWorkers(cfg.pipeline.workers);
  out.limits.max_items = static_cast<size_t>(cfg.pipeline.max_in_flight_items);
  out.limits.max_bytes = static_cast<size_t>(cfg.pipeline.max_in_flight_bytes);
  out.limits.resume_fraction = cfg.pipeline.resume_fraction;
  out.processor = ProcessorOptionsFrom(cfg);
  return out;
}

MainLoopOptions MainLoopOptionsFrom(const config::DaemonConfig& cfg) {
  return {.stop_budget = absl::Seconds(cfg.pipeline.shutdown_budget_seconds)};
}

}  // namespace steppewatch::daemon
