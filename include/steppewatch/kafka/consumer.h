// Consumer: a consumer-group member for one or more topics, with what an at-least-once stage
// needs around librdkafka's consumer: the rebalance callback (written against
// rd_kafka_rebalance_protocol(), so eager and cooperative assignors are both served and a
// switch is configuration only), manual offset storing, pause/resume that also covers newly
// assigned partitions, a restart of a partition's fetcher when librdkafka lost its start
// (ConsumerOptions::start_deadline), static membership (group.instance.id), fatal-error
// reporting (a fenced instance id), and a timestamp replay.
//
// Used by the daemon's pipeline (KafkaPipeline) and by the stories stage:
//   (a) several topics in one group: ConsumerOptions::topics, then Subscribe();
//   (b) a replay from a point in time: ConsumerOptions::start_timestamp_ms. On its first
//       assignment in this Consumer's life, each partition starts at the first offset whose
//       timestamp is >= start_timestamp_ms (rd_kafka_offsets_for_times; the end of the partition
//       when every record is older), instead of at the group's committed offset. A partition
//       that comes back in a later rebalance continues from its committed offset, so a replay
//       is not restarted by every rebalance. (The 2.0.2 mock cluster answers every timestamp
//       lookup with -1, so against it a replay starts at the end of each partition.)
//   (c) outputs go through RetryingProducer (producer.h), any number of topics.
//
// Offsets: with `manual_offset_store` (the default) the consumer stores nothing by itself:
// call StoreOffsets() with last_done + 1 once everything the records produced is delivered;
// librdkafka's auto-commit commits what was stored (periodically, on revoke and on Close).
//
// Threading: one thread owns the consumer: it calls Subscribe, Poll, StoreOffsets, CommitSync,
// SetPaused, Seek and Close, and the listener is called on it (from inside Poll and Close).
// Wake() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka {

// Called on the consumer's thread.
class ConsumerListener {
 public:
  virtual ~ConsumerListener() = default;
  // `partitions` are about to be assigned (offsets already set for a replay). The listener sets
  // up its bookkeeping; it may set an element's offset to start elsewhere.
  virtual void OnAssign(rd_kafka_topic_partition_list_t* partitions) = 0;
  // The eager protocol only, called after OnAssign: returns the list to assign instead of
  // `partitions` (it should contain them), for a member that reads partitions the group did not
  // give it: the stories role, whose holder of a one-partition lease topic reads every alert
  // partition from offsets of its own choosing. Null (the default) assigns `partitions`. All of
  // it is unassigned at the next revoke (eager revokes everything).
  virtual PartitionListHandle AssignmentFor(const rd_kafka_topic_partition_list_t& partitions) {
    return nullptr;
  }
  // `partitions` are about to be unassigned. Not `lost`: finish or abandon their work and store
  // (and commit) their offsets now. `lost`: another member may own them already: store nothing.
  virtual void OnRevoke(const rd_kafka_topic_partition_list_t& partitions, bool lost) = 0;
  // librdkafka's statistics JSON (statistics.interval.ms); valid during the call.
  virtual void OnStatistics(std::string_view json) {}
  // A non-fatal client error (librdkafka's error callback), e.g. all brokers down.
  virtual void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) {}
  // A fatal consumer error: the consumer cannot go on. `original` is the underlying error, e.g.
  // RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID when another live member uses this group.instance.id.
  virtual void OnFatal(rd_kafka_resp_err_t original, const std::string& reason) = 0;
};

struct ConsumerOptions {
  // Client properties over `defaults` (security, tuning).
  PropertyMap properties;
  // The layer's defaults under `properties`; nullopt for a caller whose properties already hold
  // the defaults it wants (the stories role gets the daemon's, minus the matcher's prefetch).
  std::optional<ClientRole> defaults = ClientRole::kConsumer;
  std::string group_id;
  // client.id; empty keeps the one in `properties` (or librdkafka's).
  std::string client_id;
  // group.instance.id: static membership. A member that restarts with the same id within
  // session.timeout.ms gets its partitions back without a rebalance; two live members with the
  // same id fence each other (OnFatal with FENCED_INSTANCE_ID). Unique and stable per instance
  // (a StatefulSet pod name, a systemd instance name). Empty: dynamic membership.
  std::string instance_id;
  std::vector<std::string> topics;
  // See (b) in the file comment; < 0: no replay.
  int64_t start_timestamp_ms = -1;
  // enable.auto.offset.store=false and enable.auto.commit=true (see the file comment).
  bool manual_offset_store = true;
  // How long a replay's offsets_for_times may take per assignment (it blocks the rebalance).
  int replay_lookup_timeout_ms = 10000;
  std::string what = "kafka consumer";
  // A partition whose fetcher has not started this long after its assignment is logged and,
  // when librdkafka's statistics show it idle in a state that nothing inside librdkafka will
  // leave ("none" or "stopped" while the group is up and steady), its fetch is restarted
  // without a rebalance (see RestartFetchers()): the committed offsets normally arrive within a
  // second, so a minute means a lost fetch start or a coordinator that does not answer (a
  // restart then only asks again). Tests use about a second.
  absl::Duration start_deadline = absl::Seconds(60);
  // Restarts per partition and assignment, one start_deadline apart; then it is left to the next
  // rebalance, logged, and stays in the unstarted gauge (the operators' alert).
  int start_restart_attempts = 3;
  // Where the consumer reports, if set: the number of assigned partitions whose fetcher it has
  // not seen started (a gauge), and the restarts above (a counter). Must outlive the consumer.
  pipeline::SharedCounter* unstarted_partitions = nullptr;
  pipeline::SharedCounter* start_restarts = nullptr;
  // Tests only: called with every librdkafka log line of this consumer (set the `debug`
  // property to get the internal ones), on the librdkafka or application thread that writes it,
  // before the line is routed to the log. A test can hold that thread here to widen a race
  // window inside librdkafka. Must be thread-safe; empty in the daemon.
  std::function<void(std::string_view line)> library_log_hook_for_testing;
};

class Consumer {
 public:
  // Creates the client (nothing is consumed before Subscribe()). `listener` is not owned and
  // must outlive the consumer.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(ConsumerOptions options,
                                                          ConsumerListener* listener);
  ~Consumer();  // destroys the client; call Close() first for a final commit
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  absl::Status Subscribe();

  // Serves callbacks and returns the next record or error (the caller owns it), or nullptr after
  // `timeout_ms`, after Wake(), and for a fatal error (reported to the listener instead).
  rd_kafka_message_t* Poll(int timeout_ms);
  // Makes a Poll() in progress return early. Any thread; does nothing once Close() has begun.
  void Wake();

  // Stores offsets (rd_kafka_offsets_store): each element's offset is the next to consume.
  rd_kafka_resp_err_t StoreOffsets(rd_kafka_topic_partition_list_t* offsets);
  // Commits `offsets` (nullptr: the stored ones) and waits for the answer.
  rd_kafka_resp_err_t CommitSync(const rd_kafka_topic_partition_list_t* offsets);

  // Pauses or resumes every assigned partition; partitions assigned later get the same state
  // (librdkafka neither pauses new assignments nor forgets an old pause flag). No partition is
  // touched while librdkafka may still be starting its fetcher (a pause or resume then can make
  // librdkafka drop the start, or drop ours, and the partition is never fetched: see
  // OnRebalance()): a newly assigned partition gets this state once its fetcher is seen started,
  // from a record of it (Poll) or its fetch_state in the statistics (at most one
  // statistics.interval.ms later). So the consumer always has statistics: where neither the
  // properties nor the defaults set statistics.interval.ms, or set it to 0, it is 5000 (a
  // partition assigned while paused has no record to tell, and would stay paused).
  void SetPaused(bool paused);
  bool paused() const { return paused_; }
  int assigned_count() const { return assigned_count_; }
  // Assigned partitions whose fetcher has not been seen started (see SetPaused), and the fetch
  // restarts so far (see ConsumerOptions::start_deadline). The consumer's thread only.
  int unstarted_count() const { return static_cast<int>(unstarted_.size()); }
  int64_t start_restarts() const { return start_restarts_; }

  // Moves the fetch position of one assigned partition.
  absl::Status Seek(const char* topic, int32_t partition, int64_t offset);

  // Leaves the group: the revoke callback runs (from inside this call), stored offsets are
  // committed. Idempotent.
  absl::Status Close();

  // The client, for calls this class does not wrap (metadata, assignment queries).
  rd_kafka_t* handle() const { return client_.get(); }
  // Tests only: raises fatal error `err` on the client, as librdkafka would
  // (rd_kafka_test_fatal_error).
  absl::Status InjectFatalErrorForTesting(rd_kafka_resp_err_t err);
  const ConsumerOptions& options() const { return options_; }

 private:
  Consumer(ConsumerOptions options, ConsumerListener* listener);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void ApplyReplay(rd_kafka_topic_partition_list_t* partitions);
  static void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static int StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque);
  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
  // Resumes every partition of `partitions` this consumer paused (before they are unassigned).
  void ClearPauseFlags(const rd_kafka_topic_partition_list_t* partitions);
  // The same for the whole assignment, which then carries no pause flag of ours.
  void ClearAllPauseFlags();
  // A partition of unstarted_ whose fetcher librdkafka has started: gives it this consumer's
  // pause state when it has another one (or may have lost ours), and forgets it.
  void MarkStarted(std::string_view topic, int32_t partition);
  // Marks the partitions of unstarted_ that `json` (the statistics) shows started, warns once
  // about each one that has waited for its fetcher for longer than start_deadline, and restarts
  // the fetchers of those that librdkafka shows idle for good.
  void CheckStarts(std::string_view json);
  // Restarts the fetchers of `stalled` (in unstarted_) by assigning the current assignment again
  // (eager) or unassigning and assigning them (cooperative), at the positions the application
  // has reached (the offsets they were assigned with where it has consumed nothing). Returns
  // false when nothing was restarted.
  bool RestartFetchers(const std::vector<std::pair<std::string, int32_t>>& stalled);
  // Publishes unstarted_.size() to the gauge.
  void ReportUnstarted();
  // Whether `partition` of `topic` is in unstarted_.
  bool IsUnstarted(std::string_view topic, int32_t partition) const;

  const ConsumerOptions options_;
  ConsumerListener* const listener_;
  ClientHandle client_;
  QueueHandle queue_;  // the consumer queue, for Wake()
  bool paused_ = false;
  // Whether some assigned partition may carry this consumer's pause flag (a pause was issued
  // since the last eager revoke, resumed or not): the revoke then clears the flags before the
  // partitions leave.
  bool pause_flags_ = false;
  int assigned_count_ = 0;
  bool closed_ = false;
  Mutex wake_mu_;                                   // orders Wake() against the start of Close()
  bool closing_ ABSL_GUARDED_BY(wake_mu_) = false;  // set when Close() begins
  std::set<std::pair<std::string, int32_t>> replayed_;  // partitions a replay already started
  // Assigned partitions whose fetcher this consumer has not yet seen started: SetPaused() leaves
  // them alone (see its comment). Small, and empty but for the seconds after an assignment.
  // The statistics should not show a previous assignment's "active" here: with the eager
  // protocol the group rejoins only once the revoke's fetch stops are done (read in 2.0.2's
  // rdkafka_cgrp.c; not tested on its own).
  struct Unstarted {
    std::string topic;
    int32_t partition = 0;
    // The pause state they were assigned with (paused before the assign, or not paused).
    bool paused = false;
    // Paused only after the assign (librdkafka did not know the partition before it): that pause
    // may have been dropped, so the state is given again once started.
    bool reassert = false;
    absl::Time since;  // the assignment, or the last restart
    bool warned = false;
    int restarts = 0;
    // After a restart: statistics emitted before this (librdkafka's monotonic clock, "ts" in
    // microseconds) may show the stopped fetcher's old state, so they cannot mark it started.
    int64_t not_before_us = 0;
  };
  std::vector<Unstarted> unstarted_;
  // The offset each assigned partition was assigned with (RD_KAFKA_OFFSET_INVALID: the
  // committed one), or Seek()'s: where a restart starts a partition that has no position.
  std::vector<std::pair<std::pair<std::string, int32_t>, int64_t>> start_offsets_;
  int64_t start_restarts_ = 0;
};

}  // namespace steppewatch::kafka
