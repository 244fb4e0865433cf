#include "steppewatch/stories/story_index.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {
namespace {

constexpr int64_t kHour = 3600 * 1000LL;
constexpr int64_t kWindow = 72 * kHour;
constexpr int64_t kT0 = 1669000000000LL;  // 2022-11-21

TEST(StoryIndex, GroupsWithinDistanceThreeAndNotFour) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x0123456789abcdefULL;
  auto first = index.Assign(a, "a", kT0, 1, 0);
  EXPECT_TRUE(first.is_new);
  // Three bits flipped, each in a different 16-bit block but one: still found by the pigeonhole.
  auto copy = index.Assign(a ^ (1ULL << 3) ^ (1ULL << 17) ^ (1ULL << 40), "b", kT0 + 1, 2, 0);
  EXPECT_FALSE(copy.is_new);
  EXPECT_EQ(copy.seq, first.seq);
  EXPECT_EQ(copy.story->copies, 2u);
  // Four bits, one per block: a different story.
  auto other = index.Assign(a ^ (1ULL << 3) ^ (1ULL << 17) ^ (1ULL << 40) ^ (1ULL << 60), "c",
                            kT0 + 2, 3, 0);
  EXPECT_TRUE(other.is_new);
  EXPECT_EQ(index.size(), 2u);
}

TEST(StoryIndex, JoinsTheNearestStory) {
  StoryIndex index(kWindow);
  Fingerprint a = 0xffff0000ffff0000ULL;
  Fingerprint b = a ^ 0xF;  // distance 4 from a: its own story
  auto sa = index.Assign(a, "a", kT0, 1, 0);
  auto sb = index.Assign(b, "b", kT0, 1, 0);
  ASSERT_TRUE(sb.is_new);
  // Distance 1 from b, 3 from a: joins b.
  auto c = index.Assign(b ^ 0x8, "c", kT0 + 1, 1, 0);
  EXPECT_EQ(c.seq, sb.seq);
  EXPECT_NE(c.seq, sa.seq);
}

TEST(StoryIndex, StoryIdIsTheFirstItemAndCountsSourcesAndLanguages) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x1111222233334444ULL;
  index.Assign(a, "first-item", kT0, /*source=*/100, /*language=*/0);
  index.Assign(a ^ 1, "second", kT0 + 10, 100, 0);  // same source, same language
  index.Assign(a ^ 2, "third", kT0 + 20, 200, 1);   // new source, new language
  auto last = index.Assign(a ^ 4, "fourth", kT0 + 30, 300, 1);
  ASSERT_FALSE(last.is_new);
  EXPECT_EQ(index.Id(last.seq), "first-item");
  EXPECT_EQ(last.story->first_seen_ms, kT0);
  EXPECT_EQ(last.story->copies, 4u);
  EXPECT_EQ(StoryIndex::Sources(*last.story), 3u);
  EXPECT_EQ(__builtin_popcountll(last.story->languages), 2);
}

TEST(StoryIndex, TheSameItemAgainIsNotACopy) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x1111222233334444ULL;
  index.Assign(a, "x", kT0, 1, 0);
  auto again = index.Assign(a, "x", kT0 + 1, 1, 0);  // the same item on a second alert topic
  EXPECT_TRUE(again.same_item);
  EXPECT_TRUE(again.first_item);
  EXPECT_EQ(again.story->copies, 1u);
  auto copy = index.Assign(a, "y", kT0 + 2, 2, 0);
  EXPECT_FALSE(copy.same_item);
  EXPECT_FALSE(copy.first_item);
  auto copy_again = index.Assign(a, "y", kT0 + 3, 2, 0);
  EXPECT_TRUE(copy_again.same_item);
  EXPECT_EQ(copy_again.story->copies, 2u);
}

TEST(StoryIndex, ManySourcesAreEstimated) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x1111222233334444ULL;
  std::mt19937_64 rng(7);
  StoryIndex::Assignment last;
  for (int i = 0; i < 50; ++i) {
    last = index.Assign(a, "item" + std::to_string(i), kT0 + i, rng(), 0);
  }
  uint32_t sources = StoryIndex::Sources(*last.story);
  EXPECT_GE(sources, 40u);
  EXPECT_LE(sources, 62u);
}

TEST(StoryIndex, ExpiresStoriesAfterTheWindow) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x1111222233334444ULL;
  auto first = index.Assign(a, "old", kT0, 1, 0);
  index.Expire(kT0 + kWindow);  // still open at exactly the window
  EXPECT_NE(index.Find(first.seq), nullptr);
  index.Expire(kT0 + kWindow + 1);
  EXPECT_EQ(index.Find(first.seq), nullptr);
  EXPECT_EQ(index.size(), 0u);
  auto again = index.Assign(a, "new", kT0 + kWindow + 2, 1, 0);
  EXPECT_TRUE(again.is_new);
  EXPECT_EQ(index.Id(again.seq), "new");
}

// Stories leave oldest first, so one dated far ahead (an alert the stage's clock did not
// believe) would hold every later story in memory past its window: one dated more than a
// window ahead of the clock leaves when it is the oldest.
TEST(StoryIndex, AStoryDatedMoreThanAWindowAheadDoesNotHoldTheOthers) {
  StoryIndex index(kWindow);
  index.Assign(0x1111222233334444ULL, "now", kT0, 1, 0);
  auto ahead = index.Assign(0x5555666677778888ULL, "ahead", kT0 + 10 * kWindow, 1, 0);
  auto near = index.Assign(0x9999aaaabbbbccccULL, "near-ahead", kT0 + kWindow / 2, 1, 0);
  auto after = index.Assign(0x0f0f0f0f0f0f0f0fULL, "after", kT0 + 1, 1, 0);
  index.Expire(kT0 + kWindow + 2);  // "now" and "after" are over; "ahead" is 9 windows ahead
  EXPECT_EQ(index.Find(ahead.seq), nullptr);
  // A story less than a window ahead is kept (and holds the ones after it until it goes).
  EXPECT_NE(index.Find(near.seq), nullptr);
  EXPECT_NE(index.Find(after.seq), nullptr);
  index.Expire(kT0 + kWindow / 2 + kWindow + 1);
  EXPECT_EQ(index.size(), 0u);
}

TEST(StoryIndex, AStoryPastItsWindowTakesNoCopiesBeforeItIsExpired) {
  StoryIndex index(kWindow);
  Fingerprint a = 0x1111222233334444ULL;
  index.Assign(a, "old", kT0, 1, 0);
  auto late = index.Assign(a, "later", kT0 + kWindow + 5, 1, 0);  // no Expire() in between
  EXPECT_TRUE(late.is_new);
}

TEST(StoryIndex, ZeroFingerprintIsAlwaysItsOwnStory) {
  StoryIndex index(kWindow);
  EXPECT_TRUE(index.Assign(0, "a", kT0, 1, 0).is_new);
  EXPECT_TRUE(index.Assign(0, "b", kT0, 1, 0).is_new);
  EXPECT_TRUE(index.Assign(1, "c", kT0, 1, 0).is_new);  // 1 is within 3 of 0, but 0 is not indexed
  index.Expire(kT0 + kWindow + 1);
  EXPECT_EQ(index.size(), 0u);
}

TEST(StoryIndex, LongIdsAreCutAtACharacterBoundary) {
  StoryIndex index(kWindow);
  std::string id(300, 'x');
  id.replace(254, 2, "\xc3\xa9");  // a two-byte character across the 255-byte cut
  auto a = index.Assign(42, id, kT0, 1, 0);
  EXPECT_EQ(index.Id(a.seq), std::string(254, 'x'));
  auto same = index.Assign(42, id, kT0 + 1, 1, 0);
  EXPECT_TRUE(same.same_item);
}

// A story the brute-force tests keep beside the index.
struct Live {
  Fingerprint fp;
  int64_t first_seen;
  uint64_t seq;
  std::string id;
};

// Brute force over the live stories: the nearest within 3 bits, the oldest on ties; null when
// none is within 3.
const Live* NearestLive(const std::vector<Live>& live, Fingerprint fp) {
  int best_d = 4;
  const Live* best = nullptr;
  for (const Live& l : live) {
    const int d = Distance(l.fp, fp);
    if (d < best_d || (d == best_d && best != nullptr && l.seq < best->seq)) {
      best_d = d;
      best = &l;
    }
  }
  return best;
}

// The index against a brute-force scan over the live stories: random fingerprints with planted
// near-duplicates, a sliding window with expiry, chunk and id-ring wrap-arounds.
TEST(StoryIndex, AgreesWithBruteForceOverASlidingWindow) {
  constexpr int64_t kSmallWindow = 1000;
  StoryIndex index(kSmallWindow);
  std::vector<Live> live;
  std::mt19937_64 rng(42);
  std::vector<Fingerprint> recent;
  for (int i = 0; i < 30000; ++i) {
    int64_t t = i / 10;  // 10 items per ms: ~10000 stories live at once
    index.Expire(t);
    std::erase_if(live, [&](const Live& l) { return l.first_seen < t - kSmallWindow; });
    Fingerprint fp;
    if (!recent.empty() && rng() % 3 == 0) {
      fp = recent[rng() % recent.size()];
      int flips = static_cast<int>(rng() % 6);  // 0..5 bits: some near, some not
      for (int f = 0; f < flips; ++f) fp ^= 1ULL << (rng() % 64);
    } else {
      fp = rng();
    }
    if (fp == 0) fp = 1;
    recent.push_back(fp);
    if (recent.size() > 2000) recent.erase(recent.begin());
    const Live* best = NearestLive(live, fp);
    std::string id = "item-" + std::to_string(i);
    auto a = index.Assign(fp, id, t, 1, 0);
    if (best == nullptr) {
      ASSERT_TRUE(a.is_new) << "item " << i;
      live.push_back({fp, t, a.seq, id});
    } else {
      ASSERT_FALSE(a.is_new) << "item " << i;
      ASSERT_EQ(a.seq, best->seq) << "item " << i;
      ASSERT_EQ(index.Id(a.seq), best->id);
    }
  }
  EXPECT_EQ(index.size(), live.size());
}

// Every story in one bucket of the first table (the same low block), with stories expiring
// between that bucket's lookups: its stale entries are a prefix, which lookups skip and a full
// bucket drops before it grows (until 2026-12-06 lookups also dropped them once four were
// stale). Every lookup must still find the nearest live story, and no expired one.
TEST(StoryIndex, OneCrowdedBucketAgreesWithBruteForceWhileItsEntriesExpire) {
  constexpr int64_t kSmallWindow = 1000;
  StoryIndex index(kSmallWindow);
  std::vector<Live> live;
  std::mt19937_64 rng(11);
  std::vector<Fingerprint> recent;
  size_t copies = 0;
  for (int i = 0; i < 40000; ++i) {
    int64_t t = i / 4;  // 4 items per ms: ~3000 stories live, all in one bucket of table 0
    index.Expire(t);
    std::erase_if(live, [&](const Live& l) { return l.first_seen < t - kSmallWindow; });
    Fingerprint fp;
    if (!recent.empty() && rng() % 3 == 0) {
      // A copy of a recent item (some of them expired) with a bit flipped in each other block,
      // so that only the crowded bucket finds it; one in four also a fourth bit (no copy).
      fp = recent[rng() % recent.size()];
      for (int block = 1; block < 4; ++block) fp ^= 1ULL << (16 * block + rng() % 16);
      if (rng() % 4 == 0) fp ^= 1ULL << (rng() % 16);
    } else {
      fp = (rng() << 16) | 0xbeef;
    }
    recent.push_back(fp);
    if (recent.size() > 6000) recent.erase(recent.begin());
    const Live* best = NearestLive(live, fp);
    auto a = index.Assign(fp, "item-" + std::to_string(i), t, 1, 0);
    if (best == nullptr) {
      ASSERT_TRUE(a.is_new) << "item " << i;
      live.push_back({fp, t, a.seq, ""});
    } else {
      ASSERT_FALSE(a.is_new) << "item " << i;
      ASSERT_EQ(a.seq, best->seq) << "item " << i;
      ++copies;
    }
  }
  EXPECT_EQ(index.size(), live.size());
  EXPECT_GT(copies, 5000u);  // the stream did what it is for
}

TEST(StoryIndex, ACopyThatKeptTheLeadJoinsWithinTheGate) {
  StoryIndex index(kWindow);
  const Fingerprint fp = 0x0f0f0f0f0f0f0f0fULL;
  const Fingerprint lead = 0x123456789abcdef0ULL;
  auto first = index.Assign(fp, "original", kT0, 1, 0, lead);
  ASSERT_TRUE(first.is_new);
  // The whole text moved by kLeadGate bits (past kNearDuplicateDistance), the lead kept (the
  // lead key is exact, kLeadDistance 0): the same story.
  ASSERT_EQ(kLeadDistance, 0);
  Fingerprint far = fp;
  for (int b = 0; b < kLeadGate; ++b) far ^= 1ULL << (7 * b);
  ASSERT_EQ(Distance(far, fp), kLeadGate);
  auto copy = index.Assign(far, "truncated", kT0 + 1, 2, 0, lead);
  EXPECT_FALSE(copy.is_new);
  EXPECT_EQ(copy.seq, first.seq);
  EXPECT_EQ(copy.story->copies, 2u);
  // One bit further on the whole text: past the gate, a story of its own.
  auto past_gate = index.Assign(far ^ (1ULL << 63), "follow-up", kT0 + 2, 3, 0, lead);
  EXPECT_TRUE(past_gate.is_new);
  // Within the gate but the lead one bit away in the bucket's 16 bits or the filter's 32: a
  // story of its own. (The key's top 16 bits are not held: Story keeps no copy of the lead, and
  // 48 equal bits of two 64-bit hashes are the check, a false match in 2^48; one bit away there
  // is the same key to the index.)
  int i = 0;
  for (int bit : {3, 33, 60}) {
    const Fingerprint near = fp ^ (0xFULL << (16 * i++ + 4));  // 4 bits from fp, 8 from another
    auto one_bit =
        index.Assign(near, "other" + std::to_string(bit), kT0 + 3, 4, 0, lead ^ (1ULL << bit));
    EXPECT_EQ(one_bit.is_new, bit < 48) << bit;
  }
}

TEST(StoryIndex, ACopyCutShortJoinsWithinTheContainmentGate) {
  const Fingerprint fp = 0x0f0f0f0f0f0f0f0fULL;
  const Fingerprint lead = 0x123456789abcdef0ULL;
  // The copy kept 60 of the original's 100 tokens: about 32 * 0.4 = 13 bits apart expected, the
  // gate 12 + kContainmentSlack = 16.
  Fingerprint cut = fp;
  for (int b = 0; b < 14; ++b) cut ^= 1ULL << (4 * b + 1);
  ASSERT_EQ(Distance(cut, fp), 14);
  ASSERT_GT(14, kLeadGate);
  EXPECT_EQ(LeadGate(100, 60), 16);
  EXPECT_EQ(LeadGate(60, 100), 16);
  {
    StoryIndex index(kWindow);
    auto first = index.Assign(fp, "original", kT0, 1, 0, lead, 100);
    EXPECT_EQ(first.story->tokens, 100u);
    auto copy = index.Assign(cut, "cut", kT0 + 1, 2, 0, lead, 60);
    EXPECT_FALSE(copy.is_new);
    EXPECT_EQ(copy.seq, first.seq);
    // Five bits further (19): past what 60 of 100 tokens allow (LeadGate 16, and the
    // containment estimate since 2026-12-05 afternoon 18: LeadJoins).
    const Fingerprint further_fp = cut ^ 0x7000000000000000ULL ^ 0x0000000000004400ULL;
    ASSERT_EQ(Distance(further_fp, fp), 19);
    EXPECT_TRUE(LeadJoins(18, 100, 60));
    EXPECT_FALSE(LeadJoins(19, 100, 60));
    auto further = index.Assign(further_fp, "further", kT0 + 2, 3, 0, lead, 60);
    EXPECT_TRUE(further.is_new);
  }
  // Items of the same length that far apart are different texts behind one lead (an agency's
  // follow-ups): 14 bits is past both the fixed gate and the estimate (11 at 95 of 100).
  {
    StoryIndex index(kWindow);
    index.Assign(fp, "original", kT0, 1, 0, lead, 100);
    EXPECT_EQ(LeadGate(100, 95), kLeadGate);
    EXPECT_TRUE(LeadJoins(11, 100, 95));
    EXPECT_FALSE(LeadJoins(12, 100, 95));
    EXPECT_TRUE(index.Assign(cut, "same-length", kT0 + 1, 2, 0, lead, 95).is_new);
  }
  // Under half the longer's tokens LeadGate keeps its fixed gate; the estimate takes a brief of
  // 49 of 100 tokens up to 20 bits, and none under kLeadContainmentFloorPercent (39 of 100).
  {
    StoryIndex index(kWindow);
    index.Assign(fp, "original", kT0, 1, 0, lead, 100);
    EXPECT_EQ(LeadGate(100, 49), kLeadGate);
    EXPECT_TRUE(LeadJoins(20, 100, 49));
    EXPECT_FALSE(LeadJoins(21, 100, 49));
    EXPECT_FALSE(index.Assign(cut, "brief", kT0 + 1, 2, 0, lead, 49).is_new);
  }
  {
    StoryIndex index(kWindow);
    index.Assign(fp, "original", kT0, 1, 0, lead, 100);
    EXPECT_FALSE(LeadJoins(9, 100, 39));
    EXPECT_TRUE(LeadJoins(8, 100, 39));
    EXPECT_TRUE(index.Assign(cut, "too-short", kT0 + 1, 2, 0, lead, 39).is_new);
  }
  // Without the counts (alerts of older versions): the fixed gate.
  {
    StoryIndex index(kWindow);
    index.Assign(fp, "original", kT0, 1, 0, lead);
    EXPECT_EQ(LeadGate(0, 60), kLeadGate);
    EXPECT_TRUE(index.Assign(cut, "cut", kT0 + 1, 2, 0, lead, 60).is_new);
  }
  {
    StoryIndex index(kWindow);
    index.Assign(fp, "original", kT0, 1, 0, lead, 100);
    EXPECT_TRUE(index.Assign(cut, "cut", kT0 + 1, 2, 0, lead, 0).is_new);
  }
}

TEST(StoryIndex, AnItemWithoutALeadKeyLooksUpItsFingerprintAmongTheLeads) {
  StoryIndex index(kWindow);
  const Fingerprint fp = 0x00ff00ff00ff00ffULL;
  Fingerprint cut = fp;  // a copy cut to its lead: its whole text is near the original's lead
  for (int b = 0; b < 6; ++b) cut ^= 1ULL << (9 * b + 1);
  const Fingerprint lead = cut;
  auto first = index.Assign(fp, "long", kT0, 1, 0, lead);
  ASSERT_TRUE(first.is_new);
  auto copy = index.Assign(cut, "short-copy", kT0 + 1, 2, 0, /*lead=*/0);
  EXPECT_FALSE(copy.is_new);
  EXPECT_EQ(copy.seq, first.seq);
}

TEST(StoryIndex, AStoryWithoutALeadKeyIsNotFoundByLead) {
  StoryIndex index(kWindow);
  const Fingerprint fp = 0x5555aaaa5555aaaaULL;
  ASSERT_TRUE(index.Assign(fp, "short", kT0, 1, 0).is_new);  // no lead key: not in the lead tables
  Fingerprint near = fp;
  for (int b = 0; b < 5; ++b) near ^= 1ULL << (11 * b);
  // Its lead equals the story's fingerprint, and the whole text is within the gate: still a story
  // of its own, because the story has no lead entry (its whole text is its lead).
  EXPECT_TRUE(index.Assign(near, "long", kT0 + 1, 2, 0, fp).is_new);
}

// Random fingerprints, leads and sentence keys (two per item), some derived from earlier ones by
// a few flipped bits or with the earlier item's keys exchanged: the index agrees with the rule
// computed over every live story (fingerprint within 3, nearest and oldest; else the same lead
// and a fingerprint within the gate, oldest; else a story with the item's sentence key as either
// of its two and a fingerprint within kSentenceGate, nearest and oldest; else the same with the
// item's second sentence key). The index holds 48 bits of a lead key and 49 of a sentence key
// (its bucket and filter): the rule compares those.
TEST(StoryIndex, LeadLookupAgreesWithBruteForce) {
  constexpr int64_t kSmallWindow = 1000;
  constexpr Fingerprint kKeyBits = 0xFFFFFFFFFFFFULL, kSentenceBits = 0x1FFFFFFFFFFFFULL;
  StoryIndex index(kSmallWindow);
  struct Live {
    Fingerprint fp, lead, sentence, sentence2;
    int64_t first_seen;
    uint64_t seq;
  };
  std::vector<Live> live;
  std::mt19937_64 rng(7);
  std::vector<std::tuple<Fingerprint, Fingerprint, Fingerprint, Fingerprint>> recent;
  auto flip = [&](Fingerprint x, int max_flips) {
    int flips = static_cast<int>(rng() % (max_flips + 1));
    for (int f = 0; f < flips; ++f) x ^= 1ULL << (rng() % 64);
    return x;
  };
  int by_lead = 0, by_sentence = 0, by_second = 0;
  for (int i = 0; i < 20000; ++i) {
    int64_t t = i / 10;
    index.Expire(t);
    std::erase_if(live, [&](const Live& l) { return l.first_seen < t - kSmallWindow; });
    Fingerprint fp, lead, sentence, sentence2;
    if (!recent.empty() && rng() % 2 == 0) {
      const auto& [rfp, rlead, rsentence, rsentence2] = recent[rng() % recent.size()];
      fp = flip(rfp, 10);
      lead = rng() % 4 == 0 ? 0 : flip(rlead != 0 ? rlead : rfp, 2);
      // The sentence keys kept, lost, another sentence's (a near one: a filter's bit off), the
      // earlier item's second key as this one's first (its least sentence was cut), or its
      // first as this one's second (a sentence with a lesser key was added).
      const uint64_t r = rng() % 6;
      sentence = r == 0   ? 0
                 : r == 1 ? flip(rsentence, 1)
                 : r == 2 ? rsentence2
                 : r == 3 ? rng()
                          : rsentence;
      sentence2 = r == 2           ? (rng() % 2 ? 0 : rng())
                  : r == 3         ? (rng() % 2 ? rsentence : rsentence2)
                  : rng() % 3 == 0 ? rsentence2
                                   : rng();
    } else {
      fp = rng();
      lead = rng() % 3 == 0 ? 0 : rng();
      sentence = rng() % 3 == 0 ? 0 : rng();
      sentence2 = sentence == 0 || rng() % 4 == 0 ? 0 : rng();
    }
    if (fp == 0) fp = 1;
    if (sentence == 0) sentence2 = 0;
    recent.emplace_back(fp, lead, sentence, sentence2);
    if (recent.size() > 1000) recent.erase(recent.begin());
    const Live* best = nullptr;
    int best_d = kNearDuplicateDistance + 1;
    for (const Live& l : live) {
      int d = Distance(l.fp, fp);
      if (d < best_d || (d == best_d && best != nullptr && l.seq < best->seq)) {
        best_d = d;
        best = &l;
      }
    }
    bool lead_match = false;
    if (best == nullptr) {
      const Fingerprint key = lead != 0 ? lead : fp;
      for (const Live& l : live) {
        if (l.lead == 0 || Distance(l.fp, fp) > kLeadGate || ((l.lead ^ key) & kKeyBits) != 0) {
          continue;
        }
        if (best == nullptr || l.seq < best->seq) best = &l;
      }
      lead_match = best != nullptr;
    }
    auto by_key = [&](Fingerprint key) {
      const Live* found = nullptr;
      int found_d = kSentenceGate + 1;
      for (const Live& l : live) {
        const bool first = l.sentence != 0 && ((l.sentence ^ key) & kSentenceBits) == 0;
        const bool second = l.sentence2 != 0 && ((l.sentence2 ^ key) & kSentenceBits) == 0;
        if (!first && !second) continue;
        int d = Distance(l.fp, fp);
        if (d < found_d || (d == found_d && found != nullptr && l.seq < found->seq)) {
          found_d = d;
          found = &l;
        }
      }
      return found;
    };
    bool sentence_match = false, second_match = false;
    if (best == nullptr && sentence != 0) {
      best = by_key(sentence);
      sentence_match = best != nullptr;
    }
    if (best == nullptr && sentence2 != 0 && sentence2 != sentence) {
      best = by_key(sentence2);
      second_match = best != nullptr;
    }
    auto a = index.Assign(fp, "item-" + std::to_string(i), t, 1, 0, lead, 0, sentence, sentence2);
    if (best == nullptr) {
      ASSERT_TRUE(a.is_new) << "item " << i;
      live.push_back({fp, lead, sentence, sentence2 != sentence ? sentence2 : 0, t, a.seq});
    } else {
      ASSERT_FALSE(a.is_new) << "item " << i;
      ASSERT_EQ(a.seq, best->seq) << "item " << i;
      by_lead += lead_match;
      by_sentence += sentence_match;
      by_second += second_match;
    }
  }
  EXPECT_EQ(index.size(), live.size());
  EXPECT_GT(by_lead, 100);      // the lead rule was exercised, not only the fingerprint's
  EXPECT_GT(by_sentence, 100);  // and the sentence key's
  EXPECT_GT(by_second, 100);    // and the second sentence key's
}

// The second sentence key: a story is found by either of its first copy's two keys, through
// either of the item's, under the same gate. A copy that lost the original's least sentence (cut
// or dropped) has the original's second key as its least; one that lost both is not found.
TEST(StoryIndex, ACopyJoinsThroughEitherSentenceKey) {
  const Fingerprint fp = 0x0f0f0f0f0f0f0f0fULL;
  const Fingerprint lead = 0x123456789abcdef0ULL;
  const Fingerprint least = 0x1111111111111111ULL, second = 0x2222222222222223ULL,
                    third = 0x3333333333333335ULL;
  Fingerprint far = fp;  // a rewritten headline: another lead, kSentenceGate bits away
  for (int b = 0; b < kSentenceGate; ++b) far ^= 1ULL << (9 * b + 2);
  struct Case {
    const char* what;
    Fingerprint story_second, sentence, sentence2;
    bool joins;
  };
  const Case cases[] = {
      {"the least sentence cut: the story's second is the copy's least", second, second, third,
       true},
      {"the copy's second is the story's least", second, third, least, true},
      {"the copy's second is the story's second", second, third, second, true},
      {"the story has no second key", 0, second, third, false},
      {"both of the story's sentences lost", second, third, 0x4444444444444445ULL, false},
  };
  for (const Case& c : cases) {
    StoryIndex index(kWindow);
    ASSERT_TRUE(index.Assign(fp, "original", kT0, 1, 0, lead, 100, least, c.story_second).is_new);
    auto copy = index.Assign(far, "copy", kT0 + 1, 2, 0, ~lead, 100, c.sentence, c.sentence2);
    EXPECT_EQ(!copy.is_new, c.joins) << c.what;
  }
  // The gate holds for the second key as for the first: one bit past it, from an item that does
  // not say how many tokens it has (no containment estimate), a story of its own.
  StoryIndex index(kWindow);
  ASSERT_TRUE(index.Assign(fp, "original", kT0, 1, 0, lead, 100, least, second).is_new);
  EXPECT_TRUE(index.Assign(far ^ 2, "past", kT0 + 1, 2, 0, ~lead, 0, third, second).is_new);
}

// The sentence key: when neither the fingerprint nor the lead finds a story, an item joins the
// story whose first copy had its sentence key, when their fingerprints are within kSentenceGate;
// not past the gate, not with another key, not a story without one, and not once it expired.
TEST(StoryIndex, ACopyWithTheSentenceKeyJoinsWithinItsGate) {
  StoryIndex index(kWindow);
  const Fingerprint fp = 0x0f0f0f0f0f0f0f0fULL;
  const Fingerprint lead = 0x123456789abcdef0ULL, sentence = 0x2468ace013579bdfULL;
  auto first = index.Assign(fp, "original", kT0, 1, 0, lead, 100, sentence);
  ASSERT_TRUE(first.is_new);
  // A rewritten headline: another lead key, the whole text kSentenceGate bits away.
  Fingerprint far = fp;
  for (int b = 0; b < kSentenceGate; ++b) far ^= 1ULL << (9 * b + 2);
  ASSERT_EQ(Distance(far, fp), kSentenceGate);
  auto copy = index.Assign(far, "rewritten", kT0 + 1, 2, 0, ~lead, 100, sentence);
  EXPECT_FALSE(copy.is_new);
  EXPECT_EQ(copy.seq, first.seq);
  // One bit further, from an item that does not say how many tokens it has (so no containment
  // estimate, SentenceContained): a story of its own.
  auto past = index.Assign(far ^ (1ULL << 1), "past", kT0 + 2, 3, 0, ~lead ^ 1, 0, sentence);
  EXPECT_TRUE(past.is_new);
  // Within the gate, but the key one bit away in the bucket's 16 bits or the filter's 32: a
  // story of its own. (The key's top 16 bits are not held: Story has no field for it, and 48
  // equal bits of two 64-bit hashes are the check, a false match in 2^48.)
  int i = 0;
  for (int bit : {0, 15, 16, 47}) {
    const Fingerprint near = fp ^ (0xFULL << (16 * i++ + 4));  // 4 bits from fp, 8 from another
    auto other = index.Assign(near, "other" + std::to_string(bit), kT0 + 3, 4, 0, ~lead ^ (bit + 8),
                              100, sentence ^ (uint64_t{1} << bit));
    EXPECT_TRUE(other.is_new) << bit;
  }
  // A story without a key is not found by one.
  StoryIndex plain(kWindow);
  ASSERT_TRUE(plain.Assign(fp, "original", kT0, 1, 0, lead).is_new);
  EXPECT_TRUE(plain.Assign(far, "rewritten", kT0 + 1, 2, 0, ~lead, 0, sentence).is_new);
  // Nor by an item without one.
  EXPECT_TRUE(
      index.Assign(fp ^ (0x3FULL << 56), "no-key", kT0 + 4, 5, 0, ~lead ^ 4, 100, 0).is_new);
  // The nearest fingerprint among the stories with the key: 4 bits against 5, then 4 against 5
  // the other way.
  {
    StoryIndex two(kWindow);
    auto a = two.Assign(fp, "a", kT0, 1, 0, 11, 100, sentence);
    // (b's tokens unknown: 9 bits from a is within SentenceContained for two items of 100.)
    auto b = two.Assign(fp ^ 0x1FF, "b", kT0 + 1, 2, 0, 12, 0, sentence);
    ASSERT_TRUE(b.is_new);
    EXPECT_EQ(two.Assign(fp ^ 0x00F, "c", kT0 + 2, 3, 0, 13, 100, sentence).seq, a.seq);
    EXPECT_EQ(two.Assign(fp ^ 0x1F0, "d", kT0 + 3, 4, 0, 14, 100, sentence).seq, b.seq);
  }
  // Expiry: once the window passed, the key finds nothing.
  index.Expire(kT0 + kWindow + 10);
  EXPECT_EQ(index.size(), 0u);
  auto after = index.Assign(far, "after", kT0 + kWindow + 10, 8, 0, ~lead, 100, sentence);
  EXPECT_TRUE(after.is_new);
}

// A window large enough that its buckets grow through many sizes (which packs the bucket
// arenas again) and then a volume drop to nothing (which sweeps every bucket and gives the
// memory back): copies still find their stories all along.
// Beyond kSentenceGate, a sentence-key match joins when the two token counts and the distance
// say the shorter text is mostly (kSentenceContainmentPercent) in the longer: with J = 1 - d / 32,
// J (a + b) / ((1 + J) min(a, b)) >= 0.8. Equal lengths: up to 10 bits; a copy of 80 tokens of
// a 200-token original: up to 22; below kSentenceContainmentFloorPercent of the longer, or with
// a count unknown, the fixed gate alone.
TEST(StoryIndex, ASentenceKeyMatchJoinsWhenTheShorterIsContained) {
  const Fingerprint fp = 0x0f0f0f0f0f0f0f0fULL;
  const Fingerprint sentence = 0x2468ace013579bdfULL;
  auto away = [&](int bits) {
    Fingerprint f = fp;
    for (int b = 0; b < bits; ++b) f ^= 1ULL << (b * 64 / bits);
    EXPECT_EQ(Distance(f, fp), bits);
    return f;
  };
  auto joins = [&](uint32_t original_tokens, int bits, uint32_t copy_tokens) {
    StoryIndex index(kWindow);
    const auto first = index.Assign(fp, "original", kT0, 1, 0, 0x1111, original_tokens, sentence);
    EXPECT_TRUE(first.is_new);
    const auto copy =
        index.Assign(away(bits), "copy", kT0 + 1, 2, 1, 0x2222, copy_tokens, sentence);
    return !copy.is_new && copy.seq == first.seq;
  };
  EXPECT_TRUE(joins(100, 10, 100));
  EXPECT_FALSE(joins(100, 11, 100));
  EXPECT_TRUE(joins(200, 22, 80));
  EXPECT_FALSE(joins(200, 23, 80));
  EXPECT_TRUE(joins(80, 22, 200));  // either way round
  EXPECT_FALSE(joins(80, 23, 200));
  // 40 of 200 tokens (20%, under the floor): contained or not, the fixed gate decides.
  EXPECT_TRUE(joins(200, kSentenceGate, 40));
  EXPECT_FALSE(joins(200, kSentenceGate + 1, 40));
  EXPECT_TRUE(joins(200, 22, 50));  // 25%: at the floor
  // A count unknown (0): the fixed gate.
  EXPECT_FALSE(joins(0, kSentenceGate + 1, 100));
  EXPECT_FALSE(joins(100, kSentenceGate + 1, 0));
  // Without the same sentence key, containment alone joins nothing.
  StoryIndex index(kWindow);
  ASSERT_TRUE(index.Assign(fp, "original", kT0, 1, 0, 0x1111, 200, sentence).is_new);
  EXPECT_TRUE(index.Assign(away(12), "other", kT0 + 1, 2, 0, 0x2222, 80, sentence ^ 1).is_new);
}

TEST(StoryIndex, SentenceContainedIsTheEstimateInIntegers) {
  for (uint32_t a : {1u, 7u, 40u, 80u, 100u, 200u, 1000u, 65535u}) {
    for (uint32_t b : {1u, 7u, 40u, 80u, 100u, 200u, 1000u, 65535u}) {
      for (int d = 0; d <= 64; ++d) {
        const double j = std::max(0.0, 1.0 - d / 32.0);
        const double shorter = std::min(a, b), longer = std::max(a, b);
        const double c = j * (a + b) / ((1 + j) * shorter);
        const bool expected = shorter * 100 >= 25 * longer && d < 32 && c >= 0.8 - 1e-12;
        EXPECT_EQ(SentenceContained(d, a, b), expected) << a << " " << b << " " << d;
      }
    }
  }
  EXPECT_FALSE(SentenceContained(0, 0, 100));
  EXPECT_FALSE(SentenceContained(0, 100, 0));
}

TEST(StoryIndex, FindsCopiesThroughArenaPackingAndGivesMemoryBackWhenTheWindowEmpties) {
  constexpr int kStories = 600000;
  StoryIndex index(kWindow);
  std::mt19937_64 rng(7);
  std::vector<Fingerprint> fps(kStories);
  std::vector<uint64_t> seqs(kStories);
  // Every story with a lead and a sentence key (the most entries a story has: six).
  std::vector<Fingerprint> sentences(kStories);
  for (int i = 0; i < kStories; ++i) {
    fps[i] = rng() | 1;
    sentences[i] = rng() | 1;
    auto a =
        index.Assign(fps[i], "s" + std::to_string(i), kT0 + i, 1, 0, rng() | 1, 0, sentences[i]);
    ASSERT_TRUE(a.is_new);
    seqs[i] = a.seq;
  }
  // Every 89th story, copied with five bits flipped and another lead, joins it by its sentence
  // key (through packings of the arenas, which move the sentence table's buckets too).
  for (int i = 0; i < kStories; i += 89) {
    auto c = index.Assign(fps[i] ^ 0x8000100010001001ULL, "t" + std::to_string(i), kT0 + kStories,
                          2, 0, 3, 0, sentences[i]);
    ASSERT_FALSE(c.is_new) << i;
    ASSERT_EQ(c.seq, seqs[i]) << i;
  }
  // Every 97th story, copied with two bits flipped, joins its story by its fingerprint.
  for (int i = 0; i < kStories; i += 97) {
    auto c =
        index.Assign(fps[i] ^ 0x8000000000000001ULL, "c" + std::to_string(i), kT0 + kStories, 2, 0);
    ASSERT_FALSE(c.is_new) << i;
    ASSERT_EQ(c.seq, seqs[i]) << i;
  }
  const size_t full = index.MemoryBytes();
  EXPECT_LT(full / kStories, 150u);  // bytes per story, everything counted
  // The whole-window events a benchmark reads (StageStats): the fill took arenas, at least as
  // many as one 8-byte entry per story in each of the four fingerprint tables needs.
  const StoryIndex::Events filled = index.events();
  EXPECT_GE(filled.arenas_allocated, size_t{kStories} * 4 * 8 / (size_t{2} << 20));
  // Everything expires: the sweep visits every bucket and the arenas go.
  index.Expire(kT0 + kStories + kWindow + 1);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_LT(index.MemoryBytes(), full / 10);
  // Giving them back packed the arenas, and the packings were timed.
  EXPECT_GT(index.events().packings, filled.packings);
  EXPECT_GT(index.events().packing_ns, filled.packing_ns);
  EXPECT_EQ(index.events().arenas_allocated, filled.arenas_allocated);
  // And the index works as before.
  auto a = index.Assign(fps[0], "again", kT0 + 2 * kWindow + kStories, 1, 0);
  EXPECT_TRUE(a.is_new);
  auto b = index.Assign(fps[0] ^ 4, "again-copy", kT0 + 2 * kWindow + kStories + 1, 1, 0);
  EXPECT_EQ(b.seq, a.seq);
}

// A story whose two sentence keys are equal (a body whose least sentence hash is also its next:
// the fingerprinter gives 0 then, an alert from elsewhere may not) is indexed once under that
// key, as a story with no second key: 20,000 such stories in one sentence bucket take the memory
// of 20,000 entries, not 40,000 (a bucket that large is a block of its own, whose bytes
// MemoryBytes counts exactly; fails with AssignPrefetched's guard removed). Each still joins by
// it.
TEST(StoryIndex, EqualSentenceKeysAreIndexedOnce) {
  auto fill = [](bool second_equal) {
    auto index = std::make_unique<StoryIndex>(kWindow);
    for (uint64_t i = 0; i < 20000; ++i) {
      // One sentence bucket (the same low 17 bits), distinct keys above them.
      const Fingerprint sentence = ((i + 1) << 17) | 0x1234;
      index->Assign((i + 1) * 0x9E3779B97F4A7C15ULL, "s" + std::to_string(i),
                    kT0 + static_cast<int64_t>(i), 1, 0, 0, 100, sentence,
                    second_equal ? sentence : 0);
    }
    return index;
  };
  auto once = fill(false);
  auto twice = fill(true);
  EXPECT_EQ(twice->size(), 20000u);
  EXPECT_EQ(twice->MemoryBytes(), once->MemoryBytes());
  // A copy with the key and a fingerprint within kSentenceGate joins its story.
  const Fingerprint fp = 8 * 0x9E3779B97F4A7C15ULL;
  const auto copy =
      twice->Assign(fp ^ 0x3F, "copy", kT0 + 1000, 2, 0, 0, 100, (Fingerprint{8} << 17) | 0x1234);
  EXPECT_FALSE(copy.is_new);
  EXPECT_EQ(twice->Id(copy.seq), "s7");
}

}  // namespace
}  // namespace steppewatch::stories
