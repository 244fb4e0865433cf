// Every key of the configuration schema reaches a component: the test sets each key to a
// non-default value (through the real override path) and finds that value in the options the
// daemon builds its components from. A key added to the schema without a probe here, or parsed
// but wired to nothing, fails it.
#include "steppewatch/daemon/component_options.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/config/schema.h"
#include "steppewatch/stories/stage.h"

namespace steppewatch::daemon {
namespace {

struct Built {
  LogOptions log;
  rules::PackOptions pack;
  ReloaderOptions reloader;
  metrics::MetricsOptions metrics;
  kafka::EmbeddedBrokerOptions embedded;
  kafka::PipelineOptions pipeline;
  MainLoopOptions loop;
  kafka::StoriesRoleOptions stories;
};

Built Build(const config::DaemonConfig& c) {
  return {LogOptionsFrom(c),
          PackOptionsFrom(c),
          ReloaderOptionsFrom(c),
          MetricsOptionsFrom(c),
          EmbeddedBrokerOptionsFrom(c, {}),
          PipelineOptionsFrom(c),
          MainLoopOptionsFrom(c),
          StoriesRoleOptionsFrom(c, {"pack.topic"})};
}

bool HasTopic(const kafka::EmbeddedBrokerOptions& o, const std::string& name, int partitions = 0) {
  return std::any_of(o.topics.begin(), o.topics.end(), [&](const kafka::EmbeddedTopic& t) {
    return t.name == name && (partitions == 0 || t.partitions == partitions);
  });
}

std::string Prop(const std::map<std::string, std::string>& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? std::string() : it->second;
}

struct Probe {
  std::string value;  // the override's value
  std::function<bool(const Built&)> reached;
};

// Override key (the field's path, or a property inside a property map) -> probe, by field path.
const std::map<std::string, std::pair<std::string, Probe>>& Probes() {
  static const auto* probes = new std::map<std::string, std::pair<std::string, Probe>>{
      {"instance",
       {"instance",
        {"node-7", [](const Built& b) { return b.pipeline.processor.instance == "node-7"; }}}},
      {"kafka.brokers",
       {"kafka.brokers",
        {"k9:9093",
         [](const Built& b) {
           return b.pipeline.brokers == "k9:9093" &&
                  Prop(b.pipeline.consumer_properties, "bootstrap.servers") == "k9:9093";
         }}}},
      {"kafka.group_id",
       {"kafka.group_id",
        {"g7",
         [](const Built& b) {
           return b.pipeline.group_id == "g7" &&
                  Prop(b.pipeline.consumer_properties, "group.id") == "g7";
         }}}},
      {"kafka.client_id",
       {"kafka.client_id", {"c7", [](const Built& b) { return b.pipeline.client_id == "c7"; }}}},
      {"kafka.instance_id",
       {"kafka.instance_id",
        {"pod-7",
         [](const Built& b) {
           return Prop(b.pipeline.consumer_properties, "group.instance.id") == "pod-7";
         }}}},
      {"kafka.input_topics",
       {"kafka.input_topics",
        {"in1,in2",
         [](const Built& b) {
           return b.pipeline.input_topics == std::vector<std::string>{"in1", "in2"} &&
                  HasTopic(b.embedded, "in2");
         }}}},
      {"kafka.dead_letter_topic",
       {"kafka.dead_letter_topic",
        {"dl7",
         [](const Built& b) {
           return b.pipeline.dead_letter_topic == "dl7" &&
                  b.metrics.collector.dead_letter_topic == "dl7";
         }}}},
      {"kafka.default_alert_topic",
       {"kafka.default_alert_topic",
        {"al7",
         [](const Built& b) {
           return b.pack.default_topic == "al7" && b.reloader.pack_options.default_topic == "al7" &&
                  HasTopic(b.embedded, "al7");
         }}}},
      {"kafka.common",
       {"kafka.common.socket.timeout.ms",
        {"12345",
         [](const Built& b) {
           return Prop(b.pipeline.consumer_properties, "socket.timeout.ms") == "12345" &&
                  Prop(b.pipeline.producer_properties, "socket.timeout.ms") == "12345";
         }}}},
      {"kafka.consumer",
       {"kafka.consumer.fetch.wait.max.ms",
        {"77",
         [](const Built& b) {
           return Prop(b.pipeline.consumer_properties, "fetch.wait.max.ms") == "77";
         }}}},
      {"kafka.producer",
       {"kafka.producer.linger.ms",
        {"17",
         [](const Built& b) {
           return Prop(b.pipeline.producer_properties, "linger.ms") == "17";
         }}}},
      {"kafka.embedded.partitions",
       {"kafka.embedded.partitions",
        {"3", [](const Built& b) { return HasTopic(b.embedded, "in1", 3); }}}},
      {"kafka.embedded.topics",
       {"kafka.embedded.topics",
        {"extra7", [](const Built& b) { return HasTopic(b.embedded, "extra7"); }}}},
      {"decoder.fields.id",
       {"decoder.fields.id",
        {"m.id",
         [](const Built& b) {
           return b.pipeline.processor.decoder.fields.id == "m.id" &&
                  b.reloader.processor.decoder.fields.id == "m.id";
         }}}},
      {"decoder.fields.title",
       {"decoder.fields.title",
        {"m.title",
         [](const Built& b) { return b.pipeline.processor.decoder.fields.title == "m.title"; }}}},
      {"decoder.fields.body",
       {"decoder.fields.body",
        {"m.body",
         [](const Built& b) { return b.pipeline.processor.decoder.fields.body == "m.body"; }}}},
      {"decoder.fields.url",
       {"decoder.fields.url",
        {"m.url",
         [](const Built& b) { return b.pipeline.processor.decoder.fields.url == "m.url"; }}}},
      {"decoder.fields.source",
       {"decoder.fields.source",
        {"m.source",
         [](const Built& b) { return b.pipeline.processor.decoder.fields.source == "m.source"; }}}},
      {"decoder.fields.lang",
       {"decoder.fields.lang",
        {"m.lang",
         [](const Built& b) { return b.reloader.processor.decoder.fields.lang == "m.lang"; }}}},
      {"decoder.fields.published_at",
       {"decoder.fields.published_at",
        {"m.at",
         [](const Built& b) {
           return b.pipeline.processor.decoder.fields.published_at == "m.at";
         }}}},
      {"decoder.max_item_bytes",
       {"decoder.max_item_bytes",
        {"2097152",
         [](const Built& b) { return b.pipeline.processor.decoder.max_item_bytes == 2097152u; }}}},
      {"rules.dir",
       {"rules.dir", {"/r7", [](const Built& b) { return b.reloader.rules_dir == "/r7"; }}}},
      {"rules.reload_on_change",
       {"rules.reload_on_change", {"false", [](const Built& b) { return !b.reloader.watch; }}}},
      {"rules.reload_gate_sample",
       {"rules.reload_gate_sample",
        {"/s7.jsonl", [](const Built& b) { return b.reloader.gate_sample == "/s7.jsonl"; }}}},
      {"rules.cache_dir",
       {"rules.cache_dir",
        {"/c7",
         [](const Built& b) {
           return b.pack.matcher.cache_dir == "/c7" &&
                  b.reloader.pack_options.matcher.cache_dir == "/c7";
         }}}},
      {"pipeline.workers",
       {"pipeline.workers", {"3", [](const Built& b) { return b.pipeline.workers == 3; }}}},
      {"pipeline.max_in_flight_items",
       {"pipeline.max_in_flight_items",
        {"77", [](const Built& b) { return b.pipeline.limits.max_items == 77u; }}}},
      {"pipeline.max_in_flight_bytes",
       {"pipeline.max_in_flight_bytes",
        {"99999999", [](const Built& b) { return b.pipeline.limits.max_bytes == 99999999u; }}}},
      {"pipeline.resume_fraction",
       {"pipeline.resume_fraction",
        {"0.25", [](const Built& b) { return b.pipeline.limits.resume_fraction == 0.25; }}}},
      {"pipeline.shutdown_budget_seconds",
       {"pipeline.shutdown_budget_seconds",
        {"7", [](const Built& b) { return b.loop.stop_budget == absl::Seconds(7); }}}},
      {"pipeline.max_hits_per_item",
       {"pipeline.max_hits_per_item",
        {"77",
         [](const Built& b) {
           return b.pack.matcher.max_hits_per_item == 77u &&
                  b.reloader.pack_options.matcher.max_hits_per_item == 77u;
         }}}},
      {"metrics.listen",
       {"metrics.listen",
        {"127.0.0.1:19464",
         [](const Built& b) { return b.metrics.server.listen_address == "127.0.0.1:19464"; }}}},
      {"metrics.per_rule_label",
       {"metrics.per_rule_label",
        {"false", [](const Built& b) { return !b.metrics.collector.per_rule_labels; }}}},
      {"metrics.basic_auth.user",
       {"metrics.basic_auth.user",
        {"u7", [](const Built& b) { return b.metrics.server.basic_auth_user == "u7"; }}}},
      {"metrics.basic_auth.password",
       {"metrics.basic_auth.password",
        {"p7", [](const Built& b) { return b.metrics.server.basic_auth_password == "p7"; }}}},
      {"alerts.hits",
       {"alerts.hits",
        {"compact",
         [](const Built& b) {
           return b.pipeline.processor.hits == alert::HitsMode::kCompact &&
                  b.reloader.processor.hits == alert::HitsMode::kCompact;
         }}}},
      {"log.level",
       {"log.level", {"debug", [](const Built& b) { return b.log.level == log::Level::kDebug; }}}},
      {"log.format",
       {"log.format", {"json", [](const Built& b) { return b.log.format == log::Format::kJson; }}}},
      {"roles",
       {"roles",
        {"match,stories",
         [](const Built& b) { return HasTopic(b.embedded, b.stories.lease_topic, 1); }}}},
      {"stories.group_id",
       {"stories.group_id", {"sg7", [](const Built& b) { return b.stories.group_id == "sg7"; }}}},
      {"stories.input_topics",
       {"stories.input_topics",
        {"a7,b7",
         [](const Built& b) {
           return b.stories.input_topics == std::vector<std::string>{"a7", "b7"} &&
                  HasTopic(b.embedded, "b7");
         }}}},
      {"stories.topic",
       {"stories.topic",
        {"st7",
         [](const Built& b) {
           return b.stories.stories_topic == "st7" && HasTopic(b.embedded, "st7", 1);
         }}}},
      {"stories.spikes_topic",
       {"stories.spikes_topic",
        {"sp7",
         [](const Built& b) {
           return b.stories.spikes_topic == "sp7" && HasTopic(b.embedded, "sp7", 1);
         }}}},
      {"stories.lease_topic",
       {"stories.lease_topic",
        {"le7",
         [](const Built& b) {
           return b.stories.lease_topic == "le7" && HasTopic(b.embedded, "le7", 1);
         }}}},
      {"stories.window_hours",
       {"stories.window_hours",
        {"24", [](const Built& b) { return b.stories.stage.window == absl::Hours(24); }}}},
      {"stories.bucket_minutes",
       {"stories.bucket_minutes",
        {"5", [](const Built& b) { return b.stories.stage.bucket == absl::Minutes(5); }}}},
      {"stories.spike_window_minutes",
       {"stories.spike_window_minutes",
        {"60", [](const Built& b) { return b.stories.stage.spike_window == absl::Minutes(60); }}}},
      {"stories.warmup_days",
       {"stories.warmup_days",
        {"3", [](const Built& b) { return b.stories.stage.warmup_days == 3; }}}},
      {"stories.baseline_hours",
       {"stories.baseline_hours",
        {"48", [](const Built& b) { return b.stories.stage.baseline == absl::Hours(48); }}}},
      {"stories.min_stories",
       {"stories.min_stories",
        {"9", [](const Built& b) { return b.stories.stage.min_stories == 9; }}}},
      {"stories.baseline_floor",
       {"stories.baseline_floor",
        {"0.25", [](const Built& b) { return b.stories.stage.baseline_floor == 0.25; }}}},
      {"stories.alpha",
       {"stories.alpha", {"0.001", [](const Built& b) { return b.stories.stage.alpha == 0.001; }}}},
      {"stories.top_story_ids",
       {"stories.top_story_ids",
        {"4", [](const Built& b) { return b.stories.stage.top_story_ids == 4; }}}},
      {"stories.max_keys",
       {"stories.max_keys",
        {"77", [](const Built& b) { return b.stories.stage.max_keys == 77u; }}}},

  };
  return *probes;
}

TEST(ComponentOptions, EveryKeyOfTheSchemaHasAProbe) {
  for (const config::Field& f : config::ConfigFields()) {
    EXPECT_EQ(Probes().count(std::string(f.path)), 1u) << "no probe for " << f.path;
  }
  EXPECT_EQ(Probes().size(), config::ConfigFields().size());
}

TEST(ComponentOptions, EveryKeySetToANonDefaultValueReachesAComponent) {
  config::LoadOptions options;
  for (const auto& [path, probe] : Probes()) {
    options.overrides.push_back(probe.first + "=" + probe.second.value);
  }
  absl::StatusOr<config::DaemonConfig> set = config::ParseConfig("", "test.yaml", options);
  ASSERT_TRUE(set.ok()) << set.status();
  absl::StatusOr<config::DaemonConfig> defaults = config::ParseConfig("", "test.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  const Built with_values = Build(*set);
  const Built with_defaults = Build(*defaults);
  for (const auto& [path, probe] : Probes()) {
    EXPECT_TRUE(probe.second.reached(with_values)) << path << " did not reach a component";
    // The probe can fail: the defaults do not satisfy it.
    EXPECT_FALSE(probe.second.reached(with_defaults)) << path << ": the probe proves nothing";
  }
}

// The stories role's outputs keep one partition in the embedded cluster even when a name is
// also listed in kafka.embedded.topics: the demo's reader reads only their partition 0.
TEST(ComponentOptions, TheEmbeddedStoriesOutputsHaveOnePartitionWhateverElseListsThem) {
  config::LoadOptions options;
  options.overrides = {"roles=stories", "kafka.embedded.partitions=8",
                       "kafka.embedded.topics=st7,other7", "stories.topic=st7"};
  const absl::StatusOr<config::DaemonConfig> c = config::ParseConfig("", "test.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  const kafka::EmbeddedBrokerOptions o = EmbeddedBrokerOptionsFrom(*c, {});
  EXPECT_TRUE(HasTopic(o, "st7", kEmbeddedStoriesPartitions));
  EXPECT_TRUE(HasTopic(o, c->stories.spikes_topic, kEmbeddedStoriesPartitions));
  EXPECT_TRUE(HasTopic(o, "other7", 8));
  EXPECT_EQ(std::count_if(o.topics.begin(), o.topics.end(),
                          [](const kafka::EmbeddedTopic& t) { return t.name == "st7"; }),
            1);
}

// The spike settings are checked twice: by the config's schema (with the file's line, what
// `steppewatchd --check-config` reports) and by StoriesStage::Create (at start). A value the
// schema passed used to fail only at start, with no line ("stories: spike_window must be a
// whole number of buckets"); the two must accept exactly the same settings.
TEST(ComponentOptions, TheSchemaAcceptsExactlyTheStoriesSettingsTheStageAccepts) {
  int accepted = 0, refused = 0;
  for (const char* bucket : {"0.5", "1", "10"}) {
    for (const char* window : {"0.25", "0.5", "5", "10", "15", "120", "10240", "10250"}) {
      for (const char* baseline : {"0.001", "0.1", "168"}) {
        for (const char* floor : {"0", "0.5"}) {
          for (const char* alpha : {"0", "0.0001", "0.5"}) {
            config::LoadOptions options;
            options.overrides = {std::string("stories.bucket_minutes=") + bucket,
                                 std::string("stories.spike_window_minutes=") + window,
                                 std::string("stories.baseline_hours=") + baseline,
                                 std::string("stories.baseline_floor=") + floor,
                                 std::string("stories.alpha=") + alpha};
            const absl::StatusOr<config::DaemonConfig> c =
                config::ParseConfig("", "test.yaml", options);
            const std::string what =
                absl::StrCat("bucket ", bucket, " window ", window, " baseline ", baseline,
                             " floor ", floor, " alpha ", alpha);
            // The same values given to the stage directly, past the schema.
            config::DaemonConfig raw = *config::ParseConfig("", "test.yaml");
            raw.stories.bucket_minutes = std::stod(bucket);
            raw.stories.spike_window_minutes = std::stod(window);
            raw.stories.baseline_hours = std::stod(baseline);
            raw.stories.baseline_floor = std::stod(floor);
            raw.stories.alpha = std::stod(alpha);
            auto stage = stories::StoriesStage::Create(StoriesRoleOptionsFrom(raw, {}, "").stage);
            EXPECT_EQ(c.ok(), stage.ok())
                << what << ": schema " << (c.ok() ? "OK" : c.status().ToString()) << "; stage "
                << (stage.ok() ? "OK" : stage.status().ToString());
            ++(c.ok() ? accepted : refused);
          }
        }
      }
    }
  }
  // Both sides of the boundary were tried.
  EXPECT_GT(accepted, 10);
  EXPECT_GT(refused, 10);
  // And a refused value names its key and the rule.
  config::LoadOptions options;
  options.overrides = {"stories.bucket_minutes=10", "stories.spike_window_minutes=15"};
  EXPECT_THAT(config::ParseConfig("", "test.yaml", options).status().message(),
              ::testing::HasSubstr("stories.spike_window_minutes: must be a whole number of "
                                   "buckets"));
}

}  // namespace
}  // namespace steppewatch::daemon
