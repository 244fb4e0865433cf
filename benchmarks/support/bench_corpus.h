// Loading ../shared/corpus/news-bench.jsonl for benchmarks, and building term sets from it
// (bench_corpus.cc: the corpus and memory figures; bench_terms.cc: the term sets).
//
// The corpus is research-licensed and never copied into the repository: LoadBenchCorpus() looks
// for it at $STEPPEWATCH_CORPUS_DIR or <source dir>/../shared/corpus and returns nullopt when it
// is absent, so a benchmark can SkipWithError with a clear message. Parsing uses simdjson
// On-Demand once, outside every timed loop. Single-threaded helpers; the returned data owns its
// strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::bench {

struct BenchItem {
  std::string id;
  std::string title;
  std::string body;
  std::string lang;
};

// The language groups the match targets are stated for.
enum class Language { kEnglish, kRussian, kChinese, kKazakh };

// Returns the English name of `lang` ("English", ...), for benchmark labels.
const char* LanguageName(Language lang);

struct BenchCorpus {
  std::string path;
  std::vector<BenchItem> items;  // in file order

  // Returns the items of one group: English = Reuters-21578 and BBC full-text items (AG News is
  // title + 1-2 sentences, a different workload), Russian = NEREL, FactRuEval, RuSentRel,
  // Chinese = Belt and Road, Kazakh = KazNERD sentences.
  std::vector<const BenchItem*> Select(Language lang) const;
};

// Returns the path of news-bench.jsonl when it exists.
std::optional<std::string> FindBenchCorpus();

// Loads and parses the whole corpus (43 MB, ~0.2 s), or nullopt when it is absent/unreadable.
// Cached: the first call parses, later calls return the same object.
const BenchCorpus* LoadBenchCorpus();

// The message benchmarks print when the corpus is absent.
inline constexpr char kNoCorpusMessage[] =
    "../shared/corpus/news-bench.jsonl not found (set STEPPEWATCH_CORPUS_DIR): skipped";

// A term for a benchmark term set: text plus whether it is a prefix (`Kazakh*`).
struct BenchTerm {
  std::string text;
  bool prefix = false;
};

// How BuildTerms picks corpus words: kSpread samples the whole frequency range (a watch list:
// a few common words, mostly rare ones; few hits per item), kDense takes the most frequent
// words right after the function words (a stress case: tens of hits per item).
// kPhrases is kSpread with two-word phrases only (no single words): closer to a watch list of
// names, whose terms rarely occur inside ordinary sentences.
// kNames is not taken from the corpus at all: BuildNameTerms below.
enum class TermProfile { kSpread, kDense, kPhrases, kNames };

// Builds `count` distinct terms that behave like a real watch list over `items`:
//   - ~70 real names of the default pack's kind (countries, leaders, organisations, in the
//     group's script), always included;
//   - then, from the items' own text (folded), words of >= 4 characters and two-word phrases
//     alternately, ranked by frequency, skipping the 300 most frequent words (function words,
//     which no analyst lists), picked per `profile`; for Chinese, 2-4 character n-grams (no
//     spaces to split on);
//   - every tenth word term becomes a prefix of its first 6 characters (Latin/Cyrillic only).
// Deterministic for a given corpus. Fewer than `count` terms only if the text runs out.
std::vector<BenchTerm> BuildTerms(const std::vector<const BenchItem*>& items, Language lang,
                                  size_t count, TermProfile profile = TermProfile::kSpread);

// Builds `count` distinct watch-list names that are NOT taken from the corpus: the proper names
// of the default pack's kind (as BuildTerms), then generated people ("Aibek Karnurov", "Дмитрий
// Жантасбеков"), family names alone, officials ("Minister Kurbatov"), organisations
// ("Sultemkar Holding") and places ("Ordtaskent"), from fixed syllable lists with a seeded
// generator; Chinese: surname + given characters, organisations, places. Deterministic. Its
// point is the 100k scan figure of a realistic watch list, where few words of an item are terms
// (the corpus-derived sets make nearly every word one: the worst case).
std::vector<BenchTerm> BuildNameTerms(Language lang, size_t count);

// Returns the peak resident set size of this process so far (VmHWM), in bytes.
size_t PeakRssBytes();

// Returns the current resident set size (VmRSS), in bytes.
size_t CurrentRssBytes();

}  // namespace steppewatch::bench
