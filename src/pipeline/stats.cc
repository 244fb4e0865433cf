// Stats: registration, lag bookkeeping and the scrape-time fold (see stats.h).
#include "steppewatch/pipeline/stats.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

namespace steppewatch::pipeline {

size_t DeadLetterReasonIndex(std::string_view reason) {
  for (size_t i = 0; i < kDeadLetterReasonCount; ++i) {
    if (kDeadLetterReasons[i] == reason) return i;
  }
  return kDeadLetterReasonCount - 1;  // "other"
}

void WorkerStats::BeginPack(uint64_t generation, std::shared_ptr<const rules::CompiledPack> pack,
                            size_t rule_count) {
  auto counts = std::make_unique<std::atomic<uint64_t>[]>(rule_count);
  for (size_t i = 0; i < rule_count; ++i) counts[i].store(0, std::memory_order_relaxed);
  MutexLock lock(&rules_mu_);
  pack_generation_ = generation;
  pack_ = std::move(pack);
  rule_counts_ = std::move(counts);
  rule_count_ = rule_count;
}

TopicTable::TopicTable() { names_[kMaxTopics - 1] = "_other"; }

TopicCounters* TopicTable::Find(std::string_view topic) const {
  const size_t n = size_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    if (names_[i] == topic) return const_cast<TopicCounters*>(&slots_[i]);
  }
  return nullptr;
}

TopicCounters* TopicTable::Register(std::string_view topic) {
  if (TopicCounters* found = Find(topic)) return found;
  MutexLock lock(&mu_);
  if (TopicCounters* found = Find(topic)) return found;
  const size_t n = size_.load(std::memory_order_relaxed);
  if (n + 1 >= kMaxTopics) {
    // Full: publish the "_other" slot (the last one) and count overflow topics there.
    size_.store(kMaxTopics, std::memory_order_release);
    return &slots_[kMaxTopics - 1];
  }
  names_[n] = std::string(topic);
  size_.store(n + 1, std::memory_order_release);
  return &slots_[n];
}

Stats::Stats(int num_workers) {
  workers_.reserve(std::max(num_workers, 0));
  for (int i = 0; i < num_workers; ++i) workers_.push_back(std::make_unique<WorkerStats>());
}

int64_t Stats::SteadyNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Stats::SetConsumerLag(std::vector<PartitionLag> lags) {
  MutexLock lock(&lag_mu_);
  lag_ = std::move(lags);
}

void Stats::RemoveConsumerLag(absl::Span<const std::pair<std::string, int32_t>> partitions) {
  MutexLock lock(&lag_mu_);
  lag_.erase(std::remove_if(lag_.begin(), lag_.end(),
                            [&](const PartitionLag& lag) {
                              for (const auto& [topic, partition] : partitions) {
                                if (lag.topic == topic && lag.partition == partition) return true;
                              }
                              return false;
                            }),
             lag_.end());
}

namespace {
void CopyTopics(const TopicTable& table, std::vector<StatsSnapshot::Topic>* out) {
  table.ForEach([&](std::string_view name, const TopicCounters& c) {
    out->push_back({std::string(name), c.messages.Value(), c.bytes.Value(), c.failed.Value()});
  });
}
}  // namespace

StatsSnapshot Stats::Snapshot() const {
  StatsSnapshot s;
  CopyTopics(consumer_.consumed, &s.consumed_by_topic);
  CopyTopics(delivery_.produced, &s.produced_by_topic);
  int64_t oldest_heartbeat = std::numeric_limits<int64_t>::max();
  for (const auto& w : workers_) {
    s.items_processed += w->items_processed.Value();
    s.items_matched += w->items_matched.Value();
    s.bytes_scanned += w->bytes_scanned.Value();
    s.hits += w->hits.Value();
    for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
      s.dead_letters_by_reason[r] += w->dead_letters[r].Value();
    }
    w->processing_time.FoldInto(&s.processing_time);
    w->queue_wait.FoldInto(&s.queue_wait);
    w->match_time.FoldInto(&s.match_time);
    oldest_heartbeat =
        std::min(oldest_heartbeat, w->heartbeat_steady_ns.load(std::memory_order_relaxed));
  }
  s.oldest_worker_heartbeat_steady_ns = workers_.empty() ? 0 : oldest_heartbeat;
  if (workers_.empty()) {
    // Keep the histogram's shape even with no data so the exposition is stable.
    LatencyHistogram<kProcessingTimeBuckets.size()> empty(kProcessingTimeBuckets);
    empty.FoldInto(&s.processing_time);
    LatencyHistogram<kQueueWaitBuckets.size()> empty_wait(kQueueWaitBuckets);
    empty_wait.FoldInto(&s.queue_wait);
    LatencyHistogram<kProcessingTimeBuckets.size()> empty_match(kProcessingTimeBuckets);
    empty_match.FoldInto(&s.match_time);
  }

  // Per-rule counts: the newest generation wins; workers still on an older pack (at most until
  // their next item) are left out.
  for (const auto& w : workers_) {
    MutexLock lock(&w->rules_mu_);
    if (w->pack_ == nullptr) continue;
    if (s.rule_pack == nullptr || w->pack_generation_ > s.rule_pack_generation) {
      s.rule_pack_generation = w->pack_generation_;
      s.rule_pack = w->pack_;
      s.rule_matches.assign(w->rule_count_, 0);
    }
    if (w->pack_generation_ != s.rule_pack_generation) continue;
    for (size_t i = 0; i < w->rule_count_ && i < s.rule_matches.size(); ++i) {
      s.rule_matches[i] += w->rule_counts_[i].load(std::memory_order_relaxed);
    }
  }

  for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
    s.dead_letters_produced_by_reason[r] = delivery_.dead_letters_produced[r].Value();
  }
  s.produce_retries = delivery_.produce_retries.Value();
  delivery_.end_to_end_latency.FoldInto(&s.end_to_end_latency);
  consumer_.consume_age.FoldInto(&s.consume_age);

  for (size_t k = 0; k < s.rebalances_by_kind.size(); ++k) {
    s.rebalances_by_kind[k] = consumer_.rebalances[k].Value();
  }
  s.assigned_partitions = consumer_.assigned_partitions.Value();
  s.paused_partitions = consumer_.paused_partitions.Value();
  for (size_t r = 0; r < s.unstarted_partitions_by_role.size(); ++r) {
    s.unstarted_partitions_by_role[r] = consumer_.unstarted_partitions[r].Value();
    s.fetch_restarts_by_role[r] = consumer_.fetch_restarts[r].Value();
  }
  s.pauses = consumer_.pauses.Value();
  s.consume_errors = consumer_.consume_errors.Value();
  {
    MutexLock lock(&lag_mu_);
    s.consumer_lag = lag_;
  }

  s.in_flight_items = health_.in_flight_items.Value();
  s.in_flight_bytes = health_.in_flight_bytes.Value();
  s.all_brokers_down = health_.all_brokers_down.load(std::memory_order_relaxed);
  s.brokers_down_events = health_.brokers_down_events.Value();
  s.rules_loaded = health_.rules_loaded.load(std::memory_order_relaxed);
  s.consumer_created = health_.consumer_created.load(std::memory_order_relaxed);
  s.draining = health_.draining.load(std::memory_order_relaxed);
  s.main_loop_heartbeat_steady_ns =
      health_.main_loop_heartbeat_steady_ns.load(std::memory_order_relaxed);
  s.stories_heartbeat_steady_ns =
      health_.stories_heartbeat_steady_ns.load(std::memory_order_relaxed);
  return s;
}

}  // namespace steppewatch::pipeline
