#include "steppewatch/normalise/utf8.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::normalise {
namespace {

using ::testing::ElementsAre;

TEST(Utf8Test, ValidatesUtf8) {
  EXPECT_TRUE(ValidateUtf8("Қазақстан 哈萨克斯坦"));
  EXPECT_FALSE(ValidateUtf8("\xc3("));
  EXPECT_FALSE(ValidateUtf8("\xed\xa0\x80"));  // surrogate
}

TEST(Utf8Test, DecodesAtAndBefore) {
  const std::string t = "aҚ哈😀";
  EXPECT_EQ(DecodeAt(t, 0).cp, U'a');
  EXPECT_EQ(DecodeAt(t, 1).cp, U'Қ');
  EXPECT_EQ(DecodeAt(t, 1).length, 2u);
  EXPECT_EQ(DecodeAt(t, 3).cp, U'哈');
  EXPECT_EQ(DecodeAt(t, 6).cp, U'😀');
  EXPECT_EQ(DecodeAt(t, 10).length, 0u);
  EXPECT_EQ(DecodeBefore(t, 10).cp, U'😀');
  EXPECT_EQ(DecodeBefore(t, 6).cp, U'哈');
  EXPECT_EQ(DecodeBefore(t, 3).cp, U'Қ');
  EXPECT_EQ(DecodeBefore(t, 1).cp, U'a');
  EXPECT_EQ(DecodeBefore(t, 0).length, 0u);
  // Inside a character or on garbage: U+FFFD of length 1, never past the text.
  EXPECT_EQ(DecodeAt(t, 2).cp, U'\uFFFD');
  EXPECT_EQ(DecodeBefore(t, 2).cp, U'\uFFFD');
  EXPECT_EQ(DecodeAt("\xe2\x82", 0).length, 1u);
}

struct ClassCase {
  char32_t cp;
  bool word;
  bool cjk;
  bool joiner;
};

TEST(Utf8Test, ClassifiesCharacters) {
  const std::vector<ClassCase> cases = {
      {U'a', true, false, false},   {U'7', true, false, false},  {U'Қ', true, false, false},
      {U'ә', true, false, false},   {U'Ў', true, false, false},  {U'Ҷ', true, false, false},
      {U'ω', true, false, false},   {U'ʻ', true, false, false},  {U'ş', true, false, false},
      {U'哈', true, true, false},   {U'カ', true, true, false},  {U'한', true, true, false},
      {U'。', false, false, false}, {U'\'', false, false, true}, {U'’', false, false, true},
      {U'-', false, false, true},   {U'‑', false, false, true},  {U'—', false, false, false},
      {U'_', false, false, false},  {U' ', false, false, false}, {U'\u0301', true, false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsWordChar(c.cp), c.word) << static_cast<uint32_t>(c.cp);
    EXPECT_EQ(IsCjk(c.cp), c.cjk) << static_cast<uint32_t>(c.cp);
    EXPECT_EQ(IsJoiner(c.cp), c.joiner) << static_cast<uint32_t>(c.cp);
  }
  EXPECT_TRUE(IsSpace(U'\u00a0'));
  EXPECT_TRUE(IsSpace(U'\u3000'));
  EXPECT_FALSE(IsSpace(U'x'));
}

TEST(Utf8Test, BoundariesUseUnicodeLettersAndTreatCjkAsSeparateWords) {
  const std::string t = "Қазақстанның";
  EXPECT_TRUE(IsBoundaryBefore(t, 0));
  EXPECT_FALSE(IsBoundaryAfter(t, std::string("Қазақстан").size()));
  EXPECT_TRUE(IsBoundaryAfter(t, t.size()));
  const std::string z = "中国Kazakhstan";
  EXPECT_TRUE(IsBoundaryBefore(z, std::string("中国").size()));
  const std::string o = "Oʻzbekiston";
  EXPECT_FALSE(IsBoundaryBefore(o, std::string("Oʻ").size())) << "ʻ is a letter";
}

struct WordCase {
  const char* name;
  std::string text;
  std::vector<std::string> words;
};

class WordIndexTest : public ::testing::TestWithParam<WordCase> {};

TEST_P(WordIndexTest, SplitsWordsAsTheRuleLanguageDefinesThem) {
  WordIndex index;
  const std::string& text = GetParam().text;
  index.Reset(text);
  std::vector<std::string> words;
  const auto& starts = index.word_starts();
  for (size_t w = 0; w < starts.size(); ++w) {
    // A word runs from its start until the first offset whose word index differs.
    size_t end = starts[w];
    while (end < text.size() && index.WordIndexAt(end) == w) ++end;
    words.push_back(text.substr(starts[w], end - starts[w]));
  }
  EXPECT_EQ(words, GetParam().words);
}

INSTANTIATE_TEST_SUITE_P(
    Languages, WordIndexTest,
    ::testing::Values(
        WordCase{"English",
                 "Kazakhstan's multi-vector policy - now!",
                 {"Kazakhstan's", "multi-vector", "policy", "now"}},
        WordCase{"Typographic",
                 "Xi Jinping’s Nur‑Sultan — Astana",
                 {"Xi", "Jinping’s", "Nur‑Sultan", "Astana"}},
        WordCase{
            "Russian", "Встреча с Токаевым, 2022 г.", {"Встреча", "с", "Токаевым", "2022", "г"}},
        WordCase{"Kazakh", "Қазақстанның Президенті", {"Қазақстанның", "Президенті"}},
        WordCase{"Uzbek", "Oʻzbekiston va Gʻarb", {"Oʻzbekiston", "va", "Gʻarb"}},
        WordCase{"Chinese", "中国与哈萨克斯坦。", {"中", "国", "与", "哈", "萨", "克", "斯", "坦"}},
        WordCase{"MixedCjkLatin", "在Astana会谈", {"在", "Astana", "会", "谈"}},
        WordCase{"JoinerAtEdges", "'quoted' -dash- it's", {"quoted", "dash", "it's"}},
        // A character reference Fold reads as a character counts as that character; one it
        // leaves as text (a letter's) as its text.
        WordCase{"HtmlReferences",
                 "Kazakhstan&rsquo;s oil &lt;KMG&gt; it&#39;s AT&amp;T caf&eacute;",
                 {"Kazakhstan&rsquo;s", "oil", "KMG", "it&#39;s", "AT", "T", "caf", "eacute"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(WordIndexTest, OffsetsBetweenWordsBelongToTheNextWord) {
  WordIndex index;
  index.Reset("one,  two");
  EXPECT_EQ(index.WordIndexAt(0), 0u);
  EXPECT_EQ(index.WordIndexAt(3), 1u);  // ','
  EXPECT_EQ(index.WordIndexAt(6), 1u);  // 't'
  EXPECT_EQ(index.WordIndexAt(9), 2u);  // past the end
  EXPECT_EQ(index.word_count(), 2u);
  index.Reset("");
  EXPECT_EQ(index.word_count(), 0u);
  EXPECT_EQ(index.WordIndexAt(0), 0u);
}

// The word starts of `text` by the definition, one code point at a time (what WordIndex did
// before it skipped ASCII runs).
std::vector<uint32_t> ReferenceWordStarts(std::string_view text) {
  std::vector<uint32_t> starts;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    const CodePoint c = DecodeAt(text, i);
    const bool cjk = IsCjk(c.cp);
    const bool word = IsWordChar(c.cp) && !cjk;
    bool continues = word;
    if (in_word && !word && IsJoiner(c.cp)) {
      const CodePoint next = DecodeAt(text, i + c.length);
      continues = next.length != 0 && IsWordChar(next.cp) && !IsCjk(next.cp);
    }
    if (in_word && !continues) in_word = false;
    if (cjk) {
      starts.push_back(static_cast<uint32_t>(i));
    } else if (word && !in_word) {
      starts.push_back(static_cast<uint32_t>(i));
      in_word = true;
    }
    i += c.length;
  }
  return starts;
}

TEST(WordIndexTest, AsciiRunsSplitAsOneCodePointAtATime) {
  // Pieces whose every order and neighbour matters: ASCII words, digits, joiners, spaces and
  // punctuation, Cyrillic (and a Cyrillic symbol), CJK, a modifier letter, a combining mark, a lone
  // continuation byte.
  const std::vector<std::string> pieces = {"a", "Z",      "7",    "'", "-",     " ", ",",
                                           ".", "\n",     "_",    "ж", "я",     "҂", "中",
                                           "ʻ", "\u0301", "\x80", "’", "Astana"};
  uint64_t state = 16;
  WordIndex index;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const int n = static_cast<int>(state % 12);
    for (int k = 0; k < n; ++k) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      text += pieces[(state >> 33) % pieces.size()];
    }
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    index.Reset(text);
    ASSERT_EQ(index.word_starts(), ReferenceWordStarts(text)) << "text: " << text;
  }
}

// The scan takes 16 bytes of ASCII without a joiner at a time: texts of 16 to ~100 bytes where
// such blocks meet joiners, Cyrillic, CJK and the byte loop at every position, against the
// definition one code point at a time, for the word starts and the word of every offset (which
// reads the word ends).
TEST(WordIndexTest, SixteenByteBlocksSplitAsOneCodePointAtATime) {
  const std::vector<std::string> pieces = {
      "a",   "Z",   "7", "'",    "-",      " ",  ",",
      ".",   "\n",  "_", "@",    "[",      "`",  "{",
      "ж",   "中",  "’", "\x80", "Astana", "  ", "words and more words",
      "x-y", "it's"};
  uint64_t state = 16;
  WordIndex index;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t size = 16 + (state >> 33) % 90;
    while (text.size() < size) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      // Mostly plain words and spaces, so that many blocks take the 16-byte path.
      const uint64_t r = state >> 33;
      text += r % 3 == 0 ? pieces[r / 3 % pieces.size()] : (r % 3 == 1 ? "word" : " ");
    }
    const std::vector<uint32_t> starts = ReferenceWordStarts(text);
    index.Reset(text);
    ASSERT_EQ(index.word_starts(), starts) << "text: " << text;
    // A word ends where the next code point does not continue it: the reference's words are
    // the runs between its starts, each ending at its last word (or joined) character.
    std::vector<uint32_t> ends;
    for (size_t w = 0; w < starts.size(); ++w) {
      size_t e = starts[w];
      const size_t limit = w + 1 < starts.size() ? starts[w + 1] : text.size();
      const CodePoint first = DecodeAt(text, e);
      e += first.length;
      if (!IsCjk(first.cp)) {
        while (e < limit) {
          const CodePoint c = DecodeAt(text, e);
          bool continues = IsWordChar(c.cp) && !IsCjk(c.cp);
          if (!continues && IsJoiner(c.cp)) {
            const CodePoint next = DecodeAt(text, e + c.length);
            continues = next.length != 0 && IsWordChar(next.cp) && !IsCjk(next.cp);
          }
          if (!continues) break;
          e += c.length;
        }
      }
      ends.push_back(static_cast<uint32_t>(e));
    }
    for (size_t offset = 0; offset <= text.size(); ++offset) {
      const auto it = std::upper_bound(starts.begin(), starts.end(), offset);
      uint32_t expected = 0;
      if (it != starts.begin()) {
        const uint32_t last = static_cast<uint32_t>(it - starts.begin()) - 1;
        expected = offset < ends[last] ? last : last + 1;
      }
      ASSERT_EQ(index.WordIndexAt(offset), expected) << "offset " << offset << " of: " << text;
    }
  }
}

// Texts built twice, with character references and with their characters, have the same words
// wherever the references fall (in the scan's 16-byte blocks, across their ends, in the byte
// loop). '&' is left out of the decoded pieces: "&" before "lt;" would make a reference the
// other text does not have.
TEST(WordIndexTest, ReferencesCountAsTheirCharacters) {
  const std::vector<std::pair<std::string, std::string>> pieces = {
      {"&rsquo;", "’"},
      {"&#39;", "'"},
      {"&lt;", "<"},
      {"&nbsp;", "\u00a0"},
      {"&#8211;", "–"},
      {"&quot;", "\""},
      {"&eacute;", "&eacute;"},
      {"&amp", "&amp"},
      {"&", "&"},
      {"word", "word"},
      {" ", " "},
      {"Astana", "Astana"},
      {"ж", "ж"},
      {"中", "中"},
      {"s", "s"},
      {"words and more words", "words and more words"}};
  std::mt19937 rng(3);  // fixed seed: the test is deterministic
  WordIndex with, without;
  for (int round = 0; round < 20000; ++round) {
    std::string text, plain;
    const int count = static_cast<int>(rng() % 24);
    for (int k = 0; k < count; ++k) {
      const auto& p = pieces[rng() % pieces.size()];
      text += p.first;
      plain += p.second;
    }
    with.Reset(text);
    without.Reset(plain);
    ASSERT_EQ(with.word_count(), without.word_count()) << "text: " << text;
  }
}

}  // namespace
}  // namespace steppewatch::normalise
