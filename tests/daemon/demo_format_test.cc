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

TEST(FormatAlertLine, FallsBackToRawJson) {
  EXPECT_THAT(FormatAlertLine("alerts", "not json"), HasSubstr("ALERT alerts not json"));
}

}  // namespace
}  // namespace steppewatch::daemon
