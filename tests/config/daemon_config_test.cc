// Tests of the daemon configuration: the example file equals the defaults; bad configs give
// file:line messages; environment and command-line overrides; *_file secrets; redaction; the
// librdkafka property maps.
#include "steppewatch/config/daemon_config.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::config {
namespace {

using ::steppewatch::testing::IsOk;
using ::steppewatch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string HostName() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

DaemonConfig Defaults() {
  DaemonConfig c;
  c.instance = HostName();
  return c;
}

std::string WriteFile(const std::filesystem::path& dir, const std::string& name,
                      const std::string& content) {
  std::filesystem::path p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

absl::Status ParseStatus(const std::string& yaml, const LoadOptions& options = {}) {
  return ParseConfig(yaml, "test.yaml", options).status();
}

TEST(DaemonConfig, ExampleFileEqualsDefaults) {
  LoadOptions options;
  options.path = (steppewatch::testing::SourceDir() / "config/steppewatch.example.yaml").string();
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig loaded, LoadConfig(options));
  EXPECT_EQ(loaded, Defaults()) << RenderRedacted(loaded) << "\nvs defaults\n"
                                << RenderRedacted(Defaults());
  EXPECT_THAT(ValidateConfig(Defaults()), IsOk());
}

TEST(DaemonConfig, ExampleFileDocumentsEveryEnvOverride) {
  std::ifstream in(steppewatch::testing::SourceDir() / "config/steppewatch.example.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const EnvOverride& e : EnvOverrides()) {
    EXPECT_THAT(text, HasSubstr(std::string(e.name) + " ")) << "undocumented: " << e.name;
  }
}

TEST(DaemonConfig, EmptyAndCommentOnlyFilesGiveDefaults) {
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig empty, ParseConfig("", "empty.yaml"));
  EXPECT_EQ(empty, Defaults());
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig comments, ParseConfig("# nothing\n", "c.yaml"));
  EXPECT_EQ(comments, Defaults());
}

TEST(DaemonConfig, ParsesEveryKind) {
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, ParseConfig(R"(
instance: node-a
kafka:
  brokers: k1:9092,k2:9092
  input_topics: [a, b]
  consumer:
    fetch.max.bytes: 1048576
    queued.max.messages.kbytes: 65536
  embedded: {partitions: 64, topics: [alerts.x]}
decoder:
  fields: {lang: meta.lang}
  max_item_bytes: 2097152
rules: {dir: /tmp/rules, reload_on_change: no}
pipeline: {workers: 3, resume_fraction: 0.25, shutdown_budget_seconds: 2.5}
metrics: {listen: "[::1]:0", per_rule_label: false}
log: {level: debug, format: json}
)",
                                                      "t.yaml"));
  EXPECT_EQ(c.instance, "node-a");
  EXPECT_EQ(c.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.kafka.input_topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.kafka.consumer.at("fetch.max.bytes"), "1048576");
  EXPECT_EQ(c.kafka.embedded.partitions, 64);
  EXPECT_EQ(c.kafka.embedded.topics, (std::vector<std::string>{"alerts.x"}));
  EXPECT_EQ(c.decoder.options.fields.lang, "meta.lang");
  EXPECT_EQ(c.decoder.options.fields.title, "title");
  EXPECT_EQ(c.decoder.options.max_item_bytes, 2097152u);
  EXPECT_EQ(c.rules.dir, "/tmp/rules");
  EXPECT_FALSE(c.rules.reload_on_change);
  EXPECT_EQ(c.pipeline.workers, 3);
  EXPECT_DOUBLE_EQ(c.pipeline.resume_fraction, 0.25);
  EXPECT_DOUBLE_EQ(c.pipeline.shutdown_budget_seconds, 2.5);
  EXPECT_EQ(c.metrics.listen, "[::1]:0");
  EXPECT_FALSE(c.metrics.per_rule_label);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
}

struct BadConfig {
  const char* name;
  const char* yaml;
  const char* message;  // expected substring, with file:line:column where it has one
};

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, FailsWithLocation) {
  EXPECT_THAT(ParseStatus(GetParam().yaml),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfigTest,
    ::testing::Values(
        BadConfig{
            "unknown_top_key", "kafak:\n  brokers: x\n",
            "test.yaml:1:1: kafak: unknown key (known here: instance, instance_file, roles, kafka"},
        BadConfig{"unknown_nested_key", "kafka:\n  input_topic: [a]\n",
                  "test.yaml:2:3: kafka.input_topic: unknown key"},
        BadConfig{"unknown_deep_key", "metrics:\n  basic_auth:\n    username: u\n",
                  "test.yaml:3:5: metrics.basic_auth.username: unknown key"},
        BadConfig{"file_suffix_on_non_string", "pipeline:\n  workers_file: /x\n",
                  "test.yaml:2:3: pipeline.workers_file: unknown key"},
        BadConfig{"int_not_int", "pipeline:\n  workers: many\n",
                  "test.yaml:2:12: pipeline.workers: expected an integer, got 'many'"},
        BadConfig{"int_is_float", "pipeline:\n  max_hits_per_item: 1.5\n",
                  "test.yaml:2:22: pipeline.max_hits_per_item: expected an integer"},
        BadConfig{"size_negative", "decoder:\n  max_item_bytes: -1\n",
                  "test.yaml:2:19: decoder.max_item_bytes: expected a non-negative integer"},
        BadConfig{"bool_not_bool", "rules:\n  reload_on_change: maybe\n",
                  "test.yaml:2:21: rules.reload_on_change: expected true or false"},
        BadConfig{"list_is_scalar", "kafka:\n  input_topics: news\n",
                  "test.yaml:2:17: kafka.input_topics: expected a list of strings"},
        BadConfig{"list_of_maps", "kafka:\n  input_topics: [{a: 1}]\n",
                  "kafka.input_topics: list items must be strings"},
        BadConfig{"string_is_map", "kafka:\n  brokers: {a: 1}\n",
                  "test.yaml:2:12: kafka.brokers: expected a string, got a mapping"},
        BadConfig{"string_is_null", "kafka:\n  brokers:\n",
                  "kafka.brokers: needs a value (a string)"},
        BadConfig{"section_is_scalar", "kafka: 5\n",
                  "test.yaml:1:8: kafka: expected a mapping of keys"},
        BadConfig{"top_is_list", "- a\n- b\n", "the top level must be a mapping"},
        BadConfig{"duplicate_key", "log:\n  level: info\n  level: debug\n",
                  "test.yaml:3:3: log.level: duplicate key"},
        BadConfig{"property_is_map", "kafka:\n  common:\n    ssl: {a: b}\n",
                  "test.yaml:3:10: kafka.common.ssl: property values must be scalars"},
        BadConfig{"syntax", "kafka: [a, b\nlog: {}\n", "test.yaml:"},
        BadConfig{"syntax_message", "kafka:\n  brokers: x\n   bad: y\n",
                  "test.yaml:3:7: invalid YAML: "},
        BadConfig{"not_utf8", "decoder:\n  fields:\n    lang: \xA2meta.lang\n",
                  "test.yaml: the file is not valid UTF-8"},
        BadConfig{"nul_byte", "log:\n  level: info\n  format: te\x1axt\n",
                  "test.yaml:3: control character (byte 26) is not allowed in YAML"},
        BadConfig{"tab_indent", "kafka:\n\tbrokers: x\n", "invalid YAML"},
        // Escapes yaml-cpp decodes to bytes that are not UTF-8 text (config fuzzer find).
        BadConfig{"escape_not_utf8", "kafka:\n  consumer: {fetch.max.bytes: \"1\\_0\"}\n",
                  "test.yaml:2:31: an escape in this scalar decodes to bytes that are not UTF-8"},
        BadConfig{"escape_control", "log:\n  format: \"te\\x01xt\"\n",
                  "test.yaml:2:11: an escape in this scalar decodes to bytes that are not UTF-8"},
        // Validation errors carry the location of the value.
        BadConfig{"no_topics", "kafka:\n  input_topics: []\n",
                  "test.yaml:2:17: kafka.input_topics: needs at least one topic"},
        BadConfig{"empty_topic", "kafka:\n  input_topics: [\"\"]\n",
                  "kafka.input_topics: a topic name is empty"},
        BadConfig{"duplicate_topic", "kafka:\n  input_topics: [a, a]\n", "'a' is listed twice"},
        BadConfig{"dead_letter_is_input", "kafka:\n  input_topics: [a]\n  dead_letter_topic: a\n",
                  "test.yaml:3:22: kafka.dead_letter_topic: must not be one of kafka.input_topics"},
        BadConfig{"alert_is_input", "kafka:\n  default_alert_topic: news.items\n",
                  "kafka.default_alert_topic: must not be one of kafka.input_topics"},
        BadConfig{"empty_brokers", "kafka:\n  brokers: \"\"\n",
                  "test.yaml:2:12: kafka.brokers: must not be empty"},
        BadConfig{"refused_offset_store",
                  "kafka:\n  consumer:\n    enable.auto.offset.store: true\n",
                  "test.yaml:3:31: kafka.consumer.enable.auto.offset.store: cannot be overridden"},
        BadConfig{"refused_idempotence", "kafka:\n  producer:\n    enable.idempotence: false\n",
                  "kafka.producer.enable.idempotence: cannot be overridden"},
        BadConfig{"refused_auto_commit", "kafka:\n  common:\n    enable.auto.commit: false\n",
                  "kafka.common.enable.auto.commit: cannot be overridden"},
        BadConfig{"refused_bootstrap", "kafka:\n  common:\n    bootstrap.servers: x:1\n",
                  "kafka.common.bootstrap.servers: set by kafka.brokers"},
        BadConfig{"partitions", "kafka:\n  embedded:\n    partitions: 0\n",
                  "test.yaml:3:17: kafka.embedded.partitions: must be in [1, 10000]"},
        BadConfig{"decoder_path", "decoder:\n  fields:\n    lang: meta..lang\n",
                  "decoder: decoder: path 'meta..lang' of field 'lang' has an empty component"},
        BadConfig{"decoder_zero", "decoder:\n  max_item_bytes: 0\n", "max_item_bytes must be in"},
        BadConfig{"decoder_huge", "decoder:\n  max_item_bytes: 2147483648\n",
                  "test.yaml:2:19: decoder.max_item_bytes: must be at most"},
        BadConfig{"workers_negative", "pipeline:\n  workers: -1\n",
                  "test.yaml:2:12: pipeline.workers: must be in [0, 1024]"},
        BadConfig{"items_zero", "pipeline:\n  max_in_flight_items: 0\n",
                  "pipeline.max_in_flight_items: must be >= 1"},
        BadConfig{"bytes_below_item", "pipeline:\n  max_in_flight_bytes: 1000\n",
                  "pipeline.max_in_flight_bytes: must be >= decoder.max_item_bytes"},
        BadConfig{"resume_one", "pipeline:\n  resume_fraction: 1\n",
                  "test.yaml:2:20: pipeline.resume_fraction: must be in (0, 1)"},
        BadConfig{"resume_zero", "pipeline:\n  resume_fraction: 0\n", "must be in (0, 1)"},
        BadConfig{"budget_zero", "pipeline:\n  shutdown_budget_seconds: 0\n",
                  "pipeline.shutdown_budget_seconds: must be in (0, 3600]"},
        BadConfig{"hits_zero", "pipeline:\n  max_hits_per_item: 0\n", "must be >= 1"},
        BadConfig{"listen_no_port", "metrics:\n  listen: localhost\n",
                  "test.yaml:2:11: metrics.listen: 'localhost' is not host:port"},
        BadConfig{"listen_big_port", "metrics:\n  listen: 1.2.3.4:99999\n", "is not host:port"},
        BadConfig{"listen_bare_v6", "metrics:\n  listen: ::1:9464\n", "is not host:port"},
        BadConfig{"listen_no_host", "metrics:\n  listen: :9464\n", "is not host:port"},
        BadConfig{"auth_half", "metrics:\n  basic_auth:\n    user: u\n",
                  "metrics.basic_auth: give both user and password"},
        BadConfig{"log_level", "log:\n  level: verbose\n",
                  "test.yaml:2:10: log.level: 'verbose' is not debug, info, warning or error"},
        BadConfig{"log_format", "log:\n  format: xml\n", "log.format: 'xml' is not text or json"},
        BadConfig{"secret_file_missing",
                  "metrics:\n  basic_auth:\n    user: u\n    password_file: /nonexistent/pw\n",
                  "test.yaml:4:20: metrics.basic_auth.password_file: cannot read file "
                  "'/nonexistent/pw'"},
        BadConfig{"secret_both",
                  "metrics:\n  basic_auth:\n    password: a\n    password_file: /x\n",
                  "test.yaml:4:5: metrics.basic_auth.password_file: both 'password' and "
                  "'password_file' are given"},
        BadConfig{"property_both",
                  "kafka:\n  common:\n    sasl.password: a\n    sasl.password_file: /dev/null\n",
                  "kafka.common.sasl.password_file: given twice"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return std::string(info.param.name); });

TEST(DaemonConfig, ListenAddressesThatParse) {
  for (const char* listen :
       {"127.0.0.1:9464", "0.0.0.0:0", "[::1]:9464", "[::]:80", "metrics.local:9464"}) {
    DaemonConfig c = Defaults();
    c.metrics.listen = listen;
    EXPECT_THAT(ValidateConfig(c), IsOk()) << listen;
  }
}

TEST(DaemonConfig, EnvironmentOverridesTheFile) {
  LoadOptions options;
  options.env = {{"STEPPEWATCH_KAFKA_BROKERS", "b1:9092,b2:9092"},
                 {"STEPPEWATCH_KAFKA_GROUP_ID", "g2"},
                 {"STEPPEWATCH_KAFKA_INPUT_TOPICS", "t1, t2,,t3"},
                 {"STEPPEWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                 {"STEPPEWATCH_RULES_DIR", "/env/rules"},
                 {"STEPPEWATCH_RULES_RELOAD_ON_CHANGE", "false"},
                 {"STEPPEWATCH_PIPELINE_WORKERS", "4"},
                 {"STEPPEWATCH_METRICS_LISTEN", "0.0.0.0:9464"},
                 {"STEPPEWATCH_LOG_LEVEL", "warning"},
                 {"STEPPEWATCH_INSTANCE", "pod-1"},
                 {"STEPPEWATCH_CORPUS_DIR", "/not/config"}};  // not a config section: ignored
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, ParseConfig(R"(
kafka:
  brokers: file:9092
  group_id: g1
  input_topics: [from-file]
  common: {sasl.mechanism: PLAIN}
pipeline: {workers: 1, max_hits_per_item: 7}
)",
                                                      "t.yaml", options));
  EXPECT_EQ(c.kafka.brokers, "b1:9092,b2:9092");
  EXPECT_EQ(c.kafka.group_id, "g2");
  EXPECT_EQ(c.kafka.input_topics, (std::vector<std::string>{"t1", "t2", "t3"}));
  EXPECT_EQ(c.kafka.common.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(c.kafka.common.at("sasl.mechanism"), "PLAIN");
  EXPECT_EQ(c.rules.dir, "/env/rules");
  EXPECT_FALSE(c.rules.reload_on_change);
  EXPECT_EQ(c.pipeline.workers, 4);
  EXPECT_EQ(c.pipeline.max_hits_per_item, 7);
  EXPECT_EQ(c.metrics.listen, "0.0.0.0:9464");
  EXPECT_EQ(c.log.level, "warning");
  EXPECT_EQ(c.instance, "pod-1");
}

TEST(DaemonConfig, EnvironmentErrorsNameTheVariable) {
  LoadOptions options;
  options.env = {{"STEPPEWATCH_PIPELINE_WORKERS", "lots"}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment variable STEPPEWATCH_PIPELINE_WORKERS: "
                                 "pipeline.workers: expected an integer, got 'lots'")));
  options.env = {{"STEPPEWATCH_METRICS_LISTEN", "nope"}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment variable STEPPEWATCH_METRICS_LISTEN: "
                                 "metrics.listen: 'nope' is not host:port")));
  options.env = {{"STEPPEWATCH_KAFKA_BROKER", "typo:9092"}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("STEPPEWATCH_KAFKA_BROKER is not a known override")));
  options.env = {{"STEPPEWATCH_KAFKA_GROUP_ID", "g\xFF"}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment variable STEPPEWATCH_KAFKA_GROUP_ID: the value is "
                                 "not valid UTF-8 text")));
  options.env = {{"STEPPEWATCH_KAFKA_SASL_PASSWORD", "a"},
                 {"STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE", "/x"}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keep one")));
  // A section of the file that is not a mapping cannot take an override.
  options.env = {{"STEPPEWATCH_KAFKA_BROKERS", "x:1"}};
  EXPECT_THAT(ParseStatus("kafka: 5\n", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kafka")));
}

TEST(DaemonConfig, SecretsFromFiles) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("config-secrets");
  const std::string kafka_pw = WriteFile(dir, "kafka-pw", "  s3cr3t-kafka\n");
  const std::string metrics_pw = WriteFile(dir, "metrics-pw", "metrics-pw\n\n");
  const std::string brokers = WriteFile(dir, "brokers", "secret-broker:9093\n");
  const std::string yaml =
      "kafka:\n  brokers_file: " + brokers +
      "\n  common:\n    sasl.username: sw\n    sasl.password_file: " + kafka_pw +
      "\nmetrics:\n  basic_auth:\n    user: prom\n"
      "    password_file: " +
      metrics_pw + "\n";
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, ParseConfig(yaml, "s.yaml"));
  EXPECT_EQ(c.kafka.brokers, "secret-broker:9093");
  EXPECT_EQ(c.kafka.common.at("sasl.password"), "s3cr3t-kafka");
  EXPECT_EQ(c.kafka.common.count("sasl.password_file"), 0u);
  EXPECT_EQ(c.metrics.basic_auth.password, "metrics-pw");

  // NAME_FILE in the environment, e.g. a systemd credential or a Kubernetes secret volume; it
  // replaces a password_file of the file without a conflict.
  const std::string env_pw = WriteFile(dir, "env-pw", "from-env\n");
  LoadOptions options;
  options.env = {{"STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE", env_pw},
                 {"STEPPEWATCH_METRICS_BASIC_AUTH_PASSWORD_FILE", env_pw}};
  SW_ASSERT_OK_AND_ASSIGN(c, ParseConfig(yaml, "s.yaml", options));
  EXPECT_EQ(c.kafka.common.at("sasl.password"), "from-env");
  EXPECT_EQ(c.metrics.basic_auth.password, "from-env");

  options.env = {{"STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE", (dir / "missing").string()}};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE"),
                             HasSubstr("cannot read file"))));
  // A device or huge file is refused instead of read forever.
  EXPECT_THAT(ParseStatus("kafka:\n  common:\n    sasl.password_file: /dev/zero\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:3:25: kafka.common.sasl.password_file: file "
                                 "'/dev/zero' is larger than 65536 bytes")));
  std::filesystem::remove_all(dir);
}

TEST(DaemonConfig, CommandLineOverridesComeLast) {
  LoadOptions options;
  options.env = {{"STEPPEWATCH_PIPELINE_WORKERS", "4"}};
  options.overrides = {"pipeline.workers=2", "kafka.consumer.fetch.max.bytes=1048576",
                       "kafka.input_topics=x,y", "metrics.basic_auth.user=u",
                       "metrics.basic_auth.password=p"};
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig c,
                          ParseConfig("pipeline: {workers: 1}\n", "o.yaml", options));
  EXPECT_EQ(c.pipeline.workers, 2);
  EXPECT_EQ(c.kafka.consumer.at("fetch.max.bytes"), "1048576");
  EXPECT_EQ(c.kafka.input_topics, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c.metrics.basic_auth.user, "u");

  options.overrides = {"pipeline.wrokers=2"};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("override 'pipeline.wrokers': pipeline.wrokers: unknown key")));
  options.overrides = {"novalue"};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected key=value")));
  options.overrides = {"kafka..brokers=x"};
  EXPECT_THAT(ParseStatus("", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed key")));
}

TEST(DaemonConfig, LoadConfigReadsTheFile) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("config-load");
  LoadOptions options;
  options.path = WriteFile(dir, "sw.yaml", "log:\n  level: error\n  bogus: 1\n");
  EXPECT_THAT(LoadConfig(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(options.path + ":3:3: log.bogus: unknown key")));
  WriteFile(dir, "sw.yaml", "log:\n  level: error\n");
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, LoadConfig(options));
  EXPECT_EQ(c.log.level, "error");

  options.path = (dir / "absent.yaml").string();
  EXPECT_THAT(LoadConfig(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
  options.allow_missing_file = true;
  options.env = {{"STEPPEWATCH_KAFKA_BROKERS", "embedded"}};
  SW_ASSERT_OK_AND_ASSIGN(c, LoadConfig(options));
  EXPECT_EQ(c.kafka.brokers, "embedded");
  std::filesystem::remove_all(dir);
}

TEST(DaemonConfig, ProcessEnvironmentReadsOnlyOurVariables) {
  ASSERT_EQ(setenv("STEPPEWATCH_TEST_ONLY_VAR", "v=1", 1), 0);
  ASSERT_EQ(setenv("NOT_STEPPEWATCH_VAR", "x", 1), 0);
  std::map<std::string, std::string> env = ProcessEnvironment();
  EXPECT_EQ(env["STEPPEWATCH_TEST_ONLY_VAR"], "v=1");
  EXPECT_EQ(env.count("NOT_STEPPEWATCH_VAR"), 0u);
  unsetenv("STEPPEWATCH_TEST_ONLY_VAR");
  unsetenv("NOT_STEPPEWATCH_VAR");
}

TEST(IsSecretKey, MatchesSecretNames) {
  for (const char* key :
       {"sasl.password", "ssl.key.password", "ssl.key.pem", "password", "sasl.oauthbearer.config",
        "SASL.OAUTHBEARER.client.secret", "api_token", "ssl.keystore.password", "client_secret"}) {
    EXPECT_TRUE(IsSecretKey(key)) << key;
  }
  for (const char* key : {"sasl.username", "sasl.mechanism", "user", "brokers", "listen",
                          "security.protocol", "group_id"}) {
    EXPECT_FALSE(IsSecretKey(key)) << key;
  }
}

TEST(RenderRedacted, HidesSecretsAndKeepsTheRest) {
  DaemonConfig c = Defaults();
  c.kafka.common = {{"sasl.username", "steppewatch-user"},
                    {"sasl.password", "hunter2-kafka"},
                    {"ssl.key.pem", "-----BEGIN PRIVATE KEY-----abc"},
                    {"sasl.oauthbearer.config", "principal=x secret=oauth-s3cret"}};
  c.kafka.producer = {{"ssl.keystore.password", "ks-pass"}};
  c.metrics.basic_auth = {"prom", "metrics-hunter2"};
  ASSERT_THAT(ValidateConfig(c), IsOk());
  const std::string text = RenderRedacted(c);
  for (const char* secret :
       {"hunter2-kafka", "PRIVATE KEY", "oauth-s3cret", "ks-pass", "metrics-hunter2"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(text, HasSubstr("<redacted>"));
  EXPECT_THAT(text, HasSubstr("steppewatch-user"));
  EXPECT_THAT(text, HasSubstr("prom"));
  EXPECT_THAT(text, HasSubstr("sasl.password: <redacted>"));
}

TEST(RenderRedacted, OutputIsAValidConfigThatRoundTrips) {
  DaemonConfig c = Defaults();
  c.kafka.input_topics = {"a", "b"};
  c.kafka.consumer = {{"fetch.max.bytes", "1048576"}};
  c.kafka.embedded.topics = {"x"};
  c.decoder.options.fields.lang = "meta.lang";
  c.pipeline.resume_fraction = 0.3;
  c.rules.reload_on_change = false;
  c.metrics.per_rule_label = false;
  const std::string text = RenderRedacted(c);
  SW_ASSERT_OK_AND_ASSIGN(DaemonConfig back, ParseConfig(text, "rendered.yaml"));
  EXPECT_EQ(back, c) << text;
}

TEST(BuildKafkaProperties, DefaultsThenCommonThenPerClient) {
  DaemonConfig c = Defaults();
  c.kafka.brokers = "k:9092";
  c.kafka.common = {{"security.protocol", "SASL_SSL"}, {"statistics.interval.ms", "1000"}};
  c.kafka.consumer = {{"queued.max.messages.kbytes", "65536"}};
  c.kafka.producer = {{"linger.ms", "20"}};
  KafkaClientProperties p = BuildKafkaProperties(c);
  EXPECT_EQ(p.consumer.at("bootstrap.servers"), "k:9092");
  EXPECT_EQ(p.consumer.at("group.id"), "steppewatch");
  EXPECT_EQ(p.consumer.at("enable.auto.offset.store"), "false");
  EXPECT_EQ(p.consumer.at("enable.auto.commit"), "true");
  EXPECT_EQ(p.consumer.at("partition.assignment.strategy"), "range,roundrobin");
  EXPECT_EQ(p.consumer.at("auto.offset.reset"), "earliest");
  EXPECT_EQ(p.consumer.at("queued.max.messages.kbytes"), "65536");
  // Above librdkafka's 100 MB default, so an oversize item is fetched and dead-lettered instead
  // of stalling its partition (tests/reliability/hostile_test.py).
  EXPECT_EQ(p.consumer.at("receive.message.max.bytes"), "536870912");
  EXPECT_EQ(p.consumer.at("socket.nagle.disable"), "true");
  EXPECT_EQ(p.consumer.at("fetch.max.bytes"), "4194304");
  EXPECT_EQ(p.producer.at("socket.nagle.disable"), "true");
  EXPECT_EQ(p.consumer.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(p.consumer.at("statistics.interval.ms"), "1000");
  EXPECT_EQ(p.consumer.count("linger.ms"), 0u);
  EXPECT_EQ(p.consumer.count("enable.idempotence"), 0u);
  EXPECT_EQ(p.producer.at("enable.idempotence"), "true");
  EXPECT_EQ(p.producer.at("acks"), "all");
  EXPECT_EQ(p.producer.at("linger.ms"), "20");
  EXPECT_EQ(p.producer.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(p.producer.count("group.id"), 0u);
  EXPECT_EQ(p.producer.count("queued.max.messages.kbytes"), 0u);
  EXPECT_EQ(p.producer.count("receive.message.max.bytes"), 0u);

  // Embedded mode: the mock cluster's bootstrap string replaces kafka.brokers.
  c.kafka.brokers = "embedded";
  p = BuildKafkaProperties(c, "127.0.0.1:40123");
  EXPECT_EQ(p.consumer.at("bootstrap.servers"), "127.0.0.1:40123");
  EXPECT_EQ(p.producer.at("bootstrap.servers"), "127.0.0.1:40123");
}

// librdkafka 2.0.2 backs a full prefetch queue off for a second: the queue holds a second of what
// the workers drain, 128 MiB per worker up to 1 GiB, unless the operator sets it; the item
// count never binds before the bytes.
TEST(BuildKafkaProperties, PrefetchQueueGrowsWithTheWorkers) {
  DaemonConfig c = Defaults();
  c.pipeline.workers = 1;
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.max.messages.kbytes"), "131072");
  c.pipeline.workers = 3;
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.max.messages.kbytes"), "393216");
  c.pipeline.workers = 64;
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.max.messages.kbytes"), "1048576");
  c.pipeline.workers = 0;  // one per core
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.max.messages.kbytes"),
            std::to_string(kafka::PrefetchQueueKbytes(kafka::KafkaPipeline::ResolveWorkers(0))));
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.min.messages"), "1000000");
  c.kafka.consumer = {{"queued.max.messages.kbytes", "65536"}};
  EXPECT_EQ(BuildKafkaProperties(c).consumer.at("queued.max.messages.kbytes"), "65536");
  EXPECT_EQ(kafka::PrefetchQueueKbytes(0), 131072);
  EXPECT_EQ(kafka::PrefetchQueueKbytes(2), 262144);
}

TEST(BuildKafkaProperties, RefusedKeysAreReassertedEvenWithoutValidation) {
  DaemonConfig c = Defaults();
  c.kafka.consumer = {{"enable.auto.offset.store", "true"}};
  c.kafka.producer = {{"enable.idempotence", "false"}};
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("kafka.consumer.enable.auto.offset.store")));
  KafkaClientProperties p = BuildKafkaProperties(c);
  EXPECT_EQ(p.consumer.at("enable.auto.offset.store"), "false");
  EXPECT_EQ(p.producer.at("enable.idempotence"), "true");
  for (std::string_view key : RefusedKafkaProperties()) {
    DaemonConfig d = Defaults();
    d.kafka.common[std::string(key)] = "x";
    EXPECT_THAT(ValidateConfig(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                            StartsWith("kafka.common." + std::string(key))))
        << key;
  }
}

}  // namespace
}  // namespace steppewatch::config
