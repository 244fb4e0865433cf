#include "steppewatch/metrics/metrics.h"

#include "absl/status/status.h"
#include "steppewatch/metrics/process_collector.h"
#include "steppewatch/metrics/stories_collector.h"

namespace steppewatch::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> StartMetricsServer(const MetricsOptions& options,
                                                                  const CollectorSources& sources) {
  if (sources.stats == nullptr) {
    return absl::InvalidArgumentError("metrics server needs the pipeline's Stats");
  }
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {
      std::make_shared<StatsCollector>(sources, options.collector),
      std::make_shared<ProcessCollector>()};
  if (sources.stories != nullptr) {
    collectables.push_back(std::make_shared<StoriesCollector>(sources.stories));
  }
  return MetricsServer::Create(
      options.server, std::move(collectables),
      std::make_shared<HealthChecker>(sources.stats, options.collector.health));
}

}  // namespace steppewatch::metrics
