// StoriesRole (see stories_role.h): lease-based single active consumer, replay from Kafka,
// at-least-once publication of enriched alerts and spike events. This file: the role's
// lifecycle and consumer loop; the parts are described in stories_role_impl.h.
#include "steppewatch/kafka/stories_role.h"

#include <algorithm>
#include <utility>

#include "kafka/stories_role_impl.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {

StoriesRole::Impl::Impl(StoriesRoleOptions options) : options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = WallMillis;
  if (options_.replay_window <= absl::ZeroDuration()) {
    options_.replay_window = stories::ReplayHorizon(options_.stage);
  }
}

absl::Status StoriesRole::Impl::Init() {
  if (options_.brokers.empty()) return absl::InvalidArgumentError("stories: no brokers");
  if (options_.input_topics.empty()) {
    return absl::InvalidArgumentError("stories: no alert topics to read");
  }
  for (const std::string* t :
       {&options_.lease_topic, &options_.stories_topic, &options_.spikes_topic}) {
    if (t->empty()) return absl::InvalidArgumentError("stories: a topic name is empty");
    if (std::find(options_.input_topics.begin(), options_.input_topics.end(), *t) !=
        options_.input_topics.end()) {
      return absl::InvalidArgumentError(
          log::Cat("stories: topic '", *t, "' is both read and written"));
    }
  }
  // The stage's own options are checked once here, so a bad setting fails at start.
  auto probe = stories::StoriesStage::Create(options_.stage);
  if (!probe.ok()) return probe.status();

  // Both clients from the Kafka layer: its consumer and its retrying producer. The caller's
  // properties (the daemon's hold its defaults, without the matcher's prefetch tuning) over
  // what the role needs without them, then what its guarantee depends on.
  ConsumerOptions consumer;
  consumer.defaults.reset();
  consumer.properties = {{"auto.offset.reset", "earliest"}, {"enable.partition.eof", "false"}};
  for (const auto& [k, v] : options_.consumer_properties) consumer.properties[k] = v;
  consumer.properties["bootstrap.servers"] = options_.brokers;
  // The lease works by assigning more than the group gave (ConsumerListener::AssignmentFor):
  // that is the eager protocol's assign(); the cooperative protocol's incremental assign would
  // treat the extra partitions as owned by the group's assignment.
  consumer.properties["partition.assignment.strategy"] = "range,roundrobin";
  // Consumer forces group.id, client.id, enable.auto.offset.store=false, enable.auto.commit=true.
  consumer.group_id = options_.group_id;
  consumer.client_id = options_.client_id;
  consumer.topics = {options_.lease_topic};
  consumer.what = "stories consumer";
  if (pipeline::Stats* stats =
          options_.fetch_start_stats != nullptr ? options_.fetch_start_stats : options_.stats) {
    constexpr auto kRole = static_cast<size_t>(pipeline::ConsumerRole::kStories);
    consumer.unstarted_partitions = &stats->consumer().unstarted_partitions[kRole];
    consumer.start_restarts = &stats->consumer().fetch_restarts[kRole];
  }
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(consumer, this);
  if (!c.ok()) return c.status();
  consumer_ = *std::move(c);

  // RetryingProducer forces enable.idempotence=true.
  ProducerOptions producer;
  producer.properties = options_.producer_properties;
  producer.properties["bootstrap.servers"] = options_.brokers;
  producer.properties["client.id"] = options_.client_id;
  producer.what = "stories producer";
  absl::StatusOr<std::unique_ptr<RetryingProducer>> pr = RetryingProducer::Create(producer, this);
  if (!pr.ok()) return pr.status();
  producer_ = *std::move(pr);
  if (options_.stats != nullptr) options_.stats->health().consumer_created.store(true);
  return absl::OkStatus();
}

absl::Status StoriesRole::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("stories role already started");
  if (absl::Status st = consumer_->Subscribe(); !st.ok()) return st;
  started_ = true;
  producer_->Start();
  thread_ = std::thread([this] { Loop(); });
  SW_LOG(kInfo, kLog, "stories role started: group ", options_.group_id, ", lease topic ",
         options_.lease_topic, ", ", options_.input_topics.size(), " alert topic(s) -> ",
         options_.stories_topic, " + ", options_.spikes_topic);
  return absl::OkStatus();
}

void StoriesRole::Impl::Loop() {
  absl::Time next_tick = absl::Now() + options_.tick;
  // The process's liveness probe watches this loop (metrics::EvaluateLiveness).
  pipeline::Stats* const beat =
      options_.fetch_start_stats != nullptr ? options_.fetch_start_stats : options_.stats;
  while (!stop_.load(std::memory_order_acquire)) {
    if (beat != nullptr) {
      beat->health().stories_heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos(),
                                                       std::memory_order_relaxed);
    }
    // Backpressure: outputs not yet delivered. Over the limit, the input is paused (the poll
    // still serves the group and the lease); at half of it, resumed. A turn takes no more
    // messages than the room left (each alert makes at most one output besides rare spikes).
    const size_t flying = in_flight();
    const size_t limit = std::max<size_t>(options_.max_in_flight, 1);
    if (!input_paused_ && flying >= limit) {
      input_paused_ = true;
      consumer_->SetPaused(true);
      counters_.pauses.fetch_add(1, std::memory_order_relaxed);
      counters_.paused.store(true, std::memory_order_relaxed);
      SW_LOG_EVERY(kWarning, kLog, 10000, "backpressure: ", flying,
                   " outputs undelivered; alert input paused until half are delivered");
    } else if (input_paused_ && flying <= limit / 2) {
      input_paused_ = false;
      consumer_->SetPaused(false);
      counters_.paused.store(false, std::memory_order_relaxed);
      SW_LOG(kInfo, kLog, "backpressure: alert input resumed (", flying, " outputs undelivered)");
    }
    const size_t room = flying >= limit ? 1 : std::min<size_t>(512, limit - flying);
    // 50 ms: the longest a tick waits when no alert arrives; Stop() wakes the poll at once.
    rd_kafka_message_t* msg = consumer_->Poll(50);
    // Up to a batch of messages per turn (and the room), then the clock.
    for (size_t n = 1; msg != nullptr && n < room; ++n) {
      HandleMessage(msg);
      msg = consumer_->Poll(0);
    }
    if (msg != nullptr) HandleMessage(msg);
    FlushBatch();
    const absl::Time now = absl::Now();
    if (now >= next_tick) {
      next_tick = now + options_.tick;
      CheckCaughtUp();
      // No clock advance while replaying: the replayed events are older than the wall clock,
      // and advancing first would make them late.
      if (stage_ != nullptr && !Replaying()) {
        const stories::StageOutput& out = stage_->Tick(options_.now_ms());
        Publish(out, nullptr, nullptr);
      }
      StoreCommittable();
      Snapshot();
    }
  }
  // Stopping: let the producer deliver what is in flight within the budget, then close (which
  // revokes: see Deactivate) and store what was finished. The loop no longer beats: a stop that
  // takes its whole budget is not a hang.
  stopping_ = true;
  if (beat != nullptr) beat->health().stories_heartbeat_steady_ns.store(0);
  WaitDelivered(absl::Now() + absl::Milliseconds(stop_budget_ms_.load(std::memory_order_relaxed)));
  StoreCommittable();
  if (absl::Status st = consumer_->Close(); !st.ok()) {
    SW_LOG(kWarning, kLog, "closing the consumer: ", st.message());
  }
  Snapshot();
}

absl::Status StoriesRole::Impl::Stop(absl::Duration budget) {
  if (!started_ || stopped_) return absl::OkStatus();
  stopped_ = true;
  stop_budget_ms_.store(absl::ToInt64Milliseconds(budget), std::memory_order_relaxed);
  stop_.store(true, std::memory_order_release);
  consumer_->Wake();
  if (thread_.joinable()) thread_.join();
  const size_t left = in_flight();
  Destroy();
  if (left > 0) {
    return absl::DeadlineExceededError(log::Cat("stories: ", left,
                                                " output(s) undelivered at stop; their alerts are "
                                                "re-published by the next active instance"));
  }
  return absl::OkStatus();
}

void StoriesRole::Impl::Destroy() {
  if (thread_.joinable()) {
    stop_.store(true, std::memory_order_release);
    consumer_->Wake();
    thread_.join();
  }
  if (producer_ != nullptr) {
    // Whatever is still undelivered is given up: purged, its reports (on this thread) release
    // its alerts unfinished, so their offsets stay unstored and the next active instance
    // publishes them again.
    stopping_ = true;
    producer_->DiscardRetries();
    producer_->StopPolling();
    producer_->Flush(absl::ZeroDuration());
    producer_.reset();
  }
  consumer_.reset();
}

absl::StatusOr<std::unique_ptr<StoriesRole>> StoriesRole::Create(StoriesRoleOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status st = impl->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<StoriesRole>(new StoriesRole(std::move(impl)));
}

StoriesRole::StoriesRole(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoriesRole::~StoriesRole() { Stop(absl::ZeroDuration()).IgnoreError(); }
absl::Status StoriesRole::Start() { return impl_->Start(); }
absl::Status StoriesRole::Stop(absl::Duration budget) { return impl_->Stop(budget); }
const StoriesRoleCounters& StoriesRole::counters() const { return impl_->counters(); }
bool StoriesRole::fatal() const { return impl_->fatal(); }
size_t StoriesRole::outputs_in_flight() const { return impl_->in_flight(); }
int StoriesRole::producer_recoveries() const { return impl_->producer()->recoveries(); }
absl::Status StoriesRole::InjectFatalErrorForTesting(bool producer, int rd_kafka_resp_err) {
  const auto err = static_cast<rd_kafka_resp_err_t>(rd_kafka_resp_err);
  return producer ? impl_->producer()->InjectFatalErrorForTesting(err)
                  : impl_->consumer()->InjectFatalErrorForTesting(err);
}
stories::StageStats StoriesRole::stage_stats() const { return impl_->stage_stats(); }
std::vector<StoriesRole::SpikeKey> StoriesRole::spikes() const { return impl_->spikes(); }
std::map<std::string, uint64_t> StoriesRole::spike_starts_by_language() const {
  return impl_->spike_starts_by_language();
}
std::vector<std::pair<std::string, uint32_t>> StoriesRole::top_stories() const {
  return impl_->top_stories();
}
void StoriesRole::ForEachKey(
    const std::function<void(std::string_view, std::string_view, uint64_t)>& fn) const {
  impl_->ForEachKey(fn);
}

}  // namespace steppewatch::kafka
