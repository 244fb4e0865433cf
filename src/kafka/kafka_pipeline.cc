// KafkaPipeline (see kafka_pipeline.h for the guarantee): creation of the clients, Start, the
// stop protocol, fatal errors, and the item pool and work queue. The consumer thread is in
// pipeline_consumer.cc, the workers and delivery outcomes in pipeline_workers.cc.
#include "steppewatch/kafka/kafka_pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "kafka/pipeline_impl.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/log.h"
#include "steppewatch/common/status_macros.h"

namespace steppewatch::kafka {
namespace internal {

ItemPool::~ItemPool() {
  MutexLock lock(&mu_);
  for (Item* item : free_) delete item;
}

void ItemPool::Acquire(Item** out, size_t n) {
  size_t taken = 0;
  {
    MutexLock lock(&mu_);
    while (taken < n && !free_.empty()) {
      out[taken++] = free_.back();
      free_.pop_back();
    }
  }
  for (; taken < n; ++taken) out[taken] = new Item();  // growing to a new in-flight peak
}

void ItemPool::Release(Item* const* items, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Item* item = items[i];
    item->msg = nullptr;
    item->partition = nullptr;
    item->dead_letter = false;
    item->dead_letter_reason = 0;
  }
  MutexLock lock(&mu_);
  free_.insert(free_.end(), items, items + n);
}

void WorkQueue::Push(Item* const* items, size_t n) {
  if (n == 0) return;
  MutexLock lock(&mu_);
  if (size_ + n > ring_.size()) {
    size_t capacity = ring_.size();
    while (capacity < size_ + n) capacity *= 2;
    std::vector<Item*> bigger(capacity);
    for (size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    head_ = 0;
  }
  for (size_t i = 0; i < n; ++i) ring_[(head_ + size_ + i) % ring_.size()] = items[i];
  size_ += n;
  // One wake-up per item, but no more than there are workers waiting: a worker that finds more
  // takes a batch, and waking the others for nothing would cost them a futex round trip each.
  for (size_t i = 0; i < n && i < waiting_; ++i) ready_.Signal();
}

size_t WorkQueue::PopBatch(Item** out, size_t max, absl::Duration wait, bool* closed) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(wait);
  MutexLock lock(&mu_);
  while (size_ == 0 && !closed_) {
    ++waiting_;
    const bool woken = ready_.WaitUntil(&mu_, deadline);
    --waiting_;
    if (!woken) break;
  }
  *closed = closed_ && size_ == 0;
  size_t n = 0;
  while (n < max && size_ > 0) {
    out[n++] = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
  }
  return n;
}

void WorkQueue::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  ready_.SignalAll();
}

}  // namespace internal

namespace {
constexpr char kLog[] = "kafka";
}  // namespace

KafkaPipeline::Impl::Impl(PipelineOptions options, pipeline::PackHolder* packs,
                          pipeline::Stats* stats)
    : options_(std::move(options)), packs_(packs), stats_(stats) {
  if (options_.client_statistics != nullptr) client_stats_ = options_.client_statistics;
  limiter_ = std::make_unique<pipeline::InFlightLimiter>(options_.limits, &stats_->health(),
                                                         [this] { WakeConsumer(); });
}

KafkaPipeline::Impl::~Impl() {
  (void)Stop(absl::ZeroDuration());
  consumer_.reset();
  producer_.reset();
}

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
  ConsumerOptions co;
  co.properties = options_.consumer_properties;
  co.properties["bootstrap.servers"] = options_.brokers;
  co.group_id = options_.group_id;
  co.client_id = options_.client_id;
  co.instance_id = options_.instance_id;
  co.topics = options_.input_topics;
  co.what = "kafka consumer";
  constexpr auto kRole = static_cast<size_t>(pipeline::ConsumerRole::kMatch);
  co.unstarted_partitions = &stats_->consumer().unstarted_partitions[kRole];
  co.start_restarts = &stats_->consumer().fetch_restarts[kRole];
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(co, &consumer_events_);
  if (!consumer.ok()) return consumer.status();
  consumer_ = *std::move(consumer);

  ProducerOptions po;
  po.properties = options_.producer_properties;
  po.properties["bootstrap.servers"] = options_.brokers;
  po.properties["client.id"] = options_.client_id;
  po.max_fatal_errors = options_.max_fatal_producer_errors;
  po.fatal_window = options_.fatal_window;
  po.what = "kafka producer";
  absl::StatusOr<std::unique_ptr<RetryingProducer>> producer =
      RetryingProducer::Create(po, &producer_events_);
  if (!producer.ok()) return producer.status();
  producer_ = *std::move(producer);
  max_message_bytes_ = producer_->max_message_bytes();

  stats_->delivery().produced.Register(options_.dead_letter_topic);
  for (const std::string& t : options_.input_topics) stats_->consumer().consumed.Register(t);
  stats_->health().consumer_created.store(true);
  return absl::OkStatus();
}

absl::Status KafkaPipeline::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("kafka pipeline already started");
  SW_RETURN_IF_ERROR(consumer_->Subscribe());
  started_ = true;
  producer_->Start();
  // Named threads (top -H, perf --sort comm): where the daemon's CPU goes per stage.
  for (int i = 0; i < num_workers_; ++i) {
    worker_threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), log::Cat("sw-worker-", i).c_str());
      WorkerLoop(i);
    });
  }
  consumer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sw-consumer");
    ConsumerLoop();
  });
  SW_LOG(
      kInfo, kLog, "consuming ", options_.input_topics.size(), " topic(s) as group '",
      options_.group_id, "'",
      options_.instance_id.empty() ? "" : log::Cat(" (static member '", options_.instance_id, "')"),
      " with ", num_workers_, " worker(s)");
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Errors

void KafkaPipeline::Impl::SetFatal(FatalKind kind) {
  FatalKind none = FatalKind::kNone;
  fatal_kind_.compare_exchange_strong(none, kind, std::memory_order_acq_rel);
  fatal_.Notify();
}

void KafkaPipeline::Impl::OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t code,
                                        const char* reason) {
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    stats_->health().NoteAllBrokersDown();
    SW_LOG_EVERY(kWarning, kLog, 10000, "all brokers down (", rd_kafka_name(rk),
                 "): waiting for them; items stay unstored until delivered");
    return;
  }
  SW_LOG_EVERY(kWarning, kLog, 10000, rd_kafka_name(rk), ": ", rd_kafka_err2name(code), ": ",
               reason);
}

void KafkaPipeline::Impl::ConsumerEvents::OnFatal(rd_kafka_resp_err_t original,
                                                  const std::string& reason) {
  if (original == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID) {
    SW_LOG(kError, kLog, "FENCED: another live member of group '", impl_->options_.group_id,
           "' uses group.instance.id '", impl_->options_.instance_id, "' (", reason,
           "); every instance needs its own kafka.instance_id. Exiting; unstored items are "
           "re-consumed by the member that owns the id");
    impl_->SetFatal(FatalKind::kFenced);
    return;
  }
  SW_LOG(kError, kLog, "FATAL consumer error: ", rd_kafka_err2name(original), ": ", reason,
         "; exiting so the supervisor restarts us (unstored items are re-consumed)");
  impl_->SetFatal(FatalKind::kConsumer);
}

void KafkaPipeline::Impl::ProducerEvents::OnFailed(const std::string& reason) {
  SW_LOG(kError, kLog, "FATAL producer errors: ", reason,
         "; exiting so the supervisor restarts us (unstored items are re-consumed)");
  impl_->SetFatal(FatalKind::kProducer);
}

void KafkaPipeline::Impl::ProducerEvents::OnRecovered(rd_kafka_resp_err_t cause,
                                                      size_t reproduced) {
  // The producer logged it; the items stay unfinished until the new producer's reports come.
  impl_->client_stats_->AddProducerRecovery();
}

void KafkaPipeline::Impl::ProducerEvents::OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                                        const char* reason) {
  impl_->OnClientError(rk, err, reason);
}

void KafkaPipeline::Impl::ConsumerEvents::OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                                        const char* reason) {
  impl_->OnClientError(rk, err, reason);
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
  producer_->DiscardRetries();
  queue_.Close();
  for (std::thread& t : worker_threads_) t.join();
  // 4. Stop the poll thread (no worker produces any more), then flush what the producer still
  //    holds on this thread, within what is left of the budget (at least 1 s, so that messages
  //    already on the wire get their reports). Undelivered ones are purged: their failed
  //    reports release their items, which are never stored.
  producer_->StopPolling();
  (void)producer_->Flush(std::max(deadline - absl::Now(), absl::Seconds(1)));
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
FatalKind KafkaPipeline::fatal_kind() const { return impl_->fatal_kind(); }
bool KafkaPipeline::WaitFatal(absl::Time deadline) const { return impl_->WaitFatal(deadline); }
int KafkaPipeline::num_workers() const { return impl_->num_workers(); }
uint64_t KafkaPipeline::items_finished() const { return impl_->items_finished(); }
int KafkaPipeline::producer_recoveries() const { return impl_->producer()->recoveries(); }
const ClientStatistics& KafkaPipeline::client_statistics() const {
  return impl_->client_statistics();
}

absl::Status KafkaPipeline::InjectFatalErrorForTesting(bool producer, int rd_kafka_resp_err) {
  const auto err = static_cast<rd_kafka_resp_err_t>(rd_kafka_resp_err);
  return producer ? impl_->producer()->InjectFatalErrorForTesting(err)
                  : impl_->consumer()->InjectFatalErrorForTesting(err);
}

std::optional<std::string> KafkaPipeline::ClientPropertyForTesting(bool producer,
                                                                   std::string_view name) const {
  if (producer) return impl_->producer()->PropertyForTesting(name);
  return GetProperty(impl_->consumer()->handle(), name);
}

}  // namespace steppewatch::kafka
