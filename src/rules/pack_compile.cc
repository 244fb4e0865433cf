// Compiling a pack's definitions: sets expanded into matcher terms, each rule's query into a
// program, lint warnings, the matcher (see pack_builder.h).
#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "rules/pack_builder.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/log.h"
#include "steppewatch/normalise/utf8.h"

namespace steppewatch::rules {

using log::Cat;

using match::TermId;
using match::TermSpec;

namespace {

// ISO 639-1 language codes: what news feeds put in an item's "lang" (with a region subtag at
// most, which lang: ignores).
constexpr std::string_view kIso639_1 =
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv "
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr "
    "ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw "
    "ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv "
    "ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr "
    "ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi "
    "yo za zh zu";

bool KnownLanguage(std::string_view code) {
  std::string_view primary = code.substr(0, code.find_first_of("-_"));
  if (primary.size() != 2) return false;
  for (size_t i = 0; i + 2 <= kIso639_1.size(); i += 3) {
    if (kIso639_1.substr(i, 2) == primary) return true;
  }
  return false;
}

// The field scopes of the query language, for "did you mean" on `titel:x`.
const std::vector<std::string>& FieldScopes() {
  static const auto* scopes = new std::vector<std::string>{"title", "body", "lang", "source"};
  return *scopes;
}

// Returns Hyperscan's compile error for one term in an analyst's words: without the
// `term 0 "..."` prefix (the caller names the term) and without Hyperscan's flag names.
std::string ExplainHyperscanError(std::string_view message) {
  if (size_t q = message.find("\": "); message.starts_with("term ") && q != std::string::npos) {
    message.remove_prefix(q + 3);
  }
  struct Known {
    std::string_view hyperscan;
    std::string_view analyst;
  };
  static constexpr Known kKnown[] = {
      {"Pattern matches empty buffer",
       "the regex can match an empty text (as a* or x{0,3} can): make at least one character "
       "required, e.g. a+ instead of a*"},
      {"Zero-width assertions are not supported",
       "look-ahead and look-behind ((?=...), (?<=...)) are not supported: whole words are "
       "checked for you, so drop the assertion or write the words out"},
      {"Bounded repeat is too large",
       "a repeat count such as {100000} is too large for the matcher: use a smaller bound"},
      {"Embedded start anchors not supported", "^ may stand only at the start of the regex"},
      {"Embedded end anchors not supported", "$ may stand only at the end of the regex"},
      {"Invalid back reference", "back references (\\1) are not supported"},
      {"Pattern is too large", "the regex is too large for the matcher: split it into terms"},
  };
  for (const Known& k : kKnown) {
    if (message.starts_with(k.hyperscan)) return std::string(k.analyst);
  }
  std::string out(message);
  // "at index 3" counts bytes from 0; analysts count characters from 1 (ASCII regexes).
  if (size_t at = out.find(" at index "); at != std::string::npos) {
    size_t digits = at + 10;
    size_t end = digits;
    while (end < out.size() && out[end] >= '0' && out[end] <= '9') ++end;
    if (end > digits) {
      out = Cat(out.substr(0, at), " at character ",
                std::stoul(out.substr(digits, end - digits)) + 1, out.substr(end));
    }
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z')
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  return out;
}

}  // namespace

TermId PackBuilder::Intern(const TermEntry& e, std::string_view owner) {
  // Identical specs share one matcher term; case-insensitive ones compare ASCII-folded so that
  // "Astana" in one set and "astana" in a query are one pattern.
  std::string key =
      Cat(static_cast<int>(e.kind), e.case_sensitive ? "C" : "c", e.whole_word ? "W" : "w", ":");
  if (e.case_sensitive || e.kind == TermSpec::Kind::kRegex) {
    key.append(Cat(e.text));
  } else {
    key.append(Cat(absl::AsciiStrToLower(e.text)));
  }
  auto [it, inserted] = term_ids_.try_emplace(key, static_cast<TermId>(pack_->term_specs_.size()));
  if (inserted) {
    TermSpec spec;
    spec.text = e.text;
    spec.kind = e.kind;
    spec.case_sensitive = e.case_sensitive;
    spec.whole_word = e.whole_word;
    pack_->term_specs_.push_back(std::move(spec));
    pack_->term_display_.push_back(!e.display.empty()                  ? e.display
                                   : e.kind == TermSpec::Kind::kRegex  ? Cat("/", e.text, "/")
                                   : e.kind == TermSpec::Kind::kPrefix ? Cat(e.text, "*")
                                                                       : e.text);
    term_origin_.emplace_back(e.pos, std::string(owner));
    if (e.kind == TermSpec::Kind::kPrefix &&
        normalise::DecodeAt(e.text, 0).length == e.text.size()) {
      Warn(e.pos,
           Cat("term '", e.text, "*' of ", owner,
               " is a one-letter prefix: it matches every word that starts with '", e.text, "'"));
    }
  }
  return it->second;
}

void PackBuilder::ExpandSet(int index) {
  SetDef& set = sets_[index];
  if (set.state == 2) return;
  set.state = 1;
  std::vector<Expanded> out;
  for (const TermEntry& e : set.entries) {
    out.push_back({Intern(e, Cat("set '", set.name, "'")), e.weight.value_or(set.weight),
                   e.weight.has_value(), index});
  }
  for (const auto& [name, pos] : set.includes) {
    auto it = set_index_.find(name);
    if (it == set_index_.end()) {
      Error(pos, Cat("set '", set.name, "' includes undefined set '", name, "'",
                     DidYouMean(name, SetNames())));
      continue;
    }
    SetDef& inc = sets_[it->second];
    if (inc.state == 1) {
      Error(pos, Cat("include cycle: set '", set.name, "' includes '", name, "', which includes '",
                     set.name,
                     "' again (directly or through "
                     "other sets)"));
      continue;
    }
    ExpandSet(it->second);
    // `set` may have moved? No: sets_ is not resized during expansion.
    out.insert(out.end(), inc.expanded.begin(), inc.expanded.end());
  }
  set.expanded = std::move(out);
  if (set.expanded.empty()) {
    Error(set.pos, Cat("set '", set.name, "' has no terms"));
  }
  set.state = 2;
}

uint32_t PackBuilder::CompileNode(RuleDef& def, const QueryNode& q, FieldMask mask, bool negated,
                                  absl::flat_hash_map<TermId, float>* weights, bool* ok) {
  Rule& rule = def.rule;
  using QK = QueryNode::Kind;
  using PK = ProgramNode::Kind;
  if (q.kind == QK::kField) {
    FieldMask inner = mask & q.fields;
    if (inner == 0) {
      Error(QueryPos(def, q.offset),
            Cat("rule '", rule.id,
                "': a field scope inside a different field scope can never "
                "match (title: within body:)"));
      *ok = false;
      inner = q.fields;
    }
    return CompileNode(def, *q.children[0], inner, negated, weights, ok);
  }
  uint32_t index = static_cast<uint32_t>(rule.program.size());
  rule.program.emplace_back();
  ProgramNode node;
  node.fields = mask;
  std::string label = QueryToString(q);
  if (label.size() > 80) label = Cat(label.substr(0, 77), "...");
  node.label = std::move(label);
  auto add_weight = [&](TermId id, float w) {
    if (negated) return;
    auto [it, inserted] = weights->try_emplace(id, w);
    if (!inserted) it->second = std::max(it->second, w);
  };
  std::vector<uint32_t> children;
  switch (q.kind) {
    case QK::kTerm: {
      node.kind = PK::kTerms;
      TermEntry e;
      e.text = q.text;
      e.kind = q.term_kind;
      e.display = q.display;
      e.case_sensitive = default_case_sensitive_;
      e.whole_word = default_whole_word_;
      e.pos = QueryPos(def, q.offset);
      if (q.term_kind == TermSpec::Kind::kLiteral) {
        // `titel:Rogun` lexes as one word: a misspelt field scope becomes a term that never hits.
        const std::string_view word = q.text;
        const size_t colon = word.find(':');
        if (colon != std::string_view::npos && colon > 0 && colon + 1 < word.size() &&
            std::all_of(word.begin(), word.begin() + colon,
                        [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) {
          const std::string scope(word.substr(0, colon));
          std::optional<std::string> close = ClosestName(scope, FieldScopes());
          Warn(e.pos, Cat("rule '", rule.id, "': '", word, "' is searched as one term: '", scope,
                          "' is not a field scope (title, body, lang, source)",
                          close ? Cat("; did you mean '", *close, ":'?") : std::string()));
        }
      }
      TermId id = Intern(e, Cat("rule '", rule.id, "'"));
      node.terms_begin = static_cast<uint32_t>(rule.terms.size());
      rule.terms.push_back(id);
      node.terms_end = static_cast<uint32_t>(rule.terms.size());
      add_weight(id, 1);
      break;
    }
    case QK::kSet: {
      node.kind = PK::kTerms;
      node.terms_begin = node.terms_end = static_cast<uint32_t>(rule.terms.size());
      auto it = set_index_.find(q.text);
      if (it == set_index_.end()) {
        Error(QueryPos(def, q.offset), Cat("undefined set '@", q.text, "' in rule '", rule.id, "'",
                                           DidYouMean(q.text, SetNames())));
        *ok = false;
        break;
      }
      set_used_[it->second] = true;
      const SetDef& set = sets_[it->second];
      std::vector<TermId> ids;
      for (const Expanded& x : set.expanded) {
        ids.push_back(x.id);
        float w = x.weight;
        if (!x.explicit_weight) {
          for (const auto& [name, wp] : def.weights) {
            if (name == sets_[x.owner].name) {
              w = wp.first;
              break;
            }
            if (name == set.name) w = wp.first;
          }
        }
        add_weight(x.id, w);
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      rule.terms.insert(rule.terms.end(), ids.begin(), ids.end());
      node.terms_end = static_cast<uint32_t>(rule.terms.size());
      if (rule.terms.size() > options_.max_terms_per_rule) {
        Error(QueryPos(def, q.offset), Cat("rule '", rule.id, "' expands to more than ",
                                           options_.max_terms_per_rule, " terms"));
        *ok = false;
      }
      break;
    }
    case QK::kLang:
    case QK::kSource:
      node.kind = q.kind == QK::kLang ? PK::kLang : PK::kSource;
      if (q.kind == QK::kLang) {
        for (const std::string& code : q.values) {
          if (!KnownLanguage(code)) {
            Warn(QueryPos(def, q.offset),
                 Cat("rule '", rule.id, "': lang:", code,
                     " is not an ISO 639-1 language code (two letters, as en, ru, kk, zh; a "
                     "region such as ru-RU may follow): no item will match it"));
          }
        }
      }
      node.values_begin = static_cast<uint32_t>(rule.values.size());
      rule.values.insert(rule.values.end(), q.values.begin(), q.values.end());
      node.values_end = static_cast<uint32_t>(rule.values.size());
      break;
    default:
      node.kind = q.kind == QK::kAnd       ? PK::kAnd
                  : q.kind == QK::kOr      ? PK::kOr
                  : q.kind == QK::kNot     ? PK::kNot
                  : q.kind == QK::kNear    ? PK::kNear
                  : q.kind == QK::kAtLeast ? PK::kAtLeast
                                           : PK::kAtLeastDistinct;
      node.distance = q.distance;
      node.ordered = q.ordered;
      node.count = q.count;
      if (q.kind == QK::kAnd) node.label = "AND";
      if (q.kind == QK::kOr) node.label = "OR";
      if (q.kind == QK::kNot) node.label = "NOT";
      if (q.kind == QK::kNear) node.label = Cat(q.ordered ? "ONEAR/" : "NEAR/", q.distance);
      if (q.kind == QK::kAtLeast) node.label = Cat("AT_LEAST(", q.count, ")");
      if (q.kind == QK::kAtLeastDistinct) {
        node.label = Cat("AT_LEAST_DISTINCT(", q.count, ")");
      }
      for (const auto& c : q.children) {
        children.push_back(
            CompileNode(def, *c, mask, negated != (q.kind == QK::kNot), weights, ok));
      }
  }
  node.children_begin = static_cast<uint32_t>(rule.child_index.size());
  rule.child_index.insert(rule.child_index.end(), children.begin(), children.end());
  node.children_end = static_cast<uint32_t>(rule.child_index.size());
  rule.program[index] = std::move(node);
  return index;
}

// Returns why the rule can never fire, or "" when it might. Checks the contradictions people
// write by mistake: `x AND NOT x` (also through sets: `@a AND NOT @b` when every term of a is in
// b), a field scope that excludes itself, AT_LEAST_DISTINCT over fewer terms than it asks.
std::string PackBuilder::Unreachable(const Rule& rule, const QueryNode& root) const {
  std::vector<std::string> never(rule.program.size());
  using PK = ProgramNode::Kind;
  // Programs are built in preorder: children have larger indexes, so walk backwards.
  for (size_t k = rule.program.size(); k-- > 0;) {
    const ProgramNode& n = rule.program[k];
    auto child = [&](uint32_t i) { return rule.child_index[i]; };
    switch (n.kind) {
      case PK::kTerms:
        if (n.terms_begin == n.terms_end) never[k] = "an empty set";
        break;
      case PK::kAnd:
      case PK::kNear:
        for (uint32_t i = n.children_begin; i < n.children_end && never[k].empty(); ++i) {
          never[k] = never[child(i)];
        }
        if (!never[k].empty() || n.kind != PK::kAnd) break;
        for (uint32_t i = n.children_begin; i < n.children_end && never[k].empty(); ++i) {
          const ProgramNode& p = rule.program[child(i)];
          if (p.kind != PK::kTerms || p.terms_begin == p.terms_end) continue;
          for (uint32_t j = n.children_begin; j < n.children_end; ++j) {
            const ProgramNode& neg = rule.program[child(j)];
            if (neg.kind != PK::kNot) continue;
            const ProgramNode& x = rule.program[rule.child_index[neg.children_begin]];
            if (x.kind != PK::kTerms || (p.fields & ~x.fields) != 0) continue;
            if (std::includes(rule.terms.begin() + x.terms_begin, rule.terms.begin() + x.terms_end,
                              rule.terms.begin() + p.terms_begin,
                              rule.terms.begin() + p.terms_end)) {
              never[k] = Cat(p.label, " AND NOT ", x.label,
                             " is a contradiction: every term of the first is in the second");
              break;
            }
          }
        }
        break;
      case PK::kOr: {
        std::string all;
        for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
          if (never[child(i)].empty()) {
            all.clear();
            break;
          }
          all = never[child(i)];
        }
        never[k] = all;
        break;
      }
      case PK::kAtLeast:
        never[k] = never[child(n.children_begin)];
        break;
      case PK::kAtLeastDistinct: {
        never[k] = never[child(n.children_begin)];
        if (!never[k].empty()) break;
        std::vector<uint32_t> stack = {child(n.children_begin)};
        absl::flat_hash_set<TermId> distinct;
        while (!stack.empty()) {
          const ProgramNode& x = rule.program[stack.back()];
          stack.pop_back();
          if (x.kind == PK::kNot) continue;
          for (uint32_t t = x.terms_begin; t < x.terms_end; ++t) distinct.insert(rule.terms[t]);
          for (uint32_t i = x.children_begin; i < x.children_end; ++i) stack.push_back(child(i));
        }
        if (distinct.size() < n.count) {
          never[k] = Cat(n.label, " asks for ", n.count,
                         " distinct terms of an "
                         "expression that has only ",
                         distinct.size());
        }
        break;
      }
      default:
        break;
    }
  }
  (void)root;
  return never[0];
}

// Whether an expression can be true / false when no term hit (metadata filters free).
struct ZeroHit {
  bool can_true;
  bool can_false;
};
static ZeroHit ZeroHits(const Rule& rule, uint32_t k) {
  const ProgramNode& n = rule.program[k];
  using PK = ProgramNode::Kind;
  switch (n.kind) {
    case PK::kLang:
    case PK::kSource:
      return {true, true};
    case PK::kNot: {
      ZeroHit c = ZeroHits(rule, rule.child_index[n.children_begin]);
      return {c.can_false, c.can_true};
    }
    case PK::kAnd:
    case PK::kOr: {
      bool is_and = n.kind == PK::kAnd;
      ZeroHit r = is_and ? ZeroHit{true, false} : ZeroHit{false, true};
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        ZeroHit c = ZeroHits(rule, rule.child_index[i]);
        if (is_and) {
          r.can_true &= c.can_true;
          r.can_false |= c.can_false;
        } else {
          r.can_true |= c.can_true;
          r.can_false &= c.can_false;
        }
      }
      return r;
    }
    default:  // terms, NEAR, AT_LEAST need hits
      return {false, true};
  }
}

void PackBuilder::CompileRule(RuleDef& def) {
  Rule& rule = def.rule;
  for (const auto& [name, wp] : def.weights) {
    if (auto it = set_index_.find(name); it != set_index_.end()) set_used_[it->second] = true;
    if (!set_index_.contains(name)) {
      Error(wp.second,
            Cat("score.weights names undefined set '", name, "'", DidYouMean(name, SetNames())));
    }
  }
  absl::flat_hash_map<TermId, float> weights;
  if (rule.query.empty()) {
    // Score-only rule: it scores the sets named in score.weights.
    if (!rule.has_threshold || rule.threshold <= 0) {
      Error(def.score_pos, Cat("rule '", rule.id,
                               "' has no query, so it needs "
                               "score.threshold > 0 to decide when it fires"));
    }
    if (def.weights.empty()) {
      Error(def.score_pos, Cat("rule '", rule.id,
                               "' has no query: name the sets to "
                               "score in score.weights"));
    }
    for (const auto& [name, wp] : def.weights) {
      auto it = set_index_.find(name);
      if (it == set_index_.end()) continue;
      for (const Expanded& x : sets_[it->second].expanded) {
        float w = x.explicit_weight ? x.weight : wp.first;
        auto [w_it, inserted] = weights.try_emplace(x.id, w);
        if (!inserted) w_it->second = std::max(w_it->second, w);
      }
    }
  } else {
    ParsedQuery parsed = ParseQuery(rule.query, options_.limits);
    if (!parsed.ok()) {
      Error(QueryPos(def, parsed.error.offset),
            Cat("rule '", rule.id, "': query: ", parsed.error.message, " (query column ",
                ColumnOf(rule.query, parsed.error.offset), ")"));
      return;
    }
    for (const auto& [name, wp] : def.weights) {
      if (set_index_.contains(name) && rule.query.find(Cat("@", name)) == std::string::npos) {
        Error(wp.second, Cat("score.weights names set '", name, "', which the query of rule '",
                             rule.id, "' does not use"));
      }
    }
    bool ok = true;
    CompileNode(def, *parsed.root, kAllFields, false, &weights, &ok);
    if (!ok) return;
    if (ZeroHits(rule, 0).can_true) {
      Error(def.query_pos, Cat("rule '", rule.id,
                               "' could fire on items where no term hit (its query "
                               "is decided by NOT or lang:/source: alone): add a term that must be "
                               "present, e.g. '@topic AND NOT x'"));
      return;
    }
    std::string never = Unreachable(rule, *parsed.root);
    if (!never.empty()) {
      Error(def.query_pos, Cat("rule '", rule.id, "' can never fire: ", never));
      return;
    }
  }
  rule.weights.assign(weights.begin(), weights.end());
  std::sort(rule.weights.begin(), rule.weights.end());
}

void PackBuilder::WarnUnusedSets() {
  // A used set's includes are used too, transitively.
  std::vector<int> stack;
  for (int i = 0; i < static_cast<int>(sets_.size()); ++i) {
    if (set_used_[i]) stack.push_back(i);
  }
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    for (const auto& [name, pos] : sets_[i].includes) {
      auto it = set_index_.find(name);
      if (it == set_index_.end() || set_used_[it->second]) continue;
      set_used_[it->second] = true;
      stack.push_back(it->second);
    }
  }
  for (size_t i = 0; i < sets_.size(); ++i) {
    if (!set_used_[i]) {
      Warn(sets_[i].pos, Cat("set '", sets_[i].name,
                             "' is not used by any rule (no query, score.weights or used set "
                             "names it)"));
    }
  }
}

void PackBuilder::CompileMatcher() {
  auto start = std::chrono::steady_clock::now();
  auto matcher = match::Matcher::Create(pack_->term_specs_, options_.matcher);
  if (matcher.ok()) {
    pack_->matcher_ = *std::move(matcher);
    pack_->stats_.matcher = pack_->matcher_->stats();
    if (pack_->stats_.matcher.compile_seconds == 0) {
      pack_->stats_.matcher.compile_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return;
  }
  // Find the terms Hyperscan rejects by compiling them alone (only on this error path), so the
  // message points at the set or rule that introduced each one.
  size_t found = 0;
  for (TermId id = 0; id < pack_->term_specs_.size(); ++id) {
    const TermSpec& spec = pack_->term_specs_[id];
    // Literals compile alone only on small packs: a literal is rarely the culprit, and each
    // Create() costs a database build.
    if (spec.kind != TermSpec::Kind::kRegex && pack_->term_specs_.size() > 2000) continue;
    auto one = match::Matcher::Create({spec}, match::MatcherOptions());
    if (one.ok()) continue;
    ++found;
    const auto& [pos, owner] = term_origin_[id];
    Error(pos, Cat("term '", pack_->term_display_[id], "' of ", owner, " cannot be compiled: ",
                   ExplainHyperscanError(std::string(one.status().message()))));
  }
  if (found == 0) {
    Error(Pos{},
          Cat("compiling the pack's terms failed: ", std::string(matcher.status().message())));
  }
}

}  // namespace steppewatch::rules
