// The item path does not allocate per item: once an ItemProcessor has seen the items' shapes
// (sizes, hits, alerts per item), Process() decodes, folds, matches with the default rule pack,
// evaluates, fingerprints and renders alerts without operator new. A test binary of its own: it
// replaces the global operator new (tests/testing/counting_new.h).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/rules/pack.h"
#include "testing/counting_new.h"
#include "testing/paths.h"

namespace steppewatch::pipeline {
namespace {

std::unique_ptr<ItemProcessor> DefaultPackProcessor() {
  auto pack =
      rules::CompiledPack::Load(steppewatch::testing::SourceDir() / "config/rules/central-asia");
  EXPECT_TRUE(pack.ok()) << pack.status();
  if (!pack.ok()) return nullptr;
  ProcessorOptions options;
  options.instance = "test-instance";
  options.fixed_processed_at = "2026-01-01T00:00:00.000Z";
  auto p = ItemProcessor::Create(*pack, options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::vector<std::string> Lines(const std::filesystem::path& path, size_t every = 1) {
  std::vector<std::string> items;
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && n++ % every == 0) items.push_back(line);
  }
  return items;
}

struct Counts {
  size_t alerted = 0, alerts = 0, dead = 0;
  long allocations = 0;
};

// Two passes over `items` to warm the processor up, then the allocations of a third.
Counts ThirdPass(ItemProcessor& processor, const std::vector<std::string>& items) {
  Counts c;
  auto pass = [&] {
    c = Counts();
    int64_t offset = 0;
    for (const std::string& payload : items) {
      const Outcome& o = processor.Process(payload, {"news.items", 0, offset++, 1668931200000});
      c.alerted += o.kind == Outcome::Kind::kAlerts ? 1 : 0;
      c.alerts += o.alerts.size();
      c.dead += o.kind == Outcome::Kind::kDeadLetter ? 1 : 0;
    }
  };
  pass();
  pass();
  const long before = steppewatch::testing::Allocations();
  pass();
  c.allocations = steppewatch::testing::Allocations() - before;
  return c;
}

TEST(ItemProcessorAllocations, TheCounterSeesAllocations) {
  const long probe = steppewatch::testing::Allocations();
  delete new std::string(100, 'x');
  EXPECT_GT(steppewatch::testing::Allocations(), probe);
}

// The demo feed (English, Russian, Kazakh and Chinese items, syndicated copies among them).
// Dead letters are left out: the decoder builds their messages on its failure path.
TEST(ItemProcessorAllocations, ProcessDoesNotAllocatePerItem) {
  auto processor = DefaultPackProcessor();
  ASSERT_NE(processor, nullptr);
  const std::vector<std::string> items =
      Lines(steppewatch::testing::SourceDir() / "config/demo/sample-items.jsonl");
  ASSERT_GE(items.size(), 20u);
  const Counts c = ThirdPass(*processor, items);
  // The pass covered both paths: alerting items (fingerprints, rendering; some to more than
  // one topic) and items without a match.
  EXPECT_GT(c.alerted, items.size() / 2);
  EXPECT_GT(c.alerts, c.alerted);
  EXPECT_LT(c.alerted, items.size());
  EXPECT_EQ(c.dead, 0u);
  EXPECT_EQ(c.allocations, 0) << "over " << items.size() << " items, " << c.alerted
                              << " of them alerting";
}

// The same over every 25th item of the bench corpus (2,200 items of news in four languages,
// long and short), when ../shared/corpus is there.
TEST(ItemProcessorAllocations, ProcessDoesNotAllocatePerBenchCorpusItem) {
  const std::filesystem::path corpus =
      steppewatch::testing::SourceDir() / "../shared/corpus/news-bench.jsonl";
  if (!std::filesystem::exists(corpus)) {
    GTEST_SKIP() << "no bench corpus at " << corpus.string()
                 << " (the project's checkout alone: the demo feed's test covers the path)";
  }
  auto processor = DefaultPackProcessor();
  ASSERT_NE(processor, nullptr);
  const std::vector<std::string> items = Lines(corpus, 25);
  ASSERT_GE(items.size(), 1000u);
  const Counts c = ThirdPass(*processor, items);
  EXPECT_GT(c.alerted, 20u);
  EXPECT_EQ(c.allocations, 0) << "over " << items.size() << " items, " << c.alerted
                              << " of them alerting, " << c.dead << " dead letters";
}

}  // namespace
}  // namespace steppewatch::pipeline
