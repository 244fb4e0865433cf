// ItemProcessor with the real decoder, matcher, evaluator and renderer: alerts per destination
// topic with headers, dead letters with reason codes, truncated hits, buffer reuse.
#include "steppewatch/pipeline/item_processor.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/stories/fingerprint.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::pipeline {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const rules::CompiledPack> GoodPack(uint32_t max_hits = 10000) {
  rules::PackOptions options;
  options.matcher.max_hits_per_item = max_hits;
  auto pack = rules::CompiledPack::Load(steppewatch::testing::SourceDir() / "tests/data/rules/good",
                                        options);
  EXPECT_TRUE(pack.ok()) << pack.status();
  return pack.ok() ? *pack : nullptr;
}

std::unique_ptr<ItemProcessor> Make(std::shared_ptr<const rules::CompiledPack> pack,
                                    ProcessorOptions options = {}) {
  options.instance = "test-instance";
  options.fixed_processed_at = "2026-01-01T00:00:00.000Z";
  auto p = ItemProcessor::Create(std::move(pack), options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::string HeaderValue(const AlertMessage& a, std::string_view name) {
  for (const Header& h : a.headers) {
    if (h.name == name) return std::string(h.value);
  }
  return "<absent>";
}

TEST(ItemProcessor, RendersOneAlertPerDestinationTopic) {
  auto p = Make(GoodPack());
  Origin origin{"news.items", 3, 1234, 1668931200000};
  const Outcome& o = p->Process(
      R"({"id":"k1","title":"Kazakhstan and China","body":"A deal with Kazakhstan.","lang":"en"})",
      origin);
  ASSERT_EQ(o.kind, Outcome::Kind::kAlerts);
  ASSERT_EQ(o.alerts.size(), 2u);
  // kz.china-near goes to alerts.test and alerts.china; the others to alerts.test only.
  EXPECT_EQ(o.alerts[0].topic, "alerts.china");
  EXPECT_EQ(HeaderValue(o.alerts[0], "steppewatch.rules"), "kz.china-near");
  EXPECT_EQ(o.alerts[1].topic, "alerts.test");
  EXPECT_EQ(HeaderValue(o.alerts[1], "steppewatch.rules"), "kz.china-near,ca.score-only");
  EXPECT_EQ(HeaderValue(o.alerts[1], "steppewatch.severity"), "high");
  EXPECT_EQ(HeaderValue(o.alerts[1], "steppewatch.tags"), "geo:kazakhstan,actor:china");
  EXPECT_EQ(HeaderValue(o.alerts[1], "steppewatch.schema"), "steppewatch.alert.v1");
  for (const AlertMessage& a : o.alerts) {
    EXPECT_EQ(a.key, "k1");
    EXPECT_THAT(
        std::string(a.value),
        HasSubstr(
            R"("origin":{"topic":"news.items","partition":3,"offset":1234,"timestamp_ms":1668931200000})"));
    EXPECT_THAT(
        std::string(a.value),
        HasSubstr(R"("processed_at":"2026-01-01T00:00:00.000Z","instance":"test-instance"})"));
    EXPECT_THAT(std::string(a.value),
                HasSubstr(R"("rule_pack":{"name":"test-pack","version":"1.0","hash":"sha256:)"));
  }
  EXPECT_EQ(o.rules_fired, 2u);
  EXPECT_EQ(o.fired_rules.size(), 2u);
  EXPECT_GT(o.hits, 0u);
  EXPECT_FALSE(o.hits_truncated);
}

// A subscriber reads the destination topic, the top severity, the tags and a stable id from the
// body itself (the headers repeat them), so it can de-duplicate redeliveries.
TEST(ItemProcessor, PutsTopicSeverityTagsAndAStableAlertIdInTheBody) {
  auto pack = GoodPack();
  auto p = Make(pack);
  const std::string item =
      R"({"id":"k1","title":"Kazakhstan and China","body":"A deal with Kazakhstan.","lang":"en"})";
  const Outcome& o = p->Process(item, {"news.items", 3, 1234, 1668931200000});
  ASSERT_EQ(o.alerts.size(), 2u);
  std::vector<std::string> ids;
  for (const AlertMessage& a : o.alerts) {
    const std::string v(a.value);
    EXPECT_THAT(v, HasSubstr(R"("topic":")" + std::string(a.topic) + R"(")"));
    const std::string id = HeaderValue(a, "steppewatch.alert_id");
    EXPECT_EQ(id.size(), 32u);
    EXPECT_THAT(v, HasSubstr(R"("alert_id":")" + id + R"(")"));
    ids.push_back(id);
  }
  EXPECT_NE(ids[0], ids[1]) << "one id per destination topic";
  EXPECT_THAT(std::string(o.alerts[1].value),
              HasSubstr(R"("severity":"high","tags":["geo:kazakhstan","actor:china"],"item")"));
  // The same item, redelivered from another offset to another processor: the same ids.
  auto other = Make(pack);
  const Outcome& again = other->Process(item, {"news.items", 0, 99, 1});
  ASSERT_EQ(again.alerts.size(), 2u);
  EXPECT_EQ(HeaderValue(again.alerts[0], "steppewatch.alert_id"), ids[0]);
  EXPECT_EQ(HeaderValue(again.alerts[1], "steppewatch.alert_id"), ids[1]);
}

TEST(ItemProcessor, ExtendsPrefixHitsToTheWholeWord) {
  auto p = Make(GoodPack());
  const Outcome& o = p->Process(
      R"({"id":"w","title":"","body":"The Kazakhs and China signed a deal.","lang":"en"})", {});
  ASSERT_EQ(o.kind, Outcome::Kind::kAlerts);
  // Kazakh* matched "Kazakh"; the alert shows the word "Kazakhs" (4..11), marked in its snippet.
  EXPECT_THAT(std::string(o.alerts[0].value),
              HasSubstr(R"("term":"Kazakh*","field":"body","start":4,"end":11,)"
                        R"("snippet":"The Kazakhs and China signed a deal.","snippet_start":4,)"
                        R"("snippet_end":11})"));
}

TEST(ItemProcessor, CompactModeShowsOneHitPerTerm) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += "Kazakhstan and China. ";
  const std::string item = R"({"id":"c","title":"","body":")" + body + R"("})";
  auto full = Make(GoodPack());
  const std::string full_alert(full->Process(item, {}).alerts.at(0).value);
  ProcessorOptions options;
  options.hits = alert::HitsMode::kCompact;
  auto compact = Make(GoodPack(), options);
  const std::string compact_alert(compact->Process(item, {}).alerts.at(0).value);
  auto count = [](const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(compact_alert, R"("term":"Kazakhstan")"), 1u);
  EXPECT_EQ(count(compact_alert, R"("term":"China")"), 1u);
  EXPECT_GT(count(full_alert, R"("term":"Kazakhstan")"), 10u);
  EXPECT_LT(compact_alert.size() * 4, full_alert.size());
}

TEST(ItemProcessor, TimesTheScanOnlyWhenAsked) {
  // The daemon's match-time histogram reads match_nanos; `steppewatch match` turns the two
  // clock reads off. A scan of a 40 KB body takes microseconds, so a timed one is never 0 ns.
  const std::string body(40000, 'x');
  const std::string item =
      R"({"id":"t","title":"Kazakhstan and China","body":"A deal with Kazakhstan. )" + body +
      R"("})";
  auto timed = Make(GoodPack());
  ProcessorOptions quiet_options;
  quiet_options.time_scans = false;
  auto quiet = Make(GoodPack(), quiet_options);
  const Outcome& t = timed->Process(item, {});
  ASSERT_EQ(t.kind, Outcome::Kind::kAlerts);
  EXPECT_GT(t.match_nanos, 0);
  const Outcome& q = quiet->Process(item, {});
  ASSERT_EQ(q.kind, Outcome::Kind::kAlerts);
  EXPECT_EQ(q.match_nanos, 0);
  EXPECT_EQ(q.bytes_scanned, t.bytes_scanned);
  EXPECT_EQ(q.hits, t.hits);
}

TEST(ItemProcessor, ReturnsNoMatchWithoutAlerts) {
  auto p = Make(GoodPack());
  const Outcome& o = p->Process(R"({"id":"w","title":"Weather","body":"Sunny."})", {});
  EXPECT_EQ(o.kind, Outcome::Kind::kNoMatch);
  EXPECT_TRUE(o.alerts.empty());
  EXPECT_EQ(o.bytes_scanned, 13u);
}

TEST(ItemProcessor, DeadLettersDecodeErrorsWithTheirReason) {
  auto p = Make(GoodPack());
  struct Case {
    std::string payload;
    const char* reason;
  } cases[] = {
      {"{not json", "invalid_json"},       {"[1,2]", "not_an_object"},
      {"not json at all", "invalid_json"}, {R"({"title":"Kazakhstan"})", "missing_id"},
      {R"({"id":"x"})", "no_text"},        {"", "empty_payload"},
  };
  for (const Case& c : cases) {
    const Outcome& o = p->Process(c.payload, {});
    EXPECT_EQ(o.kind, Outcome::Kind::kDeadLetter) << c.payload;
    EXPECT_EQ(o.reason, c.reason) << c.payload;
    EXPECT_FALSE(o.message.empty());
  }
  const Outcome& tomb = p->Process(std::string_view(), {});
  EXPECT_EQ(tomb.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(tomb.reason, "tombstone");
  // The processor recovers: the next good item alerts.
  EXPECT_EQ(p->Process(R"({"id":"k","title":"Kazakhstan and China","body":""})", {}).kind,
            Outcome::Kind::kAlerts);
}

TEST(ItemProcessor, KeepsAlertsWhenHitsAreTruncated) {
  std::string body;
  for (int i = 0; i < 50; ++i) body += "Kazakhstan China ";
  std::string item = R"({"id":"t","title":"","body":")" + body + R"("})";
  auto pack = GoodPack(/*max_hits=*/10);
  auto keep = Make(pack);
  const Outcome& o = keep->Process(item, {});
  EXPECT_TRUE(o.hits_truncated);
  ASSERT_EQ(o.kind, Outcome::Kind::kAlerts);
  EXPECT_THAT(std::string(o.alerts[0].value), HasSubstr(R"("hits_truncated":true)"));
}

TEST(ItemProcessor, ProducesIdenticalOutputForRepeatedItems) {
  auto p = Make(GoodPack());
  std::string payload =
      R"({"id":"r","title":"Казахстан продолжит многовекторную политику","body":"Токаев.","lang":"ru"})";
  std::string first(p->Process(payload, {}).alerts.at(0).value);
  p->Process(R"({"id":"other","title":"Weather","body":"x"})", {});
  EXPECT_EQ(std::string(p->Process(payload, {}).alerts.at(0).value), first);
}

// Returns how many times `needle` occurs in `text`.
size_t Count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The renderer writes a hit that several fired rules report once and copies it, and keeps the
// opening of each rule's entry once the rule has fired: the copies must be exact, and nothing of
// one item may leak into the next (hit 0 of the next item is another hit).
TEST(ItemProcessor, RepeatsSharedHitsAndRuleOpeningsExactly) {
  auto pack = rules::CompiledPack::LoadFromFiles({{"pack.yaml", R"(
pack: {name: shared, version: '1'}
defaults: {topic: alerts.a, severity: low}
rules:
  - {id: r1, title: 'Quoted "one"', tags: [x, 'y "z"'], query: 'Astana AND deal'}
  - {id: r2, query: 'Astana AND (deal OR talks)'}
  - {id: r3, topics: [alerts.b], severity: high, query: 'Astana'}
)"}});
  ASSERT_TRUE(pack.ok()) << pack.status();
  auto p = Make(*pack);
  const std::string a = R"({"id":"a","title":"Astana deal","body":"Talks in Astana."})";
  const std::string b = R"({"id":"b","title":"Deal signed in Astana","body":"No talks."})";
  const Outcome& first = p->Process(a, {});
  ASSERT_EQ(first.kind, Outcome::Kind::kAlerts);
  ASSERT_EQ(first.alerts.size(), 2u);
  const std::string to_a(first.alerts[0].value);
  EXPECT_EQ(first.alerts[0].topic, "alerts.a");
  // Both rules of alerts.a report the title's "Astana" and the body's.
  EXPECT_EQ(Count(to_a, R"({"term":"Astana","field":"title","start":0,"end":6,)"
                        R"("snippet":"Astana deal","snippet_start":0,"snippet_end":6})"),
            2u)
      << to_a;
  EXPECT_EQ(Count(to_a, R"({"term":"Astana","field":"body","start":9,"end":15,)"
                        R"("snippet":"Talks in Astana.","snippet_start":9,"snippet_end":15})"),
            2u)
      << to_a;
  EXPECT_EQ(Count(to_a, R"({"rule":"r1","title":"Quoted \"one\"","severity":"low",)"
                        R"("tags":["x","y \"z\""],"score":)"),
            1u)
      << to_a;
  EXPECT_EQ(Count(to_a, R"({"rule":"r2","title":"r2","severity":"low","tags":[],"score":)"), 1u)
      << to_a;
  EXPECT_EQ(Count(std::string(first.alerts[1].value),
                  R"({"rule":"r3","title":"r3","severity":"high","tags":[],"score":)"),
            1u);
  // The second item, rendered after the first, is byte for byte what a new processor renders.
  std::vector<std::string> after;
  for (const AlertMessage& m : p->Process(b, {}).alerts) after.emplace_back(m.value);
  auto fresh = Make(*pack);
  std::vector<std::string> alone;
  for (const AlertMessage& m : fresh->Process(b, {}).alerts) alone.emplace_back(m.value);
  EXPECT_EQ(after, alone);
  ASSERT_EQ(alone.size(), 2u);
  EXPECT_EQ(Count(alone[0], R"({"term":"Astana","field":"title","start":15,"end":21,)"), 2u)
      << alone[0];
  // And the first item again is what it was.
  EXPECT_EQ(std::string(p->Process(a, {}).alerts[0].value), to_a);
}

// Returns the "fingerprint" value of the alert's item object, or "<absent>".
std::string FingerprintOf(std::string_view alert) {
  const size_t item_end = alert.find(R"(,"matches":)");
  const size_t at = alert.substr(0, item_end).find(R"("fingerprint":")");
  if (at == std::string_view::npos) return "<absent>";
  return std::string(alert.substr(at + 15, 16));
}

TEST(ItemProcessor, PutsTheFingerprintOfTheFoldedTextInTheItem) {
  auto p = Make(GoodPack());
  const std::string title = "Kazakhstan and China";
  const std::string body = "A deal with Kazakhstan, signed in Astana on Monday.";
  const Outcome& o = p->Process(
      R"({"id":"f1","title":")" + title + R"(","body":")" + body + R"(","lang":"en"})", {});
  ASSERT_EQ(o.kind, Outcome::Kind::kAlerts);
  stories::Fingerprinter fingerprinter;
  std::string expected;
  stories::AppendFingerprint(
      fingerprinter.Compute(normalise::FoldToString(title), normalise::FoldToString(body), body),
      &expected);
  for (const AlertMessage& a : o.alerts) {
    EXPECT_EQ(FingerprintOf(a.value), expected) << a.value;
    // After the item's other fields, inside the item object.
    EXPECT_THAT(std::string(a.value), HasSubstr(R"("lang":"en","fingerprint":")"));
  }
  // A wire copy (dateline, upper-case headline, typographic dash) carries the same fingerprint.
  const Outcome& copy = p->Process(
      R"({"id":"f2","title":"KAZAKHSTAN AND CHINA","body":"ASTANA, Nov 20 (Reuters) \u2014 A deal with Kazakhstan, signed in Astana on Monday.","lang":"en"})",
      {});
  ASSERT_EQ(copy.kind, Outcome::Kind::kAlerts);
  EXPECT_EQ(FingerprintOf(copy.alerts[0].value), expected);
  // So does one with a byline line: the processor passes the original body, whose line break
  // (a space once folded) ends the byline.
  const Outcome& byline = p->Process(
      R"({"id":"f3","title":"Kazakhstan and China","body":"By Olzhas Auyezov\nA deal with Kazakhstan, signed in Astana on Monday.","lang":"en"})",
      {});
  ASSERT_EQ(byline.kind, Outcome::Kind::kAlerts);
  EXPECT_EQ(FingerprintOf(byline.alerts[0].value), expected);
}

TEST(ItemProcessor, FingerprintsTextTheMatcherDidNotFold) {
  // A scan that stops at the hit cap leaves later fields unfolded; the fingerprint still covers
  // the whole item.
  std::string body;
  for (int i = 0; i < 50; ++i) body += "Kazakhstan China ";
  auto p = Make(GoodPack(/*max_hits=*/10));
  const Outcome& o = p->Process(R"({"id":"t","title":"Kazakhstan","body":")" + body + R"("})", {});
  ASSERT_EQ(o.kind, Outcome::Kind::kAlerts);
  stories::Fingerprinter fingerprinter;
  std::string expected;
  stories::AppendFingerprint(
      fingerprinter.Compute("kazakhstan", normalise::FoldToString(body), body), &expected);
  EXPECT_EQ(FingerprintOf(o.alerts[0].value), expected);
}

}  // namespace
}  // namespace steppewatch::pipeline
