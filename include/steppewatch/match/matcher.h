// The match stage: a set of terms compiled into Hyperscan databases (Matcher, immutable and
// shared) and the per-thread state that scans one item's fields for them (MatchContext).
// Contract shared by the rules stage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace steppewatch::match {

// One term to find. Terms are matched case-insensitively (Unicode simple case folding) and as
// whole words unless told otherwise; terms made of CJK characters match without word checks.
struct TermSpec {
  enum class Kind : uint8_t {
    kLiteral,  // a word or phrase, matched literally after folding ("Xi Jinping", "Astana")
    kPrefix,   // a word start: "Kazakh" as kPrefix matches "Kazakhstan", "Kazakhs"
    kRegex,    // a Hyperscan regular expression, matched against the folded text unless
               // case_sensitive
  };
  std::string text;
  Kind kind = Kind::kLiteral;
  bool case_sensitive = false;
  bool whole_word = true;
};

using TermId = uint32_t;  // index of the term in the vector given to Matcher::Create

// One occurrence of a term: byte offsets [start, end) into the ORIGINAL (unfolded) field text.
// Literal and prefix hits are exact (for a prefix, [start, end) covers the prefix, not the whole
// word). Regex hits have an exact `end`; `start` is exact only with
// MatcherOptions::regex_start_offsets, otherwise it is the start of the word run (letters and
// digits) that ends at `end`, or `end` itself when the match ends on a non-word character.
struct Hit {
  TermId term;
  uint8_t field;  // index into the fields given to MatchContext::Scan
  uint32_t start;
  uint32_t end;
};

struct MatcherOptions {
  // Directory for the compiled-database cache; empty disables the cache.
  std::string cache_dir;
  // Hits kept per item; past this the scan stops and MatchContext::truncated() is true. Bounds
  // the work of a hostile item (a body of a million matching words).
  uint32_t max_hits_per_item = 10000;
  // Ask Hyperscan for exact regex start offsets (HS_FLAG_SOM_LEFTMOST). Off by default: SOM
  // costs 3-6x in regex scan speed (Hyperscan 5.4.0, measured here) and NEAR needs only the
  // word of a hit.
  // Literals never need it (start = end - length).
  bool regex_start_offsets = false;
  // When the folded literal database would hold at least this many patterns, the patterns that
  // start with a word and whose every term checks its start (a word alone: also its end; see
  // "A large pack" below) are found by looking each word of the folded text up in a hash table
  // instead (Hyperscan's cost grows with its literal count, a lookup's does not). UINT32_MAX:
  // never. Tests set it to force either path; the hits are the same.
  uint32_t word_lookup_min_literals = 8192;
};

struct MatcherStats {
  size_t literal_terms = 0;
  size_t regex_terms = 0;
  // Of the regex terms: phrases of word prefixes matched through the literal database.
  size_t word_phrase_terms = 0;
  // Patterns of the folded literal database found by the word lookup instead of Hyperscan
  // (MatcherOptions::word_lookup_min_literals).
  size_t word_lookup_patterns = 0;
  size_t database_bytes = 0;
  double compile_seconds = 0;
  bool from_cache = false;
};

// The compiled databases. Thread-safe; immutable after Create(); share it with
// std::shared_ptr and give each thread its own MatchContext.
//
// How terms are matched (implementation: src/match/hyperscan_matcher.cc):
//   - Case-insensitive literals and prefixes are folded with normalise::Fold (the same fold as
//     the text: Unicode case, Turkish i, ё, typographic apostrophes/dashes/spaces, space runs),
//     trimmed, and compiled with hs_compile_lit_multi. Every field is folded, and the folded
//     fields, joined by '\n' (which folded text never holds), are scanned once per item.
//   - Case-sensitive literals are in the same database as their folded form; a hit counts only
//     when the original text holds the term byte for byte there (folding maps characters one to
//     one and a white-space run to one space, so this finds exactly the original's occurrences).
//   - Case-insensitive regexes of plain and optional characters (`c5 ?\+ ?1`, at most 16
//     spellings; ASCII except k, s, i, basic Cyrillic, escaped punctuation) are compiled as the
//     literals of their spellings into the same database, with the hit a regex would give (start
//     of the word run that ends at the end, end checked when it ends on a letter or digit).
//     Not with regex_start_offsets.
//   - Case-insensitive phrases of word prefixes, as the rule language compiles "внешн* политик*"
//     (literal chunks and rests of words `[^\s!-/:-@\[-`{-~]*` or runs `[^ ]+`, each later chunk
//     starting with a character a rest cannot hold; characters as above, plus the Cyrillic letters
//     whose case pair is one upper and one lower letter): the first chunk is a literal of the same
//     database, and the callback walks the rest of the phrase from it, reporting every end the
//     regex would (internal::WordPhrase). Not with regex_start_offsets.
//   - Other regexes: hs_compile_multi with HS_FLAG_UTF8|HS_FLAG_CASELESS over each folded field
//     (so a regex sees ' for ’, - for dashes, one space for white-space runs); case-sensitive
//     regexes with HS_FLAG_UTF8 over the original text (the field is validated first).
//   - Whole words: checked on the original text at each edge of the term whose edge character
//     is a non-CJK letter or digit: the neighbouring character must not be a non-CJK letter or
//     digit. So "Kazakhstan" matches in "Kazakhstan's" and "Nur-Sultan", not in
//     "Kazakhstani"; a CJK term (or CJK edge) needs no boundary. A prefix checks its start only.
//     A regex checks its end (and its start with regex_start_offsets).
//   - Several terms with the same folded text share one Hyperscan pattern.
//   - A large pack (word_lookup_min_literals folded literal patterns or more; the default pack
//     has far fewer): its patterns that start with a word (a non-CJK letter, digit or mark)
//     and all of whose terms check their start (a word alone: also their end) leave the
//     database; every maximal run of such characters in the joined folded text is looked up in
//     a hash table of first words instead (internal::WordTable), the rest of each pattern
//     compared after it, with the same checks on the original text and the same hits. A scan
//     that stops at max_hits_per_item is redone without the lookup, so it keeps the same hits.
//   - A case-insensitive regex that is exactly a whole-field length test, `^[\s\S]{m,n}$` (also
//     `[\S\s]`, `.`, `{m}`, `{m,}`; m >= 1), is not compiled: the folded field's code points are
//     counted instead, with the hit Hyperscan would report (end = end of the field). In
//     Hyperscan's UTF-8 mode it was a bounded-repeat NFA costing 12% of the default pack's item
//     path.
class Matcher {
 public:
  // Compiles `terms`. Errors name the term (index and text) and Hyperscan's reason; empty and
  // whitespace-only terms are rejected.
  static absl::StatusOr<std::shared_ptr<const Matcher>> Create(std::vector<TermSpec> terms,
                                                               const MatcherOptions& options);
  virtual ~Matcher() = default;
  virtual size_t term_count() const = 0;
  virtual const TermSpec& term(TermId id) const = 0;
  virtual const MatcherStats& stats() const = 0;
};

// Per-thread scan state: Hyperscan scratch and fold buffers. One per worker thread per Matcher;
// not thread-safe. Allocates only in Create() and when a field is longer than any seen before.
class MatchContext {
 public:
  static absl::StatusOr<std::unique_ptr<MatchContext>> Create(
      std::shared_ptr<const Matcher> matcher);
  virtual ~MatchContext() = default;

  // Finds every term in `fields` (valid UTF-8). Clears `*hits`, then appends hits sorted by
  // (field, start, end). An error (Hyperscan scan failure) is a per-item error: the caller
  // dead-letters the item.
  virtual absl::Status Scan(absl::Span<const std::string_view> fields, std::vector<Hit>* hits) = 0;

  // Returns true when the last Scan stopped at max_hits_per_item.
  virtual bool truncated() const = 0;

  // Returns the folded text (normalise::Fold) of field `field` of the last Scan, valid until the
  // next Scan: what the stories fingerprint is computed from, without folding twice. Every field
  // is folded before the first scan, so this holds for truncated scans too. Empty when the field
  // was empty, or when the matcher has only case-sensitive regexes and so folds nothing.
  virtual std::string_view folded(size_t field) const = 0;
};

}  // namespace steppewatch::match
