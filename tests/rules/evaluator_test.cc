// The evaluator over real matcher hits: every operator, NEAR across fields and scripts, scoring,
// candidate selection and buffer reuse across items.
#include "steppewatch/rules/evaluator.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/pack.h"
#include "testing/status_matchers.h"

namespace steppewatch::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

struct Item {
  std::string title;
  std::string body;
  std::string lang = {};
  std::string source = {};
};

// A pack from YAML text (sets and rules), with the real matcher, and an evaluator over it.
class Engine {
 public:
  explicit Engine(const std::string& yaml) {
    std::vector<Diagnostic> diags;
    auto pack = CompiledPack::LoadFromFiles(
        {{"pack.yaml", "pack: {name: t, version: '1'}\n" + yaml}}, PackOptions(), &diags);
    EXPECT_TRUE(pack.ok()) << pack.status();
    if (!pack.ok()) return;
    pack_ = *pack;
    context_ = *match::MatchContext::Create(pack_->matcher());
    evaluator_ = std::make_unique<Evaluator>(pack_);
  }

  // Returns the ids of the rules that fire on `item`, and their scores in `*scores`.
  std::vector<std::string> Fired(const Item& item, std::vector<double>* scores = nullptr) {
    std::vector<std::string> ids;
    if (!pack_) return ids;
    std::string_view fields[2] = {item.title, item.body};
    EXPECT_TRUE(context_->Scan(fields, &hits_).ok());
    ItemView view;
    view.fields[0] = item.title;
    view.fields[1] = item.body;
    view.lang = item.lang;
    view.source = item.source;
    last_ = evaluator_->Evaluate(view, hits_);
    for (const FiredRule& f : last_) {
      ids.push_back(pack_->rules()[f.rule].id);
      if (scores) scores->push_back(f.score);
    }
    return ids;
  }
  std::vector<std::string> Body(const std::string& body) { return Fired({"", body}); }

  // Returns the ids of the enabled rules that Explain (which evaluates one rule in full, with
  // no candidate selection) says fire on `item`, in rule order.
  std::vector<std::string> FiredByExplain(const Item& item) {
    std::vector<std::string> ids;
    if (!pack_) return ids;
    std::string_view fields[2] = {item.title, item.body};
    EXPECT_TRUE(context_->Scan(fields, &hits_).ok());
    ItemView view;
    view.fields[0] = item.title;
    view.fields[1] = item.body;
    view.lang = item.lang;
    view.source = item.source;
    for (uint32_t r = 0; r < pack_->rules().size(); ++r) {
      if (pack_->rules()[r].enabled && evaluator_->Explain(r, view, hits_).fired) {
        ids.push_back(pack_->rules()[r].id);
      }
    }
    return ids;
  }

  // Returns "field:start-end" of the reported hits of the i-th fired rule of the last call.
  std::vector<std::string> ReportedHits(size_t i) {
    std::vector<std::string> out;
    const FiredRule& f = last_[i];
    for (uint32_t k = f.hits_begin; k < f.hits_end; ++k) {
      const match::Hit& h = hits_[evaluator_->fired_hits()[k]];
      out.push_back(std::to_string(h.field) + ":" + std::to_string(h.start) + "-" +
                    std::to_string(h.end));
    }
    return out;
  }

  const CompiledPack* pack() const { return pack_.get(); }
  // The hits of the last Fired() call.
  const std::vector<match::Hit>& hits() const { return hits_; }

 private:
  std::shared_ptr<const CompiledPack> pack_;
  std::unique_ptr<match::MatchContext> context_;
  std::unique_ptr<Evaluator> evaluator_;
  std::vector<match::Hit> hits_;
  std::vector<FiredRule> last_;
};

std::string Rule(const std::string& id, const std::string& query) {
  return "  - {id: " + id + ", query: '" + query + "'}\n";
}

TEST(Evaluator, BooleanOperators) {
  Engine e("rules:\n" + Rule("and", "alpha AND beta") + Rule("or", "alpha OR gamma") +
           Rule("not", "alpha AND NOT beta") +
           Rule("nested", "(alpha OR beta) AND NOT (gamma OR delta)"));
  EXPECT_THAT(e.Body("alpha beta"), ElementsAre("and", "or", "nested"));
  EXPECT_THAT(e.Body("alpha"), ElementsAre("or", "not", "nested"));
  EXPECT_THAT(e.Body("gamma"), ElementsAre("or"));
  EXPECT_THAT(e.Body("beta delta"), IsEmpty());
  EXPECT_THAT(e.Body("nothing here"), IsEmpty());
}

TEST(Evaluator, FieldScopes) {
  Engine e("rules:\n" + Rule("t", "title:(alpha OR beta)") + Rule("b", "body:alpha") +
           Rule("mix", "title:alpha AND body:beta") + Rule("notitle", "alpha AND NOT title:beta"));
  EXPECT_THAT(e.Fired({"alpha", ""}), ElementsAre("t", "notitle"));
  EXPECT_THAT(e.Fired({"", "alpha"}), ElementsAre("b", "notitle"));
  EXPECT_THAT(e.Fired({"alpha", "beta"}), ElementsAre("t", "mix", "notitle"));
  EXPECT_THAT(e.Fired({"beta", "alpha"}), ElementsAre("t", "b"));
}

TEST(Evaluator, MetadataFilters) {
  Engine e("rules:\n" + Rule("ru", "alpha AND lang:(ru OR kk)") +
           Rule("src", "alpha AND source:reuters*") + Rule("notsrc", "alpha AND NOT source:*.ru"));
  EXPECT_THAT(e.Fired({"", "alpha", "ru-RU", "Reuters.com"}), ElementsAre("ru", "src", "notsrc"));
  EXPECT_THAT(e.Fired({"", "alpha", "KK", "tass.ru"}), ElementsAre("ru"));
  EXPECT_THAT(e.Fired({"", "alpha", "rus", ""}), ElementsAre("notsrc"));
}

TEST(Evaluator, AtLeastCountsOccurrencesAndDistinctTerms) {
  Engine e(
      "sets:\n  s: [alpha, beta, gamma]\n"
      "rules:\n" +
      Rule("two", "AT_LEAST(2, @s)") + Rule("distinct", "AT_LEAST_DISTINCT(2, @s)") +
      Rule("title2", "AT_LEAST(2, title:@s)"));
  EXPECT_THAT(e.Body("alpha"), IsEmpty());
  EXPECT_THAT(e.Body("alpha and alpha"), ElementsAre("two"));
  EXPECT_THAT(e.Body("alpha and beta"), ElementsAre("two", "distinct"));
  EXPECT_THAT(e.Fired({"alpha", "alpha"}), ElementsAre("two"));
  EXPECT_THAT(e.Fired({"alpha gamma", ""}), ElementsAre("two", "distinct", "title2"));
}

TEST(Evaluator, NearCountsWordsFromTheEndOfTheEarlierHit) {
  Engine e("rules:\n" + Rule("n2", "alpha NEAR/2 beta") + Rule("o2", "alpha ONEAR/2 beta") +
           Rule("phrase", "\"red square\" NEAR/1 beta"));
  EXPECT_THAT(e.Body("alpha beta"), ElementsAre("n2", "o2"));
  EXPECT_THAT(e.Body("alpha x beta"), ElementsAre("n2", "o2"));
  EXPECT_THAT(e.Body("alpha x y beta"), IsEmpty());
  EXPECT_THAT(e.Body("beta x alpha"), ElementsAre("n2"));  // ONEAR needs alpha first
  // Punctuation is not a word; joiners keep a word together.
  EXPECT_THAT(e.Body("alpha, (Nur-Sultan's) beta"), ElementsAre("n2", "o2"));
  // A phrase counts from its last word.
  EXPECT_THAT(e.Body("red square beta"), ElementsAre("phrase"));
  EXPECT_THAT(e.Body("beta red square"), ElementsAre("phrase"));
  EXPECT_THAT(e.Body("red square x beta"), IsEmpty());
}

// Fold drops soft hyphens and zero-width characters, which scraped pages leave inside words: a
// rule for the word matches the word they split, not its halves, and NEAR counts it as one word.
TEST(Evaluator, SoftHyphensAndZeroWidthCharactersDoNotSplitWords) {
  Engine e("sets:\n  kz: [Kazakhstan, Қазақстан]\n  half: [stan, стан, Kazakh]\nrules:\n" +
           Rule("kz", "@kz") + Rule("half", "@half") + Rule("n2", "alpha NEAR/2 beta"));
  EXPECT_THAT(e.Body("Kazakh\u00ADstan"), ElementsAre("kz"));
  EXPECT_THAT(e.Body("KAZAKH\u00AD\u00ADSTAN."), ElementsAre("kz"));
  EXPECT_THAT(e.Body("Қазақ\u00ADстан"), ElementsAre("kz"));
  EXPECT_THAT(e.Body("\uFEFFKa\u200Bzakh\u200Cstan"), ElementsAre("kz"));
  EXPECT_THAT(e.Body("Kazakh\u200D\u2060stan\uFEFF"), ElementsAre("kz"));
  // Between words, or beside a space, they change nothing.
  EXPECT_THAT(e.Body("Kazakh \u00ADstan"), ElementsAre("half"));
  // "alpha x y beta" is too far for NEAR/2; a split word must count once.
  EXPECT_THAT(e.Body("alpha Kazakh\u200Bstan beta"), ElementsAre("kz", "n2"));
  EXPECT_THAT(e.Body("alpha Ka\u00AD\u200Bzakh\u2060stan beta"), ElementsAre("kz", "n2"));
  EXPECT_THAT(e.Body("alpha Kazakh\u200B stan beta"), ElementsAre("half"));
}

TEST(Evaluator, NearNeedsBothHitsInTheSameField) {
  Engine e("rules:\n" + Rule("n", "alpha NEAR/5 beta"));
  EXPECT_THAT(e.Fired({"alpha", "beta"}), IsEmpty());
  EXPECT_THAT(e.Fired({"alpha beta", ""}), ElementsAre("n"));
  EXPECT_THAT(e.Fired({"alpha", "x beta alpha"}), ElementsAre("n"));
}

TEST(Evaluator, NearIsConsistentAcrossScripts) {
  Engine e(
      "sets:\n  kz: [Kazakhstan, Казахстан*, 哈萨克斯坦]\n  cn: [China, Китай*, 中国]\n"
      "rules:\n" +
      Rule("n2", "@kz NEAR/2 @cn"));
  EXPECT_THAT(e.Body("Kazakhstan and China"), ElementsAre("n2"));
  EXPECT_THAT(e.Body("Казахстан и Китай"), ElementsAre("n2"));
  EXPECT_THAT(e.Body("Казахстаном и Китай"), ElementsAre("n2"));
  // Each ideograph is a word; the five-character name counts from its last character.
  EXPECT_THAT(e.Body("哈萨克斯坦与中国"), ElementsAre("n2"));
  EXPECT_THAT(e.Body("Kazakhstan and the old China"), IsEmpty());
  EXPECT_THAT(e.Body("Казахстан и старый добрый Китай"), IsEmpty());
  EXPECT_THAT(e.Body("哈萨克斯坦与旧的中国"), IsEmpty());
}

TEST(Evaluator, NearWithTheSameTermOnBothSidesNeedsTwoHits) {
  Engine e("rules:\n" + Rule("twice", "alpha NEAR/3 alpha"));
  EXPECT_THAT(e.Body("alpha"), IsEmpty());
  EXPECT_THAT(e.Body("alpha x alpha"), ElementsAre("twice"));
}

TEST(Evaluator, NearBetweenSubExpressions) {
  Engine e("rules:\n" + Rule("sub", "(alpha OR beta) NEAR/1 title:(gamma OR delta)"));
  EXPECT_THAT(e.Fired({"beta delta", ""}), ElementsAre("sub"));
  EXPECT_THAT(e.Fired({"beta", "delta"}), IsEmpty());
  EXPECT_THAT(e.Fired({"", "beta delta"}), IsEmpty());  // the right side counts in the title only
}

TEST(Evaluator, ScoresWeightsTitlesAndCaps) {
  Engine e(
      "sets:\n"
      "  kz: {weight: 2, terms: [Kazakhstan, Kazakh*, {term: Astana, weight: 5}]}\n"
      "  other: [pipeline]\n"
      "rules:\n"
      "  - {id: plain, query: '@kz'}\n"
      "  - {id: over, query: '@kz AND @other', score: {weights: {kz: 1}}}\n"
      "  - {id: thr, query: '@kz', score: {threshold: 6}}\n"
      "  - {id: only, score: {threshold: 4, weights: {kz: 1, other: 2}}}\n");
  std::vector<double> s;
  // Kazakhstan (2) in the body once: "Kazakh*" hits at the same place and counts once.
  EXPECT_THAT(e.Fired({"", "Kazakhstan"}, &s), ElementsAre("plain"));
  EXPECT_THAT(s, ElementsAre(2));
  s.clear();
  // Title counts twice: 2 x 2 = 4; plus Astana (explicit 5) in the body: 9.
  EXPECT_THAT(e.Fired({"Kazakhstan", "Astana"}, &s), ElementsAre("plain", "thr", "only"));
  EXPECT_THAT(s, ElementsAre(9, 9, 7));  // only: Kazakhstan 1 x 2 + Astana 5
  s.clear();
  // Occurrences cap at 3: five mentions weigh like three.
  EXPECT_THAT(e.Fired({"", "Kazakhstan Kazakhstan Kazakhstan Kazakhstan Kazakhstan pipeline"}, &s),
              ElementsAre("plain", "over", "thr", "only"));
  EXPECT_THAT(s, ElementsAre(6, 4, 6, 5));
}

// The score as the rule language defines it, computed here from the hits: hits of the rule's
// scored terms in (field, start) order; of hits that start at one place only the heaviest (then
// the longest) counts; a term's occurrences count 2 in the title and 1 in the body, capped at 3.
double ReferenceScore(const std::vector<std::pair<match::TermId, float>>& weights,
                      const std::vector<match::Hit>& hits) {
  struct Scored {
    match::Hit hit;
    float weight;
  };
  std::vector<Scored> scored;
  for (const match::Hit& h : hits) {
    for (const auto& [t, w] : weights) {
      if (t == h.term) scored.push_back({h, w});
    }
  }
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    if (a.hit.field != b.hit.field) return a.hit.field < b.hit.field;
    if (a.hit.start != b.hit.start) return a.hit.start < b.hit.start;
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.hit.end != b.hit.end) return a.hit.end > b.hit.end;
    return a.hit.term < b.hit.term;
  });
  std::map<match::TermId, uint32_t> occurrences;
  double score = 0;
  for (size_t i = 0; i < scored.size(); ++i) {
    const match::Hit& h = scored[i].hit;
    if (i > 0 && scored[i - 1].hit.field == h.field && scored[i - 1].hit.start == h.start) {
      continue;
    }
    uint32_t& occ = occurrences[h.term];
    const uint32_t add = std::min<uint32_t>(h.field == 0 ? 2 : 1, 3 - std::min<uint32_t>(occ, 3));
    occ += add;
    score += scored[i].weight * static_cast<float>(add);
  }
  return score;
}

// Scores over random items equal the reference to the bit: with weights whose sums are exact in
// any order (the evaluator's fast path when no two hits start at one place) and weights that are
// not (its sorted path), over items where "Kazakh*" and "Kazakhstan" or "oil" and "Kazakh oil"
// start at one place, and where terms repeat past the cap, in the title and the body.
TEST(Evaluator, ScoresEqualTheReferenceOnEveryPath) {
  Engine e(
      "sets:\n"
      "  kz: {weight: 2, terms: [Kazakhstan, Kazakh*, {term: Astana, weight: 0.5}]}\n"
      "  oil: {weight: 1.5, terms: [oil, {term: \"Kazakh oil\", weight: 3}]}\n"
      "  odd: {weight: 0.1, terms: [Astana, {term: pipeline, weight: 0.7}, {term: oil, weight: "
      "1.3}]}\n"
      "rules:\n"
      "  - {id: exact, query: '@kz OR @oil'}\n"
      "  - {id: weighted, query: '@kz OR pipeline', score: {weights: {kz: 0.25}}}\n"
      "  - {id: inexact, query: '@odd'}\n"
      "  - {id: mixed, score: {threshold: 0.01, weights: {kz: 1, odd: 1}}}\n");
  ASSERT_NE(e.pack(), nullptr);
  const std::vector<std::string> words = {"Kazakhstan", "Kazakh", "oil",       "Astana",
                                          "pipeline",   "x",      "Kazakh oil"};
  std::mt19937 random(16);
  size_t fired = 0, shared = 0;
  for (int n = 0; n < 3000; ++n) {
    Item item;
    for (std::string* field : {&item.title, &item.body}) {
      const int count = static_cast<int>(random() % 7);
      for (int k = 0; k < count; ++k) *field += words[random() % words.size()] + " ";
    }
    std::vector<double> scores;
    const std::vector<std::string> ids = e.Fired(item, &scores);
    const std::vector<match::Hit>& hits = e.hits();
    for (size_t i = 1; i < hits.size(); ++i) {
      shared += hits[i].start == hits[i - 1].start && hits[i].field == hits[i - 1].field;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      const int r = e.pack()->FindRule(ids[i]);
      ASSERT_GE(r, 0);
      EXPECT_EQ(scores[i], ReferenceScore(e.pack()->rules()[r].weights, hits))
          << ids[i] << ": title '" << item.title << "' body '" << item.body << "'";
      ++fired;
    }
  }
  EXPECT_GT(fired, 6000u);
  EXPECT_GT(shared, 500u);
}

TEST(Evaluator, ReportsTheHitsThatSatisfiedTheRule) {
  Engine e("sets:\n  kz: [Kazakhstan, Kazakh*]\nrules:\n" + Rule("r", "@kz AND (alpha OR beta)"));
  EXPECT_THAT(e.Fired({"", "Kazakhstan alpha beta"}), ElementsAre("r"));
  // Kazakh* and Kazakhstan start at 0: only the longer one is reported. OR stops at alpha.
  EXPECT_THAT(e.ReportedHits(0), ElementsAre("1:0-10", "1:11-16"));
}

// An article that names places forty times and the decisive word once, at its end: the capped
// list still shows that word, and shows it first among the clauses (one hit of each true
// clause, in query order, before any clause repeats).
TEST(Evaluator, ReportsADecisiveHitOfEveryTrueClauseBeforeTheCap) {
  Engine e("sets:\n  places: [Astana, Almaty, Tashkent]\n  unrest: [protest*]\nrules:\n" +
           Rule("r", "@places AND @unrest") + Rule("s", "@unrest AND @places"));
  std::string body;
  for (int i = 0; i < 20; ++i) body += "Astana Almaty ";
  const size_t at = body.size();
  body += "protesters gathered in Tashkent";
  EXPECT_THAT(e.Body(body), ElementsAre("r", "s"));
  const std::string protest = "1:" + std::to_string(at) + "-" + std::to_string(at + 7);
  const std::vector<std::string> r = e.ReportedHits(0);
  ASSERT_EQ(r.size(), kMaxHitsPerFiredRule);
  // Query order: a place first, then the unrest word; every distinct place term before repeats.
  EXPECT_EQ(r[0], "1:0-6");
  EXPECT_EQ(r[1], protest);
  EXPECT_THAT(std::vector<std::string>(r.begin(), r.begin() + 4), ::testing::Contains("1:7-13"));
  EXPECT_EQ(e.ReportedHits(1)[0], protest);
}

// A score-only rule reports its heaviest terms first: place names that weigh 0 come last.
TEST(Evaluator, ReportsTheHeaviestScoredTermsFirst) {
  Engine e(
      "sets:\n  places: {weight: 0, terms: [Astana]}\n  energy: {weight: 3, terms: [pipeline]}\n"
      "rules:\n  - {id: sc, score: {threshold: 3, weights: {places: 0, energy: 3}}}\n");
  std::string body;
  for (int i = 0; i < 40; ++i) body += "Astana ";
  const size_t at = body.size();
  body += "pipeline";
  EXPECT_THAT(e.Body(body), ElementsAre("sc"));
  EXPECT_EQ(e.ReportedHits(0)[0], "1:" + std::to_string(at) + "-" + std::to_string(at + 8));
}

TEST(Evaluator, ReusesStateAcrossItemsWithoutLeaks) {
  Engine e("rules:\n" + Rule("ab", "alpha AND beta") + Rule("n", "alpha NEAR/1 beta"));
  EXPECT_THAT(e.Body("alpha beta"), ElementsAre("ab", "n"));
  EXPECT_THAT(e.Body("beta"), IsEmpty());
  EXPECT_THAT(e.Body("alpha"), IsEmpty());
  EXPECT_THAT(e.Body("alpha x x beta"), ElementsAre("ab"));
  for (int i = 0; i < 1000; ++i) {
    std::vector<std::string> want;
    if (i % 2) want = {"ab", "n"};
    ASSERT_EQ(e.Body(i % 2 ? "alpha beta" : "gamma"), want) << i;
  }
}

TEST(Evaluator, DisabledRulesNeverFire) {
  Engine e("rules:\n  - {id: off, query: alpha, enabled: false}\n" + Rule("on", "alpha"));
  EXPECT_THAT(e.Body("alpha"), ElementsAre("on"));
}

TEST(Evaluator, OnlyRulesWhoseTermsHitAreCandidates) {
  // 2000 rules over distinct terms: an item that hits one term fires exactly its rule.
  std::string yaml = "rules:\n";
  for (int i = 0; i < 2000; ++i)
    yaml += Rule("r" + std::to_string(i), "word" + std::to_string(i) + " AND NOT zzz");
  Engine e(yaml);
  EXPECT_THAT(e.Body("word1234 and word77"), UnorderedElementsAre("r77", "r1234"));
  EXPECT_THAT(e.Body("word1234 zzz"), IsEmpty());
}

// The evaluator considers only rules triggered by their cheapest required group, and rejects
// those whose other groups missed before evaluating them; the rules that fire must be exactly
// those a full evaluation of every rule fires. Every placement of five words over title and body
// (1,024 items) against queries of every operator, nested. `filler` terms (a set that one more
// rule uses) make the pack large enough for the evaluator's filter of hit terms.
void ExpectCandidateSelectionIsExact(int filler) {
  std::string fill_set;
  for (int i = 0; i < filler; ++i) fill_set += (i ? ", f" : "f") + std::to_string(i);
  Engine e(
      "sets:\n"
      "  pair: [alpha, beta]\n"
      "  trio: [gamma, delta, epsilon]\n" +
      (filler > 0 ? "  fill: [" + fill_set + "]\n" : std::string()) + "rules:\n" +
      Rule("and-or", "alpha AND (beta OR gamma)") +
      Rule("and-not", "alpha AND beta AND NOT delta") +
      Rule("near", "\"alpha beta\" NEAR/2 gamma") + Rule("onear", "delta ONEAR/1 epsilon") +
      Rule("title", "title:(alpha OR delta)") + Rule("body-and", "body:alpha AND title:gamma") +
      Rule("distinct2", "AT_LEAST_DISTINCT(2, alpha OR beta OR gamma)") +
      Rule("distinct3", "AT_LEAST_DISTINCT(3, @pair OR @trio)") +
      Rule("atleast", "AT_LEAST(2, @trio) AND NOT beta") +
      Rule("or-not", "(alpha AND NOT gamma) OR (delta AND epsilon)") +
      Rule("nested", "((alpha OR beta) AND (gamma OR title:delta)) OR (epsilon AND body:@pair)") +
      Rule("distinct-title", "AT_LEAST_DISTINCT(2, title:@trio OR alpha)") +
      Rule("lang", "lang:en AND gamma") +
      (filler > 0 ? Rule("filler", "(@fill OR beta) AND (alpha OR @fill)") : std::string()) +
      "  - {id: scored, query: '@pair OR @trio', score: {threshold: 4}}\n"
      "  - {id: only, score: {threshold: 3, weights: {pair: 1, trio: 2}}}\n");
  ASSERT_NE(e.pack(), nullptr);
  EXPECT_GE(e.pack()->term_count(), static_cast<size_t>(filler));
  const std::vector<std::string> words = {"alpha", "beta", "gamma", "delta", "epsilon"};
  size_t fired = 0;
  for (int code = 0; code < 1024; ++code) {
    Item item;
    item.lang = code % 3 == 0 ? "en" : "kk";
    for (size_t w = 0; w < words.size(); ++w) {
      const int place = (code >> (2 * w)) & 3;  // 0 nowhere, 1 title, 2 body, 3 both
      if (place & 1) item.title += words[w] + " ";
      if (place & 2) item.body += "x " + words[w];
    }
    const std::vector<std::string> expected = e.FiredByExplain(item);
    EXPECT_EQ(e.Fired(item), expected) << "title '" << item.title << "' body '" << item.body << "'";
    fired += expected.size();
  }
  EXPECT_GT(fired, 1000u);
}

TEST(Evaluator, CandidateSelectionIsExact) { ExpectCandidateSelectionIsExact(0); }

// As above with over 8,192 terms, where the evaluator tests a filter of the item's hit terms
// before a term's mark.
TEST(Evaluator, CandidateSelectionIsExactWithTheHitFilter) {
  ExpectCandidateSelectionIsExact(9000);
}

// A rule's plan is one run of EvalPlan::code, rule after rule: its head (at an even offset, for
// the threshold's double, naming its rule), groups, required terms, nodes, children, term lists
// and weights all lie between its head and the next rule's, except a shared set's terms, which
// lie in the run of the first rule that uses the set. That a candidate reads adjacent lines is
// the point of the layout; the evaluation over it is checked by the tests above and below.
TEST(Evaluator, EachRulesPlanIsOneRunOfCode) {
  Engine e(
      "sets:\n"
      "  big: [w0, w1, w2, w3, w4, w5, w6, w7, w8, w9]\n"
      "  trio: [gamma, delta, epsilon]\n"
      "rules:\n" +
      Rule("and-or", "alpha AND (beta OR gamma)") +
      Rule("near", "\"alpha beta\" NEAR/2 (gamma OR title:@big)") +
      Rule("distinct", "AT_LEAST_DISTINCT(2, alpha OR @trio)") + Rule("big", "@big AND NOT delta") +
      Rule("lang", "lang:en AND body:@big") +
      "  - {id: scored, query: 'alpha OR @trio', score: {threshold: 2.5}}\n"
      "  - {id: only, score: {threshold: 3, weights: {trio: 1.5}}}\n"
      "  - {id: off, enabled: false, query: 'alpha AND beta'}\n");
  ASSERT_NE(e.pack(), nullptr);
  const EvalPlan& plan = e.pack()->eval_plan();
  const size_t rules = e.pack()->rules().size();
  ASSERT_EQ(plan.rule_at.size(), rules);
  using K = ProgramNode::Kind;
  constexpr uint32_t kWords = sizeof(uint32_t);
  for (uint32_t r = 0; r < rules; ++r) {
    SCOPED_TRACE(e.pack()->rules()[r].id);
    const uint32_t head = plan.rule_at[r];
    const uint32_t next = r + 1 < rules ? plan.rule_at[r + 1] : plan.code.size();
    auto in_run = [&](uint32_t begin, uint32_t end) {
      return head + sizeof(EvalRule) / kWords <= begin && begin <= end && end <= next;
    };
    EXPECT_EQ(head % 2, 0u);
    EXPECT_LT(head, next);
    const EvalRule& er = plan.rule(r);
    EXPECT_EQ(er.rule, r);
    EXPECT_EQ(er.node_count, e.pack()->rules()[r].program.size());
    ASSERT_TRUE(in_run(er.groups_begin, er.groups_end));
    EXPECT_LT(er.groups_begin, er.groups_end);
    for (auto* g = plan.At<EvalPlan::Group>(er.groups_begin);
         g != plan.At<EvalPlan::Group>(er.groups_end); ++g) {
      EXPECT_TRUE(in_run(g->begin, g->end));
      EXPECT_LT(g->begin, g->end);
    }
    EXPECT_TRUE(in_run(er.nodes_begin, er.nodes_begin + er.node_count * sizeof(EvalNode) / kWords));
    EXPECT_TRUE(in_run(er.weights_begin, er.weights_end));
    EXPECT_EQ((er.weights_end - er.weights_begin) * kWords / sizeof(EvalPlan::Weight),
              e.pack()->rules()[r].weights.size());
    for (uint32_t i = 0; i < er.node_count; ++i) {
      const EvalNode& n = plan.nodes(er)[i];
      if (n.kind == K::kLang || n.kind == K::kSource) continue;
      if (n.kind == K::kTerms && n.param != 0) {  // a set: here or in an earlier rule's run
        EXPECT_LE(n.end, next);
        EXPECT_EQ(n.end - n.begin, 10u);
        continue;
      }
      EXPECT_TRUE(in_run(n.begin, n.end)) << "node " << i;
      EXPECT_LT(n.begin, n.end) << "node " << i;
    }
  }
  // The set is stored once: the second rule that uses it points into the first one's run.
  const EvalRule& near = plan.rule(1);
  const EvalRule& big = plan.rule(3);
  uint32_t set_begin[2] = {0, 0};
  for (const EvalRule* er : {&near, &big}) {
    for (uint32_t i = 0; i < er->node_count; ++i) {
      const EvalNode& n = plan.nodes(*er)[i];
      if (n.kind == K::kTerms && n.param != 0) set_begin[er == &big] = n.begin;
    }
  }
  EXPECT_NE(set_begin[0], 0u);
  EXPECT_EQ(set_begin[0], set_begin[1]);
  EXPECT_THAT(e.Fired({"", "alpha beta gamma"}), ElementsAre("and-or", "near", "distinct"));
  EXPECT_THAT(e.Fired({"w3", "alpha beta x", "en"}), ElementsAre("and-or", "big"));
}

// Large term lists (the pack's named sets) are evaluated from marks set while the item's hits
// are indexed, and a list that several rules share is stored once. The expectations are written
// out here, independent of the evaluator: each of the ten terms of the set in the title, the body
// or both, against rules that scope the set to a field, negate a member, and share it.
TEST(Evaluator, LargeSetsAreMarkedPerFieldAndShared) {
  std::string big = "[";
  std::string reversed = "[";
  for (int i = 0; i < 10; ++i) {
    big += (i ? ", w" : "w") + std::to_string(i);
    reversed += (i ? ", w" : "w") + std::to_string(9 - i);
  }
  big += "]";
  reversed += ", w4]";  // the same terms in another order, one repeated
  Engine e("sets:\n  big: " + big + "\n  same: " + reversed +
           "\n  other: [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9]\n"
           "rules:\n" +
           Rule("in-title", "title:@big") + Rule("in-body", "body:@same") +
           Rule("not-w3", "@big AND NOT w3") + Rule("with-other", "@big AND body:@other") +
           Rule("title-and-body", "title:@big AND body:@same"));
  ASSERT_NE(e.pack(), nullptr);
  EXPECT_EQ(e.pack()->eval_plan().set_count, 2u);  // big and same are one set; other is two
  for (int i = 0; i < 10; ++i) {
    for (int place = 1; place <= 3; ++place) {  // 1 title, 2 body, 3 both
      for (bool other : {false, true}) {
        Item item;
        const std::string w = "w" + std::to_string(i);
        if (place & 1) item.title = "x " + w;
        if (place & 2) item.body = w + " y";
        if (other) item.body += " v" + std::to_string(9 - i);
        std::vector<std::string> want;
        if (place & 1) want.push_back("in-title");
        if (place & 2) want.push_back("in-body");
        if (i != 3) want.push_back("not-w3");
        if (other) want.push_back("with-other");
        if (place == 3) want.push_back("title-and-body");
        EXPECT_THAT(e.Fired(item), UnorderedElementsAreArray(want))
            << w << " place " << place << " other " << other;
        EXPECT_THAT(e.FiredByExplain(item), UnorderedElementsAreArray(want));
      }
    }
  }
}

}  // namespace
}  // namespace steppewatch::rules
