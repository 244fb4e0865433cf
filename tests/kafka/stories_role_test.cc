// StoriesRole against the real librdkafka and an in-process mock cluster: every alert is
// published again with its story, copies join the story of their first copy, a standby in the
// same group takes over the lease and rebuilds the window from Kafka, and a failed delivery is
// produced again while the alert's offset waits for it.
#include "steppewatch/kafka/stories_role.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kafka/kafka_test_util.h"
#include "steppewatch/alert/alert.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/producer.h"

namespace steppewatch::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlerts[] = "alerts.test";
constexpr char kLease[] = "stories.lease";
constexpr char kStories[] = "stories.out";
constexpr char kSpikes[] = "spikes.out";

// An alert as the matcher publishes it, with a fingerprint and a publication time of now.
std::string Alert(const std::string& id, const std::string& fingerprint, const std::string& lang,
                  const std::string& source) {
  std::string now;
  alert::AppendRfc3339Now(&now);
  return absl::StrCat(
      R"({"schema":"steppewatch.alert.v1","item":{"id":")", id, R"(","title":"t )", id,
      R"(","source":")", source, R"(","lang":")", lang, R"(","published_at":")", now,
      R"(","fingerprint":")", fingerprint,
      R"("},"matches":[{"rule":"ca.kz","title":"Kazakhstan","severity":"low","tags":["geo:kazakhstan"],"score":1,"hits":[]}],"rule_pack":{"name":"t","version":"1","hash":"sha256:00"},"origin":{"topic":"news","partition":0,"offset":1,"timestamp_ms":1},"processed_at":")",
      now, R"(","instance":"test"})");
}

class StoriesRoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Create(
        {.topics = {{kAlerts, 4}, {kLease, 1}, {kStories, 1}, {kSpikes, 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
  }

  StoriesRoleOptions Options(const std::string& name) {
    StoriesRoleOptions o;
    o.brokers = broker_->bootstrap();
    o.group_id = "stories-test";
    o.client_id = name;
    o.input_topics = {kAlerts};
    o.lease_topic = kLease;
    o.stories_topic = kStories;
    o.spikes_topic = kSpikes;
    // The mock's first join waits ~3 s; a short session makes a failover quick.
    o.consumer_properties = {
        {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}, {"log_level", "3"}};
    o.producer_properties = {{"log_level", "3"}};
    o.tick = absl::Milliseconds(100);
    return o;
  }

  std::unique_ptr<StoriesRole> StartRole(const std::string& name) {
    return StartRole(Options(name));
  }
  std::unique_ptr<StoriesRole> StartRole(const StoriesRoleOptions& options) {
    auto role = StoriesRole::Create(options);
    EXPECT_TRUE(role.ok()) << role.status();
    if (!role.ok()) return nullptr;
    EXPECT_TRUE((*role)->Start().ok());
    return *std::move(role);
  }

  // A delivery fails after 1 s instead of librdkafka's 5 minutes, so the role's producer gives
  // the message back and produces it again inside a fault; offsets stored by the role are
  // committed within 100 ms, so one stored too early would show up at once. Returns the role
  // once it holds the lease (null on failure, with the failure reported).
  std::unique_ptr<StoriesRole> StartActiveWithQuickRetries(StoriesRoleOptions o) {
    o.producer_properties["message.timeout.ms"] = "1000";
    o.consumer_properties["auto.commit.interval.ms"] = "100";
    std::unique_ptr<StoriesRole> role = StartRole(o);
    if (role == nullptr) return nullptr;
    const bool active =
        testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20));
    EXPECT_TRUE(active) << "the role never took the lease";
    return active ? std::move(role) : nullptr;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
};

// A process that runs only the stories role reports through its Stats as a matcher does: its
// loop beats for the liveness probe, and an outage of every broker sets the readiness flag
// (and steppewatch_brokers_down), which the consumer's statistics clear once a broker is back.
// Before, the role's client errors were only logged and /readyz stayed 200 through an outage.
TEST_F(StoriesRoleTest, AStoriesOnlyProcessBeatsAndReportsABrokerOutageAndItsEnd) {
  pipeline::Stats stats(1);
  StoriesRoleOptions o = Options("alone");
  o.stats = &stats;
  o.consumer_properties["statistics.interval.ms"] = "500";
  o.consumer_properties["reconnect.backoff.max.ms"] = "500";
  std::unique_ptr<StoriesRole> role = StartRole(o);
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20)));
  const int64_t beat = stats.Snapshot().stories_heartbeat_steady_ns;
  EXPECT_GT(beat, 0);
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return stats.Snapshot().stories_heartbeat_steady_ns > beat; }, absl::Seconds(5)))
      << "the loop beats on";
  EXPECT_FALSE(stats.Snapshot().all_brokers_down);

  ASSERT_EQ(rd_kafka_mock_broker_set_down(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_TRUE(
      testing::WaitUntil([&] { return stats.Snapshot().all_brokers_down; }, absl::Seconds(30)))
      << "the outage reaches the readiness flag";
  EXPECT_GE(stats.Snapshot().brokers_down_events, 1u);
  ASSERT_EQ(rd_kafka_mock_broker_set_up(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_TRUE(
      testing::WaitUntil([&] { return !stats.Snapshot().all_brokers_down; }, absl::Seconds(30)))
      << "the statistics clear it once the broker is back";
  ASSERT_TRUE(role->Stop(absl::Seconds(5)).ok());
  EXPECT_EQ(stats.Snapshot().stories_heartbeat_steady_ns, 0) << "a stopped loop is not a hang";
}

TEST_F(StoriesRoleTest, PublishesEveryAlertWithItsStoryAndGroupsCopies) {
  auto role = StartRole("a");
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20)));
  // Two copies of one story (fingerprints 1 bit apart), on different partitions (other keys),
  // and an unrelated story.
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts,
                                {{"a1", Alert("a1", "00000000000000ff", "en", "wire")}}),
            1);
  ASSERT_TRUE(testing::WaitUntil([&] { return role->counters().published_alerts.load() >= 1; },
                                 absl::Seconds(20)));
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts,
                                {{"a2", Alert("a2", "00000000000000fe", "ru", "paper")},
                                 {"b1", Alert("b1", "ffff0000ffff0000", "en", "wire")}},
                                {{"steppewatch.rules", "ca.kz"}}),
            2);
  const std::vector<testing::Record> out =
      testing::ReadTopic(broker_->bootstrap(), kStories, 1, 3, absl::Seconds(20));
  ASSERT_EQ(out.size(), 3u);
  std::map<std::string, std::string> by_key;
  for (const testing::Record& r : out) by_key[r.key] = r.value;
  EXPECT_THAT(by_key["a1"], HasSubstr(R"("story":{"id":"a1")"));
  EXPECT_THAT(by_key["a1"], HasSubstr(R"("new":true)"));
  EXPECT_THAT(by_key["a2"], HasSubstr(R"("story":{"id":"a1")"));
  EXPECT_THAT(by_key["a2"], HasSubstr(R"("copies":2)"));
  EXPECT_THAT(by_key["a2"], HasSubstr(R"("new":false)"));
  EXPECT_THAT(by_key["b1"], HasSubstr(R"("story":{"id":"b1")"));
  // The alert's headers travel with it.
  for (const testing::Record& r : out) {
    if (r.key == "a2") {
      EXPECT_EQ(r.headers.at("steppewatch.rules"), "ca.kz");
    }
  }
  // The story with copies is the top story (for the steppewatch_story_copies metric).
  const auto top = role->top_stories();
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].first, "a1");
  EXPECT_EQ(top[0].second, 2u);
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
  // Everything published was committed.
  EXPECT_EQ(
      testing::SumCommitted(testing::Committed(broker_->bootstrap(), "stories-test", kAlerts, 4)),
      3);
}

TEST_F(StoriesRoleTest, ReusesTheRecordsOfDeliveredAlerts) {
  // Three rounds of 20 distinct alerts, each round delivered before the next: the records of
  // the first round serve the next two (no allocation per alert).
  auto role = StartRole("pool");
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20)));
  constexpr int kRound = 20;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<std::string, std::string>> alerts;
    for (int i = 0; i < kRound; ++i) {
      const std::string id = "p" + std::to_string(round * kRound + i);
      char fp[17];
      std::snprintf(
          fp, sizeof fp, "%016llx",
          static_cast<unsigned long long>(0x9E3779B97F4A7C15ull * (round * kRound + i + 1)));
      alerts.push_back({id, Alert(id, fp, "en", "wire")});
    }
    ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts, alerts), kRound);
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return role->counters().published_alerts.load() >= uint64_t{kRound} * (round + 1); },
        absl::Seconds(20)));
    // The delivery report counts the alert before it hands the record back.
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_GE(role->counters().output_records.load(), 1u);
  EXPECT_LE(role->counters().output_records.load(), uint64_t{kRound});
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
}

TEST_F(StoriesRoleTest, RetriesAFailedDeliveryAndCommitsTheAlertOnlyAfterIt) {
  std::unique_ptr<StoriesRole> role = StartActiveWithQuickRetries(Options("retry"));
  ASSERT_NE(role, nullptr);

  // The stories topic has no leader: nothing can be written to it.
  rd_kafka_mock_cluster_t* mc = broker_->cluster();
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, -1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts,
                                {{"r1", Alert("r1", "0123456789abcdef", "en", "wire")}}),
            1);
  // The first attempt and a retry failed: the producer's re-produce path ran.
  ASSERT_TRUE(testing::WaitUntil([&] { return role->counters().delivery_failures.load() >= 2; },
                                 absl::Seconds(30)));
  EXPECT_EQ(role->counters().consumed.load(), 1u);
  EXPECT_EQ(role->counters().published_alerts.load(), 0u);
  // Several ticks stored offsets and auto-commits ran meanwhile; none covers the alert.
  EXPECT_EQ(
      testing::SumCommitted(testing::Committed(broker_->bootstrap(), "stories-test", kAlerts, 4)),
      0)
      << "an alert's offset was committed before its enriched copy was delivered";

  // The partition gets its leader back: the retried message is delivered, then committed.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(testing::WaitUntil([&] { return role->counters().published_alerts.load() >= 1; },
                                 absl::Seconds(30)));
  EXPECT_EQ(testing::WaitCommitted(broker_->bootstrap(), "stories-test", kAlerts, 4,
                                   testing::SumIs(1), absl::Seconds(20)),
            "");
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
  EXPECT_EQ(role->counters().published_alerts.load(), 1u);
  // The whole topic: the copy is on it once (a read that stops at one record cannot tell).
  const std::vector<testing::Record> out =
      testing::ReadWholeTopic(broker_->bootstrap(), kStories, 1, absl::Seconds(20));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, "r1");
}

// Backpressure: with the stories topic unwritable, the role stops reading alerts once
// max_in_flight outputs wait for delivery (instead of reading on and holding the whole outage in
// memory), and when the topic is back, every alert is published and committed.
TEST_F(StoriesRoleTest, PausesItsInputWhileOutputsAreStuckAndLosesNothing) {
  StoriesRoleOptions o = Options("backpressure");
  o.max_in_flight = 20;
  std::unique_ptr<StoriesRole> role = StartActiveWithQuickRetries(o);
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return !role->counters().replaying.load(); }, absl::Seconds(20)));

  rd_kafka_mock_cluster_t* mc = broker_->cluster();
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, -1), RD_KAFKA_RESP_ERR_NO_ERROR);
  constexpr int kAlertsSent = 300;
  std::vector<std::pair<std::string, std::string>> alerts;
  for (int i = 0; i < kAlertsSent; ++i) {
    // Distinct stories: fingerprints far apart.
    char fp[17];
    std::snprintf(fp, sizeof(fp), "%016llx",
                  static_cast<unsigned long long>((i + 1) * 0x9E3779B97F4A7C15ull));
    alerts.emplace_back(absl::StrCat("k", i), Alert(absl::StrCat("k", i), fp, "en", "wire"));
  }
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts, alerts), kAlertsSent);
  ASSERT_TRUE(testing::WaitUntil([&] { return role->counters().paused.load(); }, absl::Seconds(30)))
      << "consumed " << role->counters().consumed.load();
  // Held while the outage lasts: what was read stays near the limit, far below what waits.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_TRUE(role->counters().paused.load());
  EXPECT_GE(role->counters().pauses.load(), 1u);
  EXPECT_LE(role->counters().consumed.load(), 2 * o.max_in_flight)
      << "the role read on while its outputs could not be delivered";
  EXPECT_EQ(role->counters().published_alerts.load(), 0u);

  // The topic is back: the input resumes, every alert is published once and committed.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(mc, kStories, 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return role->counters().published_alerts.load() >= uint64_t{kAlertsSent}; },
      absl::Seconds(60)))
      << "published " << role->counters().published_alerts.load();
  EXPECT_TRUE(
      testing::WaitUntil([&] { return !role->counters().paused.load(); }, absl::Seconds(10)));
  EXPECT_EQ(testing::WaitCommitted(broker_->bootstrap(), "stories-test", kAlerts, 4,
                                   testing::SumIs(kAlertsSent), absl::Seconds(30)),
            "");
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
  const std::vector<testing::Record> out =
      testing::ReadWholeTopic(broker_->bootstrap(), kStories, 1, absl::Seconds(30));
  std::set<std::string> keys;
  for (const testing::Record& r : out) keys.insert(r.key);
  EXPECT_EQ(keys.size(), size_t{kAlertsSent});
  EXPECT_EQ(out.size(), size_t{kAlertsSent}) << "an alert was published more than once";
}

// A fatal producer error is recovered in process (a new producer); errors that keep coming make
// the role fatal(), which the daemon turns into exit code 3 so the standby or a restart takes
// over, instead of a role that consumes on and publishes nothing.
TEST_F(StoriesRoleTest, RepeatedFatalProducerErrorsMakeTheRoleFatal) {
  auto role = StartRole("fatal");
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20)));
  const int max_errors = ProducerOptions().max_fatal_errors;
  for (int round = 1; round <= max_errors; ++round) {
    ASSERT_FALSE(role->fatal()) << "round " << round;
    ASSERT_TRUE(
        role->InjectFatalErrorForTesting(/*producer=*/true, RD_KAFKA_RESP_ERR__FENCED).ok());
    if (round < max_errors) {
      ASSERT_TRUE(testing::WaitUntil([&] { return role->producer_recoveries() == round; },
                                     absl::Seconds(30)))
          << "round " << round;
    }
  }
  EXPECT_TRUE(testing::WaitUntil([&] { return role->fatal(); }, absl::Seconds(30)));
  (void)role->Stop(absl::Seconds(2));
}

TEST_F(StoriesRoleTest, StandbyTakesOverAndRebuildsTheWindowFromKafka) {
  auto a = StartRole("a");
  auto b = StartRole("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // Both members joined (each got an assignment, the lease or nothing) and exactly one holds
  // the lease. The first member may hold it alone for a moment before the second joins.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return a->counters().assignments.load() >= 1 && b->counters().assignments.load() >= 1 &&
               a->counters().active.load() != b->counters().active.load();
      },
      absl::Seconds(30)));
  std::unique_ptr<StoriesRole>& active = a->counters().active.load() ? a : b;
  std::unique_ptr<StoriesRole>& standby = a->counters().active.load() ? b : a;

  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts,
                                {{"x1", Alert("x1", "0123456789abcdef", "en", "wire")}}),
            1);
  ASSERT_TRUE(testing::WaitUntil([&] { return active->counters().published_alerts.load() >= 1; },
                                 absl::Seconds(20)));
  // The active instance stops (a rolling update); the standby gets the lease, replays x1
  // without publishing it again, and groups the next copy into x1's story.
  ASSERT_TRUE(active->Stop(absl::Seconds(10)).ok());
  active.reset();
  ASSERT_TRUE(
      testing::WaitUntil([&] { return standby->counters().active.load(); }, absl::Seconds(30)));
  ASSERT_TRUE(
      testing::WaitUntil([&] { return !standby->counters().replaying.load(); }, absl::Seconds(20)));
  EXPECT_EQ(standby->counters().replayed.load(), 1u);
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts,
                                {{"x2", Alert("x2", "0123456789abcdee", "kk", "tv")}}),
            1);
  ASSERT_TRUE(testing::WaitUntil([&] { return standby->counters().published_alerts.load() >= 1; },
                                 absl::Seconds(30)));
  // The whole topic (a read that stops at two records cannot see a third).
  const std::vector<testing::Record> out =
      testing::ReadWholeTopic(broker_->bootstrap(), kStories, 1, absl::Seconds(30));
  ASSERT_EQ(out.size(), 2u);  // x1 once (not re-published by the replay), then x2 once
  EXPECT_EQ(out[0].key, "x1");
  EXPECT_EQ(out[1].key, "x2");
  EXPECT_THAT(out[1].value, HasSubstr(R"("story":{"id":"x1")"));
  EXPECT_THAT(out[1].value, HasSubstr(R"("new":false)"));
  EXPECT_THAT(out[1].value, Not(HasSubstr(R"("new":true)")));
  EXPECT_TRUE(standby->Stop(absl::Seconds(10)).ok());
}

TEST_F(StoriesRoleTest, PublishesASpikeOfDistinctStoriesButNotOfCopies) {
  StoriesRoleOptions o = Options("spiky");
  // No history in a test: no warm-up; a burst of 6 stories in the spike window is improbable
  // against the floor.
  o.stage.warmup_days = 0;
  std::unique_ptr<StoriesRole> role = StartRole(o);
  ASSERT_NE(role, nullptr);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return role->counters().active.load(); }, absl::Seconds(20)));
  // Thirty copies of one story: one story, no spike.
  std::vector<std::pair<std::string, std::string>> copies;
  for (int i = 0; i < 30; ++i) {
    copies.push_back({absl::StrCat("c", i), Alert(absl::StrCat("c", i), "00ff00ff00ff00ff", "en",
                                                  absl::StrCat("outlet", i))});
  }
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts, copies), 30);
  ASSERT_TRUE(testing::WaitUntil([&] { return role->counters().published_alerts.load() >= 30; },
                                 absl::Seconds(20)));
  EXPECT_EQ(role->counters().published_spikes.load(), 0u);
  // Eight distinct stories (fingerprints far apart) in two languages: a confirmed spike.
  std::vector<std::pair<std::string, std::string>> burst;
  const char* fps[] = {"0f0f0f0f0f0f0f0f", "f0f0f0f0f0f0f0f0", "3333333333333333",
                       "cccccccccccccccc", "5555555555555555", "aaaaaaaaaaaaaaaa",
                       "0000ffff0000ffff", "ffff0000ffff0000"};
  for (int i = 0; i < 8; ++i) {
    burst.push_back(
        {absl::StrCat("s", i), Alert(absl::StrCat("s", i), fps[i], i % 2 ? "ru" : "en", "wire")});
  }
  ASSERT_EQ(testing::ProduceAll(broker_->bootstrap(), kAlerts, burst), 8);
  const std::vector<testing::Record> spikes =
      testing::ReadTopic(broker_->bootstrap(), kSpikes, 1, 1, absl::Seconds(20));
  ASSERT_GE(spikes.size(), 1u);
  EXPECT_THAT(spikes[0].value, HasSubstr(R"("schema":"steppewatch.spike.v1")"));
  EXPECT_THAT(spikes[0].value, HasSubstr(R"("state":"start")"));
  EXPECT_EQ(spikes[0].headers.at("steppewatch.schema"), "steppewatch.spike.v1");
  // The role's view for metrics: the keys that spiked are active.
  ASSERT_TRUE(testing::WaitUntil([&] { return !role->spikes().empty(); }, absl::Seconds(5)));
  bool tag_active = false;
  for (const StoriesRole::SpikeKey& k : role->spikes()) {
    if (k.scope == "tag" && k.name == "geo:kazakhstan") tag_active = k.active && k.confirmed;
  }
  EXPECT_TRUE(tag_active);
  EXPECT_GE(role->spike_starts_by_language()["ru"], 1u);
  EXPECT_TRUE(role->Stop(absl::Seconds(10)).ok());
}

TEST_F(StoriesRoleTest, RefusesToReadAndWriteTheSameTopic) {
  StoriesRoleOptions o = Options("x");
  o.stories_topic = kAlerts;
  auto role = StoriesRole::Create(o);
  ASSERT_FALSE(role.ok());
  EXPECT_THAT(std::string(role.status().message()), HasSubstr("both read and written"));
}

}  // namespace
}  // namespace steppewatch::kafka
