// ProcessCollector: the facts about the running process, for /metrics: the standard process_*
// families (process_metrics.h) and steppewatch_build_info (versions of steppewatch and of the
// libraries it runs with, as labels on a constant 1, so a dashboard can join on them).
#pragma once

#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace steppewatch::metrics {

// Versions as the build-info labels show them.
struct BuildInfo {
  std::string version;     // steppewatch
  std::string librdkafka;  // "2.0.2"
  std::string hyperscan;   // "5.4.0"
  std::string simdjson;    // "3.0.1"
};

// Returns this binary's BuildInfo (library versions as read at run time; "unknown" when a
// library does not say).
BuildInfo CurrentBuildInfo();

// Thread-safe (immutable after construction; each Collect() reads /proc afresh).
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector() : build_info_(CurrentBuildInfo()) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const BuildInfo build_info_;
};

}  // namespace steppewatch::metrics
