// The stories role's output: each live alert through the stage, its enriched alert and spike
// events produced at least once through the retrying producer, its offset stored once all are
// delivered; the snapshot the metrics read (see stories_role_impl.h).
#include <algorithm>
#include <utility>

#include "kafka/stories_role_impl.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {

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
  const bool replay = msg->offset < it->second.live_from;
  if (!batch_.empty() && replay != batch_replay_) FlushBatch();
  batch_replay_ = replay;
  batch_.push_back({msg, &it->second});
  if (batch_.size() >= kBatch) FlushBatch();
}

void StoriesRole::Impl::FlushBatch() {
  if (batch_.empty()) return;
  batch_inputs_.clear();
  for (const Batched& b : batch_) {
    rd_kafka_timestamp_type_t type;
    const int64_t ts = rd_kafka_message_timestamp(b.msg, &type);
    batch_inputs_.push_back({std::string_view(static_cast<const char*>(b.msg->payload),
                                              b.msg->payload ? b.msg->len : 0),
                             ts});
  }
  const std::span<const stories::StageOutput> outs =
      stage_->ProcessBatch(batch_inputs_, batch_replay_);
  for (size_t i = 0; i < batch_.size(); ++i) {
    HandleOutput(batch_[i].msg, *batch_[i].part, batch_replay_, outs[i]);
    rd_kafka_message_destroy(batch_[i].msg);
  }
  batch_.clear();
}

void StoriesRole::Impl::HandleOutput(rd_kafka_message_t* msg, Part& part, bool replay,
                                     const stories::StageOutput& out) {
  if (!out.rejected.empty()) {
    SW_LOG_EVERY(kWarning, kLog, 10000, "alert ", rd_kafka_topic_name(msg->rkt), "/",
                 msg->partition, "@", msg->offset, " skipped (", out.rejected, "): ", out.message);
  }
  if (replay) {
    counters_.replayed.fetch_add(1, std::memory_order_relaxed);
    if (msg->offset + 1 >= part.live_from) MarkCaughtUp(part);
  } else {
    MarkCaughtUp(part);
    const uint64_t seq = part.offsets->Begin(msg->offset);
    const int outputs = (out.alert.empty() ? 0 : 1) + static_cast<int>(out.spikes.size());
    if (outputs == 0) {
      part.offsets->Finish(seq);
    } else {
      Publish(out, msg, NewPending(part.offsets, seq, outputs));
    }
    // Counted once its outputs are in flight (release): a reader that sees the alert consumed
    // and then no output in flight (outputs_in_flight) knows every output of it was delivered.
    counters_.consumed.fetch_add(1, std::memory_order_release);
  }
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
                              return t.id == id || now - t.last > StoriesRole::kTopStoriesHorizon;
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
    // The alert's own headers (rule ids, tags, severity, schema) travel with it, so a stories
    // subscriber filters as an alert subscriber does.
    rd_kafka_headers_t* in_headers = nullptr;
    rd_kafka_headers_t* headers =
        input != nullptr &&
                rd_kafka_message_headers(input, &in_headers) == RD_KAFKA_RESP_ERR_NO_ERROR
            ? rd_kafka_headers_copy(in_headers)
            : nullptr;
    ProduceOutput(options_.stories_topic, out.key, out.alert, headers, pending);
  }
  for (const stories::StageOutput::Event& e : out.spikes) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(1);
    rd_kafka_header_add(headers, "steppewatch.schema", -1, stories::kSpikeSchema.data(),
                        static_cast<ssize_t>(stories::kSpikeSchema.size()));
    ProduceOutput(options_.spikes_topic, e.key, e.json, headers, pending);
  }
}

void StoriesRole::Impl::ProduceOutput(const std::string& topic, std::string_view key,
                                      std::string_view value, rd_kafka_headers_t* headers,
                                      Pending* pending) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  // Not blocking on a full queue: the consumer thread keeps serving the group (and the lease)
  // while the producer's poll thread works the queue down; a refused message is retried by the
  // producer like a failed delivery.
  producer_->Produce(topic, key, value, headers, /*timestamp_ms=*/0, pending, /*block=*/false);
}

void StoriesRole::Impl::OnDelivered(const rd_kafka_message_t& msg) {
  if (options_.stories_topic == rd_kafka_topic_name(msg.rkt)) {
    counters_.published_alerts.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.published_spikes.fetch_add(1, std::memory_order_relaxed);
  }
  Release(static_cast<Pending*>(msg._private), /*delivered=*/true);
}

void StoriesRole::Impl::OnRetryScheduled(void*) {
  // A failed delivery or a refused produce; the producer tries again with backoff.
  counters_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
}

void StoriesRole::Impl::OnDiscarded(void* opaque) {
  // Given up at stop: its alert's offset stays unstored; the next active instance re-publishes.
  Release(static_cast<Pending*>(opaque), /*delivered=*/false);
}

void StoriesRole::Impl::OnFailed(const std::string& reason) {
  SW_LOG(kError, kLog, "producer gave up (", reason,
         "): nothing more is published and no offset stored until the role is restarted");
  fatal_.store(true, std::memory_order_release);
}

StoriesRole::Impl::Pending* StoriesRole::Impl::NewPending(
    const std::shared_ptr<pipeline::PartitionOffsets>& offsets, uint64_t seq, int outputs) {
  if (pending_free_.empty()) {
    MutexLock lock(&delivery_mu_);
    pending_free_.swap(pending_returned_);
  }
  Pending* p;
  if (pending_free_.empty()) {
    pending_owned_.push_back(std::make_unique<Pending>());
    counters_.output_records.fetch_add(1, std::memory_order_relaxed);
    p = pending_owned_.back().get();
  } else {
    p = pending_free_.back();
    pending_free_.pop_back();
  }
  p->offsets = offsets;
  p->seq = seq;
  p->remaining = outputs;
  p->discarded = false;
  return p;
}

void StoriesRole::Impl::Release(Pending* pending, bool delivered) {
  MutexLock lock(&delivery_mu_);
  if (pending != nullptr) {
    if (!delivered) pending->discarded = true;
    if (--pending->remaining == 0) {
      // Finished before in_flight_ drops, so a waiter that sees no output in flight stores it.
      if (!pending->discarded) pending->offsets->Finish(pending->seq);
      pending->offsets.reset();
      pending_returned_.push_back(pending);
    }
  }
  if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) delivered_cv_.SignalAll();
}

bool StoriesRole::Impl::WaitDelivered(absl::Time deadline) {
  MutexLock lock(&delivery_mu_);
  while (in_flight() > 0) {
    if (!delivered_cv_.WaitWithDeadline(&delivery_mu_, deadline)) return in_flight() == 0;
  }
  return true;
}

size_t StoriesRole::Impl::in_flight() const { return in_flight_.load(std::memory_order_acquire); }

void StoriesRole::Impl::StoreCommittable() {
  if (parts_.empty()) return;
  PartitionListHandle list = NewPartitionList(16);
  for (auto& [key, part] : parts_) {
    const int64_t offset = part.offsets->TakeCommittable();
    if (offset >= 0)
      rd_kafka_topic_partition_list_add(list.get(), part.topic.c_str(), part.partition)->offset =
          offset;
  }
  if (list->cnt > 0) {
    const rd_kafka_resp_err_t err = consumer_->StoreOffsets(list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      SW_LOG_EVERY(kWarning, kLog, 10000, "offsets_store: ", rd_kafka_err2str(err));
    }
  }
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

}  // namespace steppewatch::kafka
