// JsonWriter escaping and structure, snippets that never split a code point, and a rendered
// alert read back with simdjson-free checks on its exact text.
#include "steppewatch/sink/alert.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/sink/json_writer.h"

namespace steppewatch::sink {
namespace {

using ::testing::HasSubstr;

std::string Escaped(std::string_view s) {
  std::string out;
  JsonWriter::Escape(s, &out);
  return out;
}

// Escape skips plain bytes 16 at a time: every special byte must be found wherever it falls
// relative to those blocks.
TEST(JsonWriter, EscapesSpecialBytesAtEveryBlockPosition) {
  const std::string filler(40, 'x');
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"\n", "\\n"},
      {std::string(1, '\0'), "\\u0000"},
      {"\x1f", "\\u001f"},
      {"Қ", "Қ"},
      {"\xE2\x80\xA8", "\\u2028"},
      {"\xC0", "\\ufffd"}};
  for (const auto& [raw, escaped] : specials) {
    for (size_t at = 0; at <= filler.size(); ++at) {
      const std::string in = filler.substr(0, at) + raw + filler.substr(at);
      EXPECT_EQ(Escaped(in), filler.substr(0, at) + escaped + filler.substr(at)) << at;
    }
    // Two-byte letters around it, at both alignments: a skip can end inside a letter.
    for (const std::string lead : {"", "y"}) {
      for (size_t k = 0; k <= 20; ++k) {
        std::string before = lead, after;
        for (size_t j = 0; j < k; ++j) before += "ж";
        for (size_t j = k; j < 20; ++j) after += "ж";
        EXPECT_EQ(Escaped(before + raw + after), before + escaped + after) << lead << k;
      }
    }
  }
}

TEST(JsonWriter, EscapesEverythingJsonRequires) {
  EXPECT_EQ(Escaped("plain"), "plain");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("l1\nl2\r\t\b\f"), "l1\\nl2\\r\\t\\b\\f");
  EXPECT_EQ(Escaped(std::string("nul\0x\x01\x1f", 7)), "nul\\u0000x\\u0001\\u001f");
  EXPECT_EQ(Escaped("Қазақстан 哈萨克斯坦 😀"), "Қазақстан 哈萨克斯坦 😀");
  EXPECT_EQ(Escaped("sep\xE2\x80\xA8par\xE2\x80\xA9"), "sep\\u2028par\\u2029");
  // Invalid UTF-8 never reaches the output: overlong, lone continuation, truncated, surrogate.
  EXPECT_EQ(Escaped("\xC0\xAF|\x80|\xE2\x80|\xED\xA0\x80"),
            "\\ufffd\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd");
}

TEST(JsonWriter, WritesNestedStructures) {
  std::string out = "prefix:";
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("a", "x");
  w.Key("list");
  w.BeginArray();
  w.Int(-3);
  w.Double(7.0);
  w.Double(0.25);
  w.Bool(true);
  w.Null();
  w.BeginObject();
  w.EndObject();
  w.EndArray();
  w.FieldInt("n", 12);
  w.Key("nan");
  w.Double(std::numeric_limits<double>::quiet_NaN());
  w.EndObject();
  EXPECT_EQ(out, "prefix:{\"a\":\"x\",\"list\":[-3,7,0.25,true,null,{}],\"n\":12,\"nan\":null}");
}

std::string Snippet(std::string_view text, uint32_t start, uint32_t end, uint32_t context) {
  std::string out;
  AppendSnippet(text, start, end, context, &out);
  return out;
}

TEST(Snippet, ShowsTheWholeShortTextAndCollapsesSpaces) {
  EXPECT_EQ(Snippet("Tokayev  said\n\nKazakhstan will", 15, 25, 60),
            "Tokayev said Kazakhstan will");
}

TEST(Snippet, CutsAtSpacesWithEllipses) {
  std::string text = "one two three four five six seven eight nine ten eleven twelve";
  // "six" is at 24..27.
  EXPECT_EQ(Snippet(text, 24, 27, 10), "…four five six seven…");
}

TEST(Snippet, NeverSplitsACodePoint) {
  std::string text = "Президент Казахстана Токаев заявил о многовекторной политике";
  size_t start = text.find("Токаев");
  for (uint32_t context = 1; context < 40; ++context) {
    std::string s = Snippet(text, start, start + 12, context);
    EXPECT_THAT(s, HasSubstr("Токаев")) << context;
    // Valid UTF-8 round-trips through the escaper unchanged.
    EXPECT_EQ(Escaped(s), s) << context;
  }
  std::string cjk = "哈萨克斯坦总统在北京与中国领导人会面。";
  for (uint32_t context = 1; context < 20; ++context) {
    std::string s = Snippet(cjk, 33, 39, context);
    EXPECT_THAT(s, HasSubstr("中国"));
    EXPECT_EQ(Escaped(s), s) << context;
  }
}

TEST(Snippet, ClampsOffsetsOutsideTheText) {
  EXPECT_EQ(Snippet("short", 3, 100, 2), "…hort");
  EXPECT_EQ(Snippet("", 0, 0, 10), "");
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  std::string out;
  AppendRfc3339Now(&out);
  EXPECT_THAT(out,
              ::testing::MatchesRegex("20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:"
                                      "[0-6][0-9]\\.[0-9][0-9][0-9]Z"));
}

}  // namespace
}  // namespace steppewatch::sink
