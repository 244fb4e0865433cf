// StoriesCollector: the metric families of the stories role (steppewatch_stories_*,
// steppewatch_spike*, steppewatch_story_copies), built at scrape time from the role's counters
// and snapshots. Nothing here runs per alert.
//
// Labels are bounded: scope (rule|tag) x the pack's rules and tags, spike states (start,
// update, end), languages of the stories, and at most StoriesRole::kTopStories story ids.
#pragma once

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "steppewatch/kafka/stories_role.h"

namespace steppewatch::metrics {

// Thread-safe: Collect() only reads the role's atomics and locked snapshots. The role must
// outlive the collector.
class StoriesCollector : public prometheus::Collectable {
 public:
  explicit StoriesCollector(const kafka::StoriesRole* role) : role_(role) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const kafka::StoriesRole* role_;
};

}  // namespace steppewatch::metrics
