// ItemProcessor: everything that happens to one item between the Kafka consumer and the Kafka
// producer (decode -> match -> evaluate rules -> render alerts), as one call. The daemon's
// workers and the CLI's `match` command both use it, so the CLI's backtest output is by
// construction what the daemon would publish.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/alert/alert.h"
#include "steppewatch/decode/news_item.h"

namespace steppewatch::rules {
class CompiledPack;  // rules/pack.h: an immutable, compiled rule pack (rules + matcher + hash)
}

namespace steppewatch::pipeline {

// Where an item came from; copied into the alert's "origin" and the dead-letter headers.
// For items read from a file (CLI) topic is empty and offset is the line number.
struct Origin {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
};

struct Header {
  std::string_view name;
  std::string_view value;
};

// One alert message to publish: views into the processor's buffers, valid until the next
// Process() call on the same processor.
struct AlertMessage {
  std::string_view topic;
  std::string_view key;    // the item id
  std::string_view value;  // steppewatch.alert.v1 JSON
  // steppewatch.schema, steppewatch.rules, steppewatch.tags, steppewatch.severity,
  // steppewatch.alert_id. A view like the others: the processor keeps the headers of each
  // destination topic, so an alert allocates nothing for them (a vector per alert cost four
  // allocations as it grew to five).
  std::span<const Header> headers;
};

struct Outcome {
  enum class Kind : uint8_t { kNoMatch, kAlerts, kDeadLetter };
  Kind kind = Kind::kNoMatch;
  // For kDeadLetter: a closed-set reason (a DecodeErrorName, or "match_error" / "too_many_hits"
  // when configured to dead-letter those) and a message for people.
  std::string_view reason;
  std::string message;
  std::vector<AlertMessage> alerts;  // one per destination topic, for kAlerts
  // Work counters of this item, for metrics.
  uint64_t bytes_scanned = 0;
  uint32_t hits = 0;
  uint32_t rules_fired = 0;
  // Steady-clock time the matcher spent on this item (0 when it was not scanned).
  int64_t match_nanos = 0;
  // The fired rules (indexes into pack().rules(), ascending), for per-rule metrics.
  std::vector<uint32_t> fired_rules;
  // True when the matcher stopped at MatcherOptions::max_hits_per_item. The alerts are still
  // published, evaluated over the hits found so far and marked "hits_truncated": true.
  bool hits_truncated = false;
  // The decoded item (views into the processor's buffers, valid until the next Process()); null
  // when the payload could not be decoded. For per-source and per-language counts
  // (`steppewatch match --summary`).
  const decode::NewsItem* item = nullptr;
};

struct ProcessorOptions {
  decode::DecoderOptions decoder;
  std::string instance;  // the alert's "instance" (host name by default)
  bool include_snippets = true;
  // Hits per fired rule in the alert: all (up to 32) or one per distinct term (the "compact"
  // mode, smaller alerts; `steppewatch match --hits compact`).
  alert::HitsMode hits = alert::HitsMode::kFull;
  // When not empty, every alert's "processed_at" is this string instead of the current time:
  // for golden-file tests and reproducible backtests.
  std::string fixed_processed_at;
  // Measure each scan for Outcome::match_nanos (two clock reads per item, ~1% of the item path).
  // The daemon's match-time histogram needs it; `steppewatch match` reports no such figure and
  // turns it off (match_nanos stays 0).
  bool time_scans = true;
};

// One per worker thread; not thread-safe. Holds the decoder, the match context and the render
// buffers of one compiled pack; make a new one (cheap) when the pack is swapped.
class ItemProcessor {
 public:
  static absl::StatusOr<std::unique_ptr<ItemProcessor>> Create(
      std::shared_ptr<const rules::CompiledPack> pack, const ProcessorOptions& options);
  virtual ~ItemProcessor() = default;

  // Processes one payload (null data = tombstone). Never throws; per-item failures are
  // kDeadLetter outcomes. The returned reference is valid until the next call.
  virtual const Outcome& Process(std::string_view payload, const Origin& origin) = 0;

  virtual const rules::CompiledPack& pack() const = 0;
};

}  // namespace steppewatch::pipeline
