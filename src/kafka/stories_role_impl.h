// StoriesRole::Impl (private to the kafka stage): the state of the stories role and its three
// parts, a file each: the lifecycle and the consumer loop (stories_role.cc); the lease, the
// partitions this instance holds and their replay from Kafka (stories_role_lease.cc); the alerts
// in, the enriched alerts and spike events out through the retrying producer, and offset storing
// (stories_role_output.cc). Kafka goes through the client layer: a kafka::Consumer (poll,
// rebalance, offset store) and a kafka::RetryingProducer (delivery, retries with backoff,
// recovery from fatal idempotent-producer errors); the Impl listens to both.
//
// Threading: the consumer thread (Loop, and the consumer's rebalance callbacks, which run inside
// Poll and Close on it) owns the stage and the partitions. The producer's poll thread delivers
// the reports: the delivery bookkeeping (outputs in flight, the outputs left per alert) is
// guarded by delivery_mu_. The snapshot read by the metrics stage is guarded by snapshot_mu_.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "simdjson.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/kafka/consumer.h"
#include "steppewatch/kafka/producer.h"
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/pipeline/offset_tracker.h"

namespace steppewatch::kafka {

// The listener of its own consumer and producer.
class StoriesRole::Impl : private ConsumerListener, private ProducerListener {
 public:
  static constexpr char kLog[] = "stories";

  explicit Impl(StoriesRoleOptions options);
  ~Impl() { Destroy(); }

  absl::Status Init();
  absl::Status Start();
  absl::Status Stop(absl::Duration budget);

  const StoriesRoleCounters& counters() const { return counters_; }
  bool fatal() const { return fatal_.load(std::memory_order_acquire); }
  // Set by Init() before the role is shared; StoriesRole's test hooks use them.
  RetryingProducer* producer() const { return producer_.get(); }
  Consumer* consumer() const { return consumer_.get(); }
  stories::StageStats stage_stats() const {
    MutexLock lock(&snapshot_mu_);
    return snapshot_stats_;
  }
  void ForEachKey(
      const std::function<void(std::string_view, std::string_view, uint64_t)>& fn) const {
    MutexLock lock(&snapshot_mu_);
    for (const KeyCount& k : snapshot_keys_) fn(k.scope, k.name, k.count);
  }
  std::vector<StoriesRole::SpikeKey> spikes() const {
    MutexLock lock(&snapshot_mu_);
    std::vector<StoriesRole::SpikeKey> out;
    for (const auto& [key, s] : spikes_) out.push_back(s);
    return out;
  }
  std::map<std::string, uint64_t> spike_starts_by_language() const {
    MutexLock lock(&snapshot_mu_);
    return starts_by_language_;
  }
  std::vector<std::pair<std::string, uint32_t>> top_stories() const {
    MutexLock lock(&snapshot_mu_);
    std::vector<std::pair<std::string, uint32_t>> out;
    for (const TopStory& t : top_) out.emplace_back(t.id, t.copies);
    return out;
  }
  // Outputs produced and not yet delivered or given up (StoriesRole::outputs_in_flight).
  size_t in_flight() const;

 private:
  // One partition of an alert topic while this instance is active.
  struct Part {
    std::string topic;
    int32_t partition = 0;
    int64_t live_from = 0;   // offsets below are replayed (state only)
    bool caught_up = false;  // the replay of this partition is over
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
  };
  // The outputs of one live alert, the opaque of each of its messages. Its offset is finished
  // when the last output is delivered, and never when one was given up. Filled on the consumer
  // thread (NewPending) before its first output is produced; from then on `remaining` and
  // `discarded` are read and written under Impl::delivery_mu_ only, and whoever takes
  // `remaining` to 0 returns it to the pool.
  struct Pending {
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
    uint64_t seq = 0;
    int remaining = 0;
    bool discarded = false;
  };
  struct KeyCount {
    std::string scope, name;
    uint64_t count;
  };
  struct TopStory {
    std::string id;
    uint32_t copies;
    absl::Time last;
  };

  // --- the client layer's events ---
  // The consumer's (ConsumerListener), on the consumer thread.
  void OnAssign(rd_kafka_topic_partition_list_t* partitions) override;
  // With the lease: the lease plus every alert partition at its replay start; null otherwise.
  PartitionListHandle AssignmentFor(const rd_kafka_topic_partition_list_t& partitions) override;
  void OnRevoke(const rd_kafka_topic_partition_list_t& partitions, bool lost) override;
  void OnFatal(rd_kafka_resp_err_t original, const std::string& reason) override;
  // The producer's (ProducerListener), on its poll thread (and on the stopping thread inside
  // Flush).
  void OnDelivered(const rd_kafka_message_t& msg) override;
  void OnRetryScheduled(void* opaque) override;
  void OnDiscarded(void* opaque) override;
  void OnFailed(const std::string& reason) override;
  // Both clients' (the same signature in both interfaces), on the thread that polls `rk`.
  void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) override;
  void OnStatistics(std::string_view json) override;

  // --- consumer thread (stories_role.cc, stories_role_lease.cc) ---
  void Loop();
  PartitionListHandle Activate(const rd_kafka_topic_partition_list_t& lease_parts);
  void Deactivate();
  bool Replaying() const;
  void MarkCaughtUp(Part& part);
  void CheckCaughtUp();  // by the consumer's positions: partitions whose replay ended quietly

  // --- consumer thread (stories_role_output.cc) ---
  // Takes a consumed message: an alert of an alert partition this instance holds joins the
  // batch, anything else is dropped. The batch goes through the stage (ProcessBatch: the next
  // alerts' index buckets load while one is handled) when it is full, when an alert would mix
  // replay and live in it, at the end of a poll round, and before anything that changes the
  // partitions or the stage (a rebalance, a tick, the stop): so every alert is handled under
  // the state it was consumed in, as one by one.
  void HandleMessage(rd_kafka_message_t* msg);
  void FlushBatch();
  // The output of one alert of the batch: replay bookkeeping, or publish and track its offset.
  void HandleOutput(rd_kafka_message_t* msg, Part& part, bool replay,
                    const stories::StageOutput& out);
  void Publish(const stories::StageOutput& out, rd_kafka_message_t* input, Pending* pending);
  // Produces one output of `pending` (null for Tick()'s spike events); takes `headers`.
  void ProduceOutput(const std::string& topic, std::string_view key, std::string_view value,
                     rd_kafka_headers_t* headers, Pending* pending);
  void StoreCommittable();
  void Snapshot();
  void NoteSpike(std::string_view json);
  void NoteStory(std::string_view id, uint32_t copies);

  // --- delivery bookkeeping (stories_role_output.cc) ---
  // Any thread: waits until no output is in flight or `deadline`; returns true when none is.
  bool WaitDelivered(absl::Time deadline);
  // The producer's poll thread: one output of `pending` (may be null) is delivered, or given up.
  void Release(Pending* pending, bool delivered);
  // The consumer thread: a Pending for the alert at `seq` of `offsets` with `outputs` outputs,
  // from the pool.
  Pending* NewPending(const std::shared_ptr<pipeline::PartitionOffsets>& offsets, uint64_t seq,
                      int outputs);

  void Destroy();

  StoriesRoleOptions options_;
  std::unique_ptr<Consumer> consumer_;
  std::unique_ptr<RetryingProducer> producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> fatal_{false};          // the consumer's fatal error, or the producer gave up
  bool started_ = false, stopped_ = false;  // controlling thread
  // How long a hand-over waits for outputs in flight; Stop() sets it before stop_, while the
  // consumer thread may read it in a rebalance.
  std::atomic<int64_t> stop_budget_ms_{10000};

  // Consumer thread only.
  std::unique_ptr<stories::StoriesStage> stage_;
  std::map<std::pair<std::string, int32_t>, Part> parts_;
  size_t replaying_parts_ = 0;  // partitions not caught up
  struct Batched {
    rd_kafka_message_t* msg;
    Part* part;  // stable: parts_ changes only in a rebalance, which flushes the batch first
  };
  static constexpr size_t kBatch = 64;
  std::vector<Batched> batch_;
  std::vector<stories::StageInput> batch_inputs_;
  bool batch_replay_ = false;
  bool stopping_ = false;
  bool input_paused_ = false;  // backpressure (options_.max_in_flight); the consumer thread's

  // Outputs handed to the producer and not yet delivered or given up: raised by the consumer
  // thread without a lock, lowered by Release under delivery_mu_, which signals delivered_cv_
  // under it when the count reaches 0 (so a waiter that saw more under the lock is woken).
  mutable Mutex delivery_mu_;
  CondVar delivered_cv_;
  std::atomic<size_t> in_flight_{0};
  // The Pending pool: no allocation per alert once it holds as many records as are ever in
  // flight (max_in_flight and a batch), and a lock per refill, not per alert. The consumer
  // thread takes from pending_free_ (its own) and, when that is empty, takes every record
  // Release has returned in one swap under delivery_mu_. pending_owned_ (consumer thread) owns them
  // all; it goes with the Impl, after Destroy() has had every report delivered or given up.
  std::vector<Pending*> pending_free_;
  std::vector<Pending*> pending_returned_ ABSL_GUARDED_BY(delivery_mu_);
  std::vector<std::unique_ptr<Pending>> pending_owned_;

  StoriesRoleCounters counters_;
  mutable Mutex snapshot_mu_;
  stories::StageStats snapshot_stats_ ABSL_GUARDED_BY(snapshot_mu_);
  std::vector<KeyCount> snapshot_keys_ ABSL_GUARDED_BY(snapshot_mu_);
  // by "scope:name"
  std::map<std::string, StoriesRole::SpikeKey> spikes_ ABSL_GUARDED_BY(snapshot_mu_);
  std::map<std::string, uint64_t> starts_by_language_ ABSL_GUARDED_BY(snapshot_mu_);
  // at most kTopStories, most copies first
  std::vector<TopStory> top_ ABSL_GUARDED_BY(snapshot_mu_);
  simdjson::ondemand::parser spike_parser_;  // consumer thread only
  std::string scope_buf_, name_buf_, state_buf_;
};

}  // namespace steppewatch::kafka
