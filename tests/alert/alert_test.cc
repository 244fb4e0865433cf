// JsonWriter escaping and structure, snippets that never split a code point, and a rendered
// alert read back with simdjson-free checks on its exact text.
#include "steppewatch/alert/alert.h"

#include <charconv>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/alert/json_writer.h"

namespace steppewatch::alert {
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

// Keys and values take a one-append path when short and plain; it must write exactly what the
// general escaper writes, for every mix of plain bytes, specials and UTF-8 around its limits.
TEST(JsonWriter, ShortPlainPathWritesWhatTheEscaperWrites) {
  const std::string pieces[] = {"a",
                                "Z",
                                " ",
                                "\"",
                                "\\",
                                "\n",
                                std::string(1, '\x01'),
                                "\x7f",
                                "\xc3\xa9",
                                "\xe2\x80\xa8",
                                "\xff",
                                "/"};
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  for (int round = 0; round < 4000; ++round) {
    const size_t len = (next() >> 16) % 56;
    const bool plain = round % 2 == 0;  // half only letters and spaces: the fast path's inputs
    std::string v;
    while (v.size() < len) v += pieces[plain ? (next() >> 16) % 3 : (next() >> 16) % 12];
    std::string escaped;
    JsonWriter::Escape(v, &escaped);
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    w.Key(v);
    w.String(v);
    w.EndObject();
    EXPECT_EQ(out, "{\"" + escaped + "\":\"" + escaped + "\"}")
        << "input of " << v.size() << " bytes";
  }
  // An empty view without data (a default-constructed one, as an absent field gives).
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key(std::string_view());
  w.String(std::string_view());
  w.EndObject();
  EXPECT_EQ(out, "{\"\":\"\"}");
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

// Whole numbers take a shortcut past the shortest-form double formatting: it must write what
// std::to_chars writes, on both sides of where the shortcut stops.
TEST(JsonWriter, DoublesAreWrittenAsToCharsWritesThem) {
  std::vector<double> values = {0.0,
                                -0.0,
                                0.5,
                                -0.5,
                                1e5,
                                -1e5,
                                99999.5,
                                1e15,
                                2.5e-7,
                                1.0 / 3,
                                9.5,
                                std::nextafter(10.0, 0.0),
                                std::nextafter(0.0, 1.0),
                                std::nextafter(1.0, 2.0)};
  for (int i = -120000; i <= 120000; ++i) values.push_back(i);
  for (int e = 0; e <= 18; ++e) {
    values.push_back(std::pow(10.0, e));
    values.push_back(-std::pow(10.0, e) * 7);
  }
  std::string out;
  for (double v : values) {
    out.clear();
    JsonWriter w(&out);
    w.Double(v);
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    ASSERT_EQ(out, std::string(buf, p)) << v;
  }
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

TEST(Snippet, SaysWhereTheHitSitsInBytes) {
  std::string out;
  // "Astana" at 12..18 of the text; the doubled spaces before it collapse to one.
  SnippetSpan span = AppendSnippet("Tokayev  met Astana officials", 13, 19, 60, &out);
  EXPECT_EQ(out, "Tokayev met Astana officials");
  EXPECT_EQ(out.substr(span.start, span.end - span.start), "Astana");
  // Cut on the left: the offsets count the three bytes of the leading "…".
  const std::string text = "one two three four five six seven eight nine ten eleven twelve";
  out.clear();
  span = AppendSnippet(text, 24, 27, 10, &out);
  EXPECT_EQ(out, "…four five six seven…");
  EXPECT_EQ(out.substr(span.start, span.end - span.start), "six");
  // Cyrillic: offsets are bytes, not characters.
  out.clear();
  const std::string ru = "Президент Токаев заявил";
  const size_t at = ru.find("Токаев");
  span = AppendSnippet(ru, at, at + 12, 60, &out);
  EXPECT_EQ(span.start, at);
  EXPECT_EQ(out.substr(span.start, span.end - span.start), "Токаев");
  // A hit with white space inside (a phrase over a line break) is shown collapsed.
  out.clear();
  span = AppendSnippet("said Xi\n\nJinping today", 5, 16, 60, &out);
  EXPECT_EQ(out.substr(span.start, span.end - span.start), "Xi Jinping");
}

// A hit edge inside a run of white space (the run is written as one ' '): at the run's first
// byte it lands before the ' ', further in it lands after it.
TEST(Snippet, HitEdgesInsideWhiteSpaceLandOnTheCollapsedSpace) {
  std::string out;
  SnippetSpan span = AppendSnippet("a   bc", 2, 5, 60, &out);  // from the run's middle to 'c'
  EXPECT_EQ(out, "a bc");
  EXPECT_EQ(span.start, 2u);
  EXPECT_EQ(span.end, 3u);
  out.clear();
  span = AppendSnippet("a   bc", 1, 4, 60, &out);  // the whole run
  EXPECT_EQ(span.start, 1u);
  EXPECT_EQ(span.end, 2u);
  out = "prefix";  // appends: offsets count from where the snippet starts
  span = AppendSnippet("x\t\ty z", 3, 4, 60, &out);
  EXPECT_EQ(out, "prefixx y z");
  EXPECT_EQ(out.substr(6 + span.start, span.end - span.start), "y");
}

// Returns `text` with each run of white space written as one ' ', a byte at a time.
std::string Collapsed(std::string_view text) {
  std::string out;
  bool prev_space = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (!space || !prev_space) out.push_back(space ? ' ' : c);
    prev_space = space;
  }
  return out;
}

// The snippet copies 16 bytes at a time where they hold no run of white space: runs, tabs and
// line breaks at every position relative to those blocks (and spanning two of them, and a hit
// edge), against a byte-at-a-time copy. The text fits the context, so the snippet is all of it.
TEST(Snippet, CollapsesWhiteSpaceAtEveryBlockPosition) {
  std::mt19937 rng(16);
  static const char* const kPieces[] = {"a",  "bc", "Казах", " ",    " ",  "  ",
                                        "\t", "\n", "\r\n",  "word", "x y"};
  for (int n = 0; n < 3000; ++n) {
    std::string text;
    while (text.size() < 20 + rng() % 150) text += kPieces[rng() % 11];
    const uint32_t start = static_cast<uint32_t>(rng() % (text.size() + 1));
    const uint32_t end = start + static_cast<uint32_t>(rng() % (text.size() - start + 1));
    std::string out = "pre";
    const SnippetSpan span = AppendSnippet(text, start, end, 200, &out);
    ASSERT_EQ(out, "pre" + Collapsed(text)) << n;
    // The hit's edges land where the collapsed text before them ends (an edge inside a run
    // after its one ' ', at its first byte before it: the run is cut in two there).
    ASSERT_EQ(span.start, Collapsed(text.substr(0, start)).size()) << n;
    ASSERT_EQ(span.end, Collapsed(text.substr(0, end)).size()) << n;
  }
}

TEST(Snippet, CutsAHitLongerThanTheLimit) {
  const std::string text = "intro " + std::string(1000, 'x') + " outro";
  std::string out;
  const SnippetSpan span = AppendSnippet(text, 6, 1006, 60, &out);
  EXPECT_EQ(span.end - span.start, kMaxSnippetHitBytes);
  EXPECT_LE(out.size(), kMaxSnippetHitBytes + 60 + 6);
  EXPECT_THAT(out, ::testing::EndsWith("x…"));
}

TEST(ExtendToWordEnd, CoversTheWholeWordOfAPrefixOrRegexMatch) {
  // "shortage*" matched "shortage" in "shortages": the span ends after "shortages".
  const std::string text = "fuel shortages, and Kazakhstan's shortage";
  EXPECT_EQ(ExtendToWordEnd(text, 13), 14u);
  // Already at a word's end: unchanged (punctuation, apostrophe, end of text).
  EXPECT_EQ(ExtendToWordEnd(text, 14), 14u);
  EXPECT_EQ(ExtendToWordEnd(text, 30), 30u);
  EXPECT_EQ(ExtendToWordEnd(text, text.size()), text.size());
  // Cyrillic, by whole code points: Казахстан* on Казахстане.
  const std::string ru = "в Казахстане.";
  EXPECT_EQ(ExtendToWordEnd(ru, ru.find("Казахстан") + 18), ru.find("."));
  // CJK characters are words by themselves: never extended.
  const std::string zh = "哈萨克斯坦与中国";
  EXPECT_EQ(ExtendToWordEnd(zh, 15), 15u);
  // A run of letters without end is cut at the bound.
  const std::string blob = "ab" + std::string(500, 'c');
  EXPECT_EQ(ExtendToWordEnd(blob, 2), 2 + kMaxWordExtensionBytes);
}

TEST(AlertId, IsDeterministicAndDependsOnItemPackAndTopic) {
  auto id = [](std::string_view item, std::string_view pack, std::string_view topic) {
    std::string out;
    AppendAlertId(item, pack, topic, &out);
    return out;
  };
  // SHA-256("a1\0sha256:p\0alerts") computed independently (Python hashlib).
  EXPECT_EQ(id("a1", "sha256:p", "alerts"), "65815cf1e5b23053d816f72fe1bf8be6");
  EXPECT_EQ(id("a1", "sha256:p", "alerts"), id("a1", "sha256:p", "alerts"));
  EXPECT_NE(id("a1", "sha256:p", "alerts"), id("a1", "sha256:p", "alerts.urgent"));
  EXPECT_NE(id("a1", "sha256:p", "alerts"), id("a2", "sha256:p", "alerts"));
  EXPECT_NE(id("a1", "sha256:p", "alerts"), id("a1", "sha256:q", "alerts"));
  // The separator keeps the parts apart: ("ab", "c") is not ("a", "bc").
  EXPECT_NE(id("a1x", "sha256:p", "alerts"), id("a1", "xsha256:p", "alerts"));
}

TEST(HitsMode, ParsesItsNames) {
  HitsMode mode = HitsMode::kFull;
  EXPECT_TRUE(ParseHitsMode("compact", &mode));
  EXPECT_EQ(mode, HitsMode::kCompact);
  EXPECT_EQ(HitsModeName(mode), "compact");
  EXPECT_TRUE(ParseHitsMode("full", &mode));
  EXPECT_EQ(mode, HitsMode::kFull);
  EXPECT_FALSE(ParseHitsMode("short", &mode));
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  std::string out;
  AppendRfc3339Now(&out);
  EXPECT_THAT(out,
              ::testing::MatchesRegex("20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:"
                                      "[0-6][0-9]\\.[0-9][0-9][0-9]Z"));
}

}  // namespace
}  // namespace steppewatch::alert
