// Decode stage benchmarks: ItemDecoder over the bench corpus (one JSON news item per line),
// reporting items/s and bytes/s on one thread. Skips with a message when the corpus is absent.
//
//   build/<dir>/benchmarks/decode_benchmark [--benchmark_filter=...]
//   STEPPEWATCH_CORPUS_DIR=/path/to/corpus overrides ../shared/corpus.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "simdjson.h"
#include "steppewatch/decode/news_item.h"

namespace steppewatch::decode {
namespace {

std::filesystem::path CorpusPath() {
  if (const char* dir = std::getenv("STEPPEWATCH_CORPUS_DIR")) {
    return std::filesystem::path(dir) / "news-bench.jsonl";
  }
  return std::filesystem::path(STEPPEWATCH_SOURCE_DIR) / "../shared/corpus/news-bench.jsonl";
}

// The corpus lines, loaded once; empty when the file is absent.
const std::vector<std::string>& Items() {
  static const std::vector<std::string>* items = [] {
    auto* out = new std::vector<std::string>;
    std::ifstream in(CorpusPath());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out->push_back(std::move(line));
    }
    return out;
  }();
  return *items;
}

bool SkipWithoutCorpus(benchmark::State& state) {
  if (!Items().empty()) return false;
  state.SkipWithError(
      ("corpus absent: " + CorpusPath().string() + " (set STEPPEWATCH_CORPUS_DIR)").c_str());
  return true;
}

// Decodes every item once before timing and checks that all of them decode, so the loop measures
// the happy path and not an early error exit.
bool CheckAllDecode(benchmark::State& state, ItemDecoder& decoder) {
  NewsItem item;
  std::string detail;
  for (const std::string& payload : Items()) {
    if (decoder.Decode(payload, &item, &detail) != DecodeError::kOk) {
      state.SkipWithError(("item does not decode: " + detail).c_str());
      return false;
    }
  }
  return true;
}

void RunDecode(benchmark::State& state, const DecoderOptions& options) {
  if (SkipWithoutCorpus(state)) return;
  auto decoder = ItemDecoder::Create(options);
  if (!decoder.ok()) {
    state.SkipWithError(std::string(decoder.status().message()).c_str());
    return;
  }
  if (!CheckAllDecode(state, **decoder)) return;
  const std::vector<std::string>& items = Items();
  NewsItem item;
  size_t bytes = 0;
  size_t count = 0;
  for (auto _ : state) {
    for (const std::string& payload : items) {
      (*decoder)->Decode(payload, &item);
      benchmark::DoNotOptimize(item.body.data());
      bytes += payload.size();
    }
    count += items.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(count));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// The daemon's configuration: default field names.
void BM_DecodeItem(benchmark::State& state) { RunDecode(state, DecoderOptions{}); }
BENCHMARK(BM_DecodeItem)->Unit(benchmark::kMillisecond);

// Parts of the cost, for the profile in benchmarks/README.md: the UTF-8 pass alone, and
// simdjson's stage 1 plus an iteration of the root object's keys without reading values.
void BM_DecodeUtf8ValidateOnly(benchmark::State& state) {
  if (SkipWithoutCorpus(state)) return;
  size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& payload : Items()) {
      benchmark::DoNotOptimize(simdjson::validate_utf8(payload.data(), payload.size()));
      bytes += payload.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * Items().size()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_DecodeUtf8ValidateOnly)->Unit(benchmark::kMillisecond);

void BM_DecodeSimdjsonKeysOnly(benchmark::State& state) {
  if (SkipWithoutCorpus(state)) return;
  simdjson::ondemand::parser parser;
  std::vector<simdjson::padded_string> padded;
  for (const std::string& payload : Items()) padded.emplace_back(payload);
  size_t bytes = 0;
  size_t keys = 0;
  for (auto _ : state) {
    for (const simdjson::padded_string& p : padded) {
      simdjson::ondemand::document doc;
      if (parser.iterate(p).get(doc)) continue;
      simdjson::ondemand::object root;
      if (doc.get_object().get(root)) continue;
      for (auto field : root) {
        std::string_view key;
        if (!field.unescaped_key().get(key)) keys += key.size();
      }
      bytes += p.size();
    }
  }
  benchmark::DoNotOptimize(keys);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * padded.size()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_DecodeSimdjsonKeysOnly)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace steppewatch::decode

BENCHMARK_MAIN();
