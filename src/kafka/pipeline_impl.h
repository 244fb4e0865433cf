// KafkaPipeline's implementation, private to src/kafka. The pipeline wires the client layer
// (Consumer, RetryingProducer) to the workers and owns the stop protocol; its methods live in
//   kafka_pipeline.cc    creation, Start, Stop, fatal errors, the public wrappers
//   pipeline_consumer.cc the consumer thread: poll, dispatch, offsets, backpressure, rebalance
//   pipeline_workers.cc  the workers: process, alerts and dead letters out, delivery outcomes
// Reading order: Item and its pool, the work queue, then Impl.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/common/notification.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/consumer.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "steppewatch/kafka/producer.h"
#include "steppewatch/pipeline/offset_tracker.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka::internal {

// One input message between consume and "finished". `pending` counts the references that
// must go before the item is finished: 1 for the worker's processing plus 1 per produced
// message not yet acknowledged. Whoever drops it to 0 finishes the item.
struct Item {
  rd_kafka_message_t* msg = nullptr;
  // Not owned: the consumer thread keeps every tracker alive (assigned, then retired) until
  // nothing is in flight on it, and no item touches its tracker after Finish(). A plain pointer
  // rather than a shared_ptr: the reference count's cache line moved between the consumer and
  // the workers twice per item.
  pipeline::PartitionOffsets* partition = nullptr;
  uint64_t seq = 0;
  std::atomic<int32_t> pending{0};
  size_t bytes = 0;
  int64_t timestamp_ms = -1;
  int64_t consumed_steady_ns = 0;  // when the consumer thread queued it (queue-wait histogram)
  uint8_t dead_letter_reason = 0;
  bool dead_letter = false;
};

// Items a thread has finished and not yet given back: a worker collects those of one batch and
// returns them to the pool and the in-flight limiter at once (one lock each per batch instead of
// per item).
// Their offsets are marked finished there too, one tracker lock per run of items of the same
// partition (a poll round's messages mostly come from one fetch, so runs are long) instead of one
// lock per item; until then they count as in flight, which only delays a commit.
struct FinishedItems {
  static constexpr size_t kMax = 64;
  Item* items[kMax];
  size_t n = 0;
  size_t bytes = 0;
};

// A worker's duration histograms for the batch at hand, added to its WorkerStats after the
// batch (pipeline::LocalHistogram): three observations per item, one flush per batch.
struct WorkerBatchTimes {
  pipeline::LocalHistogram<pipeline::kQueueWaitBuckets.size()> queue_wait{
      pipeline::kQueueWaitBuckets};
  pipeline::LocalHistogram<pipeline::kProcessingTimeBuckets.size()> processing_time{
      pipeline::kProcessingTimeBuckets};
  pipeline::LocalHistogram<pipeline::kProcessingTimeBuckets.size()> match_time{
      pipeline::kProcessingTimeBuckets};
  // Adds the batch's observations to `ws` and empties this.
  void FlushInto(pipeline::WorkerStats* ws) {
    ws->queue_wait.Add(&queue_wait);
    ws->processing_time.Add(&processing_time);
    ws->match_time.Add(&match_time);
  }
};

// Recycles Items so the steady state allocates none. The pool holds at most what was ever in
// flight at once, which the in-flight limiter bounds. A stack of pointers (not a list through
// the items) so that taking one does not read an item another core wrote last. Thread-safe.
class ItemPool {
 public:
  ~ItemPool();
  // Fills out[0..n) with items (new ones when the pool is empty).
  void Acquire(Item** out, size_t n);
  // Takes back items[0..n) (reset).
  void Release(Item* const* items, size_t n);

 private:
  Mutex mu_;
  std::vector<Item*> free_ ABSL_GUARDED_BY(mu_);
};

// The queue from the consumer thread to the workers: one shared FIFO, so any worker takes any
// item (per-partition order of processing is not needed: offsets are tracked per item, and one
// busy partition must not idle the other workers). Unbounded in type, bounded in practice by
// the in-flight limiter; a growable ring allocates only when it grows. Thread-safe.
class WorkQueue {
 public:
  WorkQueue() : ring_(1024) {}
  // Appends items[0..n) under one lock and wakes as many waiting workers as there are items.
  void Push(Item* const* items, size_t n);
  // Takes up to `max` items, waiting up to `wait` for the first. Returns 0 on timeout or when
  // closed and empty (`*closed` tells which).
  size_t PopBatch(Item** out, size_t max, absl::Duration wait, bool* closed);
  void Close();

 private:
  Mutex mu_;
  CondVar ready_;  // signalled on Push (once per item, up to the waiters) and Close (everyone)
  std::vector<Item*> ring_ ABSL_GUARDED_BY(mu_);
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;  // workers blocked in PopBatch
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace steppewatch::kafka::internal

namespace steppewatch::kafka {

class KafkaPipeline::Impl {
 public:
  using Item = internal::Item;

  Impl(PipelineOptions options, pipeline::PackHolder* packs, pipeline::Stats* stats);
  ~Impl();

  absl::Status Init();
  absl::Status Start();
  absl::Status Stop(absl::Duration budget);

  bool fatal() const { return fatal_.HasBeenNotified(); }
  FatalKind fatal_kind() const { return fatal_kind_.load(std::memory_order_acquire); }
  bool WaitFatal(absl::Time deadline) const {
    return fatal_.WaitForNotificationWithDeadline(deadline);
  }
  int num_workers() const { return num_workers_; }
  uint64_t items_finished() const { return items_finished_.load(std::memory_order_relaxed); }
  RetryingProducer* producer() { return producer_.get(); }
  const ClientStatistics& client_statistics() const { return *client_stats_; }
  Consumer* consumer() { return consumer_.get(); }

 private:
  struct PartitionEntry {
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
    // The last consume error at an offset of this partition, and how often it repeated.
    int64_t error_offset = -1;
    int error_repeats = 0;
    // Timestamp of the last record consumed from it, for the lag in seconds.
    int64_t last_timestamp_ms = -1;
  };
  struct TopicEntry {
    pipeline::TopicCounters* consumed = nullptr;
    absl::flat_hash_map<int32_t, PartitionEntry> partitions;
  };

  // Routes the consumer's events to the Impl (on the consumer thread).
  class ConsumerEvents : public ConsumerListener {
   public:
    explicit ConsumerEvents(Impl* impl) : impl_(impl) {}
    void OnAssign(rd_kafka_topic_partition_list_t* partitions) override;
    void OnRevoke(const rd_kafka_topic_partition_list_t& partitions, bool lost) override;
    void OnStatistics(std::string_view json) override;
    void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) override;
    void OnFatal(rd_kafka_resp_err_t original, const std::string& reason) override;

   private:
    Impl* const impl_;
  };
  // Routes the producer's events to the Impl (on the producer's poll thread, or in Stop).
  class ProducerEvents : public ProducerListener {
   public:
    explicit ProducerEvents(Impl* impl) : impl_(impl) {}
    void OnDelivered(const rd_kafka_message_t& msg) override;
    void OnDeliveryFailed(const rd_kafka_message_t& msg) override;
    void OnRetryScheduled(void* opaque) override;
    void OnDiscarded(void* opaque) override;
    void OnStatistics(std::string_view json) override;
    void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) override;
    void OnRecovered(rd_kafka_resp_err_t cause, size_t reproduced) override;
    void OnFailed(const std::string& reason) override;

   private:
    Impl* const impl_;
  };

  // --- consumer thread (pipeline_consumer.cc) ---
  void ConsumerLoop();
  // Tracks `msg` (its partition's offsets, an Item) and adds it to pending_.
  void HandleMessage(rd_kafka_message_t* msg);
  // Hands pending_ to the workers: one admission to the in-flight limiter, one push, one clock
  // read for all. Called after each poll round and first thing in a rebalance callback, so a
  // revoke drains every item it has tracked.
  void FlushPending();
  // Returns an Item for one message (from spare_).
  Item* TakeItem();
  // A consume error that repeats at one offset: dead-letters that offset and seeks past it.
  // Returns true when it took ownership of `msg`.
  bool HandleUndecodable(rd_kafka_message_t* msg);
  void StoreCommittable();
  void ApplyBackpressure();
  void SetPaused(bool paused);
  void OnAssign(rd_kafka_topic_partition_list_t* partitions);
  void OnRevoke(const rd_kafka_topic_partition_list_t& partitions, bool lost);
  void OnConsumerStatistics(std::string_view json);
  void WakeConsumer();
  // Consumer thread, while holding input: sleeps until WakeConsumer() or `deadline`.
  void WaitForWake(absl::Time deadline);
  void MaybeStore(absl::Time now);
  // Frees the retired trackers that nothing is in flight on any more.
  void FreeRetired();
  TopicEntry* FindTopic(std::string_view name);

  // --- errors (kafka_pipeline.cc) ---
  void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t code, const char* reason);
  void SetFatal(FatalKind kind);

  // --- workers (pipeline_workers.cc) ---
  void WorkerLoop(int index);
  // Processes `item`, whose processing starts at `start_ns` (Stats::SteadyNowNanos()), and
  // returns a clock reading the next item may start from: the end of this item's processing
  // when it produced nothing (one clock read per item, not two), else a fresh read.
  int64_t ProcessItem(int index, pipeline::ItemProcessor* processor, Item* item,
                      const std::string& pack_label, absl::flat_hash_set<std::string>* registered,
                      int64_t start_ns, internal::WorkerBatchTimes* times,
                      internal::FinishedItems* done);
  // Produces `item`'s dead letter (output_messages.h).
  void ProduceDeadLetter(int index, Item* item, std::string_view reason,
                         const std::string& reason_message, const std::string& pack_label);
  // Produces one message for `item` (one more reference until its delivery).
  void Produce(Item* item, std::string_view topic, std::string_view key, std::string_view value,
               rd_kafka_headers_t* headers, int64_t timestamp_ms);
  // Drops one reference; the last one finishes the item. With `done`, a worker's batch, the
  // finished item's offset is marked finished and the item goes back to the pool and the
  // limiter later, in ReleaseFinished().
  void Unref(Item* item, internal::FinishedItems* done = nullptr);
  // Marks done's offsets finished (one tracker lock per run of one partition's items), then
  // returns the items to the pool and the in-flight limiter.
  void ReleaseFinished(internal::FinishedItems* done);
  void OnDelivered(const rd_kafka_message_t& msg);
  void OnDeliveryFailed(const rd_kafka_message_t& msg);
  void OnDiscarded(Item* item);

  PipelineOptions options_;
  pipeline::PackHolder* const packs_;
  pipeline::Stats* const stats_;
  int num_workers_ = 1;
  std::unique_ptr<pipeline::InFlightLimiter> limiter_;
  internal::ItemPool pool_;
  internal::WorkQueue queue_;

  ClientStatistics own_client_stats_;
  ClientStatistics* client_stats_ = &own_client_stats_;  // options_.client_statistics if set
  ConsumerEvents consumer_events_{this};
  ProducerEvents producer_events_{this};
  std::unique_ptr<RetryingProducer> producer_;
  std::unique_ptr<Consumer> consumer_;
  size_t max_message_bytes_ = 1000000;  // the producer's message.max.bytes

  std::thread consumer_thread_;
  std::vector<std::thread> worker_threads_;
  bool started_ = false;
  bool stopped_ = false;

  // Stop protocol, in order: stop_input_ (drop new messages, pause), stop_consumer_ (close),
  // then retries are discarded, the workers' queue is closed, the producer stops polling and
  // is flushed.
  std::atomic<bool> stop_input_{false};
  std::atomic<bool> stop_consumer_{false};
  absl::Time stop_deadline_ = absl::InfiniteFuture();  // set before stop_input_
  mutable Notification fatal_;
  std::atomic<FatalKind> fatal_kind_{FatalKind::kNone};
  std::atomic<uint64_t> items_finished_{0};

  // Consumer-thread state (rebalance callbacks run on the consumer thread too).
  absl::flat_hash_map<std::string, TopicEntry> topics_;
  int assigned_count_ = 0;
  // Backpressure, first stage: over the in-flight limit the consumer stops taking messages
  // from librdkafka (whose prefetch queue keeps them) until hold_until_, then pauses.
  bool holding_ = false;
  absl::Time hold_until_ = absl::InfinitePast();
  absl::Time next_store_ = absl::InfinitePast();
  // Trackers of revoked (or replaced) assignments with items possibly still in flight: Items
  // point at them without owning them (see Item::partition). Freed by FreeRetired() once idle,
  // or with the Impl, after every thread has stopped.
  std::vector<std::shared_ptr<pipeline::PartitionOffsets>> retired_;
  // Messages of the current poll round, tracked and waiting for FlushPending(). At most
  // kPollBatch: a round takes what librdkafka has ready, up to that many.
  static constexpr size_t kPollBatch = 64;
  Item* pending_[kPollBatch];
  size_t pending_count_ = 0;
  size_t pending_bytes_ = 0;
  // Items taken from the pool kPollBatch at a time (one lock per round, not per message);
  // returned to it when the loop ends.
  Item* spare_[kPollBatch];
  size_t spare_count_ = 0;

  // WakeConsumer() -> the holding consumer thread.
  Mutex wake_mu_;
  CondVar wake_cv_;
  bool wake_pending_ ABSL_GUARDED_BY(wake_mu_) = false;
};

}  // namespace steppewatch::kafka
