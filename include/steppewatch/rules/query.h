// The rule query language: its syntax tree and the recursive-descent parser that builds it.
// The grammar and the meaning of every operator are specified in config/rules/README.md; this
// header is the parser's contract for the pack loader (pack.h), the tests and the fuzzer.
//
// Parsing is pure: no term is resolved here. `@set` stays a name; the loader expands it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/match/matcher.h"

namespace steppewatch::rules {

// Limits of one query. Each bounds the work or the stack of a hostile or mistaken rule.
struct QueryLimits {
  // Nesting depth of the tree: the evaluator recurses, so depth is stack; real queries nest < 10.
  int max_depth = 64;
  // Bytes of query text: a long query is a term list that belongs in a set.
  size_t max_query_bytes = 64 * 1024;
  // NEAR/n: beyond a few hundred words "near" means "in the same article", which AND says.
  uint32_t max_near_distance = 1000;
  // AT_LEAST(n, ...): the hit cap per item (MatcherOptions) is 10000, far above any useful n.
  uint32_t max_at_least = 1000;
  // Bytes of one term: longer literals are almost certainly a paste error.
  size_t max_term_bytes = 1024;
};

// Bit mask of item fields (1 << decode::Field): where the hits of a term count.
using FieldMask = uint8_t;
inline constexpr FieldMask kTitleMask = 1;
inline constexpr FieldMask kBodyMask = 2;
inline constexpr FieldMask kAllFields = kTitleMask | kBodyMask;

// One node of a parsed query. Owned by its parent; the root is owned by the caller.
struct QueryNode {
  enum class Kind : uint8_t {
    kTerm,             // text/term_kind: a word, phrase, prefix* or /regex/
    kSet,              // text: the set name of `@name`
    kAnd,              // children: 2 or more
    kOr,               // children: 2 or more
    kNot,              // children: 1
    kNear,             // children: 2; distance, ordered (ONEAR)
    kField,            // children: 1; fields (title: or body:)
    kLang,             // values: language codes, any of which
    kSource,           // values: globs over the item's source, any of which
    kAtLeast,          // children: 1; count
    kAtLeastDistinct,  // children: 1; count
  };
  Kind kind = Kind::kTerm;
  // Byte offset of the node's first token in the query text (for error messages).
  uint32_t offset = 0;
  std::string text;
  match::TermSpec::Kind term_kind = match::TermSpec::Kind::kLiteral;
  std::string display;  // kTerm: the term as written, when it differs from `text` (see below)
  std::vector<std::string> values;
  uint32_t distance = 0;
  bool ordered = false;
  FieldMask fields = kAllFields;
  uint32_t count = 0;
  std::vector<std::unique_ptr<QueryNode>> children;
};

// A syntax error: the byte offset of the offending token in the query and a reason.
struct QueryError {
  uint32_t offset = 0;
  std::string message;
};

// The outcome of ParseQuery: a tree, or the first syntax error (the parser does not recover:
// after a syntax error the rest of the query has no reliable meaning).
struct ParsedQuery {
  std::unique_ptr<QueryNode> root;
  QueryError error;
  bool ok() const { return root != nullptr; }
};

// Parses `query`. Never throws; a syntax error is reported in the result.
ParsedQuery ParseQuery(std::string_view query, const QueryLimits& limits = {});

// Parses a term string as written in a set or in a query token: `/re/` is a regex, a trailing
// `*` makes a prefix, surrounding double quotes are removed. A phrase whose inner words end in
// `*` ("внешн* политик*") becomes a regex (each starred word matches any word it begins), and
// `*display` (if not null) receives the term as written for alerts. Returns false with `*error`
// set for an empty term, an empty regex, a lone `*` or a `*` inside a word.
bool ParseTermString(std::string_view raw, std::string* text, match::TermSpec::Kind* kind,
                     std::string* error, std::string* display = nullptr);

// Returns the tree as a canonical one-line string (used by explain, by tests and to detect
// `x AND NOT x`).
std::string QueryToString(const QueryNode& node);

// Returns the 1-based column (in code points) of byte `offset` in `text`.
int ColumnOf(std::string_view text, uint32_t offset);

}  // namespace steppewatch::rules
