// The alert message (schema "steppewatch.alert.v1", config/schema/alert.v1.schema.json): one per
// item per destination topic, listing every rule that fired for that topic with its hits and
// UTF-8-safe snippets, plus the Kafka headers that repeat the rule ids, tags and top severity.
//
// AlertRenderer is one per worker thread (not thread-safe); it writes into caller-owned strings
// that the caller reuses, so rendering allocates only while those grow.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "steppewatch/decode/news_item.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::sink {

inline constexpr std::string_view kAlertSchema = "steppewatch.alert.v1";

// Kafka header names of an alert message.
inline constexpr std::string_view kHeaderSchema = "steppewatch.schema";
inline constexpr std::string_view kHeaderRules = "steppewatch.rules";        // "id1,id2"
inline constexpr std::string_view kHeaderTags = "steppewatch.tags";          // "geo:kz,theme:x"
inline constexpr std::string_view kHeaderSeverity = "steppewatch.severity";  // the top one

// Everything about one item that an alert repeats besides the fired rules.
struct AlertContext {
  const decode::NewsItem* item = nullptr;
  absl::Span<const match::Hit> hits;  // the item's hits (Hit::field 0 title, 1 body)
  const std::vector<uint32_t>* fired_hits = nullptr;  // Evaluator::fired_hits()
  std::string_view origin_topic;                      // empty for items read from a file
  int32_t origin_partition = -1;
  int64_t origin_offset = -1;  // for files: the line number
  int64_t origin_timestamp_ms = -1;
  std::string_view processed_at;  // RFC 3339 UTC
  std::string_view instance;
  bool hits_truncated = false;  // the matcher stopped at its hit cap
  // The item's near-duplicate fingerprint (stories/fingerprint.h), rendered as
  // "item.fingerprint" (16 hex digits) when has_fingerprint.
  bool has_fingerprint = false;
  uint64_t fingerprint = 0;
};

struct RenderOptions {
  bool include_snippets = true;
  // Bytes of context on each side of a hit in its snippet: about ten words of English, enough
  // to read the hit in context; the snippet never splits a UTF-8 sequence.
  uint32_t snippet_context_bytes = 60;
};

class AlertRenderer {
 public:
  AlertRenderer(const rules::CompiledPack& pack, const RenderOptions& options)
      : pack_(pack), options_(options) {}

  // Appends the alert JSON for the fired rules `fired` (those of one destination topic) to
  // `*json`, and sets the header values in `*rules`, `*tags` and `*severity` (cleared first).
  void Render(const AlertContext& context, absl::Span<const rules::FiredRule* const> fired,
              std::string* json, std::string* rules, std::string* tags,
              std::string* severity) const;

 private:
  const rules::CompiledPack& pack_;
  RenderOptions options_;
};

// Appends the snippet of [start, end) in `text`: up to `context_bytes` on each side, cut at code
// point boundaries (and, when possible, at a space), white-space runs shown as one space, "…"
// where text was cut.
void AppendSnippet(std::string_view text, uint32_t start, uint32_t end, uint32_t context_bytes,
                   std::string* out);

// Appends the current UTC time as RFC 3339 with milliseconds ("2026-11-27T21:40:00.123Z").
void AppendRfc3339Now(std::string* out);

}  // namespace steppewatch::sink
