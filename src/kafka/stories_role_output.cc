// StoriesRole's output (see stories_role.h): every live alert again with its story and the spike
// events, produced at-least-once (retried with backoff until delivered or the stop gives up);
// an alert's offset is finished when all of its outputs are acknowledged.
#include "kafka/stories_role_impl.h"
#include "steppewatch/common/log.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::kafka {

using stories_role_internal::kLog;
using stories_role_internal::RetryBackoff;
using stories_role_internal::WallMillis;

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

}  // namespace steppewatch::kafka
