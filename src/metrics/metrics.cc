#include "steppewatch/metrics/metrics.h"

#include "absl/status/status.h"
#include "steppewatch/metrics/process_collector.h"

namespace steppewatch::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> StartMetricsServer(const MetricsOptions& options,
                                                                  const CollectorSources& sources) {
  if (sources.stats == nullptr) {
    return absl::InvalidArgumentError("metrics server needs the pipeline's Stats");
  }
  return MetricsServer::Create(
      options.server,
      {std::make_shared<StatsCollector>(sources, options.collector),
       std::make_shared<ProcessCollector>()},
      std::make_shared<HealthChecker>(sources.stats, options.collector.health));
}

}  // namespace steppewatch::metrics
