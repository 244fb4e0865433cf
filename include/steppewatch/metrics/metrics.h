// The metrics stage's entry point for the daemon: one call starts /metrics, /healthz and
// /readyz for a running pipeline.
//
//   metrics::MetricsOptions options;
//   options.server.listen_address = config.metrics.listen;  // "127.0.0.1:9464"
//   options.server.basic_auth_user = config.metrics.basic_auth.user;
//   options.server.basic_auth_password = config.metrics.basic_auth.password;
//   options.collector.per_rule_labels = config.metrics.per_rule_label;
//   options.collector.dead_letter_topic = config.kafka.dead_letter_topic;
//   const daemon::ReloadCounters& c = reloader->counters();
//   SW_ASSIGN_OR_RETURN(auto server, metrics::StartMetricsServer(options, {
//       .stats = &stats, .packs = &pack_holder,
//       .reloads = [&c] { return metrics::ReloadSnapshot{c.success.load(), c.failure.load(),
//           c.unchanged.load(), c.last_success_unix_seconds.load(),
//           c.last_duration_seconds.load()}; }}));
//   log "metrics on " << server->port();
//
// Destroy the server before the Stats, PackHolder and reloader it reads.
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
