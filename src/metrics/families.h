// Small builders for prometheus::MetricFamily values, shared by the collectors of this stage.
// Private to src/metrics.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "prometheus/metric_family.h"

namespace steppewatch::metrics::internal {

using LabelList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

inline prometheus::MetricFamily MakeFamily(std::string_view name, std::string_view help,
                                           prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::string(name);
  family.help = std::string(help);
  family.type = type;
  return family;
}

inline prometheus::ClientMetric& AddSample(prometheus::MetricFamily* family, LabelList labels) {
  prometheus::ClientMetric& metric = family->metric.emplace_back();
  metric.label.reserve(labels.size());
  for (const auto& [name, value] : labels) {
    metric.label.push_back({std::string(name), std::string(value)});
  }
  return metric;
}

inline void AddCounter(prometheus::MetricFamily* family, LabelList labels, double value) {
  AddSample(family, labels).counter.value = value;
}

inline void AddGauge(prometheus::MetricFamily* family, LabelList labels, double value) {
  AddSample(family, labels).gauge.value = value;
}

// Appends a one-sample family with no labels.
inline void AppendSingle(std::vector<prometheus::MetricFamily>* out, std::string_view name,
                         std::string_view help, prometheus::MetricType type, double value) {
  prometheus::MetricFamily family = MakeFamily(name, help, type);
  if (type == prometheus::MetricType::Counter) {
    AddCounter(&family, {}, value);
  } else {
    AddGauge(&family, {}, value);
  }
  out->push_back(std::move(family));
}

}  // namespace steppewatch::metrics::internal
