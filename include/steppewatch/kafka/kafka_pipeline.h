// KafkaPipeline: the daemon's data path. A consumer-group consumer, N worker threads with one
// ItemProcessor each, an idempotent producer, and the bookkeeping that makes it at-least-once.
//
//   consumer thread ──> work queue ──> workers (ItemProcessor) ──> producer ──> delivery reports
//        │  rebalance, pause/resume, offsets_store                                   │
//        └──────────── PartitionOffsets (low watermark per input partition) <────────┘
//
// THE GUARANTEE (at-least-once), precisely as implemented:
// - The input message (rd_kafka_message_t, no copy of the body) is held from consume until the
//   item is finished: processed AND every alert/dead-letter message it produced has a
//   successful delivery report (acks=all, idempotent producer).
// - The offset stored for a partition (rd_kafka_offsets_store, committed by librdkafka's
//   auto-commit and on close/revoke) is last_contiguous_finished + 1: it never passes an item
//   that is not finished, whatever order the workers and deliveries complete in.
// - A delivery that fails after librdkafka's own retries (message.timeout.ms) is produced
//   again by this class with exponential backoff (0.5 s .. 30 s), forever: the item stays
//   unfinished, so its partition's stored offset stops there and the in-flight limit eventually
//   pauses consumption. Nothing is skipped; a permanently undeliverable alert (e.g. larger than
//   the broker's message.max.bytes) blocks its partition and is logged and counted
//   (steppewatch_..._failed) until an operator acts.
// - Offsets are stored only on the consumer thread (periodically, and in the revoke callback),
//   so a store can never race an unassign.
// - Revoke: the callback waits (revoke_drain_timeout) for the revoked partitions' in-flight
//   items, stores and synchronously commits their offsets, then unassigns. Newly assigned
//   partitions get an explicit pause or resume (librdkafka keeps an old pause flag). If the
//   assignment was lost, or the wait runs out, the remaining items are abandoned: no offset of
//   theirs is stored, the partition's new owner re-processes them (duplicates, never losses).
// - Stop(budget): stop taking input (pause everything, drop messages polled afterwards
//   without tracking them), wait for in-flight items, store, close the consumer (final
//   commit), flush the producer. Items not finished within the budget are not stored.
// - Duplicates therefore happen after a crash/kill (items finished since the last commit, at
//   most auto.commit.interval.ms of work plus everything in flight), after an abandoned revoke,
//   after a revoke whose synchronous commit the group coordinator refused (the mock cluster
//   answers REBALANCE_IN_PROGRESS: the new owner re-processes what was finished since the last
//   auto-commit), and when a delivery report was lost although the broker had the message
//   (librdkafka retries inside the idempotent session do not duplicate). Subscribers de-duplicate
//   on the alert's key (item id) or on (origin.topic, origin.partition, origin.offset) plus the
//   rule pack hash.
// - A fatal idempotent-producer error (RD_KAFKA_RESP_ERR__FATAL, e.g. a sequence
//   desynchronisation) is recovered in process (RetryingProducer, producer.h): a new producer
//   takes over and every unacknowledged alert and dead letter of the unfinished items is
//   produced again; the consumer and its assignment stay. Only when that happens
//   max_fatal_producer_errors times within fatal_window does the pipeline stop storing offsets
//   and set fatal() (kProducer): the daemon exits non-zero; unstored items are re-consumed
//   after the restart.
// - A fatal consumer error sets fatal() too: kFenced when another live member uses the same
//   group.instance.id (static membership), kConsumer otherwise.
//
// The client layer under it: client.h (handles, defaults, creation), consumer.h, producer.h,
// output_messages.h (alert headers, dead-letter encoding).
//
// Threading: Create/Start/Stop/Abort from one controlling thread; the getters from any thread.
// The pipeline owns its threads and librdkafka handles; the PackHolder and Stats it is given
// must outlive it. Its threads are named for top -H and perf: sw-consumer, sw-worker-N and
// sw-producer (delivery reports, retries), beside librdkafka's rdk:main and rdk:broker<N> of
// each client. The consumer thread hands the workers what one poll round took (up to 64
// messages, never past an in-flight limit) at once; workers take up to 32 items at a time and
// give the finished ones back per batch.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "steppewatch/kafka/client_statistics.h"
#include "steppewatch/pipeline/backpressure.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::kafka {

// Why the pipeline cannot go on (fatal()).
enum class FatalKind {
  kNone,
  kProducer,  // fatal producer errors kept coming after in-process recovery
  kFenced,    // another live group member uses this group.instance.id
  kConsumer,  // any other fatal consumer error
};

// Makes a worker's ItemProcessor for a pack (default: pipeline::ItemProcessor::Create). Tests
// may substitute one; the daemon uses the default.
using ProcessorFactory = std::function<absl::StatusOr<std::unique_ptr<pipeline::ItemProcessor>>(
    std::shared_ptr<const rules::CompiledPack> pack, const pipeline::ProcessorOptions&)>;

struct PipelineOptions {
  // bootstrap.servers of both clients.
  std::string brokers;
  std::string group_id = "steppewatch";
  std::string client_id = "steppewatch";
  // group.instance.id (static membership, see consumer.h); empty = dynamic membership.
  std::string instance_id;
  std::vector<std::string> input_topics;
  std::string dead_letter_topic = "steppewatch.dead-letter";
  // librdkafka properties passed through verbatim (security.protocol, sasl.*, ssl.*, tuning).
  // The pipeline then forces what its guarantee depends on (consumer: group.id,
  // enable.auto.offset.store=false, enable.auto.commit=true; producer:
  // enable.idempotence=true) and fills its defaults where a key is absent (see
  // client.h: DefaultProperties).
  std::map<std::string, std::string> consumer_properties;
  std::map<std::string, std::string> producer_properties;
  // Worker threads; 0 = std::thread::hardware_concurrency().
  int workers = 0;
  pipeline::InFlightLimits limits;
  // Backpressure in two stages. At the in-flight limit the consumer thread first *holds*: it
  // takes nothing more from librdkafka, whose prefetch queue keeps what it fetched (bounded by
  // queued.max.messages.kbytes), until the workers are below resume_fraction. Only a hold that
  // lasts hold_before_pause (the outputs are stalled: an outage, an unavailable alert topic)
  // becomes a pause of every assigned partition, which drops the prefetched data and lets the
  // thread poll again, so rebalances are served while it waits. Pausing at once instead was
  // measured to starve the workers (each resume refetches what the pause dropped): half the
  // throughput on the e2e harness. 1 s: many times the time the workers need to drain half the
  // limit, and the longest a rebalance waits for a holding member.
  absl::Duration hold_before_pause = absl::Seconds(1);
  // How long a revoke waits for the revoked partitions' in-flight items before abandoning them.
  // Below max.poll.interval.ms (300 s) by far; 10 s covers a full in-flight window many times.
  absl::Duration revoke_drain_timeout = absl::Seconds(10);
  // The producer gives up (fatal(), kProducer) after this many fatal errors within
  // fatal_window; each one before is recovered in process (see producer.h for the choice).
  int max_fatal_producer_errors = 3;
  absl::Duration fatal_window = absl::Seconds(60);
  // Where the clients' statistics go for /metrics (not owned; must outlive the pipeline).
  // Null: the pipeline keeps its own (client_statistics()).
  ClientStatistics* client_statistics = nullptr;
  pipeline::ProcessorOptions processor;
  ProcessorFactory processor_factory;  // empty = the real ItemProcessor
};

class KafkaPipeline {
 public:
  // Creates the clients (nothing is consumed before Start()). `packs` and `stats` are not owned;
  // `stats` must have been made with num_workers() workers (see ResolveWorkers()).
  static absl::StatusOr<std::unique_ptr<KafkaPipeline>> Create(PipelineOptions options,
                                                               pipeline::PackHolder* packs,
                                                               pipeline::Stats* stats);
  // Returns options.workers, or the number of cores when it is 0.
  static int ResolveWorkers(int workers);

  ~KafkaPipeline();  // Stop(0) if still running
  KafkaPipeline(const KafkaPipeline&) = delete;
  KafkaPipeline& operator=(const KafkaPipeline&) = delete;

  // Subscribes and starts the consumer, worker and producer threads.
  absl::Status Start();

  // Graceful stop within `budget` (see the file comment). Returns OK when everything in flight
  // finished and was stored; DeadlineExceeded (with the count) when items had to be abandoned.
  // Idempotent.
  absl::Status Stop(absl::Duration budget);

  // Returns true once a fatal Kafka error happened that the pipeline cannot recover from; the
  // caller should exit non-zero. fatal_kind() says which.
  bool fatal() const;
  FatalKind fatal_kind() const;
  // Blocks until fatal() or `deadline`; the daemon's main loop waits on this with its tick.
  bool WaitFatal(absl::Time deadline) const;

  int num_workers() const;
  // Items finished (processed and acked) since Start: for tests and the demo's exit condition.
  uint64_t items_finished() const;
  // Fatal producer errors recovered in process since Create.
  int producer_recoveries() const;
  // The clients' statistics (options.client_statistics, or the pipeline's own).
  const ClientStatistics& client_statistics() const;

  // Tests only: raises the fatal error `rd_kafka_resp_err` on the producer (or the consumer),
  // as librdkafka does (rd_kafka_test_fatal_error).
  absl::Status InjectFatalErrorForTesting(bool producer, int rd_kafka_resp_err);
  // Tests only: a property as the consumer (or producer) client was configured.
  std::optional<std::string> ClientPropertyForTesting(bool producer, std::string_view name) const;

 private:
  class Impl;
  explicit KafkaPipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace steppewatch::kafka
