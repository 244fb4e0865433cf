#include "steppewatch/match/matcher.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/normalise/utf8.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::match {
namespace {

using ::steppewatch::testing::IsOk;
using ::steppewatch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TermSpec Lit(std::string text) { return TermSpec{std::move(text)}; }
TermSpec Prefix(std::string text) { return TermSpec{std::move(text), TermSpec::Kind::kPrefix}; }
TermSpec Regex(std::string text) { return TermSpec{std::move(text), TermSpec::Kind::kRegex}; }

// Scans `fields` and returns the hits as "term:field:matched original text" strings, checking
// that every hit's [start, end) lies inside its field.
std::vector<std::string> Find(const std::vector<TermSpec>& terms,
                              std::vector<std::string_view> fields,
                              const MatcherOptions& options = {}) {
  auto matcher = Matcher::Create(terms, options);
  EXPECT_THAT(matcher, IsOk());
  if (!matcher.ok()) return {"<compile error>"};
  auto context = MatchContext::Create(*matcher);
  EXPECT_THAT(context, IsOk());
  std::vector<Hit> hits;
  EXPECT_THAT((*context)->Scan(fields, &hits), IsOk());
  std::vector<std::string> out;
  for (const Hit& h : hits) {
    EXPECT_LE(h.start, h.end);
    EXPECT_LE(h.end, fields[h.field].size());
    out.push_back(std::to_string(h.term) + ":" + std::to_string(h.field) + ":" +
                  std::string(fields[h.field].substr(h.start, h.end - h.start)));
  }
  return out;
}

struct MatchCase {
  const char* name;
  std::vector<TermSpec> terms;
  std::string text;
  std::vector<std::string> expected;  // "term:field:original substring", sorted by offset
};

class MatchTableTest : public ::testing::TestWithParam<MatchCase> {};

TEST_P(MatchTableTest, FindsExactlyTheExpectedHitsAtExactOffsets) {
  EXPECT_EQ(Find(GetParam().terms, {GetParam().text}), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Languages, MatchTableTest,
    ::testing::Values(
        MatchCase{"EnglishWholeWords",
                  {Lit("Kazakhstan"), Lit("Xi Jinping")},
                  "KAZAKHSTAN, Kazakhstani Kazakhstan's talks with Xi\nJinping; Xi Jinping’s",
                  {"0:0:KAZAKHSTAN", "0:0:Kazakhstan", "1:0:Xi\nJinping", "1:0:Xi Jinping"}},
        MatchCase{"EnglishPrefix",
                  {Prefix("Kazakh")},
                  "Kazakhs and Kazakhstan but not unKazakh",
                  {"0:0:Kazakh", "0:0:Kazakh"}},
        MatchCase{"TypographicDashAndApostrophe",
                  {Lit("Nur-Sultan"), Lit("Xi Jinping's")},
                  "Nur‑Sultan (Nur—Sultan) and Xi Jinping’s",
                  {"0:0:Nur‑Sultan", "0:0:Nur—Sultan", "1:0:Xi Jinping’s"}},
        MatchCase{"NoBreakSpaceInPhrase",
                  {Lit("Xi Jinping")},
                  "met Xi\u00a0Jinping and Xi\u2009\u2009Jinping",
                  {"0:0:Xi\u00a0Jinping", "0:0:Xi\u2009\u2009Jinping"}},
        MatchCase{"RussianInflections",
                  {Prefix("Казахстан"), Lit("Токаевым"), Lit("Токаев")},
                  "Встреча в КАЗАХСТАНЕ с Токаевым; Казахстана.",
                  {"0:0:КАЗАХСТАН", "1:0:Токаевым", "0:0:Казахстан"}},
        MatchCase{"RussianYo",
                  {Lit("Горбачёв")},
                  "Горбачев и ГОРБАЧЁВ",
                  {"0:0:Горбачев", "0:0:ГОРБАЧЁВ"}},
        MatchCase{"KazakhCyrillic",
                  {Lit("Қазақстан"), Prefix("Қазақстан")},
                  "ҚАЗАҚСТАННЫҢ Президенті; Қазақстан.",
                  {"1:0:ҚАЗАҚСТАН", "0:0:Қазақстан", "1:0:Қазақстан"}},
        MatchCase{"KazakhLatin",
                  {Lit("Qazaqstan"), Lit("Ūlttyq")},
                  "QAZAQSTAN Respublikasy, ŪLTTYQ bank",
                  {"0:0:QAZAQSTAN", "1:0:ŪLTTYQ"}},
        MatchCase{"UzbekOkina",
                  {Lit("Oʻzbekiston"), Lit("zbekiston")},
                  "OʻZBEKISTON, O‘zbekiston va O'zbekiston",
                  // ʻ is a letter: "zbekiston" is not a word in OʻZBEKISTON. ‘ and ' are not.
                  {"0:0:OʻZBEKISTON", "0:0:O‘zbekiston", "1:0:zbekiston", "0:0:O'zbekiston",
                   "1:0:zbekiston"}},
        MatchCase{"UzbekModifierApostrophe",
                  {Prefix("O'zbekiston"), Prefix("Toshkent")},
                  "Oʼzbekistonning, O‘ZBEKISTON; xToshkent, Toshkentda",
                  // U+02BC and U+2018 match the ASCII apostrophe of the term; "xToshkent" is
                  // another word.
                  {"0:0:Oʼzbekiston", "0:0:O‘ZBEKISTON", "1:0:Toshkent"}},
        MatchCase{"TajikAndKyrgyzLetters",
                  {Prefix("Тоҷикистон"), Lit("Раҳмон"), Lit("Жогорку Кеңеш")},
                  "ТОҶИКИСТОНРО, Раҳмонӣ, Раҳмон; ЖОГОРКУ КЕҢЕШ, Жогорку Кеңештин",
                  // ӣ and ң are letters: "Раҳмонӣ" and "Кеңештин" are other words for a literal.
                  {"0:0:ТОҶИКИСТОН", "1:0:Раҳмон", "2:0:ЖОГОРКУ КЕҢЕШ"}},
        MatchCase{"TurkmenLetters",
                  {Prefix("Türkmenistan"), Lit("Aşgabat")},
                  "TÜRKMENISTANYŇ Paşgabat AŞGABAT Aşgabatda",
                  {"0:0:TÜRKMENISTAN", "1:0:AŞGABAT"}},
        MatchCase{"Turkish",
                  {Lit("Istanbul")},
                  "İSTANBUL, İstanbul, istanbul, ıstanbul",
                  {"0:0:İSTANBUL", "0:0:İstanbul", "0:0:istanbul", "0:0:ıstanbul"}},
        MatchCase{"ChineseWithoutBoundaries",
                  {Lit("哈萨克斯坦"), Lit("中国")},
                  "中国与哈萨克斯坦的合作。哈萨克斯坦总统",
                  {"1:0:中国", "0:0:哈萨克斯坦", "0:0:哈萨克斯坦"}},
        MatchCase{"Greek", {Lit("Αθήνα")}, "ΑΘΉΝΑ και Αθήνα", {"0:0:ΑΘΉΝΑ", "0:0:Αθήνα"}},
        MatchCase{"WholeWordOff",
                  {TermSpec{"stan", TermSpec::Kind::kLiteral, false, false}},
                  "Kazakhstan",
                  {"0:0:stan"}},
        MatchCase{"CaseSensitive",
                  {TermSpec{"KZ", TermSpec::Kind::kLiteral, true}},
                  "KZ kz Kz KZT",
                  {"0:0:KZ"}},
        MatchCase{"SameTextDifferentKinds",
                  {Lit("Astana"), Prefix("astana"), Lit("ASTANA")},
                  "Astana's Astanaly",
                  {"0:0:Astana", "1:0:Astana", "2:0:Astana", "1:0:Astana"}},
        MatchCase{"RegexOnFoldedText",
                  {Regex("qazaq(stan|sta?n)"), Regex("Қазақ\\w*")},
                  "QAZAQSTN and Qazaqstan and qazaqstanka",
                  {"0:0:QAZAQSTN", "0:0:Qazaqstan"}},
        // Fold drops soft hyphens and zero-width characters: the word they split is one word
        // for a whole-word term, and its halves are no whole words.
        MatchCase{"SoftHyphenInsideWord",
                  {Lit("Kazakhstan"), Lit("stan"), Lit("Kazakh"), Lit("Қазақстан"), Lit("стан")},
                  "Kazakh\u00ADstan, KAZAKH\u00AD\u00ADSTAN; Қазақ\u00ADстан.",
                  {"0:0:Kazakh\u00ADstan", "0:0:KAZAKH\u00AD\u00ADSTAN", "3:0:Қазақ\u00ADстан"}},
        MatchCase{"ZeroWidthCharacters",
                  {Lit("Kazakhstan"), Lit("Xi Jinping"), Lit("stan")},
                  "\uFEFFKazakh\u200Bstan Ka\u200Czakh\u200Dstan\u2060 Xi \u200B Jin\u00ADping",
                  {"0:0:Kazakh\u200Bstan", "0:0:Ka\u200Czakh\u200Dstan\u2060",
                   "1:0:Xi \u200B Jin\u00ADping"}},
        // Without start offsets a regex hit starts where its word does: before the soft hyphen.
        // (\w is ASCII in Hyperscan without UCP, hence \S for the Kazakh word.)
        MatchCase{"RegexAcrossSoftHyphen",
                  {Regex("kazakh\\w+"), Regex("қазақ\\S+")},
                  "Kazakh\u00ADstan and Қазақ\u00ADстан",
                  {"0:0:Kazakh\u00ADstan", "1:0:Қазақ\u00ADстан"}},
        // HTML character references of punctuation and spaces match as their characters; a
        // hit covers the whole reference.
        MatchCase{
            "HtmlReferences",
            {Lit("AT&T"), Lit("Kazakhstan's"), Lit("Xi Jinping"), Lit("Kazakhstan"), Lit("rsquo")},
            "AT&amp;T and Kazakhstan&rsquo;s Xi&nbsp;Jinping; AT&ampT",
            {"0:0:AT&amp;T", "3:0:Kazakhstan", "1:0:Kazakhstan&rsquo;s", "2:0:Xi&nbsp;Jinping"}},
        // A reference to a letter stays text: the word with the letter does not find it, and
        // the escaped form written as a term does (what config/rules/README.md advises).
        MatchCase{"HtmlLetterReferenceAsATerm",
                  {Lit("café"), Lit("caf&eacute;")},
                  "caf&eacute; and café",
                  {"1:0:caf&eacute;", "0:0:café"}},
        MatchCase{"PhraseAcrossLengthChanges",
                  {Lit("İzmir")},
                  "İİ İzmir’s İZMİR",
                  {"0:0:İzmir", "0:0:İZMİR"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MatcherTest, RegexStartIsWordRunStartWithoutSomAndExactWithSom) {
  const std::vector<TermSpec> terms = {Regex("new\\s+york")};
  EXPECT_THAT(Find(terms, {"in New  York."}), ElementsAre("0:0:York"));
  MatcherOptions som;
  som.regex_start_offsets = true;
  EXPECT_THAT(Find(terms, {"in New  York."}, som), ElementsAre("0:0:New  York"));
}

// The matcher checks `^[\s\S]{m,n}$` (a whole field of m..n characters) by counting code points
// instead of scanning it with Hyperscan; the hits must be exactly Hyperscan's. `(?:[\s\S])` is the
// same regex in a spelling the shortcut does not recognise, so Hyperscan runs it.
TEST(MatcherTest, WholeFieldLengthRegexGivesHyperscansHits) {
  const std::vector<std::pair<std::string, std::string>> idioms = {
      {"^[\\s\\S]{1,12}$", "^(?:[\\s\\S]){1,12}$"},
      {"^[\\S\\s]{3,5}$", "^(?:[\\S\\s]){3,5}$"},
      {"^.{4,}$", "^(?:.){4,}$"},
      {"^.{6}$", "^(?:.){6}$"}};
  // ASCII, Cyrillic (2 bytes), CJK (3 bytes), length-changing folds (İ, ’, a space run, a
  // trailing newline), exactly at and one past the bounds, and longer than 4 bytes x the maximum
  // (decided by the byte count alone).
  const std::vector<std::string> texts = {"a",
                                          "abc",
                                          "abcdef",
                                          "abcdefghijkl",
                                          "abcdefghijklm",
                                          "Астана",
                                          "Қазақстан дамуы",
                                          "习近平访问",
                                          "İİ  x’s\n",
                                          "word  \n\t ",
                                          "  lead",
                                          "x",
                                          std::string(60, 'y'),
                                          "Қазақстан Қазақстан Қазақстан"};
  for (bool som : {false, true}) {
    for (bool whole_word : {false, true}) {
      MatcherOptions options;
      options.regex_start_offsets = som;
      for (const auto& [idiom, spelled] : idioms) {
        TermSpec fast = Regex(idiom), slow = Regex(spelled);
        fast.whole_word = slow.whole_word = whole_word;
        SW_ASSERT_OK_AND_ASSIGN(auto fast_matcher, Matcher::Create({fast}, options));
        SW_ASSERT_OK_AND_ASSIGN(auto slow_matcher, Matcher::Create({slow}, options));
        // The shortcut compiles nothing for the idiom.
        EXPECT_EQ(fast_matcher->stats().database_bytes, 0u) << idiom;
        SW_ASSERT_OK_AND_ASSIGN(auto fast_context, MatchContext::Create(fast_matcher));
        SW_ASSERT_OK_AND_ASSIGN(auto slow_context, MatchContext::Create(slow_matcher));
        for (const std::string& title : texts) {
          for (const std::string& body : {std::string(), std::string("a short body"), title}) {
            const std::string_view fields[] = {title, body};
            std::vector<Hit> fast_hits, slow_hits;
            ASSERT_THAT(fast_context->Scan(fields, &fast_hits), IsOk());
            ASSERT_THAT(slow_context->Scan(fields, &slow_hits), IsOk());
            ASSERT_EQ(fast_hits.size(), slow_hits.size()) << idiom << " on \"" << title << "\"";
            for (size_t i = 0; i < fast_hits.size(); ++i) {
              EXPECT_EQ(fast_hits[i].term, slow_hits[i].term);
              EXPECT_EQ(fast_hits[i].field, slow_hits[i].field);
              EXPECT_EQ(fast_hits[i].start, slow_hits[i].start)
                  << idiom << " on \"" << title << "\"";
              EXPECT_EQ(fast_hits[i].end, slow_hits[i].end) << idiom << " on \"" << title << "\"";
            }
          }
        }
      }
    }
  }
}

// Compares the hits of two single-term matchers over the same texts (title and body).
void ExpectSameHits(const TermSpec& fast, const TermSpec& slow, const MatcherOptions& fast_options,
                    const MatcherOptions& slow_options, const std::vector<std::string>& texts) {
  SW_ASSERT_OK_AND_ASSIGN(auto fast_matcher, Matcher::Create({fast}, fast_options));
  SW_ASSERT_OK_AND_ASSIGN(auto slow_matcher, Matcher::Create({slow}, slow_options));
  SW_ASSERT_OK_AND_ASSIGN(auto fast_context, MatchContext::Create(fast_matcher));
  SW_ASSERT_OK_AND_ASSIGN(auto slow_context, MatchContext::Create(slow_matcher));
  size_t total = 0;
  for (const std::string& title : texts) {
    for (const std::string& body : texts) {
      const std::string_view fields[] = {title, body};
      std::vector<Hit> fast_hits, slow_hits;
      ASSERT_THAT(fast_context->Scan(fields, &fast_hits), IsOk());
      ASSERT_THAT(slow_context->Scan(fields, &slow_hits), IsOk());
      ASSERT_EQ(fast_hits.size(), slow_hits.size())
          << fast.text << " on \"" << title << "\" / \"" << body << "\"";
      for (size_t i = 0; i < fast_hits.size(); ++i) {
        EXPECT_EQ(fast_hits[i].field, slow_hits[i].field) << fast.text << " on " << title;
        EXPECT_EQ(fast_hits[i].start, slow_hits[i].start) << fast.text << " on " << title;
        EXPECT_EQ(fast_hits[i].end, slow_hits[i].end) << fast.text << " on " << title;
      }
      total += fast_hits.size();
    }
  }
  EXPECT_GT(total, 0u) << fast.text << ": the texts must exercise the term";
}

// A case-sensitive literal is found through its fold and compared with the original; the
// reference is the same text as a case-sensitive regex with exact starts (Hyperscan over the
// original text).
TEST(MatcherTest, CaseSensitiveLiteralsMatchAsOverTheOriginal) {
  const std::vector<std::string> texts = {"PRC and the prc, Prc, PRCs, (PRC) PRC-led",
                                          "Xi met xi; XI; Xi’s visit; Xi\n  Jinping",
                                          "ҚХР мен қхр, ҚХР-да",
                                          "İİ  PRC  LNG’s  lng LNG",
                                          "C5+1 and c5+1",
                                          "",
                                          "Xi  Jinping, Xi Jinping, xi jinping"};
  MatcherOptions som;
  som.regex_start_offsets = true;
  const std::vector<std::pair<std::string, std::string>> terms = {
      {"PRC", "PRC"}, {"Xi", "Xi"},       {"ҚХР", "ҚХР"},
      {"LNG", "LNG"}, {"C5+1", "C5\\+1"}, {"Xi Jinping", "Xi Jinping"}};
  for (bool whole_word : {false, true}) {
    for (const auto& [literal, regex] : terms) {
      TermSpec fast{literal, TermSpec::Kind::kLiteral, true, whole_word};
      TermSpec slow{regex, TermSpec::Kind::kRegex, true, whole_word};
      ExpectSameHits(fast, slow, MatcherOptions{}, som, texts);
    }
  }
}

// A regex of plain and optional characters becomes literals of its spellings; the reference is
// the same regex spelled so that Hyperscan runs it.
TEST(MatcherTest, SimpleRegexesMatchAsHyperscanRegexes) {
  const std::vector<std::string> texts = {
      "C5+1 and c5 + 1, c5 +1, c5+ 1, c5  +  1, xc5+1, c5+12", "С5+1 и с5 + 1 саммит",
      "the colour, the color; COLOR, colours", "", "e-mail, email, E-Mail, e mail"};
  const std::vector<std::pair<std::string, std::string>> regexes = {
      {"c5 ?\\+ ?1", "(?:c5 ?\\+ ?1)"},
      {"с5 ?\\+ ?1", "(?:с5 ?\\+ ?1)"},
      {"colou?r", "(?:colou?r)"},
      {"e-?mail", "(?:e-?mail)"}};
  for (bool whole_word : {false, true}) {
    for (const auto& [simple, spelled] : regexes) {
      TermSpec fast{simple, TermSpec::Kind::kRegex, false, whole_word};
      TermSpec slow{spelled, TermSpec::Kind::kRegex, false, whole_word};
      SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create({fast}, MatcherOptions{}));
      EXPECT_EQ(matcher->stats().regex_terms, 1u);
      ExpectSameHits(fast, slow, MatcherOptions{}, MatcherOptions{}, texts);
    }
  }
}

// Several length terms on one field share its hit's span; long fields (thousands of two-byte
// characters, whose byte count alone does not decide) are counted exactly. Hyperscan cannot
// compile bounds this large, so the expected hits are counted here: a term hits when the field's
// code points are in its range, from the start of the field's last word to its end.
TEST(MatcherTest, WholeFieldLengthRegexesCountLongFieldsAndShareTheirSpan) {
  const std::vector<TermSpec> terms = {Regex("^[\\s\\S]{1,5000}$"), Regex("^[\\s\\S]{1,400}$"),
                                       Regex("^.{4990,}$")};
  const std::pair<size_t, size_t> ranges[] = {{1, 5000}, {1, 400}, {4990, SIZE_MAX}};
  auto repeat = [](std::string_view piece, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += piece;
    return out;
  };
  // No folds that change lengths or collapse spaces: the folded field counts as the original.
  const std::vector<std::string> texts = {repeat("Ж", 4990),
                                          repeat("Ж", 4989),
                                          repeat("Ж", 5000),
                                          repeat("Ж", 5001),
                                          repeat("ab Жc ", 832) + "Жx",
                                          repeat("ab Жc ", 834),
                                          repeat("Қазақ ", 399),
                                          repeat("x", 401),
                                          "short words, end"};
  SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create(terms, MatcherOptions{}));
  SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
  size_t total = 0;
  for (const std::string& text : texts) {
    const std::string_view fields[] = {"a body", text};
    std::vector<Hit> hits;
    ASSERT_THAT(context->Scan(fields, &hits), IsOk());
    size_t chars = 0;
    for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    const size_t space = text.rfind(' ');
    const uint32_t word = space == std::string::npos ? 0 : static_cast<uint32_t>(space + 1);
    std::vector<std::string> expected, found;
    for (TermId t = 0; t < 3; ++t) {
      if (chars >= ranges[t].first && chars <= ranges[t].second) {
        expected.push_back(absl::StrCat(t, ":", word, "-", text.size()));
      }
    }
    for (const Hit& h : hits) {
      if (h.field == 1) found.push_back(absl::StrCat(h.term, ":", h.start, "-", h.end));
    }
    std::sort(found.begin(), found.end());
    EXPECT_EQ(found, expected) << text.size() << " bytes, " << chars << " characters";
    total += found.size();
  }
  EXPECT_GT(total, texts.size());
}

// The count stops early once the rest of the field decides (every 16 blocks): over random
// fields of one- to four-byte characters whose counts fall on both sides of each range's
// bounds, every term must hit exactly when the field's code points are in its range.
TEST(MatcherTest, WholeFieldLengthCountsDecideEarlyOnlyWhenTheRestCannotChangeTheAnswer) {
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {1, 400}, {1, 5000}, {100, 120}, {300, 1000}, {2000, 100000}, {257, 258}};
  std::vector<TermSpec> terms;
  for (const auto& [lo, hi] : ranges) {
    terms.push_back(Regex(absl::StrCat("^[\\s\\S]{", lo, ",", hi, "}$")));
  }
  SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create(terms, MatcherOptions{}));
  SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
  auto check = [&](const std::string& text, const std::string& what) {
    size_t chars = 0;
    for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    const std::string_view fields[] = {text};
    std::vector<Hit> hits;
    ASSERT_THAT(context->Scan(fields, &hits), IsOk());
    std::vector<TermId> expected, found;
    for (TermId t = 0; t < ranges.size(); ++t) {
      if (chars >= ranges[t].first && chars <= ranges[t].second) expected.push_back(t);
    }
    for (const Hit& h : hits) found.push_back(h.term);
    std::sort(found.begin(), found.end());
    ASSERT_EQ(found, expected) << what << ": " << text.size() << " bytes, " << chars
                               << " characters";
  };
  // Exactly at, under and over each bound, with four-byte characters at the end so that the
  // last blocks split one at every alignment (the rest then starts with continuation bytes).
  for (const auto& [lo, hi] : ranges) {
    for (uint32_t bound : {lo, hi}) {
      if (bound > 6000) continue;
      for (uint32_t total = bound > 5 ? bound - 1 : 5; total <= bound + 1; ++total) {
        for (uint32_t k = 0; k < 9 && k < total; ++k) {
          std::string text(total - k, 'a');
          for (uint32_t e = 0; e < k; ++e) text += "😀";
          ASSERT_NO_FATAL_FAILURE(check(text, absl::StrCat("bound ", bound, ", ", k)));
        }
      }
    }
  }
  const std::vector<std::string> characters = {"a", "ж", "哈", "😀"};
  std::mt19937 rng(16);
  for (int round = 0; round < 3000; ++round) {
    // A count near one of the bounds, in characters of one width or of mixed widths.
    const auto& [lo, hi] = ranges[rng() % ranges.size()];
    const int64_t bound = std::min<uint32_t>(rng() % 2 ? lo : hi, 6000);
    const auto target =
        static_cast<uint32_t>(std::max<int64_t>(1, bound + static_cast<int64_t>(rng() % 5) - 2));
    const int width = static_cast<int>(rng() % 5);  // 4: mixed
    std::string text;
    for (uint32_t c = 0; c + 4 < target; ++c) {
      text += characters[width < 4 ? width : rng() % 4];
    }
    text += " end";
    ASSERT_NO_FATAL_FAILURE(check(text, absl::StrCat("round ", round)));
  }
}

// Hits come back sorted by (field, start, end, term) without repeats, whether Hyperscan's order
// is nearly sorted (few overlapping terms: the insertion sort) or far from it (phrases of 1 to
// 40 words over 300 repeated words: every end reports 40 hits in descending start order, which
// exhausts the insertion sort's moves budget and goes to std::sort).
TEST(MatcherTest, ManyOverlappingHitsComeBackSortedWithoutRepeats) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "a ";
  for (size_t words : {2, 40}) {
    std::vector<TermSpec> terms;
    std::string phrase = "a";
    for (size_t k = 1; k <= words; ++k, phrase += " a") terms.push_back(Lit(phrase));
    terms.push_back(Lit("a"));  // shares its pattern with the first term
    MatcherOptions options;
    options.max_hits_per_item = 100000;
    SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create(terms, options));
    SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
    const std::string_view fields[] = {"a a", text};
    std::vector<Hit> hits;
    ASSERT_THAT(context->Scan(fields, &hits), IsOk());
    size_t expected = 0;
    for (size_t f = 0; f < 2; ++f) {
      const size_t n = f == 0 ? 2 : 300;
      for (size_t k = 1; k <= words && k <= n; ++k) expected += (n - k + 1) * (k == 1 ? 2 : 1);
    }
    EXPECT_EQ(hits.size(), expected) << words;
    for (size_t i = 1; i < hits.size(); ++i) {
      const Hit& a = hits[i - 1];
      const Hit& b = hits[i];
      ASSERT_TRUE(std::tie(a.field, a.start, a.end, a.term) <
                  std::tie(b.field, b.start, b.end, b.term))
          << words << " words, hit " << i;
    }
  }
}

// A phrase of word prefixes, as the rule language compiles "пункт* пропуск*", is matched
// through its first chunk in the literal database and walked by the callback; the reference is
// the same regex with its rests spelled `{0,}`, which Hyperscan runs. Hand-written texts for the
// edges (punctuation, CJK and digits after a rest, white-space runs, ё, Kazakh letters, the
// non-ASCII dash, overlapping starts, a phrase across the two fields) and random mixes of them.
// One test per phrase and whole-word setting (18): the texts are the same for each, and one test
// of all of them took 100 s under ASan on a 2.0 GHz VM without AVX-512, near the unit tests' 120
// s limit.
class WordPhraseTest : public ::testing::TestWithParam<int> {};

TEST_P(WordPhraseTest, MatchesAsTheHyperscanRegex) {
  const std::string rest = "[^\\s!-/:-@\\[-`{-~]*";
  const std::string spelled_rest = "[^\\s!-/:-@\\[-`{-~]{0,}";
  const std::string non_space = "[^ ]+", spelled_non_space = "[^ ]{1,}";
  const std::vector<std::string> phrases = {"пункт" + rest + " пропуск" + rest,
                                            "пункт" + rest + " пропуска",
                                            "премьер\\-министр" + rest + " болып тағайындал" + rest,
                                            "Совещани" + rest + " по взаимодействию",
                                            "the" + rest + " gov" + rest + " of" + rest,
                                            "ҒА" + rest + " ЖҰМ" + rest,
                                            "биыл [^ ]+ жыл",
                                            "жыл [^ ]+",
                                            "пункт" + rest + " [^ ]+ по" + rest};
  std::vector<std::string> texts = {
      "Пункты пропуска, пунктов пропуска» и ПУНКТ  ПРОПУСКА; пункт\u00a0пропуск中 пункт пропуск1",
      "непункт пропусками… пунктпункт пропуска-2 пункт, пропуска пункт пропускАлло",
      "Премьер\u2011министрі болып тағайындалды. премьер-министр болып Тағайындалған",
      "Совещания по взаимодействию и мерам; совещание по взаимодействиюю; Совещаний по",
      "The governor of Texas, theory govs ofx, the gov of; thegov of",
      "ғалым жұмысы, ҒАЛЫМ ЖҰМ, ғаҒ жұмЁ, ғаш\u00a0\u00a0жұм",
      "пункт",
      "пропуска пункт",
      "Биыл 30 жыл, биыл — жылы; биылғы «мерейтойлы» жыл. биыл  x\u00a0жыл жыл,? биыл жыл",
      "пункт — по, пункты а-б под; жыл ёлка жылы",
      "биыл 2,5 жыл және биыл (1) жыл, пункт ?! по"};
  std::mt19937 random(16);
  const std::vector<std::string> pieces = {"биыл",       "жыл",     "Жыл",
                                           "—",          "?",       "пункт",
                                           "ы",          "пропуск", "а",
                                           " ",          "  ",      "\n",
                                           "-",          "\u2011",  ",",
                                           "»",          "ё",       "Ё",
                                           "премьер",    "министр", "болып",
                                           "тағайындал", "ды",      "ғ",
                                           "Ғ",          "жұм",     "ҒА",
                                           "x",          "1",       "中",
                                           "\u00a0",     "é",       "İ",
                                           "the",        "gov",     "of",
                                           "Совещани",   "по",      "взаимодействию",
                                           "\xff"};
  for (int t = 0; t < 400; ++t) {
    std::string text;
    const int n = 1 + static_cast<int>(random() % 14);
    for (int k = 0; k < n; ++k) text += pieces[random() % pieces.size()];
    texts.push_back(text);
  }
  ASSERT_EQ(phrases.size(), 9u);
  const bool whole_word = GetParam() >= 9;
  const std::string& phrase = phrases[static_cast<size_t>(GetParam() % 9)];
  TermSpec fast{phrase, TermSpec::Kind::kRegex, false, whole_word};
  std::string spelled = phrase;
  for (size_t at = spelled.find(rest); at != std::string::npos;
       at = spelled.find(rest, at + spelled_rest.size())) {
    spelled.replace(at, rest.size(), spelled_rest);
  }
  for (size_t at = spelled.find(non_space); at != std::string::npos;
       at = spelled.find(non_space, at + spelled_non_space.size())) {
    spelled.replace(at, non_space.size(), spelled_non_space);
  }
  TermSpec slow{spelled, TermSpec::Kind::kRegex, false, whole_word};
  SW_ASSERT_OK_AND_ASSIGN(auto fast_matcher, Matcher::Create({fast}, MatcherOptions{}));
  SW_ASSERT_OK_AND_ASSIGN(auto slow_matcher, Matcher::Create({slow}, MatcherOptions{}));
  EXPECT_EQ(fast_matcher->stats().word_phrase_terms, 1u) << phrase;
  EXPECT_EQ(slow_matcher->stats().word_phrase_terms, 0u) << spelled;
  ExpectSameHits(fast, slow, MatcherOptions{}, MatcherOptions{}, texts);
}

INSTANTIATE_TEST_SUITE_P(MatcherTest, WordPhraseTest, ::testing::Range(0, 18));

// What a word phrase may not be: the callback could not walk it in one way (a rest followed by a
// character it could hold, two rests), or its characters' folded forms are not certain (ё, k).
// Hyperscan runs it.
TEST(MatcherTest, OtherRegexesWithWordRestsGoToHyperscan) {
  const std::string rest = "[^\\s!-/:-@\\[-`{-~]*";
  for (const std::string& regex :
       {"пункт" + rest + "пропуск", rest + " пункт", "пункт" + rest + rest + " по",
        "ёлк" + rest + " пропуск", "kaz" + rest + " oil", "пункт" + rest + " (а|б)",
        std::string("биыл [^ ]+жыл"), std::string("биыл [^ ]+[^ ]+ жыл"),
        std::string("биыл [^ ]* жыл")}) {
    SW_ASSERT_OK_AND_ASSIGN(auto matcher,
                            Matcher::Create({TermSpec{regex, TermSpec::Kind::kRegex}}, {}));
    EXPECT_EQ(matcher->stats().word_phrase_terms, 0u) << regex;
  }
  // Hyperscan's ё (caseless: ё, Ё) never meets folded text, where both are е: the literal "елк"
  // a phrase would search for would find both words.
  EXPECT_THAT(Find({TermSpec{"ёлк" + rest + " пропуск", TermSpec::Kind::kRegex}},
                   {"Ёлки пропуск, елки пропуск"}),
              IsEmpty());
}

// With a minimum of 0 the shortcut stays out of the way: Hyperscan compiles and runs it.
TEST(MatcherTest, WholeFieldLengthRegexWithZeroMinimumGoesToHyperscan) {
  SW_ASSERT_OK_AND_ASSIGN(auto matcher,
                          Matcher::Create({Regex("^[\\s\\S]{0,4}$")}, MatcherOptions{}));
  EXPECT_GT(matcher->stats().database_bytes, 0u);
  EXPECT_THAT(Find({Regex("^[\\s\\S]{0,4}$")}, {"ab c", "abcde"}), ElementsAre("0:0:c"));
}

TEST(MatcherTest, WholeFieldLengthRegexHitsAlongsideOtherTerms) {
  EXPECT_THAT(Find({Regex("^[\\s\\S]{1,20}$"), Lit("astana"), Regex("ast[a-z]+")},
                   {"Astana today", "A body far longer than twenty characters about Astana"}),
              ElementsAre("1:0:Astana", "2:0:Astana", "0:0:today", "1:1:Astana", "2:1:Astana"));
}

TEST(MatcherTest, ScansSeveralFieldsAndSortsByFieldThenOffset) {
  EXPECT_THAT(Find({Lit("b"), Lit("a")}, {"b a", "", "a b"}),
              ElementsAre("0:0:b", "1:0:a", "1:2:a", "0:2:b"));
}

TEST(MatcherTest, ReportsTermsAndStats) {
  SW_ASSERT_OK_AND_ASSIGN(auto matcher,
                          Matcher::Create({Lit("a"), Regex("b+"), Lit("a")}, MatcherOptions{}));
  EXPECT_EQ(matcher->term_count(), 3u);
  EXPECT_EQ(matcher->term(1).text, "b+");
  EXPECT_EQ(matcher->stats().literal_terms, 2u);
  EXPECT_EQ(matcher->stats().regex_terms, 1u);
  EXPECT_GT(matcher->stats().database_bytes, 0u);
  EXPECT_FALSE(matcher->stats().from_cache);
}

// Terms that share a folded pattern but not their word checks: a match inside a longer word is
// rejected before the targets are read only when none of the pattern's terms would take it.
TEST(MatcherTest, TermsSharingAPatternKeepTheirOwnWordChecks) {
  TermSpec substring = Lit("port");
  substring.whole_word = false;
  const std::vector<TermSpec> terms = {Lit("port"), substring, Prefix("port")};
  EXPECT_EQ(Find(terms, {"reports"}), std::vector<std::string>({"1:0:port"}));
  EXPECT_EQ(Find(terms, {"reporting"}), std::vector<std::string>({"1:0:port"}));
  EXPECT_EQ(Find(terms, {"portable"}), std::vector<std::string>({"1:0:port", "2:0:port"}));
  EXPECT_EQ(Find(terms, {"a port."}),
            std::vector<std::string>({"0:0:port", "1:0:port", "2:0:port"}));
  EXPECT_THAT(Find({Lit("port"), Prefix("port")}, {"reports", "report"}), IsEmpty());
}

// The match callback decides a match next to a letter from the reported id alone when the
// literal is shorter than 32 bytes (the id carries its length and word-check freedoms), and from
// the pattern's info otherwise: both sides of that limit keep whole-word hits, reject hits
// inside longer words, and let prefixes and substring terms through.
TEST(MatcherTest, WordChecksHoldOnBothSidesOfTheIdHintLength) {
  const std::string w31 = "abcdefghijklmnopqrstuvwxyzabcde";
  const std::string w32 = w31 + "f";
  ASSERT_EQ(w31.size(), 31u);
  TermSpec substring31 = Lit(w31);
  substring31.whole_word = false;
  TermSpec substring32 = Lit(w32);
  substring32.whole_word = false;
  const std::vector<TermSpec> words = {Lit(w31), Lit(w32)};
  // w31 ends inside w32 (a letter after it); the title and the body both.
  EXPECT_EQ(Find(words, {w32, "an " + w32 + "."}),
            std::vector<std::string>({"1:0:" + w32, "1:1:" + w32}));
  EXPECT_EQ(Find(words, {w31 + " " + w32}), std::vector<std::string>({"0:0:" + w31, "1:0:" + w32}));
  EXPECT_THAT(Find(words, {"x" + w31, "x" + w32, "9" + w32 + "9"}), IsEmpty());
  EXPECT_EQ(Find({Prefix(w31), Prefix(w32)}, {w31 + "s", "x" + w32 + "s " + w32 + "s"}),
            std::vector<std::string>({"0:0:" + w31, "0:1:" + w31, "1:1:" + w32}));
  EXPECT_EQ(Find({substring31, substring32}, {"x" + w31 + "y", "x" + w32 + "y"}),
            std::vector<std::string>({"0:0:" + w31, "0:1:" + w31, "1:1:" + w32}));
}

// The word checks answer an ASCII neighbour from a table and any other by decoding it: for every
// ASCII character and some others on either side of whole-word terms (ASCII, Cyrillic, ending
// in a digit or in punctuation), a hit must be reported exactly when normalise's boundary
// functions accept both edges of the original text.
TEST(MatcherTest, WordChecksOnAsciiNeighboursAgreeWithTheBoundaryFunctions) {
  std::vector<std::string> neighbours;
  for (int c = 1; c < 128; ++c) neighbours.emplace_back(1, static_cast<char>(c));
  for (const char* other : {"ж", "Қ", "é", "哈", "’", "—", "\u00a0", "\u0301"}) {
    neighbours.emplace_back(other);
  }
  const std::vector<std::string> words = {"ab", "жа", "c5", "x-"};
  std::vector<TermSpec> terms;
  for (const std::string& w : words) terms.push_back(Lit(w));
  // The same words as substrings share the patterns, so that a letter next to a match does not
  // reject it before the word checks (OnJoinedMatch's early test).
  for (const std::string& w : words) {
    TermSpec substring = Lit(w);
    substring.whole_word = false;
    terms.push_back(substring);
  }
  SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create(terms, MatcherOptions{}));
  SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
  size_t hits_seen = 0;
  for (TermId t = 0; t < words.size(); ++t) {
    for (const std::string& before : neighbours) {
      for (const std::string& after : {std::string("."), std::string("q"), before}) {
        const std::string text = before + words[t] + after;
        const std::string_view fields[] = {text};
        std::vector<Hit> hits;
        ASSERT_THAT(context->Scan(fields, &hits), IsOk());
        const size_t start = before.size();
        const size_t end = start + words[t].size();
        // Every word starts with a letter; all but "x-" end with a letter or digit.
        const bool expected = normalise::IsBoundaryBefore(text, start) &&
                              (words[t] == "x-" || normalise::IsBoundaryAfter(text, end));
        bool found = false;
        for (const Hit& h : hits) found |= h.term == t && h.start == start && h.end == end;
        EXPECT_EQ(found, expected) << "\"" << text << "\"";
        hits_seen += found;
      }
    }
  }
  EXPECT_GT(hits_seen, 100u);
}

TEST(MatcherTest, EmptyTermSetMatchesNothing) { EXPECT_THAT(Find({}, {"anything"}), IsEmpty()); }

struct BadTermCase {
  const char* name;
  std::vector<TermSpec> terms;
  std::string message;
};

class BadTermTest : public ::testing::TestWithParam<BadTermCase> {};

TEST_P(BadTermTest, IsRejectedWithTermIndexTextAndReason) {
  EXPECT_THAT(Matcher::Create(GetParam().terms, MatcherOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Terms, BadTermTest,
    ::testing::Values(
        BadTermCase{"Empty", {Lit("ok"), Lit("")}, "term 1 \"\": empty or whitespace-only term"},
        BadTermCase{"Whitespace", {Lit(" \t\u00a0 ")}, "term 0 \" \t\u00a0 \": empty"},
        BadTermCase{"StarOnlyPrefix", {Lit("x"), Prefix("*")}, "term 1 \"*\": empty"},
        BadTermCase{"EmptyRegex", {Regex("")}, "term 0 \"\": empty or whitespace-only regex"},
        BadTermCase{"BadRegex", {Lit("fine"), Regex("a(b")}, "term 1 \"a(b\": Missing close"},
        BadTermCase{"RegexMatchingEmpty", {Regex("x*")}, "term 0 \"x*\": Pattern matches empty"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MatcherTest, TruncatesAtMaxHitsPerItem) {
  MatcherOptions options;
  options.max_hits_per_item = 5;
  SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create({Lit("ab")}, options));
  SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
  std::vector<Hit> hits;
  std::string text;
  for (int i = 0; i < 100; ++i) text += "ab ";
  ASSERT_THAT(context->Scan({text}, &hits), IsOk());
  EXPECT_EQ(hits.size(), 5u);
  EXPECT_TRUE(context->truncated());
  ASSERT_THAT(context->Scan({"ab ab"}, &hits), IsOk());
  EXPECT_EQ(hits.size(), 2u);
  EXPECT_FALSE(context->truncated());
}

TEST(MatcherTest, InvalidUtf8IsAnItemErrorForCaseSensitiveRegexesAndSafeOtherwise) {
  const std::string bad = "Astana \xff\xfe Astana";
  EXPECT_THAT(Find({Lit("astana"), Regex("ast[a-z]+")}, {bad}),
              ElementsAre("0:0:Astana", "1:0:Astana", "0:0:Astana", "1:0:Astana"));
  SW_ASSERT_OK_AND_ASSIGN(
      auto matcher,
      Matcher::Create({TermSpec{"A.", TermSpec::Kind::kRegex, true}}, MatcherOptions{}));
  SW_ASSERT_OK_AND_ASSIGN(auto context, MatchContext::Create(matcher));
  std::vector<Hit> hits;
  EXPECT_THAT(context->Scan({bad}, &hits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
}

// The cache: a second Create with the same terms loads instead of compiling; a different term
// set misses; a corrupt file or a file from another Hyperscan version is recompiled and
// rewritten, and the resulting matcher finds the same hits.
class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override { options_.cache_dir = steppewatch::testing::MakeTempDir("sw-hscache"); }

  std::vector<std::filesystem::path> CacheFiles() {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(options_.cache_dir)) {
      files.push_back(e.path());
    }
    return files;
  }

  static std::string ReadFile(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static void WriteFile(const std::filesystem::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
  }

  std::shared_ptr<const Matcher> Create(const std::vector<TermSpec>& terms) {
    auto m = Matcher::Create(terms, options_);
    EXPECT_THAT(m, IsOk());
    return m.ok() ? *m : nullptr;
  }

  static size_t CountHits(const std::shared_ptr<const Matcher>& m, std::string_view text) {
    auto context = MatchContext::Create(m);
    std::vector<Hit> hits;
    EXPECT_THAT((*context)->Scan({text}, &hits), IsOk());
    return hits.size();
  }

  MatcherOptions options_;
  const std::vector<TermSpec> terms_ = {Lit("Astana"), Prefix("Kazakh"), Regex("tokay[a-z]+"),
                                        TermSpec{"KZ", TermSpec::Kind::kLiteral, true}};
  const std::string text_ = "Astana: Kazakhstan's Tokayev, KZ.";
};

TEST_F(CacheTest, MissThenHit) {
  auto first = Create(terms_);
  EXPECT_FALSE(first->stats().from_cache);
  ASSERT_EQ(CacheFiles().size(), 1u);
  auto second = Create(terms_);
  EXPECT_TRUE(second->stats().from_cache);
  EXPECT_EQ(CountHits(second, text_), 4u);
  EXPECT_EQ(CountHits(first, text_), 4u);
}

TEST_F(CacheTest, OtherTermSetOrOptionsMiss) {
  Create(terms_);
  auto other = Create({Lit("Almaty")});
  EXPECT_FALSE(other->stats().from_cache);
  options_.regex_start_offsets = true;
  EXPECT_FALSE(Create(terms_)->stats().from_cache);
  EXPECT_EQ(CacheFiles().size(), 3u);
}

TEST_F(CacheTest, CorruptFileIsRecompiledAndRewritten) {
  Create(terms_);
  const auto file = CacheFiles().at(0);
  std::string data = ReadFile(file);
  data[data.size() / 2] ^= 0x5a;  // inside the literal database blob
  WriteFile(file, data);
  auto recompiled = Create(terms_);
  EXPECT_FALSE(recompiled->stats().from_cache);
  EXPECT_EQ(CountHits(recompiled, text_), 4u);
  EXPECT_TRUE(Create(terms_)->stats().from_cache) << "the corrupt file was rewritten";

  WriteFile(file, data.substr(0, 20));  // truncated
  EXPECT_FALSE(Create(terms_)->stats().from_cache);
  WriteFile(file, "");
  EXPECT_FALSE(Create(terms_)->stats().from_cache);
  EXPECT_TRUE(Create(terms_)->stats().from_cache);
}

TEST_F(CacheTest, FileFromAnotherHyperscanVersionIsRecompiled) {
  Create(terms_);
  const auto file = CacheFiles().at(0);
  std::string data = ReadFile(file);
  // The file records the Hyperscan version string ("5.4.0 2023-..."); pretend another build
  // wrote it. The version is also part of the file name, so this is a renamed foreign file.
  const std::string version = "5.4.0";
  const size_t at = data.find(version);
  ASSERT_NE(at, std::string::npos);
  data.replace(at, version.size(), "9.9.9");
  WriteFile(file, data);
  auto recompiled = Create(terms_);
  EXPECT_FALSE(recompiled->stats().from_cache);
  EXPECT_EQ(CountHits(recompiled, text_), 4u);
  EXPECT_TRUE(Create(terms_)->stats().from_cache);
}

TEST_F(CacheTest, NoTempFilesAreLeftBehind) {
  Create(terms_);
  Create({Lit("Almaty")});
  for (const auto& f : CacheFiles()) {
    EXPECT_EQ(f.extension(), ".bin") << f;
  }
}

TEST(MatcherTest, UnwritableCacheDirStillCompiles) {
  MatcherOptions options;
  options.cache_dir = "/proc/steppewatch-no-such-dir";
  SW_ASSERT_OK_AND_ASSIGN(auto matcher, Matcher::Create({Lit("x")}, options));
  EXPECT_FALSE(matcher->stats().from_cache);
}

}  // namespace
}  // namespace steppewatch::match

namespace steppewatch::match {
namespace {

TEST(MatchContextFolded, KeepsEveryFieldsFoldedTextAfterTheScan) {
  auto matcher = Matcher::Create({TermSpec{"astana"}}, {});
  ASSERT_TRUE(matcher.ok());
  auto context = MatchContext::Create(*matcher);
  ASSERT_TRUE(context.ok());
  std::vector<Hit> hits;
  std::vector<std::string_view> fields = {"ASTANA  Talks", "Тоҡаев\tи ASTANA"};
  ASSERT_TRUE((*context)->Scan(fields, &hits).ok());
  EXPECT_EQ((*context)->folded(0), "astana talks");
  EXPECT_EQ((*context)->folded(1), "тоҡаев и astana");
  EXPECT_EQ((*context)->folded(2), "");
  // The next scan replaces them, also with fewer fields.
  ASSERT_TRUE((*context)->Scan({std::string_view("Almaty")}, &hits).ok());
  EXPECT_EQ((*context)->folded(0), "almaty");
  EXPECT_EQ((*context)->folded(1), "");
}

TEST(MatchContextFolded, IsKeptWhenOnlyCaseSensitiveTermsExist) {
  // Case-sensitive literals are found through their fold, so the text is folded for them too.
  auto matcher = Matcher::Create({TermSpec{"CSTO", TermSpec::Kind::kLiteral, true}}, {});
  ASSERT_TRUE(matcher.ok());
  auto context = MatchContext::Create(*matcher);
  ASSERT_TRUE(context.ok());
  std::vector<Hit> hits;
  ASSERT_TRUE((*context)->Scan({std::string_view("CSTO summit, csto")}, &hits).ok());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].start, 0u);
  EXPECT_EQ(hits[0].end, 4u);
  EXPECT_EQ((*context)->folded(0), "csto summit, csto");
}

}  // namespace
}  // namespace steppewatch::match
