// Normalise stage benchmarks over ../shared/corpus/news-bench.jsonl: Fold (case fold with offset
// map), UTF-8 validation and the lazy word index the rules stage uses for NEAR, per language.
// Bytes are the title+body bytes of the items; each case is checked once before timing.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "steppewatch/normalise/fold.h"
#include "steppewatch/normalise/utf8.h"
#include "support/bench_corpus.h"

namespace steppewatch::bench {
namespace {

struct Texts {
  std::vector<std::string_view> fields;
  size_t bytes = 0;
};

// Returns the title and body of every item of `lang`, or nullptr (after SkipWithError).
const Texts* LoadTexts(benchmark::State& state, Language lang) {
  static std::vector<std::unique_ptr<Texts>> cache(4);
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (corpus == nullptr) {
    state.SkipWithError(kNoCorpusMessage);
    return nullptr;
  }
  auto& t = cache[static_cast<size_t>(lang)];
  if (!t) {
    t = std::make_unique<Texts>();
    for (const BenchItem* item : corpus->Select(lang)) {
      for (const std::string* s : {&item->title, &item->body}) {
        t->fields.push_back(*s);
        t->bytes += s->size();
      }
    }
  }
  state.SetLabel(LanguageName(lang));
  return t.get();
}

void BM_NormaliseFold(benchmark::State& state) {
  const Texts* texts = LoadTexts(state, static_cast<Language>(state.range(0)));
  if (texts == nullptr) return;
  normalise::FoldedText folded;
  size_t map_entries = 0;
  for (std::string_view f : texts->fields) {
    normalise::Fold(f, &folded);
    if (!normalise::ValidateUtf8(folded.text())) {
      state.SkipWithError("fold produced invalid UTF-8");
      return;
    }
    map_entries += folded.map_entries();
  }
  for (auto _ : state) {
    for (std::string_view f : texts->fields) {
      normalise::Fold(f, &folded);
      benchmark::DoNotOptimize(folded.text().data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * texts->bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * texts->fields.size() / 2));
  state.counters["map_entries_per_KB"] =
      static_cast<double>(map_entries) * 1024.0 / static_cast<double>(texts->bytes);
}
BENCHMARK(BM_NormaliseFold)->DenseRange(0, 3)->ArgName("lang");

void BM_NormaliseValidateUtf8(benchmark::State& state) {
  const Texts* texts = LoadTexts(state, static_cast<Language>(state.range(0)));
  if (texts == nullptr) return;
  for (auto _ : state) {
    for (std::string_view f : texts->fields) {
      benchmark::DoNotOptimize(normalise::ValidateUtf8(f));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * texts->bytes));
}
BENCHMARK(BM_NormaliseValidateUtf8)->DenseRange(0, 3)->ArgName("lang");

// The rules stage builds a word index only for fields whose rules use NEAR; this is its cost.
void BM_NormaliseWordIndex(benchmark::State& state) {
  const Texts* texts = LoadTexts(state, static_cast<Language>(state.range(0)));
  if (texts == nullptr) return;
  normalise::WordIndex index;
  uint64_t words = 0;
  for (auto _ : state) {
    for (std::string_view f : texts->fields) {
      index.Reset(f);
      words += index.word_count();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * texts->bytes));
  state.counters["words"] = static_cast<double>(words) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_NormaliseWordIndex)->DenseRange(0, 3)->ArgName("lang");

}  // namespace
}  // namespace steppewatch::bench

BENCHMARK_MAIN();
