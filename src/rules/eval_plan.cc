// CompiledPack::BuildEvalPlan: the flat programs the Evaluator runs and, per term, the rules
// whose trigger group it belongs to, so that evaluating an item costs in proportion to its hits,
// not to the rules.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "steppewatch/common/check.h"
#include "steppewatch/common/log.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::rules {

namespace {

// A group of terms of which `min` distinct ones must hit.
struct TermGroup {
  std::vector<RequiredTerm> terms;
  uint32_t min = 1;
};
using Groups = std::vector<TermGroup>;

// Sorts a group by term and merges the fields of repeated terms.
void Canonical(std::vector<RequiredTerm>* g) {
  std::sort(g->begin(), g->end(),
            [](const RequiredTerm& a, const RequiredTerm& b) { return a.term < b.term; });
  size_t kept = 0;
  for (const RequiredTerm& t : *g) {
    if (kept > 0 && (*g)[kept - 1].term == t.term) {
      (*g)[kept - 1].fields |= t.fields;
    } else {
      (*g)[kept++] = t;
    }
  }
  g->resize(kept);
}

// The cost of triggering on a group: how many rules mention its terms (a term many rules share
// is likely a common one, and each of its hits wakes all of them).
uint64_t GroupCost(const TermGroup& g, const std::vector<uint32_t>& rules_of) {
  uint64_t cost = 0;
  for (const RequiredTerm& t : g.terms) cost += rules_of[t.term] + 1;
  return cost;
}

// Appends the terms of every leaf under node `k` outside NOT (what Evaluator::Gather collects).
void LeafTerms(const Rule& rule, uint32_t k, std::vector<RequiredTerm>* out) {
  using K = ProgramNode::Kind;
  const ProgramNode& n = rule.program[k];
  if (n.kind == K::kNot || n.kind == K::kLang || n.kind == K::kSource) return;
  if (n.kind == K::kTerms) {
    for (uint32_t i = n.terms_begin; i < n.terms_end; ++i)
      out->push_back({rule.terms[i], n.fields});
    return;
  }
  for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
    LeafTerms(rule, rule.child_index[i], out);
  }
}

// Appends to `out` groups of terms node `k` needs to be true (a conjunction of disjunctions);
// appends nothing when the node can be true without hits (NOT, lang:, source:).
void RequiredGroups(const Rule& rule, uint32_t k, const std::vector<uint32_t>& rules_of,
                    Groups* out) {
  using K = ProgramNode::Kind;
  const ProgramNode& n = rule.program[k];
  switch (n.kind) {
    case K::kTerms: {
      TermGroup g;
      for (uint32_t i = n.terms_begin; i < n.terms_end; ++i) {
        g.terms.push_back({rule.terms[i], n.fields});
      }
      Canonical(&g.terms);
      out->push_back(std::move(g));
      return;
    }
    case K::kAtLeastDistinct:
      // The evaluator counts the distinct terms of every hit under the child (Gather): at least
      // `count` of the leaves' terms must hit.
      if (n.count > 1) {
        TermGroup g;
        LeafTerms(rule, rule.child_index[n.children_begin], &g.terms);
        Canonical(&g.terms);
        g.min = n.count;
        out->push_back(std::move(g));
      }
      [[fallthrough]];
    case K::kAnd:
    case K::kNear:  // true only when both sides are
    case K::kAtLeast:
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        RequiredGroups(rule, rule.child_index[i], rules_of, out);
      }
      return;
    case K::kOr: {
      // Some child is true, so the union of one group of each child has a hit.
      // (A group's `min` does not carry over: one hit of the union is what is certain.)
      TermGroup g;
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        Groups child;
        RequiredGroups(rule, rule.child_index[i], rules_of, &child);
        if (child.empty()) return;  // a child that needs no hit: the OR needs none either
        const TermGroup* best = &child[0];
        for (const auto& c : child) {
          if (GroupCost(c, rules_of) < GroupCost(*best, rules_of)) best = &c;
        }
        g.terms.insert(g.terms.end(), best->terms.begin(), best->terms.end());
      }
      Canonical(&g.terms);
      out->push_back(std::move(g));
      return;
    }
    case K::kNot:
    case K::kLang:
    case K::kSource:
      return;
  }
}

// Appends `v` to `code` as words; returns its offset.
template <typename T>
uint32_t Append(std::vector<uint32_t>* code, const T& v) {
  static_assert(sizeof(T) % sizeof(uint32_t) == 0 && std::is_trivially_copyable_v<T>);
  const size_t at = code->size();
  code->resize(at + sizeof(T) / sizeof(uint32_t));
  std::memcpy(code->data() + at, &v, sizeof(T));
  return static_cast<uint32_t>(at);
}

// Writes `v` at `offset` of `code` (reserved earlier).
template <typename T>
void Put(std::vector<uint32_t>* code, size_t offset, const T& v) {
  std::memcpy(code->data() + offset, &v, sizeof(T));
}

// True when `w` is a multiple of 1/256 of at most 2^20 whose double and triple are floats: a
// score is then a sum of multiples of 1/256 below 2^38 (at most 3 x 2^20 per term, 50,000 terms
// per rule), exact in a double in any order, of exact float products weight x occurrences.
bool ExactWeight(float w) {
  const double d = w;
  if (!(std::fabs(d) <= 1048576.0)) return false;  // also NaN
  const double scaled = d * 256.0;
  if (scaled != std::trunc(scaled)) return false;
  return static_cast<double>(w * 3.0f) == d * 3.0 && static_cast<double>(w * 2.0f) == d * 2.0;
}

static_assert(sizeof(EvalNode) == 16 && alignof(EvalNode) == 4);
static_assert(sizeof(RequiredTerm) == 8 && sizeof(EvalPlan::Group) == 12);
static_assert(sizeof(EvalPlan::Weight) == 8 && sizeof(match::TermId) == 4);

}  // namespace

void CompiledPack::BuildEvalPlan() {
  EvalPlan& plan = plan_;
  plan = EvalPlan();
  std::vector<uint32_t>& code = plan.code;
  const size_t terms = term_specs_.size();
  std::vector<uint32_t> rules_of(terms);
  for (size_t t = 0; t < terms; ++t) rules_of[t] = index_begin_[t + 1] - index_begin_[t];
  // A pack of 2^30 rules or terms would need hundreds of GB before it got here.
  SW_CHECK(rules_.size() <= EvalPlan::kMaxTriggerIndex && terms <= EvalPlan::kMaxTriggerIndex);
  plan.rule_at.resize(rules_.size());
  std::vector<std::pair<match::TermId, EvalPlan::Trigger>> triggers;
  Groups groups;
  // Large term lists by content (the bytes of their term ids): the first node's range in
  // code and its set index.
  struct SetRange {
    uint32_t begin, end, set;
  };
  absl::flat_hash_map<std::string_view, SetRange> sets;
  std::vector<std::pair<match::TermId, uint32_t>> set_members;
  std::vector<EvalNode> nodes;
  // Room for every run at once (growing the code by doubling copied it ~20 times at 100k
  // rules), estimated per rule: head and padding, a node and a group per program node, each
  // term once in a list and once required, children, weights (and a group each for score-only
  // rules). A query whose groups repeat its terms can need more: the vector then grows as any.
  // The slack is never written, so it takes address space, not memory.
  size_t words = 0;
  for (const Rule& rule : rules_) {
    words += (sizeof(EvalRule) + sizeof(uint32_t)) / sizeof(uint32_t) +
             rule.program.size() * (sizeof(EvalNode) + sizeof(EvalPlan::Group)) / sizeof(uint32_t) +
             rule.terms.size() * (1 + sizeof(RequiredTerm) / sizeof(uint32_t)) +
             rule.child_index.size() +
             rule.weights.size() *
                 (sizeof(EvalPlan::Weight) + sizeof(RequiredTerm) + sizeof(EvalPlan::Group)) /
                 sizeof(uint32_t);
  }
  code.reserve(words);
  for (uint32_t r = 0; r < rules_.size(); ++r) {
    const Rule& rule = rules_[r];
    groups.clear();
    if (!rule.program.empty()) RequiredGroups(rule, 0, rules_of, &groups);
    if (groups.empty()) {
      // A score-only rule (or a query that needs no particular term): any scored term.
      TermGroup g;
      for (const auto& [t, w] : rule.weights) g.terms.push_back({t, kAllFields});
      groups.push_back(std::move(g));
    }
    size_t best = 0;
    for (size_t i = 1; i < groups.size(); ++i) {
      if (GroupCost(groups[i], rules_of) < GroupCost(groups[best], rules_of)) best = i;
    }
    std::swap(groups[0], groups[best]);

    // The rule's run: its head, groups and required terms, nodes, then what the nodes name.
    if (code.size() % 2 != 0) code.push_back(0);  // EvalRule holds a double
    EvalRule er;
    er.rule = r;
    const uint32_t head = Append(&code, er);
    plan.rule_at[r] = head;
    er.groups_begin = static_cast<uint32_t>(code.size());
    uint32_t required = static_cast<uint32_t>(
        er.groups_begin + groups.size() * sizeof(EvalPlan::Group) / sizeof(uint32_t));
    for (const auto& g : groups) {
      const uint32_t begin = required;
      required += static_cast<uint32_t>(g.terms.size() * sizeof(RequiredTerm) / sizeof(uint32_t));
      Append(&code, EvalPlan::Group{begin, required, g.min});
    }
    er.groups_end = static_cast<uint32_t>(code.size());
    for (const auto& g : groups) {
      for (const RequiredTerm& t : g.terms) Append(&code, t);
    }
    SW_CHECK(code.size() == required);

    er.node_count = static_cast<uint32_t>(rule.program.size());
    er.nodes_begin = static_cast<uint32_t>(code.size());
    code.resize(code.size() + rule.program.size() * sizeof(EvalNode) / sizeof(uint32_t));
    nodes.clear();
    for (const ProgramNode& n : rule.program) {
      EvalNode e;
      e.kind = n.kind;
      e.fields = n.fields;
      e.ordered = n.ordered;
      e.param = n.kind == ProgramNode::Kind::kNear ? n.distance : n.count;
      switch (n.kind) {
        case ProgramNode::Kind::kTerms: {
          const size_t count = n.terms_end - n.terms_begin;
          e.param = 0;
          if (count >= EvalPlan::kSetMinTerms) {
            // The key views the rule's own terms, which outlive this function's map.
            const std::string_view key(
                reinterpret_cast<const char*>(rule.terms.data() + n.terms_begin),
                count * sizeof(match::TermId));
            auto [it, fresh] = sets.try_emplace(key, SetRange{0, 0, plan.set_count});
            if (fresh) {
              it->second.begin = static_cast<uint32_t>(code.size());
              code.insert(code.end(), rule.terms.begin() + n.terms_begin,
                          rule.terms.begin() + n.terms_end);
              it->second.end = static_cast<uint32_t>(code.size());
              for (uint32_t i = n.terms_begin; i < n.terms_end; ++i) {
                set_members.push_back({rule.terms[i], plan.set_count});
              }
              ++plan.set_count;
            }
            e.begin = it->second.begin;
            e.end = it->second.end;
            e.param = it->second.set + 1;
            break;
          }
          e.begin = static_cast<uint32_t>(code.size());
          code.insert(code.end(), rule.terms.begin() + n.terms_begin,
                      rule.terms.begin() + n.terms_end);
          e.end = static_cast<uint32_t>(code.size());
          break;
        }
        case ProgramNode::Kind::kLang:
        case ProgramNode::Kind::kSource:
          e.begin = n.values_begin;
          e.end = n.values_end;
          break;
        default:
          e.begin = static_cast<uint32_t>(code.size());
          code.insert(code.end(), rule.child_index.begin() + n.children_begin,
                      rule.child_index.begin() + n.children_end);
          e.end = static_cast<uint32_t>(code.size());
      }
      nodes.push_back(e);
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      Put(&code, er.nodes_begin + i * sizeof(EvalNode) / sizeof(uint32_t), nodes[i]);
    }
    er.weights_begin = static_cast<uint32_t>(code.size());
    er.flags |= EvalRule::kExactSum;
    for (const auto& [t, w] : rule.weights) {
      Append(&code, EvalPlan::Weight{t, w});
      if (!ExactWeight(w)) er.flags &= ~EvalRule::kExactSum;
    }
    er.weights_end = static_cast<uint32_t>(code.size());
    if (rule.has_threshold) er.threshold = rule.threshold;
    Put(&code, head, er);
    // Offsets name rules in triggers (30 bits).
    SW_CHECK(code.size() <= EvalPlan::kMaxTriggerIndex);
    if (!rule.enabled) continue;
    // A group that needs `min` distinct terms has one of any (size - min + 1) of them hit: index
    // the rule under the least shared ones only.
    std::vector<RequiredTerm> trigger_terms = groups[0].terms;
    if (groups[0].min > 1 && groups[0].min <= trigger_terms.size()) {
      std::sort(trigger_terms.begin(), trigger_terms.end(),
                [&](const RequiredTerm& a, const RequiredTerm& b) {
                  return rules_of[a.term] != rules_of[b.term] ? rules_of[a.term] < rules_of[b.term]
                                                              : a.term < b.term;
                });
      trigger_terms.resize(trigger_terms.size() - groups[0].min + 1);
    }
    // A one-term group besides the trigger (the least shared one) is checked with the trigger:
    // `A AND B` is then a candidate only when both hit, without a look at its plan.
    const TermGroup* single = nullptr;
    for (size_t g = 1; g < groups.size(); ++g) {
      if (groups[g].terms.size() != 1 || groups[g].min > 1) continue;
      if (single == nullptr ||
          rules_of[groups[g].terms[0].term] < rules_of[single->terms[0].term]) {
        single = &groups[g];
      }
    }
    EvalPlan::Trigger trigger{0, 0};
    if (single != nullptr) {
      trigger.also_and_fields = single->terms[0].term << 2 | (single->terms[0].fields & kAllFields);
    }
    for (const RequiredTerm& t : trigger_terms) {
      trigger.rule_and_fields = head << 2 | (t.fields & kAllFields);
      triggers.push_back({t.term, trigger});
    }
  }
  plan.trigger_begin.assign(terms + 1, 0);
  for (const auto& [t, trigger] : triggers) ++plan.trigger_begin[t + 1];
  for (size_t i = 1; i <= terms; ++i) plan.trigger_begin[i] += plan.trigger_begin[i - 1];
  plan.triggers.resize(triggers.size());
  std::vector<uint32_t> fill(plan.trigger_begin.begin(), plan.trigger_begin.end() - 1);
  // `triggers` is in rule order, so each term's triggers are too.
  for (const auto& [t, trigger] : triggers) plan.triggers[fill[t]++] = trigger;

  // A term repeated within one list (sets are sorted, duplicates possible in hand-written
  // lists) is listed once per set.
  std::sort(set_members.begin(), set_members.end());
  set_members.erase(std::unique(set_members.begin(), set_members.end()), set_members.end());
  plan.set_begin.assign(terms + 1, 0);
  for (const auto& [t, set] : set_members) ++plan.set_begin[t + 1];
  for (size_t i = 1; i <= terms; ++i) plan.set_begin[i] += plan.set_begin[i - 1];
  plan.sets_of.resize(set_members.size());
  for (size_t i = 0; i < set_members.size(); ++i) plan.sets_of[i] = set_members[i].second;
}

}  // namespace steppewatch::rules
