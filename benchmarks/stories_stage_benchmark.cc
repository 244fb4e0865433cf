// Stories stage benchmarks (see benchmarks/README.md, "Stories").
//
//   BM_StoryIndexAssign/N          StoryIndex::Expire + Assign in steady state with N stories in a
//                                  7-day window (time advances 7d/N per item, so one story
//                                  expires per new one); 80% new stories, 20% copies (a recent
//                                  fingerprint with 0-3 bits flipped). Counter bytes_per_story:
//                                  MemoryBytes() / stories.
//   BM_StoryIndexReferenceSortedTables/N
//                                  the reference: the published scheme (Manku et al.) as four
//                                  permuted sorted tables, lookup only (no insert, no expiry:
//                                  a lower bound of what it costs in a moving window), same
//                                  queries.
//   BM_StoryIndexAssignPrefetched/N
//                                  the same with the look-ahead a batch gives (the next items'
//                                  bucket heads and buckets prefetched).
//   BM_StoriesStage/N              StoriesStage::Process of a 1.5 KB alert (2 matches, 6 hits with
//                                  snippets, a rule and two tags each) with N stories in a 7-day
//                                  window: parse and validate, assign, count keys, render.
//                                  Counter bytes_per_story: the stage's memory / stories at the
//                                  end; peak_bytes_per_story: the most seen between passes of
//                                  4,096 alerts (the arenas' packing moves it). Fails
//                                  if any alert was rejected.
//   BM_StoriesStageBatch16/N       the same through ProcessBatch, 16 alerts per call (what the
//                                  stories role and `steppewatch stories` do).
//   BM_StoriesStageBatch16Span/N   the same over a fixed span of 2 M alerts, one fill (counters
//                                  packings, packing_s, new_arenas: the index's whole-window
//                                  events inside the span).
//   BM_StoriesStageReferenceParse  a reference for the stage: simdjson On-Demand over the same
//                                  alert, reading the same fields (the floor of any stage that
//                                  reads JSON alerts, without validating what it skips), plus the
//                                  copy into the padded buffer.
//   BM_StoriesStageReferenceDomParse
//                                  simdjson's DOM parser over the same alert, the same fields
//                                  read: what the stage's parse was before its own walk over
//                                  simdjson's structural index (src/stories/alert_fields.h).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "simdjson.h"
#include "steppewatch/stories/fingerprint.h"
#include "steppewatch/stories/stage.h"
#include "steppewatch/stories/story_index.h"
#include "support/stories_alert.h"

namespace steppewatch::stories {
namespace {

constexpr int64_t kWeekMs = 7 * 86400 * 1000LL;
constexpr int64_t kT0 = 1668988800000LL;  // 2022-11-21

// The query stream: 80% fresh random fingerprints, 20% near-copies of one of the last 4096.
// Every item has a lead key and two sentence keys (an item of more than 40 words with two
// sentences of 15: the most memory a story takes, and every new story also scans the lead and
// sentence tables; before 2026-12-05, the lead key only; before the evening, one sentence key); a
// copy keeps its original's. The second sentence key is derived from the first (no draw of its
// own), so the stream's other values are what they were.
class FingerprintStream {
 public:
  explicit FingerprintStream(uint64_t seed) : rng_(seed), recent_(4096) {}
  Fingerprint Next(Fingerprint* lead = nullptr, Fingerprint* sentence = nullptr,
                   Fingerprint* sentence2 = nullptr) {
    Fingerprint fp, l, s;
    if (n_ > recent_.size() && rng_() % 5 == 0) {
      std::tie(fp, l, s) = recent_[rng_() % recent_.size()];
      int flips = static_cast<int>(rng_() % 4);
      for (int i = 0; i < flips; ++i) fp ^= uint64_t{1} << (rng_() % 64);
    } else {
      fp = rng_() | 1;
      l = rng_() | 1;
      s = rng_() | 1;
    }
    recent_[n_++ % recent_.size()] = {fp, l, s};
    if (lead != nullptr) *lead = l;
    if (sentence != nullptr) *sentence = s;
    if (sentence2 != nullptr) *sentence2 = (s * 0x9E3779B97F4A7C15ULL) | 1;
    return fp;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::tuple<Fingerprint, Fingerprint, Fingerprint>> recent_;
  size_t n_ = 0;
};

std::string ItemId(uint64_t i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "reuters21578-%llu", static_cast<unsigned long long>(i));
  return buf;
}

void BM_StoryIndexAssign(benchmark::State& state) {
  const int64_t n = state.range(0);
  // One item in five is a copy, so a week of N stories is 1.25 N items.
  const int64_t dt = kWeekMs * 4 / (5 * n);
  StoryIndex index(kWeekMs);
  FingerprintStream fps(1);
  int64_t t = kT0;
  uint64_t i = 0;
  std::string id;
  for (; t < kT0 + kWeekMs; ++i, t += dt) {
    id = ItemId(i);
    Fingerprint lead;
    const Fingerprint fp = fps.Next(&lead);
    index.Assign(fp, id, t, i * 0x9E3779B97F4A7C15ULL, 0, lead);
  }
  // Ids made outside the timed loop.
  std::vector<std::string> ids(1 << 16);
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = ItemId(i + k);
  uint64_t copies = 0;
  for (auto _ : state) {
    t += dt;
    index.Expire(t);
    Fingerprint lead;
    const Fingerprint fp = fps.Next(&lead);
    auto a = index.Assign(fp, ids[i & 0xffff], t, i * 0x9E3779B97F4A7C15ULL, 0, lead);
    copies += !a.is_new;
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["stories"] = static_cast<double>(index.size());
  state.counters["bytes_per_story"] =
      static_cast<double>(index.MemoryBytes()) / static_cast<double>(index.size());
  state.counters["copy_share"] = static_cast<double>(copies) / state.iterations();
}
BENCHMARK(BM_StoryIndexAssign)
    ->Arg(10000)
    ->Arg(1000000)
    ->Arg(5000000)
    ->Unit(benchmark::kNanosecond);

// As BM_StoryIndexAssign, with the look-ahead a batch gives: the heads of the item kAhead
// places on and the buckets of the item kAhead / 2 places on are prefetched (what
// StoriesStage::ProcessBatch does with the alerts it has parsed).
void BM_StoryIndexAssignPrefetched(benchmark::State& state) {
  constexpr size_t kAhead = 8;
  const int64_t n = state.range(0);
  const int64_t dt = kWeekMs * 4 / (5 * n);
  StoryIndex index(kWeekMs);
  FingerprintStream fps(1);
  int64_t t = kT0;
  uint64_t i = 0;
  std::string id;
  for (; t < kT0 + kWeekMs; ++i, t += dt) {
    id = ItemId(i);
    Fingerprint lead;
    const Fingerprint fp = fps.Next(&lead);
    index.Assign(fp, id, t, i * 0x9E3779B97F4A7C15ULL, 0, lead);
  }
  std::vector<std::string> ids(1 << 16);
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = ItemId(i + k);
  Fingerprint ahead[kAhead], ahead_lead[kAhead];
  for (size_t k = 0; k < kAhead; ++k) ahead[k] = fps.Next(&ahead_lead[k]);
  uint64_t copies = 0;
  for (auto _ : state) {
    const size_t now = i % kAhead, half = (i + kAhead / 2) % kAhead;
    const Fingerprint fp = ahead[now], lead = ahead_lead[now];
    ahead[now] = fps.Next(&ahead_lead[now]);  // the item kAhead places on
    index.PrefetchHeads(ahead[now], ahead_lead[now]);
    index.PrefetchBuckets(ahead[half], ahead_lead[half]);
    t += dt;
    index.Expire(t);
    auto a = index.Assign(fp, ids[i & 0xffff], t, i * 0x9E3779B97F4A7C15ULL, 0, lead);
    copies += !a.is_new;
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["stories"] = static_cast<double>(index.size());
  state.counters["bytes_per_story"] =
      static_cast<double>(index.MemoryBytes()) / static_cast<double>(index.size());
  state.counters["copy_share"] = static_cast<double>(copies) / state.iterations();
}
BENCHMARK(BM_StoryIndexAssignPrefetched)->Arg(1000000)->Arg(5000000)->Unit(benchmark::kNanosecond);

// Manku et al.'s tables for k = 3 with four 16-bit blocks: table t holds every fingerprint
// rotated so that block t is the top 16 bits, sorted; a query finds its block's range by binary
// search and tests each entry's distance.
void BM_StoryIndexReferenceSortedTables(benchmark::State& state) {
  const int64_t n = state.range(0);
  FingerprintStream fps(1);
  std::vector<Fingerprint> all(static_cast<size_t>(n));
  for (auto& fp : all) fp = fps.Next();
  auto rot = [](Fingerprint fp, int t) {
    int r = 16 * (3 - t);
    return r == 0 ? fp : (fp << r) | (fp >> (64 - r));
  };
  std::vector<Fingerprint> tables[4];
  for (int t = 0; t < 4; ++t) {
    tables[t].reserve(all.size());
    for (Fingerprint fp : all) tables[t].push_back(rot(fp, t));
    std::sort(tables[t].begin(), tables[t].end());
  }
  uint64_t found = 0;
  for (auto _ : state) {
    Fingerprint q = fps.Next();
    int best = 4;
    for (int t = 0; t < 4; ++t) {
      Fingerprint rq = rot(q, t);
      Fingerprint lo = rq & 0xffff000000000000ULL;
      auto it = std::lower_bound(tables[t].begin(), tables[t].end(), lo);
      for (; it != tables[t].end() && (*it >> 48) == (rq >> 48); ++it) {
        best = std::min(best, __builtin_popcountll(*it ^ rq));
      }
    }
    found += best <= 3;
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_story"] = 4 * sizeof(Fingerprint);  // fingerprints only, no stories
}
BENCHMARK(BM_StoryIndexReferenceSortedTables)->Arg(1000000)->Arg(5000000);

// A realistic alert (~1.3 KB: two matches with three hits each and their snippets).
std::string MakeAlert(uint64_t i, FingerprintStream& fps, int64_t t_ms, int rule) {
  Fingerprint lead, sentence;
  Fingerprint sentence2;
  const Fingerprint fp = fps.Next(&lead, &sentence, &sentence2);
  return bench::SyntheticStoriesAlert(ItemId(i), i, fp, t_ms, rule, lead, sentence, sentence2);
}

// The stage with a full window: `batch` 1 calls Process per alert, more calls ProcessBatch with
// that many alerts (items are counted per alert either way).
void RunStage(benchmark::State& state, size_t batch) {
  const int64_t n = state.range(0);
  const int64_t dt = kWeekMs * 4 / (5 * n);  // as in BM_StoryIndexAssign
  StageOptions o;
  o.window = absl::Hours(7 * 24);
  o.fixed_now = "2030-01-01T00:00:00Z";
  auto stage_or = StoriesStage::Create(o);
  if (!stage_or.ok()) {
    state.SkipWithError("Create failed");
    return;
  }
  auto& stage = **stage_or;
  FingerprintStream fps(2);
  int64_t t = kT0;
  uint64_t i = 0;
  // Fill the window through replay (the rebuild path), in batches of 64.
  {
    std::vector<std::string> fill(64);
    std::vector<StageInput> in(64);
    for (size_t k = 0; t < kT0 + kWeekMs; ++i, t += dt) {
      fill[k] = MakeAlert(i, fps, t, static_cast<int>(i % 50));
      in[k] = {fill[k], -1};
      if (++k == fill.size()) {
        stage.ProcessBatch(in, true);
        k = 0;
      }
    }
  }
  // Alerts made outside the timed loop: 4096 of them, their fingerprints fresh per pass.
  constexpr size_t kPass = 4096;
  std::vector<std::string> alerts;
  for (size_t k = 0; k < kPass; ++k) {
    alerts.push_back(MakeAlert(i + k, fps, t + k * dt, k % 50));
  }
  std::vector<StageInput> inputs(kPass);
  for (size_t k = 0; k < kPass; ++k) inputs[k] = {alerts[k], -1};
  size_t bytes = 0;
  uint64_t k = 0;
  double peak = 0;
  const StageStats before = stage.stats();
  for (auto _ : state) {
    const size_t at = k & (kPass - 1);
    if (batch == 1) {
      const StageOutput& out = stage.Process(alerts[at], -1, false);
      benchmark::DoNotOptimize(out.alert.data());
    } else {
      auto outs = stage.ProcessBatch(std::span(inputs).subspan(at, batch), false);
      benchmark::DoNotOptimize(outs.data());
    }
    for (size_t b = 0; b < batch; ++b) bytes += alerts[at + b].size();
    k += batch;
    if ((k & (kPass - 1)) == 0) {
      // The next pass: later times and fresh fingerprints (outside the measurement).
      state.PauseTiming();
      // The window's memory moves with the index's arena packing (free blocks are packed away
      // when they pass a sixth of the arenas): the peak is what a host must have.
      const StageStats now = stage.stats();
      if (now.window_stories > 0) {
        peak = std::max(
            peak, static_cast<double>(now.memory_bytes) / static_cast<double>(now.window_stories));
      }
      t += kPass * dt;
      for (size_t j = 0; j < kPass; ++j) {
        alerts[j] = MakeAlert(i + k + j, fps, t + j * dt, j % 50);
        inputs[j] = {alerts[j], -1};
      }
      state.ResumeTiming();
    }
  }
  StageStats s = stage.stats();
  if (s.rejected != 0) state.SkipWithError("alerts were rejected");
  // The index's whole-window events inside the measured span (the fill's are not counted):
  // packings of the arenas and their wall time (a packing moves every bucket),
  // and arenas newly taken from the system (their pages zeroed by the kernel when touched).
  state.counters["packings"] = static_cast<double>(s.index_packings - before.index_packings);
  state.counters["packing_s"] =
      static_cast<double>(s.index_packing_ns - before.index_packing_ns) * 1e-9;
  state.counters["new_arenas"] =
      static_cast<double>(s.index_arenas_allocated - before.index_arenas_allocated);
  state.SetItemsProcessed(static_cast<int64_t>(k));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["stories"] = static_cast<double>(s.window_stories);
  state.counters["bytes_per_story"] =
      static_cast<double>(s.memory_bytes) / static_cast<double>(s.window_stories);
  state.counters["peak_bytes_per_story"] = std::max(peak, state.counters["bytes_per_story"].value);
}

void BM_StoriesStage(benchmark::State& state) { RunStage(state, 1); }
BENCHMARK(BM_StoriesStage)->Arg(1000000)->Arg(5000000)->Unit(benchmark::kNanosecond);

// ProcessBatch of 16 alerts per call (the time per call is per batch; items_per_second and
// CPU time / 16 are per alert).
void BM_StoriesStageBatch16(benchmark::State& state) { RunStage(state, 16); }
BENCHMARK(BM_StoriesStageBatch16)->Arg(1000000)->Arg(5000000)->Unit(benchmark::kNanosecond);

// The same over a fixed span of 2 M alerts (125,000 batches; 40% of a 5 M window's turnover):
// one fill and one measured run, with the index's packings inside it counted (the counters),
// where Google Benchmark's own choice of iterations gave spans of 160k-1.4 M alerts.
void BM_StoriesStageBatch16Span(benchmark::State& state) { RunStage(state, 16); }
BENCHMARK(BM_StoriesStageBatch16Span)
    ->Arg(1000000)
    ->Arg(5000000)
    ->Iterations(125000)
    ->Unit(benchmark::kNanosecond);

void BM_StoriesStageReferenceParse(benchmark::State& state) {
  std::string alert = bench::SyntheticStoriesAlert(ItemId(1), 1, 0x1234, kT0, 1, 0x5678);
  simdjson::ondemand::parser parser;
  std::string buffer;
  buffer.reserve(alert.size() + simdjson::SIMDJSON_PADDING);
  size_t bytes = 0;
  for (auto _ : state) {
    buffer.assign(alert);
    simdjson::ondemand::document doc;
    if (parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(doc)) {
      state.SkipWithError("parse");
      return;
    }
    simdjson::ondemand::object root;
    if (doc.get_object().get(root)) return;
    size_t n = 0;
    for (auto f : root) {
      std::string_view key;
      if (f.unescaped_key().get(key)) return;
      if (key == "item") {
        simdjson::ondemand::object item;
        if (f.value().get_object().get(item)) return;
        for (auto g : item) {
          std::string_view v;
          if (g.value().get_string().get(v)) return;
          n += v.size();
        }
      } else if (key == "matches") {
        simdjson::ondemand::array arr;
        if (f.value().get_array().get(arr)) return;
        for (auto m : arr) {
          simdjson::ondemand::object mo;
          if (m.get_object().get(mo)) return;
          for (auto g : mo) {
            std::string_view mk;
            if (g.unescaped_key().get(mk)) return;
            if (mk == "rule") {
              std::string_view v;
              if (g.value().get_string().get(v)) return;
              n += v.size();
            } else if (mk == "tags") {
              simdjson::ondemand::array tags;
              if (g.value().get_array().get(tags)) return;
              for (auto tag : tags) {
                std::string_view v;
                if (tag.get_string().get(v)) return;
                n += v.size();
              }
            }
          }
        }
      }
    }
    benchmark::DoNotOptimize(n);
    bytes += alert.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_StoriesStageReferenceParse);

// A validating reference: simdjson's DOM parser over the same alert (the whole document checked,
// every value parsed), with the same fields read and the copy into the padded buffer. The stage
// parsed each alert this way until it walked simdjson's structural index itself.
void BM_StoriesStageReferenceDomParse(benchmark::State& state) {
  // The 4096 distinct alerts of one pass of BM_StoriesStage (6 MB: from the last-level cache,
  // as the stage reads them), or one alert over and over (from L1) when range(0) is 1.
  const size_t distinct = static_cast<size_t>(state.range(0));
  std::vector<std::string> alerts;
  for (size_t k = 0; k < distinct; ++k) {
    alerts.push_back(bench::SyntheticStoriesAlert(ItemId(k), k, k * 0x9E3779B97F4A7C15ULL, kT0 + k,
                                                  static_cast<int>(k % 50),
                                                  k * 0x2545F4914F6CDD1DULL));
  }
  simdjson::dom::parser parser;
  std::string buffer;
  buffer.reserve(alerts[0].size() + 64 + simdjson::SIMDJSON_PADDING);
  size_t bytes = 0, k = 0;
  for (auto _ : state) {
    const std::string& alert = alerts[k++ % distinct];
    buffer.assign(alert);
    simdjson::dom::element root;
    if (parser.parse(reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size(), false)
            .get(root)) {
      state.SkipWithError("parse");
      return;
    }
    size_t n = 0;
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return;
    for (auto [key, value] : obj) {
      if (key == "item") {
        simdjson::dom::object item;
        if (value.get_object().get(item)) return;
        for (auto [k, v] : item) {
          std::string_view s;
          if (v.get_string().get(s)) return;
          n += s.size();
        }
      } else if (key == "matches") {
        simdjson::dom::array arr;
        if (value.get_array().get(arr)) return;
        for (simdjson::dom::element m : arr) {
          simdjson::dom::object mo;
          if (m.get_object().get(mo)) return;
          for (auto [mk, mv] : mo) {
            if (mk == "rule") {
              std::string_view s;
              if (mv.get_string().get(s)) return;
              n += s.size();
            } else if (mk == "tags") {
              simdjson::dom::array tags;
              if (mv.get_array().get(tags)) return;
              for (simdjson::dom::element tag : tags) {
                std::string_view s;
                if (tag.get_string().get(s)) return;
                n += s.size();
              }
            }
          }
        }
      }
    }
    benchmark::DoNotOptimize(n);
    bytes += alert.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_StoriesStageReferenceDomParse)->Arg(1)->Arg(4096);

}  // namespace
}  // namespace steppewatch::stories

BENCHMARK_MAIN();
