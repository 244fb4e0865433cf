// StoriesRole (see stories_role.h): lease-based single active consumer, replay from Kafka,
// at-least-once publication of enriched alerts and spike events. This file: the role's
// lifecycle and consumer loop; the parts are described in stories_role_impl.h.
#include "steppewatch/kafka/stories_role.h"

#include <algorithm>
#include <utility>

#include "kafka/stories_role_impl.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/log.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::kafka {
namespace {}  // namespace

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

  // Both clients through the Kafka layer (kafka/client.h), the one place clients are made; the
  // role's own tuning on top of the user's properties, then what its guarantee depends on.
  ClientSpec consumer;
  consumer.type = RD_KAFKA_CONSUMER;
  consumer.what = "stories consumer";
  consumer.properties = {{"auto.offset.reset", "earliest"}, {"enable.partition.eof", "false"}};
  for (const auto& [k, v] : options_.consumer_properties) consumer.properties[k] = v;
  consumer.forced = {
      {"bootstrap.servers", options_.brokers},
      {"group.id", options_.group_id},
      {"client.id", options_.client_id},
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      // The lease works by assigning more than the group gave: that is the eager protocol's
      // assign(); the cooperative protocol's incremental assign would treat the extra
      // partitions as owned by the group's assignment.
      {"partition.assignment.strategy", "range,roundrobin"},
  };
  consumer.callbacks.opaque = this;
  consumer.callbacks.rebalance = &RebalanceCb;
  absl::StatusOr<ClientHandle> c = NewClient(consumer);
  if (!c.ok()) return c.status();
  consumer_ = c->release();  // destroyed in Destroy(), after the thread is joined

  ClientSpec producer;
  producer.type = RD_KAFKA_PRODUCER;
  producer.what = "stories producer";
  producer.properties = {{"linger.ms", "5"}};
  for (const auto& [k, v] : options_.producer_properties) producer.properties[k] = v;
  producer.forced = {{"bootstrap.servers", options_.brokers},
                     {"client.id", options_.client_id},
                     {"enable.idempotence", "true"}};
  producer.callbacks.opaque = this;
  producer.callbacks.delivery = &DeliveryCb;
  absl::StatusOr<ClientHandle> pr = NewClient(producer);
  if (!pr.ok()) return pr.status();
  producer_ = pr->release();
  stories_rkt_ = rd_kafka_topic_new(producer_, options_.stories_topic.c_str(), nullptr);
  spikes_rkt_ = rd_kafka_topic_new(producer_, options_.spikes_topic.c_str(), nullptr);
  if (options_.stats != nullptr) options_.stats->health().consumer_created.store(true);
  return absl::OkStatus();
}

absl::Status StoriesRole::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("stories role already started");
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.lease_topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(log::Cat("stories: subscribe: ", rd_kafka_err2str(err)));
  }
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  SW_LOG(kInfo, kLog, "stories role started: group ", options_.group_id, ", lease topic ",
         options_.lease_topic, ", ", options_.input_topics.size(), " alert topic(s) -> ",
         options_.stories_topic, " + ", options_.spikes_topic);
  return absl::OkStatus();
}

void StoriesRole::Impl::Loop() {
  absl::Time next_tick = absl::Now() + options_.tick;
  while (!stop_.load(std::memory_order_acquire)) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_, 50);
    // Up to a batch of messages per turn, then the producer's delivery reports.
    for (int n = 0; msg != nullptr && n < 512; ++n) {
      HandleMessage(msg);
      msg = rd_kafka_consumer_poll(consumer_, 0);
    }
    if (msg != nullptr) HandleMessage(msg);
    rd_kafka_poll(producer_, 0);
    RetryDue();
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
  // Stopping: finish what is in flight within the budget, then close (which revokes: see
  // Deactivate) and store what was finished.
  stopping_ = true;
  const absl::Time deadline = absl::Now() + stop_budget_;
  while (in_flight_ > 0 && absl::Now() < deadline) {
    rd_kafka_poll(producer_, 50);
    RetryDue();
  }
  StoreCommittable();
  rd_kafka_consumer_close(consumer_);
  Snapshot();
}

absl::Status StoriesRole::Impl::Stop(absl::Duration budget) {
  if (!started_ || stopped_) return absl::OkStatus();
  stopped_ = true;
  stop_budget_ = budget;
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  const size_t left = in_flight_;
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
    thread_.join();
  }
  if (producer_ != nullptr) {
    stopping_ = true;
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // The purged messages' reports free their Outs.
    const absl::Time deadline = absl::Now() + absl::Seconds(1);
    while (in_flight_ > retry_.size() && absl::Now() < deadline) rd_kafka_poll(producer_, 10);
  }
  for (Out* o : retry_) Drop(o);
  retry_.clear();
  if (stories_rkt_ != nullptr) rd_kafka_topic_destroy(stories_rkt_);
  if (spikes_rkt_ != nullptr) rd_kafka_topic_destroy(spikes_rkt_);
  stories_rkt_ = spikes_rkt_ = nullptr;
  if (consumer_ != nullptr) rd_kafka_destroy(consumer_);
  if (producer_ != nullptr) rd_kafka_destroy(producer_);
  consumer_ = producer_ = nullptr;
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
