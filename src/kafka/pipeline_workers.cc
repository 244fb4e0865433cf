// KafkaPipeline's workers (see pipeline_impl.h): process each item with the worker's
// ItemProcessor, produce its alerts or its dead letter, and finish it when every delivery is
// acknowledged (the producer's outcomes arrive through ProducerEvents).
#include <string>

#include "absl/container/flat_hash_set.h"
#include "kafka/pipeline_impl.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/log.h"
#include "steppewatch/kafka/output_messages.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::kafka {
namespace {
constexpr char kLog[] = "kafka";
}  // namespace

using internal::Item;

namespace {
// Asks for `item`'s message and partition flag (or, once those are in, the payload's first
// lines) ahead of its processing.
void Prefetch(const Item* item, bool payload) {
  const rd_kafka_message_t* msg = item->msg;
  if (!payload) {
    __builtin_prefetch(msg);
    __builtin_prefetch(item->partition);
    return;
  }
  // The payload sits in a fetch buffer librdkafka filled long ago (a prefetch queue of ~100k
  // messages is far larger than the caches), and the decoder's UTF-8 check reads all of it
  // first. 4 KiB covers the typical item (~0.8 KB); the hardware prefetcher follows the rest.
  const char* p = static_cast<const char*>(msg->payload);
  if (p == nullptr) return;
  for (size_t off = 0; off < 4096 && off < msg->len; off += 64) __builtin_prefetch(p + off);
}
}  // namespace

void KafkaPipeline::Impl::WorkerLoop(int index) {
  pipeline::WorkerStats& ws = stats_->worker(index);
  std::unique_ptr<pipeline::ItemProcessor> processor;
  uint64_t generation = 0;
  std::string pack_label = "none";
  // Alert topics this worker registered for the produced-messages counters: registering takes
  // a lock, this lookup does not.
  absl::flat_hash_set<std::string> registered;
  // 32 items per wake-up: amortises the queue lock without starving the other workers.
  constexpr size_t kBatch = 32;
  static_assert(kBatch <= internal::FinishedItems::kMax);
  Item* batch[kBatch];
  // The batch's finished items, given back to the pool and the limiter after the batch.
  internal::FinishedItems done;
  internal::WorkerBatchTimes times;
  for (;;) {
    bool closed = false;
    // Idle workers wake every 500 ms to beat (the liveness probe's heartbeat).
    const size_t n = queue_.PopBatch(batch, kBatch, absl::Milliseconds(500), &closed);
    // Also the first item's start: each item then starts where the previous one ended.
    int64_t now_ns = pipeline::Stats::SteadyNowNanos();
    ws.heartbeat_steady_ns.store(now_ns, std::memory_order_relaxed);
    if (n == 0 && closed) break;
    // The items, their messages and payloads were last written on other cores (the consumer
    // thread, librdkafka's broker thread): each first touch is a cache miss, measured as most
    // of the workers' own per-item time outside the ItemProcessor. Loads issued one and two
    // items ahead overlap them with the current item's processing.
    for (size_t i = 0; i < n; ++i) __builtin_prefetch(batch[i]);
    if (n > 0) Prefetch(batch[0], /*payload=*/false);
    for (size_t i = 0; i < n; ++i) {
      if (i + 1 < n) Prefetch(batch[i + 1], /*payload=*/true);
      if (i + 2 < n) Prefetch(batch[i + 2], /*payload=*/false);
      Item* item = batch[i];
      if (item->partition->abandoned()) {
        Unref(item, &done);  // revoked/lost/out of budget: the new owner re-processes it
        continue;
      }
      const uint64_t g = packs_->generation();
      if (processor == nullptr || g != generation) {
        std::shared_ptr<const rules::CompiledPack> pack = packs_->Get();
        auto made = options_.processor_factory
                        ? options_.processor_factory(pack, options_.processor)
                        : pipeline::ItemProcessor::Create(pack, options_.processor);
        if (made.ok()) {
          processor = *std::move(made);
          generation = g;
          if (pack != nullptr) {
            pack_label =
                log::Cat(pack->info().name, "@", pack->info().version, " ", pack->info().hash);
            ws.BeginPack(g, pack, pack->rules().size());
          }
        } else if (processor == nullptr) {
          // No processor at all: the item cannot be processed. Abandoning would stall the
          // partition silently; dead-lettering keeps the data and says why.
          SW_LOG_EVERY(kError, kLog, 10000, "worker ", index,
                       ": cannot build an ItemProcessor: ", made.status());
        } else {
          SW_LOG_EVERY(
              kError, kLog, 10000, "worker ", index,
              ": cannot build an ItemProcessor for the new pack, keeping the old: ", made.status());
          generation = g;
        }
        now_ns = pipeline::Stats::SteadyNowNanos();  // building a processor is not the item's
      }
      now_ns =
          ProcessItem(index, processor.get(), item, pack_label, &registered, now_ns, &times, &done);
    }
    times.FlushInto(&ws);
    ReleaseFinished(&done);
  }
}

int64_t KafkaPipeline::Impl::ProcessItem(int index, pipeline::ItemProcessor* processor, Item* item,
                                         const std::string& pack_label,
                                         absl::flat_hash_set<std::string>* registered,
                                         int64_t start_ns, internal::WorkerBatchTimes* times,
                                         internal::FinishedItems* done) {
  pipeline::WorkerStats& ws = stats_->worker(index);
  rd_kafka_message_t* msg = item->msg;
  pipeline::Origin origin;
  // The tracker's copy of the name: rd_kafka_topic_name() reads librdkafka's topic object,
  // whose cache line its broker thread keeps writing (a miss per item).
  origin.topic = item->partition->topic();
  origin.partition = msg->partition;
  origin.offset = msg->offset;
  origin.timestamp_ms = item->timestamp_ms;
  // An undecodable offset (HandleUndecodable) carries librdkafka's error, not the record.
  const bool undecodable = msg->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  const std::string_view payload =
      undecodable ? std::string_view()
                  : std::string_view(static_cast<const char*>(msg->payload), msg->len);

  const int64_t t0 = start_ns;
  times->queue_wait.ObserveNanos(t0 - item->consumed_steady_ns);
  std::string_view reason = "processor_error";
  // A view: a std::string here was a heap allocation per item (the text is longer than the
  // small-string buffer); the string is built only for a dead letter.
  std::string_view reason_message = "no ItemProcessor could be built for the rule pack";
  const pipeline::Outcome* outcome = nullptr;
  if (undecodable) {
    reason = "undecodable";
    reason_message = rd_kafka_message_errstr(msg);
  } else if (processor != nullptr) {
    outcome = &processor->Process(payload, origin);
    if (outcome->kind == pipeline::Outcome::Kind::kDeadLetter) {
      reason = outcome->reason;
      reason_message = outcome->message;
    }
  }
  // Also the heartbeat after the item and, unless something is produced below, the next item's
  // start.
  const int64_t t1 = pipeline::Stats::SteadyNowNanos();
  times->processing_time.ObserveNanos(t1 - t0);
  ws.items_processed.Add();
  bool produced = true;

  if (outcome != nullptr && outcome->kind != pipeline::Outcome::Kind::kDeadLetter) {
    ws.bytes_scanned.Add(outcome->bytes_scanned);
    times->match_time.ObserveNanos(outcome->match_nanos);
    ws.hits.Add(outcome->hits);
    for (uint32_t rule : outcome->fired_rules) ws.CountRule(rule);
    // An alert larger than the producer's message.max.bytes (say, a matching item with a 1 MB
    // title) would be refused at every retry and hold its partition forever: the item goes to
    // the dead-letter topic instead, whole, so nothing is lost and the partition moves on.
    // Decided before anything is produced, so an item is either alerted or dead-lettered.
    std::string oversize;
    if (outcome->kind == pipeline::Outcome::Kind::kAlerts) {
      for (const pipeline::AlertMessage& alert : outcome->alerts) {
        const size_t bytes = AlertSize(alert);
        if (bytes > max_message_bytes_) {
          oversize =
              log::Cat("the alert for ", alert.topic, " would be ", bytes,
                       " bytes, over the producer's message.max.bytes (", max_message_bytes_, ")");
          break;
        }
      }
    }
    if (!oversize.empty()) {
      ProduceDeadLetter(index, item, "render_error", oversize, pack_label);
    } else if (outcome->kind != pipeline::Outcome::Kind::kAlerts) {
      produced = false;
    } else {
      ws.items_matched.Add();
      for (const pipeline::AlertMessage& alert : outcome->alerts) {
        const absl::string_view topic(alert.topic.data(), alert.topic.size());
        if (!registered->contains(topic)) {
          stats_->delivery().produced.Register(std::string(alert.topic));
          registered->insert(std::string(alert.topic));
        }
        Produce(item, alert.topic, alert.key, alert.value, AlertHeaders(alert.headers), 0);
      }
    }
  } else {
    ProduceDeadLetter(index, item, reason, std::string(reason_message), pack_label);
  }
  Unref(item, done);  // the processing reference
  ws.heartbeat_steady_ns.store(t1, std::memory_order_relaxed);
  // Producing can take long (a full producer queue blocks): it is not the next item's time.
  return produced ? pipeline::Stats::SteadyNowNanos() : t1;
}

void KafkaPipeline::Impl::ProduceDeadLetter(int index, Item* item, std::string_view reason,
                                            const std::string& reason_message,
                                            const std::string& pack_label) {
  const size_t r = pipeline::DeadLetterReasonIndex(reason);
  stats_->worker(index).dead_letters[r].Add();
  item->dead_letter = true;
  item->dead_letter_reason = static_cast<uint8_t>(r);
  const DeadLetter letter =
      EncodeDeadLetter(*item->msg, item->timestamp_ms, pipeline::kDeadLetterReasons[r],
                       reason_message, pack_label, max_message_bytes_);
  Produce(item, options_.dead_letter_topic, letter.key, letter.value, letter.headers,
          letter.timestamp_ms);
}

void KafkaPipeline::Impl::Produce(Item* item, std::string_view topic, std::string_view key,
                                  std::string_view value, rd_kafka_headers_t* headers,
                                  int64_t timestamp_ms) {
  item->pending.fetch_add(1, std::memory_order_acq_rel);
  producer_->Produce(topic, key, value, headers, timestamp_ms, item, /*block=*/true);
}

void KafkaPipeline::Impl::Unref(Item* item, internal::FinishedItems* done) {
  if (item->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  rd_kafka_message_destroy(item->msg);
  item->msg = nullptr;
  if (done != nullptr) {
    if (done->n == internal::FinishedItems::kMax) ReleaseFinished(done);
    done->items[done->n++] = item;
    done->bytes += item->bytes;
    return;
  }
  item->partition->Finish(item->seq);
  const size_t bytes = item->bytes;
  pool_.Release(&item, 1);
  items_finished_.fetch_add(1, std::memory_order_relaxed);
  limiter_->Release(bytes);
}

void KafkaPipeline::Impl::ReleaseFinished(internal::FinishedItems* done) {
  if (done->n == 0) return;
  uint64_t seqs[internal::FinishedItems::kMax];
  for (size_t i = 0; i < done->n;) {
    pipeline::PartitionOffsets* partition = done->items[i]->partition;
    size_t run = 0;
    for (; i < done->n && done->items[i]->partition == partition; ++i) {
      seqs[run++] = done->items[i]->seq;
    }
    partition->FinishMany(seqs, run);
  }
  pool_.Release(done->items, done->n);
  items_finished_.fetch_add(done->n, std::memory_order_relaxed);
  limiter_->Release(done->bytes, done->n);
  done->n = 0;
  done->bytes = 0;
}

// ---------------------------------------------------------------------------------------------
// Delivery outcomes (the producer's poll thread)

void KafkaPipeline::Impl::ProducerEvents::OnDelivered(const rd_kafka_message_t& msg) {
  impl_->OnDelivered(msg);
}
void KafkaPipeline::Impl::ProducerEvents::OnDeliveryFailed(const rd_kafka_message_t& msg) {
  impl_->OnDeliveryFailed(msg);
}
void KafkaPipeline::Impl::ProducerEvents::OnRetryScheduled(void*) {
  impl_->stats_->delivery().produce_retries.Add();
}
void KafkaPipeline::Impl::ProducerEvents::OnDiscarded(void* opaque) {
  impl_->OnDiscarded(static_cast<Item*>(opaque));
}
void KafkaPipeline::Impl::ProducerEvents::OnStatistics(std::string_view json) {
  absl::StatusOr<ParsedClientStatistics> parsed = ParseClientStatistics(json, "producer");
  if (!parsed.ok()) {
    SW_LOG_EVERY(kWarning, kLog, 60000, "producer statistics: ", parsed.status());
    return;
  }
  impl_->client_stats_->Update("producer", *std::move(parsed));
}

void KafkaPipeline::Impl::OnDelivered(const rd_kafka_message_t& msg) {
  Item* item = static_cast<Item*>(msg._private);
  pipeline::TopicCounters* counters =
      stats_->delivery().produced.Find(rd_kafka_topic_name(msg.rkt));
  if (counters != nullptr) {
    counters->messages.Add();
    counters->bytes.Add(msg.len);
  }
  if (item->dead_letter) {
    stats_->delivery().dead_letters_produced[item->dead_letter_reason].Add();
  } else if (item->timestamp_ms > 0) {
    stats_->delivery().end_to_end_latency.ObserveNanos((WallMillis() - item->timestamp_ms) *
                                                       1000000);
  }
  std::atomic<bool>& down = stats_->health().all_brokers_down;  // read first: see HandleMessage
  if (down.load(std::memory_order_relaxed) && down.exchange(false)) {
    SW_LOG(kInfo, kLog, "brokers reachable again: delivering");
  }
  Unref(item);
}

void KafkaPipeline::Impl::OnDeliveryFailed(const rd_kafka_message_t& msg) {
  const Item* item = static_cast<const Item*>(msg._private);
  const char* topic = rd_kafka_topic_name(msg.rkt);
  if (pipeline::TopicCounters* counters = stats_->delivery().produced.Find(topic)) {
    counters->failed.Add();
  }
  SW_LOG_EVERY(kWarning, kLog, 10000, "delivery to ", topic, " failed: ", rd_kafka_err2str(msg.err),
               "; re-producing with backoff (input offset ", item->msg->offset, " of partition ",
               item->msg->partition, " stays unstored)");
}

void KafkaPipeline::Impl::OnDiscarded(Item* item) {
  // Past the stop budget: give up on this message. Its item must never count as delivered, so
  // its partition is abandoned first (normally it already is: the consumer's close abandoned
  // every partition that was not idle); then the item can be released.
  item->partition->Abandon();
  Unref(item);
}

}  // namespace steppewatch::kafka
