// The word lookup of a large pack's whole-word literals (MatcherOptions::word_lookup_min_literals,
// internal::WordTable) against the same pack on the Hyperscan-only path: the same hits, at the
// same offsets, for random and real texts in several scripts, and the same hits kept when an
// item stops at max_hits.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/normalise/utf8.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::match {
namespace {

using ::steppewatch::testing::IsOk;

std::string Utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

bool NeedsBoundary(char32_t cp) { return normalise::IsWordChar(cp) && !normalise::IsCjk(cp); }

// What the word lookup rests on: a character whose fold needs a word boundary needs one itself,
// so a run of such characters in folded text never continues past an original neighbour that
// passes a word check. Every code point, folded alone.
TEST(WordLookup, AFoldNeedsABoundaryOnlyWhereItsOriginalDoes) {
  size_t word_chars = 0;
  for (char32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string folded = normalise::FoldToString(Utf8(cp));
    const normalise::CodePoint f = normalise::DecodeAt(folded, 0);
    ASSERT_EQ(f.length, folded.size()) << "U+" << std::hex << static_cast<uint32_t>(cp);
    if (NeedsBoundary(f.cp)) {
      ++word_chars;
      EXPECT_TRUE(NeedsBoundary(cp)) << "U+" << std::hex << static_cast<uint32_t>(cp);
    }
  }
  EXPECT_GT(word_chars, 20000u);
}

// The pack: real words of several scripts and enough generated ones to take the word lookup
// at the default threshold, as single whole words and beside terms that must stay with
// Hyperscan (prefixes, case-sensitive words, substrings, phrases, regexes, words with joiners,
// CJK) or that share a word's pattern.
std::vector<TermSpec> Pack() {
  std::vector<TermSpec> terms;
  auto lit = [&](std::string text, bool whole_word = true, bool case_sensitive = false) {
    terms.push_back(
        TermSpec{std::move(text), TermSpec::Kind::kLiteral, case_sensitive, whole_word});
  };
  for (const char* w :
       {"Kazakhstan", "Astana",    "Almaty", "gas",      "oil",        "Tokayev",
        "port",       "c5",        "2024",   "İstanbul", "Istanbul",   "ılık",
        "Горбачев",   "Казахстан", "Россия", "политика", "соглашение", "Қазақстан",
        "Әлихан",     "ұлттық",    "үкімет", "Ақтөбе",   "Шымкент",    "Oʻzbekiston",
        "naïve",      "café",      "Ελλάδα", "straße",   "ǅemal",      "κόσμος",
        "e\xCC\x81",  "а",         "i",      "Sultan",   "Jinping",    "pipeline"}) {
    lit(w);
  }
  // Sharing a pattern with a word: not a whole word, a prefix, case-sensitive.
  lit("astana", false);
  terms.push_back(TermSpec{"Almaty", TermSpec::Kind::kPrefix});
  lit("Oil", true, true);
  lit("Port", true, true);
  // Other Hyperscan terms.
  for (const char* w : {"Xi Jinping", "Nur-Sultan", "o'zbekiston", "北京", "中国", "gas pipeline",
                        "Kazakh", "Қазақ", "Ta'", "a-b", "c++", "Tokayev's"}) {
    lit(w);
  }
  terms.push_back(TermSpec{"Kazakh", TermSpec::Kind::kPrefix});
  // Patterns of several words (or a word and more) that start with a word and check their
  // start: looked up by their first word. A prefix of two words, a case-sensitive phrase, one
  // that does not check its start.
  terms.push_back(TermSpec{"Xi Jin", TermSpec::Kind::kPrefix});
  terms.push_back(TermSpec{"Gas pipeline", TermSpec::Kind::kLiteral, true});
  lit("gas pip", false);
  lit("Astana Almaty");
  lit("Astana-");
  terms.push_back(TermSpec{"внешн", TermSpec::Kind::kPrefix});
  terms.push_back(TermSpec{"c5 ?\\+ ?1", TermSpec::Kind::kRegex});
  terms.push_back(
      TermSpec{"внешн[^\\s!-/:-@\\[-`{-~]* политик[^\\s!-/:-@\\[-`{-~]*", TermSpec::Kind::kRegex});
  terms.push_back(TermSpec{"gas(prom)?", TermSpec::Kind::kRegex});
  // Generated words: 9,000 of 2 to 9 letters of Latin, Cyrillic and Kazakh alphabets (with
  // repeats, which share a pattern).
  const std::vector<std::string> alphabet = [] {
    std::vector<std::string> a;
    for (char c = 'a'; c <= 'h'; ++c) a.push_back(std::string(1, c));
    for (const char* c : {"а", "б", "в", "г", "д", "ә", "қ", "ң", "ө", "ү", "і", "1", "2"}) {
      a.push_back(c);
    }
    return a;
  }();
  std::mt19937 rng(16);
  std::vector<std::string> generated;
  for (int i = 0; i < 9000; ++i) {
    const int n = 2 + static_cast<int>(rng() % 8);
    std::string w;
    for (int k = 0; k < n; ++k) w += alphabet[rng() % alphabet.size()];
    lit(w);
    generated.push_back(w);
  }
  // And 1,000 two-word phrases of them (the watch lists' "two-word capitalised phrases").
  for (int i = 0; i < 1000; ++i) {
    lit(generated[rng() % 200] + (rng() % 4 == 0 ? "-" : " ") + generated[rng() % 200]);
  }
  return terms;
}

// Pieces random texts are made of: words of the pack in case variants, pieces of words,
// joiners, marks, spaces, punctuation, CJK, invalid bytes.
std::vector<std::string> Pieces() {
  return {"Kazakhstan", "KAZAKHSTAN", "kazakhstani", "Astana", "ASTANA", "Almaty", "almatyda",
          "gas", "GAS", "Gas", "gasprom", "oil", "Oil", "OIL", "port", "Port", "report", "c5", "C5",
          "2024", "20245", "İstanbul", "ISTANBUL", "ılık", "ILIK", "Горбачёв", "ГОРБАЧЕВ",
          "горбачев", "Казахстан", "казахстанский", "Россия", "политика", "ПОЛИТИКА", "Қазақстан",
          "ҚАЗАҚСТАН", "қазақстандық", "Әлихан", "әлихан", "ұлттық", "ҰЛТТЫҚ", "үкімет", "Ақтөбе",
          "Шымкент", "Oʻzbekiston", "O‘zbekiston", "O'zbekiston", "naïve", "NAÏVE", "café", "CAFÉ",
          "Ελλάδα", "ΕΛΛΆΔΑ", "straße", "STRASSE", "ǅemal", "ǄEMAL", "κόσμος", "ΚΌΣΜΟΣ",
          "e\xCC\x81", "a", "А", "а", "i", "I", "İ", "K", "\xE2\x84\xAA" /* KELVIN SIGN */, "北京",
          "中国人", "Xi", "Jinping", "Sultan", "pipeline", "Nur-Sultan", "Nur‑Sultan", "Tokayev",
          "Tokayev's", "Tokayev’s", "внешняя", "внешн", "абв", "әқ", "a1", "b2c", " ", " ", " ",
          "  ", "\n", "\t", "\xC2\xA0", "\xE3\x80\x80", ".", ",", "'", "’", "ʼ", "-", "‑", "—", "–",
          "\xC2\xAD" /* soft hyphen */, "\xE2\x80\x8D" /* ZWJ */, "\xE2\x80\x8C" /* ZWNJ */,
          "\xCC\x81" /* combining acute */, "\xD2\x83" /* combining titlo */, "_", "(", ")", "\"",
          "+", "?", "#", "\xFF", "\x80", "\xD0", "\xE2\x80", "0", "9", "x", "Q",
          // HTML character references (Fold reads those of punctuation and spaces as their
          // characters) and pieces of them.
          "&amp;", "&rsquo;", "&nbsp;", "&#39;", "&eacute;", "&", "amp;", "&#x2014;"};
}

// Real texts: the test items of the CLI, a few news sentences, this project's README.
std::vector<std::string> RealTexts() {
  std::vector<std::string> out = {
      "Kazakhstan's President Tokayev met Xi Jinping in Astana; gas pipeline talks (c5+1).",
      "Президент Казахстана Токаев заявил, что внешняя политика Казахстана останется "
      "многовекторной. Горбачёв, ГОРБАЧЕВ.",
      "Қазақстан Республикасының Үкіметі Ақтөбе мен Шымкент қалаларында ұлттық жобаны бастады.",
      "Oʻzbekiston va Qozogʻiston — İstanbul'da uchrashuv; ILIK suv, ılık su.",
      "中国国家主席在北京会见哈萨克斯坦总统。Kazakhstan 北京 Astana",
  };
  for (const char* path : {"tests/cli/data/items.jsonl", "README.md"}) {
    std::ifstream in(::steppewatch::testing::SourceDir() / path);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
  }
  return out;
}

// Returns every hit of `fields` and whether the scan stopped at max_hits.
std::tuple<std::vector<Hit>, bool> Scan(MatchContext* context,
                                        const std::vector<std::string>& fields) {
  std::vector<std::string_view> views(fields.begin(), fields.end());
  std::vector<Hit> hits;
  EXPECT_THAT(context->Scan(views, &hits), IsOk());
  return {hits, context->truncated()};
}

std::string Describe(const std::vector<Hit>& hits, const std::vector<std::string>& fields,
                     const std::vector<TermSpec>& terms) {
  std::string out;
  for (const Hit& h : hits) {
    absl::StrAppend(&out, "\n  ", terms[h.term].text, " @", static_cast<int>(h.field), ":", h.start,
                    "-", h.end, " \"", fields[h.field].substr(h.start, h.end - h.start), "\"");
  }
  return out;
}

struct Paths {
  std::vector<TermSpec> terms = Pack();
  std::shared_ptr<const Matcher> lookup;
  std::shared_ptr<const Matcher> hyperscan;
};

// One pair of matchers per max_hits, shared by the tests (each compiles 9,000 literals).
const Paths& Matchers(uint32_t max_hits) {
  static std::map<uint32_t, Paths>* const cache = new std::map<uint32_t, Paths>();
  Paths& p = (*cache)[max_hits];
  if (p.lookup == nullptr) {
    MatcherOptions options;  // the default threshold
    options.max_hits_per_item = max_hits;
    auto lookup = Matcher::Create(p.terms, options);
    EXPECT_THAT(lookup, IsOk());
    options.word_lookup_min_literals = UINT32_MAX;
    auto hyperscan = Matcher::Create(p.terms, options);
    EXPECT_THAT(hyperscan, IsOk());
    p.lookup = *lookup;
    p.hyperscan = *hyperscan;
  }
  return p;
}

// Scans `texts` (each item: its fields) with both paths and expects the same hits.
void ExpectSameHits(const std::vector<std::vector<std::string>>& items, uint32_t max_hits,
                    size_t* truncated = nullptr) {
  const Paths& p = Matchers(max_hits);
  auto a = MatchContext::Create(p.lookup);
  auto b = MatchContext::Create(p.hyperscan);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  for (const std::vector<std::string>& fields : items) {
    const auto [lookup_hits, lookup_truncated] = Scan(a->get(), fields);
    const auto [hs_hits, hs_truncated] = Scan(b->get(), fields);
    const bool same = lookup_hits.size() == hs_hits.size() &&
                      std::equal(lookup_hits.begin(), lookup_hits.end(), hs_hits.begin(),
                                 [](const Hit& x, const Hit& y) {
                                   return std::tie(x.term, x.field, x.start, x.end) ==
                                          std::tie(y.term, y.field, y.start, y.end);
                                 });
    EXPECT_TRUE(same) << "fields:" <<
        [&] {
          std::string f;
          for (const std::string& s : fields) absl::StrAppend(&f, "\n  [", s, "]");
          return f;
        }()
                      << "\nword lookup:" << Describe(lookup_hits, fields, p.terms)
                      << "\nHyperscan:" << Describe(hs_hits, fields, p.terms);
    EXPECT_EQ(lookup_truncated, hs_truncated);
    if (truncated != nullptr) *truncated += hs_truncated;
    if (!same) return;  // one failure says enough
  }
}

TEST(WordLookup, TakesTheLargePacksWholeWordsOnly) {
  const Paths& p = Matchers(10000);
  // The 33 real words, the generated ones without their repeats, but not "e" + acute (a
  // combining mark is a word character: it is one), and not the shared patterns.
  EXPECT_GT(p.lookup->stats().word_lookup_patterns, 8000u);
  EXPECT_EQ(p.hyperscan->stats().word_lookup_patterns, 0u);
  // A small pack keeps the Hyperscan-only path at the default threshold.
  auto small = Matcher::Create({TermSpec{"Astana"}}, MatcherOptions());
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ((*small)->stats().word_lookup_patterns, 0u);
}

TEST(WordLookup, RealTextsGiveTheHyperscanPathsHits) {
  std::vector<std::vector<std::string>> items;
  const std::vector<std::string> texts = RealTexts();
  ASSERT_GT(texts.size(), 20u);
  for (size_t i = 0; i + 1 < texts.size(); ++i) items.push_back({texts[i], texts[i + 1]});
  ExpectSameHits(items, 10000);
}

std::vector<std::vector<std::string>> RandomItems(int count, uint32_t seed, int pieces_max = 40) {
  const std::vector<std::string> pieces = Pieces();
  const std::vector<TermSpec>& terms = Matchers(10000).terms;
  std::mt19937 rng(seed);
  std::vector<std::vector<std::string>> items;
  for (int i = 0; i < count; ++i) {
    std::vector<std::string> fields(1 + rng() % 2);
    for (std::string& f : fields) {
      const int n = static_cast<int>(rng() % pieces_max);
      for (int k = 0; k < n; ++k) {
        if (rng() % 4 != 0) {
          f += pieces[rng() % pieces.size()];
          continue;
        }
        // A term of the pack's last 1,500 (generated words and phrases), perhaps upper-cased.
        std::string term = terms[terms.size() - 1 - rng() % 1500].text;
        if (rng() % 3 == 0) {
          for (char& c : term) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        f += term;
      }
    }
    items.push_back(std::move(fields));
  }
  return items;
}

TEST(WordLookup, RandomTextsGiveTheHyperscanPathsHits) {
  ExpectSameHits(RandomItems(20000, 1), 10000);
}

// Long fields: the word walk looks its runs up in batches (FindWords), so an item of hundreds of
// runs crosses many batch boundaries, with words, phrases whose rest follows across a boundary,
// and tag collisions anywhere in a batch.
TEST(WordLookup, LongTextsGiveTheHyperscanPathsHits) {
  ExpectSameHits(RandomItems(1500, 77, 600), 100000);
}

// Under max_hits the scan stops at the same hit: the word lookup's hits are emitted among
// Hyperscan's by end offset.
TEST(WordLookup, ScansStoppedAtMaxHitsKeepTheSameHits) {
  for (uint32_t max_hits : {1u, 3u, 7u}) {
    size_t truncated = 0;
    ExpectSameHits(RandomItems(1500, 2 + max_hits, 120), max_hits, &truncated);
    EXPECT_GT(truncated, 100u) << max_hits;
  }
}

}  // namespace
}  // namespace steppewatch::match

namespace steppewatch::match {
namespace {

// A pack whose every pattern goes to the word table (no Hyperscan database at all): the fields
// are still folded, and a scan stopped at max_hits is still redone on the Hyperscan-only path.
TEST(WordLookup, APackOfWordsOnlyNeedsNoDatabase) {
  const std::vector<TermSpec> terms = {TermSpec{"Astana"}, TermSpec{"Almaty"},
                                       TermSpec{"Xi Jinping"}, TermSpec{"Қазақстан"}};
  for (uint32_t max_hits : {1u, 2u, 100u}) {
    MatcherOptions options;
    options.max_hits_per_item = max_hits;
    options.word_lookup_min_literals = 0;
    auto lookup = Matcher::Create(terms, options);
    ASSERT_THAT(lookup, IsOk());
    EXPECT_EQ((*lookup)->stats().word_lookup_patterns, terms.size());
    options.word_lookup_min_literals = UINT32_MAX;
    auto hyperscan = Matcher::Create(terms, options);
    ASSERT_THAT(hyperscan, IsOk());
    auto a = MatchContext::Create(*lookup);
    auto b = MatchContext::Create(*hyperscan);
    ASSERT_THAT(a, IsOk());
    ASSERT_THAT(b, IsOk());
    for (const std::vector<std::string>& fields : std::vector<std::vector<std::string>>{
             {"ASTANA and Almaty; Xi  Jinping", "ҚАЗАҚСТАН, Astana"},
             {"", "astana"},
             {"nothing here"}}) {
      const auto [lookup_hits, lookup_truncated] = Scan(a->get(), fields);
      const auto [hs_hits, hs_truncated] = Scan(b->get(), fields);
      ASSERT_EQ(lookup_hits.size(), hs_hits.size()) << max_hits;
      for (size_t i = 0; i < hs_hits.size(); ++i) {
        EXPECT_EQ(std::tie(lookup_hits[i].term, lookup_hits[i].field, lookup_hits[i].start,
                           lookup_hits[i].end),
                  std::tie(hs_hits[i].term, hs_hits[i].field, hs_hits[i].start, hs_hits[i].end));
      }
      EXPECT_EQ(lookup_truncated, hs_truncated);
      for (size_t f = 0; f < fields.size(); ++f) {
        EXPECT_EQ((*a)->folded(f), (*b)->folded(f));
      }
    }
  }
}

}  // namespace
}  // namespace steppewatch::match
