// AlertRenderer's alerts, written with literal keys, hit objects rendered once per alert and
// copied, and rule openings kept across alerts, against a reference that renders every member
// with JsonWriter's generic calls and every hit afresh: the same bytes, item after item.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "steppewatch/alert/alert.h"
#include "steppewatch/alert/json_writer.h"
#include "steppewatch/rules/pack.h"
#include "testing/paths.h"

namespace steppewatch::alert {
namespace {

std::shared_ptr<const rules::CompiledPack> GoodPack() {
  auto pack = rules::CompiledPack::Load(steppewatch::testing::SourceDir() / "tests/data/rules/good",
                                        rules::PackOptions{});
  EXPECT_TRUE(pack.ok()) << pack.status();
  return pack.ok() ? *pack : nullptr;
}

// The alert as the renderer wrote it before its literal-key path: a JsonWriter call per key and
// value, each hit rendered where it is reported.
std::string ReferenceAlert(const rules::CompiledPack& pack, const RenderOptions& options,
                           const AlertContext& c, const std::vector<rules::FiredRule>& fired) {
  std::string out;
  JsonWriter w(&out);
  const bool compact = options.hits == HitsMode::kCompact;
  const uint32_t context_bytes =
      compact ? options.compact_snippet_context_bytes : options.snippet_context_bytes;
  const decode::NewsItem& item = *c.item;
  int top = -1;
  std::vector<std::string> tags;  // distinct, in first-seen order
  for (const rules::FiredRule& f : fired) {
    const rules::Rule& rule = pack.rules()[f.rule];
    top = std::max(top, static_cast<int>(rule.severity));
    for (const std::string& tag : rule.tags) {
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
  }
  std::string alert_id;
  AppendAlertId(item.id, pack.info().hash, c.topic, &alert_id);
  w.BeginObject();
  w.Field("schema", kAlertSchema);
  w.Field("alert_id", alert_id);
  w.Field("topic", c.topic);
  w.Field("severity", top < 0 ? "" : rules::SeverityName(static_cast<rules::Severity>(top)));
  w.Key("tags");
  w.BeginArray();
  for (const std::string& tag : tags) w.String(tag);
  w.EndArray();
  w.Key("item");
  w.BeginObject();
  w.Field("id", item.id);
  w.Field("title", item.title);
  if (!item.url.empty()) w.Field("url", item.url);
  if (!item.source.empty()) w.Field("source", item.source);
  if (!item.lang.empty()) w.Field("lang", item.lang);
  if (!item.published_at.empty()) w.Field("published_at", item.published_at);
  if (c.has_fingerprint) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(c.fingerprint));
    w.Field("fingerprint", hex);
    if (c.lead_fingerprint != 0) {
      std::snprintf(hex, sizeof hex, "%016llx",
                    static_cast<unsigned long long>(c.lead_fingerprint));
      w.Field("lead_fingerprint", hex);
    }
    if (c.fingerprint_tokens != 0) w.FieldInt("fingerprint_tokens", c.fingerprint_tokens);
    if (c.sentence_fingerprint != 0) {
      std::snprintf(hex, sizeof hex, "%016llx",
                    static_cast<unsigned long long>(c.sentence_fingerprint));
      w.Field("fingerprint_sentence", hex);
    }
    if (c.sentence_fingerprint2 != 0) {
      std::snprintf(hex, sizeof hex, "%016llx",
                    static_cast<unsigned long long>(c.sentence_fingerprint2));
      w.Field("fingerprint_sentence2", hex);
    }
  }
  w.EndObject();
  w.Key("matches");
  w.BeginArray();
  for (const rules::FiredRule& f : fired) {
    const rules::Rule& rule = pack.rules()[f.rule];
    w.BeginObject();
    w.Field("rule", rule.id);
    w.Field("title", rule.title);
    w.Field("severity", rules::SeverityName(rule.severity));
    w.Key("tags");
    w.BeginArray();
    for (const std::string& tag : rule.tags) w.String(tag);
    w.EndArray();
    w.Key("score");
    w.Double(f.score);
    w.Key("hits");
    w.BeginArray();
    std::vector<match::TermId> shown;
    for (uint32_t k = f.hits_begin; k < f.hits_end; ++k) {
      const match::Hit& h = c.hits[(*c.fired_hits)[k]];
      if (compact) {
        if (shown.size() >= kCompactHitsPerRule ||
            std::find(shown.begin(), shown.end(), h.term) != shown.end()) {
          continue;
        }
        shown.push_back(h.term);
      }
      std::string_view text = h.field == 0 ? c.item->title : c.item->body;
      uint32_t end = h.end;
      if (pack.term(h.term).kind != match::TermSpec::Kind::kLiteral) {
        end = ExtendToWordEnd(text, end);
      }
      w.BeginObject();
      w.Field("term", pack.term_display(h.term));
      w.Field("field", h.field == 0 ? "title" : "body");
      w.FieldInt("start", h.start);
      w.FieldInt("end", end);
      if (options.include_snippets) {
        std::string snippet;
        const SnippetSpan span = AppendSnippet(text, h.start, end, context_bytes, &snippet);
        w.Field("snippet", snippet);
        w.FieldInt("snippet_start", span.start);
        w.FieldInt("snippet_end", span.end);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  if (c.hits_truncated) {
    w.Key("hits_truncated");
    w.Bool(true);
  }
  w.Key("rule_pack");
  w.BeginObject();
  w.Field("name", pack.info().name);
  w.Field("version", pack.info().version);
  w.Field("hash", pack.info().hash);
  w.EndObject();
  w.Key("origin");
  w.BeginObject();
  w.Field("topic", c.origin_topic);
  w.FieldInt("partition", c.origin_partition);
  w.FieldInt("offset", c.origin_offset);
  w.FieldInt("timestamp_ms", c.origin_timestamp_ms);
  w.EndObject();
  w.Field("processed_at", c.processed_at);
  w.Field("instance", c.instance);
  w.EndObject();
  return out;
}

// Random text of words that need no escaping and of bytes that do: quotes, backslashes, control
// characters, tabs and line breaks (collapsed in snippets), Cyrillic, U+2028.
std::string RandomText(std::mt19937* rng, size_t words) {
  static const char* const kPieces[] = {"Kazakhstan", "Astana",     "pipeline",     "Казахстан",
                                        "нефть",      "\"quoted\"", "back\\slash",  "tab\there",
                                        "line\nend",  "\x01",       "\xE2\x80\xA8", "shortages",
                                        "China",      "  ",         "gas,"};
  std::string text;
  for (size_t i = 0; i < words; ++i) {
    if (i > 0) text.push_back(' ');
    text += kPieces[(*rng)() % (sizeof kPieces / sizeof kPieces[0])];
  }
  return text;
}

TEST(AlertRenderer, AlertsEqualTheGenericWriterItemAfterItem) {
  auto pack = GoodPack();
  ASSERT_NE(pack, nullptr);
  ASSERT_GT(pack->term_count(), 3u);
  bool saw_prefix_term = false;
  for (match::TermId t = 0; t < pack->term_count(); ++t) {
    saw_prefix_term |= pack->term(t).kind != match::TermSpec::Kind::kLiteral;
  }
  ASSERT_TRUE(saw_prefix_term);  // ExtendToWordEnd's path is exercised
  std::vector<RenderOptions> variants(4);
  variants[1].hits = HitsMode::kCompact;
  variants[2].include_snippets = false;
  variants[3].snippet_context_bytes = 7;
  std::mt19937 rng(16);
  for (const RenderOptions& options : variants) {
    AlertRenderer renderer(*pack, options);  // one renderer over all items, as a worker's
    for (int n = 0; n < 400; ++n) {
      const std::string title = RandomText(&rng, 1 + rng() % 6);
      const std::string body = RandomText(&rng, rng() % 60);
      const std::string id = "item-" + std::to_string(n) + (n % 7 == 0 ? "\"\xD0\x9A" : "");
      decode::NewsItem item;
      item.id = id;
      item.title = title;
      item.body = body;
      // Optional members present or absent, plain or needing escapes.
      if (rng() % 2) item.url = "https://example.com/a?b=\"c\"";
      if (rng() % 2) item.source = "Reuters";
      if (rng() % 2) item.lang = "ru";
      if (rng() % 2) item.published_at = "2026-12-04T10:00:00Z";
      std::vector<match::Hit> hits(1 + rng() % 12);
      for (match::Hit& h : hits) {
        h.term = static_cast<match::TermId>(rng() % pack->term_count());
        h.field = body.empty() ? 0 : static_cast<uint8_t>(rng() % 2);
        const size_t size = h.field == 0 ? title.size() : body.size();
        h.start = static_cast<uint32_t>(rng() % (size + 1));
        h.end = std::min<uint32_t>(static_cast<uint32_t>(size), h.start + rng() % 20);
      }
      // Rules reporting overlapping runs of the hits, as the tenants of a watch list do.
      std::vector<uint32_t> fired_hits;
      std::vector<rules::FiredRule> fired(1 + rng() % 6);
      static const double kScores[] = {1, 3, 2.5, 0.1, -0.0, 1e5, 1234567.125};
      for (rules::FiredRule& f : fired) {
        f.rule = static_cast<uint32_t>(rng() % pack->rules().size());
        f.score = kScores[rng() % (sizeof kScores / sizeof kScores[0])];
        f.hits_begin = static_cast<uint32_t>(fired_hits.size());
        for (uint32_t k = rng() % 10; k > 0; --k) {
          fired_hits.push_back(static_cast<uint32_t>(rng() % hits.size()));
        }
        f.hits_end = static_cast<uint32_t>(fired_hits.size());
      }
      std::vector<const rules::FiredRule*> fired_ptrs;
      for (const rules::FiredRule& f : fired) fired_ptrs.push_back(&f);
      AlertContext c;
      c.item = &item;
      c.hits = hits;
      c.fired_hits = &fired_hits;
      c.topic = n % 2 ? "alerts.test" : "alerts.china";
      c.origin_topic = n % 3 ? "news.items" : "";
      c.origin_partition = static_cast<int32_t>(rng() % 4) - 1;
      c.origin_offset = static_cast<int64_t>(rng()) - 5;
      c.origin_timestamp_ms = n % 5 ? 1668931200000 + n : -1;
      c.processed_at = "2026-01-01T00:00:00.000Z";
      c.instance = n % 4 ? "test-instance" : "in\tstance \"2\"";
      c.hits_truncated = rng() % 4 == 0;
      c.has_fingerprint = rng() % 3 != 0;
      c.fingerprint = (uint64_t{rng()} << 32) | rng();
      c.lead_fingerprint = rng() % 2 ? 0 : (uint64_t{rng()} << 32) | rng();
      c.fingerprint_tokens = rng() % 2 ? 0 : rng() % 1000;
      c.sentence_fingerprint = rng() % 2 ? 0 : (uint64_t{rng()} << 32) | rng();
      c.sentence_fingerprint2 = rng() % 2 ? 0 : (uint64_t{rng()} << 32) | rng();
      std::string json = "prefix";  // Render appends
      std::string rules_header, tags_header, severity_header, alert_id;
      renderer.Render(c, fired_ptrs, &json, &rules_header, &tags_header, &severity_header,
                      &alert_id);
      ASSERT_EQ(json, "prefix" + ReferenceAlert(*pack, options, c, fired)) << "item " << n;
      EXPECT_EQ(alert_id.size(), 32u);
      EXPECT_NE(json.find(R"("alert_id":")" + alert_id + '"'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace steppewatch::alert
