// The alert message (schema "steppewatch.alert.v1", config/schema/alert.v1.schema.json): one per
// item per destination topic, listing every rule that fired for that topic with its hits and
// UTF-8-safe snippets, plus the Kafka headers that repeat the rule ids, tags and top severity.
// The body also carries, at its top level, a deterministic `alert_id` (AppendAlertId), the
// destination `topic`, the highest `severity` and the union of the rules' `tags`, so a
// subscriber can de-duplicate and route without reading the headers.
//
// AlertRenderer is one per worker thread (not thread-safe); it writes into caller-owned strings
// that the caller reuses, so rendering allocates only while those and its own scratch grow (the
// scratch keeps the rendered opening of each rule that has fired: bounded by the pack).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "steppewatch/decode/news_item.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::alert {

class JsonWriter;

inline constexpr std::string_view kAlertSchema = "steppewatch.alert.v1";

// Kafka header names of an alert message.
inline constexpr std::string_view kHeaderSchema = "steppewatch.schema";
inline constexpr std::string_view kHeaderRules = "steppewatch.rules";        // "id1,id2"
inline constexpr std::string_view kHeaderTags = "steppewatch.tags";          // "geo:kz,theme:x"
inline constexpr std::string_view kHeaderSeverity = "steppewatch.severity";  // the top one
inline constexpr std::string_view kHeaderAlertId = "steppewatch.alert_id";   // as in the body

// How many hits an alert lists per fired rule.
enum class HitsMode : uint8_t {
  // Up to rules::kMaxHitsPerFiredRule hits per rule, snippets of
  // RenderOptions::snippet_context_bytes on each side.
  kFull,
  // One hit per distinct term, at most kCompactHitsPerRule per rule, snippets of
  // RenderOptions::compact_snippet_context_bytes: for subscribers that read alerts on a phone
  // or store millions of them.
  kCompact,
};
// Hits per rule in compact mode: enough to show each clause of a typical rule (a place, an
// actor, a theme word, a frame word) with room to spare.
inline constexpr uint32_t kCompactHitsPerRule = 8;
// Bytes of a hit itself that a snippet shows; a longer hit (a regex over a whole short field)
// is cut there with "…", so one hit never makes a snippet longer than this plus its context.
inline constexpr uint32_t kMaxSnippetHitBytes = 200;
// Most bytes a span is extended past the matched text to reach the end of its word (prefix and
// regex terms, see ExtendToWordEnd): longer than any real word, short enough that a run of
// letters without spaces (a base64 blob) cannot make a hit swallow a field.
inline constexpr uint32_t kMaxWordExtensionBytes = 64;

// Returns "full" or "compact".
std::string_view HitsModeName(HitsMode mode);
// Parses "full" or "compact"; false for anything else.
bool ParseHitsMode(std::string_view text, HitsMode* mode);

// Everything about one item that an alert repeats besides the fired rules.
struct AlertContext {
  const decode::NewsItem* item = nullptr;
  absl::Span<const match::Hit> hits;  // the item's hits (Hit::field 0 title, 1 body)
  const std::vector<uint32_t>* fired_hits = nullptr;  // Evaluator::fired_hits()
  std::string_view topic;                             // the destination alert topic of this message
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
  // Its lead key (stories::Fingerprinter::Compute), rendered as "item.lead_fingerprint" when
  // has_fingerprint and not 0 (0: the item's whole text is its lead).
  uint64_t lead_fingerprint = 0;
  // The tokens the fingerprint covers, rendered as "item.fingerprint_tokens" when
  // has_fingerprint and not 0 (the stage's containment gate, stories::LeadGate).
  uint32_t fingerprint_tokens = 0;
  // Its sentence key (stories::Fingerprinter::Compute), rendered as "item.fingerprint_sentence"
  // when has_fingerprint and not 0 (0: no sentence of stories::kSentenceTokens tokens).
  uint64_t sentence_fingerprint = 0;
  // Its second sentence key, rendered as "item.fingerprint_sentence2" when has_fingerprint and
  // not 0 (0: fewer than two distinct such sentences).
  uint64_t sentence_fingerprint2 = 0;
};

struct RenderOptions {
  bool include_snippets = true;
  // Bytes of context on each side of a hit in its snippet: about ten words of English, enough
  // to read the hit in context; the snippet never splits a UTF-8 sequence.
  uint32_t snippet_context_bytes = 60;
  HitsMode hits = HitsMode::kFull;
  // Context of compact snippets: a few words on each side of the hit.
  uint32_t compact_snippet_context_bytes = 30;
};

class AlertRenderer {
 public:
  AlertRenderer(const rules::CompiledPack& pack, const RenderOptions& options);

  // Appends the alert JSON for the fired rules `fired` (those of one destination topic) to
  // `*json`, and sets the header values in `*rules`, `*tags`, `*severity` and `*alert_id`
  // (cleared first).
  void Render(const AlertContext& context, absl::Span<const rules::FiredRule* const> fired,
              std::string* json, std::string* rules, std::string* tags, std::string* severity,
              std::string* alert_id) const;

  // Asks for the cache lines Render reads first about fired rule `rule` (its Rule and where its
  // opening is kept): with a large pack each is a miss, and a caller with other work to do
  // before Render (the fingerprint) lets them arrive meanwhile. A hint only.
  void Prefetch(uint32_t rule) const {
    const rules::Rule& r = pack_.rules()[rule];
    __builtin_prefetch(&r.id);
    __builtin_prefetch(&r.tags);  // and the severity before it
    __builtin_prefetch(&rule_opening_[rule]);
  }

 private:
  // Returns the opening of rule `rule`'s entry in "matches" ('{' and its rule, title, severity
  // and tags members), rendered the first time the rule fires and kept after that.
  std::string_view RuleOpening(uint32_t rule) const;
  // Appends to `*out` the entry of fired rule `f` in "matches" (a complete object), with literal
  // keys: with a large watch list an alert holds tens of entries, and a JsonWriter call per key
  // and value was a quarter of the rendering.
  void AppendRuleEntry(const AlertContext& c, const rules::FiredRule& f, uint32_t context_bytes,
                       std::string* out) const;

  const rules::CompiledPack& pack_;
  RenderOptions options_;
  // The alert's "rule_pack" member with its leading comma: the same in every alert of the pack.
  std::string rule_pack_member_;
  // Scratch reused across Render() calls (one renderer per thread).
  mutable std::string snippet_;
  mutable std::vector<match::TermId> shown_terms_;
  // The constant opening of each rule's entry, kept once the rule has fired: with a large watch
  // list an alerting item fires tens of rules, and these members were rendered (escaped, keyed)
  // again each time. Filled on first use rather than at pack load, so a worker holds only the
  // rules that fire and loading a 100k-rule pack costs nothing more; bounded by the pack.
  mutable std::string rule_openings_;
  struct Span32 {
    uint32_t begin = 0, size = 0;  // size 0: not rendered yet
  };
  mutable std::vector<Span32> rule_opening_;  // by rule index
  // Per hit of the item (index into AlertContext::hits), where its JSON object lies in the
  // output of the current Render() call, valid when its stamp equals render_stamp_: the same
  // hit shows under every fired rule that reports it (tenants of a large watch list watch the
  // same names), and its object, snippet included, depends on the hit alone.
  struct HitObject {
    uint32_t stamp = 0;
    uint32_t size = 0;
    size_t pos = 0;
  };
  mutable std::vector<HitObject> hit_object_;
  mutable uint32_t render_stamp_ = 0;
};

// Appends the alert id of item `item_id` alerted to `topic` under the pack whose hash is
// `pack_hash` ("sha256:..."): the first 32 hex digits (128 bits) of
// SHA-256(item_id NUL pack_hash NUL topic). The same item, pack and topic give the same id, so
// a consumer de-duplicates Kafka's at-least-once redeliveries (and re-runs of a backtest) by
// it; a new pack version gives a new id, since its alert may differ.
void AppendAlertId(std::string_view item_id, std::string_view pack_hash, std::string_view topic,
                   std::string* out);

// Returns `end` moved forward to the end of the word it stops inside: for prefix terms
// ("shortage*" matched "shortage" in "shortages") and regex terms, whose match may stop within
// a word. Stops at a word boundary (normalise::IsBoundaryAfter), after a CJK character (each is
// a word), at the end of `text`, or kMaxWordExtensionBytes past `end`.
uint32_t ExtendToWordEnd(std::string_view text, uint32_t end);

// Where the hit sits inside a snippet: byte offsets into the snippet's UTF-8 text (not code
// points; white space inside the hit is collapsed as in the rest of the snippet).
struct SnippetSpan {
  uint32_t start = 0;
  uint32_t end = 0;
};

// Appends the snippet of [start, end) in `text`: up to `context_bytes` on each side, cut at code
// point boundaries (and, when possible, at a space), white-space runs shown as one space, "…"
// where text was cut; a hit longer than kMaxSnippetHitBytes is shown up to there. Returns where
// the (shown part of the) hit sits in what was appended.
SnippetSpan AppendSnippet(std::string_view text, uint32_t start, uint32_t end,
                          uint32_t context_bytes, std::string* out);

// Appends the current UTC time as RFC 3339 with milliseconds ("2026-11-27T21:40:00.123Z").
void AppendRfc3339Now(std::string* out);

}  // namespace steppewatch::alert
