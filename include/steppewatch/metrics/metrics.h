// The metrics stage's entry point for the daemon: one call starts /metrics, /healthz and
// /readyz for a running pipeline.
//
//   metrics::ReloadStats reloads;  // the reloader calls RecordSuccess/RecordFailure on it
//   metrics::MetricsOptions options;
//   options.server.listen_address = config.metrics.listen;       // "127.0.0.1:9464"
//   options.collector.dead_letter_topic = config.dead_letter_topic;
//   SW_ASSIGN_OR_RETURN(auto server, metrics::StartMetricsServer(
//       options, {.stats = &stats, .packs = &pack_holder, .reloads = &reloads}));
//   log "metrics on port " << server->port();
//
// Destroy the server before the Stats, PackHolder and ReloadStats it reads.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "steppewatch/metrics/collector.h"
#include "steppewatch/metrics/health.h"
#include "steppewatch/metrics/metrics_server.h"

namespace steppewatch::metrics {

struct MetricsOptions {
  ServerOptions server;
  CollectorOptions collector;  // collector.health also sets the probes' staleness limit
};

// Starts a MetricsServer serving the StatsCollector and the ProcessCollector (process_* and
// steppewatch_build_info) on /metrics, and a HealthChecker over `sources.stats` on /healthz and
// /readyz. Fails when `sources.stats` is null or the address cannot be bound.
absl::StatusOr<std::unique_ptr<MetricsServer>> StartMetricsServer(const MetricsOptions& options,
                                                                  const CollectorSources& sources);

}  // namespace steppewatch::metrics
