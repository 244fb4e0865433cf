// Rules stage benchmarks over ../shared/corpus/news-bench.jsonl (see benchmarks/README.md).
//
//   BM_RulesEvaluate/rules        Evaluator::Evaluate alone, over hits pre-computed by the real
//                                 matcher for every corpus item (English, Russian, Chinese), with
//                                 a synthetic pack of 1k or 10k rules over corpus terms
//   BM_RulesProcess/rules         the whole ItemProcessor (decode, scan, evaluate, render) on the
//                                 corpus lines, one thread
//   BM_RulesLoad/rules            CompiledPack::LoadFromFiles of the synthetic pack (YAML, sets,
//                                 programs, Hyperscan compile)
//
// The synthetic pack (SyntheticPack below): terms from bench::BuildTerms (frequent corpus words
// and phrases a watch list would hold, 70% English, 20% Russian, 10% Chinese), 200 sets of 10
// terms, and rules in six rotating shapes that use every operator: AND/OR, NOT, NEAR/5, ONEAR/3,
// title:, AT_LEAST(2), AT_LEAST_DISTINCT(2), prefix terms and @sets.
//
//   BM_DefaultPackFloor/step      the default central-asia pack over every corpus line, cost per
//                                 item of each layer, measured side by side (issue 16, target 1):
//                                 /0 Hyperscan alone: one hs_scan per item of a literal database
//                                 of the pack's literal and prefix terms (folded, no flags), over
//                                 the folded title and body prepared before timing, counting
//                                 matches; /1 the pack's matcher: MatchContext::Scan of the
//                                 original title and body (fold, scan, word boundaries, hits);
//                                 /2 the whole ItemProcessor on the JSON line (decode, fold,
//                                 scan, evaluate, render alerts, fingerprint).
//
// `rules_benchmark --write-pack=DIR --pack-rules=N` writes that pack as YAML to DIR and exits,
// for `steppewatch match` measurements (benchmarks/README.md, "Rules").
#include <benchmark/benchmark.h>
#include <hs/hs.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"
#include "support/bench_corpus.h"

namespace steppewatch::bench {
namespace {

std::string YamlQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else
      out.push_back(c);
  }
  return out + "'";
}

// A term as it appears in a query (inside a single-quoted YAML string).
std::string QueryTerm(const BenchTerm& t) { return "\"" + t.text + (t.prefix ? "*" : "") + "\""; }

// Returns the pack's one YAML file, or "" when the corpus is absent.
std::string SyntheticPack(size_t rules) {
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (!corpus) return "";
  static std::vector<BenchTerm> pool = [&] {
    std::vector<BenchTerm> out;
    auto add = [&](Language lang, size_t n) {
      for (BenchTerm& t : BuildTerms(corpus->Select(lang), lang, n)) {
        if (t.text.find_first_of("\"'*/@()\\") != std::string::npos) continue;
        out.push_back(std::move(t));
      }
    };
    add(Language::kEnglish, 3500);
    add(Language::kRussian, 1000);
    add(Language::kChinese, 500);
    return out;
  }();
  constexpr size_t kSets = 200, kPerSet = 10;
  std::string y = "pack: {name: synthetic-" + std::to_string(rules) + ", version: '1'}\n";
  y += "defaults: {topic: alerts.synthetic, severity: low}\nsets:\n";
  for (size_t s = 0; s < kSets; ++s) {
    y += "  s" + std::to_string(s) + ": [";
    for (size_t k = 0; k < kPerSet; ++k) {
      const BenchTerm& t = pool[(s * kPerSet + k) % pool.size()];
      y += (k ? ", " : "") + YamlQuote(t.prefix ? t.text + "*" : t.text);
    }
    y += "]\n";
  }
  y += "rules:\n";
  for (size_t i = 0; i < rules; ++i) {
    // Terms spread over the whole pool, so rules differ and most terms are rare.
    auto term = [&](size_t k) { return QueryTerm(pool[(i * 7 + k * 131 + 2000) % pool.size()]); };
    std::string set = "@s" + std::to_string(i % kSets);
    std::string set2 = "@s" + std::to_string((i * 13 + 7) % kSets);
    std::string q;
    switch (i % 6) {
      case 0:
        q = set + " AND (" + term(0) + " OR " + term(1) + ")";
        break;
      case 1:
        q = term(0) + " NEAR/5 " + term(1) + " AND NOT " + term(2);
        break;
      case 2:
        q = "AT_LEAST(2, " + set + ") AND NOT " + term(0);
        break;
      case 3:
        q = "title:(" + set + ") OR (" + term(0) + " AND " + term(1) + ")";
        break;
      case 4:
        q = set + " ONEAR/3 " + set2;
        break;
      case 5:
        q = "AT_LEAST_DISTINCT(2, " + set + " OR " + term(0) + ")";
        break;
    }
    y += "  - {id: r" + std::to_string(i) + ", query: " + YamlQuote(q) + "}\n";
  }
  return y;
}

std::shared_ptr<const rules::CompiledPack> Pack(size_t rules) {
  static std::map<size_t, std::shared_ptr<const rules::CompiledPack>> cache;
  auto& p = cache[rules];
  if (!p) {
    std::string yaml = SyntheticPack(rules);
    if (yaml.empty()) return nullptr;
    auto loaded = rules::CompiledPack::LoadFromFiles({{"pack.yaml", yaml}});
    if (!loaded.ok()) {
      std::fprintf(stderr, "synthetic pack: %s\n", std::string(loaded.status().message()).c_str());
      std::abort();
    }
    p = *loaded;
  }
  return p;
}

struct Scanned {
  rules::ItemView view;
  std::vector<match::Hit> hits;
};

void BM_RulesEvaluate(benchmark::State& state) {
  auto pack = Pack(state.range(0));
  if (!pack) return state.SkipWithError(kNoCorpusMessage);
  const BenchCorpus* corpus = LoadBenchCorpus();
  auto context = *match::MatchContext::Create(pack->matcher());
  std::vector<Scanned> items;
  size_t total_hits = 0;
  for (const BenchItem& it : corpus->items) {
    Scanned s;
    s.view.fields[0] = it.title;
    s.view.fields[1] = it.body;
    s.view.lang = it.lang;
    std::string_view fields[2] = {it.title, it.body};
    if (!context->Scan(fields, &s.hits).ok()) continue;
    total_hits += s.hits.size();
    items.push_back(std::move(s));
  }
  rules::Evaluator evaluator(pack);
  // Checked once before timing: the pack fires on some items and not on most.
  size_t fired_items = 0, fired_rules = 0, candidates = 0;
  for (const Scanned& s : items) {
    size_t n = evaluator.Evaluate(s.view, s.hits).size();
    candidates += evaluator.last_candidates();
    fired_rules += n;
    fired_items += n > 0;
  }
  if (fired_items == 0 || fired_items == items.size()) {
    return state.SkipWithError("synthetic pack fires on no item or on every item");
  }
  size_t i = 0;
  for (auto _ : state) {
    const Scanned& s = items[i];
    benchmark::DoNotOptimize(evaluator.Evaluate(s.view, s.hits).size());
    if (++i == items.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hits_per_item"] = static_cast<double>(total_hits) / items.size();
  state.counters["items_fired_pct"] = 100.0 * fired_items / items.size();
  state.counters["rules_fired_per_item"] = static_cast<double>(fired_rules) / items.size();
  state.counters["terms"] = static_cast<double>(pack->term_count());
  state.counters["candidates_per_item"] = static_cast<double>(candidates) / items.size();
}
BENCHMARK(BM_RulesEvaluate)->Arg(1000)->Arg(10000)->Unit(benchmark::kNanosecond);

void BM_RulesProcess(benchmark::State& state) {
  auto pack = Pack(state.range(0));
  if (!pack) return state.SkipWithError(kNoCorpusMessage);
  std::ifstream in(*FindBenchCorpus());
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    bytes += line.size();
    lines.push_back(std::move(line));
  }
  pipeline::ProcessorOptions options;
  options.instance = "bench";
  auto processor = *pipeline::ItemProcessor::Create(pack, options);
  size_t alerts = 0;
  for (const std::string& l : lines) alerts += processor->Process(l, {}).alerts.size();
  if (alerts == 0) return state.SkipWithError("no alerts: the pack does not fire");
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(processor->Process(lines[i], {}).kind);
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (bytes / lines.size())));
  state.counters["alerts_per_item"] = static_cast<double>(alerts) / lines.size();
}
BENCHMARK(BM_RulesProcess)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_RulesLoad(benchmark::State& state) {
  std::string yaml = SyntheticPack(state.range(0));
  if (yaml.empty()) return state.SkipWithError(kNoCorpusMessage);
  for (auto _ : state) {
    auto pack = rules::CompiledPack::LoadFromFiles({{"pack.yaml", yaml}});
    if (!pack.ok()) return state.SkipWithError("the synthetic pack does not load");
    benchmark::DoNotOptimize(pack->get());
  }
}
BENCHMARK(BM_RulesLoad)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_DefaultPackFloor(benchmark::State& state) {
  const std::optional<std::string> path = FindBenchCorpus();
  if (!path) return state.SkipWithError(kNoCorpusMessage);
  auto pack =
      rules::CompiledPack::Load(std::string(STEPPEWATCH_SOURCE_DIR) + "/config/rules/central-asia");
  if (!pack.ok()) return state.SkipWithError("the default pack does not load");
  const BenchCorpus* corpus = LoadBenchCorpus();
  std::ifstream in(*path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  const int step = static_cast<int>(state.range(0));
  size_t items = 0, matches = 0;
  if (step == 0) {
    std::vector<std::string> texts;
    for (const BenchItem& item : corpus->items) {
      texts.push_back(normalise::FoldToString(item.title) + " " +
                      normalise::FoldToString(item.body));
    }
    std::vector<std::string> literals;
    for (match::TermId t = 0; t < (*pack)->term_count(); ++t) {
      const match::TermSpec& spec = (*pack)->term(t);
      if (spec.kind == match::TermSpec::Kind::kRegex) continue;
      std::string text = spec.text;
      if (!text.empty() && text.back() == '*') text.pop_back();
      text = normalise::FoldToString(text);
      if (!text.empty()) literals.push_back(std::move(text));
    }
    std::sort(literals.begin(), literals.end());
    literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
    std::vector<const char*> expressions;
    std::vector<size_t> lengths;
    std::vector<unsigned> flags(literals.size(), 0), ids;
    for (size_t i = 0; i < literals.size(); ++i) {
      expressions.push_back(literals[i].data());
      lengths.push_back(literals[i].size());
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                             static_cast<unsigned>(literals.size()), HS_MODE_BLOCK, nullptr, &db,
                             &error) != HS_SUCCESS) {
      hs_free_compile_error(error);
      return state.SkipWithError("the literal database does not compile");
    }
    hs_scratch_t* scratch = nullptr;
    hs_alloc_scratch(db, &scratch);
    auto count = [](unsigned, unsigned long long, unsigned long long, unsigned, void* n) {
      ++*static_cast<size_t*>(n);
      return 0;
    };
    for (auto _ : state) {
      for (const std::string& t : texts) {
        hs_scan(db, t.data(), static_cast<unsigned>(t.size()), 0, scratch, count, &matches);
      }
      items += texts.size();
    }
    state.counters["literals"] = static_cast<double>(literals.size());
    hs_free_scratch(scratch);
    hs_free_database(db);
  } else if (step == 1) {
    auto context = match::MatchContext::Create((*pack)->matcher());
    if (!context.ok()) return state.SkipWithError("no match context");
    std::vector<match::Hit> hits;
    for (auto _ : state) {
      for (const BenchItem& item : corpus->items) {
        const std::string_view fields[] = {item.title, item.body};
        benchmark::DoNotOptimize((*context)->Scan(fields, &hits));
        matches += hits.size();
      }
      items += corpus->items.size();
    }
  } else {
    pipeline::ProcessorOptions options;
    options.instance = "bench";
    options.time_scans = false;  // as steppewatch match
    auto processor = *pipeline::ItemProcessor::Create(*pack, options);
    for (auto _ : state) {
      for (const std::string& l : lines) matches += processor->Process(l, {}).alerts.size();
      items += lines.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(items));
  state.counters["per_item"] = static_cast<double>(matches) / static_cast<double>(items);
}
BENCHMARK(BM_DefaultPackFloor)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace steppewatch::bench

int main(int argc, char** argv) {
  std::string write_dir;
  size_t rules = 1000;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--write-pack=", 13) == 0) {
      write_dir = argv[i] + 13;
    } else if (std::strncmp(argv[i], "--pack-rules=", 13) == 0) {
      rules = std::stoul(argv[i] + 13);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (!write_dir.empty()) {
    std::string yaml = steppewatch::bench::SyntheticPack(rules);
    if (yaml.empty()) {
      std::fprintf(stderr, "%s\n", steppewatch::bench::kNoCorpusMessage);
      return 1;
    }
    std::filesystem::create_directories(write_dir);
    std::ofstream(std::filesystem::path(write_dir) / "pack.yaml") << yaml;
    std::printf("wrote %s/pack.yaml (%zu rules)\n", write_dir.c_str(), rules);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
