// Tests of the logger's two formats: text lines, and JSON objects that stay valid JSON (one per
// line) whatever the message holds.
#include "steppewatch/common/log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace steppewatch::log {
namespace {

using ::testing::EndsWith;

// 2026-12-03T07:00:00.123Z
constexpr int64_t kNowMs = 1796281200123;

std::string Field(const std::string& json_line, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json_line).get(doc), simdjson::SUCCESS) << json_line;
  std::string_view value;
  if (doc[key].get(value) != simdjson::SUCCESS) return "(absent)";
  return std::string(value);
}

TEST(LogFormat, TextLine) {
  EXPECT_EQ(FormatLine(Format::kText, kNowMs, Level::kWarning, "kafka", "brokers down",
                       {{"topic", "news.items"}, {"partition", "3"}}),
            "2026-12-03T07:00:00.123Z W kafka: brokers down topic=news.items partition=3\n");
}

TEST(LogFormat, TextContinuationLinesAreIndented) {
  EXPECT_EQ(FormatLine(Format::kText, kNowMs, Level::kError, "reload", "failed:\na.yaml:1: x"),
            "2026-12-03T07:00:00.123Z E reload: failed:\n    a.yaml:1: x\n");
}

TEST(LogFormat, JsonLineHasTheFieldsAndIsOneLine) {
  const std::string line =
      FormatLine(Format::kJson, kNowMs, Level::kInfo, "steppewatchd", "rule pack\nloaded",
                 {{"rule_pack_hash", "sha256:ab"}, {"partition", "7"}});
  EXPECT_THAT(line, EndsWith("}\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(Field(line, "time"), "2026-12-03T07:00:00.123Z");
  EXPECT_EQ(Field(line, "level"), "info");
  EXPECT_EQ(Field(line, "component"), "steppewatchd");
  EXPECT_EQ(Field(line, "message"), "rule pack\nloaded");
  EXPECT_EQ(Field(line, "rule_pack_hash"), "sha256:ab");
  EXPECT_EQ(Field(line, "partition"), "7");
}

TEST(LogFormat, JsonEscapesQuotesControlsAndInvalidUtf8) {
  const std::string message = std::string("say \"hi\" \\ tab\t nul") + '\0' + " bad\xC3(" +
                              " lone\xA0 ok\xD0\x90 four\xF0\x9F\x98\x80 over\xC0\xAF";
  const std::string line = FormatLine(Format::kJson, kNowMs, Level::kError, "x", message);
  EXPECT_EQ(Field(line, "message"),
            std::string("say \"hi\" \\ tab\t nul") + '\0' +
                " bad\xEF\xBF\xBD( lone\xEF\xBF\xBD ok\xD0\x90 four\xF0\x9F\x98\x80 "
                "over\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(LogFormat, ParseFormat) {
  Format f = Format::kText;
  EXPECT_TRUE(ParseFormat("json", &f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_TRUE(ParseFormat("text", &f));
  EXPECT_EQ(f, Format::kText);
  EXPECT_FALSE(ParseFormat("xml", &f));
}

}  // namespace
}  // namespace steppewatch::log
