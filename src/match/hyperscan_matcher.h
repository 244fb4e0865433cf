// HyperscanMatcher: the Matcher of match/matcher.h (private to the match stage), shared by its
// two halves: building the databases from the terms (hyperscan_matcher.cc) and scanning an item
// with them (hyperscan_scan.cc, HyperscanMatchContext).
//
// Thread-safe after Build(): immutable, shared by every MatchContext; each context clones the
// prototype scratch.
#pragma once

#include <hs/hs.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "match/database_cache.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/utf8.h"

namespace steppewatch::match::internal {

// The four databases, by what they scan.
enum DbIndex : size_t {
  kFoldedLiterals = 0,    // case-insensitive literals and prefixes, over folded text
  kFoldedRegexes = 1,     // case-insensitive regexes, over folded text
  kOriginalLiterals = 2,  // case-sensitive literals, over the original text
  kOriginalRegexes = 3,   // case-sensitive regexes, over the original (validated) text
};

constexpr bool ScansFolded(size_t db) { return db == kFoldedLiterals || db == kFoldedRegexes; }
constexpr bool IsRegexDb(size_t db) { return db == kFoldedRegexes || db == kOriginalRegexes; }

// One term behind a pattern, with the word checks it needs.
struct Target {
  TermId term;
  bool check_start;
  bool check_end;
  // A literal expanded from a simple regex: its hit's start is reported as the regex's would
  // be (the start of the word run that ends at the match's end).
  bool regex_start = false;
  // A case-sensitive literal matched through its folded form: 1 + index of the exact text the
  // original must hold at the hit (HyperscanMatcher::exact_text); 0 for case-insensitive terms.
  uint32_t exact = 0;
  // The first chunk of a word phrase: 1 + index of the WordPhrase (HyperscanMatcher::phrase)
  // whose other chunks the callback checks after the pattern's match; 0 for other patterns.
  uint32_t phrase = 0;
};

// A phrase of word prefixes as the rule language compiles it: "внешн* политик*" becomes the
// regex `внешн[^\s!-/:-@\[-`{-~]* политик[^\s!-/:-@\[-`{-~]*` (kWordRest: the rest of the word,
// anything but white space and ASCII punctuation). Such a regex is literal chunks, each but the
// first after a rest, and perhaps a final rest. It needed the folded regex database and its
// Hyperscan scan of every field (8% of the default pack's instructions and 13% of its L1 data
// misses per item, for 16 phrases); instead its first chunk is a pattern of the folded literal
// database, and the callback checks the rest at the match. A rest cannot hold white space or
// ASCII punctuation, and every later chunk starts with one (or the phrase is left to Hyperscan),
// so the regex can match in one way only from a given start: the callback walks it and reports
// each end Hyperscan would (every code point boundary of a final rest). A run of anything but a
// space, `[^ ]+` (one or more; the pack's hand-written `/биыл [^ ]+ жыл/`), is a rest as well.
enum RestKind : uint8_t {
  kRestOfWord = 0,  // kWordRest, zero or more characters
  kRestNonSpace,    // kNonSpaceRest, one or more characters
};
struct WordPhrase {
  std::vector<std::string> chunks;  // folded; chunks[0] is the pattern in the database
  // rests[i] comes before chunks[i + 1]; with final_rest, rests.back() ends the regex.
  std::vector<RestKind> rests;
  bool final_rest = false;  // the regex ends with a rest
  Target target;            // what a hit of the whole phrase emits (checks as a regex)
};

// The regex text of a rest of a word in a word phrase (rules/query_text.cc writes it), and of a
// run of anything but a space.
inline constexpr std::string_view kWordRest = "[^\\s!-/:-@\\[-`{-~]*";
inline constexpr std::string_view kNonSpaceRest = "[^ ]+";

// One Hyperscan pattern: its expression and the terms that share it (used while building).
struct Pattern {
  std::string expression;
  uint32_t length = 0;       // bytes, for literals (start = end - length)
  bool regex_start = false;  // Target::regex_start of its (one) target
  std::vector<Target> targets;
};

// The Hyperscan database cache's key (HyperscanMatcher::Build): the terms and options the
// patterns come from, whether the word lookup took patterns out, and exactly what is compiled:
// each database's pattern count and a hash of its expressions, flags and ids.
std::string DatabaseCacheKey(const std::vector<TermSpec>& terms, const MatcherOptions& options,
                             bool word_lookup,
                             const std::array<std::vector<Pattern>, kDatabaseCount>& patterns,
                             const std::array<unsigned, kDatabaseCount>& id_shift);

// What the match callback needs of a pattern, packed: at 100k patterns the callback's cache
// misses on fat Pattern objects were 20% of the scan (perf). Its targets are
// targets[first, first + count).

struct PatternInfo {
  uint32_t length;
  uint32_t first;
  uint32_t count;
  bool regex_start;  // a spelling of a simple regex (Target::regex_start)
  // Whether some target of the pattern does not check its start, its end, or either: a match
  // next to a letter is rejected from these alone, without reading the targets (cold with a
  // large pack, where short names often match inside longer words).
  bool free_start = false;
  bool free_end = false;
  bool free_both = false;
};

// The ids Hyperscan reports for the folded literal database say enough for the callback to
// reject a match inside a longer word, and for most patterns to emit the hit, without reading
// the PatternInfo and the Target: with tens of thousands of literals those are cache misses per
// reported match (~80% of the callback's CPU time in a profile with a 100k-rule watch list).
// The low kIdHintBits are a hint: bits 0-4 the literal's length in bytes when below 32 (0:
// longer, read the PatternInfo), bit 5 PatternInfo::free_start, bit 6 free_end, bit 7
// free_both. Above them, two forms told apart by bit 31:
// - direct (kDirectId set), for a pattern with one target that is a case-insensitive literal
//   (no exact text, not a regex's spelling) shorter than 32 bytes whose term id is at most
//   kMaxDirectTerm: kDirectId | term << kIdHintBits | hint. The Target is these bits (its word
//   checks are the negated free bits); nothing is read.
// - indexed: index << kIdHintBits | hint.
// Other databases, and a folded literal database of kMaxHintedPatterns patterns or more, report
// the plain index.
inline constexpr unsigned kIdHintBits = 8;
inline constexpr uint32_t kHintLengthMask = 31;
inline constexpr unsigned kHintFreeShift = 5;
inline constexpr uint32_t kHintFreeStart = 1, kHintFreeEnd = 2, kHintFreeBoth = 4;
inline constexpr size_t kMaxHintedPatterns = size_t{1} << (31 - kIdHintBits);
inline constexpr uint32_t kDirectId = 1u << 31;
inline constexpr uint32_t kMaxDirectTerm = (1u << (31 - kIdHintBits)) - 1;

// Returns the PatternInfo free_* flags as a hint's free bits (kHintFreeStart...).
inline uint32_t FreeBits(const PatternInfo& p) {
  return (p.free_start ? kHintFreeStart : 0) | (p.free_end ? kHintFreeEnd : 0) |
         (p.free_both ? kHintFreeBoth : 0);
}

// ASCII letters and digits: a neighbour that is one of these rejects a whole-word hit without
// decoding (folding never turns a non-letter into an ASCII letter, so this holds on folded text).
constexpr std::array<bool, 256> MakeAsciiAlnum() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return t;
}
inline constexpr std::array<bool, 256> kAsciiAlnum = MakeAsciiAlnum();

// Bytes of folded text a word phrase's rest (kWordRest) continues over: every byte of a
// multi-byte character, and ASCII other than white space (the joined fields' '\n' included) and
// punctuation.
constexpr std::array<bool, 256> MakeWordRestBytes() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool space = c == ' ' || (c >= '\t' && c <= '\r');
    const bool punct = (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
                       (c >= '{' && c <= '~');
    t[c] = c >= 0x80 || !(space || punct);
  }
  return t;
}
inline constexpr std::array<bool, 256> kWordRestBytes = MakeWordRestBytes();

// Bytes of folded text a kNonSpaceRest continues over: all but the space and the joined fields'
// '\n' (folded text holds no other white space).
constexpr std::array<bool, 256> MakeNonSpaceBytes() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c != ' ' && c != '\n';
  return t;
}
inline constexpr std::array<bool, 256> kNonSpaceBytes = MakeNonSpaceBytes();

inline const std::array<bool, 256>& RestBytes(RestKind kind) {
  return kind == kRestOfWord ? kWordRestBytes : kNonSpaceBytes;
}

// Returns true when a word boundary check applies at an edge whose character is `cp`.
inline bool NeedsBoundary(char32_t cp) {
  return normalise::IsWordChar(cp) && !normalise::IsCjk(cp);
}

// The folded literal database's patterns that start with a word, when it has many
// (MatcherOptions::word_lookup_min_literals): patterns whose first character needs a boundary
// (NeedsBoundary) and whose every target checks its start (no phrase or regex spelling); one
// that is a word alone also needs every target to check its end. Such a pattern passes its
// start check only where a maximal run of such characters in the folded text starts and is its
// first word: folding maps a character to one character, and a character whose fold needs a
// boundary needs one itself (checked for every code point by the tests), so an original
// neighbour that passes a check folds to one that ends the run. The scan looks every maximal run
// up here and compares the rests of the patterns that start with it, instead of Hyperscan
// finding the literal (whose cost grows with the literal count), and still makes the word checks
// (and exact-text checks) on the original text.
class WordTable {
 public:
  // Each word of the table is one record in records(), in 8-byte units, so that a word found in
  // the text costs the read of its slot and of its record (one cache line for most words), not
  // a chain of cold reads (slot, entry, key, tail, targets: each a miss with tens of thousands
  // of words):
  //   [0]                  length (bytes) | tails << 32
  //   [1, 1 + key words)   the folded word, zero-padded to whole units
  //   then per tail (a pattern that starts with the word, in the patterns' order):
  //   [0]                  rest length (bytes) | targets << 32
  //   [1]                  the rest's first min(8, rest length) bytes, little-endian, zero-padded
  //   [2, 2 + rest words)  the rest from its 9th byte on, zero-padded (none up to 8 bytes)
  //   then the tail's targets, a Target in two units each.
  // A record of up to 8 units does not cross a 64-byte line (records() is 64-byte aligned).
  static constexpr uint32_t kNone = UINT32_MAX;

  // Builds the table from the patterns (their expressions and targets).
  void Build(const std::vector<Pattern>& words);

  bool empty() const { return words_ == 0; }
  size_t size() const { return words_; }
  uint32_t min_length() const { return min_length_; }
  uint32_t max_length() const { return max_length_; }
  const uint64_t* records() const { return records_.get(); }
  // The targets at unit `offset` of records() (a tail's, see above).
  const Target* targets_at(uint32_t offset) const {
    return reinterpret_cast<const Target*>(records_.get() + offset);
  }

  // Returns the hash of `n` bytes at `p` the table is keyed by. `readable` (>= n) bytes from `p`
  // may be read: with 8 past the last whole word of 8 bytes, the tail is one load and a mask
  // (a memcpy of a variable length was a third of the lookup's instructions).
  __attribute__((always_inline)) static uint64_t Hash(const char* p, size_t n, size_t readable) {
    uint64_t h = 0x9E3779B97F4A7C15ull * (n + 1);
    while (n >= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      h = (h ^ v) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
      p += 8;
      n -= 8;
      readable -= 8;
    }
    if (n > 0) {
      h = (h ^ LoadTail(p, n, readable)) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
    }
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
  }

  // Whether the filter (kFilterLog2 bits, 8 KiB: stays in L1) lets hash `h` pass; it rejects
  // most of a text's words before the slots (cold with tens of thousands of words) are read.
  __attribute__((always_inline)) bool MayHold(uint64_t h) const {
    const uint64_t bit = h >> (64 - kFilterLog2);
    return (filter_[bit >> 6] >> (bit & 63) & 1) != 0;
  }
  // The slot a probe for hash `h` starts at, and its address (to prefetch).
  uint64_t FirstSlot(uint64_t h) const { return h & mask_; }
  const uint64_t* slot_address(uint64_t i) const { return &slots_[i]; }
  // From slot *i on (open addressing, linear probing): the record offset of the next slot whose
  // tag is `h`'s, with *i at that slot; kNone at the first empty slot. The caller compares the
  // word (KeyEquals) and, when it differs, goes on from *i + 1 (NextSlot).
  __attribute__((always_inline)) uint32_t Probe(uint64_t h, uint64_t* i) const {
    const uint32_t tag = static_cast<uint32_t>(h >> 32) | 1;  // 0 marks an empty slot
    for (;; *i = (*i + 1) & mask_) {
      const uint64_t slot = slots_[*i];
      const uint32_t slot_tag = static_cast<uint32_t>(slot >> 32);
      if (slot_tag == 0) return kNone;
      if (slot_tag == tag) return static_cast<uint32_t>(slot);
    }
  }
  uint64_t NextSlot(uint64_t i) const { return (i + 1) & mask_; }
  // Whether the record at `record` is the word of `n` bytes at `p` (`readable` as for Hash).
  __attribute__((always_inline)) bool KeyEquals(uint32_t record, const char* p, size_t n,
                                                size_t readable) const {
    const uint64_t* r = records_.get() + record;
    if (static_cast<uint32_t>(r[0]) != n) return false;
    ++r;
    while (n >= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      if (v != *r) return false;
      ++r;
      p += 8;
      n -= 8;
      readable -= 8;
    }
    return n == 0 || LoadTail(p, n, readable) == *r;
  }

  // The first `n` (1 to 7) bytes at `p`, little-endian, zero-extended; `readable` (>= n) bytes
  // from `p` may be read.
  __attribute__((always_inline)) static uint64_t LoadTail(const char* p, size_t n,
                                                          size_t readable) {
    uint64_t v = 0;
    if (readable >= 8) {
      std::memcpy(&v, p, 8);
      v &= ~uint64_t{0} >> (64 - 8 * n);  // little-endian: the first n bytes
    } else {
      std::memcpy(&v, p, n);
    }
    return v;
  }

 private:
  struct FreeAligned {
    void operator()(uint64_t* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  static constexpr unsigned kFilterLog2 = 16;
  std::vector<uint64_t> filter_;  // 1 << kFilterLog2 bits
  std::vector<uint64_t> slots_;   // tag << 32 | record offset; tag 0: empty
  uint64_t mask_ = 0;
  std::unique_ptr<uint64_t[], FreeAligned> records_;
  size_t words_ = 0;
  uint32_t min_length_ = UINT32_MAX;
  uint32_t max_length_ = 0;
};

// Returns the length in bytes of the run of characters that need a boundary (NeedsBoundary) at
// the start of `text` (folded).
size_t FirstWordLength(std::string_view text);

// A whole-field length test written as a regex: `^[\s\S]{m,n}$` (also `[\S\s]`, `.`, `{m}`,
// `{m,}`), "the field has m..n characters". Packs use it to select short items. Hyperscan runs it
// as a bounded-repeat NFA over up to n characters of every field (UTF-8 mode): with n = 400 it
// was 12% of all instructions of the default pack's item path (callgrind, benchmarks/README.md),
// so the matcher counts the folded field's code points instead. On folded text `.` equals
// `[\s\S]` (white space, '\n' included, folds to ' '), and `$` has no final newline to skip.
struct LengthRange {
  uint32_t min_chars;
  uint32_t max_chars;  // UINT32_MAX: no upper bound
};

class HyperscanMatcher final : public Matcher {
 public:
  HyperscanMatcher(std::vector<TermSpec> terms, const MatcherOptions& options)
      : terms_(std::move(terms)), options_(options) {}

  ~HyperscanMatcher() override {
    hs_free_scratch(scratch_);
    for (hs_database_t* db : dbs_) hs_free_database(db);
  }

  size_t term_count() const override { return terms_.size(); }
  const TermSpec& term(TermId id) const override { return terms_[id]; }
  const MatcherStats& stats() const override { return stats_; }

  absl::Status Build();

  const DatabaseSet& dbs() const { return dbs_; }
  const std::vector<PatternInfo>& infos(size_t db) const { return infos_[db]; }
  // The shift from a reported id to the pattern's index (kIdHintBits or 0), and the mask of
  // its hint (0xFF or 0), per database.
  unsigned id_shift(size_t db) const { return id_shift_[db]; }
  uint32_t hint_mask(size_t db) const { return id_shift_[db] == 0 ? 0 : (1u << id_shift_[db]) - 1; }
  // kDirectId when the database's ids can be direct, else 0.
  uint32_t direct_bit(size_t db) const { return id_shift_[db] == 0 ? 0 : kDirectId; }
  const std::vector<Target>& targets(size_t db) const { return targets_[db]; }
  const hs_scratch_t* scratch() const { return scratch_; }
  // Case-insensitive whole-field length regexes (ParseLengthIdiom), checked without Hyperscan.
  struct LengthTerm {
    LengthRange range;
    Target target;
  };
  const std::vector<LengthTerm>& length_terms() const { return length_terms_; }
  const std::string& exact_text(uint32_t exact) const { return exact_texts_[exact - 1]; }
  const WordPhrase& phrase(uint32_t phrase) const { return phrases_[phrase - 1]; }
  const MatcherOptions& options() const { return options_; }
  const WordTable& words() const { return words_; }
  const std::vector<TermSpec>& terms() const { return terms_; }
  // With a word lookup: the same terms on the Hyperscan-only path, for the items whose scan
  // stops at max_hits (which hits such a scan keeps depends on the order of matches that end at
  // the same byte, and Hyperscan's order among them is its own). Else nullptr.
  const std::shared_ptr<const HyperscanMatcher>& full() const { return full_; }
  void set_full(std::shared_ptr<const HyperscanMatcher> full) {
    stats_.database_bytes += full->stats().database_bytes;
    stats_.from_cache = stats_.from_cache && full->stats().from_cache;
    stats_.compile_seconds += full->stats().compile_seconds;
    full_ = std::move(full);
  }

 private:
  absl::Status GroupPatterns();
  absl::Status Compile(size_t db, const hs_platform_info_t& platform);
  // Moves the whole-word patterns of the folded literal database into words_ when it has
  // options_.word_lookup_min_literals patterns or more. Returns true when it moved any.
  bool SplitWords();

  std::vector<TermSpec> terms_;
  MatcherOptions options_;
  MatcherStats stats_;
  std::array<std::vector<Pattern>, kDatabaseCount> patterns_;  // freed after Build()
  std::array<std::vector<PatternInfo>, kDatabaseCount> infos_;
  std::array<unsigned, kDatabaseCount> id_shift_{};
  std::array<std::vector<Target>, kDatabaseCount> targets_;
  std::vector<LengthTerm> length_terms_;
  std::vector<std::string> exact_texts_;          // of case-sensitive literals, see Target::exact
  std::vector<WordPhrase> phrases_;               // see Target::phrase
  WordTable words_;                               // see WordTable
  std::shared_ptr<const HyperscanMatcher> full_;  // see full()
  DatabaseSet dbs_{};
  hs_scratch_t* scratch_ = nullptr;  // prototype, cloned per MatchContext
};

}  // namespace steppewatch::match::internal
