// StoriesStage::ProcessBatch against Process one by one, and the replay horizon.
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/stories/stage.h"
#include "stories/stage_test_util.h"
#include "testing/status_matchers.h"

namespace steppewatch::stories {
namespace {

// What one output says, as a string to compare: the alert or the rejection, the key, the story,
// the spike events.
std::string Describe(const StageOutput& out) {
  std::string d = std::string(out.alert) + "|" + std::string(out.key) + "|" +
                  std::string(out.story_id) + "|" + std::to_string(out.story_copies) + "|" +
                  std::string(out.rejected) + "|" + out.message;
  for (const auto& e : out.spikes) d += "|" + std::string(e.key) + "=" + std::string(e.json);
  return d;
}

TEST(StageBatch, GivesWhatOneByOneGives) {
  // A stream with everything the stage does: new stories, copies (0-3 bits), the same item on
  // two topics, bad alerts of each kind, a late one, a burst that spikes and a clock jump that
  // expires the window, so that stories expire and spikes start and end inside batches.
  std::vector<std::string> alerts;
  std::vector<int64_t> kafka;
  int64_t t = kT0;
  for (int i = 0; i < 3000; ++i) {
    t += i < 2000 ? 20 * kMinute : 30 * 1000;  // a week of background, then a dense stretch
    if (i == 2600) t += 5 * kDay;              // past the 72 h window: everything expires
    AlertSpec a{"item" + std::to_string(i), Distinct(i), t};
    if (i % 5 == 1) {  // a copy of the previous item, a few bits away
      a.fp = Distinct(i - 1) ^ (uint64_t{1} << (i % 64)) ^ (uint64_t{1} << ((i * 7) % 64));
      a.source = "copy" + std::to_string(i % 7) + ".example";
      a.lang = i % 2 ? "kk" : "ru";
    }
    if (i >= 2000) a.tags = {"geo:kazakhstan", "theme:unrest"};
    alerts.push_back(Alert(a));
    kafka.push_back(-1);
    if (i % 97 == 0) {  // the same item again (another alert topic)
      alerts.push_back(alerts.back());
      kafka.push_back(-1);
    }
    if (i % 211 == 0) {
      alerts.push_back(i % 2 ? "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"x\"}}"
                             : "{not json");
      kafka.push_back(-1);
    }
    if (i == 2700) {  // older than the window: late
      AlertSpec late{"late", Distinct(99999), kT0 + kDay};
      alerts.push_back(Alert(late));
      kafka.push_back(-1);
    }
  }
  StageOptions o;
  o.fixed_now = "2030-01-01T00:00:00Z";
  o.warmup_days = 3;
  SW_ASSERT_OK_AND_ASSIGN(auto one, StoriesStage::Create(o));
  SW_ASSERT_OK_AND_ASSIGN(auto batched, StoriesStage::Create(o));
  std::vector<std::string> want;
  for (size_t i = 0; i < alerts.size(); ++i) {
    want.push_back(Describe(one->Process(alerts[i], kafka[i], /*replay=*/false)));
  }
  std::vector<std::string> got;
  const size_t sizes[] = {1, 2, 3, 16, 64, 7};
  for (size_t i = 0, k = 0; i < alerts.size(); ++k) {
    size_t n = std::min(sizes[k % 6], alerts.size() - i);
    std::vector<StageInput> in;
    for (size_t j = i; j < i + n; ++j) in.push_back({alerts[j], kafka[j]});
    auto outs = batched->ProcessBatch(in, /*replay=*/false);
    ASSERT_EQ(outs.size(), n);
    for (const StageOutput& out : outs) got.push_back(Describe(out));
    i += n;
  }
  ASSERT_EQ(got.size(), want.size());
  size_t spikes = 0, rejected = 0, copies = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << "alert " << i;
    spikes += want[i].find("steppewatch.spike.v1") != std::string::npos;
    rejected += want[i].find("|json|") != std::string::npos ||
                want[i].find("|no_fingerprint|") != std::string::npos ||
                want[i].find("|late|") != std::string::npos;
    copies += want[i].find("\"new\":false") != std::string::npos;
  }
  // The stream did what it is for.
  EXPECT_GT(spikes, 0u);
  EXPECT_EQ(rejected, 16u);  // 15 bad, 1 late
  EXPECT_GT(copies, 500u);
  StageStats a = one->stats(), b = batched->stats();
  EXPECT_EQ(a.alerts, b.alerts);
  EXPECT_EQ(a.new_stories, b.new_stories);
  EXPECT_EQ(a.copies, b.copies);
  EXPECT_EQ(a.rejected, b.rejected);
  EXPECT_EQ(a.late, 1u);
  EXPECT_EQ(a.late, b.late);
  EXPECT_EQ(a.spike_events, b.spike_events);
  EXPECT_EQ(a.window_stories, b.window_stories);
}

TEST(StageBatch, ReplayedBatchesUpdateStateOnly) {
  StageOptions o;
  o.fixed_now = "2030-01-01T00:00:00Z";
  SW_ASSERT_OK_AND_ASSIGN(auto stage, StoriesStage::Create(o));
  std::vector<std::string> alerts;
  for (int i = 0; i < 40; ++i)
    alerts.push_back(Alert({"r" + std::to_string(i), Distinct(i % 20), kT0 + i * kMinute}));
  std::vector<StageInput> in;
  for (const auto& a : alerts) in.push_back({a, -1});
  for (const StageOutput& out : stage->ProcessBatch(in, /*replay=*/true)) {
    EXPECT_TRUE(out.alert.empty());
    EXPECT_TRUE(out.rejected.empty());
  }
  EXPECT_EQ(stage->stats().new_stories, 20u);
  EXPECT_EQ(stage->stats().copies, 20u);
}

TEST(ReplayHorizon, CoversTheWindowAndTheWarmup) {
  StageOptions o;
  EXPECT_EQ(ReplayHorizon(o), absl::Hours(7 * 24));
  o.warmup_days = 0;
  EXPECT_EQ(ReplayHorizon(o), absl::Hours(72));
}

}  // namespace
}  // namespace steppewatch::stories
