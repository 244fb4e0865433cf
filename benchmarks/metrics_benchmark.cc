// What metrics cost: they must stay under 3% of throughput.
//
// BM_MetricsItemLoop/0 and /1: one worker's per-item loop (decode with simdjson, scan with the
// default pack's Hyperscan database, evaluate the rules) over the bundled demo items, without (0)
// and with (1) exactly the pipeline::Stats updates the Kafka pipeline makes per item (two
// steady-clock reads around the item and one for the heartbeat, the processing-time histogram,
// items/bytes/hits counters, per-rule counts of the fired rules, items matched). The loop leaves
// out alert rendering and Kafka, which only add to the per-item cost, so the overhead measured
// here is an upper bound of the daemon's.
// BM_MetricsOverhead: the same two loops interleaved in alternating rounds inside one benchmark,
// so the machine's load drifts equally over both; reports overhead_pct.
// BM_MetricsWorkerUpdates: the per-item Stats updates alone (ns per item).
// BM_MetricsScrape/<rules>: one scrape (Snapshot + families + text) with 64 partitions of lag,
// 3 topics and a pack of <rules> rules, per-rule labels on (and /0 suffix = off).
//
// The machine has 2 cores shared with other builds: compare ratios, not absolute numbers.
// Run: build/<dir>/benchmarks/metrics_benchmark --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <time.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "steppewatch/decode/news_item.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/metrics/collector.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/pipeline/stats.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::metrics {
namespace {

// The per-item work of one worker, with its own decoder, match context and evaluator.
class Worker {
 public:
  static std::unique_ptr<Worker> Create(std::string* error) {
    auto w = std::make_unique<Worker>();
    const std::string source = STEPPEWATCH_SOURCE_DIR;
    auto pack = rules::CompiledPack::Load(source + "/config/rules/central-asia");
    if (!pack.ok()) return Fail(error, pack.status().ToString());
    w->pack_ = *pack;
    auto decoder = decode::ItemDecoder::Create({});
    if (!decoder.ok()) return Fail(error, decoder.status().ToString());
    w->decoder_ = std::move(*decoder);
    auto context = match::MatchContext::Create(w->pack_->matcher());
    if (!context.ok()) return Fail(error, context.status().ToString());
    w->context_ = std::move(*context);
    w->evaluator_ = std::make_unique<rules::Evaluator>(w->pack_);
    std::ifstream in(source + "/config/demo/sample-items.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) w->items_.push_back(line);
    }
    if (w->items_.empty()) return Fail(error, "no demo items in config/demo/sample-items.jsonl");
    return w;
  }

  // Processes item `k` (mod the item count); returns the number of fired rules and, through
  // `out`, the work counters the pipeline would record.
  struct Work {
    uint64_t bytes = 0;
    uint32_t hits = 0;
    const std::vector<rules::FiredRule>* fired = nullptr;
  };
  bool Process(size_t k, Work* out) {
    const std::string& payload = items_[k % items_.size()];
    if (decoder_->Decode(payload, &item_) != decode::DecodeError::kOk) return false;
    const std::string_view fields[decode::kFieldCount] = {item_.title, item_.body};
    if (!context_->Scan(fields, &hits_).ok()) return false;
    out->fired =
        &evaluator_->Evaluate({{item_.title, item_.body}, item_.lang, item_.source}, hits_);
    out->bytes = item_.title.size() + item_.body.size();
    out->hits = static_cast<uint32_t>(hits_.size());
    return true;
  }

  const std::shared_ptr<const rules::CompiledPack>& pack() const { return pack_; }
  size_t item_count() const { return items_.size(); }

 private:
  static std::unique_ptr<Worker> Fail(std::string* error, std::string message) {
    *error = std::move(message);
    return nullptr;
  }

  std::shared_ptr<const rules::CompiledPack> pack_;
  std::unique_ptr<decode::ItemDecoder> decoder_;
  std::unique_ptr<match::MatchContext> context_;
  std::unique_ptr<rules::Evaluator> evaluator_;
  std::vector<std::string> items_;
  decode::NewsItem item_;
  std::vector<match::Hit> hits_;
};

// One item through the worker, with or without the pipeline's per-item Stats updates (the same
// calls as KafkaPipeline::Impl::ProcessItem).
template <bool kCount>
inline uint64_t RunItem(Worker& worker, size_t k, pipeline::WorkerStats& ws) {
  Worker::Work work;
  int64_t t0 = 0;
  if constexpr (kCount) t0 = pipeline::Stats::SteadyNowNanos();
  const bool ok = worker.Process(k, &work);
  if constexpr (kCount) {
    ws.processing_time.ObserveNanos(pipeline::Stats::SteadyNowNanos() - t0);
    ws.items_processed.Add();
    if (ok) {
      ws.bytes_scanned.Add(work.bytes);
      ws.hits.Add(work.hits);
      for (const rules::FiredRule& f : *work.fired) ws.CountRule(f.rule);
      if (!work.fired->empty()) ws.items_matched.Add();
    }
    ws.heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(), std::memory_order_relaxed);
  }
  return ok ? work.fired->size() : 0;
}

struct Fixture {
  std::unique_ptr<Worker> worker;
  std::unique_ptr<pipeline::Stats> stats;
  std::string error;

  Fixture() {
    worker = Worker::Create(&error);
    if (!worker) return;
    stats = std::make_unique<pipeline::Stats>(1);
    stats->worker(0).BeginPack(1, worker->pack(), worker->pack()->rules().size());
    // Checked once before timing: the workload fires rules, and the counting path counts.
    uint64_t fired = 0;
    for (size_t k = 0; k < worker->item_count(); ++k) {
      fired += RunItem<true>(*worker, k, stats->worker(0));
    }
    const pipeline::StatsSnapshot s = stats->Snapshot();
    if (fired == 0) error = "no rule fired on the demo items: the workload is not valid";
    if (s.items_processed != worker->item_count()) error = "items_processed is wrong";
  }
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_MetricsItemLoop(benchmark::State& state) {
  Fixture& f = GetFixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const bool count = state.range(0) != 0;
  pipeline::WorkerStats& ws = f.stats->worker(0);
  size_t k = 0;
  uint64_t fired = 0;
  for (auto _ : state) {
    fired += count ? RunItem<true>(*f.worker, k, ws) : RunItem<false>(*f.worker, k, ws);
    ++k;
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(k));
  state.SetLabel(count ? "with Stats updates" : "no metrics");
}
BENCHMARK(BM_MetricsItemLoop)->Arg(0)->Arg(1);

void BM_MetricsOverhead(benchmark::State& state) {
  Fixture& f = GetFixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  pipeline::WorkerStats& ws = f.stats->worker(0);
  // A round is every demo item 20 times (~1-2 ms of work): long enough for the clock reads
  // around it to be noise, short enough that load drift hits both variants alike.
  const size_t round = f.worker->item_count() * 20;
  // This thread's CPU time, not wall time: on a shared machine the wall clock also counts the
  // time other processes ran, which is larger than the effect measured here.
  double with = 0, without = 0;
  uint64_t fired = 0;
  bool counted_first = false;  // alternate the order so neither variant always runs warm
  for (auto _ : state) {
    const double t0 = ThreadCpuSeconds();
    for (size_t k = 0; k < round; ++k) {
      fired += counted_first ? RunItem<true>(*f.worker, k, ws) : RunItem<false>(*f.worker, k, ws);
    }
    const double t1 = ThreadCpuSeconds();
    for (size_t k = 0; k < round; ++k) {
      fired += counted_first ? RunItem<false>(*f.worker, k, ws) : RunItem<true>(*f.worker, k, ws);
    }
    const double t2 = ThreadCpuSeconds();
    with += counted_first ? t1 - t0 : t2 - t1;
    without += counted_first ? t2 - t1 : t1 - t0;
    counted_first = !counted_first;
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * round * 2));
  const double w = with;
  const double wo = without;
  state.counters["overhead_pct"] = wo > 0 ? 100.0 * (w - wo) / wo : 0;
  state.counters["ns_per_item_without"] =
      wo * 1e9 / static_cast<double>(state.iterations() * round);
  state.counters["ns_per_item_with"] = w * 1e9 / static_cast<double>(state.iterations() * round);
}
BENCHMARK(BM_MetricsOverhead)->Unit(benchmark::kMillisecond)->MinTime(3);

// A pack of `rules` score-free rules without a compiled matcher (the collector reads only ids,
// severities and pack info).
std::shared_ptr<const rules::CompiledPack> SyntheticPack(int rules) {
  std::string yaml = "rules:\n";
  for (int i = 0; i < rules; ++i) {
    yaml += "  - id: r" + std::to_string(i) +
            "\n    severity: " + (i % 3 == 0 ? "high" : "medium") + "\n    query: w" +
            std::to_string(i) + "x\n";
  }
  rules::PackOptions options;
  options.compile_matcher = false;
  auto pack = rules::CompiledPack::LoadFromFiles(
      {{"pack.yaml", "pack: {name: bench, version: \"1\"}\n"}, {"rules.yaml", yaml}}, options);
  return pack.ok() ? *pack : nullptr;
}

void BM_MetricsWorkerUpdates(benchmark::State& state) {
  pipeline::Stats stats(1);
  pipeline::WorkerStats& ws = stats.worker(0);
  ws.BeginPack(1, SyntheticPack(100), 100);
  uint32_t k = 0;
  for (auto _ : state) {
    const int64_t t0 = pipeline::Stats::SteadyNowNanos();
    ws.processing_time.ObserveNanos(pipeline::Stats::SteadyNowNanos() - t0);
    ws.items_processed.Add();
    ws.bytes_scanned.Add(3000);
    ws.hits.Add(4);
    ws.CountRule(k % 100);  // two fired rules: a typical matching item
    ws.CountRule((k + 7) % 100);
    ws.items_matched.Add();
    ws.heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(), std::memory_order_relaxed);
    ++k;
  }
  if (stats.Snapshot().items_processed != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("items_processed does not match the iterations");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsWorkerUpdates);

void BM_MetricsScrape(benchmark::State& state) {
  const int rules = static_cast<int>(state.range(0));
  const bool per_rule = state.range(1) != 0;
  std::shared_ptr<const rules::CompiledPack> pack = SyntheticPack(rules);
  if (pack == nullptr) {
    state.SkipWithError("synthetic pack did not load");
    return;
  }
  pipeline::Stats stats(2);
  pipeline::PackHolder holder(pack);
  for (int w = 0; w < 2; ++w) {
    stats.worker(w).BeginPack(1, pack, pack->rules().size());
    for (int i = 0; i < rules; i += 3) stats.worker(w).CountRule(i);
  }
  stats.consumer().consumed.Register("news.items")->messages.Add(1000);
  stats.delivery().produced.Register("alerts.central-asia")->messages.Add(10);
  stats.delivery().produced.Register("steppewatch.dead-letter")->messages.Add(1);
  std::vector<pipeline::PartitionLag> lag;
  for (int p = 0; p < 64; ++p) lag.push_back({"news.items", p, 10, 12});
  stats.SetConsumerLag(std::move(lag));
  CollectorOptions options;
  options.per_rule_labels = per_rule;
  options.dead_letter_topic = "steppewatch.dead-letter";
  StatsCollector collector({.stats = &stats, .packs = &holder}, options);

  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = RenderText(collector.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  if (bytes == 0) state.SkipWithError("empty exposition");
  state.counters["exposition_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_MetricsScrape)
    ->Args({100, 1})
    ->Args({1000, 1})
    ->Args({10000, 1})
    ->Args({10000, 0})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace steppewatch::metrics

BENCHMARK_MAIN();
