// StoriesStage::ProcessBatch against Process one by one, and the replay horizon.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
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

// The enriched alert's story object and the output's views, against what the alert and the
// stream say (a reference outside the stage): the key is the item's id and the story id the
// "story.id" of the output, both unescaped (ids with escapes, non-ASCII and longer than a
// stored id: the views into the output and the copies), and each story's "languages" are its
// copies' languages in the order the stream first showed them (the 64th and later: "other"),
// as new languages keep arriving (the stage keeps the last rendering of a story's languages).
TEST(StageBatch, TheStoryObjectAndTheViewsAreThoseOfTheStream) {
  std::mt19937_64 rng(21);
  const std::vector<std::string> id_pieces = {"a",       "7",        "-", "\\\"", "\\\\",
                                              "\\u00e9", "\xc3\xa9", "/", " ",    "\\n"};
  std::vector<std::string> alerts;
  int64_t t = kT0;
  for (int i = 0; i < 3000; ++i) {
    t += kMinute;
    std::string id = "item" + std::to_string(i);
    if (i % 3 == 1) {
      for (int k = 0; k < 6; ++k) id += id_pieces[rng() % id_pieces.size()];
    } else if (i % 3 == 2) {
      // One special byte (a quote, a backslash, UTF-8, a control character) anywhere in an id
      // of 5-45 bytes (the escaping's check goes 16 bytes at a time).
      id += std::string(rng() % 40, 'p');
      const size_t special[] = {3, 4, 5, 6, 9};
      id.insert(rng() % (id.size() + 1), id_pieces[special[rng() % 5]]);
    }
    if (i % 50 == 7) id += std::string(300, 'x');  // longer than a stored id
    // Copies of the last 30 stories (their first fingerprint), languages from a pool of 80.
    const bool copy = i >= 30 && rng() % 3 == 0;
    AlertSpec a{id, copy ? Distinct(i - 1 - static_cast<int>(rng() % 30)) : Distinct(i), t};
    a.lang = "l" + std::to_string(i < 200 ? rng() % 8 : rng() % 80);
    alerts.push_back(Alert(a));
  }
  StageOptions o;
  o.fixed_now = "2030-01-01T00:00:00Z";
  SW_ASSERT_OK_AND_ASSIGN(auto stage, StoriesStage::Create(o));
  simdjson::dom::parser parser;
  std::map<std::string, int> language_index;  // interning order
  std::map<std::string, std::set<int>> story_languages;
  size_t escaped = 0, cut = 0;
  for (size_t i = 0; i < alerts.size(); i += 16) {
    std::vector<StageInput> in;
    for (size_t j = i; j < std::min(alerts.size(), i + 16); ++j) in.push_back({alerts[j], -1});
    auto outs = stage->ProcessBatch(in, /*replay=*/false);
    for (size_t j = 0; j < outs.size(); ++j) {
      const StageOutput& out = outs[j];
      ASSERT_TRUE(out.rejected.empty()) << out.message;
      simdjson::dom::element alert, enriched;
      ASSERT_EQ(parser.parse(alerts[i + j]).get(alert), simdjson::SUCCESS);
      std::string_view item_id;
      ASSERT_EQ(alert["item"]["id"].get(item_id), simdjson::SUCCESS);
      const std::string lang(alert["item"]["lang"].get_string().value());
      EXPECT_EQ(out.key, item_id);
      escaped += alerts[i + j].find('\\') != std::string::npos;
      const std::string key(out.key);
      ASSERT_EQ(parser.parse(std::string(out.alert)).get(enriched), simdjson::SUCCESS) << out.alert;
      std::string_view story_id;
      ASSERT_EQ(enriched["story"]["id"].get(story_id), simdjson::SUCCESS);
      EXPECT_EQ(out.story_id, story_id);
      const bool is_new = enriched["story"]["new"].get_bool().value();
      if (is_new) {
        EXPECT_EQ(story_id, key.substr(0, story_id.size()));
        cut += story_id.size() < key.size();
      }
      language_index.emplace(lang, static_cast<int>(language_index.size()));
      std::set<int>& langs = story_languages[std::string(story_id)];
      langs.insert(std::min(language_index[lang], 63));
      std::vector<std::string> want;
      for (int l : langs) {
        for (const auto& [name, index] : language_index) {
          if (index == l && l < 63) want.push_back(name);
        }
        if (l == 63) want.push_back("other");
      }
      std::vector<std::string> got;
      for (auto name : enriched["story"]["languages"].get_array()) {
        got.emplace_back(name.get_string().value());
      }
      EXPECT_EQ(got, want) << out.alert;
    }
  }
  EXPECT_GT(escaped, 1000u);
  EXPECT_GT(cut, 20u);
  EXPECT_GT(language_index.size(), 70u);
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
