// One pack test runner: the daemon's gate (start-up, reload, --check-config: LoadAndTestPack)
// and `steppewatch rules test` (rules::RunPackTests) decide every pack alike, including a
// disabled rule whose examples fail; and the reload gate's sample is decoded with the
// configured decoder.fields through the workers' item processor.
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/daemon/reloader.h"
#include "steppewatch/rules/pack_tests.h"
#include "testing/paths.h"

namespace steppewatch::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void Write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A pack with rule t.ok (passing tests) and rule t.broken, whose match example cannot fire.
fs::path MakePack(const std::string& name, bool broken_enabled) {
  const fs::path dir = steppewatch::testing::MakeTempDir(name);
  Write(dir / "pack.yaml", "pack:\n  name: gate-test\n  version: \"1\"\n");
  Write(dir / "rules.yaml", std::string("rules:\n"
                                        "  - id: t.ok\n"
                                        "    query: 'Astana'\n"
                                        "    tests:\n"
                                        "      match: [\"A summit in Astana.\"]\n"
                                        "      no_match: [\"Nothing here.\"]\n"
                                        "  - id: t.broken\n"
                                        "    enabled: ") +
                                (broken_enabled ? "true" : "false") +
                                "\n"
                                "    query: 'Bishkek'\n"
                                "    tests:\n"
                                "      match: [\"A summit in Astana.\"]\n");
  return dir;
}

struct Verdicts {
  bool daemon_ok;
  bool cli_ok;
  rules::TestReport report;
};

Verdicts Judge(const fs::path& dir) {
  Verdicts v{};
  rules::TestReport daemon_report;
  auto gated = LoadAndTestPack(dir, {}, &daemon_report);
  v.daemon_ok = gated.ok();
  auto pack = rules::CompiledPack::Load(dir, {});
  EXPECT_TRUE(pack.ok()) << pack.status();
  auto report = rules::RunPackTests(*pack);
  EXPECT_TRUE(report.ok()) << report.status();
  v.cli_ok = report->ok();
  v.report = *report;
  return v;
}

TEST(PackGate, ADisabledRuleWithAFailingTestIsSkippedByBothEntryPoints) {
  const fs::path dir = MakePack("gate-disabled", false);
  const Verdicts v = Judge(dir);
  EXPECT_TRUE(v.daemon_ok);
  EXPECT_TRUE(v.cli_ok);
  EXPECT_EQ(v.report.skipped_disabled, 1u);
  EXPECT_EQ(v.report.passed, 2u);
  EXPECT_EQ(rules::DescribeTestCounts(v.report),
            "2 embedded tests passed, 1 skipped (disabled rules)");
  fs::remove_all(dir);
}

TEST(PackGate, AnEnabledRuleWithAFailingTestFailsBothEntryPoints) {
  const fs::path dir = MakePack("gate-enabled", true);
  const Verdicts v = Judge(dir);
  EXPECT_FALSE(v.daemon_ok);
  EXPECT_FALSE(v.cli_ok);
  auto gated = LoadAndTestPack(dir, {});
  EXPECT_THAT(std::string(gated.status().message()),
              HasSubstr("rules.yaml:11:15: rule t.broken: expected match, did not fire: "
                        "\"A summit in Astana.\"\n1 of 3 embedded rule tests failed"));
  fs::remove_all(dir);
}

TEST(PackGate, TheReloadGateDecodesTheSampleWithTheConfiguredFields) {
  const fs::path before_dir = MakePack("gate-before", false);
  const fs::path after_dir = steppewatch::testing::MakeTempDir("gate-after");
  Write(after_dir / "pack.yaml", "pack:\n  name: gate-test\n  version: \"2\"\n");
  Write(after_dir / "rules.yaml", "rules:\n  - id: t.ok\n    query: 'Astana OR Bishkek'\n");
  const fs::path sample = before_dir / "sample.jsonl";
  // The items keep their text under "content", not "body".
  Write(sample,
        "{\"id\":\"1\",\"title\":\"t\",\"content\":\"Talks in Bishkek.\",\"lang\":\"en\"}\n");
  auto before = LoadAndTestPack(before_dir, {});
  auto after = LoadAndTestPack(after_dir, {});
  ASSERT_TRUE(before.ok() && after.ok());

  pipeline::ProcessorOptions workers;
  workers.decoder.fields.body = "content";
  auto diffs = CompareOnSample(*before, *after, sample, 100, workers);
  ASSERT_TRUE(diffs.ok()) << diffs.status();
  ASSERT_EQ(diffs->size(), 1u);
  EXPECT_EQ((*diffs)[0].rule, "t.ok");
  EXPECT_EQ((*diffs)[0].before, 0u);
  EXPECT_EQ((*diffs)[0].after, 1u);
  // With the default fields the body is empty: the gate would have seen no difference.
  auto blind = CompareOnSample(*before, *after, sample, 100, {});
  ASSERT_TRUE(blind.ok());
  EXPECT_TRUE(blind->empty());
  fs::remove_all(before_dir);
  fs::remove_all(after_dir);
}

}  // namespace
}  // namespace steppewatch::daemon
