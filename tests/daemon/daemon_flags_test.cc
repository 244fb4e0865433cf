#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/daemon/daemon.h"
#include "testing/paths.h"

namespace steppewatch::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseFlags, ReadsEveryFlagInBothSpellings) {
  DaemonFlags f;
  bool help = false, version = false;
  std::string error;
  ASSERT_TRUE(ParseFlags({"--config", "/x.yaml", "--rules=/r", "--brokers", "b:9092", "--set",
                          "pipeline.workers=2", "--set=log.level=debug"},
                         &f, &help, &version, &error))
      << error;
  EXPECT_EQ(f.config_path, "/x.yaml");
  EXPECT_EQ(f.rules_dir, "/r");
  EXPECT_EQ(f.brokers, "b:9092");
  EXPECT_THAT(f.overrides, ElementsAre("pipeline.workers=2", "log.level=debug"));
  EXPECT_FALSE(help);
  EXPECT_FALSE(version);
}

TEST(ParseFlags, DemoNeedsEmbeddedMode) {
  DaemonFlags f;
  bool help = false, version = false;
  std::string error;
  EXPECT_FALSE(ParseFlags({"--demo", "items.jsonl"}, &f, &help, &version, &error));
  EXPECT_THAT(error, HasSubstr("--embedded"));
  DaemonFlags g;
  ASSERT_TRUE(ParseFlags({"--embedded", "--demo", "items.jsonl", "--demo-exit"}, &g, &help,
                         &version, &error));
  EXPECT_TRUE(g.embedded);
  EXPECT_TRUE(g.demo_exit);
  EXPECT_EQ(g.demo_file, "items.jsonl");
}

TEST(ParseFlags, RejectsUnknownFlagsAndMissingValues) {
  DaemonFlags f;
  bool help = false, version = false;
  std::string error;
  EXPECT_FALSE(ParseFlags({"--bogus"}, &f, &help, &version, &error));
  EXPECT_THAT(error, HasSubstr("--bogus"));
  EXPECT_FALSE(ParseFlags({"--config"}, &f, &help, &version, &error));
  EXPECT_THAT(error, HasSubstr("needs a value"));
  EXPECT_FALSE(ParseFlags({"--set", "novalue"}, &f, &help, &version, &error));
  EXPECT_FALSE(ParseFlags({"stray"}, &f, &help, &version, &error));
  EXPECT_THAT(error, HasSubstr("unexpected argument 'stray'"));
  // --help does not skip the parse: a typo next to it is still an error.
  EXPECT_FALSE(ParseFlags({"--check-confg", "--help"}, &f, &help, &version, &error));
  EXPECT_THAT(error, HasSubstr("unknown option '--check-confg' (did you mean --check-config?)"));
}

TEST(ParseFlags, ReadsTheReloadFlags) {
  DaemonFlags f;
  bool help = false, version = false;
  std::string error;
  ASSERT_TRUE(ParseFlags(
      {"--reload-status", "/run/x/status", "--reload-and-wait", "4242", "--reload-timeout=30"}, &f,
      &help, &version, &error))
      << error;
  EXPECT_EQ(f.reload_status_file, "/run/x/status");
  EXPECT_EQ(f.reload_and_wait_pid, 4242);
  EXPECT_EQ(f.reload_timeout_seconds, 30);
  for (const char* bad : {"0", "-1", "pid"}) {
    DaemonFlags g;
    EXPECT_FALSE(ParseFlags({"--reload-and-wait", bad}, &g, &help, &version, &error)) << bad;
    EXPECT_THAT(error, HasSubstr("positive number"));
  }
}

TEST(StopDrainBudget, KeepsAQuarterBetweenOneAndTenSecondsForTheClose) {
  EXPECT_EQ(StopDrainBudget(absl::Seconds(30)), absl::Seconds(22.5));
  EXPECT_EQ(StopDrainBudget(absl::Seconds(2)), absl::Seconds(1));     // at least 1 s kept
  EXPECT_EQ(StopDrainBudget(absl::Seconds(100)), absl::Seconds(90));  // at most 10 s kept
  EXPECT_EQ(StopDrainBudget(absl::Milliseconds(500)), absl::ZeroDuration());
}

TEST(UsageText, DocumentsTheStableStdoutLinesAndExitCodes) {
  const std::string usage = UsageText();
  for (const char* needle :
       {"--config", "--rules", "--brokers", "--embedded", "--demo", "--demo-exit", "--check-config",
        "--version", "--help", "embedded Kafka broker at", "steppewatchd: ready", "exit codes",
        "SIGHUP", "SIGPIPE", "--reload-status", "--reload-and-wait", "4    stop budget"}) {
    EXPECT_THAT(usage, HasSubstr(needle));
  }
}

TEST(ExitCodeTable, HelpAndTheOperatorsGuideShowTheSameTable) {
  EXPECT_THAT(UsageText(), HasSubstr(ExitCodeTable()));
  std::ifstream in(steppewatch::testing::SourceDir() / "deploy/README.md");
  const std::string guide((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(guide, HasSubstr("```\n" + ExitCodeTable() + "```\n"))
      << "deploy/README.md's exit code table differs from steppewatchd --help";
  for (int code :
       {kExitOk, kExitRuntimeError, kExitConfigError, kExitKafkaFatal, kExitSecondSignal}) {
    EXPECT_THAT(ExitCodeTable(), HasSubstr("\n  " + std::to_string(code) + " ")) << code;
  }
}

}  // namespace
}  // namespace steppewatch::daemon
