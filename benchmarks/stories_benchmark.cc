// The stories fingerprint (stories::Fingerprinter) and what it adds to the item path.
//
//   BM_Fingerprint3KB/method        3 KB English articles (Reuters + BBC bodies of >= 3 KB, cut
//                                   at 3,072 bytes, folded beforehand); method 0 Fingerprinter
//                                   (MinHash, the product, with the best kernel of the CPU),
//                                   6 Fingerprinter with the portable (SSE2) kernel, 1 SimHash
//                                   with the portable kernel, 2 SimHash with the AVX-512BW
//                                   kernel (the alternative), 7 Fingerprinter with its lead key,
//                                   token count and sentence key (what the item processor
//                                   computes; before 2026-12-05 the lead key only); 8 the same
//                                   as 7 with the portable kernel (the same-run reference for the
//                                   CPU's best kernel); 1,004 items, 6
//                                   MB with the original bodies: mostly out of the core's L2 cache
//   BM_Fingerprint3KBHot/method     the same for the first 64 of them (in L2: the item path
//                                   fingerprints text it has just folded and scanned)
//   BM_FingerprintCorpus/lang/method every item of one language group, whole (folded beforehand)
//   BM_ItemPathFingerprintShare     the item path of `steppewatch match` over the corpus with the
//                                   default central-asia pack (ItemProcessor: decode, scan,
//                                   evaluate, render, fingerprint of alerting items), with the
//                                   fingerprint's own time measured inside the same loop:
//                                   counter "fp_share" = fingerprint time / item-path time
//
// Results are checked once before timing (kernels agree; fingerprints are not all zero; the
// item path alerts). Numbers: benchmarks/README.md, "Stories: fingerprint".
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "../src/stories/fingerprint_internal.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/stories/fingerprint.h"
#include "support/bench_corpus.h"

namespace {

using steppewatch::bench::BenchCorpus;
using steppewatch::bench::Language;
using steppewatch::bench::LoadBenchCorpus;
using steppewatch::stories::Fingerprint;
using steppewatch::stories::Fingerprinter;
using steppewatch::stories::internal::Kernel;

struct Folded {
  std::string title, body;    // folded
  std::string original_body;  // as the item processor passes it (the byline rule's line breaks)
};

std::vector<Folded> FoldAll(const std::vector<const steppewatch::bench::BenchItem*>& items,
                            size_t cut = 0) {
  std::vector<Folded> out;
  for (const auto* it : items) {
    Folded f;
    f.title = steppewatch::normalise::FoldToString(it->title);
    f.body = steppewatch::normalise::FoldToString(it->body);
    f.original_body = it->body;
    if (cut > 0) {
      if (f.body.size() < cut) continue;
      size_t n = cut;
      while (n > 0 && (static_cast<unsigned char>(f.body[n]) & 0xC0) == 0x80) --n;
      f.body.resize(n);
    }
    out.push_back(std::move(f));
  }
  return out;
}

bool KernelOk(benchmark::State& state, Kernel kernel) {
  if (!steppewatch::stories::internal::KernelSupported(kernel)) {
    state.SkipWithError("this CPU lacks the kernel");
    return false;
  }
  return true;
}

// method 0: Fingerprinter (MinHash, the product); 3: the same without the original body (no
// byline rule: its cost by difference); 1: SimHash, portable kernel; 2: SimHash,
// AVX-512BW kernel (the evaluated alternative, through ComputeWithOptions: it allocates);
// 4 and 5: MinHash through ComputeWithOptions (settings read at run time) with the defaults and
// without the last-sentence and byline rules: the rules' cost by difference, in one run;
// 6: Fingerprinter with the portable kernel (the same-run reference for the AVX-512 one); 8: 7
// with the portable kernel.
void RunFingerprints(benchmark::State& state, const std::vector<Folded>& items, int method) {
  if (items.empty()) {
    state.SkipWithError("no items");
    return;
  }
  steppewatch::stories::internal::FingerprintOptions simhash, defaults, previous;
  previous.drop_last_sentence = false;  // the features before the last-sentence and byline rules
  previous.byline_bytes = 0;
  simhash.method = steppewatch::stories::internal::Method::kSimHash;
  const Kernel kernel = method == 2 ? Kernel::kAvx512 : Kernel::kPortable;
  if (method == 2 && !KernelOk(state, kernel)) return;
  Fingerprinter f(method == 6 || method == 8 ? Kernel::kPortable
                                             : steppewatch::stories::internal::BestKernel());
  auto compute = [&](const Folded& it) {
    if (method == 3) return f.Compute(it.title, it.body);  // no original body: no byline rule
    if (method == 4 || method == 5) {
      return steppewatch::stories::internal::ComputeWithOptions(
          it.title, it.body, method == 4 ? defaults : previous, Kernel::kPortable,
          it.original_body);
    }
    if (method == 7 || method == 8) {
      Fingerprint lead, sentence;
      uint32_t tokens;
      const Fingerprint fp =
          f.Compute(it.title, it.body, it.original_body, &lead, &tokens, &sentence);
      benchmark::DoNotOptimize(lead);
      benchmark::DoNotOptimize(tokens);
      benchmark::DoNotOptimize(sentence);
      return fp;
    }
    return method == 0 || method == 6 ? f.Compute(it.title, it.body, it.original_body)
                                      : steppewatch::stories::internal::ComputeWithOptions(
                                            it.title, it.body, simhash, kernel, it.original_body);
  };
  size_t bytes = 0, zero = 0;
  for (const Folded& it : items) {  // checked once before timing
    const Fingerprint fp = compute(it);
    if ((method == 0 || method == 6 || method == 7 || method == 8) &&
        fp != steppewatch::stories::internal::ComputeWithOptions(
                  it.title, it.body, {}, Kernel::kPortable, it.original_body)) {
      state.SkipWithError("the fast path disagrees with the options path");
      return;
    }
    if (method == 2 && fp != steppewatch::stories::internal::ComputeWithOptions(
                                 it.title, it.body, simhash, Kernel::kPortable, it.original_body)) {
      state.SkipWithError("SimHash kernels disagree");
      return;
    }
    if (method == 7 || method == 8) {
      Fingerprint lead, sentence;
      f.Compute(it.title, it.body, it.original_body, &lead, nullptr, &sentence);
      if (sentence !=
          steppewatch::stories::internal::SentenceKeyWithOptions(it.body, it.original_body)) {
        state.SkipWithError("the sentence key disagrees with the options path");
        return;
      }
    }
    zero += fp == 0;
    bytes += it.title.size() + it.body.size();
  }
  if (zero == items.size()) {
    state.SkipWithError("every fingerprint is 0");
    return;
  }
  for (auto _ : state) {
    for (const Folded& it : items) benchmark::DoNotOptimize(compute(it));
  }
  state.SetItemsProcessed(state.iterations() * items.size());
  state.SetBytesProcessed(state.iterations() * bytes);
}

void BM_Fingerprint3KB(benchmark::State& state) {
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (corpus == nullptr) {
    state.SkipWithError(steppewatch::bench::kNoCorpusMessage);
    return;
  }
  static const std::vector<Folded> items = FoldAll(corpus->Select(Language::kEnglish), 3072);
  RunFingerprints(state, items, static_cast<int>(state.range(0)));
  state.counters["items"] = items.size();
}
BENCHMARK(BM_Fingerprint3KB)->DenseRange(0, 8)->Unit(benchmark::kMicrosecond);

void BM_Fingerprint3KBHot(benchmark::State& state) {
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (corpus == nullptr) {
    state.SkipWithError(steppewatch::bench::kNoCorpusMessage);
    return;
  }
  static const std::vector<Folded> items = [&] {
    std::vector<Folded> all = FoldAll(corpus->Select(Language::kEnglish), 3072);
    all.resize(std::min<size_t>(all.size(), 64));
    return all;
  }();
  RunFingerprints(state, items, static_cast<int>(state.range(0)));
  state.counters["items"] = items.size();
}
BENCHMARK(BM_Fingerprint3KBHot)
    ->Arg(0)
    ->Arg(7)
    ->Arg(8)
    ->Arg(6)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);

void BM_FingerprintCorpus(benchmark::State& state) {
  const Language lang = static_cast<Language>(state.range(0));
  const BenchCorpus* corpus = LoadBenchCorpus();
  if (corpus == nullptr) {
    state.SkipWithError(steppewatch::bench::kNoCorpusMessage);
    return;
  }
  state.SetLabel(steppewatch::bench::LanguageName(lang));
  RunFingerprints(state, FoldAll(corpus->Select(lang)), static_cast<int>(state.range(1)));
}
BENCHMARK(BM_FingerprintCorpus)->ArgsProduct({{0, 1, 2, 3}, {0, 1}})->Unit(benchmark::kMillisecond);

// The share of the fingerprint in the item path, measured in one loop so both see the same
// machine load: every corpus line through ItemProcessor::Process (which fingerprints the
// alerting items), and, for the alerting items, the same fingerprint computed again on the same
// folded text with its own clock (what Process spent on it).
void BM_ItemPathFingerprintShare(benchmark::State& state) {
  auto path = steppewatch::bench::FindBenchCorpus();
  if (!path) {
    state.SkipWithError(steppewatch::bench::kNoCorpusMessage);
    return;
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(*path);
    for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  }
  auto pack = steppewatch::rules::CompiledPack::Load(
      std::string(STEPPEWATCH_SOURCE_DIR) + "/config/rules/central-asia", {});
  if (!pack.ok()) {
    state.SkipWithError(std::string(pack.status().message()).c_str());
    return;
  }
  steppewatch::pipeline::ProcessorOptions options;
  options.fixed_processed_at = "2026-01-01T00:00:00.000Z";
  auto processor = steppewatch::pipeline::ItemProcessor::Create(*pack, options);
  if (!processor.ok()) {
    state.SkipWithError(std::string(processor.status().message()).c_str());
    return;
  }
  // The alerting items' folded text, found once (the check before timing).
  std::vector<bool> alerts(lines.size());
  std::vector<Folded> alerted;
  {
    auto decoder = steppewatch::decode::ItemDecoder::Create({});
    steppewatch::decode::NewsItem item;
    std::string detail;
    for (size_t i = 0; i < lines.size(); ++i) {
      const auto& o = (*processor)->Process(lines[i], {});
      alerts[i] = o.kind == steppewatch::pipeline::Outcome::Kind::kAlerts;
      if (!alerts[i]) continue;
      if ((*decoder)->Decode(lines[i], &item, &detail) != steppewatch::decode::DecodeError::kOk) {
        continue;
      }
      alerted.push_back({steppewatch::normalise::FoldToString(item.title),
                         steppewatch::normalise::FoldToString(item.body), std::string(item.body)});
    }
  }
  if (alerted.empty()) {
    state.SkipWithError("no item alerted");
    return;
  }
  Fingerprinter f;
  double path_seconds = 0, fp_seconds = 0;
  // Thread CPU time: on a shared machine, wall time would charge other processes to whichever
  // half ran while they did.
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  };
  for (auto _ : state) {
    const double t0 = now();
    for (size_t i = 0; i < lines.size(); ++i)
      benchmark::DoNotOptimize((*processor)->Process(lines[i], {}));
    const double t1 = now();
    for (const Folded& it : alerted) {  // every key the item processor computes
      Fingerprint lead, sentence;
      uint32_t tokens;
      benchmark::DoNotOptimize(
          f.Compute(it.title, it.body, it.original_body, &lead, &tokens, &sentence));
      benchmark::DoNotOptimize(lead);
      benchmark::DoNotOptimize(tokens);
      benchmark::DoNotOptimize(sentence);
    }
    const double t2 = now();
    path_seconds += t1 - t0;
    fp_seconds += t2 - t1;
  }
  state.SetItemsProcessed(state.iterations() * lines.size());
  state.counters["alerted"] = alerted.size();
  state.counters["fp_share"] = fp_seconds / path_seconds;
  state.counters["fp_us_per_alert"] = 1e6 * fp_seconds / (state.iterations() * alerted.size());
  state.counters["path_us_per_item"] = 1e6 * path_seconds / (state.iterations() * lines.size());
}
BENCHMARK(BM_ItemPathFingerprintShare)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
