// Alert headers and dead-letter encoding (see output_messages.h).
#include "steppewatch/kafka/output_messages.h"

#include <cstring>
#include <string>

namespace steppewatch::kafka {
namespace {

// Per-header framing that librdkafka adds on the wire, rounded up.
constexpr size_t kHeaderOverhead = 16;

void Add(rd_kafka_headers_t* headers, const char* name, std::string_view value) {
  rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
}

}  // namespace

rd_kafka_headers_t* AlertHeaders(absl::Span<const pipeline::Header> headers) {
  rd_kafka_headers_t* out = rd_kafka_headers_new(headers.size());
  for (const pipeline::Header& h : headers) {
    rd_kafka_header_add(out, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                        static_cast<ssize_t>(h.value.size()));
  }
  return out;
}

size_t AlertSize(const pipeline::AlertMessage& alert) {
  size_t bytes = alert.key.size() + alert.value.size();
  for (const pipeline::Header& h : alert.headers) {
    bytes += h.name.size() + h.value.size() + kHeaderOverhead;
  }
  return bytes;
}

DeadLetter EncodeDeadLetter(const rd_kafka_message_t& record, int64_t timestamp_ms,
                            std::string_view reason, std::string_view message,
                            std::string_view pack_label, size_t max_message_bytes) {
  DeadLetter out;
  const std::string_view payload =
      record.err != RD_KAFKA_RESP_ERR_NO_ERROR || record.payload == nullptr
          ? std::string_view()
          : std::string_view(static_cast<const char*>(record.payload), record.len);
  rd_kafka_headers_t* original = nullptr;
  // rd_kafka_message_headers parses lazily and caches on the message: a const record is
  // still safe to read from one thread at a time, which is how items are processed.
  auto* mutable_record = const_cast<rd_kafka_message_t*>(&record);
  if (rd_kafka_message_headers(mutable_record, &original) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.headers = rd_kafka_headers_copy(original);
  } else {
    out.headers = rd_kafka_headers_new(6);
  }
  const std::string partition = std::to_string(record.partition);
  const std::string offset = std::to_string(record.offset);
  Add(out.headers, "steppewatch.error.reason", reason);
  Add(out.headers, "steppewatch.error.message", message);
  Add(out.headers, "steppewatch.error.topic",
      record.rkt != nullptr ? rd_kafka_topic_name(record.rkt) : "");
  Add(out.headers, "steppewatch.error.partition", partition);
  Add(out.headers, "steppewatch.error.offset", offset);
  Add(out.headers, "steppewatch.error.rule_pack", pack_label);
  out.key = record.key != nullptr
                ? std::string_view(static_cast<const char*>(record.key), record.key_len)
                : std::string_view();
  out.value = payload;
  out.timestamp_ms = timestamp_ms > 0 ? timestamp_ms : 0;
  size_t headers_bytes = 0;
  const char* name;
  const void* v;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(out.headers, i, &name, &v, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    headers_bytes += std::strlen(name) + size + kHeaderOverhead;
  }
  // 4 KiB: librdkafka's per-record framing and the truncation header, with room to spare.
  const size_t overhead = out.key.size() + headers_bytes + 4096;
  if (out.value.data() != nullptr && out.value.size() + overhead > max_message_bytes) {
    const size_t keep = max_message_bytes > overhead ? max_message_bytes - overhead : 0;
    Add(out.headers, "steppewatch.error.truncated", std::to_string(out.value.size()));
    out.value = out.value.substr(0, keep);
  }
  return out;
}

}  // namespace steppewatch::kafka
