// The Kafka encoding of the daemon's two outputs, side by side: an alert's headers, and a dead
// letter (the original record plus steppewatch.error.* headers that say why it is there).
//
// A dead letter carries the input record's key, value, headers and timestamp, and:
//   steppewatch.error.reason      a kDeadLetterReasons name (invalid_json, too_large, ...)
//   steppewatch.error.message     the human-readable reason
//   steppewatch.error.topic / .partition / .offset   where the record was read
//   steppewatch.error.rule_pack   "name@version hash" of the pack that processed it
//   steppewatch.error.truncated   the original value size, when only a prefix fits (see below)
//
// Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/types/span.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/pipeline/item_processor.h"

namespace steppewatch::kafka {

// Returns new headers holding `headers` (the caller owns them; Produce() takes them).
rd_kafka_headers_t* AlertHeaders(absl::Span<const pipeline::Header> headers);

// Returns the bytes an alert takes against the producer's message.max.bytes (key, value and
// headers with their framing).
size_t AlertSize(const pipeline::AlertMessage& alert);

struct DeadLetter {
  rd_kafka_headers_t* headers = nullptr;  // owned by the caller until produced
  std::string_view key;                   // the record's key; data() == nullptr: none
  std::string_view value;                 // the record's value, or a prefix of it
  int64_t timestamp_ms = 0;               // the record's timestamp; 0 = now
};

// Encodes the dead letter of `record` (which must outlive the result's views). A record that
// librdkafka could not read (record.err set) has an empty value. A value that would not fit
// `max_message_bytes` (an item dead-lettered as too_large may be bigger than what may be
// produced) is cut to a prefix, with its original size in steppewatch.error.truncated: retrying
// it could never succeed and would block the partition forever.
DeadLetter EncodeDeadLetter(const rd_kafka_message_t& record, int64_t timestamp_ms,
                            std::string_view reason, std::string_view message,
                            std::string_view pack_label, size_t max_message_bytes);

}  // namespace steppewatch::kafka
