#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/daemon/demo.h"

namespace steppewatch::daemon {
namespace {

using ::testing::HasSubstr;

TEST(FormatAlertLine, ShowsSeverityRulesLanguageTitleAndUrl) {
  const std::string line = FormatAlertLine("alerts", R"({"schema":"steppewatch.alert.v1",
        "item":{"id":"a1","title":"Tokayev: multi-vector","lang":"en","url":"https://x/1"},
        "matches":[{"rule":"ca.kz.multi-vector","severity":"high"},
                   {"rule":"ca.geopolitics","severity":"medium"}]})");
  EXPECT_THAT(line, HasSubstr("[high] ca.kz.multi-vector, ca.geopolitics"));
  EXPECT_THAT(line, HasSubstr("(en) Tokayev: multi-vector"));
  EXPECT_THAT(line, HasSubstr("https://x/1"));
}

// The first rule is the pack's first, not the alert's most severe: the line shows the highest.
TEST(FormatAlertLine, ShowsTheHighestSeverityNotTheFirstRules) {
  const std::string old_alert = FormatAlertLine("alerts", R"({"schema":"steppewatch.alert.v1",
        "item":{"id":"a1","title":"Riots in Almaty"},
        "matches":[{"rule":"ca.geo.kazakhstan","severity":"info"},
                   {"rule":"ca.theme.unrest","severity":"high"},
                   {"rule":"ca.geopolitics","severity":"medium"}]})");
  EXPECT_THAT(old_alert, HasSubstr("ALERT [high] ca.geo.kazakhstan, ca.theme.unrest"));
  const std::string with_top = FormatAlertLine("alerts", R"({"schema":"steppewatch.alert.v1",
        "severity":"critical","item":{"id":"a1","title":"x"},
        "matches":[{"rule":"a","severity":"info"}]})");
  EXPECT_THAT(with_top, HasSubstr("ALERT [critical] a"));
}

TEST(FormatAlertLine, FallsBackToRawJson) {
  EXPECT_THAT(FormatAlertLine("alerts", "not json"), HasSubstr("ALERT alerts not json"));
}

}  // namespace
}  // namespace steppewatch::daemon
