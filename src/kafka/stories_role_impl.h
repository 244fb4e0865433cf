// StoriesRole::Impl (private to the kafka stage): the state of the stories role and its three
// parts, a file each: the lifecycle and the consumer loop (stories_role.cc); the lease, the
// partitions this instance holds and their replay from Kafka (stories_role_lease.cc); the alerts
// in, the enriched alerts and spike events out, at least once, with retries and offset storing
// (stories_role_output.cc).
//
// Threading: the consumer thread (Loop) owns the stage, the partitions and the retry queue; the
// snapshot read by the metrics stage is guarded by snapshot_mu_; delivery reports run on the
// thread that polls the producer: the loop, and at stop the stopping thread once the loop ended.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <deque>
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
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/pipeline/offset_tracker.h"

namespace steppewatch::kafka {

class StoriesRole::Impl {
 public:
  static constexpr char kLog[] = "stories";

  explicit Impl(StoriesRoleOptions options);
  ~Impl() { Destroy(); }

  absl::Status Init();
  absl::Status Start();
  absl::Status Stop(absl::Duration budget);

  const StoriesRoleCounters& counters() const { return counters_; }
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

 private:
  // One partition of an alert topic while this instance is active.
  struct Part {
    std::string topic;
    int32_t partition = 0;
    int64_t live_from = 0;   // offsets below are replayed (state only)
    bool caught_up = false;  // the replay of this partition is over
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
  };
  // The outputs of one live alert; its offset is finished when `remaining` reaches 0.
  struct Pending {
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
    uint64_t seq = 0;
    int remaining = 0;
  };
  // One message to deliver; owned by librdkafka (opaque) while in flight, by retry_ otherwise.
  struct Out {
    Pending* pending = nullptr;  // null for Tick()'s spike events
    rd_kafka_topic_t* rkt = nullptr;
    std::string key, value;
    std::vector<std::pair<std::string, std::string>> headers;
    int attempts = 0;
    absl::Time retry_at;
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

  static void RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(rk, err, parts);
  }
  static void DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    static_cast<Impl*>(opaque)->OnDelivery(msg);
  }

  void Loop();
  void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void Activate(rd_kafka_topic_partition_list_t* lease_parts);
  void Deactivate();
  void HandleMessage(rd_kafka_message_t* msg);
  void Publish(const stories::StageOutput& out, rd_kafka_message_t* input, Pending* pending);
  void Produce(Out* out);
  void OnDelivery(const rd_kafka_message_t* msg);
  void FinishOne(Pending* pending);
  void Drop(Out* o);  // an output given up at stop: its alert's offset is never finished
  void RetryDue();
  void StoreCommittable();
  void Snapshot();
  void NoteSpike(std::string_view json);
  void NoteStory(std::string_view id, uint32_t copies);
  bool Replaying() const;
  void MarkCaughtUp(Part& part);
  void CheckCaughtUp();  // by the consumer's positions: partitions whose replay ended quietly
  void Destroy();

  StoriesRoleOptions options_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* stories_rkt_ = nullptr;
  rd_kafka_topic_t* spikes_rkt_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false, stopped_ = false;
  absl::Duration stop_budget_ = absl::Seconds(10);

  // Consumer thread only.
  std::unique_ptr<stories::StoriesStage> stage_;
  std::map<std::pair<std::string, int32_t>, Part> parts_;
  std::deque<Out*> retry_;
  size_t in_flight_ = 0;        // Outs handed to librdkafka or waiting in retry_
  size_t replaying_parts_ = 0;  // partitions not caught up
  bool stopping_ = false;

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
