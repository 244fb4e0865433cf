// StoriesRole (see stories_role.h): lease-based single active consumer, replay from Kafka,
// at-least-once publication of enriched alerts and spike events.
#include "steppewatch/kafka/stories_role.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <utility>

#include "simdjson.h"
#include "steppewatch/common/log.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/pipeline/offset_tracker.h"

namespace steppewatch::kafka {
namespace {

constexpr char kLog[] = "stories";

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Exponential backoff of a failed delivery: 0.5 s doubling to 30 s (an outage is waited out
// without hammering the broker; a transient error costs half a second).
absl::Duration RetryBackoff(int attempts) {
  absl::Duration d = absl::Milliseconds(500);
  for (int i = 1; i < attempts && d < absl::Seconds(30); ++i) d *= 2;
  return std::min(d, absl::Seconds(30));
}

}  // namespace

class StoriesRole::Impl {
 public:
  explicit Impl(StoriesRoleOptions options) : options_(std::move(options)) {
    if (!options_.now_ms) options_.now_ms = WallMillis;
    if (options_.replay_window <= absl::ZeroDuration()) {
      options_.replay_window = stories::ReplayHorizon(options_.stage);
    }
  }
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
    int64_t live_from = 0;  // offsets below are replayed (state only)
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
  size_t in_flight_ = 0;  // Outs handed to librdkafka or waiting in retry_
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

absl::Status StoriesRole::Impl::Init() {
  if (options_.brokers.empty()) return absl::InvalidArgumentError("stories: no brokers");
  if (options_.input_topics.empty()) {
    return absl::InvalidArgumentError("stories: no alert topics to read");
  }
  for (const std::string* t : {&options_.lease_topic, &options_.stories_topic,
                               &options_.spikes_topic}) {
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

bool StoriesRole::Impl::Replaying() const {
  return counters_.replaying.load(std::memory_order_relaxed);
}

void StoriesRole::Impl::MarkCaughtUp(Part& part) {
  if (part.caught_up) return;
  part.caught_up = true;
  if (--replaying_parts_ == 0 && Replaying()) {
    counters_.replaying.store(false);
    SW_LOG(kInfo, kLog, "window rebuilt (", counters_.replayed.load(),
           " alert(s) replayed): live");
  }
}

void StoriesRole::Impl::CheckCaughtUp() {
  if (replaying_parts_ == 0) return;
  for (auto& [key, part] : parts_) {
    if (part.caught_up) continue;
    rd_kafka_topic_partition_list_t* pos = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pos, part.topic.c_str(), part.partition);
    rd_kafka_position(consumer_, pos);
    const int64_t at = pos->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(pos);
    if (at >= part.live_from) MarkCaughtUp(part);
  }
}

void StoriesRole::Impl::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* parts) {
  if (options_.stats != nullptr) {
    const bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    const bool lost = !assign && rd_kafka_assignment_lost(rk);
    options_.stats->consumer()
        .rebalances[static_cast<int>(assign ? pipeline::RebalanceKind::kAssign
                                     : lost ? pipeline::RebalanceKind::kLost
                                            : pipeline::RebalanceKind::kRevoke)]
        .Add();
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    counters_.assignments.fetch_add(1);
    bool lease = false;
    for (int i = 0; i < parts->cnt; ++i) {
      if (options_.lease_topic == parts->elems[i].topic && parts->elems[i].partition == 0) {
        lease = true;
      }
    }
    if (lease && !stopping_) {
      Activate(parts);
    } else {
      rd_kafka_assign(rk, parts);
    }
    return;
  }
  // Revoke (or an error): give up the lease and the alert partitions.
  Deactivate();
  rd_kafka_assign(rk, nullptr);
}

void StoriesRole::Impl::Activate(rd_kafka_topic_partition_list_t* lease_parts) {
  constexpr int kTimeoutMs = 10000;  // metadata and offset look-ups of a reachable cluster
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(consumer_, 1, nullptr, &md, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kError, kLog, "cannot read the alert topics' metadata (", rd_kafka_err2str(err),
           "): holding the lease without input until the next rebalance");
    rd_kafka_assign(consumer_, lease_parts);
    return;
  }
  rd_kafka_topic_partition_list_t* alerts = rd_kafka_topic_partition_list_new(64);
  for (const std::string& topic : options_.input_topics) {
    bool found = false;
    for (int t = 0; t < md->topic_cnt; ++t) {
      if (topic != md->topics[t].topic || md->topics[t].err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      found = true;
      for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
        rd_kafka_topic_partition_list_add(alerts, topic.c_str(), md->topics[t].partitions[p].id);
      }
    }
    if (!found) SW_LOG(kWarning, kLog, "alert topic ", topic, " does not exist (yet): not read");
  }
  rd_kafka_metadata_destroy(md);

  rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(alerts);
  err = rd_kafka_committed(consumer_, committed, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kWarning, kLog, "cannot read committed offsets (", rd_kafka_err2str(err),
           "): replaying every partition's window and publishing from its end");
  }
  rd_kafka_topic_partition_list_t* times = rd_kafka_topic_partition_list_copy(alerts);
  const int64_t since = options_.now_ms() - absl::ToInt64Milliseconds(options_.replay_window);
  for (int i = 0; i < times->cnt; ++i) times->elems[i].offset = since;
  const rd_kafka_resp_err_t times_err = rd_kafka_offsets_for_times(consumer_, times, kTimeoutMs);

  stage_.reset();
  parts_.clear();
  replaying_parts_ = 0;
  auto stage = stories::StoriesStage::Create(options_.stage);  // validated in Init()
  if (stage.ok()) stage_ = *std::move(stage);

  // Watermarks, and whether the broker really looked the offsets up by time: it answers -1
  // ("no message at or after the time") for a partition whose messages are all older, but a
  // broker without the look-up (librdkafka's mock cluster) answers -1 everywhere. When every
  // partition that has messages answered -1, replay from each partition's start instead: the
  // stage drops what is older than its window as it goes, so that costs time, not correctness.
  std::vector<int64_t> lows(alerts->cnt, 0), highs(alerts->cnt, 0);
  bool any_data = false, any_time = false;
  for (int i = 0; i < alerts->cnt; ++i) {
    rd_kafka_query_watermark_offsets(consumer_, alerts->elems[i].topic,
                                     alerts->elems[i].partition, &lows[i], &highs[i], kTimeoutMs);
    if (highs[i] > lows[i]) {
      any_data = true;
      if (times_err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          times->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && times->elems[i].offset >= 0) {
        any_time = true;
      }
    }
  }
  const bool by_time = times_err == RD_KAFKA_RESP_ERR_NO_ERROR && (any_time || !any_data);

  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_copy(lease_parts);
  bool replaying = false;
  int64_t replay_messages = 0;
  for (int i = 0; i < alerts->cnt; ++i) {
    const char* topic = alerts->elems[i].topic;
    const int32_t partition = alerts->elems[i].partition;
    const int64_t low = lows[i], high = highs[i];
    const int64_t c = committed->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR
                          ? committed->elems[i].offset
                          : RD_KAFKA_OFFSET_INVALID;
    const int64_t live_from = c >= 0 ? c : high;
    int64_t start = low;
    if (by_time && times->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // -1: no message at or after the time, i.e. nothing in the window.
      start = times->elems[i].offset >= 0 ? times->elems[i].offset : high;
    }
    start = std::clamp(start, low, std::max(low, live_from));
    Part& part = parts_[{topic, partition}];
    part.topic = topic;
    part.partition = partition;
    part.live_from = live_from;
    part.caught_up = start >= live_from;
    if (!part.caught_up) {
      replaying = true;
      ++replaying_parts_;
      replay_messages += live_from - start;
    }
    part.offsets = std::make_shared<pipeline::PartitionOffsets>(topic, partition);
    rd_kafka_topic_partition_list_add(assignment, topic, partition)->offset = start;
  }
  rd_kafka_topic_partition_list_destroy(alerts);
  rd_kafka_topic_partition_list_destroy(committed);
  rd_kafka_topic_partition_list_destroy(times);
  counters_.replaying.store(replaying);
  counters_.active.store(true);
  counters_.activations.fetch_add(1);
  err = rd_kafka_assign(consumer_, assignment);
  if (options_.stats != nullptr) options_.stats->consumer().assigned_partitions.Set(assignment->cnt);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    SW_LOG(kError, kLog, "assign failed: ", rd_kafka_err2str(err));
  }
  SW_LOG(kInfo, kLog, "active (lease held): ", parts_.size(), " alert partition(s), replaying ",
         replay_messages, " message(s) of the last ",
         absl::FormatDuration(options_.replay_window), " to rebuild the window",
         by_time ? "" : " (the broker did not look offsets up by time: replaying from each start)");
  Snapshot();
}

void StoriesRole::Impl::Deactivate() {
  if (!counters_.active.load()) return;
  // Deliver what is in flight (bounded), store, and commit synchronously so the next active
  // instance starts where this one stopped.
  const absl::Time deadline = absl::Now() + std::min(stop_budget_, absl::Seconds(10));
  while (in_flight_ > 0 && absl::Now() < deadline) {
    rd_kafka_poll(producer_, 50);
    RetryDue();
  }
  StoreCommittable();
  rd_kafka_commit(consumer_, nullptr, 0);
  Snapshot();
  stage_.reset();
  for (auto& [key, part] : parts_) part.offsets->Abandon();
  parts_.clear();
  replaying_parts_ = 0;
  counters_.active.store(false);
  counters_.replaying.store(false);
  SW_LOG(kInfo, kLog, "lease lost or given up: standing by");
}

void StoriesRole::Impl::HandleMessage(rd_kafka_message_t* msg) {
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      SW_LOG_EVERY(kWarning, kLog, 10000, "consume error: ", rd_kafka_message_errstr(msg));
    }
    rd_kafka_message_destroy(msg);
    return;
  }
  const char* topic = rd_kafka_topic_name(msg->rkt);
  auto it = parts_.find({topic, msg->partition});
  if (it == parts_.end() || stage_ == nullptr) {  // the lease topic, or a stale message
    rd_kafka_message_destroy(msg);
    return;
  }
  Part& part = it->second;
  rd_kafka_timestamp_type_t type;
  const int64_t ts = rd_kafka_message_timestamp(msg, &type);
  const std::string_view payload(static_cast<const char*>(msg->payload),
                                 msg->payload ? msg->len : 0);
  const bool replay = msg->offset < part.live_from;
  const stories::StageOutput& out = stage_->Process(payload, ts, replay);
  if (!out.rejected.empty()) {
    SW_LOG_EVERY(kWarning, kLog, 10000, "alert ", topic, "/", msg->partition, "@", msg->offset,
                 " skipped (", out.rejected, "): ", out.message);
  }
  if (replay) {
    counters_.replayed.fetch_add(1, std::memory_order_relaxed);
    if (msg->offset + 1 >= part.live_from) MarkCaughtUp(part);
  } else {
    MarkCaughtUp(part);
    counters_.consumed.fetch_add(1, std::memory_order_relaxed);
    const uint64_t seq = part.offsets->Begin(msg->offset);
    const int outputs = (out.alert.empty() ? 0 : 1) + static_cast<int>(out.spikes.size());
    if (outputs == 0) {
      part.offsets->Finish(seq);
    } else {
      auto* pending = new Pending{part.offsets, seq, outputs};
      Publish(out, msg, pending);
    }
  }
  rd_kafka_message_destroy(msg);
}

void StoriesRole::Impl::NoteSpike(std::string_view json) {
  // Spike events are rare (a few per key and day): parsing them again here keeps the stage's
  // interface to the event itself.
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (spike_parser_.iterate(padded).get(doc) != simdjson::SUCCESS) return;
  std::string_view scope, name, state;
  bool confirmed = false;
  std::vector<std::string> languages;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return;
  for (auto field : obj) {
    std::string_view k;
    if (field.unescaped_key().get(k) != simdjson::SUCCESS) return;
    if (k == "scope") {
      if (field.value().get_string().get(scope) != simdjson::SUCCESS) return;
      scope_buf_.assign(scope);
    } else if (k == "name") {
      if (field.value().get_string().get(name) != simdjson::SUCCESS) return;
      name_buf_.assign(name);
    } else if (k == "state") {
      if (field.value().get_string().get(state) != simdjson::SUCCESS) return;
      state_buf_.assign(state);
    } else if (k == "confirmed") {
      if (field.value().get_bool().get(confirmed) != simdjson::SUCCESS) return;
    } else if (k == "languages") {
      // An array of codes, or an object {code: stories}.
      simdjson::ondemand::value v;
      if (field.value().get(v) != simdjson::SUCCESS) return;
      simdjson::ondemand::json_type type;
      if (v.type().get(type) != simdjson::SUCCESS) return;
      if (type == simdjson::ondemand::json_type::array) {
        for (auto e : v.get_array()) {
          std::string_view lang;
          if (e.get_string().get(lang) == simdjson::SUCCESS) languages.emplace_back(lang);
        }
      } else if (type == simdjson::ondemand::json_type::object) {
        for (auto e : v.get_object()) {
          std::string_view lang;
          if (e.unescaped_key().get(lang) == simdjson::SUCCESS) languages.emplace_back(lang);
        }
      }
    }
  }
  if (scope_buf_.empty() || name_buf_.empty() || state_buf_.empty()) return;
  MutexLock lock(&snapshot_mu_);
  StoriesRole::SpikeKey& key = spikes_[scope_buf_ + ":" + name_buf_];
  key.scope = scope_buf_;
  key.name = name_buf_;
  key.active = state_buf_ != "end";
  key.confirmed = confirmed;
  ++key.events[state_buf_];
  if (state_buf_ == "start") {
    for (const std::string& lang : languages) ++starts_by_language_[lang];
  }
  scope_buf_.clear();
  name_buf_.clear();
  state_buf_.clear();
}

void StoriesRole::Impl::NoteStory(std::string_view id, uint32_t copies) {
  if (id.empty() || copies < 2) return;  // a story of one copy is not a "top story"
  const absl::Time now = absl::Now();
  MutexLock lock(&snapshot_mu_);
  top_.erase(std::remove_if(top_.begin(), top_.end(),
                            [&](const TopStory& t) {
                              return t.id == id ||
                                     now - t.last > StoriesRole::kTopStoriesHorizon;
                            }),
             top_.end());
  if (top_.size() < StoriesRole::kTopStories || copies > top_.back().copies) {
    top_.push_back({std::string(id), copies, now});
    std::sort(top_.begin(), top_.end(),
              [](const TopStory& a, const TopStory& b) { return a.copies > b.copies; });
    if (top_.size() > StoriesRole::kTopStories) top_.pop_back();
  }
}

void StoriesRole::Impl::Publish(const stories::StageOutput& out, rd_kafka_message_t* input,
                                Pending* pending) {
  for (const stories::StageOutput::Event& e : out.spikes) NoteSpike(e.json);
  if (!out.alert.empty()) {
    NoteStory(out.story_id, out.story_copies);
    auto* o = new Out;
    o->pending = pending;
    o->rkt = stories_rkt_;
    o->key.assign(out.key);
    o->value.assign(out.alert);
    // The alert's own headers (rule ids, tags, severity, schema) travel with it, so a stories
    // subscriber filters as an alert subscriber does.
    rd_kafka_headers_t* hdrs = nullptr;
    if (input != nullptr && rd_kafka_message_headers(input, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                         RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        o->headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
      }
    }
    Produce(o);
  }
  for (const stories::StageOutput::Event& e : out.spikes) {
    auto* o = new Out;
    o->pending = pending;
    o->rkt = spikes_rkt_;
    o->key.assign(e.key);
    o->value.assign(e.json);
    o->headers.emplace_back("steppewatch.schema", std::string(stories::kSpikeSchema));
    Produce(o);
  }
}

void StoriesRole::Impl::Produce(Out* o) {
  ++o->attempts;
  rd_kafka_headers_t* hdrs = rd_kafka_headers_new(o->headers.size());
  for (const auto& [name, value] : o->headers) {
    rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_, RD_KAFKA_V_RKT(o->rkt), RD_KAFKA_V_KEY(o->key.data(), o->key.size()),
      RD_KAFKA_V_VALUE(o->value.data(), o->value.size()), RD_KAFKA_V_HEADERS(hdrs),
      RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(hdrs);  // not taken over on failure
    counters_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    o->retry_at = absl::Now() + (err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? absl::Milliseconds(50)
                                                                      : RetryBackoff(o->attempts));
    if (o->attempts == 1) ++in_flight_;
    retry_.push_back(o);
    return;
  }
  if (o->attempts == 1) ++in_flight_;
}

void StoriesRole::Impl::OnDelivery(const rd_kafka_message_t* msg) {
  Out* o = static_cast<Out*>(msg->_private);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    counters_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    if (stopping_ && (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                      msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) {
      --in_flight_;
      Drop(o);  // its offset stays unstored: the next active instance re-publishes it
      return;
    }
    SW_LOG_EVERY(kWarning, kLog, 10000, "delivery to ", rd_kafka_topic_name(o->rkt),
                 " failed (", rd_kafka_err2str(msg->err), "): retrying");
    o->retry_at = absl::Now() + RetryBackoff(o->attempts);
    retry_.push_back(o);
    return;
  }
  --in_flight_;
  if (o->rkt == stories_rkt_) {
    counters_.published_alerts.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.published_spikes.fetch_add(1, std::memory_order_relaxed);
  }
  if (o->pending != nullptr) FinishOne(o->pending);
  delete o;
}

void StoriesRole::Impl::Drop(Out* o) {
  if (o->pending != nullptr && --o->pending->remaining == 0) delete o->pending;
  delete o;
}

void StoriesRole::Impl::FinishOne(Pending* pending) {
  if (--pending->remaining == 0) {
    pending->offsets->Finish(pending->seq);
    delete pending;
  }
}

void StoriesRole::Impl::RetryDue() {
  if (retry_.empty()) return;
  const absl::Time now = absl::Now();
  const size_t n = retry_.size();
  for (size_t i = 0; i < n; ++i) {
    Out* o = retry_.front();
    retry_.pop_front();
    if (o->retry_at > now) {
      retry_.push_back(o);
      continue;
    }
    Produce(o);
  }
}

void StoriesRole::Impl::StoreCommittable() {
  if (parts_.empty()) return;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
  for (auto& [key, part] : parts_) {
    const int64_t offset = part.offsets->TakeCommittable();
    if (offset >= 0) rd_kafka_topic_partition_list_add(list, part.topic.c_str(), part.partition)
                         ->offset = offset;
  }
  if (list->cnt > 0) {
    const rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_, list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      SW_LOG_EVERY(kWarning, kLog, 10000, "offsets_store: ", rd_kafka_err2str(err));
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void StoriesRole::Impl::Snapshot() {
  stories::StageStats stats;
  std::vector<KeyCount> keys;
  if (stage_ != nullptr) {
    stats = stage_->stats();
    stage_->ForEachKey([&keys](std::string_view scope, std::string_view name, uint64_t n) {
      keys.push_back({std::string(scope), std::string(name), n});
    });
  }
  MutexLock lock(&snapshot_mu_);
  if (stage_ != nullptr || snapshot_keys_.empty()) {
    snapshot_stats_ = stats;
    snapshot_keys_ = std::move(keys);
  }
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
    return absl::DeadlineExceededError(
        log::Cat("stories: ", left, " output(s) undelivered at stop; their alerts are "
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
