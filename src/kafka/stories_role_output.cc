// The stories role's output: each live alert through the stage, its enriched alert and spike
// events produced at least once (retried with backoff), its offset stored once all are
// delivered; the snapshot the metrics read (see stories_role_impl.h).
#include <algorithm>
#include <utility>

#include "kafka/stories_role_impl.h"
#include "steppewatch/common/log.h"

namespace steppewatch::kafka {
namespace {

// Exponential backoff of a failed delivery: 0.5 s doubling to 30 s (an outage is waited out
// without hammering the broker; a transient error costs half a second).
absl::Duration RetryBackoff(int attempts) {
  absl::Duration d = absl::Milliseconds(500);
  for (int i = 1; i < attempts && d < absl::Seconds(30); ++i) d *= 2;
  return std::min(d, absl::Seconds(30));
}

}  // namespace

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
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
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
    SW_LOG_EVERY(kWarning, kLog, 10000, "delivery to ", rd_kafka_topic_name(o->rkt), " failed (",
                 rd_kafka_err2str(msg->err), "): retrying");
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
    if (offset >= 0)
      rd_kafka_topic_partition_list_add(list, part.topic.c_str(), part.partition)->offset = offset;
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

}  // namespace steppewatch::kafka
