// StoriesCollector's values, not only its names: a StoriesRole runs against librdkafka's mock
// cluster, reads a set of alerts built so that every counter of the stories stage and of the role
// has its own known value (5 copies, 3 rejected of which 1 late, 4 undated, 8 key counts behind
// the spike window, 19 stories, 6 keys tracked, 7 untracked key counts, 2 spikes that start,
// one grows, both end; an outage of the stories topic that pauses the input once and fails
// deliveries), and the collector's text exposition must say exactly those values and nothing
// else. The values are pairwise distinct, so a collector line that exports the wrong
// field (late for undated) fails, and so does a stage counter that stops counting.
#include "steppewatch/metrics/stories_collector.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/metrics/collector.h"

namespace steppewatch::metrics {
namespace {

namespace kt = ::steppewatch::kafka::testing;

constexpr char kAlerts[] = "alerts.test";
constexpr char kLease[] = "stories.lease";
constexpr char kStories[] = "stories.out";
constexpr char kSpikes[] = "spikes.out";

// "name{labels}" exactly as written -> value: what Prometheus would store.
std::map<std::string, double> ParseSamples(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// One alert of the input and the Kafka timestamp it is produced with (0: the producer's now).
struct Input {
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;
};

struct AlertSpec {
  std::string id = "";
  std::string fingerprint = "";   // empty: no item.fingerprint
  std::string published_at = "";  // empty: no item.published_at
  std::string lang = "en";
  std::string rule = "r.main";
  std::vector<std::string> tags = {};
  std::string schema = "steppewatch.alert.v1";
};

// An alert as the matcher publishes it (one match: the spec's rule with its tags).
std::string AlertJson(const AlertSpec& a) {
  std::string item = absl::StrCat(R"({"id":")", a.id, R"(","title":"t )", a.id,
                                  R"(","source":"wire","lang":")", a.lang, R"(")");
  if (!a.published_at.empty())
    absl::StrAppend(&item, R"(,"published_at":")", a.published_at, R"(")");
  if (!a.fingerprint.empty()) absl::StrAppend(&item, R"(,"fingerprint":")", a.fingerprint, R"(")");
  item += "}";
  std::vector<std::string> tags;
  for (const std::string& t : a.tags) tags.push_back(absl::StrCat("\"", t, "\""));
  return absl::StrCat(
      R"({"schema":")", a.schema, R"(","item":)", item, R"(,"matches":[{"rule":")", a.rule,
      R"(","title":"T","severity":"low","tags":[)", absl::StrJoin(tags, ","),
      R"(],"score":1,"hits":[]}],"rule_pack":{"name":"t","version":"1","hash":"sha256:00"},"origin":{"topic":"news","partition":0,"offset":1},"processed_at":"2026-01-01T00:00:00Z","instance":"test"})");
}

// Produces `inputs` in order to partition 0 of `topic` (idempotent: the order is kept), each with
// its Kafka timestamp, and waits for every delivery. Returns the count acked.
int ProduceInOrder(const std::string& bootstrap, const std::string& topic,
                   const std::vector<Input>& inputs) {
  rd_kafka_t* rk = kt::NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap},
                                                     {"log_level", "3"},
                                                     {"linger.ms", "1"},
                                                     {"enable.idempotence", "true"}});
  if (rk == nullptr) return 0;
  for (const Input& in : inputs) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(in.key.data(), in.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(in.value.data()), in.value.size()),
        RD_KAFKA_V_TIMESTAMP(in.timestamp_ms),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK), RD_KAFKA_V_END);
    EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  const int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);
  return static_cast<int>(inputs.size()) - left;
}

// Scrapes `role` through StoriesCollector (the text Prometheus reads) and expects exactly the
// samples of `want`, each with its value, plus the memory gauge, which is the stage's own figure
// (not predictable from the input). Anything exported that `want` does not name fails: a new
// family needs its expected value here.
void ExpectExported(const kafka::StoriesRole& role, const std::map<std::string, double>& want,
                    const std::string& when) {
  SCOPED_TRACE(when);
  std::map<std::string, double> got = ParseSamples(RenderText(StoriesCollector(&role).Collect()));
  const uint64_t memory = role.stage_stats().memory_bytes;
  for (const auto& [sample, value] : want) {
    auto it = got.find(sample);
    if (it == got.end()) {
      ADD_FAILURE() << sample << " is not exported";
      continue;
    }
    if (!std::isnan(value)) {
      EXPECT_EQ(it->second, value) << sample;
    }
  }
  constexpr char kMemory[] = "steppewatch_stories_memory_bytes";
  ASSERT_TRUE(got.count(kMemory)) << kMemory << " is not exported";
  EXPECT_GT(got[kMemory], 0);
  EXPECT_EQ(got[kMemory], static_cast<double>(memory));
  for (const auto& [sample, value] : got) {
    EXPECT_TRUE(want.count(sample) || sample == kMemory)
        << "exported and not checked: " << sample << " " << value;
  }
}

// Fingerprints of distinct stories: odd multiples of the golden ratio, far apart from each other
// (checked: at least 12 bits, four times the near-duplicate distance).
std::string DistinctFingerprint(int i) {
  char fp[17];
  std::snprintf(fp, sizeof fp, "%016llx",
                static_cast<unsigned long long>(0x9E3779B97F4A7C15ull * (2 * i + 1)));
  return fp;
}

// `fp` with its bit `bit` (0: the lowest) flipped: a near-duplicate of it.
std::string FlipBit(const std::string& fp, int bit) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx",
                static_cast<unsigned long long>(std::stoull(fp, nullptr, 16) ^ (1ull << bit)));
  return out;
}

TEST(StoriesCollectorTest, ExportsTheValueOfEveryCounterOfTheStageAndTheRole) {
  // Every distinct story's fingerprint is far from every other's, so none joins another story.
  for (int i = 0; i < 24; ++i) {
    for (int j = 0; j < i; ++j) {
      const uint64_t a = std::stoull(DistinctFingerprint(i), nullptr, 16);
      const uint64_t b = std::stoull(DistinctFingerprint(j), nullptr, 16);
      ASSERT_GE(std::bitset<64>(a ^ b).count(), 12u) << i << " " << j;
    }
  }
  // One alert partition: the stage sees the alerts in the order they were produced.
  auto broker = kafka::EmbeddedBroker::Create(
      {.topics = {{kAlerts, 1}, {kLease, 1}, {kStories, 1}, {kSpikes, 1}}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string bootstrap = (*broker)->bootstrap();

  const absl::Time now = absl::Now();
  const std::string dated = Rfc3339(now);
  int next_fp = 0;
  auto story = [&](AlertSpec a) {
    if (a.fingerprint.empty()) a.fingerprint = DistinctFingerprint(next_fp++);
    if (a.published_at.empty()) a.published_at = dated;
    return Input{a.id, AlertJson(a)};
  };

  // Before the role starts: the story p1 (rule r.main, tag t:main) and a copy. The group has no
  // committed offset, so the role replays both (state only, nothing published): 2 replayed.
  const std::string main_fp = DistinctFingerprint(next_fp++);
  ASSERT_EQ(ProduceInOrder(bootstrap, kAlerts,
                           {story({.id = "p1", .fingerprint = main_fp, .tags = {"t:main"}}),
                            story({.id = "p2", .fingerprint = FlipBit(main_fp, 0)})}),
            2);

  kafka::StoriesRoleOptions o;
  o.brokers = bootstrap;
  o.group_id = "stories-metrics-test";
  o.client_id = "metrics";
  o.input_topics = {kAlerts};
  o.lease_topic = kLease;
  o.stories_topic = kStories;
  o.spikes_topic = kSpikes;
  o.consumer_properties = {
      {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}, {"log_level", "3"}};
  // A delivery to a topic without a leader fails after 1 s (librdkafka's default: 5 minutes).
  o.producer_properties = {{"log_level", "3"}, {"message.timeout.ms", "1000"}};
  o.tick = absl::Milliseconds(100);
  // Backpressure at 26 outputs in flight: never reached by the 25 outputs of the first alerts,
  // reached once by the 26 copies sent while the stories topic has no leader.
  o.max_in_flight = 26;
  // The role's clock (its ticks advance the stage without alerts): the wall clock, moved on
  // later to end the spikes.
  std::atomic<int64_t> clock_shift_ms{0};
  o.now_ms = [&clock_shift_ms] { return absl::ToUnixMillis(absl::Now()) + clock_shift_ms.load(); };
  // No history in a test: no warm-up, so 6 new stories of a quiet key in the spike window start
  // a spike (the floor's threshold). Six keys tracked at most.
  o.stage.warmup_days = 0;
  o.stage.max_keys = 6;
  absl::StatusOr<std::unique_ptr<kafka::StoriesRole>> created = kafka::StoriesRole::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<kafka::StoriesRole> role = *std::move(created);
  ASSERT_TRUE(role->Start().ok());
  ASSERT_TRUE(kt::WaitUntil(
      [&] { return role->counters().active.load() && !role->counters().replaying.load(); },
      absl::Seconds(30)))
      << "the role never became active and live";
  ASSERT_EQ(role->counters().replayed.load(), 2u);

  // Live, in this order (25 alerts):
  std::vector<Input> live;
  //   4 copies of p1's story (fingerprints 1 bit from it): with p2, 5 copies; p1's story has 6;
  for (int i = 0; i < 4; ++i) {
    live.push_back(story(
        {.id = absl::StrCat("c", i), .fingerprint = FlipBit(main_fp, 4 + i), .tags = {"t:main"}}));
  }
  //   a new story of rule r.main without tags;
  live.push_back(story({.id = "d1"}));
  //   2 rejected for two reasons (an unknown schema, no fingerprint) and 1 late (its Kafka time
  //   80 h before the stage's clock, past the 72 h window): 3 rejected, 1 late;
  live.push_back(story({.id = "s1", .schema = "steppewatch.alert.v0"}));
  live.push_back({"n1", AlertJson({.id = "n1", .published_at = dated})});
  live.push_back({"l1", AlertJson({.id = "l1", .fingerprint = DistinctFingerprint(next_fp++)}),
                  absl::ToUnixMillis(now - absl::Hours(80))});
  //   4 undated new stories (no published_at, a Kafka time before 1971: the stream's time), not
  //   counted for any key;
  for (int i = 0; i < 4; ++i) {
    const std::string id = absl::StrCat("u", i);
    live.push_back(
        {id,
         AlertJson({.id = id, .fingerprint = DistinctFingerprint(next_fp++), .tags = {"t:main"}}),
         1000});
  }
  //   3 new stories 10 h behind the clock (more than the 2 h spike window): rule r.old with
  //   tags {t:old, t:main}, {t:old, t:main} and {t:main}: 3 + 3 + 2 = 8 key counts behind the
  //   spike window;
  const std::string behind = Rfc3339(now - absl::Hours(10));
  live.push_back(
      story({.id = "o1", .published_at = behind, .rule = "r.old", .tags = {"t:old", "t:main"}}));
  live.push_back(
      story({.id = "o2", .published_at = behind, .rule = "r.old", .tags = {"t:old", "t:main"}}));
  live.push_back(story({.id = "o3", .published_at = behind, .rule = "r.old", .tags = {"t:main"}}));
  //   a burst of 9 new stories of rule r.burst, the first 6 also of tag t:burst, in English and
  //   Russian: the 6th starts a confirmed spike on both keys (2 start events, 2 active spikes),
  //   the 9th grows the rule's by half (an update event);
  for (int i = 0; i < 9; ++i) {
    std::vector<std::string> tags;
    if (i < 6) tags = {"t:burst"};
    live.push_back(story({.id = absl::StrCat("b", i),
                          .lang = i % 2 ? "ru" : "en",
                          .rule = "r.burst",
                          .tags = tags}));
  }
  //   a new story of rule r.main with 7 tags past max_keys: 7 untracked key counts.
  live.push_back(
      story({.id = "x1", .tags = {"t:x1", "t:x2", "t:x3", "t:x4", "t:x5", "t:x6", "t:x7"}}));
  ASSERT_EQ(live.size(), 25u);
  ASSERT_EQ(ProduceInOrder(bootstrap, kAlerts, live), 25);

  // Handled: the 22 enriched alerts and the 3 spike events delivered, and the stage's snapshot
  // (taken every tick) holds all 27 alerts.
  ASSERT_TRUE(kt::WaitUntil(
      [&] {
        return role->counters().published_alerts.load() >= 22 &&
               role->counters().published_spikes.load() >= 3 && role->outputs_in_flight() == 0 &&
               role->stage_stats().alerts >= 27;
      },
      absl::Seconds(30)))
      << "published " << role->counters().published_alerts.load() << " alerts and "
      << role->counters().published_spikes.load() << " spike events, stage alerts "
      << role->stage_stats().alerts;

  std::map<std::string, double> want = {
      {"steppewatch_stories_active", 1},
      {"steppewatch_stories_replaying", 0},
      {"steppewatch_stories_alerts_total", 25},
      {"steppewatch_stories_replayed_total", 2},
      {"steppewatch_stories_published_total", 22},
      {"steppewatch_stories_delivery_failures_total", 0},
      {"steppewatch_stories_input_paused", 0},
      {"steppewatch_stories_backpressure_pauses_total", 0},
      {"steppewatch_stories_copies_total", 5},
      {"steppewatch_stories_rejected_total", 3},
      {"steppewatch_stories_late_total", 1},
      {"steppewatch_stories_undated_total", 4},
      {"steppewatch_stories_behind_spike_window_total", 8},
      // The clock's guard against mis-dated items learns the stream's pace over its first 32
      // dated alerts and doubts no time before: 0 here (its counts are tested in the stage's
      // MisdatedTest and TwoMisdatedAlertsSideBySideDoNotMoveTheClock).
      {"steppewatch_stories_ahead_of_clock_total", 0},
      {"steppewatch_stories_clock_jumps_total", 0},
      // No silence of two weeks here: its count is tested in the stage's
      // AfterAHoleInTheStreamTheBaselineGoesOn and AMonthOfTicksWithoutAlertsIsAHoleNotQuietNews.
      {"steppewatch_stories_stream_holes_total", 0},
      {"steppewatch_stories_window_stories", 19},
      {"steppewatch_spikes_active", 2},
      {"steppewatch_stories_spike_keys", 6},
      {"steppewatch_stories_untracked_key_counts_total", 7},
      {R"(steppewatch_stories_new_total{scope="rule",name="r.main"})", 3},
      {R"(steppewatch_stories_new_total{scope="tag",name="t:main"})", 4},
      {R"(steppewatch_stories_new_total{scope="rule",name="r.old"})", 3},
      {R"(steppewatch_stories_new_total{scope="tag",name="t:old"})", 2},
      {R"(steppewatch_stories_new_total{scope="rule",name="r.burst"})", 9},
      {R"(steppewatch_stories_new_total{scope="tag",name="t:burst"})", 6},
      {R"(steppewatch_spike_active{scope="rule",name="r.burst",confirmed="true"})", 1},
      {R"(steppewatch_spike_active{scope="tag",name="t:burst",confirmed="true"})", 1},
      {R"(steppewatch_spike_events_total{scope="rule",name="r.burst",state="start"})", 1},
      {R"(steppewatch_spike_events_total{scope="rule",name="r.burst",state="update"})", 1},
      {R"(steppewatch_spike_events_total{scope="tag",name="t:burst",state="start"})", 1},
      {R"(steppewatch_spike_starts_by_language_total{lang="en"})", 2},
      {R"(steppewatch_spike_starts_by_language_total{lang="ru"})", 2},
      {R"(steppewatch_story_copies{story="p1"})", 6},
  };
  // The stage's and the role's counters are pairwise distinct, so exporting one field for
  // another shows.
  {
    std::set<double> distinct;
    for (const char* name :
         {"steppewatch_stories_copies_total", "steppewatch_stories_rejected_total",
          "steppewatch_stories_late_total", "steppewatch_stories_undated_total",
          "steppewatch_stories_behind_spike_window_total", "steppewatch_stories_window_stories",
          "steppewatch_spikes_active", "steppewatch_stories_spike_keys",
          "steppewatch_stories_untracked_key_counts_total", "steppewatch_stories_alerts_total",
          "steppewatch_stories_published_total"}) {
      EXPECT_TRUE(distinct.insert(want.at(name)).second) << name << " repeats a value";
    }
  }
  ExpectExported(*role, want, "after the alerts");

  // Three hours later by the role's clock: its ticks advance the stage without alerts, and both
  // spikes end (an end event each, published by the tick); the rest stays.
  clock_shift_ms.store(absl::ToInt64Milliseconds(absl::Hours(3)));
  ASSERT_TRUE(kt::WaitUntil(
      [&] {
        return role->counters().published_spikes.load() >= 5 && role->outputs_in_flight() == 0 &&
               role->stage_stats().active_spikes == 0;
      },
      absl::Seconds(30)))
      << "published " << role->counters().published_spikes.load() << " spike events";
  want["steppewatch_spikes_active"] = 0;
  want[R"(steppewatch_spike_active{scope="rule",name="r.burst",confirmed="true"})"] = 0;
  want[R"(steppewatch_spike_active{scope="tag",name="t:burst",confirmed="true"})"] = 0;
  want[R"(steppewatch_spike_events_total{scope="rule",name="r.burst",state="end"})"] = 1;
  want[R"(steppewatch_spike_events_total{scope="tag",name="t:burst",state="end"})"] = 1;
  ExpectExported(*role, want, "after the spikes ended");

  // The stories topic loses its leader: the role reads 26 more copies of p1's story, reaches 26
  // outputs in flight and pauses its input (once), and every delivery fails at least once.
  rd_kafka_mock_cluster_t* mc = (*broker)->cluster();
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, -1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<Input> stuck;
  for (int i = 0; i < 26; ++i) {
    stuck.push_back(story(
        {.id = absl::StrCat("k", i), .fingerprint = FlipBit(main_fp, 10 + i), .tags = {"t:main"}}));
  }
  ASSERT_EQ(ProduceInOrder(bootstrap, kAlerts, stuck), 26);
  ASSERT_TRUE(kt::WaitUntil(
      [&] {
        return role->counters().paused.load() && role->counters().consumed.load() >= 51 &&
               role->counters().delivery_failures.load() >= 26 && role->stage_stats().alerts >= 53;
      },
      absl::Seconds(30)))
      << "paused " << role->counters().paused.load() << ", consumed "
      << role->counters().consumed.load() << ", delivery failures "
      << role->counters().delivery_failures.load();
  want["steppewatch_stories_alerts_total"] = 51;
  want["steppewatch_stories_copies_total"] = 31;
  want[R"(steppewatch_story_copies{story="p1"})"] = 32;
  want["steppewatch_stories_input_paused"] = 1;
  want["steppewatch_stories_backpressure_pauses_total"] = 1;
  want["steppewatch_stories_delivery_failures_total"] = std::nan("");  // still failing
  ExpectExported(*role, want, "while the stories topic has no leader");

  // The leader is back: the 26 are delivered, the input resumes, the failures stop.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(kt::WaitUntil(
      [&] {
        return role->counters().published_alerts.load() >= 48 && role->outputs_in_flight() == 0 &&
               !role->counters().paused.load();
      },
      absl::Seconds(30)))
      << "published " << role->counters().published_alerts.load();
  const uint64_t failures = role->counters().delivery_failures.load();
  EXPECT_GE(failures, 26u);
  want["steppewatch_stories_published_total"] = 48;
  want["steppewatch_stories_input_paused"] = 0;
  want["steppewatch_stories_delivery_failures_total"] = static_cast<double>(failures);
  ExpectExported(*role, want, "after the outage");

  // The spikes topic carried exactly the events the spike families count.
  std::map<std::string, int> events;  // "scope:name state" -> count
  for (const kt::Record& r : kt::ReadWholeTopic(bootstrap, kSpikes, 1, absl::Seconds(20))) {
    for (const char* state : {"start", "update", "end"}) {
      if (absl::StrContains(r.value, absl::StrCat(R"("state":")", state, "\""))) {
        ++events[absl::StrCat(r.key, " ", state)];
      }
    }
  }
  EXPECT_EQ(events, (std::map<std::string, int>{{"rule:r.burst start", 1},
                                                {"rule:r.burst update", 1},
                                                {"rule:r.burst end", 1},
                                                {"tag:t:burst start", 1},
                                                {"tag:t:burst end", 1}}));
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
}

}  // namespace
}  // namespace steppewatch::metrics
