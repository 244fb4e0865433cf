// Tests of the configuration schema and of the pre-flight checks: every key of the table is in
// the example file, errors name where a value came from (file line or variable), all problems
// are reported at once, and --check-config's checks see what the real start would fail on.
#include "steppewatch/config/schema.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/config/daemon_config.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"
#include "yaml-cpp/yaml.h"

namespace steppewatch::config {
namespace {

using ::steppewatch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ExamplePath() {
  return (steppewatch::testing::SourceDir() / "config/steppewatch.example.yaml").string();
}

// Every dotted key of a YAML tree, property maps as leaves.
void CollectKeys(const YAML::Node& node, const std::string& path, std::vector<std::string>* out) {
  const Field* f = FindField(path);
  if (!path.empty() && (f != nullptr || !node.IsMap())) {
    out->push_back(path);
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    CollectKeys(it->second, path.empty() ? key : path + "." + key, out);
  }
}

TEST(Schema, ExampleFileHasEveryKeyOfTheTableAndNoOther) {
  std::vector<std::string> keys;
  CollectKeys(YAML::LoadFile(ExamplePath()), "", &keys);
  for (const Field& f : ConfigFields()) {
    EXPECT_THAT(keys, Contains(std::string(f.path))) << "not in the example file: " << f.path;
  }
  for (const std::string& k : keys) {
    EXPECT_NE(FindField(k), nullptr) << "in the example file but not in the table: " << k;
  }
}

TEST(Schema, TheExampleFileListsExactlyTheEnvironmentVariablesOfTheTable) {
  std::ifstream in(ExamplePath());
  std::map<std::string, std::string> listed;  // "#   STEPPEWATCH_X   key ..." lines
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string hash, name, key;
    if (words >> hash >> name >> key && hash == "#" && name.rfind("STEPPEWATCH_", 0) == 0) {
      listed[name] = key;
    }
  }
  std::map<std::string, std::string> table;
  for (const EnvOverride& e : EnvOverrides()) table[std::string(e.name)] = std::string(e.key);
  ASSERT_EQ(listed.size(), table.size()) << ::testing::PrintToString(listed);
  for (const auto& [name, key] : table) {
    ASSERT_TRUE(listed.count(name)) << name << " is not listed in the example file";
    // The example names property-map entries as "kafka.common:" followed by the property.
    if (key.rfind("kafka.common.", 0) == 0) {
      EXPECT_EQ(listed[name], "kafka.common:") << name;
    } else {
      EXPECT_EQ(listed[name], key) << name;
    }
  }
}

TEST(Schema, EveryRowHasHelpAndUniquePathAndEnvironmentName) {
  std::set<std::string_view> paths, envs;
  for (const Field& f : ConfigFields()) {
    EXPECT_TRUE(paths.insert(f.path).second) << f.path;
    EXPECT_FALSE(f.help.empty()) << f.path;
    if (!f.env.empty()) {
      EXPECT_TRUE(envs.insert(f.env).second) << f.env;
    }
  }
  EXPECT_EQ(EnvOverrides().size(), envs.size() + PropertyEnvs().size());
}

TEST(Schema, SecretFieldsAreRedacted) {
  DaemonConfig c;
  c.metrics.basic_auth = {"u", "hunter2"};
  for (const Field& f : ConfigFields()) {
    if (f.secret) {
      EXPECT_THAT(FieldValueText(f, c), Not(HasSubstr("hunter2"))) << f.path;
    }
  }
  EXPECT_THAT(RenderRedacted(c), Not(HasSubstr("hunter2")));
}

TEST(Render, SaysWhereEachValueCameFromAndStillParses) {
  Origins origins;
  LoadOptions options;
  options.origins = &origins;
  options.env = {{"STEPPEWATCH_KAFKA_BROKERS", "b:9092"}};
  options.overrides = {"kafka.consumer.fetch.wait.max.ms=50"};
  auto c = ParseConfig("pipeline:\n  workers: 3\n", "f.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string text = RenderRedacted(*c, &origins);
  EXPECT_THAT(text,
              HasSubstr("brokers: \"b:9092\"  # environment variable STEPPEWATCH_KAFKA_BROKERS"));
  EXPECT_THAT(text, HasSubstr("workers: 3  # f.yaml:2:12"));
  EXPECT_THAT(
      text, HasSubstr("fetch.wait.max.ms: \"50\"  # override 'kafka.consumer.fetch.wait.max.ms'"));
  EXPECT_THAT(text, HasSubstr("group_id: \"steppewatch\"\n"));  // a default: no comment
  auto back = ParseConfig(text, "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(*back, *c);
}

TEST(Environment, AnInvalidValueIsReportedAtTheVariableNotTheFileLine) {
  LoadOptions options;
  options.env = {{"STEPPEWATCH_RULES_RELOAD_ON_CHANGE", "maybe"}};
  EXPECT_THAT(ParseConfig("rules:\n  reload_on_change: true\n", "f.yaml", options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("environment variable STEPPEWATCH_RULES_RELOAD_ON_CHANGE: "
                                       "rules.reload_on_change: expected true or false"),
                             Not(HasSubstr("f.yaml")))));
  // The same for a validation error of a value that replaced one from the file.
  options.env = {{"STEPPEWATCH_PIPELINE_WORKERS", "5000"}};
  EXPECT_THAT(ParseConfig("pipeline:\n  workers: 2\n", "f.yaml", options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment variable STEPPEWATCH_PIPELINE_WORKERS: "
                                 "pipeline.workers: must be in [0, 1024]")));
}

TEST(Environment, AnUnknownVariableIsAWarningWithTheNearestName) {
  std::vector<std::string> warnings;
  LoadOptions options;
  options.warnings = &warnings;
  options.env = {{"STEPPEWATCH_METRIC_LISTEN", "0.0.0.0:1"},
                 {"STEPPEWATCH_CORPUS_DIR", "/tools/only"}};
  ASSERT_TRUE(ParseConfig("", "f.yaml", options).ok());
  ASSERT_EQ(warnings.size(), 1u) << ::testing::PrintToString(warnings);
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("STEPPEWATCH_METRIC_LISTEN is not a known override"),
                                 HasSubstr("did you mean STEPPEWATCH_METRICS_LISTEN?")));
  // Under a known section it is an error, with the same hint.
  options.env = {{"STEPPEWATCH_KAFKA_BROKER", "x:1"}};
  EXPECT_THAT(ParseConfig("", "f.yaml", options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("did you mean STEPPEWATCH_KAFKA_BROKERS?")));
}

// Every section of the schema, not a fixed list of them: STORIES_ and ALERTS_ were missing, so a
// misspelt STEPPEWATCH_STORIES_TOPICS was only a warning and the role used its default topic.
TEST(Environment, AMisspeltVariableOfEverySectionIsAnError) {
  std::set<std::string> sections;
  for (const Field& f : ConfigFields()) {
    const size_t dot = f.path.find('.');
    if (dot != std::string_view::npos) sections.insert(std::string(f.path.substr(0, dot)));
  }
  EXPECT_TRUE(sections.count("stories") && sections.count("alerts") && sections.count("kafka"));
  for (const std::string& section : sections) {
    LoadOptions options;
    options.env = {{"STEPPEWATCH_" + absl::AsciiStrToUpper(section) + "_NO_SUCH_KEY", "1"}};
    EXPECT_THAT(ParseConfig("", "f.yaml", options).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("_NO_SUCH_KEY")))
        << section;
  }
  LoadOptions options;
  options.env = {{"STEPPEWATCH_STORIES_TOPICS", "st"}};
  EXPECT_THAT(ParseConfig("", "f.yaml", options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("did you mean STEPPEWATCH_STORIES_TOPIC?")));
}

TEST(Validation, ReportsEveryProblemAtOnceWithItsLine) {
  const absl::Status status = ParseConfig(R"(pipeline:
  workers: -1
  resume_fraction: 2
log:
  level: loud
)",
                                          "f.yaml")
                                  .status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr("f.yaml:2:12: pipeline.workers: must be in"),
                                     HasSubstr("f.yaml:3:20: pipeline.resume_fraction: must be in"),
                                     HasSubstr("f.yaml:5:10: log.level: 'loud' is not"))));
}

TEST(Validation, AnUnknownKeyNamesTheNearestKnownOneWithItsHelp) {
  EXPECT_THAT(ParseConfig("kafka:\n  broker: x:1\n", "f.yaml").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("f.yaml:2:3: kafka.broker: unknown key (known here: brokers, "
                                 "brokers_file, group_id")));
  EXPECT_THAT(ParseConfig("kafka:\n  broker: x:1\n", "f.yaml").status().message(),
              HasSubstr("; did you mean 'brokers' (bootstrap.servers, or \"embedded\""));
}

TEST(LoadConfig, ADirectoryIsNotAConfigFile) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("config-dir");
  LoadOptions options;
  options.path = dir.string();
  EXPECT_THAT(LoadConfig(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  options.allow_missing_file = true;  // a directory is not "missing"
  EXPECT_THAT(LoadConfig(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  std::filesystem::remove_all(dir);
}

// A valid configuration whose cache directory and metrics port are usable here.
DaemonConfig Usable(const std::filesystem::path& dir) {
  DaemonConfig c;
  c.instance = "test";
  c.rules.cache_dir = (dir / "cache").string();
  c.metrics.listen = "127.0.0.1:0";
  return c;
}

TEST(Preflight, AValidConfigurationPasses) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-ok");
  const PreflightReport r = Preflight(Usable(dir));
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_THAT(r.warnings, IsEmpty());
  std::filesystem::remove_all(dir);
}

TEST(Preflight, EveryKafkaPropertyGoesThroughLibrdkafkaAndErrorsNameTheKey) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-kafka");
  Origins origins;
  LoadOptions options;
  options.origins = &origins;
  options.overrides = {"rules.cache_dir=" + (dir / "cache").string(), "metrics.listen=127.0.0.1:0"};
  auto c = ParseConfig(R"(kafka:
  common:
    sasl.pasword: x
  consumer:
    fetch.max.bytes: lots
  producer:
    acks: 1
)",
                       "k.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  const PreflightReport r = Preflight(*c, origins);
  const std::string all = ::testing::PrintToString(r.errors);
  // Each problem once, even when it is in both clients' configurations; and all of them: a
  // property librdkafka refuses is left out so that the client is still built and checked.
  ASSERT_EQ(r.errors.size(), 3u) << all;
  EXPECT_THAT(r.errors, Contains(AllOf(HasSubstr("k.yaml:3:19: kafka.common.sasl.pasword"),
                                       HasSubstr("No such configuration property"))));
  EXPECT_THAT(r.errors, Contains(HasSubstr("k.yaml:5:22: kafka.consumer.fetch.max.bytes")));
  EXPECT_THAT(r.errors,
              Contains(AllOf(HasSubstr("k.yaml:7:11: kafka.producer.acks"),
                             HasSubstr("must be set to `all` when `enable.idempotence`"))));
  EXPECT_THAT(all, Not(HasSubstr("BuildKafkaProperties")));
  std::filesystem::remove_all(dir);
}

TEST(Preflight, AMetricsPortInUseIsAnError) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-port");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  DaemonConfig c = Usable(dir);
  c.metrics.listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const PreflightReport r = Preflight(c, {{"metrics.listen", "environment variable X"}});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], AllOf(HasSubstr("environment variable X: metrics.listen: cannot listen"),
                                 HasSubstr("in use")));
  close(fd);
  std::filesystem::remove_all(dir);
}

TEST(Preflight, ACacheDirectoryThatIsAFileIsAWarning) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-cache-file");
  std::ofstream(dir / "cache") << "not a directory";
  const PreflightReport r = Preflight(Usable(dir));
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], AllOf(HasSubstr("rules.cache_dir: cannot create"),
                                   HasSubstr("compiled on every start")));
  std::filesystem::remove_all(dir);
}

TEST(Preflight, AnUnwritableCacheDirectoryIsAWarning) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes to read-only directories";
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-cache");
  std::filesystem::create_directories(dir / "cache");
  ASSERT_EQ(chmod((dir / "cache").c_str(), 0555), 0);
  const PreflightReport r = Preflight(Usable(dir));
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], AllOf(HasSubstr("rules.cache_dir: cannot write in"),
                                   HasSubstr("compiled on every start")));
  chmod((dir / "cache").c_str(), 0755);
  std::filesystem::remove_all(dir);
}

TEST(Preflight, BrokersThatNothingAnswersAreAWarningWhenAsked) {
  const std::filesystem::path dir = steppewatch::testing::MakeTempDir("preflight-brokers");
  DaemonConfig c = Usable(dir);
  // A port nothing listens on: take a free one and close it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  c.kafka.brokers = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  EXPECT_THAT(Preflight(c).warnings, IsEmpty());  // not asked
  const PreflightReport r = Preflight(c, {}, {.check_brokers = true});
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], AllOf(HasSubstr("kafka.brokers: no broker reachable"),
                                   HasSubstr("Connection refused")));
  // One live listener among them is enough.
  const int live = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_port = 0;
  ASSERT_EQ(bind(live, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(live, 1), 0);
  ASSERT_EQ(getsockname(live, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  c.kafka.brokers += ",127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  EXPECT_THAT(Preflight(c, {}, {.check_brokers = true}).warnings, IsEmpty());
  close(live);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace steppewatch::config
