#include "steppewatch/stories/stage.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/stories/fingerprint.h"
#include "stories/stage_test_util.h"
#include "testing/status_matchers.h"

namespace steppewatch::stories {
namespace {

using ::steppewatch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

struct Collected {
  std::vector<std::string> alerts;
  std::vector<std::string> spikes;
  std::vector<std::string> rejected;
};

class StageTest : public ::testing::Test {
 protected:
  void Make(StageOptions o) {
    o.fixed_now = "2030-01-01T00:00:00Z";
    SW_ASSERT_OK_AND_ASSIGN(stage_, StoriesStage::Create(o));
  }
  void Feed(const std::string& json, int64_t kafka_ms = -1, bool replay = false) {
    const StageOutput& out = stage_->Process(json, kafka_ms, replay);
    if (!out.rejected.empty()) got_.rejected.emplace_back(out.rejected);
    if (!out.alert.empty()) got_.alerts.emplace_back(out.alert);
    for (const auto& e : out.spikes) got_.spikes.emplace_back(e.json);
  }
  void Tick(int64_t now) {
    for (const auto& e : stage_->Tick(now).spikes) got_.spikes.emplace_back(e.json);
  }
  // Feeds alert `a` with the first three digits of its `member` (a key's name) made "xyz": the
  // stage rejects it as no_fingerprint and writes no alert.
  void FeedWithAMalformedKey(const AlertSpec& a, std::string_view member) {
    std::string bad = Alert(a);
    const std::string opening = "\"" + std::string(member) + "\":\"";
    const size_t at = bad.find(opening);
    ASSERT_NE(at, std::string::npos) << member;
    bad.replace(at + opening.size(), 3, "xyz");
    const size_t alerts = got_.alerts.size(), rejected = got_.rejected.size();
    Feed(bad);
    EXPECT_EQ(got_.alerts.size(), alerts);
    ASSERT_EQ(got_.rejected.size(), rejected + 1);
    EXPECT_EQ(got_.rejected.back(), "no_fingerprint");
  }
  // A steady background for `days` from kT0: one new story every `every` on the key under test
  // (kz.unrest, geo:kazakhstan) and, so that the hour-of-week profile of all stories is flat as
  // in a real feed, one every 10 minutes on another key.
  void Background(int64_t days, int64_t every) {
    int64_t next_key = kT0;
    for (int64_t t = kT0, i = 0; t < kT0 + days * kDay; t += 10 * kMinute, ++i) {
      AlertSpec other{
          "other" + std::to_string(i), Distinct(2000000 + i), t, "other.rule", {"theme:other"}};
      Feed(Alert(other));
      if (t >= next_key) {
        Feed(Alert({"bg" + std::to_string(i), Distinct(1000000 + i), t}));
        next_key += every;
      }
    }
  }
  std::vector<std::string> SpikesWith(std::string_view state) const {
    std::vector<std::string> out;
    for (const auto& s : got_.spikes) {
      if (s.find("\"state\":\"" + std::string(state) + "\"") != std::string::npos) out.push_back(s);
    }
    return out;
  }
  std::unique_ptr<StoriesStage> stage_;
  Collected got_;
};

TEST_F(StageTest, RejectsBadOptions) {
  StageOptions o;
  o.spike_window = absl::Minutes(25);  // not a whole number of 10-minute buckets
  EXPECT_THAT(StoriesStage::Create(o), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  o = {};
  o.alpha = 0;
  EXPECT_THAT(StoriesStage::Create(o), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  o = {};
  o.fixed_now = "yesterday";
  EXPECT_THAT(StoriesStage::Create(o), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(StageTest, EnrichesTheAlertWithoutRewritingIt) {
  Make({});
  std::string in = Alert({"a1", 0x0123456789abcdefULL, kT0 + 8 * kHour});
  Feed(in);
  ASSERT_EQ(got_.alerts.size(), 1u);
  const std::string& out = got_.alerts[0];
  EXPECT_EQ(out.substr(0, in.size() - 1), in.substr(0, in.size() - 1));
  EXPECT_EQ(out.substr(in.size() - 1),
            ",\"story\":{\"id\":\"a1\",\"first_seen\":\"2022-11-21T08:00:00.000Z\",\"copies\":1,"
            "\"sources\":1,\"languages\":[\"en\"],\"new\":true}}");
  EXPECT_EQ(stage_->stats().new_stories, 1u);
}

TEST_F(StageTest, CopiesJoinTheStoryOfTheFirstItem) {
  Make({});
  Fingerprint fp = 0x0123456789abcdefULL;
  Feed(Alert({"first", fp, kT0}));
  AlertSpec copy{"second", fp ^ 0x5, kT0 + kHour};  // distance 2
  copy.source = "other.example";
  copy.lang = "ru";
  Feed(Alert(copy));
  Feed(Alert({"unrelated", fp ^ 0xF0F0, kT0 + 2 * kHour}));  // distance 8
  ASSERT_EQ(got_.alerts.size(), 3u);
  EXPECT_THAT(got_.alerts[1],
              HasSubstr("\"story\":{\"id\":\"first\",\"first_seen\":\"2022-11-21T00:00:00.000Z\","
                        "\"copies\":2,\"sources\":2,\"languages\":[\"en\",\"ru\"],\"new\":false}"));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"unrelated\""));
  StageStats s = stage_->stats();
  EXPECT_EQ(s.new_stories, 2u);
  EXPECT_EQ(s.copies, 1u);
  EXPECT_EQ(s.window_stories, 2u);
}

// The grouping end to end from text: fingerprints as the item processor computes them (folded
// fields and the original body), through the stage's alert parsing and index.
TEST_F(StageTest, SyndicatedCopiesFromTextJoinOneStoryAndATemplateTwinDoesNot) {
  Make({});
  Fingerprinter fingerprinter;
  auto fp = [&](const std::string& title, const std::string& body) {
    return fingerprinter.Compute(normalise::FoldToString(title), normalise::FoldToString(body),
                                 body);
  };
  // A one-sentence template item (Reuters has hundreds): its twin with another figure is
  // another story; its copies with a footer line or a byline line are the same story.
  const std::string title = "Fed adds reserves via customer repurchases";
  const std::string body =
      "The Federal Reserve arranged two billion dlrs of customer repurchase agreements, a Fed "
      "spokesman said.";
  Feed(Alert({"original", fp(title, body), kT0}));
  Feed(Alert({"footer", fp(title, body + "\nOur Standards: The Thomson Reuters Trust Principles."),
              kT0 + kMinute}));
  Feed(Alert({"byline", fp(title, "By Olzhas Auyezov\nWASHINGTON, March 2 (Reuters) - " + body),
              kT0 + 2 * kMinute}));
  std::string twin = body;
  twin.replace(twin.find("two billion"), 11, "1.5 billion");
  Feed(Alert({"twin", fp(title, twin), kT0 + 3 * kMinute}));
  ASSERT_EQ(got_.alerts.size(), 4u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"copies\":3"));
  EXPECT_THAT(got_.alerts[3], HasSubstr("\"story\":{\"id\":\"twin\""));
}

// Ten sentences of one report, for copies cut from it.
const std::vector<std::string>& CorridorSentences() {
  static const std::vector<std::string> sentences = {
      "Kazakhstan signed a new agreement with China on the transit of goods along the Middle "
      "Corridor on Tuesday.",
      "The deal covers rail freight through the Khorgos dry port and the port of Aktau on the "
      "Caspian Sea.",
      "Officials said the volume of containers would double over the next three years.",
      "The European Union has pledged investment in the route as an alternative to the northern "
      "corridor through Russia.",
      "Azerbaijan and Georgia are expected to join the talks on tariffs next month.",
      "Analysts in Almaty said bottlenecks at the Caspian ports remain the main obstacle.",
      "The ministry of transport plans to buy new ferries and expand the rail terminals.",
      "Trade between the two countries reached a record last year, according to customs data.",
      "Critics warned that the deal deepens dependence on Chinese credit.",
      "The government rejected the criticism and said the corridor serves every partner."};
  return sentences;
}

// A copy cut short keeps its lead: its whole text is too far for a copy, its lead key is not.
// Fingerprints and lead keys as the item processor computes them, through the stage.
TEST_F(StageTest, ATruncatedCopyJoinsByItsLead) {
  Make({});
  Fingerprinter fingerprinter;
  auto alert = [&](const std::string& id, const std::string& body, int64_t t) {
    AlertSpec spec{id, 0, t};
    spec.fp = fingerprinter.Compute("", normalise::FoldToString(body), body, &spec.lead);
    return std::make_pair(Alert(spec), spec);
  };
  const std::vector<std::string>& sentences = CorridorSentences();
  std::string whole, cut;
  for (size_t i = 0; i < sentences.size(); ++i) {
    whole += (i > 0 ? " " : "") + sentences[i];
    if (i < 8) cut += (i > 0 ? " " : "") + sentences[i];
  }
  auto [original, o] = alert("original", whole, kT0);
  auto [copy, c] = alert("cut", cut, kT0 + kMinute);
  ASSERT_NE(o.lead, 0u);
  ASSERT_NE(c.lead, 0u);
  // What the test is about: too far apart as whole texts, within the gate, the same lead.
  ASSERT_GT(Distance(o.fp, c.fp), kNearDuplicateDistance);
  ASSERT_LE(Distance(o.fp, c.fp), kLeadGate);
  ASSERT_EQ(o.lead, c.lead);
  Feed(original);
  Feed(copy);
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"copies\":2"));
  // Without its lead key in the alert the copy is a story of its own.
  AlertSpec no_lead = c;
  no_lead.id = "cut-without-lead";
  no_lead.lead = 0;
  Feed(Alert(no_lead));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"cut-without-lead\""));
}

// A copy cut to about half keeps its lead, but its whole text is past the fixed gate: it joins
// by the containment gate when both alerts carry item.fingerprint_tokens, and not without them.
TEST_F(StageTest, ACopyCutToHalfJoinsByItsTokenCounts) {
  Make({});
  Fingerprinter fingerprinter;
  auto alert = [&](const std::string& id, const std::string& body, int64_t t) {
    AlertSpec spec{id, 0, t};
    spec.fp =
        fingerprinter.Compute("", normalise::FoldToString(body), body, &spec.lead, &spec.tokens);
    return spec;
  };
  const std::vector<std::string>& sentences = CorridorSentences();
  std::string whole, cut;
  for (size_t i = 0; i < sentences.size(); ++i) {
    whole += (i > 0 ? " " : "") + sentences[i];
    if (i < 6) cut += (i > 0 ? " " : "") + sentences[i];
  }
  const AlertSpec o = alert("original", whole, kT0);
  const AlertSpec c = alert("cut", cut, kT0 + kMinute);
  // What the test is about: the same lead, past the fixed gate, within the containment gate.
  ASSERT_EQ(o.lead, c.lead);
  ASSERT_GT(Distance(o.fp, c.fp), kLeadGate);
  ASSERT_LE(Distance(o.fp, c.fp), LeadGate(o.tokens, c.tokens));
  Feed(Alert(o));
  Feed(Alert(c));
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"copies\":2"));
  // The same copy from a version that did not count tokens: the fixed gate, a story of its own.
  AlertSpec uncounted = c;
  uncounted.id = "cut-uncounted";
  uncounted.tokens = 0;
  Feed(Alert(uncounted));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"cut-uncounted\""));
}

// A copy with a rewritten headline and its first sentence dropped: its whole text and its lead
// moved, its sentence key did not. It joins by the sentence key within kSentenceGate, not past
// it, and not from an alert without the key (an older version's: the field is optional).
// The alert of an item with every key the item processor computes; without the second sentence
// key when `second` is false (an alert of a version before it).
AlertSpec KeyedAlert(const std::string& id, const std::string& title, const std::string& body,
                     int64_t t, bool second = true) {
  static Fingerprinter fingerprinter;
  AlertSpec spec{id, 0, t};
  spec.fp = fingerprinter.Compute(normalise::FoldToString(title), normalise::FoldToString(body),
                                  body, &spec.lead, &spec.tokens, &spec.sentence,
                                  second ? &spec.sentence2 : nullptr);
  return spec;
}

TEST_F(StageTest, ACopyWithANewHeadlineAndNoFirstSentenceJoinsBySentenceKey) {
  Make({});
  auto alert = [](const std::string& id, const std::string& title, const std::string& body,
                  int64_t t) { return KeyedAlert(id, title, body, t, /*second=*/false); };
  const std::vector<std::string>& sentences = CorridorSentences();
  std::string whole, dropped;
  for (size_t i = 0; i < sentences.size(); ++i) {
    whole += (i > 0 ? " " : "") + sentences[i];
    if (i > 0) dropped += (i > 1 ? " " : "") + sentences[i];
  }
  const AlertSpec o =
      alert("original", "Kazakhstan and China sign transport corridor deal", whole, kT0);
  const AlertSpec c =
      alert("rewritten", "Caspian route to double container traffic", dropped, kT0 + kMinute);
  // What the test is about: the lead broke and the whole text is past a copy's distance, the
  // sentence key held and the fingerprints are within its gate.
  ASSERT_NE(o.sentence, 0u);
  ASSERT_EQ(o.sentence, c.sentence);
  ASSERT_NE(o.lead, c.lead);
  ASSERT_GT(Distance(o.fp, c.fp), kNearDuplicateDistance);
  ASSERT_LE(Distance(o.fp, c.fp), kSentenceGate);
  Feed(Alert(o));
  Feed(Alert(c));
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"copies\":2"));
  // The same copy without the key (an alert of an older version): a story of its own.
  AlertSpec old = c;
  old.id = "rewritten-old";
  old.sentence = 0;
  Feed(Alert(old));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"rewritten-old\""));
  // One bit past the fixed gate from the original (and from both copies).
  AlertSpec far = c;
  far.id = "far";
  far.fp = o.fp;
  for (int b = 0, flipped = 0; flipped <= kSentenceGate; ++b) {
    if (((o.fp ^ c.fp) >> b & 1) == 0 && ((o.fp ^ old.fp) >> b & 1) == 0) {
      far.fp ^= uint64_t{1} << b;
      ++flipped;
    }
  }
  ASSERT_EQ(Distance(far.fp, o.fp), kSentenceGate + 1);
  ASSERT_GT(Distance(far.fp, c.fp), kSentenceGate);
  // With both token counts, 7 bits between texts of about one length is containment (up to 10:
  // SentenceContained), so it joins; without its count, the fixed gate: a story of its own.
  AlertSpec counted = far;
  counted.id = "far-counted";
  ASSERT_TRUE(SentenceContained(Distance(far.fp, o.fp), far.tokens, o.tokens));
  Feed(Alert(counted));
  EXPECT_THAT(got_.alerts[3], HasSubstr("\"story\":{\"id\":\"original\""));
  far.tokens = 0;
  Feed(Alert(far));
  EXPECT_THAT(got_.alerts[4], HasSubstr("\"story\":{\"id\":\"far\""));
  // A malformed key is rejected, as a malformed lead key is.
  FeedWithAMalformedKey(c, "fingerprint_sentence");
}

// A copy with a rewritten headline that lost the sentence carrying the original's sentence key
// (the least): its own least is the original's second key, and it joins by it. The same copy
// against an original from an alert without the second key (an older version's): a story of
// its own. A malformed second key is rejected as a malformed first one.
TEST_F(StageTest, ACopyThatLostTheLeastSentenceJoinsByTheSecondKey) {
  Make({});
  auto alert = [](const std::string& id, const std::string& title, const std::string& body,
                  int64_t t) { return KeyedAlert(id, title, body, t); };
  const std::vector<std::string>& sentences = CorridorSentences();
  std::string whole;
  for (size_t i = 0; i < sentences.size(); ++i) whole += (i > 0 ? " " : "") + sentences[i];
  const AlertSpec o =
      alert("original", "Kazakhstan and China sign transport corridor deal", whole, kT0);
  ASSERT_NE(o.sentence2, 0u);
  // The copy: every sentence but the one whose removal takes the least key.
  AlertSpec c{};
  for (size_t drop = 0; drop < sentences.size() && c.id.empty(); ++drop) {
    std::string body;
    for (size_t i = 0; i < sentences.size(); ++i) {
      if (i != drop) body += (body.empty() ? "" : " ") + sentences[i];
    }
    AlertSpec candidate =
        alert("rewritten", "Caspian route to double container traffic", body, kT0 + kMinute);
    if (candidate.sentence != o.sentence) c = candidate;
  }
  ASSERT_FALSE(c.id.empty());
  // What the test is about: the lead broke, the whole text is past a copy's distance, the
  // least sentence key is gone and the copy's least is the original's second.
  ASSERT_EQ(c.sentence, o.sentence2);
  ASSERT_NE(o.lead, c.lead);
  ASSERT_GT(Distance(o.fp, c.fp), kNearDuplicateDistance);
  AlertSpec older = o;  // the original from an alert without the second key
  older.id = "original-older";
  older.sentence2 = 0;
  Feed(Alert(older));
  AlertSpec lone = c;
  lone.id = "rewritten-alone";
  Feed(Alert(lone));
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"rewritten-alone\""));
  Make({});  // a new stage, and what it writes apart
  got_.alerts.clear();
  Feed(Alert(o));
  Feed(Alert(c));
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"story\":{\"id\":\"original\""));
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"copies\":2"));
  FeedWithAMalformedKey(c, "fingerprint_sentence2");
}

TEST_F(StageTest, TheSameItemOnTwoTopicsIsNotACopy) {
  Make({});
  std::string a = Alert({"x", 42, kT0});
  Feed(a);
  Feed(a);
  ASSERT_EQ(got_.alerts.size(), 2u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"copies\":1,"));
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"new\":true}"));
  EXPECT_EQ(stage_->stats().copies, 0u);
}

// An item whose rules go to two topics arrives as two alerts, each with its own topic's rules
// and tags: the new story counts for the keys of both, each key once (a tag in both, or the
// same alert delivered twice, counts once).
TEST_F(StageTest, TheSameItemOnTwoTopicsCountsForTheKeysOfBoth) {
  Make({});
  AlertSpec first{"x", 42, kT0};
  AlertSpec second{"x", 42, kT0};
  second.rule = "kz.urgent";
  second.tags = {"geo:kazakhstan", "theme:unrest"};
  Feed(Alert(first));
  Feed(Alert(second));
  Feed(Alert(first));                              // redelivered
  Feed(Alert({"y", Distinct(7), kT0 + kMinute}));  // another story, for kz.unrest only
  std::map<std::string, uint64_t> counts;
  stage_->ForEachKey([&](std::string_view scope, std::string_view name, uint64_t n) {
    counts[std::string(scope) + ":" + std::string(name)] = n;
  });
  EXPECT_EQ(counts, (std::map<std::string, uint64_t>{{"rule:kz.unrest", 2},
                                                     {"rule:kz.urgent", 1},
                                                     {"tag:geo:kazakhstan", 2},
                                                     {"tag:theme:unrest", 1}}));
  EXPECT_EQ(stage_->stats().new_stories, 2u);
  EXPECT_EQ(stage_->stats().copies, 0u);
}

// A new story counts for its keys in sorted order (rules, then tags; each key once): the order
// the keys are created in (ForEachKey's) and their spike events come in. Random tags with shared
// prefixes (of 8 bytes and more too), upper case, bytes of 0x80 and more (UTF-8) and repeats,
// against std::sort.
TEST_F(StageTest, AStorysNewKeysAreCountedInSortedOrder) {
  Make({});
  std::mt19937_64 rng(5);
  const std::vector<std::string> pieces = {"a", "b", "z",        "A",
                                           "~", ".", "\xc3\xa9", "\xe2\x82\xac"};
  const std::vector<std::string> prefixes = {
      "", "b", "geo:", "geo:coun", "geo:country", "geo:countryA~"};
  std::set<std::string> seen;
  for (int i = 0; i < 300; ++i) {
    AlertSpec spec{"item" + std::to_string(i), Distinct(i + 1), kT0 + i * kMinute};
    spec.rule = "rule." + std::to_string(i);
    spec.tags.clear();
    // A few tags (the insertion sort), and every tenth alert many (the n log n sort).
    const int n = i % 10 == 0 ? 20 + static_cast<int>(rng() % 21) : 1 + static_cast<int>(rng() % 6);
    for (int t = 0; t < n; ++t) {
      // Most of them past eight bytes, many sharing the first eight or more.
      std::string tag = prefixes[rng() % prefixes.size()];
      for (size_t k = rng() % 9; k > 0; --k) tag += pieces[rng() % pieces.size()];
      spec.tags.push_back(tag);
    }
    if (rng() % 4 == 0) spec.tags.push_back(spec.tags[0]);  // a repeat
    std::vector<std::string> want;
    for (const std::string& tag : spec.tags) {
      if (!seen.count("tag:" + tag)) want.push_back("tag:" + tag);
    }
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    want.insert(want.begin(), "rule:" + spec.rule);
    Feed(Alert(spec));
    std::vector<std::string> added;
    stage_->ForEachKey([&](std::string_view scope, std::string_view name, uint64_t) {
      const std::string key = std::string(scope) + ":" + std::string(name);
      if (seen.insert(key).second) added.push_back(key);
    });
    ASSERT_EQ(added, want) << "alert " << i;
  }
  EXPECT_THAT(got_.rejected, IsEmpty());
}

TEST_F(StageTest, StoriesExpireAfterTheWindow) {
  StageOptions o;
  o.window = absl::Hours(72);
  Make(o);
  Feed(Alert({"old", 7777, kT0}));
  Feed(Alert({"copy", 7777, kT0 + 71 * kHour}));
  Feed(Alert({"after", 7777, kT0 + 73 * kHour}));
  ASSERT_EQ(got_.alerts.size(), 3u);
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"id\":\"old\""));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"story\":{\"id\":\"after\""));
  EXPECT_EQ(stage_->stats().window_stories, 1u);
}

TEST_F(StageTest, ABurstOfDistinctStoriesOnAQuietKeySpikes) {
  StageOptions o;
  o.warmup_days = 7;
  Make(o);
  Background(8, 12 * kHour);  // two stories a day: a quiet key
  EXPECT_THAT(got_.spikes, IsEmpty());
  int64_t burst = kT0 + 8 * kDay + 10 * kHour;
  for (int i = 0; i < 25; ++i) {
    AlertSpec a{"burst" + std::to_string(i), Distinct(i), burst + i * 2 * kHour / 25};
    if (i == 20) a.lang = "kk";
    Feed(Alert(a));
  }
  auto starts = SpikesWith("start");
  // One start per key (the rule and the tag), detected inside the two hours.
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"scope\":\"rule\",\"name\":\"kz.unrest\""));
  EXPECT_THAT(starts[1], HasSubstr("\"scope\":\"tag\",\"name\":\"geo:kazakhstan\""));
  EXPECT_THAT(starts[0], HasSubstr("\"stories\":6,"));
  EXPECT_THAT(starts[0], HasSubstr("\"confirmed\":false"));
  EXPECT_THAT(starts[0], HasSubstr("\"detected_at\":\"2030-01-01T00:00:00.000Z\""));
  EXPECT_THAT(starts[0], HasSubstr("\"story_ids\":[\"burst0\","));
  // Updates as it grows (6 -> 9 -> 14 -> 21, and when the Kazakh story confirms it), not per
  // story.
  auto updates = SpikesWith("update");
  EXPECT_GE(updates.size(), 2u);
  EXPECT_LE(updates.size(), 10u);
  bool confirmed = false;
  for (const auto& u : updates) confirmed |= u.find("\"confirmed\":true") != std::string::npos;
  EXPECT_TRUE(confirmed);
  EXPECT_THAT(SpikesWith("end"), IsEmpty());
  // It ends once the spike window has passed without the burst.
  Tick(burst + 5 * kHour);
  auto ends = SpikesWith("end");
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_THAT(ends[0], HasSubstr("\"stories\":25,"));
  EXPECT_THAT(ends[0], HasSubstr("\"confirmed\":true"));
  EXPECT_EQ(stage_->stats().active_spikes, 0u);
  // The burst came after a 10-hour silence, 120 times the stream's pace: its first story was
  // doubted, and the second confirmed the jump (burst0 counted at its own time, above).
  EXPECT_GE(stage_->stats().clock_jumps, 1u);
}

// A background stream every 10 minutes, then one alert of another key dated `ahead_ms` ahead
// of it, then a burst of 25 distinct stories in 2 hours on the quiet key.
class MisdatedTest : public StageTest {
 protected:
  void Run(int64_t ahead_ms) {
    StageOptions o;
    o.warmup_days = 7;
    Make(o);
    Background(8, 12 * kHour);
    const int64_t burst = kT0 + 8 * kDay;
    AlertSpec wrong{"misdated", Distinct(900), burst + ahead_ms, "other.rule", {"theme:other"}};
    Feed(Alert(wrong));
    misdated_story_ = got_.alerts.back();
    for (int i = 0; i < 25; ++i) {
      Feed(Alert({"burst" + std::to_string(i), Distinct(i), burst + i * 2 * kHour / 25}));
    }
  }
  std::string misdated_story_;
};

// One mis-dated item (a feed's wrong time zone, a typo) must not move the clock of every key:
// before the guard, an item 4 h or more ahead put the burst behind the spike window (no
// spike), and one days ahead made what followed late.
TEST_F(MisdatedTest, OneAlertDatedHoursAheadDoesNotHideABurst) {
  Run(6 * kHour);
  auto starts = SpikesWith("start");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"name\":\"kz.unrest\""));
  EXPECT_THAT(starts[0], HasSubstr("\"story_ids\":[\"burst0\","));
  StageStats s = stage_->stats();
  EXPECT_EQ(s.ahead, 1u);
  EXPECT_EQ(s.behind_spike_window, 0u);
  EXPECT_EQ(s.late, 0u);
  // No other story agreed: after kPendingAlerts ordinary alerts the time was dropped, and the
  // clock is the burst's.
  EXPECT_EQ(s.pending_clock_ms, -1);
  EXPECT_EQ(s.clock_ms, kT0 + 8 * kDay + 24 * 2 * kHour / 25);
  // Its story keeps the time it claims.
  EXPECT_THAT(misdated_story_, HasSubstr("\"first_seen\":\"2022-11-29T06:00:00.000Z\""));
  // And its new story counted for its keys, once.
  std::map<std::string, uint64_t> counts;
  stage_->ForEachKey([&](std::string_view scope, std::string_view name, uint64_t n) {
    counts[std::string(scope) + ":" + std::string(name)] = n;
  });
  EXPECT_EQ(counts["rule:other.rule"], 8u * 144 + 1);
}

TEST_F(MisdatedTest, OneAlertDatedDaysAheadMakesNothingLate) {
  Run(30 * kDay);
  EXPECT_EQ(SpikesWith("start").size(), 2u);
  EXPECT_EQ(stage_->stats().late, 0u);
  EXPECT_EQ(stage_->stats().clock_ms, kT0 + 8 * kDay + 24 * 2 * kHour / 25);
}

// Two mistakes side by side (another feed's backlog) do not confirm each other when they are
// days apart; a jump of more than the pace allows that the next stories agree with is the
// stream moving, and the clock follows it.
TEST_F(StageTest, TwoMisdatedAlertsSideBySideDoNotMoveTheClock) {
  Make({});
  for (int i = 0; i < 60; ++i)
    Feed(Alert({"s" + std::to_string(i), Distinct(i), kT0 + i * kMinute}));
  const int64_t last = kT0 + 59 * kMinute;
  Feed(Alert({"x", Distinct(100), last + 2 * kDay}));
  Feed(Alert({"y", Distinct(101), last + 5 * kDay}));
  for (int i = 60; i < 80; ++i)
    Feed(Alert({"s" + std::to_string(i), Distinct(i), kT0 + i * kMinute}));
  StageStats s = stage_->stats();
  EXPECT_EQ(s.clock_ms, kT0 + 79 * kMinute);
  EXPECT_EQ(s.clock_jumps, 0u);
  EXPECT_EQ(s.ahead, 2u);
  EXPECT_EQ(s.behind_spike_window, 0u);
  // A night's silence: the first alert after it is doubted, the second agrees.
  Feed(Alert({"m0", Distinct(200), kT0 + 10 * kHour}));
  EXPECT_EQ(stage_->stats().clock_ms, kT0 + 79 * kMinute);
  Feed(Alert({"m1", Distinct(201), kT0 + 10 * kHour + 3 * kMinute}));
  s = stage_->stats();
  EXPECT_EQ(s.clock_ms, kT0 + 10 * kHour + 3 * kMinute);
  EXPECT_EQ(s.clock_jumps, 1u);
  EXPECT_EQ(s.behind_spike_window, 0u);
}

// A doubted alert's new-story counts wait: not counted while its time is pending, counted at
// its time when the clock reaches it (the daemon's wall clock ticking the stage on).
TEST_F(StageTest, ADoubtedAlertCountsWhenTheClockReachesItsTime) {
  Make({});
  for (int i = 0; i < 40; ++i)
    Feed(Alert({"s" + std::to_string(i), Distinct(i), kT0 + i * kMinute}));
  auto count = [&](std::string_view key) {
    uint64_t n = 0;
    stage_->ForEachKey([&](std::string_view scope, std::string_view name, uint64_t c) {
      if (std::string(scope) + ":" + std::string(name) == key) n = c;
    });
    return n;
  };
  const int64_t ahead = kT0 + 39 * kMinute + 30 * kMinute;
  Feed(Alert({"ahead", Distinct(500), ahead, "feed.ahead", {"theme:ahead"}}));
  StageStats s = stage_->stats();
  EXPECT_EQ(s.ahead, 1u);
  EXPECT_EQ(s.pending_clock_ms, ahead);
  EXPECT_EQ(s.clock_ms, kT0 + 39 * kMinute);
  EXPECT_EQ(count("rule:feed.ahead"), 0u);
  Tick(ahead - kMinute);
  EXPECT_EQ(count("rule:feed.ahead"), 0u);
  Tick(ahead);
  EXPECT_EQ(count("rule:feed.ahead"), 1u);
  EXPECT_EQ(count("tag:theme:ahead"), 1u);
  EXPECT_EQ(stage_->stats().pending_clock_ms, -1);
  EXPECT_EQ(stage_->stats().clock_jumps, 0u);
}

// A stream that turns sparse (every 3 hours after a minute apart): the clock follows it.
TEST_F(StageTest, TheClockFollowsAStreamThatTurnsSparse) {
  Make({});
  for (int i = 0; i < 60; ++i)
    Feed(Alert({"s" + std::to_string(i), Distinct(i), kT0 + i * kMinute}));
  int64_t t = kT0 + 59 * kMinute;
  for (int i = 0; i < 12; ++i) {
    t += 3 * kHour;
    Feed(Alert({"sparse" + std::to_string(i), Distinct(300 + i), t}));
    // Big steps in a row: the fourth confirms the third (the first two were dropped).
    if (i == 3) {
      EXPECT_EQ(stage_->stats().clock_ms, t - 3 * kHour);
    }
  }
  // The pace learned the steps (capped at a spike window): the allowance outgrew them, so the
  // last alerts are ordinary, not doubted one by one.
  EXPECT_EQ(stage_->stats().clock_ms, t);
  EXPECT_EQ(stage_->stats().pending_clock_ms, -1);
  EXPECT_EQ(stage_->stats().late, 0u);
}

TEST_F(StageTest, ASpikeEndsWhenItsCountFellNotWhenTheNextAlertCame) {
  StageOptions o;
  o.warmup_days = 0;
  Make(o);
  for (int i = 0; i < 25; ++i) {
    Feed(Alert({"b" + std::to_string(i), Distinct(i), kT0 + 10 * kHour + i * 4 * kMinute}));
  }
  ASSERT_EQ(SpikesWith("start").size(), 2u);
  // Two days later, an alert on keys never seen before (their creation must not disturb the
  // end events rendered in the same call).
  AlertSpec later{"later", Distinct(500), kT0 + 2 * kDay};
  later.rule = "another.rule";
  later.tags = {"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
  Feed(Alert(later));
  auto ends = SpikesWith("end");
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_THAT(ends[0], HasSubstr("\"name\":\"kz.unrest\""));
  EXPECT_THAT(ends[1], HasSubstr("\"name\":\"geo:kazakhstan\""));
  // The burst's last story is at 11:36; the trailing two hours hold fewer than half the
  // threshold soon after 13:00.
  EXPECT_THAT(ends[0], HasSubstr("\"window_end\":\"2022-11-21T1"));
}

TEST_F(StageTest, CopiesOfOneStoryDoNotSpike) {
  Make({});
  Background(8, 12 * kHour);
  int64_t burst = kT0 + 8 * kDay + 10 * kHour;
  Fingerprint fp = 0x5555aaaa5555aaaaULL;
  for (int i = 0; i < 30; ++i) {
    AlertSpec a{"copy" + std::to_string(i), fp ^ (uint64_t{1} << (i % 64)), burst + i * kMinute};
    a.source = "outlet" + std::to_string(i);
    Feed(Alert(a));
  }
  EXPECT_THAT(got_.spikes, IsEmpty());
  EXPECT_THAT(got_.alerts.back(), HasSubstr("\"copies\":30,"));
}

TEST_F(StageTest, NoSpikeDuringWarmup) {
  StageOptions o;
  o.warmup_days = 7;
  Make(o);
  Background(2, 12 * kHour);
  for (int i = 0; i < 25; ++i)
    Feed(Alert({"b" + std::to_string(i), Distinct(i), kT0 + 2 * kDay + i * kMinute}));
  EXPECT_THAT(got_.spikes, IsEmpty());
  EXPECT_FALSE(stage_->stats().warm);
}

// A hole in the whole stream (an outage, an archive with a month missing) is missing data, not
// silence: after it the detector goes on with the baselines it had. A key at its usual rate
// raises nothing on the first day after a 30-day hole, and 25 distinct stories in two hours
// there spike (until 2026-12-06 history restarted after such a hole, with its warmup: no spike
// for a week after each hole). The same when the stream comes back three times as dense on
// every key (the busy key every 3 minutes instead of 10): that is the feed, not news (fails
// without the volume factor). A hole of more than a year still restarts the warmup.
TEST_F(StageTest, AfterAHoleInTheStreamTheBaselineGoesOn) {
  auto run = [&](int64_t hole_days, int64_t every = 10 * kMinute) {
    Make({});
    Background(10, 12 * kHour);
    EXPECT_TRUE(stage_->stats().warm);
    const size_t before = got_.spikes.size();
    const int64_t resume = kT0 + (10 + hole_days) * kDay;
    // The first day after the hole: the busy key every 10 minutes, kz.unrest twice.
    for (int64_t t = resume, i = 0; t < resume + kDay; t += every, ++i) {
      Feed(Alert(
          {"after" + std::to_string(i), Distinct(3000000 + i), t, "other.rule", {"theme:other"}}));
      if (i % (720 * kMinute / every) == 0) {
        Feed(Alert({"k" + std::to_string(i), Distinct(4000000 + i), t}));
      }
    }
    EXPECT_EQ(got_.spikes.size(), before) << "a key at its usual rate spiked after the hole";
    // Then the burst, the next morning.
    const int64_t burst = resume + kDay + 9 * kHour;
    for (int i = 0; i < 25; ++i) {
      Feed(Alert({"b" + std::to_string(i), Distinct(5000000 + i), burst + i * 4 * kMinute}));
    }
  };
  run(30);
  EXPECT_TRUE(stage_->stats().warm);
  EXPECT_EQ(stage_->stats().stream_holes, 1u);
  auto starts = SpikesWith("start");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"name\":\"kz.unrest\""));
  got_ = Collected();
  run(30, 3 * kMinute);
  starts = SpikesWith("start");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"name\":\"kz.unrest\""));
  got_ = Collected();
  run(400);
  EXPECT_FALSE(stage_->stats().warm);
  EXPECT_EQ(stage_->stats().stream_holes, 1u);  // counted, and history restarted
  EXPECT_THAT(SpikesWith("start"), IsEmpty());
}

// The live stage ticks its clock with the wall clock between alerts. A month of ticks with no
// alert at all (the matchers down) is the same hole as a month missing from a replay: the
// baselines do not decay over it, so the busy key at its usual rate raises nothing when alerts
// come back, and a burst the next morning spikes (fails with ticks advancing the detector as
// alerts do: the busy key's decayed baseline makes it spike on the first day).
TEST_F(StageTest, AMonthOfTicksWithoutAlertsIsAHoleNotQuietNews) {
  Make({});
  Background(10, 12 * kHour);
  const size_t before = got_.spikes.size();
  for (int64_t t = kT0 + 10 * kDay; t < kT0 + 40 * kDay; t += kHour) Tick(t);
  const int64_t resume = kT0 + 40 * kDay;
  for (int64_t t = resume, i = 0; t < resume + kDay; t += 10 * kMinute, ++i) {
    Feed(Alert(
        {"after" + std::to_string(i), Distinct(3000000 + i), t, "other.rule", {"theme:other"}}));
    if (i % 72 == 0) Feed(Alert({"k" + std::to_string(i), Distinct(4000000 + i), t}));
  }
  EXPECT_EQ(got_.spikes.size(), before) << "a key at its usual rate spiked after the silence";
  const int64_t burst = resume + kDay + 9 * kHour;
  for (int i = 0; i < 25; ++i) {
    Feed(Alert({"b" + std::to_string(i), Distinct(5000000 + i), burst + i * 4 * kMinute}));
  }
  const auto starts = SpikesWith("start");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"name\":\"kz.unrest\""));
  EXPECT_TRUE(stage_->stats().warm);
  EXPECT_EQ(stage_->stats().stream_holes, 1u);
}

// A day when the whole stream runs two and a half times as dense as its baseline (a backlog after
// a feed's outage, an archive's full day after thin ones, a source added): six busy keys that
// only rise with it start no spike, and a quiet key that jumps against the rest still does (fails
// without the stream factor: the six busy keys and their tags start 12 spikes on the dense day).
TEST_F(StageTest, KeysThatOnlyRiseWithTheWholeStreamDoNotSpike) {
  Make({});
  int64_t n = 0;
  auto busy = [&](int64_t from, int64_t to, int64_t every) {
    for (int64_t t = from; t < to; t += every) {
      for (int r = 0; r < 6; ++r) {
        const std::string rule = "busy.r" + std::to_string(r);
        Feed(Alert({"s" + std::to_string(n),
                    Distinct(6000000 + n),
                    t + r * kMinute,
                    rule,
                    {"theme:busy" + std::to_string(r)}}));
        ++n;
      }
    }
  };
  busy(kT0, kT0 + 10 * kDay, 10 * kMinute);  // 36 new stories an hour in all
  EXPECT_TRUE(stage_->stats().warm);
  EXPECT_THAT(SpikesWith("start"), IsEmpty());
  // The next day the stream rises to two and a half times its rate over six hours.
  const int64_t day = kT0 + 10 * kDay;
  busy(day, day + 3 * kHour, 7 * kMinute);
  busy(day + 3 * kHour, day + 6 * kHour, 5 * kMinute);
  busy(day + 6 * kHour, day + kDay, 4 * kMinute);
  EXPECT_THAT(SpikesWith("start"), IsEmpty()) << "a key that rose with the stream spiked";
  // In the dense stream, 25 stories in two hours on a quiet key (kz.unrest) spike.
  const int64_t burst = day + kDay + 9 * kHour;
  for (int i = 0; i < 25; ++i) {
    busy(burst + i * 4 * kMinute, burst + i * 4 * kMinute + 1, kMinute);  // the dense stream
    Feed(Alert({"b" + std::to_string(i), Distinct(5000000 + i), burst + i * 4 * kMinute}));
  }
  const auto starts = SpikesWith("start");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_THAT(starts[0], HasSubstr("\"name\":\"kz.unrest\""));
}

TEST_F(StageTest, ABusyKeyAtItsUsualRateDoesNotSpike) {
  Make({});
  // Six new stories an hour, evenly, for 10 days: a busy key at its baseline.
  Background(10, 10 * kMinute);
  EXPECT_THAT(got_.spikes, IsEmpty());
  EXPECT_TRUE(stage_->stats().warm);
  // Four times its rate for two hours (48 more against ~12) spikes.
  int64_t start = kT0 + 10 * kDay;
  for (int i = 0; i < 48; ++i) {
    Feed(Alert({"hot" + std::to_string(i), Distinct(5000 + i), start + i * 150 * 1000}));
  }
  ASSERT_THAT(SpikesWith("start"), Not(IsEmpty()));
  // The expectation reported is the key's baseline over the spike window (~12), not the floor.
  std::string s = SpikesWith("start")[0];
  size_t at = s.find("\"expected\":");
  ASSERT_NE(at, std::string::npos);
  double expected = std::stod(s.substr(at + 11));
  EXPECT_GT(expected, 8);
  EXPECT_LT(expected, 16);
}

TEST_F(StageTest, PastSpikesStayOutOfTheBaseline) {
  Make({});
  Background(8, 12 * kHour);
  int64_t t = kT0 + 8 * kDay + 10 * kHour;
  // A huge burst: 300 stories in two hours.
  for (int i = 0; i < 300; ++i)
    Feed(Alert({"big" + std::to_string(i), Distinct(i), t + i * 24 * 1000}));
  ASSERT_EQ(SpikesWith("start").size(), 2u);
  Tick(t + 6 * kHour);
  ASSERT_EQ(SpikesWith("end").size(), 2u);
  // Ten stories in an hour, a day later: still a spike, because the burst did not become the
  // baseline (were it counted, the key would expect ~4 per window and need 14).
  int64_t t2 = t + kDay;
  for (int i = 0; i < 10; ++i)
    Feed(Alert({"again" + std::to_string(i), Distinct(400 + i), t2 + i * 6 * kMinute}));
  EXPECT_EQ(SpikesWith("start").size(), 4u);
}

TEST_F(StageTest, ReplayUpdatesStateOnly) {
  Make({});
  Feed(Alert({"first", 99, kT0}), -1, /*replay=*/true);
  EXPECT_THAT(got_.alerts, IsEmpty());
  Feed(Alert({"second", 99, kT0 + kMinute}));
  ASSERT_EQ(got_.alerts.size(), 1u);
  EXPECT_THAT(got_.alerts[0], HasSubstr("\"id\":\"first\""));
  EXPECT_THAT(got_.alerts[0], HasSubstr("\"copies\":2,"));
}

TEST_F(StageTest, ReplayedSpikesEmitNothing) {
  StageOptions o;
  o.warmup_days = 0;
  Make(o);
  for (int i = 0; i < 25; ++i)
    Feed(Alert({"b" + std::to_string(i), Distinct(i), kT0 + i * kMinute}), -1, true);
  EXPECT_THAT(got_.spikes, IsEmpty());
  EXPECT_EQ(stage_->stats().active_spikes, 2u);  // the state knows the spike: no second start
  Feed(Alert({"live", Distinct(99), kT0 + 30 * kMinute}));
  EXPECT_THAT(SpikesWith("start"), IsEmpty());
}

TEST_F(StageTest, ReadsTheReutersDateForm) {
  Make({});
  std::string a = Alert({"r1", 5, kT0});
  a.replace(a.find("2022-11-21T00:00:00.000Z"), 24, "26-FEB-1987 15:01:01.79");
  Feed(a);
  ASSERT_EQ(got_.alerts.size(), 1u);
  EXPECT_THAT(got_.alerts[0], HasSubstr("\"first_seen\":\"1987-02-26T15:01:01.790Z\""));
  // The corpus's quirks: two spaces, one-digit days, desk letters after the time.
  for (std::string form : {"3-MAR-1987  09:15:05.40", "27-MAR-1987 10:08:20.88E F"}) {
    std::string b = Alert({"r-" + form, Distinct(form.size()), kT0});
    b.replace(b.find("2022-11-21T00:00:00.000Z"), 24, form);
    Feed(b);
  }
  ASSERT_EQ(got_.alerts.size(), 3u) << (got_.rejected.empty() ? "" : got_.rejected.back());
  EXPECT_THAT(got_.alerts[1], HasSubstr("\"first_seen\":\"1987-03-03T09:15:05.400Z\""));
  EXPECT_THAT(got_.alerts[2], HasSubstr("\"first_seen\":\"1987-03-27T10:08:20.880Z\""));
}

TEST_F(StageTest, UsesTheKafkaTimestampWhenPublishedAtIsNotSane) {
  Make({});
  int64_t kafka = kT0 + 5 * kHour;
  auto with_date = [&](std::string id, std::string date) {
    std::string a = Alert({id, Distinct(id.size() * 7 + id[0]), kT0});
    a.replace(a.find("2022-11-21T00:00:00.000Z"), 24, date);
    return a;
  };
  Feed(with_date("epoch", "1970-01-01T00:00:00Z"), kafka);
  Feed(with_date("future", "2099-01-01T00:00:00Z"), kafka);
  Feed(with_date("garbage", "June 2004/2005"), kafka);
  Feed(with_date("date-only", "2022-11-21"), kafka);
  ASSERT_EQ(got_.alerts.size(), 4u);
  for (const auto& a : got_.alerts)
    EXPECT_THAT(a, HasSubstr("\"first_seen\":\"2022-11-21T05:00:00.000Z\""));
}

TEST_F(StageTest, UndatedAlertsTakeTheStreamsTimeAndCountForNoSpike) {
  // Offline input of undated items: no sane published_at and no Kafka timestamp. The item
  // arrived between its neighbours, so it takes the stream's time; before any dated alert there
  // is none, and it is rejected.
  Make({});
  auto undated = [&](std::string id, Fingerprint fp, std::string date) {
    std::string a = Alert({id, fp, kT0, "u.rule", {"theme:u"}});
    const std::string from = "\"published_at\":\"2022-11-21T00:00:00.000Z\",";
    a.replace(a.find(from), from.size(), date.empty() ? "" : "\"published_at\":\"" + date + "\",");
    return a;
  };
  Feed(undated("first", Distinct(1), ""));
  ASSERT_EQ(got_.rejected, std::vector<std::string>{"no_time"});
  Feed(Alert({"dated", Distinct(2), kT0 + kHour}));
  Feed(undated("none", Distinct(3), ""));
  Feed(undated("epoch", Distinct(4), "1970-01-01T00:00:00Z"));
  Feed(undated("future", Distinct(5), "2999-01-01T00:00:00Z"));
  Feed(undated("copy", Distinct(3), ""));  // a copy of "none"
  ASSERT_EQ(got_.alerts.size(), 5u);
  for (const auto& a : got_.alerts) {
    EXPECT_THAT(a, HasSubstr("\"first_seen\":\"2022-11-21T01:00:00.000Z\""));
  }
  EXPECT_THAT(got_.alerts[4], HasSubstr("\"story\":{\"id\":\"none\""));
  EXPECT_THAT(got_.alerts[4], HasSubstr("\"copies\":2"));
  const StageStats s = stage_->stats();
  EXPECT_EQ(s.undated, 4u);
  EXPECT_EQ(s.new_stories, 4u);
  EXPECT_EQ(s.rejected, 1u);
  // Only the dated alert's rule and tag are counted: an undated story's time is not known.
  EXPECT_EQ(s.keys, 2u);
}

TEST_F(StageTest, BadInputIsCountedNeverFatal) {
  Make({});
  Feed(Alert({"ok", 1, kT0}));
  struct Row {
    std::string json;
    std::string reason;
  };
  std::string good = Alert({"x", 123, kT0 + kMinute});
  auto replace = [&](std::string from, std::string to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  std::string fp_hex;
  AppendFingerprint(123, &fp_hex);
  std::vector<Row> rows = {
      {"", "json"},
      {"not json", "json"},
      {"[1,2]", "json"},
      {good.substr(0, good.size() / 2), "json"},
      {good + "{}", "json"},
      {replace("steppewatch.alert.v1", "steppewatch.alert.v9"), "schema"},
      {replace("\"schema\":\"steppewatch.alert.v1\",", ""), "schema"},
      {replace("\"id\":\"x\"", "\"id\":\"\""), "no_id"},
      {replace("\"fingerprint\":\"" + fp_hex + "\"", "\"fingerprint\":\"xyz\""), "no_fingerprint"},
      {replace(",\"fingerprint\":\"" + fp_hex + "\"", ""), "no_fingerprint"},
      {replace("\"fingerprint\":\"" + fp_hex + "\"", "\"fingerprint\":null"), "no_fingerprint"},
      {replace("\"fingerprint\":\"" + fp_hex + "\"",
               "\"fingerprint\":\"" + fp_hex + "\",\"lead_fingerprint\":\"12\""),
       "no_fingerprint"},
      {replace("2022-11-21T00:01:00.000Z", "2022-11-17T00:00:00Z"), "late"},
      {replace("\"tags\":[\"geo:kazakhstan\"]", "\"tags\":[1]"), "json"},
      // Malformed where the stage does not read (it republishes these bytes).
      {replace("\"term\":\"x\"", "\"term\" \"x\""), "json"},
      {replace("\"score\":1", "\"score\":tru"), "json"},
      {replace("\"timestamp_ms\":-1", "\"timestamp_ms\":\"soon\""), "json"},
  };
  for (const Row& r : rows) {
    const StageOutput& out = stage_->Process(r.json, -1, false);
    EXPECT_EQ(out.rejected, r.reason) << r.json;
    EXPECT_TRUE(out.alert.empty());
    EXPECT_FALSE(out.message.empty());
  }
  StageStats s = stage_->stats();
  EXPECT_EQ(s.rejected, rows.size());
  EXPECT_EQ(s.late, 1u);
  // The stage still works.
  Feed(good);
  EXPECT_EQ(got_.alerts.size(), 2u);
}

TEST_F(StageTest, AClockJumpDoesNotStallOrKeepOldState) {
  StageOptions o;
  o.warmup_days = 0;
  Make(o);
  for (int i = 0; i < 25; ++i)
    Feed(Alert({"b" + std::to_string(i), Distinct(i), kT0 + i * kMinute}));
  ASSERT_EQ(SpikesWith("start").size(), 2u);
  // Five years later (a broken clock or a replayed archive): spikes end, the window empties,
  // history restarts.
  Feed(Alert({"later", Distinct(100), kT0 + 5 * 365 * kDay}));
  EXPECT_EQ(SpikesWith("end").size(), 2u);
  StageStats s = stage_->stats();
  EXPECT_EQ(s.window_stories, 1u);
  EXPECT_EQ(s.active_spikes, 0u);
  // And back: older than the window now.
  Feed(Alert({"back", Distinct(101), kT0 + kHour}));
  EXPECT_EQ(stage_->stats().late, 1u);
}

// A new story more than the spike window behind the clock (inside the story window) is grouped
// and feeds its keys' baselines, and is counted as such (per key), not silently lost to the spike
// counts.
TEST_F(StageTest, NewStoriesBehindTheSpikeWindowAreCounted) {
  Make({});
  Feed(Alert({"now", Distinct(1), kT0 + 10 * kHour}));
  EXPECT_EQ(stage_->stats().behind_spike_window, 0u);
  Feed(Alert({"inside", Distinct(2), kT0 + 9 * kHour}));  // 1 h behind: counted for spikes
  EXPECT_EQ(stage_->stats().behind_spike_window, 0u);
  Feed(Alert({"behind", Distinct(3), kT0 + 7 * kHour}));  // 3 h behind: the rule and the tag
  EXPECT_EQ(stage_->stats().behind_spike_window, 2u);
  EXPECT_EQ(stage_->stats().new_stories, 3u);
  EXPECT_EQ(stage_->stats().late, 0u);
}

TEST_F(StageTest, KeysAreBounded) {
  StageOptions o;
  o.max_keys = 3;
  Make(o);
  for (int i = 0; i < 10; ++i) {
    AlertSpec a{"k" + std::to_string(i), Distinct(i), kT0 + i * kMinute};
    a.rule = "rule" + std::to_string(i);
    a.tags = {"tag" + std::to_string(i)};
    Feed(Alert(a));
  }
  StageStats s = stage_->stats();
  EXPECT_EQ(s.keys, 3u);
  EXPECT_EQ(s.dropped_keys, 17u);
  EXPECT_EQ(got_.alerts.size(), 10u);  // alerts are still enriched
}

TEST_F(StageTest, CountsNewStoriesPerRuleAndTag) {
  Make({});
  AlertSpec a{"a", 1, kT0};
  a.tags = {"geo:kazakhstan", "geo:kazakhstan", "actor:china"};  // a tag twice counts once
  Feed(Alert(a));
  Feed(Alert({"a-copy", 1, kT0 + kMinute}));  // a copy counts for no key
  std::map<std::string, uint64_t> counts;
  stage_->ForEachKey([&](std::string_view scope, std::string_view name, uint64_t n) {
    counts[std::string(scope) + ":" + std::string(name)] = n;
  });
  EXPECT_EQ(counts, (std::map<std::string, uint64_t>{
                        {"rule:kz.unrest", 1}, {"tag:actor:china", 1}, {"tag:geo:kazakhstan", 1}}));
}

}  // namespace
}  // namespace steppewatch::stories
