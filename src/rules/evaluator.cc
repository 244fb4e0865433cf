// Evaluation of compiled rule programs over the hits of one item.
#include "steppewatch/rules/evaluator.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "steppewatch/common/strings.h"

namespace steppewatch::rules {
namespace {

using K = ProgramNode::Kind;
constexpr uint32_t kUnknownWord = std::numeric_limits<uint32_t>::max();

using strings::AsciiLower;
using strings::EqualsIgnoreCase;

// Glob with `*` (any run) and `?` (one byte), ASCII case-insensitive, iterative with one
// backtrack point: linear in practice, no recursion on hostile patterns.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || AsciiLower(pattern[p]) == AsciiLower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// lang:ru matches "ru", "RU", "ru-RU" and "ru_RU".
bool LangMatch(std::string_view want, std::string_view lang) {
  if (lang.size() < want.size()) return false;
  if (!EqualsIgnoreCase(lang.substr(0, want.size()), want)) return false;
  return lang.size() == want.size() || lang[want.size()] == '-' || lang[want.size()] == '_';
}

}  // namespace

Evaluator::Evaluator(std::shared_ptr<const CompiledPack> pack) : pack_(std::move(pack)) {
  size_t terms = pack_->term_count();
  mark_.assign(terms, 0);
  use_filter_ = terms >= kFilterMinTerms;
  span_.assign(terms, TermSpan{0, 0, 0});
  occurrences_.assign(terms, 0);
  set_stamp_.assign(plan_->set_count, 0);
  set_fields_.assign(plan_->set_count, 0);
}

void Evaluator::Index(const ItemView& item, absl::Span<const match::Hit> hits) {
  item_ = &item;
  hits_ = hits;
  // A mark holds the epoch in its upper 30 bits.
  if (++epoch_ >= (1u << 30)) {  // wrapped: old marks and stamps could alias
    std::fill(mark_.begin(), mark_.end(), 0);
    std::fill(set_stamp_.begin(), set_stamp_.end(), 0);
    epoch_ = 1;
  }
  mark_epoch_ = epoch_ << 2;
  // Clears the previous item's bits (a few words, where clearing all 64 was ~70 instructions).
  if (use_filter_) {
    for (match::TermId t : touched_) hit_filter_[FilterBit(t) >> 6] = 0;
  }
  touched_.clear();
  // Counts each term's hits in span_[t].end, then turns the counts into ranges of by_term_.
  // With a large pack the per-term arrays are cold (a miss per hit term in mark_ and span_):
  // fetch them a few hits ahead.
  constexpr size_t kHitsAhead = 8;
  for (size_t i = 0; i < hits.size(); ++i) {
    if (use_filter_ && i + kHitsAhead < hits.size()) {
      const match::TermId ahead = hits[i + kHitsAhead].term;
      __builtin_prefetch(&mark_[ahead]);
      __builtin_prefetch(&span_[ahead]);
    }
    const match::Hit& h = hits[i];
    match::TermId t = h.term;
    TermSpan& span = span_[t];
    if (mark_[t] < mark_epoch_) {
      mark_[t] = mark_epoch_;
      span.end = 0;
      span.occurrences = 0;
      touched_.push_back(t);
      if (use_filter_) {
        const uint32_t b = FilterBit(t);
        hit_filter_[b >> 6] |= uint64_t{1} << (b & 63);
      }
    }
    ++span.end;
    span.occurrences += h.field == 0 ? 2 : 1;
    // The hits are sorted by field and start: hits that start at one place are neighbours.
    if (i > 0 && hits[i - 1].start == h.start && hits[i - 1].field == h.field) {
      span.occurrences |= kSharedStart;
      span_[hits[i - 1].term].occurrences |= kSharedStart;
    }
    mark_[t] |= h.field == 0 ? kTitleMask : kBodyMask;
  }
  uint32_t offset = 0;
  const bool sets = plan_->set_count != 0;
  for (match::TermId t : touched_) {
    // Where the term's triggers start, for Evaluate (cold with a large pack).
    if (use_filter_) __builtin_prefetch(&plan_->trigger_begin[t]);
    TermSpan& span = span_[t];
    span.first = offset;
    offset += span.end;
    span.end = span.first;  // the fill cursor: back at first + count after the loop below
    if (!sets) continue;    // a pack without sets: no cold read of set_begin per term
    const FieldMask fields = HitFields(t);
    for (uint32_t s : plan_->SetsOf(t)) {
      if (set_stamp_[s] != epoch_) {
        set_stamp_[s] = epoch_;
        set_fields_[s] = 0;
      }
      set_fields_[s] |= fields;
    }
  }
  by_term_.resize(hits.size());
  for (uint32_t i = 0; i < hits.size(); ++i) by_term_[span_[hits[i].term].end++] = i;
  // Word positions are computed on demand (NEAR only): reset lazily, not per item.
  words_ready_ = false;
}

void Evaluator::PrepareWords() {
  if (words_ready_) return;
  words_ready_ = true;
  first_word_.assign(hits_.size(), kUnknownWord);
  last_word_.assign(hits_.size(), kUnknownWord);
  words_[0].Reset(item_->fields[0]);
  words_[1].Reset(item_->fields[1]);
}

bool Evaluator::GroupHit(const EvalPlan::Group& g) const {
  const RequiredTerm* begin = plan_->At<RequiredTerm>(g.begin);
  const RequiredTerm* end = plan_->At<RequiredTerm>(g.end);
  auto hit = [&](const RequiredTerm& t) { return (HitFields(t.term) & t.fields) != 0; };
  // The group's terms are distinct: count them up to `min`.
  uint32_t found = 0;
  if (static_cast<size_t>(end - begin) <= touched_.size() * 4) {
    for (const RequiredTerm* t = begin; t != end; ++t) {
      if (hit(*t) && ++found >= g.min) return true;
    }
    return false;
  }
  for (match::TermId t : touched_) {
    const RequiredTerm* it = std::lower_bound(
        begin, end, t, [](const RequiredTerm& a, match::TermId id) { return a.term < id; });
    if (it != end && it->term == t && hit(*it) && ++found >= g.min) return true;
  }
  return false;
}

const std::vector<FiredRule>& Evaluator::Evaluate(const ItemView& item,
                                                  absl::Span<const match::Hit> hits) {
  Index(item, hits);
  fired_.clear();
  fired_hits_.clear();
  candidates_.clear();
  const EvalPlan& plan = *plan_;
  for (size_t i = 0; i < touched_.size(); ++i) {
    const match::TermId t = touched_[i];
    // The next terms' triggers are cold with a large pack (where they start was fetched by
    // Index).
    if (i + 3 < touched_.size()) {
      __builtin_prefetch(plan.triggers.data() + plan.trigger_begin[touched_[i + 3]]);
    }
    const FieldMask hit_fields = HitFields(t);
    for (const EvalPlan::Trigger& trigger : plan.TriggersOf(t)) {
      if ((trigger.rule_and_fields & hit_fields) == 0) continue;
      const uint32_t also = trigger.also_and_fields;
      if (also != 0 && (HitFields(also >> 2) & also) == 0) continue;
      // The candidate's plan (cold with a large pack): its first line now, long before the
      // candidate is evaluated after the sort.
      if (use_filter_) __builtin_prefetch(plan.code.data() + trigger.rule());
      candidates_.push_back(trigger.rule());
    }
  }
  // A rule triggered by two of its terms is listed twice: sort and drop the repeats (cheaper
  // than a per-rule stamp, a cache miss per trigger in a large pack).
  std::sort(candidates_.begin(), candidates_.end());
  candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  // With many candidates their plans are cold: fetch a few candidates ahead. A candidate's plan
  // is one run of code (its head, groups, required terms, nodes, their terms): the first two
  // lines well ahead, the next two (the nodes of most watch-list rules) closer.
  constexpr size_t kAhead = 8;
  const uint32_t* const code = plan.code.data();
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (i + kAhead < candidates_.size()) {
      const uint32_t* ahead = code + candidates_[i + kAhead];
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 16);
    }
    if (i + kAhead / 2 < candidates_.size()) {
      const uint32_t* near = code + candidates_[i + kAhead / 2];
      __builtin_prefetch(near + 32);
      __builtin_prefetch(near + 48);
    }
    const EvalRule& er = *plan.At<EvalRule>(candidates_[i]);
    // A term of the trigger group (the first) hit; a rule whose other required groups did not
    // (or whose trigger group needs more than one term) cannot be true, and is rejected without
    // walking its program.
    const EvalPlan::Group* g = plan.At<EvalPlan::Group>(er.groups_begin);
    const EvalPlan::Group* const groups_end = plan.At<EvalPlan::Group>(er.groups_end);
    bool required = true;
    if (g->min <= 1) ++g;
    for (; g != groups_end && required; ++g) required = GroupHit(*g);
    if (!required) continue;
    if (er.node_count != 0) {
      values_.assign(er.node_count, -1);
      if (!Eval(er, 0, false)) continue;
    }
    double score = Score(er);
    if (score < er.threshold) continue;
    SelectReportedHits(er);
    FiredRule f;
    f.rule = er.rule;
    f.score = score;
    f.hits_begin = static_cast<uint32_t>(fired_hits_.size());
    fired_hits_.insert(fired_hits_.end(), gather_.begin(), gather_.end());
    f.hits_end = static_cast<uint32_t>(fired_hits_.size());
    fired_.push_back(f);
  }
  return fired_;
}

Evaluator::Trace Evaluator::Explain(uint32_t r, const ItemView& item,
                                    absl::Span<const match::Hit> hits) {
  Index(item, hits);
  const Rule& rule = pack_->rules()[r];
  Trace trace;
  values_.assign(rule.program.size(), -1);
  const EvalRule& er = plan_->rule(r);
  trace.query_true = rule.program.empty() ? true : Eval(er, 0, true);
  trace.score = Score(er);
  trace.fired = trace.query_true && (!rule.has_threshold || trace.score >= rule.threshold);
  if (rule.program.empty()) trace.fired = trace.fired && rule.has_threshold;
  trace.value = values_;
  return trace;
}

bool Evaluator::TermsHit(const EvalNode& n) const {
  if (n.param != 0) {  // a set: marked while indexing
    const uint32_t s = n.param - 1;
    return set_stamp_[s] == epoch_ && (set_fields_[s] & n.fields) != 0;
  }
  auto hit = [&](match::TermId t) { return (HitFields(t) & n.fields) != 0; };
  const match::TermId* begin = plan_->At<match::TermId>(n.begin);
  const match::TermId* end = plan_->At<match::TermId>(n.end);
  // Walk the smaller side: a set of 500 terms against 3 terms that hit costs 3 binary searches.
  if (static_cast<size_t>(end - begin) <= touched_.size() * 4) {
    for (const match::TermId* t = begin; t != end; ++t) {
      if (hit(*t)) return true;
    }
    return false;
  }
  for (match::TermId t : touched_) {
    if (std::binary_search(begin, end, t) && hit(t)) return true;
  }
  return false;
}

bool Evaluator::Eval(const EvalRule& r, uint32_t node, bool trace) {
  eval_nodes_ = plan_->nodes(r);
  eval_rule_ = &r;
  eval_trace_ = trace;
  return EvalAt(node);
}

// A term leaf (most children of the default pack's large ORs and ANDs) is answered here, in
// the parent's loop: a recursive call per leaf cost more than the leaf's own test.
inline bool Evaluator::EvalChild(uint32_t node) {
  const EvalNode& n = eval_nodes_[node];
  if (n.kind != K::kTerms) return EvalAt(node);
  const bool v = TermsHit(n);
  values_[node] = v ? 1 : 0;
  return v;
}

bool Evaluator::EvalAt(uint32_t node) {
  const EvalRule& r = *eval_rule_;
  const bool trace = eval_trace_;
  const EvalNode& n = eval_nodes_[node];
  const uint32_t* child = plan_->At<uint32_t>(n.begin);
  const uint32_t nchildren = n.end - n.begin;
  bool v = false;
  switch (n.kind) {
    case K::kTerms:
      v = TermsHit(n);
      break;
    case K::kAnd:
      v = true;
      for (uint32_t i = 0; i < nchildren; ++i) {
        if (!EvalChild(child[i])) {
          v = false;
          if (!trace) break;
        }
      }
      break;
    case K::kOr:
      for (uint32_t i = 0; i < nchildren; ++i) {
        if (EvalChild(child[i])) {
          v = true;
          if (!trace) break;
        }
      }
      break;
    case K::kNot:
      v = !EvalChild(child[0]);
      break;
    case K::kNear: {
      bool left = EvalChild(child[0]);
      bool right = (left || trace) ? EvalChild(child[1]) : false;
      if (left && right) v = Near(r, n);
      break;
    }
    case K::kLang: {
      const Rule& rule = pack_->rules()[r.rule];
      for (uint32_t i = n.begin; i < n.end && !v; ++i) v = LangMatch(rule.values[i], item_->lang);
      break;
    }
    case K::kSource: {
      const Rule& rule = pack_->rules()[r.rule];
      for (uint32_t i = n.begin; i < n.end && !v; ++i) v = GlobMatch(rule.values[i], item_->source);
      break;
    }
    case K::kAtLeast:
    case K::kAtLeastDistinct: {
      if (!EvalChild(child[0])) break;
      gather_.clear();
      Gather(r, child[0], false, &gather_);
      std::sort(gather_.begin(), gather_.end());
      gather_.erase(std::unique(gather_.begin(), gather_.end()), gather_.end());
      if (n.kind == K::kAtLeast) {
        v = gather_.size() >= n.param;
        break;
      }
      for (uint32_t& i : gather_) i = hits_[i].term;
      std::sort(gather_.begin(), gather_.end());
      v = static_cast<size_t>(std::unique(gather_.begin(), gather_.end()) - gather_.begin()) >=
          n.param;
      break;
    }
  }
  values_[node] = v ? 1 : 0;
  return v;
}

void Evaluator::Gather(const EvalRule& r, uint32_t node, bool only_true,
                       std::vector<uint32_t>* out) const {
  const EvalPlan& plan = *plan_;
  const EvalNode& n = plan.nodes(r)[node];
  if (only_true && values_[node] != 1) return;
  switch (n.kind) {
    case K::kNot:
    case K::kLang:
    case K::kSource:
      return;
    case K::kTerms: {
      auto add = [&](match::TermId t) {
        if (!TermHit(t)) return;
        for (uint32_t k = span_[t].first; k < span_[t].end; ++k) {
          uint32_t h = by_term_[k];
          if (n.fields & (1u << hits_[h].field)) out->push_back(h);
        }
      };
      const match::TermId* begin = plan.At<match::TermId>(n.begin);
      const match::TermId* end = plan.At<match::TermId>(n.end);
      if (static_cast<size_t>(end - begin) <= touched_.size() * 4) {
        for (const match::TermId* t = begin; t != end; ++t) add(*t);
      } else {
        for (match::TermId t : touched_) {
          if (std::binary_search(begin, end, t)) add(t);
        }
      }
      return;
    }
    default:
      for (uint32_t i = n.begin; i < n.end; ++i) Gather(r, plan.code[i], only_true, out);
  }
}

void Evaluator::CollectTrueLeaves(const EvalRule& r, uint32_t node) {
  const EvalPlan& plan = *plan_;
  const EvalNode& n = plan.nodes(r)[node];
  if (values_[node] != 1) return;
  switch (n.kind) {
    case K::kNot:
    case K::kLang:
    case K::kSource:
      return;
    case K::kTerms:
      leaves_.push_back(node);
      return;
    default:
      for (uint32_t i = n.begin; i < n.end; ++i) CollectTrueLeaves(r, plan.code[i]);
  }
}

// Appends to group_hits_ at most kMaxHitsPerFiredRule hits of the terms group_terms_[from..)
// in `fields`: the first hit of each term (in term order), then the second of each, and so on,
// so that every distinct term of the group shows before any term repeats.
void Evaluator::AppendGroup(size_t terms_from, FieldMask fields) {
  term_cursor_.clear();
  for (size_t i = terms_from; i < group_terms_.size(); ++i) {
    term_cursor_.push_back(span_[group_terms_[i]].first);
  }
  uint32_t taken = 0;
  bool progress = true;
  while (progress && taken < kMaxHitsPerFiredRule) {
    progress = false;
    for (size_t i = terms_from; i < group_terms_.size() && taken < kMaxHitsPerFiredRule; ++i) {
      const match::TermId t = group_terms_[i];
      uint32_t& k = term_cursor_[i - terms_from];
      const uint32_t end = span_[t].end;
      while (k < end && !(fields & (1u << hits_[by_term_[k]].field))) ++k;
      if (k == end) continue;
      group_hits_.push_back(by_term_[k++]);
      ++taken;
      progress = true;
    }
  }
  group_begin_.push_back(static_cast<uint32_t>(group_hits_.size()));
}

// Fills gather_ with the hits reported for a fired rule, decisive clauses first: one group per
// true term leaf of the query (outside NOT, in query order) or, for a score-only rule, per
// scored term (heaviest first); then round-robin over the groups, so every clause that made
// the rule true is represented before the kMaxHitsPerFiredRule cap, whatever the count of
// place names elsewhere in the item. Of hits that start at the same place ("Kazakh*" and
// "Kazakhstan") only the longest is kept, where the first of them was picked.
void Evaluator::SelectReportedHits(const EvalRule& er) {
  const EvalPlan& plan = *plan_;
  gather_.clear();
  group_hits_.clear();
  group_terms_.clear();
  group_begin_.assign(1, 0);
  if (er.node_count == 0) {
    scored_.clear();
    const EvalPlan::Weight* const weights_end = plan.At<EvalPlan::Weight>(er.weights_end);
    for (const EvalPlan::Weight* w = plan.At<EvalPlan::Weight>(er.weights_begin); w != weights_end;
         ++w) {
      if (TermHit(w->term)) scored_.push_back({w->term, w->weight});
    }
    std::stable_sort(scored_.begin(), scored_.end(),
                     [](const Scored& a, const Scored& b) { return a.weight > b.weight; });
    for (const Scored& s : scored_) {
      group_terms_.assign(1, s.hit);  // Scored::hit holds a term id here
      AppendGroup(0, kAllFields);
    }
  } else {
    leaves_.clear();
    CollectTrueLeaves(er, 0);
    for (uint32_t leaf : leaves_) {
      const EvalNode& n = plan.nodes(er)[leaf];
      const size_t from = group_terms_.size();
      const match::TermId* begin = plan.At<match::TermId>(n.begin);
      const match::TermId* end = plan.At<match::TermId>(n.end);
      if (static_cast<size_t>(end - begin) <= touched_.size() * 4) {
        for (const match::TermId* t = begin; t != end; ++t) {
          if (TermHit(*t)) group_terms_.push_back(*t);
        }
      } else {
        for (match::TermId t : touched_) {
          if (std::binary_search(begin, end, t)) group_terms_.push_back(t);
        }
      }
      AppendGroup(from, n.fields);
    }
  }
  const size_t groups = group_begin_.size() - 1;
  group_cursor_.assign(group_begin_.begin(), group_begin_.end() - 1);
  bool progress = true;
  while (progress && gather_.size() < kMaxHitsPerFiredRule) {
    progress = false;
    for (size_t g = 0; g < groups && gather_.size() < kMaxHitsPerFiredRule; ++g) {
      uint32_t& k = group_cursor_[g];
      while (k < group_begin_[g + 1]) {
        const uint32_t candidate = group_hits_[k++];
        const match::Hit& h = hits_[candidate];
        bool fresh = true;
        for (uint32_t& chosen : gather_) {
          const match::Hit& c = hits_[chosen];
          if (c.field != h.field || c.start != h.start) continue;
          if (h.end > c.end) chosen = candidate;
          fresh = false;
          break;
        }
        if (fresh) {
          gather_.push_back(candidate);
          progress = true;
          break;
        }
      }
      if (k < group_begin_[g + 1]) progress = true;
    }
  }
}

uint32_t Evaluator::FirstWordOf(uint32_t hit) {
  uint32_t& w = first_word_[hit];
  if (w == kUnknownWord) {
    const match::Hit& h = hits_[hit];
    w = words_[h.field & 1].WordIndexAt(h.start);
  }
  return w;
}

uint32_t Evaluator::LastWordOf(uint32_t hit) {
  uint32_t& w = last_word_[hit];
  if (w == kUnknownWord) {
    const match::Hit& h = hits_[hit];
    // The word holding the hit's last byte; a hit that ends on a separator ("U.S.") belongs to
    // the word before, never before its own first word.
    w = h.end > h.start ? words_[h.field & 1].WordIndexAt(h.end - 1) : FirstWordOf(hit);
    uint32_t first = FirstWordOf(hit);
    if (w < first) w = first;
    const std::vector<uint32_t>& starts = words_[h.field & 1].word_starts();
    if (w > first && w < starts.size() && starts[w] >= h.end) --w;
  }
  return w;
}

bool Evaluator::Near(const EvalRule& r, const EvalNode& n) {
  uint32_t c0 = plan_->code[n.begin];
  uint32_t c1 = plan_->code[n.begin + 1];
  left_.clear();
  right_.clear();
  Gather(r, c0, false, &left_);
  Gather(r, c1, false, &right_);
  if (left_.empty() || right_.empty()) return false;
  PrepareWords();
  // Position of a hit: (field << 32 | first word) plus its last word.
  uint32_t max_span = 0;
  auto positions = [&](const std::vector<uint32_t>& in, std::vector<NearPos>* out) {
    out->clear();
    for (uint32_t h : in) {
      NearPos p;
      p.key = (uint64_t{hits_[h].field} << 32) | FirstWordOf(h);
      p.last = LastWordOf(h);
      p.hit = h;
      max_span = std::max(max_span, p.last - static_cast<uint32_t>(p.key));
      out->push_back(p);
    }
    std::sort(out->begin(), out->end(),
              [](const NearPos& a, const NearPos& b) { return a.key < b.key; });
  };
  positions(right_, &right_pos_);
  positions(left_, &left_pos_);
  const uint64_t d = n.param;  // the distance
  for (const NearPos& l : left_pos_) {
    uint64_t field = l.key >> 32;
    uint64_t first = l.key & 0xffffffffu;
    // Candidates b start within [first - d - max_span, last + d] (any order) or
    // [first, last + d] (ONEAR: b after a).
    uint64_t lo_word = n.ordered ? first : (first > d + max_span ? first - d - max_span : 0);
    uint64_t lo = (field << 32) | lo_word;
    uint64_t hi = (field << 32) | std::min<uint64_t>(uint64_t{l.last} + d, 0xffffffffu);
    auto it = std::lower_bound(right_pos_.begin(), right_pos_.end(), lo,
                               [](const NearPos& p, uint64_t key) { return p.key < key; });
    for (; it != right_pos_.end() && it->key <= hi; ++it) {
      if (it->hit == l.hit) continue;
      const match::Hit& a = hits_[l.hit];
      const match::Hit& b = hits_[it->hit];
      uint64_t b_first = it->key & 0xffffffffu;
      bool b_after = b_first > first || (b_first == first && b.start > a.start);
      if (n.ordered && !b_after) continue;
      // Distance: from the last word of the earlier hit to the first word of the later one.
      uint64_t dist = b_after ? (b_first > l.last ? b_first - l.last : 0)
                              : (first > it->last ? first - it->last : 0);
      if (dist <= d) return true;
    }
  }
  return false;
}

double Evaluator::Score(const EvalRule& er) {
  const EvalPlan::Weight* const begin = plan_->At<EvalPlan::Weight>(er.weights_begin);
  const EvalPlan::Weight* const end = plan_->At<EvalPlan::Weight>(er.weights_end);
  // Fast path: when no hit of a scored term starts where another hit does, every hit counts,
  // and the score is each hit term's weight times its capped occurrences; with weights whose
  // sums are exact in any order (kExactSum) that is the slow path's sum to the bit.
  if (er.flags & EvalRule::kExactSum) {
    double score = 0;
    bool exact = true;
    auto add = [&](match::TermId t, float weight) {
      const uint32_t occurrences = span_[t].occurrences;
      if (occurrences & kSharedStart) exact = false;
      score += weight * static_cast<float>(std::min<uint32_t>(occurrences, 3));
    };
    if (static_cast<size_t>(end - begin) <= touched_.size()) {
      for (const EvalPlan::Weight* w = begin; w != end && exact; ++w) {
        if (TermHit(w->term)) add(w->term, w->weight);
      }
    } else {
      for (size_t i = 0; i < touched_.size() && exact; ++i) {
        const match::TermId t = touched_[i];
        const EvalPlan::Weight* it = std::lower_bound(
            begin, end, t, [](const EvalPlan::Weight& w, match::TermId id) { return w.term < id; });
        if (it != end && it->term == t) add(t, it->weight);
      }
    }
    if (exact) return score;
  }
  // Every hit of a scored term, with its weight; hits that start at the same place as a
  // heavier (or longer) one are the same mention seen by two terms ("Kazakh*" and
  // "Kazakhstan") and count once.
  scored_.clear();
  auto add = [&](match::TermId t, float weight) {
    for (uint32_t k = span_[t].first; k < span_[t].end; ++k)
      scored_.push_back({by_term_[k], weight});
  };
  if (static_cast<size_t>(end - begin) <= touched_.size()) {
    for (const EvalPlan::Weight* w = begin; w != end; ++w) {
      if (TermHit(w->term)) add(w->term, w->weight);
    }
  } else {
    for (match::TermId t : touched_) {
      const EvalPlan::Weight* it = std::lower_bound(
          begin, end, t, [](const EvalPlan::Weight& w, match::TermId id) { return w.term < id; });
      if (it != end && it->term == t) add(t, it->weight);
    }
  }
  if (scored_.empty()) return 0;
  std::sort(scored_.begin(), scored_.end(), [&](const Scored& a, const Scored& b) {
    const match::Hit& x = hits_[a.hit];
    const match::Hit& y = hits_[b.hit];
    if (x.field != y.field) return x.field < y.field;
    if (x.start != y.start) return x.start < y.start;
    if (a.weight != b.weight) return a.weight > b.weight;
    if (x.end != y.end) return x.end > y.end;
    return x.term < y.term;
  });
  double score = 0;
  const match::Hit* prev = nullptr;
  for (const Scored& s : scored_) {
    const match::Hit& h = hits_[s.hit];
    if (prev && prev->field == h.field && prev->start == h.start) continue;
    prev = &h;
    // Occurrences per term: title ones count twice, and the sum is capped at 3.
    uint32_t& occ = occurrences_[h.term];
    uint32_t add_occ = std::min<uint32_t>(h.field == 0 ? 2 : 1, 3 - std::min<uint32_t>(occ, 3));
    occ += add_occ;
    score += s.weight * add_occ;
  }
  for (const Scored& s : scored_) occurrences_[hits_[s.hit].term] = 0;
  return score;
}

}  // namespace steppewatch::rules
