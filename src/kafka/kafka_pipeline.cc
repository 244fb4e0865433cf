// KafkaPipeline (see kafka_pipeline.h for the guarantee). Reading order: Item and its pool, the
// work queue, then Impl: configuration, the consumer thread (poll, dispatch, rebalance, store,
// pause/resume), the workers, the producer (produce, delivery reports, retries), Stop.
#include "steppewatch/kafka/kafka_pipeline.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "steppewatch/common/log.h"
#include "steppewatch/common/notification.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/kafka/consumer_lag.h"
#include "steppewatch/pipeline/offset_tracker.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::kafka {
namespace {

constexpr char kLog[] = "kafka";

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One input message between consume and "finished". `pending` counts the references that
// must go before the item is finished: 1 for the worker's processing plus 1 per produced
// message not yet acknowledged. Whoever drops it to 0 finishes the item.
struct Item {
  rd_kafka_message_t* msg = nullptr;
  std::shared_ptr<pipeline::PartitionOffsets> partition;
  uint64_t seq = 0;
  std::atomic<int32_t> pending{0};
  size_t bytes = 0;
  int64_t timestamp_ms = -1;
  int64_t consumed_steady_ns = 0;  // when the consumer thread queued it (queue-wait histogram)
  uint8_t dead_letter_reason = 0;
  bool dead_letter = false;
  Item* next_free = nullptr;
};

// Recycles Items so the steady state allocates none. The pool holds at most what was ever in
// flight at once, which the in-flight limiter bounds.
class ItemPool {
 public:
  ~ItemPool() {
    while (free_ != nullptr) {
      Item* next = free_->next_free;
      delete free_;
      free_ = next;
    }
  }
  Item* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_ != nullptr) {
        Item* item = free_;
        free_ = item->next_free;
        item->next_free = nullptr;
        return item;
      }
    }
    return new Item();
  }
  void Release(Item* item) {
    item->msg = nullptr;
    item->partition.reset();
    item->dead_letter = false;
    item->dead_letter_reason = 0;
    std::lock_guard<std::mutex> lock(mu_);
    item->next_free = free_;
    free_ = item;
  }

 private:
  // std::mutex (not absl::Mutex) everywhere here: Debian's libabsl is not TSan-instrumented.
  std::mutex mu_;
  Item* free_ = nullptr;  // guarded by mu_
};

// The queue from the consumer thread to the workers: one shared FIFO, so any worker takes any
// item (per-partition order of processing is not needed: offsets are tracked per item, and one
// busy partition must not idle the other workers). Unbounded in type, bounded in practice by
// the in-flight limiter; a growable ring allocates only when it grows.
class WorkQueue {
 public:
  WorkQueue() : ring_(1024) {}

  void Push(Item* item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (size_ == ring_.size()) {
      std::vector<Item*> bigger(ring_.size() * 2);
      for (size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
      ring_ = std::move(bigger);
      head_ = 0;
    }
    ring_[(head_ + size_) % ring_.size()] = item;
    ++size_;
    ready_.notify_one();
  }

  // Takes up to `max` items, waiting up to `wait` for the first. Returns 0 on timeout or when
  // closed and empty (`*closed` tells which).
  size_t PopBatch(Item** out, size_t max, absl::Duration wait, bool* closed) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return size_ > 0 || closed_; });
    *closed = closed_ && size_ == 0;
    size_t n = 0;
    while (n < max && size_ > 0) {
      out[n++] = ring_[head_];
      head_ = (head_ + 1) % ring_.size();
      --size_;
    }
    return n;
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ready_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;  // notified on Push (one item) and Close (everyone)
  // Guarded by mu_:
  std::vector<Item*> ring_;
  size_t head_ = 0;
  size_t size_ = 0;
  bool closed_ = false;
};

// A message whose delivery failed (or whose produce call failed), kept for another attempt.
struct Retry {
  std::string topic;
  std::string key;
  bool has_key = false;
  std::string value;
  rd_kafka_headers_t* headers = nullptr;  // owned
  int64_t timestamp_ms = 0;               // 0 = now (alerts); the original (dead letters)
  Item* item = nullptr;
  int attempts = 0;
  absl::Time due;
};

// Backoff of re-produced messages: 0.5 s doubling to 30 s. librdkafka already retried each
// message for message.timeout.ms before it failed, so these are outages of minutes: a slow,
// steady retry is enough and keeps the log and the broker quiet.
absl::Duration RetryBackoff(int attempts) {
  absl::Duration d = absl::Milliseconds(500);
  for (int i = 1; i < attempts && d < absl::Seconds(30); ++i) d *= 2;
  return std::min(d, absl::Seconds(30));
}

using PropertyMap = std::map<std::string, std::string>;

// Counts per-rule matches when the Outcome says which rules fired (a `fired_rules` list of rule
// indices); compiles to nothing against an Outcome without it.
template <typename O>
void CountFiredRules(const O& outcome, pipeline::WorkerStats& ws) {
  if constexpr (requires { outcome.fired_rules; }) {
    for (auto rule : outcome.fired_rules) ws.CountRule(static_cast<uint32_t>(rule));
  }
}

// Consumer defaults (the user's map wins unless a key is forced).
PropertyMap DefaultConsumerProperties() {
  return {
      // cooperative-sticky can abort librdkafka 2.0.2 (an assertion in the sticky assignor when
      // consumers close during a rebalance, fixed in 2.3.0); the rebalance callback
      // handles both protocols, so switching later is configuration only.
      {"partition.assignment.strategy", "range,roundrobin"},
      {"auto.offset.reset", "earliest"},
      // librdkafka 2.0.2 backs off a full second when the prefetch queue is full (no
      // fetch.queue.backoff.ms before 2.2):
      // hold about a second of input at the measured ~80-100k items/s of ~3 KB.
      {"queued.min.messages", "100000"},
      {"queued.max.messages.kbytes", "262144"},
      // Lag for the metrics every 5 s (a scrape is every 15 s).
      {"statistics.interval.ms", "5000"},
      {"enable.partition.eof", "false"},
  };
}

PropertyMap DefaultProducerProperties() {
  return {
      // Batches of a few ms: alerts are small and latency is a product metric.
      {"linger.ms", "5"},
  };
}

absl::Status ApplyProperties(rd_kafka_conf_t* conf, const PropertyMap& props) {
  char err[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(log::Cat("librdkafka property '", key, "': ", err));
    }
  }
  return absl::OkStatus();
}

// librdkafka's own log lines, mapped to ours (syslog levels: 0..3 error, 4 warning, 5..6 info).
void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const log::Level ours = level <= 3   ? log::Level::kError
                          : level == 4 ? log::Level::kWarning
                          : level <= 6 ? log::Level::kInfo
                                       : log::Level::kDebug;
  // A broker outage makes librdkafka log every reconnect attempt: one line per 10 s is enough.
  static log::RateLimiter limiter(10000);
  if (!log::Enabled(ours)) return;
  log::LimitedLine(limiter, ours, "librdkafka", log::Cat(rd_kafka_name(rk), " ", fac, ": ", buf));
}

}  // namespace

class KafkaPipeline::Impl {
 public:
  Impl(PipelineOptions options, pipeline::PackHolder* packs, pipeline::Stats* stats)
      : options_(std::move(options)), packs_(packs), stats_(stats) {
    limiter_ = std::make_unique<pipeline::InFlightLimiter>(options_.limits, &stats_->health(),
                                                           [this] { WakeConsumer(); });
  }

  ~Impl() {
    (void)Stop(absl::ZeroDuration());
    if (consumer_queue_ != nullptr) rd_kafka_queue_destroy(consumer_queue_);
    if (consumer_ != nullptr) rd_kafka_destroy(consumer_);
    if (producer_ != nullptr) rd_kafka_destroy(producer_);
  }

  absl::Status Init();
  absl::Status Start();
  absl::Status Stop(absl::Duration budget);

  bool fatal() const { return fatal_.HasBeenNotified(); }
  bool WaitFatal(absl::Time deadline) const {
    return fatal_.WaitForNotificationWithDeadline(deadline);
  }
  int num_workers() const { return num_workers_; }
  uint64_t items_finished() const { return items_finished_.load(std::memory_order_relaxed); }

 private:
  struct PartitionEntry {
    std::shared_ptr<pipeline::PartitionOffsets> offsets;
    // The last consume error at an offset of this partition, and how often it repeated.
    int64_t error_offset = -1;
    int error_repeats = 0;
  };
  struct TopicEntry {
    pipeline::TopicCounters* consumed = nullptr;
    absl::flat_hash_map<int32_t, PartitionEntry> partitions;
  };

  // --- consumer thread ---
  void ConsumerLoop();
  void HandleMessage(rd_kafka_message_t* msg);
  // A consume error that repeats at one offset: dead-letters that offset and seeks past it.
  // Returns true when it took ownership of `msg`.
  bool HandleUndecodable(rd_kafka_message_t* msg);
  void StoreCommittable();
  void ApplyBackpressure();
  void SetPaused(bool paused);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void OnAssign(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  void OnRevoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  void OnStatistics(std::string_view json);
  void OnClientError(rd_kafka_t* rk, int err, const char* reason);
  void WakeConsumer() {
    if (consumer_queue_ != nullptr) rd_kafka_queue_yield(consumer_queue_);
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      wake_pending_ = true;
    }
    wake_cv_.notify_one();
  }
  // Consumer thread, while holding input: sleeps until WakeConsumer() or `deadline`.
  void WaitForWake(absl::Time deadline) {
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return wake_pending_; });
    wake_pending_ = false;
  }
  void MaybeStore(absl::Time now) {
    if (now < next_store_) return;
    // Every 50 ms: often enough that auto-commit (5 s) always sees fresh offsets, rare enough
    // that walking the partitions costs nothing per item.
    StoreCommittable();
    next_store_ = now + absl::Milliseconds(50);
  }
  TopicEntry* FindTopic(std::string_view name) {
    auto it = topics_.find(absl::string_view(name.data(), name.size()));
    return it == topics_.end() ? nullptr : &it->second;
  }

  // --- workers ---
  void WorkerLoop(int index);
  void ProcessItem(int index, pipeline::ItemProcessor* processor, Item* item,
                   absl::flat_hash_map<std::string, rd_kafka_topic_t*>* topic_cache,
                   const std::string& pack_label);
  // Produces `item`'s dead letter: its original key, value (a prefix if too large), headers and
  // timestamp, plus the steppewatch.error.* headers.
  void ProduceDeadLetter(int index, Item* item, std::string_view reason,
                         const std::string& reason_message, const std::string& pack_label);
  // Drops one reference; the last one finishes the item.
  void Unref(Item* item);

  // --- producer ---
  void ProducerLoop();
  void Produce(Item* item, rd_kafka_topic_t* rkt, std::string_view key, std::string_view value,
               rd_kafka_headers_t* headers, int64_t timestamp_ms, bool from_worker);
  void OnDelivery(const rd_kafka_message_t* msg);
  void ScheduleRetry(Retry retry);
  void Discard(Retry& retry);
  void RunDueRetries();

  static void RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(err, partitions);
  }
  static int StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque) {
    static_cast<Impl*>(opaque)->OnStatistics(std::string_view(json, len));
    return 0;  // librdkafka frees the buffer
  }
  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    static_cast<Impl*>(opaque)->OnClientError(rk, err, reason);
  }
  static void DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    static_cast<Impl*>(opaque)->OnDelivery(msg);
  }

  PipelineOptions options_;
  pipeline::PackHolder* const packs_;
  pipeline::Stats* const stats_;
  int num_workers_ = 1;
  std::unique_ptr<pipeline::InFlightLimiter> limiter_;
  ItemPool pool_;
  WorkQueue queue_;

  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_queue_t* consumer_queue_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* dead_letter_rkt_ = nullptr;  // producer topic handle, owned
  size_t max_message_bytes_ = 1000000;           // the producer's message.max.bytes

  std::thread consumer_thread_;
  std::thread producer_thread_;
  std::vector<std::thread> worker_threads_;
  bool started_ = false;
  bool stopped_ = false;

  // Stop protocol, in order: stop_input_ (drop new messages, pause), stop_consumer_ (close),
  // then the workers' queue is closed, then stop_producer_.
  std::atomic<bool> stop_input_{false};
  std::atomic<bool> stop_consumer_{false};
  std::atomic<bool> stop_producer_{false};
  std::atomic<bool> discard_retries_{false};  // after the budget: give up re-producing
  Notification consumer_closed_;
  absl::Time stop_deadline_ = absl::InfiniteFuture();  // set before stop_input_
  mutable Notification fatal_;
  std::atomic<uint64_t> items_finished_{0};

  // Consumer-thread state (rebalance callbacks run on the consumer thread too).
  absl::flat_hash_map<std::string, TopicEntry> topics_;
  int assigned_count_ = 0;
  bool paused_ = false;
  // Backpressure, first stage: over the in-flight limit the consumer stops taking messages
  // from librdkafka (whose prefetch queue keeps them) until hold_until_, then pauses.
  bool holding_ = false;
  absl::Time hold_until_ = absl::InfinitePast();
  absl::Time next_store_ = absl::InfinitePast();

  // WakeConsumer() -> the holding consumer thread.
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool wake_pending_ = false;  // guarded by wake_mu_

  std::mutex retry_mu_;
  std::vector<Retry> retries_;  // guarded by retry_mu_
};

// ---------------------------------------------------------------------------------------------
// Configuration

absl::Status KafkaPipeline::Impl::Init() {
  if (options_.brokers.empty()) return absl::InvalidArgumentError("kafka: no brokers");
  if (options_.input_topics.empty()) return absl::InvalidArgumentError("kafka: no input topics");
  if (options_.dead_letter_topic.empty()) {
    return absl::InvalidArgumentError("kafka: no dead-letter topic");
  }
  num_workers_ = ResolveWorkers(options_.workers);
  if (stats_->num_workers() < num_workers_) {
    return absl::InvalidArgumentError(log::Cat("kafka: Stats has ", stats_->num_workers(),
                                               " worker slots, the pipeline needs ", num_workers_));
  }
  char err[512];

  // Consumer.
  PropertyMap consumer = DefaultConsumerProperties();
  for (const auto& [k, v] : options_.consumer_properties) consumer[k] = v;
  consumer["bootstrap.servers"] = options_.brokers;
  consumer["group.id"] = options_.group_id;
  consumer["client.id"] = options_.client_id;
  // The guarantee: we store offsets ourselves, only for finished items; librdkafka commits
  // what we stored (periodically, on revoke and on close).
  consumer["enable.auto.offset.store"] = "false";
  consumer["enable.auto.commit"] = "true";
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  absl::Status st = ApplyProperties(conf, consumer);
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, &RebalanceCb);
  rd_kafka_conf_set_stats_cb(conf, &StatsCb);
  rd_kafka_conf_set_error_cb(conf, &ErrorCb);
  rd_kafka_conf_set_log_cb(conf, &LogCallback);
  consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (consumer_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(log::Cat("kafka consumer: ", err));
  }
  rd_kafka_poll_set_consumer(consumer_);
  consumer_queue_ = rd_kafka_queue_get_consumer(consumer_);

  // Producer.
  PropertyMap producer = DefaultProducerProperties();
  for (const auto& [k, v] : options_.producer_properties) producer[k] = v;
  producer["bootstrap.servers"] = options_.brokers;
  producer["client.id"] = options_.client_id;
  // No duplicates from librdkafka's own retries, per-partition order, acks=all.
  producer["enable.idempotence"] = "true";
  conf = rd_kafka_conf_new();
  st = ApplyProperties(conf, producer);
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &DeliveryCb);
  rd_kafka_conf_set_error_cb(conf, &ErrorCb);
  rd_kafka_conf_set_log_cb(conf, &LogCallback);
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (producer_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(log::Cat("kafka producer: ", err));
  }
  dead_letter_rkt_ = rd_kafka_topic_new(producer_, options_.dead_letter_topic.c_str(), nullptr);
  {
    char value[64];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(rd_kafka_conf(producer_), "message.max.bytes", value, &size) ==
        RD_KAFKA_CONF_OK) {
      max_message_bytes_ = std::strtoull(value, nullptr, 10);
    }
  }
  stats_->delivery().produced.Register(options_.dead_letter_topic);
  for (const std::string& t : options_.input_topics) stats_->consumer().consumed.Register(t);
  stats_->health().consumer_created.store(true);
  return absl::OkStatus();
}

absl::Status KafkaPipeline::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("kafka pipeline already started");
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(options_.input_topics.size()));
  for (const std::string& t : options_.input_topics) {
    rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(log::Cat("kafka subscribe: ", rd_kafka_err2str(err)));
  }
  started_ = true;
  producer_thread_ = std::thread([this] { ProducerLoop(); });
  for (int i = 0; i < num_workers_; ++i) {
    worker_threads_.emplace_back([this, i] { WorkerLoop(i); });
  }
  consumer_thread_ = std::thread([this] { ConsumerLoop(); });
  SW_LOG(kInfo, kLog, "consuming ", options_.input_topics.size(), " topic(s) as group '",
         options_.group_id, "' with ", num_workers_, " worker(s)");
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Consumer thread

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
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_, kPollMs);
    if (msg != nullptr) HandleMessage(msg);
    MaybeStore(absl::Now());
    if (!stopping_seen) ApplyBackpressure();
  }
  StoreCommittable();
  // Close: triggers the revoke callback (drain-or-abandon, store, unassign) and commits.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kWarning, kLog, "consumer close: ", rd_kafka_err2str(err));
  }
  consumer_closed_.Notify();
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
  if (stats_->health().all_brokers_down.exchange(false)) {
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
  Item* item = pool_.Acquire();
  item->msg = msg;
  item->partition = p->offsets;
  item->seq = p->offsets->Begin(msg->offset);
  item->pending.store(1, std::memory_order_relaxed);
  item->bytes = msg->len;
  rd_kafka_timestamp_type_t ts_type;
  item->timestamp_ms = rd_kafka_message_timestamp(msg, &ts_type);
  if (item->timestamp_ms > 0) {
    stats_->consumer().consume_age.ObserveNanos((WallMillis() - item->timestamp_ms) * 1000000);
  }
  item->consumed_steady_ns = pipeline::Stats::SteadyNowNanos();
  limiter_->Admit(item->bytes);
  queue_.Push(item);
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
  rd_kafka_topic_partition_list_t* seek = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(seek, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
      msg->offset + 1;
  rd_kafka_error_t* error = rd_kafka_seek_partitions(consumer_, seek, 0);
  rd_kafka_topic_partition_list_destroy(seek);
  if (error != nullptr) {
    SW_LOG(kWarning, kLog, "seek past undecodable offset: ", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return false;
  }
  t->consumed->messages.Add();
  Item* item = pool_.Acquire();
  item->msg = msg;  // an error message: ProcessItem dead-letters it without processing
  item->partition = p.offsets;
  item->seq = p.offsets->Begin(msg->offset);
  item->pending.store(1, std::memory_order_relaxed);
  item->bytes = 0;
  item->timestamp_ms = -1;
  item->consumed_steady_ns = pipeline::Stats::SteadyNowNanos();
  limiter_->Admit(0);
  queue_.Push(item);
  return true;
}

void KafkaPipeline::Impl::StoreCommittable() {
  if (fatal()) return;  // a fatal producer error: store nothing more
  rd_kafka_topic_partition_list_t* list = nullptr;
  for (auto& [name, topic] : topics_) {
    for (auto& [id, partition] : topic.partitions) {
      const int64_t offset = partition.offsets->TakeCommittable();
      if (offset < 0) continue;
      if (list == nullptr) list = rd_kafka_topic_partition_list_new(8);
      rd_kafka_topic_partition_list_add(list, name.c_str(), id)->offset = offset;
    }
  }
  if (list == nullptr) return;
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_, list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG_EVERY(kWarning, kLog, 10000, "offsets_store: ", rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void KafkaPipeline::Impl::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer_, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (assignment->cnt > 0) {
      if (paused) {
        rd_kafka_pause_partitions(consumer_, assignment);
      } else {
        rd_kafka_resume_partitions(consumer_, assignment);
      }
    }
    rd_kafka_topic_partition_list_destroy(assignment);
  }
  paused_ = paused;
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
      if (paused_) SetPaused(false);
      break;
    case pipeline::InFlightLimiter::Decision::kNone:
      break;
  }
}

void KafkaPipeline::Impl::OnRebalance(rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t* partitions) {
  const char* protocol = rd_kafka_rebalance_protocol(consumer_);
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    OnAssign(partitions, cooperative);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    OnRevoke(partitions, cooperative);
  } else {
    SW_LOG(kError, kLog, "rebalance error: ", rd_kafka_err2str(err));
    rd_kafka_assign(consumer_, nullptr);
  }
}

void KafkaPipeline::Impl::OnAssign(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  for (int i = 0; i < partitions->cnt; ++i) {
    const auto& tp = partitions->elems[i];
    TopicEntry& topic = topics_[tp.topic];
    if (topic.consumed == nullptr) topic.consumed = stats_->consumer().consumed.Register(tp.topic);
    // A fresh tracker per assignment: items of an earlier assignment of the same partition
    // keep their own (abandoned or drained) tracker.
    topic.partitions[tp.partition].offsets =
        std::make_shared<pipeline::PartitionOffsets>(tp.topic, tp.partition);
  }
  assigned_count_ += partitions->cnt;
  stats_->consumer().rebalances[static_cast<int>(pipeline::RebalanceKind::kAssign)].Add();
  stats_->consumer().assigned_partitions.Set(assigned_count_);
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(consumer_, partitions)) {
      SW_LOG(kError, kLog, "incremental_assign: ", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(consumer_, partitions);
  }
  // Set the pause state of every newly assigned partition explicitly. Pause them if we are
  // paused (librdkafka does not pause new assignments). Resume them otherwise: librdkafka keeps the
  // application's pause flag on its partition object across unassign/assign, so a partition
  // we paused before a revoke would come back paused forever (found by the revoke test).
  if (partitions->cnt > 0) {
    if (paused_) {
      rd_kafka_pause_partitions(consumer_, partitions);
    } else {
      rd_kafka_resume_partitions(consumer_, partitions);
    }
    stats_->consumer().paused_partitions.Set(paused_ ? assigned_count_ : 0);
  }
  SW_LOG(kInfo, kLog, "assigned ", partitions->cnt, " partition(s) (", assigned_count_, " total, ",
         cooperative ? "cooperative" : "eager", ")");
}

void KafkaPipeline::Impl::OnRevoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  const bool lost = rd_kafka_assignment_lost(consumer_) != 0;
  stats_->consumer()
      .rebalances[static_cast<int>(lost ? pipeline::RebalanceKind::kLost
                                        : pipeline::RebalanceKind::kRevoke)]
      .Add();
  std::vector<std::shared_ptr<pipeline::PartitionOffsets>> revoked;
  for (int i = 0; i < partitions->cnt; ++i) {
    const auto& tp = partitions->elems[i];
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
    rd_kafka_topic_partition_list_t* store = rd_kafka_topic_partition_list_new(partitions->cnt);
    for (auto& p : revoked) {
      p->WaitIdle(deadline);
      const int64_t offset = fatal() ? -1 : p->TakeCommittable();
      if (offset >= 0) {
        rd_kafka_topic_partition_list_add(store, p->topic().c_str(), p->partition())->offset =
            offset;
      }
      const size_t left = p->in_flight();
      if (left > 0) {
        abandoned_items += left;
        p->Abandon();
      }
    }
    if (store->cnt > 0) {
      rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_, store);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SW_LOG(kWarning, kLog, "offsets_store on revoke: ", rd_kafka_err2str(err));
      }
      // Commit them now, synchronously: the partitions' next owner fetches the committed offset
      // as soon as the rebalance completes, and an auto-commit still in flight would make it
      // re-process what we just finished.
      err = rd_kafka_commit(consumer_, store, /*async=*/0);
      // The mock cluster (and brokers in some rebalance states) refuse it with
      // REBALANCE_IN_PROGRESS: then the new owner re-processes the items finished since the
      // last auto-commit (duplicates, counted by the revoke test, never losses).
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        SW_LOG(kInfo, kLog, "commit on revoke: ", rd_kafka_err2str(err),
               "; the partitions' next owner may re-process recent items");
      }
    }
    rd_kafka_topic_partition_list_destroy(store);
  }
  if (abandoned_items > 0) {
    SW_LOG(kWarning, kLog, lost ? "assignment lost" : "revoke drain timed out", ": abandoned ",
           abandoned_items, " in-flight item(s); they will be consumed again");
  }
  std::vector<std::pair<std::string, int32_t>> gone;
  for (auto& p : revoked) {
    gone.emplace_back(p->topic(), p->partition());
    if (TopicEntry* t = FindTopic(p->topic())) t->partitions.erase(p->partition());
  }
  stats_->RemoveConsumerLag(gone);
  assigned_count_ = std::max(0, assigned_count_ - partitions->cnt);
  stats_->consumer().assigned_partitions.Set(assigned_count_);
  stats_->consumer().paused_partitions.Set(paused_ ? assigned_count_ : 0);
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(consumer_, partitions)) {
      SW_LOG(kError, kLog, "incremental_unassign: ", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(consumer_, nullptr);
  }
  SW_LOG(kInfo, kLog, lost ? "lost " : "revoked ", partitions->cnt, " partition(s)");
}

void KafkaPipeline::Impl::OnStatistics(std::string_view json) {
  auto lags = ParseConsumerLag(json, [this](std::string_view topic, int32_t partition) {
    TopicEntry* t = FindTopic(topic);
    return t != nullptr && t->partitions.contains(partition);
  });
  if (!lags.ok()) {
    SW_LOG_EVERY(kWarning, kLog, 60000, "statistics: ", lags.status());
    return;
  }
  stats_->SetConsumerLag(*std::move(lags));
}

void KafkaPipeline::Impl::OnClientError(rd_kafka_t* rk, int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
    SW_LOG(kError, kLog, "FATAL ", rd_kafka_name(rk), " error: ", rd_kafka_err2name(orig), ": ",
           buf, "; exiting so the supervisor restarts us (unstored items are re-consumed)");
    if (!fatal_.HasBeenNotified()) fatal_.Notify();
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (!stats_->health().all_brokers_down.exchange(true)) {
      stats_->health().brokers_down_events.Add();
    }
    SW_LOG_EVERY(kWarning, kLog, 10000, "all brokers down (", rd_kafka_name(rk),
                 "): waiting for them; items stay unstored until delivered");
    return;
  }
  SW_LOG_EVERY(kWarning, kLog, 10000, rd_kafka_name(rk), ": ", rd_kafka_err2name(code), ": ",
               reason);
}

// ---------------------------------------------------------------------------------------------
// Workers

void KafkaPipeline::Impl::WorkerLoop(int index) {
  pipeline::WorkerStats& ws = stats_->worker(index);
  std::unique_ptr<pipeline::ItemProcessor> processor;
  uint64_t generation = 0;
  std::string pack_label = "none";
  absl::flat_hash_map<std::string, rd_kafka_topic_t*> topic_cache;
  // 32 items per wake-up: amortises the queue lock without starving the other workers.
  constexpr size_t kBatch = 32;
  Item* batch[kBatch];
  for (;;) {
    bool closed = false;
    // Idle workers wake every 500 ms to beat (the liveness probe's heartbeat).
    const size_t n = queue_.PopBatch(batch, kBatch, absl::Milliseconds(500), &closed);
    ws.heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(), std::memory_order_relaxed);
    if (n == 0 && closed) break;
    for (size_t i = 0; i < n; ++i) {
      Item* item = batch[i];
      if (item->partition->abandoned()) {
        Unref(item);  // revoked/lost/out of budget: the new owner re-processes it
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
      }
      ProcessItem(index, processor.get(), item, &topic_cache, pack_label);
    }
  }
  for (auto& [name, rkt] : topic_cache) rd_kafka_topic_destroy(rkt);
}

void KafkaPipeline::Impl::ProcessItem(
    int index, pipeline::ItemProcessor* processor, Item* item,
    absl::flat_hash_map<std::string, rd_kafka_topic_t*>* topic_cache,
    const std::string& pack_label) {
  pipeline::WorkerStats& ws = stats_->worker(index);
  rd_kafka_message_t* msg = item->msg;
  pipeline::Origin origin;
  origin.topic = rd_kafka_topic_name(msg->rkt);
  origin.partition = msg->partition;
  origin.offset = msg->offset;
  origin.timestamp_ms = item->timestamp_ms;
  // An undecodable offset (HandleUndecodable) carries librdkafka's error, not the record.
  const bool undecodable = msg->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  const std::string_view payload =
      undecodable ? std::string_view()
                  : std::string_view(static_cast<const char*>(msg->payload), msg->len);

  const int64_t t0 = pipeline::Stats::SteadyNowNanos();
  ws.queue_wait.ObserveNanos(t0 - item->consumed_steady_ns);
  std::string_view reason = "processor_error";
  std::string reason_message = "no ItemProcessor could be built for the rule pack";
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
  ws.processing_time.ObserveNanos(pipeline::Stats::SteadyNowNanos() - t0);
  ws.items_processed.Add();

  if (outcome != nullptr && outcome->kind != pipeline::Outcome::Kind::kDeadLetter) {
    ws.bytes_scanned.Add(outcome->bytes_scanned);
    ws.match_time.ObserveNanos(outcome->match_nanos);
    ws.hits.Add(outcome->hits);
    CountFiredRules(*outcome, ws);
    // An alert larger than the producer's message.max.bytes (say, a matching item with a 1 MB
    // title) would be refused at every retry and hold its partition forever: the item goes to
    // the dead-letter topic instead, whole, so nothing is lost and the partition moves on.
    // Decided before anything is produced, so an item is either alerted or dead-lettered.
    std::string oversize;
    if (outcome->kind == pipeline::Outcome::Kind::kAlerts) {
      for (const pipeline::AlertMessage& alert : outcome->alerts) {
        size_t bytes = alert.key.size() + alert.value.size();
        for (const pipeline::Header& h : alert.headers) bytes += h.name.size() + h.value.size() + 16;
        if (bytes > max_message_bytes_) {
          oversize = log::Cat("the alert for ", alert.topic, " would be ", bytes,
                              " bytes, over the producer's message.max.bytes (",
                              max_message_bytes_, ")");
          break;
        }
      }
    }
    if (!oversize.empty()) {
      ProduceDeadLetter(index, item, "render_error", oversize, pack_label);
    } else if (outcome->kind == pipeline::Outcome::Kind::kAlerts) {
      ws.items_matched.Add();
      for (const pipeline::AlertMessage& alert : outcome->alerts) {
        auto it = topic_cache->find(absl::string_view(alert.topic.data(), alert.topic.size()));
        if (it == topic_cache->end()) {
          const std::string name(alert.topic);
          stats_->delivery().produced.Register(name);
          it = topic_cache->emplace(name, rd_kafka_topic_new(producer_, name.c_str(), nullptr))
                   .first;
        }
        rd_kafka_headers_t* headers = rd_kafka_headers_new(alert.headers.size());
        for (const pipeline::Header& h : alert.headers) {
          rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                              h.value.data(), static_cast<ssize_t>(h.value.size()));
        }
        Produce(item, it->second, alert.key, alert.value, headers, 0, /*from_worker=*/true);
      }
    }
  } else {
    ProduceDeadLetter(index, item, reason, reason_message, pack_label);
  }
  Unref(item);  // the processing reference
  ws.heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(), std::memory_order_relaxed);
}

void KafkaPipeline::Impl::ProduceDeadLetter(int index, Item* item, std::string_view reason,
                                            const std::string& reason_message,
                                            const std::string& pack_label) {
  pipeline::WorkerStats& ws = stats_->worker(index);
  rd_kafka_message_t* msg = item->msg;
  const std::string_view origin_topic = rd_kafka_topic_name(msg->rkt);
  const std::string_view payload =
      msg->err != RD_KAFKA_RESP_ERR_NO_ERROR
          ? std::string_view()
          : std::string_view(static_cast<const char*>(msg->payload), msg->len);
  // Dead letter: the original key, value, headers and timestamp, plus why.
  const size_t r = pipeline::DeadLetterReasonIndex(reason);
  ws.dead_letters[r].Add();
  item->dead_letter = true;
  item->dead_letter_reason = static_cast<uint8_t>(r);
  rd_kafka_headers_t* original = nullptr;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &original) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    headers = rd_kafka_headers_copy(original);
  } else {
    headers = rd_kafka_headers_new(6);
  }
  const std::string reason_name(pipeline::kDeadLetterReasons[r]);
  const std::string partition = std::to_string(msg->partition);
  const std::string offset = std::to_string(msg->offset);
  rd_kafka_header_add(headers, "steppewatch.error.reason", -1, reason_name.data(),
                      static_cast<ssize_t>(reason_name.size()));
  rd_kafka_header_add(headers, "steppewatch.error.message", -1, reason_message.data(),
                      static_cast<ssize_t>(reason_message.size()));
  rd_kafka_header_add(headers, "steppewatch.error.topic", -1, origin_topic.data(),
                      static_cast<ssize_t>(origin_topic.size()));
  rd_kafka_header_add(headers, "steppewatch.error.partition", -1, partition.data(),
                      static_cast<ssize_t>(partition.size()));
  rd_kafka_header_add(headers, "steppewatch.error.offset", -1, offset.data(),
                      static_cast<ssize_t>(offset.size()));
  rd_kafka_header_add(headers, "steppewatch.error.rule_pack", -1, pack_label.data(),
                      static_cast<ssize_t>(pack_label.size()));
  const std::string_view key(static_cast<const char*>(msg->key), msg->key ? msg->key_len : 0);
  // A value that does not fit the producer's message.max.bytes (an item dead-lettered as
  // too_large may be bigger than what we may produce) is forwarded as a prefix, with its
  // original size in steppewatch.error.truncated: retrying it could never succeed and would
  // block the partition forever.
  std::string_view value = payload;
  size_t headers_bytes = 0;
  {
    const char* name;
    const void* v;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &v, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      headers_bytes += std::strlen(name) + size + 16;
    }
  }
  // 4 KiB: librdkafka's per-record framing and the truncation header, with room to spare.
  const size_t overhead = key.size() + headers_bytes + 4096;
  if (value.data() != nullptr && value.size() + overhead > max_message_bytes_) {
    const size_t keep = max_message_bytes_ > overhead ? max_message_bytes_ - overhead : 0;
    const std::string original = std::to_string(value.size());
    rd_kafka_header_add(headers, "steppewatch.error.truncated", -1, original.data(),
                        static_cast<ssize_t>(original.size()));
    value = value.substr(0, keep);
  }
  Produce(item, dead_letter_rkt_, msg->key ? key : std::string_view(), value, headers,
          item->timestamp_ms > 0 ? item->timestamp_ms : 0, /*from_worker=*/true);
}

void KafkaPipeline::Impl::Unref(Item* item) {
  if (item->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  item->partition->Finish(item->seq);
  const size_t bytes = item->bytes;
  rd_kafka_message_destroy(item->msg);
  pool_.Release(item);
  items_finished_.fetch_add(1, std::memory_order_relaxed);
  limiter_->Release(bytes);
}

// ---------------------------------------------------------------------------------------------
// Producer

void KafkaPipeline::Impl::Produce(Item* item, rd_kafka_topic_t* rkt, std::string_view key,
                                  std::string_view value, rd_kafka_headers_t* headers,
                                  int64_t timestamp_ms, bool from_worker) {
  item->pending.fetch_add(1, std::memory_order_acq_rel);
  // Workers may block on a full producer queue (the poll thread drains it); the poll thread,
  // which re-produces retries, must never block on itself.
  const int flags = RD_KAFKA_MSG_F_COPY | (from_worker ? RD_KAFKA_MSG_F_BLOCK : 0);
  rd_kafka_resp_err_t err =
      rd_kafka_producev(producer_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                        RD_KAFKA_V_KEY(key.data(), key.size()),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(item), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // librdkafka owns the headers now
  // Refused at once (queue full on the poll thread, message too large, fatal...): keep it for
  // another attempt so the item stays unfinished.
  SW_LOG_EVERY(kWarning, kLog, 10000, "produce to ", rd_kafka_topic_name(rkt),
               " failed: ", rd_kafka_err2str(err), "; will retry");
  Retry retry;
  retry.topic = rd_kafka_topic_name(rkt);
  retry.has_key = key.data() != nullptr;
  retry.key = std::string(key);
  retry.value = std::string(value);
  retry.headers = headers;
  retry.timestamp_ms = timestamp_ms;
  retry.item = item;
  retry.attempts = 1;
  ScheduleRetry(std::move(retry));
}

void KafkaPipeline::Impl::Discard(Retry& retry) {
  // Past the stop budget: give up on this message. Its item must never count as delivered, so
  // its partition is abandoned first (normally it already is: the consumer's close abandoned
  // every partition that was not idle); then the item can be released.
  retry.item->partition->Abandon();
  if (retry.headers != nullptr) rd_kafka_headers_destroy(retry.headers);
  retry.headers = nullptr;
  Unref(retry.item);
}

void KafkaPipeline::Impl::ScheduleRetry(Retry retry) {
  if (discard_retries_.load(std::memory_order_acquire)) {
    Discard(retry);
    return;
  }
  retry.due = absl::Now() + RetryBackoff(retry.attempts);
  stats_->delivery().produce_retries.Add();
  std::lock_guard<std::mutex> lock(retry_mu_);
  retries_.push_back(std::move(retry));
}

void KafkaPipeline::Impl::RunDueRetries() {
  std::vector<Retry> due;
  {
    std::lock_guard<std::mutex> lock(retry_mu_);
    if (retries_.empty()) return;
    const absl::Time now = absl::Now();
    auto split = std::partition(retries_.begin(), retries_.end(),
                                [&](const Retry& r) { return r.due > now; });
    due.assign(std::make_move_iterator(split), std::make_move_iterator(retries_.end()));
    retries_.erase(split, retries_.end());
  }
  for (Retry& r : due) {
    if (discard_retries_.load(std::memory_order_acquire)) {
      Discard(r);
      continue;
    }
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer_, r.topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_KEY(r.has_key ? r.key.data() : nullptr, r.key.size()),
        RD_KAFKA_V_VALUE(r.value.data(), r.value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(r.timestamp_ms), RD_KAFKA_V_HEADERS(r.headers),
        RD_KAFKA_V_OPAQUE(r.item), RD_KAFKA_V_END);
    rd_kafka_topic_destroy(rkt);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      continue;  // the item's reference moves to the new
                 // message; its delivery report decides
    r.attempts++;
    ScheduleRetry(std::move(r));
  }
}

void KafkaPipeline::Impl::OnDelivery(const rd_kafka_message_t* msg) {
  Item* item = static_cast<Item*>(msg->_private);
  const char* topic = rd_kafka_topic_name(msg->rkt);
  pipeline::TopicCounters* counters = stats_->delivery().produced.Find(topic);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (counters != nullptr) {
      counters->messages.Add();
      counters->bytes.Add(msg->len);
    }
    if (item->dead_letter) {
      stats_->delivery().dead_letters_produced[item->dead_letter_reason].Add();
    } else if (item->timestamp_ms > 0) {
      stats_->delivery().end_to_end_latency.ObserveNanos((WallMillis() - item->timestamp_ms) *
                                                         1000000);
    }
    if (stats_->health().all_brokers_down.exchange(false)) {
      SW_LOG(kInfo, kLog, "brokers reachable again: delivering");
    }
    Unref(item);
    return;
  }
  // Failed after librdkafka's retries: produce it again (see the guarantee in the header).
  if (counters != nullptr) counters->failed.Add();
  SW_LOG_EVERY(kWarning, kLog, 10000, "delivery to ", topic,
               " failed: ", rd_kafka_err2str(msg->err),
               "; re-producing with backoff (input offset ", item->msg->offset, " of partition ",
               item->msg->partition, " stays unstored)");
  Retry retry;
  retry.topic = topic;
  retry.has_key = msg->key != nullptr;
  if (msg->key != nullptr) retry.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload != nullptr) {
    retry.value.assign(static_cast<const char*>(msg->payload), msg->len);
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    retry.headers = rd_kafka_headers_copy(headers);
  }
  retry.timestamp_ms = item->dead_letter && item->timestamp_ms > 0 ? item->timestamp_ms : 0;
  retry.item = item;  // keeps this delivery's reference
  retry.attempts = 1;
  ScheduleRetry(std::move(retry));
}

void KafkaPipeline::Impl::ProducerLoop() {
  // Serves delivery reports and due retries; 100 ms bounds the delay of a retry and of
  // noticing the stop request.
  while (!stop_producer_.load(std::memory_order_acquire)) {
    rd_kafka_poll(producer_, 100);
    RunDueRetries();
  }
}

// ---------------------------------------------------------------------------------------------
// Stop

absl::Status KafkaPipeline::Impl::Stop(absl::Duration budget) {
  if (!started_ || stopped_) {
    stopped_ = true;
    return absl::OkStatus();
  }
  stopped_ = true;
  const absl::Time deadline = absl::Now() + budget;
  stats_->health().draining.store(true);
  stop_deadline_ = deadline;
  stop_input_.store(true, std::memory_order_release);
  WakeConsumer();
  // 1. Drain: every consumed item finishes (processed and delivered), or the budget ends.
  const bool drained = limiter_->WaitEmpty(deadline);
  const size_t left = limiter_->items();
  // 2. Close the consumer on its thread: final store, revoke (store, unassign), commit.
  stop_consumer_.store(true, std::memory_order_release);
  WakeConsumer();
  consumer_thread_.join();
  // 3. Give up on anything still in flight: no more re-produces; workers drop queued items of
  //    abandoned partitions (the revoke abandoned whatever was not idle).
  discard_retries_.store(true, std::memory_order_release);
  RunDueRetries();  // all due or not: discarded
  {
    std::lock_guard<std::mutex> lock(retry_mu_);
    for (Retry& r : retries_) r.due = absl::InfinitePast();
  }
  RunDueRetries();
  queue_.Close();
  for (std::thread& t : worker_threads_) t.join();
  // 4. Stop the poll thread (no worker produces any more), then flush what the producer still
  //    holds on this thread, within what is left of the budget (at least 1 s, so that messages
  //    already on the wire get their reports). Undelivered ones are purged: their failed
  //    reports release their items, which are never stored.
  stop_producer_.store(true, std::memory_order_release);
  producer_thread_.join();
  const absl::Duration rest = std::max(deadline - absl::Now(), absl::Seconds(1));
  rd_kafka_resp_err_t err =
      rd_kafka_flush(producer_, static_cast<int>(absl::ToInt64Milliseconds(rest)));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Purged messages report within a poll; 5 s covers a request that is on the wire.
    rd_kafka_flush(producer_, 5000);
  }
  RunDueRetries();
  if (dead_letter_rkt_ != nullptr) {
    rd_kafka_topic_destroy(dead_letter_rkt_);
    dead_letter_rkt_ = nullptr;
  }
  if (!drained) {
    return absl::DeadlineExceededError(
        log::Cat(left, " item(s) still in flight after the stop budget of ",
                 absl::FormatDuration(budget), ": not stored, they will be consumed again"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// KafkaPipeline

KafkaPipeline::KafkaPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaPipeline::~KafkaPipeline() = default;

int KafkaPipeline::ResolveWorkers(int workers) {
  if (workers > 0) return workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

absl::StatusOr<std::unique_ptr<KafkaPipeline>> KafkaPipeline::Create(PipelineOptions options,
                                                                     pipeline::PackHolder* packs,
                                                                     pipeline::Stats* stats) {
  if (packs == nullptr || stats == nullptr) {
    return absl::InvalidArgumentError("kafka pipeline: packs and stats are required");
  }
  auto impl = std::make_unique<Impl>(std::move(options), packs, stats);
  SW_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<KafkaPipeline>(new KafkaPipeline(std::move(impl)));
}

absl::Status KafkaPipeline::Start() { return impl_->Start(); }
absl::Status KafkaPipeline::Stop(absl::Duration budget) { return impl_->Stop(budget); }
bool KafkaPipeline::fatal() const { return impl_->fatal(); }
bool KafkaPipeline::WaitFatal(absl::Time deadline) const { return impl_->WaitFatal(deadline); }
int KafkaPipeline::num_workers() const { return impl_->num_workers(); }
uint64_t KafkaPipeline::items_finished() const { return impl_->items_finished(); }

}  // namespace steppewatch::kafka
