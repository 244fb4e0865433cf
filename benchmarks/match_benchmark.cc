// Match stage benchmarks over ../shared/corpus/news-bench.jsonl (see benchmarks/README.md).
//
//   BM_MatchScan/lang/terms     MatchContext::Scan (fold + Hyperscan + word checks + sort) of
//                               title and body, per language, with 1k/10k/100k corpus terms
//                               (watch-list profile: few hits per item)
//   BM_MatchScanDense           the same with the dense profile (tens of hits per item)
//   BM_MatchScanPhrases         the same with two-word phrases only (names-like watch list)
//   BM_MatchScanNames           the same with a generated names-only watch list (people,
//                               organisations, places; not from the corpus): the realistic
//                               100k case; BM_MatchScan/100000 stays as the worst case
//   BM_Re2Set[Names]/lang/terms baseline: RE2::Set of the same terms ((?i), quoted literals,
//                               no word boundaries, no offsets: strictly less work) on the same
//                               text
//   BM_StdRegex/lang/terms      baseline: one std::regex alternation (icase), a few items only
//   BM_MatchCompile/lang/terms/cache   Matcher::Create cold (cache:0) or from the disk cache
//   BM_DumpForRipgrep           writes terms/bodies files for the rg comparison when
//                               $SW_BENCH_DUMP_DIR is set
// Languages: 0 English (Reuters, BBC), 1 Russian (NEREL, FactRuEval, RuSentRel), 2 Chinese (BRI).
// Every case checks its result once before timing. `peak_rss_MB` is the process's VmHWM so far:
// meaningful when one case runs alone (--benchmark_filter).
#include <benchmark/benchmark.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "steppewatch/match/matcher.h"
#include "support/bench_corpus.h"

namespace steppewatch::bench {
namespace {

struct LangData {
  std::vector<const BenchItem*> items;
  size_t bytes = 0;  // title + body
};

const LangData* Load(benchmark::State& state, Language lang) {
  static std::map<Language, LangData> cache;
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (corpus == nullptr) {
    state.SkipWithError(kNoCorpusMessage);
    return nullptr;
  }
  auto [it, inserted] = cache.try_emplace(lang);
  if (inserted) {
    it->second.items = corpus->Select(lang);
    for (const BenchItem* item : it->second.items) {
      it->second.bytes += item->title.size() + item->body.size();
    }
  }
  state.SetLabel(LanguageName(lang));
  return &it->second;
}

const std::vector<BenchTerm>& Terms(Language lang, size_t count, const LangData& data,
                                    TermProfile profile = TermProfile::kSpread) {
  static std::map<std::tuple<Language, size_t, TermProfile>, std::vector<BenchTerm>> cache;
  auto [it, inserted] = cache.try_emplace({lang, count, profile});
  if (inserted) it->second = BuildTerms(data.items, lang, count, profile);
  return it->second;
}

std::vector<match::TermSpec> Specs(const std::vector<BenchTerm>& terms) {
  std::vector<match::TermSpec> specs;
  for (const BenchTerm& t : terms) {
    specs.push_back(match::TermSpec{
        t.text, t.prefix ? match::TermSpec::Kind::kPrefix : match::TermSpec::Kind::kLiteral});
  }
  return specs;
}

// A persistent cache directory makes repeated benchmark runs skip the 100k compile; the compile
// benchmark below uses its own fresh directories.
std::string BenchCacheDir() {
  if (const char* env = std::getenv("SW_BENCH_CACHE_DIR")) return env;
  return (std::filesystem::temp_directory_path() / "steppewatch-bench-hscache").string();
}

void SetRss(benchmark::State& state) {
  state.counters["peak_rss_MB"] = static_cast<double>(PeakRssBytes()) / 1e6;
}

void MatchScan(benchmark::State& state, TermProfile profile) {
  const auto lang = static_cast<Language>(state.range(0));
  const size_t count = static_cast<size_t>(state.range(1));
  const LangData* data = Load(state, lang);
  if (data == nullptr) return;
  const auto& terms = Terms(lang, count, *data, profile);
  match::MatcherOptions options;
  options.cache_dir = BenchCacheDir();
  auto matcher = match::Matcher::Create(Specs(terms), options);
  if (!matcher.ok()) {
    state.SkipWithError(std::string(matcher.status().message()).c_str());
    return;
  }
  auto context = match::MatchContext::Create(*matcher);
  if (!context.ok()) {
    state.SkipWithError(std::string(context.status().message()).c_str());
    return;
  }
  std::vector<match::Hit> hits;
  hits.reserve(4096);
  size_t total_hits = 0;
  size_t items_with_hits = 0;
  for (const BenchItem* item : data->items) {
    const std::string_view fields[] = {item->title, item->body};
    if (!(*context)->Scan(fields, &hits).ok()) {
      state.SkipWithError("scan failed");
      return;
    }
    total_hits += hits.size();
    items_with_hits += !hits.empty();
  }
  if (total_hits == 0) {
    state.SkipWithError("no hits: the term set does not exercise the matcher");
    return;
  }
  for (auto _ : state) {
    for (const BenchItem* item : data->items) {
      const std::string_view fields[] = {item->title, item->body};
      benchmark::DoNotOptimize((*context)->Scan(fields, &hits));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data->bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * data->items.size()));
  state.counters["terms"] = static_cast<double>(terms.size());
  state.counters["hits_per_item"] =
      static_cast<double>(total_hits) / static_cast<double>(data->items.size());
  state.counters["items_hit_pct"] =
      100.0 * static_cast<double>(items_with_hits) / static_cast<double>(data->items.size());
  state.counters["db_MB"] = static_cast<double>((*matcher)->stats().database_bytes) / 1e6;
  SetRss(state);
}

void BM_MatchScan(benchmark::State& state) { MatchScan(state, TermProfile::kSpread); }
BENCHMARK(BM_MatchScan)
    ->ArgsProduct({{0, 1, 2}, {1000, 10000, 100000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

// The stress case: the most frequent non-function words, tens of hits per item.
void BM_MatchScanDense(benchmark::State& state) { MatchScan(state, TermProfile::kDense); }
BENCHMARK(BM_MatchScanDense)
    ->ArgsProduct({{0, 1, 2}, {1000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

// Two-word phrases only (names-like watch list): 1k, 10k, 100k.
void BM_MatchScanPhrases(benchmark::State& state) { MatchScan(state, TermProfile::kPhrases); }
BENCHMARK(BM_MatchScanPhrases)
    ->ArgsProduct({{0, 1}, {1000, 10000, 100000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

// A names-only watch list (people, organisations, places; generated, not from the corpus): the
// realistic 100k case. The corpus-derived BM_MatchScan/100000 is the worst case.
void BM_MatchScanNames(benchmark::State& state) { MatchScan(state, TermProfile::kNames); }
BENCHMARK(BM_MatchScanNames)
    ->ArgsProduct({{0, 1, 2}, {1000, 10000, 100000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

void Re2Set(benchmark::State& state, TermProfile profile) {
  const auto lang = static_cast<Language>(state.range(0));
  const size_t count = static_cast<size_t>(state.range(1));
  const LangData* data = Load(state, lang);
  if (data == nullptr) return;
  const auto& terms = Terms(lang, count, *data, profile);
  RE2::Options options;
  options.set_case_sensitive(false);
  // RE2's default 8 MB budget makes the DFA give up on 1k alternatives; give it room.
  options.set_max_mem(int64_t{1} << 30);
  options.set_log_errors(false);
  RE2::Set set(options, RE2::UNANCHORED);
  for (const BenchTerm& t : terms) {
    if (set.Add(RE2::QuoteMeta(t.text), nullptr) < 0) {
      state.SkipWithError("RE2::Set::Add failed");
      return;
    }
  }
  if (!set.Compile()) {
    state.SkipWithError("RE2::Set::Compile failed");
    return;
  }
  std::vector<int> matched;
  size_t items_with_hits = 0;
  for (const BenchItem* item : data->items) {
    RE2::Set::ErrorInfo error;
    const bool t = set.Match(item->title, &matched, &error);
    if (error.kind != RE2::Set::kNoError) {
      state.SkipWithError("RE2::Set::Match error (DFA out of memory?)");
      return;
    }
    const bool b = set.Match(item->body, &matched, &error);
    items_with_hits += t || b;
  }
  for (auto _ : state) {
    for (const BenchItem* item : data->items) {
      benchmark::DoNotOptimize(set.Match(item->title, &matched));
      benchmark::DoNotOptimize(set.Match(item->body, &matched));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data->bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * data->items.size()));
  state.counters["items_hit_pct"] =
      100.0 * static_cast<double>(items_with_hits) / static_cast<double>(data->items.size());
}

void BM_Re2Set(benchmark::State& state) { Re2Set(state, TermProfile::kSpread); }
BENCHMARK(BM_Re2Set)
    ->ArgsProduct({{0, 1, 2}, {1000, 10000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

void BM_Re2SetDense(benchmark::State& state) { Re2Set(state, TermProfile::kDense); }
BENCHMARK(BM_Re2SetDense)
    ->ArgsProduct({{0, 1, 2}, {1000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

void BM_Re2SetNames(benchmark::State& state) { Re2Set(state, TermProfile::kNames); }
BENCHMARK(BM_Re2SetNames)
    ->ArgsProduct({{0, 1, 2}, {1000, 10000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

void BM_Re2SetPhrases(benchmark::State& state) { Re2Set(state, TermProfile::kPhrases); }
BENCHMARK(BM_Re2SetPhrases)
    ->ArgsProduct({{0, 1}, {1000}})
    ->ArgNames({"lang", "terms"})
    ->Unit(benchmark::kMillisecond);

// std::regex runs at a few items per second: time only the first kItems items.
void BM_StdRegex(benchmark::State& state) {
  constexpr size_t kItems = 3;
  const auto lang = static_cast<Language>(state.range(0));
  const size_t count = static_cast<size_t>(state.range(1));
  const LangData* data = Load(state, lang);
  if (data == nullptr) return;
  const auto& terms = Terms(lang, count, *data);
  std::string alternation;
  static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\])");
  for (const BenchTerm& t : terms) {
    if (!alternation.empty()) alternation.push_back('|');
    alternation += std::regex_replace(t.text, kSpecial, R"(\$&)");
  }
  const std::regex re(alternation, std::regex::ECMAScript | std::regex::icase);
  size_t bytes = 0;
  for (size_t i = 0; i < kItems && i < data->items.size(); ++i) {
    bytes += data->items[i]->title.size() + data->items[i]->body.size();
  }
  for (auto _ : state) {
    for (size_t i = 0; i < kItems && i < data->items.size(); ++i) {
      for (const std::string* s : {&data->items[i]->title, &data->items[i]->body}) {
        size_t n = 0;
        for (auto it = std::sregex_iterator(s->begin(), s->end(), re); it != std::sregex_iterator();
             ++it) {
          ++n;
        }
        benchmark::DoNotOptimize(n);
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItems));
}
BENCHMARK(BM_StdRegex)
    ->Args({0, 1000})
    ->ArgNames({"lang", "terms"})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_MatchCompile(benchmark::State& state) {
  const auto lang = static_cast<Language>(state.range(0));
  const size_t count = static_cast<size_t>(state.range(1));
  const bool from_cache = state.range(2) != 0;
  const LangData* data = Load(state, lang);
  if (data == nullptr) return;
  const auto specs = Specs(Terms(lang, count, *data));
  const auto dir = std::filesystem::temp_directory_path() /
                   ("steppewatch-bench-compile-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  match::MatcherOptions options;
  if (from_cache) {
    options.cache_dir = dir.string();
    if (!match::Matcher::Create(specs, options).ok()) {
      state.SkipWithError("warm-up compile failed");
      return;
    }
  }
  double db_bytes = 0;
  for (auto _ : state) {
    auto matcher = match::Matcher::Create(specs, options);
    if (!matcher.ok() || (*matcher)->stats().from_cache != from_cache) {
      state.SkipWithError("compile failed or cache state unexpected");
      break;
    }
    db_bytes = static_cast<double>((*matcher)->stats().database_bytes);
  }
  std::filesystem::remove_all(dir);
  state.counters["terms"] = static_cast<double>(specs.size());
  state.counters["db_MB"] = db_bytes / 1e6;
  SetRss(state);
}
BENCHMARK(BM_MatchCompile)
    ->ArgsProduct({{0, 1, 2}, {1000, 10000, 100000}, {0, 1}})
    ->ArgNames({"lang", "terms", "cache"})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// Writes, per language, terms-<lang>-<n>.txt (one literal per line) and bodies-<lang>.txt
// (title and body of each item) into $SW_BENCH_DUMP_DIR, for `rg -c -i -F -f`.
void BM_DumpForRipgrep(benchmark::State& state) {
  const char* dir = std::getenv("SW_BENCH_DUMP_DIR");
  if (dir == nullptr) {
    state.SkipWithError("set SW_BENCH_DUMP_DIR to write the ripgrep inputs");
    return;
  }
  for (auto _ : state) {
    for (Language lang : {Language::kEnglish, Language::kRussian, Language::kChinese}) {
      const LangData* data = Load(state, lang);
      if (data == nullptr) return;
      const std::string name = LanguageName(lang);
      std::ofstream bodies(std::string(dir) + "/bodies-" + name + ".txt", std::ios::binary);
      for (const BenchItem* item : data->items) bodies << item->title << "\n" << item->body << "\n";
      for (size_t n : {1000, 10000, 100000}) {
        std::ofstream out(std::string(dir) + "/terms-" + name + "-" + std::to_string(n) + ".txt",
                          std::ios::binary);
        for (const BenchTerm& t : Terms(lang, n, *data)) out << t.text << "\n";
      }
    }
  }
}
BENCHMARK(BM_DumpForRipgrep)->Iterations(1);

}  // namespace
}  // namespace steppewatch::bench

BENCHMARK_MAIN();
