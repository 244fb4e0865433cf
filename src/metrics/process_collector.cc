#include "steppewatch/metrics/process_collector.h"

#include "absl/strings/str_split.h"
#include "metrics/families.h"
#include "steppewatch/common/version.h"
#include "steppewatch/metrics/process_metrics.h"
#include "steppewatch/versions/library_versions.h"

namespace steppewatch::metrics {

BuildInfo CurrentBuildInfo() {
  BuildInfo info{Version(), "unknown", "unknown", "unknown"};
  // LibraryVersions() reads "librdkafka 2.0.2, Hyperscan 5.4.0 2023-01-01, simdjson 3.0.1": keep
  // the first word after each name (Hyperscan appends its build date).
  const std::string versions = LibraryVersions();
  for (absl::string_view part : absl::StrSplit(versions, ", ")) {
    std::vector<absl::string_view> words = absl::StrSplit(part, ' ', absl::SkipEmpty());
    if (words.size() < 2) continue;
    if (words[0] == "librdkafka") info.librdkafka = std::string(words[1]);
    if (words[0] == "Hyperscan") info.hyperscan = std::string(words[1]);
    if (words[0] == "simdjson") info.simdjson = std::string(words[1]);
  }
  return info;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  absl::StatusOr<ProcessSample> sample = ReadProcessSample();
  if (sample.ok()) AppendProcessFamilies(*sample, &families);

  prometheus::MetricFamily build = internal::MakeFamily(
      "steppewatch_build_info",
      "Versions of steppewatch and of the libraries it runs with, as labels; always 1.",
      prometheus::MetricType::Gauge);
  internal::AddGauge(&build,
                     {{"version", build_info_.version},
                      {"revision", Revision()},
                      {"librdkafka", build_info_.librdkafka},
                      {"hyperscan", build_info_.hyperscan},
                      {"simdjson", build_info_.simdjson}},
                     1);
  families.push_back(std::move(build));
  return families;
}

}  // namespace steppewatch::metrics
