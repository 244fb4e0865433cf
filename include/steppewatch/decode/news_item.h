// NewsItem and ItemDecoder: the decode stage, from one Kafka payload (JSON) to views of the
// item's fields. Contract shared by the rules, pipeline and CLI stages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace steppewatch::decode {

// The fields of a news item that steppewatch matches, in scan order.
enum class Field : uint8_t { kTitle = 0, kBody = 1 };
inline constexpr int kFieldCount = 2;
std::string_view FieldName(Field field);  // "title", "body"

// A decoded item. Every view points into the decoder's own buffers (never into the payload, which
// may be freed after Decode() returns) and stays valid only until the next Decode() call on the
// same decoder. Absent optional fields are empty; a JSON null counts as absent.
// String fields are the JSON strings unescaped and validated as UTF-8 (an escaped \u0000 stays a
// NUL byte inside the view). `id` may also be a JSON number: it is then its raw text ("12", "1e3").
struct NewsItem {
  std::string_view id;
  std::string_view title;
  std::string_view body;
  std::string_view url;
  std::string_view source;
  std::string_view lang;
  std::string_view published_at;

  std::string_view text(Field field) const { return field == Field::kTitle ? title : body; }
};

// Why an item could not be decoded. The names (DecodeErrorName) are a closed set used in the
// dead-letter header `steppewatch.error.reason` and in metric labels: never rename one.
enum class DecodeError : uint8_t {
  kOk = 0,
  kTombstone,     // "tombstone": the Kafka message has a null value
  kEmptyPayload,  // "empty_payload": zero bytes
  kTooLarge,      // "too_large": larger than DecoderOptions::max_item_bytes
  kInvalidUtf8,   // "invalid_utf8": the payload is not valid UTF-8
  kInvalidJson,   // "invalid_json": not JSON, or a JSON error while reading a field
  kNotAnObject,   // "not_an_object": valid JSON whose root is not an object
  kMissingId,     // "missing_id": no id field, or an empty one
  kNoText,        // "no_text": neither title nor body (both absent or empty)
  kWrongType,     // "wrong_type": a configured field holds a non-string (id may be a number)
};
inline constexpr int kDecodeErrorCount = 10;
std::string_view DecodeErrorName(DecodeError error);

// Where each field is read from: a dotted path of object keys ("meta.lang") into the item (a key
// that itself contains a dot cannot be addressed). Two fields may share a path; one field's path
// may not be a prefix of another's. Create() rejects empty paths and empty components.
struct FieldPaths {
  std::string id = "id";
  std::string title = "title";
  std::string body = "body";
  std::string url = "url";
  std::string source = "source";
  std::string lang = "lang";
  std::string published_at = "published_at";
};

struct DecoderOptions {
  FieldPaths fields;
  // Items larger than this are dead-lettered: 1 MiB covers any real article (the longest in the
  // bench corpus is ~60 KB) and bounds the per-worker buffer.
  size_t max_item_bytes = 1 << 20;
};

// Decodes JSON news items with simdjson On-Demand.
// Decisions: when a configured key occurs twice in one object, every occurrence is checked and the
// last one wins (as JSON.parse does). A UTF-8 byte-order mark at the start is skipped (RFC 8259
// 8.1). Values of keys off the configured paths are skipped structurally, so their scalars and
// nesting depth are not validated (skipping does not recurse); trailing content after the root
// object is kInvalidJson. The size limit is checked before the payload is read. Fields are read
// in document order and the first problem met is reported, so a truncated document whose
// configured field is already of the wrong type reports kWrongType rather than kInvalidJson.
// One per worker thread: owns a parser and a padded buffer; no allocation per item once the
// buffer has grown to the largest item seen. Not thread-safe.
class ItemDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<ItemDecoder>> Create(const DecoderOptions& options);
  virtual ~ItemDecoder() = default;

  // Decodes `payload` into `*item`. A null `payload.data()` means a Kafka tombstone. On failure
  // returns the reason and, when useful, writes a human-readable detail (e.g. the JSON error and
  // the field) to `*detail` if it is not null.
  virtual DecodeError Decode(std::string_view payload, NewsItem* item,
                             std::string* detail = nullptr) = 0;
};

}  // namespace steppewatch::decode
