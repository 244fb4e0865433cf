// Helpers for tests that run the real librdkafka against an in-process EmbeddedBroker: produce
// keyed items, read whole topics, read a group's committed offsets, and a scripted
// ItemProcessor for pipeline tests that are about Kafka behaviour rather than rules.
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "steppewatch/common/notification.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/kafka_pipeline.h"
#include "steppewatch/pipeline/item_processor.h"

namespace steppewatch::kafka::testing {

// The topics of the pipeline tests (ScriptedPipelineOptions): input, alerts, dead letters.
inline constexpr char kIn[] = "news.items";
inline constexpr char kAlerts[] = "alerts";
inline constexpr char kDlq[] = "dead-letter";

struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;
  std::map<std::string, std::string> headers;
};

// Waits until `done()` or `timeout`; re-checks every 20 ms. For state that has no
// notification of its own (a broker's committed offsets, counters); returns done().
inline bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Creates a test client through the client layer (kafka::NewClient), without the daemon's
// defaults: these are tools around the pipeline under test, not the pipeline's own clients.
inline rd_kafka_t* NewClient(rd_kafka_type_t type,
                             const std::map<std::string, std::string>& props) {
  ClientSpec spec;
  spec.type = type;
  spec.properties = props;
  spec.what = "test client";
  absl::StatusOr<ClientHandle> client = ::steppewatch::kafka::NewClient(spec);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? client->release() : nullptr;
}

// Produces (key, value) pairs to `topic` and waits for all deliveries. Returns the count acked.
inline int ProduceAll(const std::string& bootstrap, const std::string& topic,
                      const std::vector<std::pair<std::string, std::string>>& records,
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  rd_kafka_t* rk =
      NewClient(RD_KAFKA_PRODUCER,
                {{"bootstrap.servers", bootstrap}, {"log_level", "3"}, {"linger.ms", "1"}});
  for (const auto& [key, value] : records) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(headers.size());
    for (const auto& [name, v] : headers) {
      rd_kafka_header_add(h, name.data(), name.size(), v.data(), v.size());
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  const int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);
  return static_cast<int>(records.size()) - left;
}

// The sum of committed offsets (a partition with none, -1001, counts 0): how many items of a
// topic that starts at offset 0 a group has committed.
inline int64_t SumCommitted(const std::vector<int64_t>& offsets) {
  int64_t s = 0;
  for (int64_t x : offsets) s += std::max<int64_t>(x, 0);
  return s;
}

// Reads the messages of `topic` (all partitions, from the beginning) until `expected` were read
// (expected > 0) or, with expected 0, until every partition was read to the high watermark it
// had when the call began; or until `timeout` passed (then returns what it has). No consumer
// group. A test that claims "exactly once" reads to the end: stopping at the expected count
// cannot see a duplicate after it.
inline std::vector<Record> ReadTopicUntil(const std::string& bootstrap, const std::string& topic,
                                          int partitions, size_t expected, absl::Duration timeout) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                 {"group.id", "test-reader"},
                                                 {"enable.auto.commit", "false"},
                                                 {"log_level", "3"}});
  const absl::Time deadline = absl::Now() + timeout;
  // expected 0: the end of each partition (-1: not known yet; the watermark query is retried
  // while the deadline allows, as the broker may still be electing a leader).
  std::vector<int64_t> high(static_cast<size_t>(partitions), -1);
  if (expected == 0) {
    for (int p = 0; p < partitions; ++p) {
      int64_t low = 0, hi = 0;
      while (absl::Now() < deadline) {
        if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &hi, 2000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          high[static_cast<size_t>(p)] = hi;
          break;
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
  }
  std::vector<int64_t> next(static_cast<size_t>(partitions), 0);  // the next offset to read
  auto done = [&](size_t n) {
    if (expected > 0) return n >= expected;
    for (int p = 0; p < partitions; ++p) {
      if (high[static_cast<size_t>(p)] < 0 ||
          next[static_cast<size_t>(p)] < high[static_cast<size_t>(p)]) {
        return false;
      }
    }
    return true;
  };
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Record> out;
  while (!done(out.size()) && absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Record r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->partition >= 0 && m->partition < partitions) {
        next[static_cast<size_t>(m->partition)] = m->offset + 1;
      }
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_timestamp_type_t type;
      r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// Reads `topic` until `expected` messages were read or `timeout` passed (ReadTopicUntil).
inline std::vector<Record> ReadTopic(const std::string& bootstrap, const std::string& topic,
                                     int partitions, size_t expected, absl::Duration timeout) {
  return ReadTopicUntil(bootstrap, topic, partitions, expected, timeout);
}

// Reads `topic` to the end each partition had when the call began (ReadTopicUntil): every
// message, duplicates included.
inline std::vector<Record> ReadWholeTopic(const std::string& bootstrap, const std::string& topic,
                                          int partitions, absl::Duration timeout) {
  return ReadTopicUntil(bootstrap, topic, partitions, 0, timeout);
}

// Returns the committed offset of each partition of `topic` for `group` (-1001 = none).
inline std::vector<int64_t> Committed(const std::string& bootstrap, const std::string& group,
                                      const std::string& topic, int partitions) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                 {"group.id", group},
                                                 {"enable.auto.commit", "false"},
                                                 {"log_level", "3"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  std::vector<int64_t> out(partitions, -1001);
  if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

// Waits until `done` holds for `group`'s committed offsets of `topic` (partitions
// 0..partitions-1, re-read every 20 ms) or `timeout` passes. Returns "" when it holds, else the
// last offsets read (-1001: none committed), so that a failure says which partition stopped:
//   EXPECT_EQ(WaitCommitted(bootstrap, "g", kIn, 4, SumIs(60), absl::Seconds(30)), "");
inline std::string WaitCommitted(const std::string& bootstrap, const std::string& group,
                                 const std::string& topic, int partitions,
                                 const std::function<bool(const std::vector<int64_t>&)>& done,
                                 absl::Duration timeout) {
  std::vector<int64_t> last;
  if (WaitUntil(
          [&] {
            last = Committed(bootstrap, group, topic, partitions);
            return done(last);
          },
          timeout)) {
    return "";
  }
  std::string out = "committed offsets of " + topic + " partitions 0.." +
                    std::to_string(partitions - 1) + " after " + absl::FormatDuration(timeout) +
                    ": [";
  for (size_t i = 0; i < last.size(); ++i) {
    out += (i > 0 ? ", " : "") + std::to_string(last[i]);
  }
  return out + "] (sum " + std::to_string(SumCommitted(last)) + ")";
}

// For WaitCommitted: the committed offsets sum to `items` (a topic that starts at offset 0).
inline std::function<bool(const std::vector<int64_t>&)> SumIs(int64_t items) {
  return [items](const std::vector<int64_t>& offsets) { return SumCommitted(offsets) == items; };
}

// A scripted processor: payload "match:<id>" yields one alert (key <id>) to `alert_topic` with
// headers steppewatch.rules=test.rule and steppewatch.schema=test; payload "bad:<anything>" is a
// dead letter "invalid_json"; anything else is no match. When `gate` is set, Process() first
// waits for it (to hold items in flight).
class ScriptedProcessor : public pipeline::ItemProcessor {
 public:
  ScriptedProcessor(std::string alert_topic, ::steppewatch::Notification* gate)
      : alert_topic_(std::move(alert_topic)), gate_(gate) {}

  const pipeline::Outcome& Process(std::string_view payload,
                                   const pipeline::Origin& origin) override {
    if (gate_ != nullptr) gate_->WaitForNotification();
    outcome_ = pipeline::Outcome();
    outcome_.bytes_scanned = payload.size();
    if (payload.substr(0, 6) == "match:") {
      id_ = std::string(payload.substr(6));
      value_ = "{\"id\":\"" + id_ + "\",\"origin\":{\"topic\":\"" + std::string(origin.topic) +
               "\",\"partition\":" + std::to_string(origin.partition) +
               ",\"offset\":" + std::to_string(origin.offset) + "}}";
      outcome_.kind = pipeline::Outcome::Kind::kAlerts;
      pipeline::AlertMessage alert;
      alert.topic = alert_topic_;
      alert.key = id_;
      alert.value = value_;
      alert.headers = kHeaders;
      outcome_.alerts.push_back(alert);
      outcome_.hits = 1;
      outcome_.rules_fired = 1;
    } else if (payload.substr(0, 4) == "bad:") {
      outcome_.kind = pipeline::Outcome::Kind::kDeadLetter;
      outcome_.reason = "invalid_json";
      outcome_.message = "scripted bad item";
    }
    return outcome_;
  }

  // The pipeline never asks a processor for its pack; these tests have none.
  const rules::CompiledPack& pack() const override { std::abort(); }

 private:
  std::string alert_topic_;
  ::steppewatch::Notification* gate_;
  pipeline::Outcome outcome_;
  std::string id_;
  std::string value_;
  static constexpr pipeline::Header kHeaders[] = {{"steppewatch.rules", "test.rule"},
                                                  {"steppewatch.schema", "test"}};
};

// Pipeline options for tests: one input topic, ScriptedProcessor workers (held by `gate` when
// set), quick auto-commit, the mock cluster's group timings, quiet librdkafka logs.
inline PipelineOptions ScriptedPipelineOptions(const std::string& bootstrap,
                                               const std::string& group, int workers,
                                               const std::string& input_topic,
                                               const std::string& dead_letter_topic,
                                               const std::string& alert_topic,
                                               ::steppewatch::Notification* gate = nullptr) {
  PipelineOptions o;
  o.brokers = bootstrap;
  o.group_id = group;
  o.input_topics = {input_topic};
  o.dead_letter_topic = dead_letter_topic;
  o.workers = workers;
  o.consumer_properties = {
      {"session.timeout.ms", "6000"}, {"auto.commit.interval.ms", "100"}, {"log_level", "3"}};
  o.producer_properties = {{"log_level", "3"}};
  o.processor_factory = [alert_topic, gate](std::shared_ptr<const rules::CompiledPack>,
                                            const pipeline::ProcessorOptions&)
      -> absl::StatusOr<std::unique_ptr<pipeline::ItemProcessor>> {
    return std::make_unique<ScriptedProcessor>(alert_topic, gate);
  };
  return o;
}

}  // namespace steppewatch::kafka::testing
