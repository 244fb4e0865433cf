// CompiledPack: a rule pack (config/rules/README.md) loaded from its YAML files, validated,
// and compiled into one Matcher for every distinct term of the pack plus an evaluation program
// per rule. Loading collects every problem as a Diagnostic with file:line:column.
//
// Ownership and threading: CompiledPack is immutable after Load() and shared as
// std::shared_ptr<const CompiledPack> (pipeline::PackHolder swaps it whole on reload). The
// per-thread state that evaluates it is rules::Evaluator (evaluator.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/query.h"

namespace steppewatch::rules {

enum class Severity : uint8_t { kInfo = 0, kLow, kMedium, kHigh, kCritical };
inline constexpr int kSeverityCount = 5;
// Returns "info", "low", "medium", "high" or "critical".
std::string_view SeverityName(Severity severity);

// One problem found while loading a pack. `line` and `column` are 1-based; 0 when the problem
// has no position (e.g. a missing `pack:` key concerns the whole directory).
struct Diagnostic {
  std::string file;  // relative to the pack directory
  int line = 0;
  int column = 0;
  std::string message;
  // Returns "file:line:column: message" (the form editors and CI annotate).
  std::string ToString() const;
};

// One embedded test of a rule: an item that must (or must not) fire the rule.
struct RuleTest {
  bool expect_match = true;
  std::string title;
  std::string body;
  std::string lang;
  std::string source;
  int line = 0;  // position in the rule's file
  int column = 0;
};

// A node of a rule's compiled program (the query with sets expanded and field scopes folded into
// the leaves). Nodes are stored in a vector; `children` index the rule's `child_index` vector.
struct ProgramNode {
  enum class Kind : uint8_t {
    kTerms,  // true when any of terms[terms_begin, terms_end) hit in `fields`
    kAnd,
    kOr,
    kNot,
    kNear,  // 2 children; distance, ordered
    kLang,  // values[values_begin, values_end)
    kSource,
    kAtLeast,          // 1 child; count
    kAtLeastDistinct,  // 1 child; count
  };
  Kind kind = Kind::kTerms;
  FieldMask fields = kAllFields;
  bool ordered = false;
  uint32_t distance = 0;
  uint32_t count = 0;
  uint32_t children_begin = 0, children_end = 0;
  uint32_t terms_begin = 0, terms_end = 0;    // into Rule::terms (sorted within the range)
  uint32_t values_begin = 0, values_end = 0;  // into Rule::values
  std::string label;  // the source text of the node, for explain: "@kazakhstan", "NEAR/5"
};

// One rule, as written and as compiled.
struct Rule {
  std::string id;
  std::string title;
  std::string description;
  Severity severity = Severity::kMedium;
  std::vector<std::string> tags;
  std::vector<std::string> topics;
  bool enabled = true;
  std::string query;  // as written; empty for a score-only rule
  bool has_threshold = false;
  double threshold = 0;
  std::vector<RuleTest> tests;
  std::string file;  // relative to the pack directory
  int line = 0;

  // Compiled form (read by the Evaluator). program[0] is the root; empty for score-only rules.
  std::vector<ProgramNode> program;
  std::vector<uint32_t> child_index;
  std::vector<match::TermId> terms;
  std::vector<std::string> values;
  // Terms the query mentions outside NOT, with their scoring weight, sorted by term id.
  std::vector<std::pair<match::TermId, float>> weights;
  std::vector<uint16_t> topic_ids;  // into CompiledPack::topics()
};

// The evaluator's form of a rule program: ProgramNode without its label, in the rule's run of
// EvalPlan::code, so evaluating a candidate touches a few contiguous cache lines.
struct EvalNode {
  ProgramNode::Kind kind = ProgramNode::Kind::kTerms;
  FieldMask fields = kAllFields;
  bool ordered = false;
  // NEAR distance, AT_LEAST count; kTerms: 1 + the node's EvalPlan set when its terms are one
  // (EvalPlan::kSetMinTerms or more terms), else 0.
  uint32_t param = 0;
  // kTerms: term ids in EvalPlan::code; kLang, kSource: Rule::values; the others: children in
  // EvalPlan::code, node indexes local to the rule (as in Rule::child_index).
  uint32_t begin = 0, end = 0;
};

// A term that must hit in one of `fields`.
struct RequiredTerm {
  match::TermId term;
  FieldMask fields;
};

// Per rule: its nodes and the groups of terms it needs. A rule can be true only when every group
// has a term that hit in the group's fields (the groups are a consequence of the query: the
// terms of every AND branch, both sides of NEAR, one group per OR, n distinct terms of the
// leaves under AT_LEAST_DISTINCT(n); NOT, lang: and source: add none), so a rule whose groups
// are not all hit is rejected without evaluating it.
//
// What the evaluator needs of a rule once it fires (its scored terms and threshold) is here too:
// with a large pack each rule's own vectors (Rule::weights, program, terms) are separate heap
// blocks, and reading them cost a cache miss each per fired rule.
//
// The head of the rule's run of EvalPlan::code (see there); every offset is a word offset into
// EvalPlan::code, and every range lies in the rule's own run (or, for a set, in the run of the
// first rule that uses it).
struct EvalRule {
  uint32_t rule = 0;                            // index into CompiledPack::rules()
  uint32_t node_count = 0;                      // EvalNode at nodes_begin
  uint32_t nodes_begin = 0;                     // EvalNode[node_count]
  uint32_t groups_begin = 0, groups_end = 0;    // EvalPlan::Group; the first is the trigger
  uint32_t weights_begin = 0, weights_end = 0;  // EvalPlan::Weight (Rule::weights)
  // kExactSum: every weight is a multiple of 1/256 of at most 2^20, times 2 and 3 exact in a
  // float, so the rule's score is the same sum in any order (Evaluator::Score's fast path).
  uint32_t flags = 0;  // also keeps `threshold` 8-byte aligned
  static constexpr uint32_t kExactSum = 1;
  // Rule::threshold, or -infinity when the rule has none (no score is below it).
  double threshold = -std::numeric_limits<double>::infinity();
};
static_assert(sizeof(EvalRule) == 40 && alignof(EvalRule) == 8);

struct EvalPlan {
  struct Group {
    uint32_t begin, end;  // RequiredTerm offsets in code, sorted by term
    uint32_t min = 1;     // distinct terms of the group that must hit (AT_LEAST_DISTINCT)
  };
  // A rule to consider when `term` hits in one of `fields`: the terms of the rule's trigger
  // group, the group whose terms the fewest rules share (the likely rarest). Packed in 8 bytes
  // (fields take two bits, kAllFields): an item's hit terms walk ~160 triggers at 100k rules,
  // and the walk is bound by the cache lines it reads.
  struct Trigger {
    // The offset of the rule's EvalRule in code << 2 | fields (in rule order, as the rules).
    uint32_t rule_and_fields;
    // Another term the rule needs (a required group of one term), checked before the rule
    // becomes a candidate: also << 2 | the fields it must hit in; 0 when the rule has none.
    uint32_t also_and_fields = 0;

    uint32_t rule() const { return rule_and_fields >> 2; }
    FieldMask fields() const { return static_cast<FieldMask>(rule_and_fields & kAllFields); }
    match::TermId also() const { return also_and_fields >> 2; }
    FieldMask also_fields() const { return static_cast<FieldMask>(also_and_fields & kAllFields); }
  };
  static_assert(kAllFields == 3, "Trigger packs a FieldMask into two bits");
  // Code offsets and terms a Trigger can name (30 bits).
  static constexpr uint32_t kMaxTriggerIndex = (1u << 30) - 1;
  // A term the rule scores, and its weight (Rule::weights).
  struct Weight {
    match::TermId term;
    float weight;
  };
  // Every rule's plan in one run of words, rule after rule: its EvalRule (at an even offset),
  // its groups, their required terms, its nodes, their children (node indexes local to the
  // rule) and term lists, its weights. A candidate rule reads a few adjacent cache lines instead
  // of one line in each of seven pack-wide arrays (with 100k rules, each a cache miss). Read
  // through At(); written at build time only (eval_plan.cc).
  std::vector<uint32_t> code;
  std::vector<uint32_t> rule_at;  // per rule index: the offset of its EvalRule in code

  template <typename T>
  const T* At(uint32_t offset) const {
    static_assert(sizeof(T) % sizeof(uint32_t) == 0 && alignof(T) <= 8);
    return reinterpret_cast<const T*>(code.data() + offset);
  }
  const EvalRule& rule(uint32_t r) const { return *At<EvalRule>(rule_at[r]); }
  const EvalNode* nodes(const EvalRule& r) const { return At<EvalNode>(r.nodes_begin); }

  std::vector<uint32_t> trigger_begin;  // term_count + 1 offsets into triggers
  std::vector<Trigger> triggers;
  // Term lists of kTerms nodes with kSetMinTerms or more terms (a pack's named sets, used by
  // many rules), each stored once in `code`. The evaluator marks a set hit while it indexes an
  // item's hits, so such a node costs one lookup instead of a search per hit term.
  static constexpr size_t kSetMinTerms = 8;
  uint32_t set_count = 0;
  std::vector<uint32_t> set_begin;  // term_count + 1 offsets into sets_of
  std::vector<uint32_t> sets_of;    // per term, the sets that hold it

  absl::Span<const uint32_t> SetsOf(match::TermId id) const {
    return absl::MakeConstSpan(sets_of).subspan(set_begin[id], set_begin[id + 1] - set_begin[id]);
  }

  absl::Span<const Trigger> TriggersOf(match::TermId id) const {
    return absl::MakeConstSpan(triggers).subspan(trigger_begin[id],
                                                 trigger_begin[id + 1] - trigger_begin[id]);
  }
};

struct PackInfo {
  std::string name;
  std::string version;
  std::string description;
  std::string hash;  // "sha256:<64 hex>" over the sorted relative paths and contents
};

struct PackStats {
  size_t files = 0;
  size_t sets = 0;
  size_t terms = 0;  // distinct terms compiled into the matcher
  size_t rules = 0;
  size_t enabled_rules = 0;
  size_t tests = 0;
  double load_seconds = 0;  // YAML, validation and programs, without the matcher
  // True when the compiled pack (not only the matcher's databases) came from the cache in
  // matcher.cache_dir, keyed by the pack's content hash (src/rules/pack_cache.h).
  bool from_cache = false;
  match::MatcherStats matcher;
};

struct PackOptions {
  QueryLimits limits;
  // matcher.cache_dir, when set, also caches the compiled pack (src/rules/pack_cache.h).
  match::MatcherOptions matcher;
  // Distinct terms per pack: 100k literals compile in seconds with Hyperscan 5.4.0, 100k
  // Unicode-caseless patterns took 194 s (measured on this project's 2-core VM); 200k leaves
  // room for big literal watchlists.
  size_t max_terms = 200000;
  // Terms one rule may expand to through its sets: bounds the program and the scoring loop.
  size_t max_terms_per_rule = 50000;
  // Alert topic of rules that name none and of packs whose `defaults` name none.
  std::string default_topic = "alerts";
  // False skips the Hyperscan compile (matcher() is then null): syntax and reference checks
  // only, used by the pack fuzzer.
  bool compile_matcher = true;
};

// A file of a pack given in memory: path relative to the pack root, and its content.
struct PackFile {
  std::string path;
  std::string content;
};

class CompiledPack {
 public:
  // Loads every *.yaml below `dir` (recursively, sorted by relative path). On failure returns
  // InvalidArgument whose message lists every diagnostic, one per line; `diagnostics` (if not
  // null) receives them as values either way.
  static absl::StatusOr<std::shared_ptr<const CompiledPack>> Load(
      const std::filesystem::path& dir, const PackOptions& options = {},
      std::vector<Diagnostic>* diagnostics = nullptr);

  // As Load(), from files in memory (tests, fuzzers). `files` need not be sorted.
  static absl::StatusOr<std::shared_ptr<const CompiledPack>> LoadFromFiles(
      std::vector<PackFile> files, const PackOptions& options = {},
      std::vector<Diagnostic>* diagnostics = nullptr);

  const PackInfo& info() const { return info_; }
  const PackStats& stats() const { return stats_; }

  // What loads but is almost surely a mistake (`steppewatch rules check` prints these, and
  // `--strict` fails on them): a term that looks like a misspelt field scope (`titel:Rogun`),
  // an unknown language code in lang:, a one-letter prefix, a set no rule uses, an enabled
  // rule without tests. Empty for a pack that came from the compiled-pack cache (it was
  // checked when it was first loaded).
  const std::vector<Diagnostic>& warnings() const { return warnings_; }

  // Every rule of the pack, enabled or not, in file order. A rule's index here is its stable
  // number within this pack (metrics helpers: label per-rule counters with rules()[i].id).
  const std::vector<Rule>& rules() const { return rules_; }
  // Returns the index of rule `id`, or -1.
  int FindRule(std::string_view id) const;

  // Distinct destination topics of the enabled rules, sorted.
  const std::vector<std::string>& topics() const { return topics_; }

  // The matcher of every term; null only when loaded with compile_matcher = false.
  const std::shared_ptr<const match::Matcher>& matcher() const { return matcher_; }
  size_t term_count() const { return term_specs_.size(); }
  const match::TermSpec& term(match::TermId id) const { return term_specs_[id]; }
  // Returns the term as an analyst wrote it ("Kazakh*", "/qazaq(stan)/"): for alerts.
  std::string_view term_display(match::TermId id) const { return term_display_[id]; }

  // The programs and trigger index the Evaluator runs (derived from rules() at load).
  const EvalPlan& eval_plan() const { return plan_; }

  // Returns the enabled rules that mention term `id` outside NOT: every rule that can fire
  // when the term hits (the Evaluator considers a subset: EvalPlan::TriggersOf).
  absl::Span<const uint32_t> RulesOfTerm(match::TermId id) const {
    return absl::MakeConstSpan(index_rules_)
        .subspan(index_begin_[id], index_begin_[id + 1] - index_begin_[id]);
  }

 private:
  friend class PackBuilder;
  friend class PackCache;
  CompiledPack() = default;
  // Builds plan_ from rules_ and the term index (after a YAML load and after a cache load).
  void BuildEvalPlan();

  PackInfo info_;
  PackStats stats_;
  std::vector<Diagnostic> warnings_;
  std::vector<Rule> rules_;
  absl::flat_hash_map<std::string, int> rule_by_id_;
  std::vector<std::string> topics_;
  std::shared_ptr<const match::Matcher> matcher_;
  std::vector<match::TermSpec> term_specs_;
  std::vector<std::string> term_display_;
  std::vector<uint32_t> index_begin_;  // term_count + 1 offsets into index_rules_
  std::vector<uint32_t> index_rules_;
  EvalPlan plan_;
};

// Returns "sha256:<hex>" of `files` (sorted by path): SHA-256 over, per file, the path, a NUL,
// the content length in decimal, a NUL and the content.
std::string PackHash(std::vector<PackFile> files);

}  // namespace steppewatch::rules
