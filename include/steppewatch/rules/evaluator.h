// Evaluator: evaluates every enabled rule of a CompiledPack over the hits of one item, at a
// cost proportional to the hits: only rules that mention a term that hit (outside NOT) are
// evaluated (the loader rejects rules that could fire without any hit, so skipping the others
// is exact). Also the traced evaluation of one rule that `steppewatch explain` prints.
//
// Threading: one Evaluator per worker thread (it holds scratch vectors reused across items: no
// allocation per item once they have grown); it keeps the pack alive through a shared_ptr.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/utf8.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::rules {

// What the rules see of an item: the scanned fields (index = Hit::field: 0 title, 1 body) and
// the metadata the lang:/source: filters read. Views; the caller keeps the text alive.
struct ItemView {
  std::string_view fields[2];
  std::string_view lang;
  std::string_view source;
};

// A rule that fired on the item.
struct FiredRule {
  uint32_t rule = 0;  // index into CompiledPack::rules()
  double score = 0;
  uint32_t hits_begin = 0, hits_end = 0;  // into Evaluator::fired_hits()
};

// Most hits reported per fired rule: an alert explains a match, it need not list a thousand
// occurrences of one word (the score still counts them all). The reported hits come decisive
// clause first: one hit of each true term leaf of the query, in query order, then round-robin
// (Evaluator::fired_hits()).
inline constexpr uint32_t kMaxHitsPerFiredRule = 32;

class Evaluator {
 public:
  explicit Evaluator(std::shared_ptr<const CompiledPack> pack);

  // Evaluates the enabled rules over `hits` (sorted by field, start as MatchContext::Scan
  // returns them). Returns the fired rules in rule-index order; valid until the next call.
  const std::vector<FiredRule>& Evaluate(const ItemView& item, absl::Span<const match::Hit> hits);

  // Indexes into the `hits` of the last Evaluate(): the hits that satisfied each fired rule,
  // in report order (one hit of each clause that made the rule true first, at most
  // kMaxHitsPerFiredRule per rule; of hits that start at the same place, the longest).
  const std::vector<uint32_t>& fired_hits() const { return fired_hits_; }

  // Returns how many rules the last Evaluate() evaluated (the candidates: enabled rules that
  // mention a term that hit). The work of an item is proportional to this, not to the pack.
  size_t last_candidates() const { return candidates_.size(); }

  // The value of every program node of one rule, for explain. value: 1 true, 0 false, -1 not
  // evaluated (short-circuited).
  struct Trace {
    std::vector<int8_t> value;
    bool query_true = false;
    bool fired = false;
    double score = 0;
  };
  // Evaluates rule `rule` (even if disabled) over `hits` without short-circuiting.
  Trace Explain(uint32_t rule, const ItemView& item, absl::Span<const match::Hit> hits);

  const CompiledPack& pack() const { return *pack_; }

 private:
  void Index(const ItemView& item, absl::Span<const match::Hit> hits);
  // Evaluates node `node` (local to rule `r`) of the rule's EvalPlan program.
  bool Eval(const EvalRule& r, uint32_t node, bool trace);
  // Eval's recursion over the nodes of rule eval_rule_ (eval_nodes_, with trace eval_trace_):
  // one argument, and a term leaf evaluated in its parent's loop without a call.
  bool EvalAt(uint32_t node);
  bool EvalChild(uint32_t node);
  bool TermsHit(const EvalNode& n) const;
  // Returns true when a term of the group hit in the term's fields.
  bool GroupHit(const EvalPlan::Group& g) const;
  // Builds the word index and per-hit word caches of the current item (NEAR needs them).
  void PrepareWords();
  // Appends the hits of the leaves under `node` (outside NOT); with `only_true`, only of
  // subtrees that evaluated true.
  void Gather(const EvalRule& rule, uint32_t node, bool only_true,
              std::vector<uint32_t>* out) const;
  // Fills gather_ with the hits reported for fired rule `rule`, decisive clauses first, capped
  // at kMaxHitsPerFiredRule (evaluator.cc says how).
  void SelectReportedHits(const EvalRule& rule);
  void CollectTrueLeaves(const EvalRule& rule, uint32_t node);
  void AppendGroup(size_t terms_from, FieldMask fields);
  bool Near(const EvalRule& rule, const EvalNode& n);
  double Score(const EvalRule& rule);
  uint32_t FirstWordOf(uint32_t hit);
  uint32_t LastWordOf(uint32_t hit);

  std::shared_ptr<const CompiledPack> pack_;
  const EvalPlan* plan_ = &pack_->eval_plan();
  const ItemView* item_ = nullptr;
  absl::Span<const match::Hit> hits_;

  // The bit of term `t` in hit_filter_.
  static uint32_t FilterBit(match::TermId t) { return (t * 0x9E3779B1u) >> (32 - kFilterLog2); }
  // Returns the fields term `t` hit in on the current item (0: none).
  FieldMask HitFields(match::TermId t) const {
    if (use_filter_) {
      const uint32_t b = FilterBit(t);
      if ((hit_filter_[b >> 6] >> (b & 63) & 1) == 0) return 0;
    }
    const uint32_t m = mark_[t];
    return m >= mark_epoch_ ? static_cast<FieldMask>(m & kAllFields) : 0;
  }
  bool TermHit(match::TermId t) const { return HitFields(t) != 0; }

  // A filter of the terms that hit on the current item (one bit per term hash, 512 bytes that
  // stay in L1): most terms tested are ones that did not hit (the second term of a trigger, the
  // terms of a candidate's groups and nodes), and with a large pack their marks are cold, a
  // cache miss each. With the ~25 distinct terms of a typical item, ~0.6% of those tests read
  // a mark needlessly. Used when the marks outgrow L1 (kFilterMinTerms terms: 32 KB of marks);
  // below that the marks are hot and the filter only adds instructions.
  static constexpr uint32_t kFilterLog2 = 12;
  static constexpr size_t kFilterMinTerms = 8192;
  bool use_filter_ = false;
  std::array<uint64_t, (size_t{1} << kFilterLog2) / 64> hit_filter_{};

  // Per term: epoch_ << 2 | the fields it hit in, when it hit on the current item (older marks
  // are below mark_epoch_ = epoch_ << 2). One dense array: the trigger walk, the group checks
  // and the term nodes test terms at random, and two arrays (stamp, fields) cost two cache
  // misses per test with a large pack.
  uint32_t epoch_ = 0;
  uint32_t mark_epoch_ = 0;
  std::vector<uint32_t> mark_;
  // Per term hit on the current item: its hits are by_term_[first, end); `occurrences`: what
  // its hits count in a score (title 2, body 1, capped at 3), or kSharedStart when one of them
  // starts where another hit does (Score must then drop the lighter one: its slow path).
  struct TermSpan {
    uint32_t first;
    uint32_t end;
    uint32_t occurrences;
  };
  static constexpr uint32_t kSharedStart = 1u << 31;
  std::vector<TermSpan> span_;
  std::vector<match::TermId> touched_;
  std::vector<uint32_t> by_term_;

  // Per EvalPlan set, valid when set_stamp_[s] == epoch_: the fields its hit terms hit in.
  std::vector<uint32_t> set_stamp_;
  std::vector<FieldMask> set_fields_;

  std::vector<uint32_t> candidates_;  // offsets of EvalRule in EvalPlan::code
  std::vector<int8_t> values_;
  const EvalNode* eval_nodes_ = nullptr;  // Eval's rule's nodes in the plan
  const EvalRule* eval_rule_ = nullptr;
  bool eval_trace_ = false;
  std::vector<FiredRule> fired_;
  std::vector<uint32_t> fired_hits_;
  std::vector<uint32_t> left_, right_, gather_;
  struct NearPos {
    uint64_t key;   // field << 32 | first word
    uint32_t last;  // last word
    uint32_t hit;
  };
  std::vector<NearPos> left_pos_, right_pos_;
  struct Scored {
    uint32_t hit;
    float weight;
  };
  std::vector<Scored> scored_;
  std::vector<uint32_t> occurrences_;  // per term, zero between calls

  bool words_ready_ = false;
  // Scratch of SelectReportedHits: the true term leaves, per group its terms and its hits
  // (group_hits_[group_begin_[g], group_begin_[g + 1])), and the cursors of the round-robin.
  std::vector<uint32_t> leaves_;
  std::vector<match::TermId> group_terms_;
  std::vector<uint32_t> group_hits_, group_begin_, group_cursor_, term_cursor_;

  normalise::WordIndex words_[2];
  std::vector<uint32_t> first_word_, last_word_;  // per hit; UINT32_MAX until computed
};

}  // namespace steppewatch::rules
