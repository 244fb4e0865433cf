// DaemonConfig: steppewatchd's configuration, read from one YAML file
// (/etc/steppewatch/steppewatch.yaml by default), then environment variables, then command-line
// overrides. config/steppewatch.example.yaml documents every key with its default (a test loads
// it and checks that it equals DaemonConfig{}, so the two cannot drift).
//
// Loading rules (see daemon_config.cc for the implementation):
//   - Unknown keys, duplicate keys and wrong types are errors that name the key, the file and the
//     line ("steppewatch.yaml:12:3: kafka.input_topic: unknown key ...").
//   - Secrets: any string key `k` may instead be given as `k_file: /path`; the file's content,
//     trimmed of surrounding whitespace, is the value (`password_file` under metrics.basic_auth,
//     `sasl.password_file` inside kafka.common). Giving both `k` and `k_file` is an error.
//   - Environment overrides (EnvOverrides() lists them all), each also as NAME_FILE (a path whose
//     trimmed content is the value, for Docker/Kubernetes/systemd credentials).
//   - Command-line overrides "section.key=value" (LoadOptions::overrides) are applied last.
//   - Then ValidateConfig() runs; its errors name the file and line of the offending key when the
//     value came from the file, or the environment variable when it came from there.
//
// Threading: plain values; load once at start (and on SIGHUP if the daemon wants), then share as
// const. Functions here are thread-compatible (they read the process environment only through
// ProcessEnvironment()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "steppewatch/decode/news_item.h"

namespace steppewatch::config {

inline constexpr std::string_view kDefaultConfigPath = "/etc/steppewatch/steppewatch.yaml";

// librdkafka properties, passed through verbatim (name -> value). Sorted, so rendering is stable.
using PropertyMap = std::map<std::string, std::string>;

// `kafka.embedded`: used only when kafka.brokers is "embedded" (an in-process mock cluster, for
// demos and tests; it keeps no data across restarts).
struct EmbeddedKafkaConfig {
  // Partitions of each auto-created topic. 16: the mock cluster keeps only ~5 MiB per partition
  // and silently drops older messages (hard-coded in librdkafka 2.0.2's mock), so a demo feed
  // of ~50 MB needs this many.
  int partitions = 16;
  // Topics created at start besides the input topics, the dead-letter topic and the default
  // alert topic (which are always created): e.g. the alert topics named by rules.
  std::vector<std::string> topics;

  bool operator==(const EmbeddedKafkaConfig&) const = default;
};

// `kafka`: where items come from and alerts go.
struct KafkaConfig {
  // bootstrap.servers ("host:port,host:port"), or "embedded" for an in-process mock cluster
  // whose bootstrap string the daemon logs at start.
  std::string brokers = "localhost:9092";
  // Consumer group: instances with the same group share the input partitions.
  std::string group_id = "steppewatch";
  std::string client_id = "steppewatch";
  // group.instance.id: static group membership, for fast recovery. A restarted instance with
  // the same id gets its partitions back without a rebalance within session.timeout.ms (10 s).
  // Must be stable across restarts and unique per running instance (a StatefulSet pod name,
  // the systemd instance); two live members with the same id are fenced (exit code 5).
  // Empty: dynamic membership. deploy/README.md, "Fast recovery".
  std::string instance_id;
  std::vector<std::string> input_topics = {"news.items"};
  // Items that cannot be decoded or processed go here with the reason in headers.
  std::string dead_letter_topic = "steppewatch.dead-letter";
  // Alert topic of rules that name none (the rule pack's `defaults.topic` takes precedence).
  std::string default_alert_topic = "steppewatch.alerts";
  // librdkafka properties for both clients (security.protocol, sasl.*, ssl.*, ...), then
  // per-client ones on top. See KafkaClientProperties() for defaults and refused keys.
  PropertyMap common;
  PropertyMap consumer;
  PropertyMap producer;
  EmbeddedKafkaConfig embedded;

  bool operator==(const KafkaConfig&) const = default;
};

// `decoder`: decode::DecoderOptions as YAML: `decoder.fields.{id,title,body,url,source,lang,
// published_at}` (dotted paths) and `decoder.max_item_bytes`.
struct DecoderConfig {
  decode::DecoderOptions options;

  bool operator==(const DecoderConfig& other) const;
};

// `rules`: the rule pack (config/rules/README.md) and its compiled-database cache.
struct RulesConfig {
  // Where `cmake --install` / the .deb put the default pack. On Kubernetes, the ConfigMap mount.
  std::string dir = "/usr/share/steppewatch/rules";
  // Reload when the directory changes (inotify; Kubernetes swaps a `..data` symlink). SIGHUP
  // always reloads.
  bool reload_on_change = true;
  // Optional (empty = off): a JSONL file of items replayed through the old and new pack on
  // reload; the per-rule difference in hits is logged.
  std::string reload_gate_sample;
  // Serialized Hyperscan databases (systemd's CacheDirectory=steppewatch). Must be writable;
  // on a read-only root filesystem point it at a volume.
  std::string cache_dir = "/var/cache/steppewatch";

  bool operator==(const RulesConfig&) const = default;
};

// `pipeline`: threads and backpressure (pipeline::InFlightLimits mirrors the last three).
struct PipelineConfig {
  // Worker threads; 0 = one per hardware core (std::thread::hardware_concurrency()).
  int workers = 0;
  // Items between "consumed" and "every output acked" before the consumer pauses: 20000 is
  // ~0.2 s of work at the measured ~100k items/s, and a revoke drains that quickly.
  int64_t max_in_flight_items = 20000;
  // Payload bytes in flight before pausing: bounds memory when items are large. Must be at least
  // decoder.max_item_bytes, or one maximal item could never be admitted.
  int64_t max_in_flight_bytes = int64_t{256} << 20;
  // Resume when both counts are below this fraction of their limits (hysteresis: pausing drops
  // librdkafka's prefetched data, so flapping would refetch it over and over). In (0, 1).
  double resume_fraction = 0.5;
  // On SIGTERM or revoke: how long in-flight items may take to finish before the daemon gives up
  // (their offsets are not stored, so they are re-consumed: nothing is lost). Keep below
  // systemd's TimeoutStopSec and Kubernetes' terminationGracePeriodSeconds minus the flush.
  double shutdown_budget_seconds = 30;
  // Hits kept per item; beyond it the item is marked truncated. Real articles produce a few
  // hundred at most; this bounds a hostile item (1 M matching words) to milliseconds of rules work.
  int max_hits_per_item = 10000;

  bool operator==(const PipelineConfig&) const = default;
};

struct BasicAuthConfig {
  std::string user;      // both empty = no auth; both set = /metrics requires them
  std::string password;  // usually given as `password_file`

  bool operator==(const BasicAuthConfig&) const = default;
};

// `metrics`: the HTTP endpoint with /metrics, /healthz and /readyz.
struct MetricsConfig {
  // host:port ("[::1]:9464" for IPv6). Loopback by default; "0.0.0.0:9464" in a pod.
  // 9464 is the port registered for this kind of Prometheus exporter; port 0 picks a free one.
  std::string listen = "127.0.0.1:9464";
  // Label hit/alert counters with the rule id: one series per rule (fine for hundreds of rules;
  // turn off for packs of many thousands to spare Prometheus).
  bool per_rule_label = true;
  BasicAuthConfig basic_auth;

  bool operator==(const MetricsConfig&) const = default;
};

// `alerts`: what an alert message carries.
struct AlertsConfig {
  // full: up to 32 hits per fired rule with 60-byte snippets; compact: one hit per distinct term,
  // at most 8 per rule, 30-byte snippets (config/rules/README.md, "Alerts": the size bounds).
  std::string hits = "full";

  bool operator==(const AlertsConfig&) const = default;
};

// `log`
struct LogConfig {
  std::string level = "info";   // debug | info | warning | error
  std::string format = "text";  // text | json (one JSON object per line)

  bool operator==(const LogConfig&) const = default;
};

// `stories`: the stories role (grouping copies into stories, spikes of new stories). The
// defaults are stories::StageOptions' (config/rules/README.md, "Stories and spikes").
struct StoriesConfig {
  std::string group_id = "steppewatch-stories";
  // The alert topics to read; empty = the rule pack's topics (and kafka.default_alert_topic).
  std::vector<std::string> input_topics;
  std::string topic = "steppewatch.stories";
  std::string spikes_topic = "steppewatch.spikes";
  // One partition, no data: the instance holding it is the active one.
  std::string lease_topic = "steppewatch.stories.lease";
  double window_hours = 72;
  double bucket_minutes = 10;
  double spike_window_minutes = 120;
  int warmup_days = 7;
  double baseline_hours = 168;
  int min_stories = 5;
  double baseline_floor = 0.5;
  double alpha = 1e-4;
  int top_story_ids = 10;
  int max_keys = 10000;

  bool operator==(const StoriesConfig&) const = default;
};

// A stories setting in minutes as the stories role takes it: whole milliseconds (truncated).
// The schema's checks and StoriesRoleOptionsFrom both use it, so they judge the same values.
inline int64_t StoriesMilliseconds(double minutes) { return static_cast<int64_t>(minutes * 60000); }

struct DaemonConfig {
  // Names this instance in alerts (`instance`) and logs. Empty in the file = the host name
  // (filled in by LoadConfig/ParseConfig, so a loaded config never has it empty).
  std::string instance;
  // What this process runs: "match" (items -> alerts), "stories" (alerts -> stories and spikes),
  // or both (a small installation, the embedded demo).
  std::vector<std::string> roles = {"match"};
  KafkaConfig kafka;
  DecoderConfig decoder;
  RulesConfig rules;
  PipelineConfig pipeline;
  MetricsConfig metrics;
  AlertsConfig alerts;
  LogConfig log;
  StoriesConfig stories;

  bool operator==(const DaemonConfig&) const = default;
};

// One environment override: NAME sets the dotted key (NAME_FILE reads the value from a file).
struct EnvOverride {
  std::string_view name;  // "STEPPEWATCH_KAFKA_BROKERS"
  std::string_view key;   // "kafka.brokers"
};
// The complete list, derived from the schema (schema.h) and listed in
// config/steppewatch.example.yaml (a test keeps the two equal). An unknown variable under a
// known section (STEPPEWATCH_KAFKA_BROKER) is an error; any other unknown STEPPEWATCH_* variable
// (STEPPEWATCH_METRIC_LISTEN) is a warning; both name the nearest known variable.
const std::vector<EnvOverride>& EnvOverrides();

// Where each value came from, by dotted key: "file.yaml:3:5", "environment variable X",
// "override 'k'". Keys left at their default are absent.
using Origins = std::map<std::string, std::string>;

struct LoadOptions {
  // The YAML file. LoadConfig() fails when it is missing unless allow_missing_file (then the
  // defaults plus environment and overrides are used: a container configured by env only).
  std::string path = std::string(kDefaultConfigPath);
  bool allow_missing_file = false;
  // Environment variables (name -> value); pass ProcessEnvironment() in the daemon, a literal
  // map in tests.
  std::map<std::string, std::string> env;
  // "dotted.key=value" from the command line (e.g. "kafka.brokers=host:9092",
  // "kafka.consumer.fetch.max.bytes=1048576"), applied after the environment.
  std::vector<std::string> overrides;
  // Optional outputs: problems that do not stop loading (an unknown STEPPEWATCH_* variable),
  // and the origin of every value.
  std::vector<std::string>* warnings = nullptr;
  Origins* origins = nullptr;
};

// Returns the STEPPEWATCH_* variables of this process.
std::map<std::string, std::string> ProcessEnvironment();

// Reads options.path (a regular file: a directory is an error), applies environment and
// overrides, fills the instance name, validates. Validation reports every problem at once, one
// per line.
absl::StatusOr<DaemonConfig> LoadConfig(const LoadOptions& options);

// As LoadConfig, from YAML text; `source_name` stands for the file name in messages.
absl::StatusOr<DaemonConfig> ParseConfig(std::string_view yaml, std::string_view source_name,
                                         const LoadOptions& options = {});

// Checks values that parse but make no sense (empty topics, watermarks, listen address, ...).
// LoadConfig/ParseConfig call it; call it again after changing a config in code.
absl::Status ValidateConfig(const DaemonConfig& config);

// Returns true for keys whose values must never be logged: names containing password, secret,
// key, token or sasl.oauthbearer (case-insensitive), e.g. sasl.password, ssl.key.password.
bool IsSecretKey(std::string_view key);

// Renders the effective configuration as YAML with every secret value replaced by "<redacted>",
// for the start-up log and `steppewatchd --check-config`.
// With `origins` (LoadOptions::origins), each value that did not come from the defaults is
// followed by a comment saying where it came from ("# steppewatch.yaml:12:3",
// "# environment variable STEPPEWATCH_KAFKA_BROKERS").
std::string RenderRedacted(const DaemonConfig& config, const Origins* origins = nullptr);

// The librdkafka properties of the daemon's two clients.
struct KafkaClientProperties {
  PropertyMap consumer;
  PropertyMap producer;
};

// Builds the properties: steppewatch's defaults (kafka::DefaultProperties, client.h: the one
// place they are set), then kafka.common, then kafka.consumer or kafka.producer.
// `bootstrap_servers` replaces kafka.brokers (for "embedded": the mock cluster's bootstrap
// string); empty = kafka.brokers. kafka.instance_id becomes group.instance.id.
// Refused in the user maps (ValidateConfig fails; correctness depends on them):
//   enable.auto.offset.store, enable.auto.commit, enable.idempotence (at-least-once and no
//   duplicates from retries), and bootstrap.servers, group.id, client.id, group.instance.id (set
//   kafka.brokers, kafka.group_id, kafka.client_id, kafka.instance_id instead).
KafkaClientProperties BuildKafkaProperties(const DaemonConfig& config,
                                           std::string_view bootstrap_servers = {});

// The keys BuildKafkaProperties' user maps may not set.
const std::vector<std::string_view>& RefusedKafkaProperties();

// What Preflight() found: errors stop the daemon (and fail --check-config); warnings do not.
// Each line names the key (with its origin when known) in the words of the configuration.
struct PreflightReport {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  // False when rules.cache_dir cannot be used (a warning says why): compile without the cache.
  bool cache_usable = true;
};

struct PreflightOptions {
  // Bind the metrics address to see that it is free (false when the caller binds it itself).
  bool check_listen = true;
  // Connect to the brokers (a warning when none answers: the daemon would start and wait).
  bool check_brokers = false;
};

// Checks a valid configuration against what parsing cannot see: both librdkafka client
// configurations are built through librdkafka (every property set with rd_kafka_conf_set, then
// the client created without brokers, so an unknown property, a bad value or an inconsistent
// combination is an error naming the key); the metrics address can be bound; the cache
// directory can be created and written (warnings: read-only, foreign-owned, nearly full); with
// check_brokers, at least one broker of kafka.brokers accepts a TCP connection (a warning).
PreflightReport Preflight(const DaemonConfig& config, const Origins& origins = {},
                          const PreflightOptions& options = {});

// The librdkafka part of Preflight().
void CheckKafkaClients(const DaemonConfig& config, const Origins& origins, PreflightReport* out);

}  // namespace steppewatch::config
