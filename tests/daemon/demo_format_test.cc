#include "absl/time/time.h"
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
TEST(FormatStoryLine, NamesTheStoryOfACopyAndIsSilentForAFirstCopy) {
  EXPECT_EQ(FormatStoryLine(R"({"item":{"id":"b","title":"T"},"story":{"id":"a","copies":2,)"
                            R"("sources":2,"new":false}})"),
            "STORY b is copy 2 of story a (2 sources): T");
  EXPECT_EQ(FormatStoryLine(R"({"item":{"id":"a"},"story":{"id":"a","copies":1,"new":true}})"), "");
  EXPECT_EQ(FormatStoryLine("not json"), "");
}

TEST(FormatSpikeLine, SaysStateKeyCountExpectationAndLanguages) {
  EXPECT_EQ(FormatSpikeLine(R"({"schema":"steppewatch.spike.v1","state":"start","scope":"tag",)"
                            R"("name":"theme:energy","stories":6,"expected":0.5,)"
                            R"("languages":["en","ru"],"confirmed":true})"),
            "SPIKE start tag theme:energy: 6 new stories (expected 0.5), languages en,ru, "
            "confirmed");
}

TEST(ShiftPublishedAt, MovesEveryTimeSoTheNewestIsNow) {
  const std::vector<std::string> lines = {
      R"({"id":"a","published_at": "2026-11-01T10:00:00Z"})",
      R"({"id":"b","published_at":"2026-11-03T10:00:00Z","x":1})", R"({"id":"c"})"};
  absl::Time now;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2027-01-10T12:00:00Z", &now, &err));
  const std::vector<std::string> out = ShiftPublishedAt(lines, now);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], R"({"id":"a","published_at": "2027-01-08T12:00:00Z"})");
  EXPECT_EQ(out[1], R"({"id":"b","published_at":"2027-01-10T12:00:00Z","x":1})");
  EXPECT_EQ(out[2], R"({"id":"c"})");
}

}  // namespace steppewatch::daemon
