// KafkaPipeline's consumer thread (see pipeline_impl.h): poll, dispatch to the workers, offset
// storing, two-stage backpressure, and the bookkeeping of assignments and revokes.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kafka/pipeline_impl.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/log.h"
#include "steppewatch/kafka/consumer_lag.h"

namespace steppewatch::kafka {
namespace {
constexpr char kLog[] = "kafka";
}  // namespace

using internal::Item;

void KafkaPipeline::Impl::WakeConsumer() {
  if (consumer_ != nullptr) consumer_->Wake();
  {
    MutexLock lock(&wake_mu_);
    wake_pending_ = true;
  }
  wake_cv_.Signal();
}

void KafkaPipeline::Impl::WaitForWake(absl::Time deadline) {
  MutexLock lock(&wake_mu_);
  while (!wake_pending_) {
    if (!wake_cv_.WaitWithDeadline(&wake_mu_, deadline)) break;
  }
  wake_pending_ = false;
}

void KafkaPipeline::Impl::MaybeStore(absl::Time now) {
  if (now < next_store_) return;
  // Every 50 ms: often enough that auto-commit (5 s) always sees fresh offsets, rare enough
  // that walking the partitions costs nothing per item.
  StoreCommittable();
  FreeRetired();
  next_store_ = now + absl::Milliseconds(50);
}

void KafkaPipeline::Impl::FreeRetired() {
  // in_flight() takes the tracker's lock, so a Finish() that made it idle has left it (it
  // touches nothing after unlocking); no item is begun on a retired tracker.
  std::erase_if(retired_, [](const std::shared_ptr<pipeline::PartitionOffsets>& p) {
    return p->in_flight() == 0;
  });
}

KafkaPipeline::Impl::TopicEntry* KafkaPipeline::Impl::FindTopic(std::string_view name) {
  auto it = topics_.find(absl::string_view(name.data(), name.size()));
  return it == topics_.end() ? nullptr : &it->second;
}

void KafkaPipeline::Impl::ConsumerLoop() {
  // 100 ms: the longest the loop sleeps in poll, so stores, resumes and stop requests are
  // handled within a tenth of a second even when no message arrives.
  constexpr int kPollMs = 100;
  bool stopping_seen = false;
  while (!stop_consumer_.load(std::memory_order_acquire)) {
    if (stop_input_.load(std::memory_order_acquire) && !stopping_seen) {
      stopping_seen = true;
      holding_ = false;
      SetPaused(true);  // stop taking input; keep polling to serve rebalances
    }
    if (holding_) {
      // Over the in-flight limit: take nothing from librdkafka, whose prefetch queue (bounded
      // by queued.max.messages.kbytes) keeps the data. Pausing at once instead would drop that
      // queue and refetch it on resume: measured on the e2e harness, that churn starved the
      // workers and halved throughput (benchmarks/README.md, "Backpressure").
      const absl::Time now = absl::Now();
      if (now < hold_until_) {
        // 50 ms slices: offsets keep being stored while we wait.
        WaitForWake(std::min(hold_until_, now + absl::Milliseconds(50)));
        MaybeStore(absl::Now());
        ApplyBackpressure();  // may end the hold
        continue;
      }
      // Held for hold_before_pause: the outputs are stalled (an outage, an unavailable alert
      // topic). Pause, which frees the prefetched data and lets the loop poll, and so serve
      // rebalances and max.poll.interval.ms, while we wait.
      holding_ = false;
      SW_LOG_EVERY(kInfo, kLog, 10000, "backpressure: pausing input at ", limiter_->items(),
                   " items / ", limiter_->bytes(), " bytes in flight");
      SetPaused(true);
    }
    // One poll round: what librdkafka has ready, up to kPollBatch messages (the first poll
    // waits up to kPollMs, the others not at all), handed to the workers together. Per round
    // rather than per message: the clock reads, the limiter's and the queue's locks and the
    // wake-ups of the workers (measured with benchmarks/e2e: benchmarks/README.md).
    // A round stops where one more message would pass an in-flight limit, as taking messages
    // one at a time did, and takes at least one (what a paused consumer is still handed).
    size_t room_items = 0;
    size_t room_bytes = 0;
    limiter_->Room(&room_items, &room_bytes);
    const size_t round = std::clamp<size_t>(room_items, 1, kPollBatch);
    rd_kafka_message_t* msg = consumer_->Poll(kPollMs);
    for (size_t polled = 0; msg != nullptr;) {
      HandleMessage(msg);
      if (++polled == round || pending_bytes_ >= room_bytes) break;
      msg = consumer_->Poll(0);
    }
    FlushPending();
    MaybeStore(absl::Now());
    if (!stopping_seen) ApplyBackpressure();
  }
  pool_.Release(spare_, spare_count_);
  spare_count_ = 0;
  StoreCommittable();
  // Close: triggers the revoke callback (drain-or-abandon, store, unassign) and commits.
  if (absl::Status st = consumer_->Close(); !st.ok()) SW_LOG(kWarning, kLog, st.message());
}

void KafkaPipeline::Impl::HandleMessage(rd_kafka_message_t* msg) {
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      stats_->consumer().consume_errors.Add();
      SW_LOG_EVERY(kWarning, kLog, 10000, "consume error: ", rd_kafka_message_errstr(msg));
      if (HandleUndecodable(msg)) return;
    }
    rd_kafka_message_destroy(msg);
    return;
  }
  // Read before the exchange: a write per message would take the flag's cache line from the
  // delivery-report thread, which tests it per delivery.
  std::atomic<bool>& down = stats_->health().all_brokers_down;
  if (down.load(std::memory_order_relaxed) && down.exchange(false)) {
    SW_LOG(kInfo, kLog, "brokers reachable again: consuming");
  }
  const char* topic = rd_kafka_topic_name(msg->rkt);
  TopicEntry* t = FindTopic(topic);
  PartitionEntry* p = nullptr;
  if (t != nullptr) {
    auto it = t->partitions.find(msg->partition);
    if (it != t->partitions.end()) p = &it->second;
  }
  if (stop_input_.load(std::memory_order_acquire) || p == nullptr) {
    // Stopping (or a message of a partition no longer ours): not tracked, so never stored;
    // it will be consumed again.
    rd_kafka_message_destroy(msg);
    return;
  }
  t->consumed->messages.Add();
  t->consumed->bytes.Add(msg->len);
  Item* item = TakeItem();
  item->msg = msg;
  item->partition = p->offsets.get();
  item->seq = p->offsets->Begin(msg->offset);
  item->pending.store(1, std::memory_order_relaxed);
  item->bytes = msg->len;
  rd_kafka_timestamp_type_t ts_type;
  item->timestamp_ms = rd_kafka_message_timestamp(msg, &ts_type);
  if (item->timestamp_ms > 0) p->last_timestamp_ms = item->timestamp_ms;
  pending_[pending_count_++] = item;
  pending_bytes_ += item->bytes;
}

internal::Item* KafkaPipeline::Impl::TakeItem() {
  if (spare_count_ == 0) {
    pool_.Acquire(spare_, kPollBatch);
    spare_count_ = kPollBatch;
    // Recycled items were last written by a worker on another core: ask for them (for writing)
    // now rather than miss on each one when it is filled.
    for (Item* item : spare_) __builtin_prefetch(item, 1);
  }
  return spare_[--spare_count_];
}

void KafkaPipeline::Impl::FlushPending() {
  if (pending_count_ == 0) return;
  const int64_t now_ms = WallMillis();
  const int64_t steady_ns = pipeline::Stats::SteadyNowNanos();
  for (size_t i = 0; i < pending_count_; ++i) {
    Item* item = pending_[i];
    if (item->timestamp_ms > 0) {
      stats_->consumer().consume_age.ObserveNanos((now_ms - item->timestamp_ms) * 1000000);
    }
    item->consumed_steady_ns = steady_ns;
  }
  limiter_->Admit(pending_bytes_, pending_count_);
  queue_.Push(pending_, pending_count_);
  pending_count_ = 0;
  pending_bytes_ = 0;
}

bool KafkaPipeline::Impl::HandleUndecodable(rd_kafka_message_t* msg) {
  // Errors that librdkafka reports for one offset of one partition and then meets again at the
  // same offset forever, because it refetches it: a batch it cannot decompress (a zstd batch
  // beyond receive.message.max.bytes), a corrupt batch, a response over
  // receive.message.max.bytes. Anything else (transport, leader changes) is transient.
  const bool per_offset = msg->err == RD_KAFKA_RESP_ERR__BAD_COMPRESSION ||
                          msg->err == RD_KAFKA_RESP_ERR__BAD_MSG ||
                          msg->err == RD_KAFKA_RESP_ERR_INVALID_MSG ||  // a CRC mismatch
                          msg->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
  if (!per_offset || msg->rkt == nullptr || msg->offset < 0) return false;
  if (stop_input_.load(std::memory_order_acquire)) return false;
  TopicEntry* t = FindTopic(rd_kafka_topic_name(msg->rkt));
  if (t == nullptr) return false;
  auto it = t->partitions.find(msg->partition);
  if (it == t->partitions.end()) return false;
  PartitionEntry& p = it->second;
  if (p.error_offset != msg->offset) {
    p.error_offset = msg->offset;
    p.error_repeats = 0;
  }
  // 3 times at one offset (librdkafka refetches after fetch.error.backoff.ms, 500 ms): not a
  // hiccup. Skipping silently would lose the record and retrying forever stalls the partition,
  // so the offset becomes a dead letter (reason undecodable, the error as the message, an empty
  // value: the bytes never reached us) and the consumer seeks past it. A batch of several
  // records is stepped over one offset, and one dead letter, at a time.
  if (++p.error_repeats < 3) return false;
  p.error_repeats = 0;
  SW_LOG(kError, kLog, "offset ", msg->offset, " of ", rd_kafka_topic_name(msg->rkt), "[",
         msg->partition, "] cannot be read (", rd_kafka_message_errstr(msg),
         "): dead-lettered as undecodable, seeking past it");
  if (absl::Status st =
          consumer_->Seek(rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset + 1);
      !st.ok()) {
    SW_LOG(kWarning, kLog, "seek past undecodable offset: ", st.message());
    return false;
  }
  t->consumed->messages.Add();
  Item* item = TakeItem();
  item->msg = msg;  // an error message: ProcessItem dead-letters it without processing
  item->partition = p.offsets.get();
  item->seq = p.offsets->Begin(msg->offset);
  item->pending.store(1, std::memory_order_relaxed);
  item->bytes = 0;
  item->timestamp_ms = -1;
  pending_[pending_count_++] = item;
  return true;
}

void KafkaPipeline::Impl::StoreCommittable() {
  if (fatal()) return;  // a fatal error: store nothing more
  PartitionListHandle list;
  for (auto& [name, topic] : topics_) {
    for (auto& [id, partition] : topic.partitions) {
      const int64_t offset = partition.offsets->TakeCommittable();
      if (offset < 0) continue;
      if (list == nullptr) list = NewPartitionList(8);
      rd_kafka_topic_partition_list_add(list.get(), name.c_str(), id)->offset = offset;
    }
  }
  if (list == nullptr) return;
  rd_kafka_resp_err_t err = consumer_->StoreOffsets(list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG_EVERY(kWarning, kLog, 10000, "offsets_store: ", rd_kafka_err2str(err));
  }
}

void KafkaPipeline::Impl::SetPaused(bool paused) {
  consumer_->SetPaused(paused);
  stats_->consumer().paused_partitions.Set(paused ? assigned_count_ : 0);
}

void KafkaPipeline::Impl::ApplyBackpressure() {
  switch (limiter_->Decide()) {
    case pipeline::InFlightLimiter::Decision::kPause:
      // See PipelineOptions::hold_before_pause.
      stats_->consumer().pauses.Add();
      holding_ = true;
      hold_until_ = absl::Now() + options_.hold_before_pause;
      break;
    case pipeline::InFlightLimiter::Decision::kResume:
      holding_ = false;
      if (consumer_->paused()) SetPaused(false);
      break;
    case pipeline::InFlightLimiter::Decision::kNone:
      break;
  }
}

void KafkaPipeline::Impl::ConsumerEvents::OnAssign(rd_kafka_topic_partition_list_t* partitions) {
  impl_->OnAssign(partitions);
}
void KafkaPipeline::Impl::ConsumerEvents::OnRevoke(const rd_kafka_topic_partition_list_t& p,
                                                   bool lost) {
  impl_->OnRevoke(p, lost);
}
void KafkaPipeline::Impl::ConsumerEvents::OnStatistics(std::string_view json) {
  impl_->OnConsumerStatistics(json);
}

void KafkaPipeline::Impl::OnAssign(rd_kafka_topic_partition_list_t* partitions) {
  FlushPending();  // messages of the round so far belong to the earlier assignment's trackers
  for (int i = 0; i < partitions->cnt; ++i) {
    const auto& tp = partitions->elems[i];
    TopicEntry& topic = topics_[tp.topic];
    if (topic.consumed == nullptr) topic.consumed = stats_->consumer().consumed.Register(tp.topic);
    // A fresh tracker per assignment: items of an earlier assignment of the same partition
    // keep their own (abandoned or drained) tracker, retired until they are all finished.
    PartitionEntry& entry = topic.partitions[tp.partition];
    if (entry.offsets != nullptr) retired_.push_back(std::move(entry.offsets));
    entry = PartitionEntry{
        .offsets = std::make_shared<pipeline::PartitionOffsets>(tp.topic, tp.partition)};
  }
  assigned_count_ += partitions->cnt;
  stats_->consumer().rebalances[static_cast<int>(pipeline::RebalanceKind::kAssign)].Add();
  stats_->consumer().assigned_partitions.Set(assigned_count_);
  // The consumer gives new partitions its pause state after this call.
  stats_->consumer().paused_partitions.Set(consumer_->paused() ? assigned_count_ : 0);
}

void KafkaPipeline::Impl::OnRevoke(const rd_kafka_topic_partition_list_t& partitions, bool lost) {
  // The round's messages so far are tracked: hand them over so the drain below waits for them.
  FlushPending();
  stats_->consumer()
      .rebalances[static_cast<int>(lost ? pipeline::RebalanceKind::kLost
                                        : pipeline::RebalanceKind::kRevoke)]
      .Add();
  std::vector<std::shared_ptr<pipeline::PartitionOffsets>> revoked;
  for (int i = 0; i < partitions.cnt; ++i) {
    const auto& tp = partitions.elems[i];
    if (TopicEntry* t = FindTopic(tp.topic)) {
      auto it = t->partitions.find(tp.partition);
      if (it != t->partitions.end()) revoked.push_back(it->second.offsets);
    }
  }
  size_t abandoned_items = 0;
  if (lost) {
    // Another member may own them already: storing would move its offsets. Abandon.
    for (auto& p : revoked) {
      abandoned_items += p->in_flight();
      p->Abandon();
    }
  } else {
    absl::Time deadline = absl::Now() + options_.revoke_drain_timeout;
    if (stop_input_.load()) deadline = std::min(deadline, stop_deadline_);
    PartitionListHandle store = NewPartitionList(partitions.cnt);
    for (auto& p : revoked) {
      p->WaitIdle(deadline);
      const int64_t offset = fatal() ? -1 : p->TakeCommittable();
      if (offset >= 0) {
        rd_kafka_topic_partition_list_add(store.get(), p->topic().c_str(), p->partition())->offset =
            offset;
      }
      const size_t left = p->in_flight();
      if (left > 0) {
        abandoned_items += left;
        p->Abandon();
      }
    }
    if (store->cnt > 0) {
      rd_kafka_resp_err_t err = consumer_->StoreOffsets(store.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SW_LOG(kWarning, kLog, "offsets_store on revoke: ", rd_kafka_err2str(err));
      }
      // Commit them now, synchronously: the partitions' next owner fetches the committed offset
      // as soon as the rebalance completes, and an auto-commit still in flight would make it
      // re-process what we just finished.
      err = consumer_->CommitSync(store.get());
      // The mock cluster (and brokers in some rebalance states) refuse it with
      // REBALANCE_IN_PROGRESS: then the new owner re-processes the items finished since the
      // last auto-commit (duplicates, counted by the revoke test, never losses).
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        SW_LOG(kInfo, kLog, "commit on revoke: ", rd_kafka_err2str(err),
               "; the partitions' next owner may re-process recent items");
      }
    }
  }
  if (abandoned_items > 0) {
    SW_LOG(kWarning, kLog, lost ? "assignment lost" : "revoke drain timed out", ": abandoned ",
           abandoned_items, " in-flight item(s); they will be consumed again");
  }
  std::vector<std::pair<std::string, int32_t>> gone;
  for (auto& p : revoked) {
    gone.emplace_back(p->topic(), p->partition());
    if (TopicEntry* t = FindTopic(p->topic())) t->partitions.erase(p->partition());
    retired_.push_back(std::move(p));  // abandoned items may still be queued or producing
  }
  stats_->RemoveConsumerLag(gone);
  client_stats_->RetainLagSeconds([this](std::string_view topic, int32_t partition) {
    TopicEntry* t = FindTopic(topic);
    return t != nullptr && t->partitions.contains(partition);
  });
  assigned_count_ = std::max(0, assigned_count_ - partitions.cnt);
  stats_->consumer().assigned_partitions.Set(assigned_count_);
  stats_->consumer().paused_partitions.Set(consumer_->paused() ? assigned_count_ : 0);
}

void KafkaPipeline::Impl::OnConsumerStatistics(std::string_view json) {
  // Readiness depends on the flag: a broker UP in the statistics clears it (Health).
  if (stats_->health().NoteStatistics(json)) SW_LOG(kInfo, kLog, "brokers reachable again");
  auto lags = ParseConsumerLag(json, [this](std::string_view topic, int32_t partition) {
    TopicEntry* t = FindTopic(topic);
    return t != nullptr && t->partitions.contains(partition);
  });
  if (!lags.ok()) {
    SW_LOG_EVERY(kWarning, kLog, 60000, "statistics: ", lags.status());
    return;
  }
  // Lag in seconds (client_statistics.h says why this definition): 0 when caught up, else the
  // age of the last record consumed from the partition.
  const int64_t now_ms = WallMillis();
  std::vector<PartitionLagSeconds> seconds;
  for (const pipeline::PartitionLag& lag : *lags) {
    if (lag.consumer_lag < 0) continue;  // not known yet
    TopicEntry* t = FindTopic(lag.topic);
    if (t == nullptr) continue;
    auto it = t->partitions.find(lag.partition);
    if (it == t->partitions.end()) continue;
    double age = 0;
    if (lag.consumer_lag > 0) {
      if (it->second.last_timestamp_ms <= 0) continue;  // behind, but nothing consumed yet
      age = std::max<int64_t>(0, now_ms - it->second.last_timestamp_ms) / 1000.0;
    }
    seconds.push_back({lag.topic, lag.partition, age});
  }
  client_stats_->SetLagSeconds(std::move(seconds));
  stats_->SetConsumerLag(*std::move(lags));
  absl::StatusOr<ParsedClientStatistics> parsed = ParseClientStatistics(json, "consumer");
  if (parsed.ok()) client_stats_->Update("consumer", *std::move(parsed));
}

}  // namespace steppewatch::kafka
