#include "steppewatch/metrics/collector.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/metrics/process_collector.h"
#include "steppewatch/rules/pack.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::metrics {
namespace {

using ::testing::Contains;
using ::testing::Key;
using ::testing::Not;

// The text exposition parsed back: what Prometheus would store.
struct Exposition {
  std::map<std::string, std::string> help;  // family -> help text
  std::map<std::string, std::string> type;  // family -> counter/gauge/histogram
  // "name{a="x",b="y"}" exactly as written (prometheus-cpp writes labels in the order given)
  // -> value.
  std::map<std::string, double> samples;
};

Exposition Parse(const std::string& text) {
  Exposition e;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# HELP ")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(7), absl::MaxSplits(' ', 1));
      e.help[parts[0]] = parts.size() > 1 ? parts[1] : "";
    } else if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(7), ' ');
      e.type[parts[0]] = parts.at(1);
    } else {
      const size_t space = line.rfind(' ');
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
      e.samples[std::string(line.substr(0, space))] = value;
    }
  }
  return e;
}

std::shared_ptr<const rules::CompiledPack> LoadPack(bool with_second_rule) {
  std::string rules_yaml = R"(rules:
  - id: kz.one
    severity: high
    query: Kazakhstan
  - id: off.three
    enabled: false
    query: Tajikistan
)";
  if (with_second_rule) {
    rules_yaml += R"(  - id: uz.two
    severity: low
    query: Uzbekistan
)";
  }
  std::vector<rules::PackFile> files = {{"pack.yaml",
                                         "pack: {name: test-pack, version: \"1.2.3\"}\n"
                                         "defaults: {topic: alerts.test}\n"},
                                        {"rules.yaml", rules_yaml}};
  absl::StatusOr<std::shared_ptr<const rules::CompiledPack>> pack =
      rules::CompiledPack::LoadFromFiles(std::move(files));
  EXPECT_TRUE(pack.ok()) << pack.status();
  return pack.ok() ? *pack : nullptr;
}

class CollectorTest : public ::testing::Test {
 protected:
  CollectorTest() : stats_(/*num_workers=*/2), pack_(LoadPack(true)), holder_(pack_) {}

  // Fills stats_ through the same calls the pipeline makes.
  void FeedKnownTraffic() {
    pipeline::TopicCounters* in = stats_.consumer().consumed.Register("news.items");
    in->messages.Add(10);
    in->bytes.Add(30000);
    pipeline::WorkerStats& w0 = stats_.worker(0);
    pipeline::WorkerStats& w1 = stats_.worker(1);
    w0.items_processed.Add(6);
    w1.items_processed.Add(4);
    w0.items_matched.Add(3);
    w1.items_matched.Add(1);
    w0.bytes_scanned.Add(20000);
    w1.bytes_scanned.Add(5000);
    w0.hits.Add(17);
    w0.dead_letters[pipeline::DeadLetterReasonIndex("invalid_json")].Add(2);
    w1.dead_letters[pipeline::DeadLetterReasonIndex("render_error")].Add(1);
    w0.processing_time.ObserveNanos(7000);    // 7 us: le="1e-05"
    w1.processing_time.ObserveNanos(300000);  // 300 us: le="0.0005"
    w1.match_time.ObserveNanos(150000);       // 150 us: le="0.0002"
    w0.BeginPack(1, pack_, pack_->rules().size());
    w1.BeginPack(1, pack_, pack_->rules().size());
    const int one = pack_->FindRule("kz.one");
    const int two = pack_->FindRule("uz.two");
    w0.CountRule(one);
    w0.CountRule(one);
    w1.CountRule(one);
    w1.CountRule(two);

    pipeline::TopicCounters* alerts = stats_.delivery().produced.Register("alerts.test");
    alerts->messages.Add(4);
    alerts->failed.Add(1);
    pipeline::TopicCounters* dlq = stats_.delivery().produced.Register("dead-letters");
    dlq->messages.Add(3);
    dlq->failed.Add(1);
    stats_.delivery().dead_letters_produced[pipeline::DeadLetterReasonIndex("invalid_json")].Add(2);
    stats_.delivery().end_to_end_latency.ObserveNanos(3000000);  // 3 ms: le="0.005"

    stats_.consumer().rebalances[static_cast<size_t>(pipeline::RebalanceKind::kAssign)].Add(2);
    stats_.consumer().rebalances[static_cast<size_t>(pipeline::RebalanceKind::kRevoke)].Add(1);
    stats_.consumer().assigned_partitions.Set(2);
    stats_.consumer().paused_partitions.Set(1);
    stats_.consumer().unstarted_partitions[1].Set(4);  // ConsumerRole::kStories
    stats_.consumer().fetch_restarts[0].Add(3);        // ConsumerRole::kMatch
    stats_.health().in_flight_items.Set(5);
    stats_.health().in_flight_bytes.Set(15000);
    stats_.SetConsumerLag(
        {{"news.items", 0, 42, 50}, {"news.items", 1, 7, 9}, {"news.items", 2, -1, -1}});
    reloads_ = {.success = 1,
                .failure = 2,
                .unchanged = 3,
                .last_success_unix_seconds = 1700000000,
                .last_duration_seconds = 0.25};
  }

  std::string ScrapeText(CollectorOptions options = {}) {
    options.dead_letter_topic = "dead-letters";
    StatsCollector collector(
        {.stats = &stats_, .packs = &holder_, .reloads = [this] { return reloads_; }}, options);
    return RenderText(collector.Collect());
  }
  Exposition Scrape(CollectorOptions options = {}) { return Parse(ScrapeText(options)); }

  pipeline::Stats stats_;
  std::shared_ptr<const rules::CompiledPack> pack_;
  pipeline::PackHolder holder_;
  ReloadSnapshot reloads_;
};

TEST_F(CollectorTest, EveryFamilyIsNamedTypedAndDocumented) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  const Exposition e = Scrape();
  ASSERT_GT(e.type.size(), 30u);
  for (const auto& [name, type] : e.type) {
    EXPECT_TRUE(absl::StartsWith(name, "steppewatch_")) << name;
    EXPECT_FALSE(e.help.at(name).empty()) << name;
    if (type == "counter") {
      EXPECT_TRUE(absl::EndsWith(name, "_total")) << name;
    } else {
      EXPECT_FALSE(absl::EndsWith(name, "_total")) << name << " is a " << type;
    }
    if (type == "histogram") {
      EXPECT_TRUE(absl::EndsWith(name, "_seconds")) << name;
    }
  }
}

// The real linter Prometheus ships (tests/observability runs it on the daemon's /metrics too).
TEST_F(CollectorTest, PassesPromtoolCheckMetrics) {
  ASSERT_NE(pack_, nullptr);
  if (!std::filesystem::exists("/usr/bin/promtool")) GTEST_SKIP() << "promtool not installed";
  FeedKnownTraffic();
  std::vector<prometheus::MetricFamily> families = ProcessCollector().Collect();
  std::vector<prometheus::MetricFamily> ours =
      StatsCollector({.stats = &stats_, .packs = &holder_, .reloads = [this] { return reloads_; }},
                     {})
          .Collect();
  families.insert(families.end(), ours.begin(), ours.end());
  const std::filesystem::path file = steppewatch::testing::MakeTempDir() / "metrics.txt";
  std::ofstream(file) << RenderText(families);
  const std::string command = "/usr/bin/promtool check metrics < " + file.string() + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << "see the promtool output above";
}

TEST_F(CollectorTest, ReportsTheKnownTraffic) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  const Exposition e = Scrape();
  const auto& s = e.samples;
  EXPECT_EQ(s.at(R"(steppewatch_items_consumed_total{topic="news.items"})"), 10);
  EXPECT_EQ(s.at(R"(steppewatch_consumed_bytes_total{topic="news.items"})"), 30000);
  EXPECT_EQ(s.at("steppewatch_items_processed_total"), 10);
  EXPECT_EQ(s.at("steppewatch_items_matched_total"), 4);
  EXPECT_EQ(s.at("steppewatch_scanned_bytes_total"), 25000);
  EXPECT_EQ(s.at("steppewatch_term_hits_total"), 17);

  // Alerts exclude the dead-letter topic, which has its own families.
  EXPECT_EQ(s.at(R"(steppewatch_alerts_produced_total{topic="alerts.test"})"), 4);
  EXPECT_EQ(s.at(R"(steppewatch_alerts_failed_total{topic="alerts.test"})"), 1);
  EXPECT_THAT(s, Not(Contains(Key(R"(steppewatch_alerts_produced_total{topic="dead-letters"})"))));
  EXPECT_EQ(s.at("steppewatch_dead_letters_failed_total"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_dead_letters_total{reason="invalid_json"})"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_dead_letters_total{reason="render_error"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_dead_letters_total{reason="missing_id"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_dead_letters_produced_total{reason="invalid_json"})"), 2);
  // Decode failures: the decode reasons only.
  EXPECT_EQ(s.at(R"(steppewatch_decode_failures_total{reason="invalid_json"})"), 2);
  EXPECT_THAT(s, Not(Contains(Key(R"(steppewatch_decode_failures_total{reason="render_error"})"))));

  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{rule="kz.one",severity="high"})"), 3);
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{rule="uz.two",severity="low"})"), 1);
  EXPECT_THAT(
      s,
      Not(Contains(Key(R"(steppewatch_rule_matches_total{rule="off.three",severity="medium"})"))));

  EXPECT_EQ(s.at(R"(steppewatch_rule_pack_info{name="test-pack",version="1.2.3",hash=")" +
                 pack_->info().hash + R"("})"),
            1);
  EXPECT_EQ(s.at("steppewatch_rules_loaded"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_rule_reloads_total{result="success"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_rule_reloads_total{result="failure"})"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_rule_reloads_total{result="unchanged"})"), 3);
  EXPECT_EQ(s.at("steppewatch_rule_reload_duration_seconds"), 0.25);
  EXPECT_EQ(s.at("steppewatch_rule_reload_last_success_timestamp_seconds"), 1700000000);

  EXPECT_EQ(s.at(R"(steppewatch_consumer_lag_messages{topic="news.items",partition="0"})"), 42);
  EXPECT_EQ(s.at(R"(steppewatch_consumer_lag_stored_messages{topic="news.items",partition="1"})"),
            9);
  // An unknown lag (-1) has no sample.
  EXPECT_THAT(
      s,
      Not(Contains(Key(R"(steppewatch_consumer_lag_messages{topic="news.items",partition="2"})"))));
  EXPECT_EQ(s.at(R"(steppewatch_rebalances_total{kind="assign"})"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_rebalances_total{kind="revoke"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_rebalances_total{kind="lost"})"), 0);
  EXPECT_EQ(s.at("steppewatch_assigned_partitions"), 2);
  EXPECT_EQ(s.at("steppewatch_paused_partitions"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_unstarted_partitions{role="match"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_unstarted_partitions{role="stories"})"), 4);
  EXPECT_EQ(s.at(R"(steppewatch_partition_fetch_restarts_total{role="match"})"), 3);
  EXPECT_EQ(s.at(R"(steppewatch_partition_fetch_restarts_total{role="stories"})"), 0);
  EXPECT_EQ(s.at("steppewatch_in_flight_items"), 5);
  EXPECT_EQ(s.at("steppewatch_in_flight_bytes"), 15000);
  EXPECT_EQ(s.at("steppewatch_brokers_down"), 0);
  EXPECT_EQ(s.at("steppewatch_ready"), 0);  // rules_loaded / consumer_created never set here
}

TEST_F(CollectorTest, HistogramsAreCumulativeWithInf) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  const Exposition e = Scrape();
  const auto& s = e.samples;
  EXPECT_EQ(e.type.at("steppewatch_item_processing_seconds"), "histogram");
  EXPECT_EQ(s.at("steppewatch_item_processing_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(s.at("steppewatch_item_processing_seconds_sum"), 307e-6);
  EXPECT_EQ(s.at(R"(steppewatch_item_processing_seconds_bucket{le="5e-06"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_item_processing_seconds_bucket{le="1e-05"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_item_processing_seconds_bucket{le="0.0005"})"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_item_processing_seconds_bucket{le="+Inf"})"), 2);
  EXPECT_EQ(s.at(R"(steppewatch_item_match_seconds_bucket{le="0.0001"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_item_match_seconds_bucket{le="0.0002"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_item_match_seconds_count)"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_end_to_end_latency_seconds_bucket{le="0.0025"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_end_to_end_latency_seconds_bucket{le="0.005"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_end_to_end_latency_seconds_bucket{le="+Inf"})"), 1);
}

TEST_F(CollectorTest, RevokedPartitionsLoseTheirLagSeries) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  const std::vector<std::pair<std::string, int32_t>> revoked = {{"news.items", 0}};
  stats_.RemoveConsumerLag(revoked);
  const auto& s = Scrape().samples;
  EXPECT_THAT(
      s,
      Not(Contains(Key(R"(steppewatch_consumer_lag_messages{topic="news.items",partition="0"})"))));
  EXPECT_EQ(s.at(R"(steppewatch_consumer_lag_messages{topic="news.items",partition="1"})"), 7);
}

TEST_F(CollectorTest, DeletedRulesDisappearAfterReload) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  std::shared_ptr<const rules::CompiledPack> smaller = LoadPack(/*with_second_rule=*/false);
  ASSERT_NE(smaller, nullptr);
  holder_.Swap(smaller);
  stats_.worker(0).BeginPack(2, smaller, smaller->rules().size());
  stats_.worker(0).CountRule(smaller->FindRule("kz.one"));

  const auto& s = Scrape().samples;
  EXPECT_THAT(
      s, Not(Contains(Key(R"(steppewatch_rule_matches_total{rule="uz.two",severity="low"})"))));
  // Counts restart with the new pack (rate() reads that as a counter reset).
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{rule="kz.one",severity="high"})"), 1);
  EXPECT_EQ(s.at("steppewatch_rules_loaded"), 1);
}

TEST_F(CollectorTest, RulesShowAtZeroBeforeAnyWorkerTakesThePack) {
  ASSERT_NE(pack_, nullptr);
  const auto& s = Scrape().samples;
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{rule="kz.one",severity="high"})"), 0);
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{rule="uz.two",severity="low"})"), 0);
}

TEST_F(CollectorTest, PerRuleLabelCanBeDropped) {
  ASSERT_NE(pack_, nullptr);
  FeedKnownTraffic();
  CollectorOptions options;
  options.per_rule_labels = false;
  const Exposition e = Scrape(options);
  const auto& s = e.samples;
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{severity="high"})"), 3);
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{severity="low"})"), 1);
  EXPECT_EQ(s.at(R"(steppewatch_rule_matches_total{severity="critical"})"), 0);
  for (const auto& [series, value] : s) {
    EXPECT_FALSE(absl::StrContains(series, "rule=")) << series;
  }
}

}  // namespace
}  // namespace steppewatch::metrics
