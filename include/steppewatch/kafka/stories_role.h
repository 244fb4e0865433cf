// StoriesRole: the stories stage on Kafka. It consumes the alert topics, runs every alert
// through a stories::StoriesStage (grouping into stories, spike detection) and publishes the
// enriched alerts to the stories topic and the spike events to the spikes topic.
//
//   alert topics ──> consumer ──> StoriesStage ──> producer ──> stories topic (every alert + story)
//        │  (all partitions,                                └──> spikes topic
//        (steppewatch.spike.v1) │   one active instance) └── offsets stored only after the alert's
//        outputs are acknowledged (at-least-once)
//
// ONE ACTIVE INSTANCE, STANDBYS IN THE SAME GROUP. Near-duplicates cannot be partitioned (two
// copies of a story differ in a few fingerprint bits, so no key sends them to one partition), so
// one instance must see every partition of the alert topics. The role therefore subscribes, in
// its consumer group, to a one-partition *lease topic* that carries no data: the member that is
// assigned lease partition 0 is the active instance and assigns itself every partition of the
// alert topics in the same rebalance (librdkafka's assign() with the lease partition plus the
// alert partitions); the others hold nothing and wait. When the active member dies, the group
// coordinator gives the lease to a standby after session.timeout.ms, and the standby rebuilds
// its state and continues from the committed offsets. Offsets are committed under the group, as
// for any member.
//
// STATE IS REBUILT FROM KAFKA, no database. On becoming active, for each alert partition the
// role finds the first offset at or after (now - replay window) with ListOffsets by timestamp
// (falling back to the partition's start when the broker cannot answer it) and the group's
// committed offset. Messages below the committed offset are *replayed* (state only: nothing is
// published again), messages from it on are live. A partition the group never committed is
// replayed up to its end at activation time and live after it: a new deployment learns the last
// window and publishes only new alerts. How far back: stories::ReplayHorizon() (the window, or
// the spike warm-up when longer: 7 days by default), so the alert topics must retain that much.
// A broker that cannot look offsets up by time (librdkafka's mock cluster answers -1 for every
// partition) is replayed from each partition's start; the stage drops what is older than its
// window as it goes.
//
// KAFKA THROUGH THE CLIENT LAYER: a kafka::Consumer (consumer.h) whose AssignmentFor hook adds
// the alert partitions to the lease, and a kafka::RetryingProducer (producer.h).
//
// Guarantee: an alert's offset is stored once its enriched copy and the spike events it caused
// were acknowledged (acks=all, idempotent producer); a failed delivery is produced again by the
// retrying producer with backoff (0.5 s doubling to 30 s), forever, holding its partition's
// offset, and a fatal idempotent-producer error is recovered with a new producer. After a crash or
// failover the new active instance replays and re-publishes alerts after the last commit
// (duplicates, never losses; subscribers de-duplicate on the stories message key, the item id, plus
// story id). Spike events produced by Tick() (a spike ending on a quiet key) carry no input offset:
// one lost in a crash is not sent again, and the next active instance sends the end when its own
// state decides it.
//
// Threading: Start/Stop from one controlling thread; counters() and the snapshot accessors from
// any thread. The role owns its consumer thread (which alone runs the stage), its consumer and
// its producer (whose own poll thread delivers the reports).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "steppewatch/pipeline/stats.h"
#include "steppewatch/stories/stage.h"

namespace steppewatch::kafka {

struct StoriesRoleOptions {
  std::string brokers;
  // The group of the stories instances (their own, never the matchers').
  std::string group_id = "steppewatch-stories";
  std::string client_id = "steppewatch-stories";
  // The alert topics to read (the rule pack's topics).
  std::vector<std::string> input_topics;
  // One partition, no data: whoever holds partition 0 is the active instance.
  std::string lease_topic = "steppewatch.stories.lease";
  std::string stories_topic = "steppewatch.stories";
  std::string spikes_topic = "steppewatch.spikes";
  // librdkafka properties passed through (security, tuning), with no defaults of the client
  // layer under the consumer's (the daemon passes its own) and the layer's under the
  // producer's; the role forces bootstrap.servers, group.id, client.id,
  // partition.assignment.strategy=range,roundrobin, enable.auto.offset.store=false,
  // enable.auto.commit=true and enable.idempotence=true.
  std::map<std::string, std::string> consumer_properties;
  std::map<std::string, std::string> producer_properties;
  stories::StageOptions stage;
  // How far back a new active instance replays; 0 = stories::ReplayHorizon(stage) (the window,
  // or the spike warm-up when longer).
  absl::Duration replay_window = absl::ZeroDuration();
  // How often the stage's clock is advanced without alerts (ends spikes on quiet keys) and
  // offsets are stored.
  absl::Duration tick = absl::Seconds(1);
  // Backpressure: at this many outputs (enriched alerts, spike events) produced and not yet
  // delivered, the role pauses its input partitions, and resumes at half of it. Without it an
  // unwritable stories topic (no leader, no ACL) made the role read on and hold every alert of
  // the outage in memory. Messages librdkafka handed over before the pause are still processed.
  size_t max_in_flight = 20000;
  // Wall clock in ms (tests replace it to run a timeline fast).
  std::function<int64_t()> now_ms;
  // When set (a process that runs only the stories role), the role reports its consumer to it
  // as the matcher's pipeline would: created, rebalances, assigned partitions, so the readiness
  // probe and the consumer metrics tell about the stories consumer. Not owned; outlives the role.
  pipeline::Stats* stats = nullptr;
  // Where the role's consumer reports its unstarted partitions and fetch restarts (role label
  // "stories"), also beside the matcher in one process, where `stats` is null; `stats` when
  // null. The role's loop also beats there (Health::stories_heartbeat_steady_ns, for the
  // liveness probe). Not owned; outlives the role.
  pipeline::Stats* fetch_start_stats = nullptr;
};

// Counters of the role (cumulative since Start), readable from any thread.
struct StoriesRoleCounters {
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> replayed{0};
  std::atomic<uint64_t> published_alerts{0};
  std::atomic<uint64_t> published_spikes{0};
  std::atomic<uint64_t> delivery_failures{0};
  std::atomic<uint64_t> activations{0};
  std::atomic<uint64_t> assignments{0};  // group assignments received (with or without the lease)
  std::atomic<uint64_t> pauses{0};       // input paused by backpressure (max_in_flight)
  std::atomic<bool> paused{false};       // the input is paused by backpressure now
  // Records of alerts in flight ever allocated: the size of the role's pool, which reuses them
  // (no allocation per alert once it holds as many as are ever in flight).
  std::atomic<uint64_t> output_records{0};
  std::atomic<bool> active{false};
  std::atomic<bool> replaying{false};
};

class StoriesRole {
 public:
  static absl::StatusOr<std::unique_ptr<StoriesRole>> Create(StoriesRoleOptions options);
  ~StoriesRole();  // Stop(0) if still running
  StoriesRole(const StoriesRole&) = delete;
  StoriesRole& operator=(const StoriesRole&) = delete;

  // Subscribes to the lease topic and starts the consumer thread.
  absl::Status Start();
  // Stops taking input, waits up to `budget` for outstanding deliveries, stores offsets, closes.
  // Returns DeadlineExceeded when deliveries were still outstanding. Idempotent.
  absl::Status Stop(absl::Duration budget);

  const StoriesRoleCounters& counters() const;
  // Outputs (enriched alerts, spike events) produced and not yet delivered or given up. Read
  // after counters().consumed (which counts an alert once its outputs are in flight): when it
  // is 0, every output of the alerts counted there was delivered and published_* hold them.
  size_t outputs_in_flight() const;
  // True once the role cannot go on in this process: its consumer hit a fatal error, or its
  // producer gave up recovering from fatal errors (RetryingProducer). Nothing more is published
  // or stored; the daemon exits (code 3, as for the matcher's pipeline) so that a restart, or
  // the standby, takes over.
  bool fatal() const;
  // Fatal producer errors recovered in process so far.
  int producer_recoveries() const;
  // Tests only: raises fatal error `rd_kafka_resp_err` on the role's producer (or consumer), as
  // librdkafka would (rd_kafka_test_fatal_error).
  absl::Status InjectFatalErrorForTesting(bool producer, int rd_kafka_resp_err);
  // A snapshot of the stage's statistics and per-key new-story counts (taken on the consumer
  // thread after each batch; empty before the first activation).
  stories::StageStats stage_stats() const;
  void ForEachKey(const std::function<void(std::string_view scope, std::string_view name,
                                           uint64_t new_stories)>& fn) const;

  // What the published spike events said, for metrics and dashboards: every key that ever
  // spiked with whether its spike is active now and confirmed, and its event counts by state
  // (start, update, end).
  struct SpikeKey {
    std::string scope, name;
    bool active = false;
    bool confirmed = false;
    std::map<std::string, uint64_t> events;  // state -> count
  };
  std::vector<SpikeKey> spikes() const;
  // Spike starts per language of their stories.
  std::map<std::string, uint64_t> spike_starts_by_language() const;
  // The stories with the most copies among those that got a copy in the last
  // kTopStoriesHorizon, at most kTopStories of them, most copies first.
  static constexpr size_t kTopStories = 10;
  static constexpr absl::Duration kTopStoriesHorizon = absl::Hours(24);
  std::vector<std::pair<std::string, uint32_t>> top_stories() const;

 private:
  class Impl;
  explicit StoriesRole(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace steppewatch::kafka
