// Reload under load: does a hot reload of a 10k-rule pack stall the workers? One worker thread
// scans and evaluates synthetic ~3 KB items with whatever pack the PackHolder holds (as the
// pipeline's workers do), first with no reload running (baseline), then while RuleReloader
// loads, compiles and tests a changed 10k-rule pack on its own thread. Reported: items/s in both
// windows, their ratio, and the reload's duration. Before timing, the first pack is checked to
// fire on a sample item.
//
// The machine has 2 cores shared with other builds: compare the ratio, not absolute numbers.
// Run: build/<dir>/benchmarks/daemon_benchmark --benchmark_filter=ReloadUnderLoad
#include <benchmark/benchmark.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "steppewatch/daemon/reloader.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::daemon {
namespace {

namespace fs = std::filesystem;

// A pronounceable, unique word per index: "ka", "ke", ... so terms are whole words.
std::string Word(uint32_t i) {
  static constexpr char kConsonants[] = "bdfgklmnprstvz";
  static constexpr char kVowels[] = "aeiou";
  std::string w;
  do {
    w += kConsonants[i % 14];
    i /= 14;
    w += kVowels[i % 5];
    i /= 5;
  } while (i > 0);
  return w + "x";
}

// Writes a pack of `rules` rules in files of 500 rules; rule i is `w(3i) AND (w(3i+1) OR
// w(3i+2))` with one example each way, so a reload compiles 3x`rules` terms and runs
// 2x`rules` embedded tests. `salt` changes the version, hence the hash.
void WritePack(const fs::path& dir, uint32_t rules, int salt) {
  fs::remove_all(dir);
  fs::create_directories(dir / "rules");
  std::ofstream(dir / "pack.yaml") << "pack:\n  name: bench\n  version: \"" << salt << "\"\n";
  constexpr uint32_t kPerFile = 500;
  for (uint32_t f = 0; f * kPerFile < rules; ++f) {
    std::ofstream out(dir / "rules" / ("r" + std::to_string(f) + ".yaml"));
    out << "rules:\n";
    for (uint32_t i = f * kPerFile; i < std::min(rules, (f + 1) * kPerFile); ++i) {
      const std::string a = Word(3 * i), b = Word(3 * i + 1), c = Word(3 * i + 2);
      out << "  - id: r" << i << "\n    title: R" << i << "\n    query: '" << a << " AND (" << b
          << " OR " << c << ")'\n    tests:\n      match: [\"" << a << " met " << c
          << "\"]\n      no_match: [\"" << a << " alone\"]\n";
    }
  }
}

// Items of ~3 KB: filler words that are no term, plus a few terms of the first rules.
std::vector<std::string> MakeItems(size_t n) {
  std::vector<std::string> items;
  for (size_t k = 0; k < n; ++k) {
    std::string body;
    while (body.size() < 3000) body += "the delegation discussed regional trade and water ";
    body += Word(3 * (k % 50)) + " " + Word(3 * (k % 50) + 1) + ".";
    items.push_back(std::move(body));
  }
  return items;
}

void BM_DaemonReloadUnderLoad(benchmark::State& state) {
  const uint32_t rules = static_cast<uint32_t>(state.range(0));
  const fs::path dir = fs::temp_directory_path() / ("sw-reload-bench-" + std::to_string(getpid()));
  WritePack(dir, rules, 1);
  // The first load, split into its phases for the report: parse + compile, then the tests.
  const absl::Time l0 = absl::Now();
  auto first = rules::CompiledPack::Load(dir);
  const absl::Time l1 = absl::Now();
  if (!first.ok()) {
    state.SkipWithError(std::string(first.status().message()).c_str());
    return;
  }
  if (absl::Status tests = rules::CheckPackTests(*first); !tests.ok()) {
    state.SkipWithError(std::string(tests.message()).c_str());
    return;
  }
  state.counters["load_compile_s"] = absl::ToDoubleSeconds(l1 - l0);
  state.counters["embedded_tests_s"] = absl::ToDoubleSeconds(absl::Now() - l1);
  pipeline::PackHolder holder(*first);
  ReloaderOptions options;
  options.rules_dir = dir;
  options.watch = false;
  auto reloader = RuleReloader::Create(&holder, options);
  if (!reloader.ok()) {
    state.SkipWithError(std::string(reloader.status().message()).c_str());
    return;
  }
  const std::vector<std::string> items = MakeItems(64);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> fired_total{0};
  // The longest pause between two finished items while `measuring_gap`: a stall shows here even
  // when the average rate looks fine.
  std::atomic<bool> measuring_gap{false};
  std::atomic<int64_t> max_gap_ns{0};
  std::thread worker([&] {
    uint64_t generation = holder.generation();
    std::shared_ptr<const rules::CompiledPack> pack = holder.Get();
    auto context = *match::MatchContext::Create(pack->matcher());
    auto evaluator = std::make_unique<rules::Evaluator>(pack);
    std::vector<match::Hit> hits;
    absl::Time last_item = absl::Now();
    for (size_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
      if (holder.generation() != generation) {  // As the pipeline's workers do.
        generation = holder.generation();
        pack = holder.Get();
        context = *match::MatchContext::Create(pack->matcher());
        evaluator = std::make_unique<rules::Evaluator>(pack);
      }
      const std::string_view fields[2] = {"", items[k % items.size()]};
      if (!context->Scan(fields, &hits).ok()) continue;
      fired_total.fetch_add(evaluator->Evaluate({{fields[0], fields[1]}, "en", ""}, hits).size(),
                            std::memory_order_relaxed);
      processed.fetch_add(1, std::memory_order_relaxed);
      const absl::Time now = absl::Now();
      if (measuring_gap.load(std::memory_order_relaxed)) {
        const int64_t gap = absl::ToInt64Nanoseconds(now - last_item);
        if (gap > max_gap_ns.load(std::memory_order_relaxed)) max_gap_ns.store(gap);
      }
      last_item = now;
    }
  });

  // Baseline: a fixed window with no reload. 2 s smooths scheduler noise on a shared machine.
  constexpr absl::Duration kBaseline = absl::Seconds(2);
  double baseline_rate = 0, reload_rate = 0, reload_seconds = 0;
  for (auto _ : state) {
    const uint64_t b0 = processed.load();
    const absl::Time t0 = absl::Now();
    absl::SleepFor(kBaseline);  // The measurement window itself, not a wait for work.
    baseline_rate = (processed.load() - b0) / absl::ToDoubleSeconds(absl::Now() - t0);

    WritePack(dir, rules, 2);
    const uint64_t r0 = processed.load();
    const absl::Time t1 = absl::Now();
    measuring_gap = true;
    (*reloader)->RequestReload();
    if (!(*reloader)->AwaitAttempts(1, absl::Minutes(10))) {
      state.SkipWithError("reload did not finish in 10 minutes");
      break;
    }
    reload_seconds = absl::ToDoubleSeconds(absl::Now() - t1);
    reload_rate = (processed.load() - r0) / reload_seconds;
    measuring_gap = false;
  }
  stop = true;
  worker.join();
  const ReloaderStatus status = (*reloader)->status();
  if (status.success != 1) state.SkipWithError(("reload failed: " + status.last_error).c_str());
  if (fired_total.load() == 0) state.SkipWithError("no rule fired: the workload is not valid");
  state.counters["rules"] = rules;
  state.counters["reload_s"] = reload_seconds;
  state.counters["baseline_items_per_s"] = baseline_rate;
  state.counters["during_reload_items_per_s"] = reload_rate;
  state.counters["max_gap_during_reload_ms"] = max_gap_ns.load() / 1e6;
  state.counters["during_over_baseline"] = baseline_rate > 0 ? reload_rate / baseline_rate : 0;
  fs::remove_all(dir);
}
BENCHMARK(BM_DaemonReloadUnderLoad)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace steppewatch::daemon

BENCHMARK_MAIN();
