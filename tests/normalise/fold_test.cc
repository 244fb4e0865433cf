#include "steppewatch/normalise/fold.h"

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/normalise/utf8.h"

namespace steppewatch::normalise {
namespace {

struct FoldCase {
  const char* name;
  std::string input;
  std::string folded;
};

class FoldTableTest : public ::testing::TestWithParam<FoldCase> {};

TEST_P(FoldTableTest, FoldsToExpectedText) {
  EXPECT_EQ(FoldToString(GetParam().input), GetParam().folded);
}

INSTANTIATE_TEST_SUITE_P(
    Scripts, FoldTableTest,
    ::testing::Values(
        FoldCase{"English", "Tokayev MET Xi Jinping", "tokayev met xi jinping"},
        FoldCase{"Russian", "КАЗАХСТАНА Токаевым", "казахстана токаевым"},
        FoldCase{"RussianYo", "Горбачёв ЁЛКА", "горбачев елка"},
        FoldCase{"KazakhCyrillic", "ҚАЗАҚСТАННЫҢ ӘҒҚҢӨҰҮҺІ", "қазақстанның әғқңөұүһі"},
        FoldCase{"KazakhLatin", "QAZAQSTAN Ä Ğ Ñ Ö Ş Ū Ü", "qazaqstan ä ğ ñ ö ş ū ü"},
        FoldCase{"UzbekLatin", "OʻZBEKISTON Gʻarb", "o'zbekiston g'arb"},
        FoldCase{"UzbekCyrillic", "ЎЗБЕКИСТОН", "ўзбекистон"},
        FoldCase{"Tajik", "ҶӢҲ ТОҶИКИСТОН", "ҷӣҳ тоҷикистон"},
        FoldCase{"UzbekModifierApostrophe", "OʼZBEKISTON Oʻzbekiston O‘zbekiston",
                 "o'zbekiston o'zbekiston o'zbekiston"},
        FoldCase{"UzbekCyrillicLetters", "ЎҚҒҲ ТОШКЕНТ", "ўқғҳ тошкент"},
        FoldCase{"Kyrgyz", "ЖОГОРКУ КЕҢЕШ ӨКМӨТҮ", "жогорку кеңеш өкмөтү"},
        FoldCase{"Turkmen", "TÜRKMENISTANYŇ AŞGABAT ÝAŞUL ŽURNAL ÇÄGE ÖÝ",
                 "türkmenistanyň aşgabat ýaşul žurnal çäge öý"},
        FoldCase{"Turkish", "İSTANBUL Istanbul ıspanak ÇĞÖŞÜ", "istanbul istanbul ispanak çğöşü"},
        FoldCase{"Greek", "ΑΘΗΝΑ ΟΔΥΣΣΕΥΣ", "αθηνα οδυσσευσ"},
        FoldCase{"Chinese", "哈萨克斯坦 Kazakhstan", "哈萨克斯坦 kazakhstan"},
        FoldCase{"Apostrophes", "Xi Jinping’s ‘x’ ʼy", "xi jinping's 'x' 'y"},
        FoldCase{"Dashes", "Nur‑Sultan Nur‐Sultan 2020–2022 a—b ‒",
                 "nur-sultan nur-sultan 2020-2022 a-b -"},
        FoldCase{"Spaces", "a\u00a0b\u2009c\u202fd\te\n\n  f", "a b c d e f"},
        FoldCase{"LatinExtended", "ĀĂĄĆČĎĐĒĘĚĞĢĪĮĶĹĻĽŁŃŅŇŌŐŒŔŘŚŞŠŢŤŪŮŰŲŹŻŽ",
                 "āăąćčďđēęěğģīįķĺļľłńņňōőœŕřśşšţťūůűųźżž"},
        FoldCase{"LatinExtendedB", "ƏȘȚǄȺ", "əșțǆⱥ"},
        // Soft hyphen and zero-width characters fold to nothing: inside a word, at the start
        // and end of the field, repeated, and inside or next to a white-space run (one ' ').
        FoldCase{"SoftHyphen", "Kazakh\u00ADstan \u00ADQAZAQ\u00AD\u00AD Қазақ\u00ADстан\u00AD",
                 "kazakhstan qazaq қазақстан"},
        FoldCase{
            "ZeroWidth",
            "\u200BKa\u200Bzakh\u200Cstan Ka\u200Dzakh\u2060stan\uFEFF\u2060 x\u200B\u200B\u200By",
            "kazakhstan kazakhstan xy"},
        FoldCase{"IgnorableInSpaceRun", "a \u00AD b c\u200B  \uFEFF d\u2060 \u2060e f \u200C",
                 "a b c d e f "},
        FoldCase{"OnlyIgnorables", "\u00AD\u200B\u200C\u200D\u2060\uFEFF", ""},
        // HTML character references of punctuation, symbols and spaces are read as their
        // characters, then folded as those are; names in any case; escaped twice ("&amp;lt;")
        // read through. References to letters, digits, '#', ';' and dropped characters,
        // unknown names, references without ';' and impossible code points stay as text.
        // &#128;..&#159; are Windows-1252 (&#146; is ’).
        FoldCase{"HtmlReferences",
                 "AT&amp;T &lt;KMG&gt; Kazakhstan&rsquo;s &quot;x&quot; &#39;y&#x27; &AMP; "
                 "&#146;z&#151;w &ndash;&laquo;&#X2014; &Dagger;",
                 "at&t <kmg> kazakhstan's \"x\" 'y' & 'z-w -«- †"},
        FoldCase{"HtmlReferencesEscapedTwice",
                 "&amp;lt;b&amp;gt; &amp;amp;amp; &amp;quot;q&#38;#39;", "<b> & \"q'"},
        FoldCase{"HtmlSpaceReferences", "a&nbsp;&nbsp; b&#160;c &#x20; &#9;d&#10;&emsp;e",
                 "a b c d e"},
        FoldCase{"HtmlReferencesLeftAsText",
                 "caf&eacute; &#233; &#65; &#48; &#35;&#59;&semi; &shy;&#173;&#8203; &bogus; "
                 "&amp &#; &#x; &#0; &#1; &#xD800; &#x110000; &#12345678; &#x0000041; &#129; "
                 "&thetasym; &toolongname; & && &#38",
                 "caf&eacute; &#233; &#65; &#48; &#35;&#59;&semi; &shy;&#173;&#8203; &bogus; "
                 "&amp &#; &#x; &#0; &#1; &#xd800; &#x110000; &#12345678; &#x0000041; &#129; "
                 "&thetasym; &toolongname; & && &#38"},
        // Read as the folded text shows it: a dropped character or a letter that folds to
        // ASCII inside a reference (so that folding the folded text changes nothing).
        FoldCase{"HtmlReferencesReadFolded", "&am\u00ADp; &LT; &\u0130nfin;", "& < ∞"},
        FoldCase{"HtmlReferenceAtTheEnd", "x&amp;", "x&"},
        FoldCase{"InvalidBytes", std::string("a\xff\xc3(b\xe2\x82"),
                 "a?"
                 "?(b??"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(FoldTest, TajikLettersFoldToTheirLowercase) {
  // Ҷ U+04B6 -> ҷ U+04B7, Ӣ U+04E2 -> ӣ U+04E3, Ҳ U+04B2 -> ҳ U+04B3.
  EXPECT_EQ(FoldToString("Ҷ Ӣ Ҳ"), "ҷ ӣ ҳ");
}

// Every folded offset at a character boundary maps back to the original offset of the same
// character: check it character by character over texts with length-changing folds.
struct OffsetCase {
  const char* name;
  std::string text;
};

class FoldOffsetTest : public ::testing::TestWithParam<OffsetCase> {};

TEST_P(FoldOffsetTest, EveryFoldedCharacterMapsBackToItsOriginal) {
  const std::string& text = GetParam().text;
  FoldedText folded;
  Fold(text, &folded);
  const std::string_view f = folded.text();
  // Walk both texts together: each folded character comes from one original character, except
  // a collapsed space run (one ' ' from several spaces).
  // Characters that fold to nothing belong to the folded offset after them: a folded offset
  // maps past any dropped characters at it (so a hit's start and end both lie past them).
  const auto skip_ignorables = [&](size_t oi, bool spaces) {
    while (oi < text.size()) {
      const CodePoint c = DecodeAt(text, oi);
      if (!IsIgnorable(c.cp) && !(spaces && IsSpace(c.cp))) break;
      oi += c.length;
    }
    return oi;
  };
  size_t fi = 0;
  size_t oi = skip_ignorables(0, false);
  while (fi < f.size()) {
    ASSERT_EQ(folded.ToOriginal(fi), oi) << "folded offset " << fi;
    const CodePoint fc = DecodeAt(f, fi);
    const CodePoint oc = DecodeAt(text, oi);
    ASSERT_GT(oc.length, 0u);
    oi += oc.length;
    oi = skip_ignorables(oi, fc.cp == ' ');
    fi += fc.length;
    ASSERT_EQ(folded.ToOriginal(fi), oi) << "end of folded character at " << fi;
  }
  EXPECT_EQ(oi, text.size());
}

INSTANTIATE_TEST_SUITE_P(
    LengthChanges, FoldOffsetTest,
    ::testing::Values(
        OffsetCase{"Ascii", "Plain ASCII text, nothing changes length."},
        OffsetCase{"TurkishDottedI", "İstanbul and İzmir, İİİ"},
        OffsetCase{"Apostrophes", "Xi Jinping’s visit; Oʻzbekiston’s ‘x’"},
        OffsetCase{"Dashes", "Nur‑Sultan — Astana – 2022"},
        OffsetCase{"Spaces", "a\u00a0\u00a0b \n\t c\u2009\u202fd   "},
        OffsetCase{"Grows", "ȺȾ x Ⱥ"}, OffsetCase{"Mixed", "  ҚАЗАҚСТАН’ның İ — 哈萨克斯坦\u3000x"},
        OffsetCase{"SoftHyphen", "\u00ADKazakh\u00ADstan \u00AD Қазақ\u00AD\u00ADстан\u00AD"},
        OffsetCase{"ZeroWidth", "\u200BKa\u200Czakh\u200Dstan\u2060 \uFEFF\uFEFF x\u200B\u00AD"},
        OffsetCase{"IgnorablesInBlocks", std::string(20, 'a') + "\u00AD" + std::string(20, 'b') +
                                             "\u200B  \u200B" + std::string(20, 'c') +
                                             "Қазақ\u00ADстан Қазақ\u00ADстан" + "中国\uFEFF中国"},
        OffsetCase{"LongAscii", std::string(100, 'A') + "\n\n  " + std::string(40, 'b') + "İ"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(FoldTest, DroppedCharactersMapToTheOriginalAfterThem) {
  FoldedText folded;
  // "Kazakh" 0-6, U+00AD 6-8, "stan" 8-12, ' ' 12, U+200B 13-16, "x" 16.
  Fold("Kazakh\u00ADstan \u200Bx", &folded);
  EXPECT_EQ(folded.text(), "kazakhstan x");
  EXPECT_FALSE(folded.identity());
  EXPECT_EQ(folded.map_entries(), 2u);  // one entry per removal
  EXPECT_EQ(folded.ToOriginal(5), 5u);
  EXPECT_EQ(folded.ToOriginal(6), 8u);  // "stan" starts after the soft hyphen
  EXPECT_EQ(folded.ToOriginal(10), 12u);
  EXPECT_EQ(folded.ToOriginal(11), 16u);  // "x" after the zero-width space
  EXPECT_EQ(folded.ToOriginal(12), 17u);
  uint32_t cursor = 0;
  EXPECT_EQ(folded.ToOriginal(6, &cursor), 8u);
  EXPECT_EQ(folded.ToOriginal(11, &cursor), 16u);
}

TEST(FoldTest, AReferenceMapsToTheWholeReference) {
  FoldedText folded;
  // "AT" 0-2, "&amp;" 2-7, "T" 7, ' ' 8, "&rsquo;" 9-16, "s" 16.
  Fold("AT&amp;T &rsquo;s", &folded);
  EXPECT_EQ(folded.text(), "at&t 's");
  EXPECT_EQ(folded.map_entries(), 2u);  // one entry per reference
  EXPECT_EQ(folded.ToOriginal(2), 2u);  // the '&' starts where its reference does
  EXPECT_EQ(folded.ToOriginal(3), 7u);  // and ends where it ends
  EXPECT_EQ(folded.ToOriginal(5), 9u);
  EXPECT_EQ(folded.ToOriginal(6), 16u);
  EXPECT_EQ(folded.ToOriginal(7), 17u);
  uint32_t cursor = 0;
  EXPECT_EQ(folded.ToOriginal(3, &cursor), 7u);
  EXPECT_EQ(folded.ToOriginal(6, &cursor), 16u);
}

// A reference folds as the character it names wherever it falls: in the ASCII blocks, in the
// Cyrillic and two-byte blocks, across a block's end, beside white-space runs. Each text is
// built twice, with references and with their characters (pieces that are not decoded are the
// same in both), and the two must fold alike. '&' itself is left out of the decoded pieces: the
// character "&" before "lt;" would make a reference the other text does not have.
TEST(FoldTest, ReferencesFoldAsTheirCharactersWhereverTheyFall) {
  const std::vector<std::pair<std::string, std::string>> pieces = {{"&lt;", "<"},
                                                                   {"&gt;", ">"},
                                                                   {"&quot;", "\""},
                                                                   {"&#39;", "'"},
                                                                   {"&rsquo;", "’"},
                                                                   {"&nbsp;", "\u00a0"},
                                                                   {"&#x2014;", "—"},
                                                                   {"&#146;", "’"},
                                                                   {"&hellip;", "…"},
                                                                   {"&#10;", "\n"},
                                                                   {"&euro;", "€"},
                                                                   {"&eacute;", "&eacute;"},
                                                                   {"&#233;", "&#233;"},
                                                                   {"&amp", "&amp"},
                                                                   {"&", "&"},
                                                                   {"&#;", "&#;"},
                                                                   {"a", "a"},
                                                                   {"Z", "Z"},
                                                                   {"Kazakhstan ", "Kazakhstan "},
                                                                   {"  ", "  "},
                                                                   {" ", " "},
                                                                   {"привет", "привет"},
                                                                   {"ПРИВЕТ", "ПРИВЕТ"},
                                                                   {"Қазақстан", "Қазақстан"},
                                                                   {"哈萨克斯坦", "哈萨克斯坦"},
                                                                   {"İ", "İ"},
                                                                   {"\u00AD", "\u00AD"},
                                                                   {"0123456789", "0123456789"},
                                                                   {"x", "x"}};
  std::mt19937 rng(7);  // fixed seed: the test is deterministic
  for (int round = 0; round < 3000; ++round) {
    std::string text, plain;
    const int count = static_cast<int>(rng() % 40);
    for (int k = 0; k < count; ++k) {
      const auto& p = pieces[rng() % pieces.size()];
      text += p.first;
      plain += p.second;
    }
    ASSERT_EQ(FoldToString(text), FoldToString(plain)) << "round " << round << ": " << text;
    FoldedText folded;
    Fold(text, &folded);
    // Every folded offset maps inside the original, in order.
    uint32_t last = 0;
    for (uint32_t f = 0; f <= folded.text().size(); ++f) {
      const uint32_t o = folded.ToOriginal(f);
      ASSERT_LE(o, text.size()) << "round " << round;
      ASSERT_GE(o, last) << "round " << round;
      last = o;
    }
  }
}

// Folding folded text changes nothing, references or not: a reference Fold leaves as text
// stays text, and none appears in its output that was not decoded ("&&#35;38;", "&amp;lt;").
TEST(FoldTest, FoldingFoldedTextWithReferencesChangesNothing) {
  const std::vector<std::string> pieces = {
      "&",     "&amp;", "amp", "lt", ";",      "#",      "#x",     "38",     "26",   "&#35;",
      "&#59;", "&#38;", "AMP", "Lt", "x",      "\u00AD", "\u0130", "nfin",   "quot", "&quot;",
      "&lt;",  "&#x",   " ",   "  ", "&#146;", "Қ",      "中",     "&nbsp;", "9",    "\xff"};
  std::mt19937 rng(11);  // fixed seed: the test is deterministic
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const int count = static_cast<int>(rng() % 12);
    for (int k = 0; k < count; ++k) text += pieces[rng() % pieces.size()];
    const std::string once = FoldToString(text);
    ASSERT_EQ(FoldToString(once), once) << "round " << round << ": " << text;
  }
}

// An empty view may have a null pointer (a default std::string_view): Fold must not pass it to
// a library call (UBSan reported memchr(nullptr, ...) in a field search Fold once had).
TEST(FoldTest, AnEmptyViewWithoutDataFoldsToNothing) {
  FoldedText folded;
  Fold(std::string_view(), &folded);
  EXPECT_EQ(folded.text(), "");
  EXPECT_TRUE(folded.identity());
}

TEST(FoldTest, IdentityWhenNoLengthChanges) {
  FoldedText folded;
  Fold("Казахстан and Kazakhstan", &folded);
  EXPECT_TRUE(folded.identity());
  Fold("Nur‑Sultan", &folded);
  EXPECT_FALSE(folded.identity());
  EXPECT_EQ(folded.text(), "nur-sultan");
  // "sultan" starts at folded 4; in the original the no-break hyphen is 3 bytes.
  EXPECT_EQ(folded.ToOriginal(4), 6u);
}

TEST(FoldTest, ReusedBufferGivesSameResultAsFresh) {
  FoldedText reused;
  const std::vector<std::string> texts = {std::string(5000, 'Q'), "İ’ — x", "", "ÄÖÜ"};
  for (const auto& t : texts) {
    Fold(t, &reused);
    EXPECT_EQ(reused.text(), FoldToString(t));
  }
}

// The SIMD paths (ASCII blocks, space runs, lowercase Cyrillic blocks, characters straddling a
// block end) must agree with folding one character at a time, where only the scalar path runs.
std::string ReferenceFold(std::string_view text) {
  std::string out;
  bool prev_space = false;
  size_t i = 0;
  while (i < text.size()) {
    const CodePoint c = DecodeAt(text, i);
    const std::string one = FoldToString(text.substr(i, c.length));
    i += c.length;
    if (one.empty()) continue;  // dropped: a space run goes on across it
    if (one == " ") {
      if (!prev_space) out += one;
      prev_space = true;
      continue;
    }
    prev_space = false;
    out += one;
  }
  return out;
}

TEST(FoldTest, FastPathsAgreeWithCharacterByCharacterFold) {
  const std::vector<std::string> pieces = {
      "a",      "Z",        "Kazakhstan ", "  ",     "\n    ", " ",          "\t", "привет",
      "ПРИВЕТ", "ё",        "Ё",           "р",      "я",      "Қазақстан",  "ә",  "İ",
      "ı",      "’",        "—",           "\u00a0", "\u2009", "哈萨克斯坦", "。", "\xff",
      "\xd0",   "\xe4\xb8", "Ⱥ",           "😀",      "ß",      "ΣΑΣ",        "x",  "0123456789",
      "\u00AD", "\u200B",   "\u200C",      "\u200D", "\u2060", "\uFEFF"};
  std::mt19937 rng(42);  // fixed seed: the test is deterministic
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int count = static_cast<int>(rng() % 40);
    for (int k = 0; k < count; ++k) text += pieces[rng() % pieces.size()];
    ASSERT_EQ(FoldToString(text), ReferenceFold(text)) << "round " << round;
  }
}

}  // namespace
}  // namespace steppewatch::normalise

namespace steppewatch::normalise {
namespace {

// The two-byte block path (blocks whose non-ASCII characters are all two bytes long: Kazakh,
// Russian capitals, Latin-1, Greek ...) must agree with folding one character at a time for
// every two-byte code point U+0080..U+07FF, wherever it falls in a block (a lead in the last
// byte included), beside ASCII, single spaces, lowercase Russian (the Cyrillic path) and
// characters that leave the path (three-byte, white space, length changes, invalid bytes); and
// every folded character must map back to its original.
TEST(FoldTest, TwoByteBlocksAgreeWithCharacterByCharacterFold) {
  std::vector<std::string> two_byte;
  for (char32_t cp = 0x80; cp < 0x800; ++cp) {
    two_byte.push_back(
        {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))});
  }
  const std::vector<std::string> others = {"a",  "Q",    "7",    ".",  " ",      "жол",
                                           "Ә",  "қ",    "—",    "’",  "İ",      "\u00a0",
                                           "哈", "\xd2", "\xbf", "\n", "\u00AD", "\u200B"};
  std::mt19937 rng(16);
  FoldedText folded;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    // Mostly two-byte characters, so that many blocks are all-two-byte; every code point is
    // drawn some 200 times over the rounds.
    const int count = 8 + static_cast<int>(rng() % 40);
    for (int k = 0; k < count; ++k) {
      const unsigned pick = rng() % 16;
      if (pick < 10) {
        text += two_byte[rng() % two_byte.size()];
      } else if (pick < 14) {
        text.push_back("abcXYZ 019-,"[rng() % 12]);
      } else {
        text += others[rng() % others.size()];
      }
    }
    Fold(text, &folded);
    ASSERT_EQ(folded.text(), ReferenceFold(text)) << "round " << round;
    // Offsets: each folded character maps back to the start of its original (a space run to
    // its first space), past any dropped characters before it.
    const std::string_view f = folded.text();
    const auto skip = [&](size_t oi, bool spaces) {
      while (oi < text.size()) {
        const CodePoint c = DecodeAt(text, oi);
        if (c.length == 0 || !(IsIgnorable(c.cp) || (spaces && IsSpace(c.cp)))) break;
        oi += c.length;
      }
      return oi;
    };
    size_t fi = 0;
    size_t oi = skip(0, false);
    while (fi < f.size()) {
      ASSERT_EQ(folded.ToOriginal(static_cast<uint32_t>(fi)), oi) << "round " << round;
      const CodePoint fc = DecodeAt(f, fi);
      const CodePoint oc = DecodeAt(text, oi);
      oi = skip(oi + (oc.length == 0 ? 1 : oc.length), fc.cp == ' ');
      fi += fc.length;
    }
    ASSERT_EQ(folded.ToOriginal(static_cast<uint32_t>(f.size())), text.size()) << round;
  }
}

}  // namespace
}  // namespace steppewatch::normalise

namespace steppewatch::normalise {
namespace {

// ToOriginal with a cursor must equal the binary search for every offset, whatever order the
// offsets come in: increasing with small and large steps (a scan's match ends), repeated,
// decreasing, random, and on a map that has one entry, many, or none.
TEST(FoldTest, ToOriginalWithACursorEqualsTheSearch) {
  const std::vector<std::string> pieces = {"word ", "\n    ", "İ",     "’",      "x", "  ",
                                           "—",     "Ⱥ",      "қазақ", "\u00a0", "哈"};
  std::mt19937 rng(16);
  FoldedText folded;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int count = static_cast<int>(rng() % 60);
    for (int k = 0; k < count; ++k) text += pieces[rng() % (round % 3 == 0 ? 1 : pieces.size())];
    Fold(text, &folded);
    const auto size = static_cast<uint32_t>(folded.text().size());
    std::vector<uint32_t> offsets;
    for (uint32_t o = 0; o <= size; o += 1 + rng() % (1 + rng() % 24)) offsets.push_back(o);
    switch (round % 4) {
      case 1:
        std::reverse(offsets.begin(), offsets.end());
        break;
      case 2:
        std::shuffle(offsets.begin(), offsets.end(), rng);
        break;
      case 3:  // each offset twice, then back a little (a match's start after the last end)
        for (size_t k = 0, n = offsets.size(); k < n; ++k) {
          offsets.push_back(offsets[k]);
          offsets.push_back(offsets[k] > 3 ? offsets[k] - 3 : 0);
        }
        break;
      default:
        break;
    }
    uint32_t cursor = 0;
    for (uint32_t o : offsets) {
      ASSERT_EQ(folded.ToOriginal(o, &cursor), folded.ToOriginal(o))
          << "round " << round << " offset " << o << " of " << size << ", " << folded.map_entries()
          << " map entries";
    }
  }
}

}  // namespace
}  // namespace steppewatch::normalise

namespace steppewatch::normalise {
namespace {

// A white-space run split by a 16-byte block edge collapses as one run, whichever path each
// block takes (ASCII, ASCII with runs, Cyrillic, two-byte, scalar), at every position.
TEST(FoldTest, SpaceRunsAcrossBlockEdgesCollapse) {
  const std::vector<std::string> fills = {"a", "Z", "я", "Қ", "哈"};
  const std::vector<std::string> runs = {"  ", "\n    ", " \t", "\u00a0 "};
  for (const std::string& before : fills) {
    for (const std::string& after : fills) {
      for (const std::string& run : runs) {
        for (size_t k = 0; k < 40; ++k) {
          std::string text;
          while (text.size() < k) text += before;
          text += run;
          while (text.size() < k + 48) text += after;
          ASSERT_EQ(FoldToString(text), ReferenceFold(text)) << text;
        }
      }
    }
  }
}

}  // namespace
}  // namespace steppewatch::normalise
