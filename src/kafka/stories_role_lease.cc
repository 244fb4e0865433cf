// The stories role's lease: the partitions of the alert topics this instance holds, and their
// replay from Kafka into the stage's state before it publishes (see stories_role_impl.h).
#include <algorithm>
#include <utility>

#include "kafka/stories_role_impl.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {

bool StoriesRole::Impl::Replaying() const {
  return counters_.replaying.load(std::memory_order_relaxed);
}

void StoriesRole::Impl::MarkCaughtUp(Part& part) {
  if (part.caught_up) return;
  part.caught_up = true;
  if (--replaying_parts_ == 0 && Replaying()) {
    counters_.replaying.store(false);
    SW_LOG(kInfo, kLog, "window rebuilt (", counters_.replayed.load(), " alert(s) replayed): live");
  }
}

void StoriesRole::Impl::CheckCaughtUp() {
  if (replaying_parts_ == 0) return;
  for (auto& [key, part] : parts_) {
    if (part.caught_up) continue;
    PartitionListHandle pos = NewPartitionList(1);
    rd_kafka_topic_partition_list_add(pos.get(), part.topic.c_str(), part.partition);
    rd_kafka_position(consumer_->handle(), pos.get());
    if (pos->elems[0].offset >= part.live_from) MarkCaughtUp(part);
  }
}

void StoriesRole::Impl::OnAssign(rd_kafka_topic_partition_list_t*) {
  FlushBatch();  // under the partitions and the stage its alerts were consumed in
  if (options_.stats != nullptr) {
    options_.stats->consumer().rebalances[static_cast<int>(pipeline::RebalanceKind::kAssign)].Add();
  }
  counters_.assignments.fetch_add(1);
}

void StoriesRole::Impl::OnRevoke(const rd_kafka_topic_partition_list_t&, bool lost) {
  FlushBatch();  // before the partitions and the stage go
  if (options_.stats != nullptr) {
    options_.stats->consumer()
        .rebalances[static_cast<int>(lost ? pipeline::RebalanceKind::kLost
                                          : pipeline::RebalanceKind::kRevoke)]
        .Add();
  }
  // Give up the lease and the alert partitions (the consumer unassigns them all).
  Deactivate();
}

void StoriesRole::Impl::OnFatal(rd_kafka_resp_err_t original, const std::string& reason) {
  SW_LOG_EVERY(kError, kLog, 10000, "consumer fatal error ", rd_kafka_err2name(original), ": ",
               reason, "; the role reads nothing more until it is restarted");
  fatal_.store(true, std::memory_order_release);
}

void StoriesRole::Impl::OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) {
  // A stories-only process: its readiness and steppewatch_brokers_down tell about the outage,
  // as a matcher's do (the flag clears on the consumer's statistics, OnStatistics).
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && options_.stats != nullptr) {
    options_.stats->health().NoteAllBrokersDown();
  }
  const bool consumer = consumer_ != nullptr && rk == consumer_->handle();
  SW_LOG_EVERY(kWarning, kLog, 10000, consumer ? "consumer: " : "producer: ", rd_kafka_err2str(err),
               ": ", reason);
}

void StoriesRole::Impl::OnStatistics(std::string_view json) {
  if (options_.stats != nullptr && options_.stats->health().NoteStatistics(json)) {
    SW_LOG(kInfo, kLog, "brokers reachable again");
  }
}

PartitionListHandle StoriesRole::Impl::AssignmentFor(
    const rd_kafka_topic_partition_list_t& partitions) {
  bool lease = false;
  for (int i = 0; i < partitions.cnt; ++i) {
    if (options_.lease_topic == partitions.elems[i].topic && partitions.elems[i].partition == 0) {
      lease = true;
    }
  }
  if (lease && !stopping_) return Activate(partitions);
  // No lease (or closing): hold what the group gave, nothing more. A revoke always comes first
  // under the eager protocol; after a rebalance error, which unassigns without one, this is where
  // an instance still marked active stands down.
  Deactivate();
  return nullptr;
}

PartitionListHandle StoriesRole::Impl::Activate(
    const rd_kafka_topic_partition_list_t& lease_parts) {
  constexpr int kTimeoutMs = 10000;  // metadata and offset look-ups of a reachable cluster
  rd_kafka_t* const rk = consumer_->handle();
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kError, kLog, "cannot read the alert topics' metadata (", rd_kafka_err2str(err),
           "): holding the lease without input until the next rebalance");
    return nullptr;
  }
  PartitionListHandle alerts = NewPartitionList(64);
  for (const std::string& topic : options_.input_topics) {
    bool found = false;
    for (int t = 0; t < md->topic_cnt; ++t) {
      if (topic != md->topics[t].topic || md->topics[t].err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      found = true;
      for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
        rd_kafka_topic_partition_list_add(alerts.get(), topic.c_str(),
                                          md->topics[t].partitions[p].id);
      }
    }
    if (!found) SW_LOG(kWarning, kLog, "alert topic ", topic, " does not exist (yet): not read");
  }
  rd_kafka_metadata_destroy(md);

  PartitionListHandle committed(rd_kafka_topic_partition_list_copy(alerts.get()));
  err = rd_kafka_committed(rk, committed.get(), kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kWarning, kLog, "cannot read committed offsets (", rd_kafka_err2str(err),
           "): replaying every partition's window and publishing from its end");
  }
  PartitionListHandle times(rd_kafka_topic_partition_list_copy(alerts.get()));
  const int64_t since = options_.now_ms() - absl::ToInt64Milliseconds(options_.replay_window);
  for (int i = 0; i < times->cnt; ++i) times->elems[i].offset = since;
  const rd_kafka_resp_err_t times_err = rd_kafka_offsets_for_times(rk, times.get(), kTimeoutMs);

  stage_.reset();
  parts_.clear();
  replaying_parts_ = 0;
  auto stage = stories::StoriesStage::Create(options_.stage);  // validated in Init()
  if (stage.ok()) stage_ = *std::move(stage);

  // Watermarks, and whether the broker really looked the offsets up by time: it answers -1
  // ("no message at or after the time") for a partition whose messages are all older, but a
  // broker without the look-up (librdkafka's mock cluster) answers -1 everywhere. When every
  // partition that has messages answered -1, replay from each partition's start instead: the
  // stage drops what is older than its window as it goes, so that costs time, not correctness.
  std::vector<int64_t> lows(alerts->cnt, 0), highs(alerts->cnt, 0);
  bool any_data = false, any_time = false;
  for (int i = 0; i < alerts->cnt; ++i) {
    rd_kafka_query_watermark_offsets(rk, alerts->elems[i].topic, alerts->elems[i].partition,
                                     &lows[i], &highs[i], kTimeoutMs);
    if (highs[i] > lows[i]) {
      any_data = true;
      if (times_err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          times->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && times->elems[i].offset >= 0) {
        any_time = true;
      }
    }
  }
  const bool by_time = times_err == RD_KAFKA_RESP_ERR_NO_ERROR && (any_time || !any_data);

  PartitionListHandle assignment(rd_kafka_topic_partition_list_copy(&lease_parts));
  bool replaying = false;
  int64_t replay_messages = 0;
  for (int i = 0; i < alerts->cnt; ++i) {
    const char* topic = alerts->elems[i].topic;
    const int32_t partition = alerts->elems[i].partition;
    const int64_t low = lows[i], high = highs[i];
    const int64_t c = committed->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR
                          ? committed->elems[i].offset
                          : RD_KAFKA_OFFSET_INVALID;
    const int64_t live_from = c >= 0 ? c : high;
    int64_t start = low;
    if (by_time && times->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // -1: no message at or after the time, i.e. nothing in the window.
      start = times->elems[i].offset >= 0 ? times->elems[i].offset : high;
    }
    start = std::clamp(start, low, std::max(low, live_from));
    Part& part = parts_[{topic, partition}];
    part.topic = topic;
    part.partition = partition;
    part.live_from = live_from;
    part.caught_up = start >= live_from;
    if (!part.caught_up) {
      replaying = true;
      ++replaying_parts_;
      replay_messages += live_from - start;
    }
    part.offsets = std::make_shared<pipeline::PartitionOffsets>(topic, partition);
    rd_kafka_topic_partition_list_add(assignment.get(), topic, partition)->offset = start;
  }
  counters_.replaying.store(replaying);
  counters_.active.store(true);
  counters_.activations.fetch_add(1);
  if (options_.stats != nullptr) {
    options_.stats->consumer().assigned_partitions.Set(assignment->cnt);
  }
  SW_LOG(kInfo, kLog, "active (lease held): ", parts_.size(), " alert partition(s), replaying ",
         replay_messages, " message(s) of the last ", absl::FormatDuration(options_.replay_window),
         " to rebuild the window",
         by_time ? "" : " (the broker did not look offsets up by time: replaying from each start)");
  Snapshot();
  return assignment;  // the consumer assigns it
}

void StoriesRole::Impl::Deactivate() {
  if (!counters_.active.load()) return;
  // Let the producer deliver what is in flight (bounded), store, and commit synchronously so
  // the next active instance starts where this one stopped.
  const absl::Duration budget = absl::Milliseconds(stop_budget_ms_.load(std::memory_order_relaxed));
  WaitDelivered(absl::Now() + std::min(budget, absl::Seconds(10)));
  StoreCommittable();
  consumer_->CommitSync(nullptr);
  Snapshot();
  stage_.reset();
  for (auto& [key, part] : parts_) part.offsets->Abandon();
  parts_.clear();
  replaying_parts_ = 0;
  counters_.active.store(false);
  counters_.replaying.store(false);
  SW_LOG(kInfo, kLog, "lease lost or given up: standing by");
}

}  // namespace steppewatch::kafka
