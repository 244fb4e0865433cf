// Tests of the string helpers the stages share (config keys and lists, raw JSON tokens, the
// Kafka commands' arguments and control lines) and of the typo hints.
#include "steppewatch/common/strings.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/common/did_you_mean.h"

namespace steppewatch::strings {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(Strings, TrimTakesWhitespaceOrTheGivenBytesFromBothEnds) {
  EXPECT_EQ(Trim(" \t a b \r\n"), "a b");
  EXPECT_EQ(Trim("   "), "");
  EXPECT_EQ(Trim(" 12 \n", kJsonWhitespace), "12");
  // A form feed is not JSON whitespace: a token that ends in one stays malformed.
  EXPECT_EQ(Trim("12\f", kJsonWhitespace), "12\f");
  EXPECT_EQ(Trim("--x--", "-"), "x");
  EXPECT_EQ(Trim("----", "-"), "");
}

TEST(Strings, SplitKeepsPartsAsTheyAreOrSkipsBlankOnes) {
  EXPECT_THAT(Split("kafka..brokers", '.'), ElementsAre("kafka", "", "brokers"));
  EXPECT_THAT(Split("", '.'), ElementsAre(""));
  EXPECT_THAT(Split(" a ,, \t,b", ',', /*skip_blank=*/true), ElementsAre(" a ", "b"));
  EXPECT_THAT(Split("{\"id\":1}\n\n{\"id\":2}\n", '\n', /*skip_blank=*/true),
              ElementsAre("{\"id\":1}", "{\"id\":2}"));
  EXPECT_THAT(SplitList(" a, b,,c "), ElementsAre("a", "b", "c"));
}

TEST(Strings, SplitOnceSplitsAtTheFirstSeparator) {
  EXPECT_THAT(SplitOnce("news.items:3", ':'), Pair("news.items", "3"));
  EXPECT_THAT(SplitOnce("k=v=w", '='), Pair("k", "v=w"));
  EXPECT_THAT(SplitOnce("news.items", ':'), Pair("news.items", ""));
}

TEST(Strings, AsciiCaseAndIntegers) {
  EXPECT_TRUE(EqualsIgnoreCase("BROKER_NOT_AVAILABLE", "broker_not_available"));
  EXPECT_FALSE(EqualsIgnoreCase("ru", "ru-RU"));
  // Only ASCII folds: Cyrillic bytes compare as they are.
  EXPECT_FALSE(EqualsIgnoreCase("Ру", "ру"));
  int32_t v = 0;
  EXPECT_TRUE(ParseInt(" 42", &v));
  EXPECT_EQ(v, 42);
  EXPECT_FALSE(ParseInt("4000000000", &v));  // overflows int32_t
  EXPECT_FALSE(ParseInt("4x", &v));
  EXPECT_EQ(Join({"a", "b"}, ", "), "a, b");
}

TEST(DidYouMean, NearestHonoursTheGivenDistanceAndTakesTheFirstOfATie) {
  const std::vector<std::string_view> keys = {"brokers", "workers", "topics"};
  EXPECT_EQ(Nearest("brokrs", keys, 3), "brokers");
  EXPECT_EQ(Nearest("topcis", keys, 1), "topics");  // a swapped pair is one edit
  EXPECT_THAT(Nearest("partitions", keys, 3), IsEmpty());
  EXPECT_EQ(Nearest("xorkers", {"workers", "corkers"}, 2), "workers");
  EXPECT_EQ(ClosestName("mach", {"match", "explain"}), "match");
  EXPECT_EQ(DidYouMean("kazakstan", {"kazakhstan"}), " (did you mean 'kazakhstan'?)");
}

}  // namespace
}  // namespace steppewatch::strings
