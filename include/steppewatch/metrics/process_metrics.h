// The standard `process_*` metrics (the names every Prometheus client library exports, so stock
// dashboards and alerts work), read from /proc/self at scrape time. prometheus-cpp 1.0.1 has none.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/metric_family.h"

namespace steppewatch::metrics {

// One reading of this process's resources, in base units.
struct ProcessSample {
  double cpu_seconds = 0;         // user + system CPU time
  double resident_bytes = 0;      // RSS
  double virtual_bytes = 0;       // address space size
  double open_fds = 0;            // entries of /proc/self/fd
  double max_fds = 0;             // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  // since the Unix epoch
};

// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and getrlimit. Thread-safe.
// Fails when /proc is not mounted (then the process_* families are left out of the scrape).
absl::StatusOr<ProcessSample> ReadProcessSample();

// Appends process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and process_start_time_seconds.
void AppendProcessFamilies(const ProcessSample& sample,
                           std::vector<prometheus::MetricFamily>* families);

}  // namespace steppewatch::metrics
