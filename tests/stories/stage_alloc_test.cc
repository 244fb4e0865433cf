// The stories stage's hot path does not allocate per alert: once its buffers have seen the
// stream's shapes (alert sizes, batch sizes, the keys that count new stories), ProcessBatch
// enriches alerts, groups copies, counts new stories and raises spike events without operator
// new. A test binary of its own: it replaces the global operator new
// (tests/testing/counting_new.h).
//
// What is not counted: the index's 2 MiB arenas and its bucket blocks come from aligned_alloc
// (one per arena, not per alert; the arenas' count is StageStats::index_arenas_allocated), and a
// rule or tag the stage has never seen adds its key once (the spike detector's tables grow).
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "steppewatch/stories/stage.h"
#include "stories/stage_test_util.h"
#include "testing/counting_new.h"
#include "testing/status_matchers.h"

namespace steppewatch::stories {
namespace {

// A stream over `n` minutes starting at `t0`: every third alert a copy of one of the last ten
// stories (the stage groups it), the rest new stories, over eight rules, three tags each and
// four languages; alert i is alert `first + i` of one endless stream.
std::vector<std::string> Stream(int first, int n, int64_t t0) {
  std::vector<std::string> alerts;
  for (int k = 0; k < n; ++k) {
    const int i = first + k;
    const bool copy = i >= 10 && i % 3 == 0;
    AlertSpec a{"item-" + std::to_string(i), Distinct(copy ? i - 1 - i % 10 : i),
                t0 + int64_t{k} * kMinute};
    a.rule = "rule." + std::to_string(i % 8);
    a.tags = {"geo:g" + std::to_string(i % 5), "actor:a" + std::to_string(i % 7),
              "theme:t" + std::to_string(i % 3)};
    a.lang = std::vector<std::string>{"en", "ru", "kk", "zh"}[i % 4];
    a.source = "outlet" + std::to_string(i % 13) + ".example";
    a.tokens = 100 + static_cast<uint32_t>(i % 400);
    alerts.push_back(Alert(a));
  }
  return alerts;
}

// 300 new stories on rule `rule` in 50 minutes from `t0`, each with that rule's geo tag.
std::vector<std::string> Burst(int rule, int64_t t0) {
  std::vector<std::string> alerts;
  for (int k = 0; k < 300; ++k) {
    AlertSpec a{"burst" + std::to_string(rule) + "-" + std::to_string(k),
                Distinct(1000000 * (rule + 1) + k), t0 + k * 10000};
    a.rule = "rule." + std::to_string(rule);
    a.tags = {"geo:g" + std::to_string(rule)};
    a.tokens = 200;
    alerts.push_back(Alert(a));
  }
  return alerts;
}

size_t RunBatches(StoriesStage& stage, const std::vector<std::string>& alerts,
                  std::vector<StageInput>& in, size_t* spike_events) {
  size_t enriched = 0;
  for (size_t i = 0; i < alerts.size(); i += 16) {
    in.clear();
    for (size_t j = i; j < std::min(alerts.size(), i + 16); ++j) in.push_back({alerts[j], -1});
    for (const StageOutput& out : stage.ProcessBatch(in, /*replay=*/false)) {
      EXPECT_TRUE(out.rejected.empty()) << out.message;
      enriched += out.alert.empty() ? 0 : 1;
      *spike_events += out.spikes.size();
    }
  }
  return enriched;
}

TEST(StageAllocations, ProcessBatchDoesNotAllocatePerAlert) {
  StageOptions o;
  o.fixed_now = "2030-01-01T00:00:00Z";
  o.warmup_days = 1;  // spikes may fire after the first day
  SW_ASSERT_OK_AND_ASSIGN(auto stage, StoriesStage::Create(o));
  std::vector<StageInput> in;
  in.reserve(16);
  size_t spikes = 0;
  // Warm-up: two days of one alert a minute (every key seen, the buffers at their sizes).
  const std::vector<std::string> warm = Stream(0, 2 * 24 * 60, kT0);
  ASSERT_EQ(RunBatches(*stage, warm, in, &spikes), warm.size());
  // The counter sees allocations (else this test could not fail).
  const long probe = steppewatch::testing::Allocations();
  delete new std::string(100, 'x');
  ASSERT_GT(steppewatch::testing::Allocations(), probe);

  // The next day: new stories and copies, no spike.
  const std::vector<std::string> day = Stream(2 * 24 * 60, 24 * 60, kT0 + 2 * kDay);
  long before = steppewatch::testing::Allocations();
  EXPECT_EQ(RunBatches(*stage, day, in, &spikes), day.size());
  const long day_allocations = steppewatch::testing::Allocations() - before;
  EXPECT_EQ(day_allocations, 0) << "over " << day.size() << " alerts";

  // Then bursts of new stories on one rule at a time, with keys the stream has: spike events
  // (a start, updates while the burst grows, an end). An event allocates its story list (one
  // allocation, SpikeEvent::story_seqs; events are a few per spike, not per alert). Each burst
  // comes after half a day of silence, so its first story waits for the second (the clock's
  // guard defers it); the first burst also grows those buffers to their size.
  const size_t events_before = spikes;
  EXPECT_EQ(RunBatches(*stage, Burst(0, kT0 + 3 * kDay + 12 * kHour), in, &spikes), 300u);
  EXPECT_GT(spikes, events_before) << "the first burst raised no spike event";
  const size_t second_before = spikes;
  const std::vector<std::string> burst = Burst(1, kT0 + 4 * kDay + 12 * kHour);
  before = steppewatch::testing::Allocations();
  EXPECT_EQ(RunBatches(*stage, burst, in, &spikes), burst.size());
  const long burst_allocations = steppewatch::testing::Allocations() - before;
  const size_t events = spikes - second_before;
  EXPECT_GT(events, 0u) << "the second burst raised no spike event: the test covers that path";
  EXPECT_LE(burst_allocations, static_cast<long>(events))
      << "over " << burst.size() << " alerts with " << events << " spike events";
}

}  // namespace
}  // namespace steppewatch::stories
