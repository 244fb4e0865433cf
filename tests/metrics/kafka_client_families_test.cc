// The Kafka client families of /metrics (StatsCollector::AppendKafkaClients): names, labels,
// units, no made-up samples, and promtool's lint.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "steppewatch/metrics/collector.h"
#include "testing/paths.h"

namespace steppewatch::metrics {
namespace {

kafka::ClientStatisticsSnapshot Sample() {
  kafka::ClientStatisticsSnapshot k;
  k.brokers = {{"consumer", "b:9092/1", 0.002, 0.010, 0},
               {"producer", "b:9092/1", 0.001, 0.004, 0.25},
               {"producer", "b:9093/2", -1, -1, 0}};  // nothing answered in the window
  k.producer_queue_messages = 7;
  k.producer_queue_bytes = 700;
  k.lag_seconds = {{"news.items", 0, 0}, {"news.items", 3, 42.5}};
  k.producer_recoveries = 1;
  return k;
}

TEST(KafkaClientFamilies, RendersEveryFigureWithItsLabels) {
  std::vector<prometheus::MetricFamily> families;
  StatsCollector::AppendKafkaClients(Sample(), &families);
  const std::string text = RenderText(families);
  for (
      const char* line :
      {R"(steppewatch_kafka_broker_rtt_avg_seconds{client="consumer",broker="b:9092/1"} 0.002)",
       R"(steppewatch_kafka_broker_rtt_p99_seconds{client="producer",broker="b:9092/1"} 0.004)",
       R"(steppewatch_kafka_broker_throttle_max_seconds{client="producer",broker="b:9092/1"} 0.25)",
       R"(steppewatch_producer_queue_messages 7)", R"(steppewatch_producer_queue_bytes 700)",
       R"(steppewatch_consumer_lag_seconds{topic="news.items",partition="3"} 42.5)",
       R"(steppewatch_producer_recoveries_total 1)"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_EQ(text.find(R"(rtt_avg_seconds{client="producer",broker="b:9093/2"})"), std::string::npos)
      << "no rtt sample for a broker without requests";
}

TEST(KafkaClientFamilies, PassesPromtoolCheckMetrics) {
  if (!std::filesystem::exists("/usr/bin/promtool")) GTEST_SKIP() << "promtool not installed";
  std::vector<prometheus::MetricFamily> families;
  StatsCollector::AppendKafkaClients(Sample(), &families);
  const std::filesystem::path file = steppewatch::testing::MakeTempDir() / "metrics.txt";
  std::ofstream(file) << RenderText(families);
  const std::string command = "/usr/bin/promtool check metrics < " + file.string() + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << "see the promtool output above";
}

}  // namespace
}  // namespace steppewatch::metrics
