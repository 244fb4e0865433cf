// HyperscanMatcher and HyperscanMatchContext: the implementation of match/matcher.h. The design
// follows what Hyperscan 5.4.0 does well and badly (UTF-8 caseless patterns compile slowly and
// scan 2x slower, \b and lookarounds fail on Cyrillic): fold the text ourselves so almost every
// term is a plain literal for hs_compile_lit_multi, check word boundaries in the callback on the
// UTF-8 text, keep regexes in their own database, share one immutable database set and give
// every MatchContext its own scratch.
#include <emmintrin.h>  // SSE2: part of the x86-64 baseline
#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "match/database_cache.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/normalise/utf8.h"

namespace steppewatch::match {
namespace {

using internal::DatabaseSet;
using internal::kDatabaseCount;

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
};

// One Hyperscan pattern: its expression and the terms that share it (used while building).
struct Pattern {
  std::string expression;
  uint32_t length = 0;       // bytes, for literals (start = end - length)
  bool regex_start = false;  // Target::regex_start of its (one) target
  std::vector<Target> targets;
};

// What the match callback needs of a pattern, packed: at 100k patterns the callback's cache
// misses on fat Pattern objects were 20% of the scan (perf). Its targets are
// targets[first, first + count).
struct PatternInfo {
  uint32_t length;
  uint32_t first;
  uint32_t count;
  bool regex_start;  // a spelling of a simple regex (Target::regex_start)
};

// ASCII letters and digits: a neighbour that is one of these rejects a whole-word hit without
// decoding (folding never turns a non-letter into an ASCII letter, so this holds on folded text).
constexpr std::array<bool, 256> MakeAsciiAlnum() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return t;
}
constexpr std::array<bool, 256> kAsciiAlnum = MakeAsciiAlnum();

// Returns true when a word boundary check applies at an edge whose character is `cp`.
bool NeedsBoundary(char32_t cp) { return normalise::IsWordChar(cp) && !normalise::IsCjk(cp); }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && normalise::IsSpace(normalise::DecodeAt(s, 0).cp)) {
    s.remove_prefix(normalise::DecodeAt(s, 0).length);
  }
  while (!s.empty() && normalise::IsSpace(normalise::DecodeBefore(s, s.size()).cp)) {
    s.remove_suffix(normalise::DecodeBefore(s, s.size()).length);
  }
  return s;
}

std::string Quote(std::string_view text) {
  // Error messages quote the term as written; cap it so a huge regex does not flood a log line.
  constexpr size_t kMaxQuoted = 200;
  if (text.size() <= kMaxQuoted) return absl::StrCat("\"", std::string(text), "\"");
  return absl::StrCat("\"", std::string(text.substr(0, kMaxQuoted)), "...\"");
}

std::string TermName(TermId id, const TermSpec& term) {
  return absl::StrCat("term ", id, " ", Quote(term.text));
}

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

// Returns the range when `regex` is exactly the idiom with 1 <= m <= n (anything else, m = 0
// included, is left to Hyperscan and its own errors).
std::optional<LengthRange> ParseLengthIdiom(std::string_view regex) {
  std::string_view s = regex;
  if (s.size() < 5 || s.front() != '^' || s.back() != '$') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  bool any_char = false;
  for (std::string_view atom : {"[\\s\\S]", "[\\S\\s]", "."}) {
    if (s.substr(0, atom.size()) == atom) {
      s.remove_prefix(atom.size());
      any_char = true;
      break;
    }
  }
  if (!any_char) return std::nullopt;
  if (s.size() < 3 || s.front() != '{' || s.back() != '}') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  // At most 9 digits per bound: no overflow, and far beyond any item size limit.
  auto number = [&s](uint32_t* out) {
    size_t n = 0;
    uint32_t v = 0;
    while (n < s.size() && n < 10 && s[n] >= '0' && s[n] <= '9') v = v * 10 + (s[n++] - '0');
    if (n == 0 || n > 9) return false;
    s.remove_prefix(n);
    *out = v;
    return true;
  };
  LengthRange range{};
  if (!number(&range.min_chars)) return std::nullopt;
  if (s.empty()) {
    range.max_chars = range.min_chars;
  } else {
    if (s.front() != ',') return std::nullopt;
    s.remove_prefix(1);
    range.max_chars = UINT32_MAX;
    if (!s.empty() && !number(&range.max_chars)) return std::nullopt;
    if (!s.empty()) return std::nullopt;
  }
  if (range.min_chars == 0 || range.max_chars < range.min_chars) return std::nullopt;
  return range;
}

// Returns true when valid UTF-8 `text` has between range.min_chars and range.max_chars code
// points; stops counting past the maximum.
bool CharCountInRange(std::string_view text, LengthRange range) {
  // A code point is 1 to 4 bytes, so the byte count alone often decides (a short title, a long
  // body) without counting: counting was ~40% of this check's cost on the corpus (callgrind).
  const uint64_t bytes = text.size();
  if (bytes < range.min_chars || bytes > uint64_t{4} * range.max_chars) return false;
  if (bytes <= range.max_chars && bytes >= uint64_t{4} * range.min_chars) return true;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  uint64_t chars = 0;
  size_t i = 0;
  // A byte starts a code point unless it is a continuation byte 10xxxxxx (-128..-65 as int8).
  const __m128i last_continuation = _mm_set1_epi8(static_cast<char>(0xBF));
  for (; i + 16 <= n && chars <= range.max_chars; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    chars += static_cast<uint64_t>(__builtin_popcount(
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpgt_epi8(v, last_continuation)))));
  }
  for (; i < n && chars <= range.max_chars; ++i) chars += (s[i] & 0xC0) != 0x80;
  return chars >= range.min_chars && chars <= range.max_chars;
}

// Returns the code point `cp` as it stands in folded text when a case-insensitive regex atom
// `cp` matches exactly the folded characters equal to it, or 0 when that is not certain: ASCII
// digits, punctuation and space, ASCII letters except the ones Unicode case folding relates to
// other characters (k: KELVIN SIGN, s: LONG S, i: Turkish dotted and dotless i), and the basic
// Cyrillic alphabet.
char32_t SimpleFoldedAtom(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
  if (cp >= 0x0410 && cp <= 0x042F) cp += 0x20;
  if (cp == 'k' || cp == 's' || cp == 'i') return 0;
  if (cp >= 0x20 && cp < 0x7F) return cp;
  if (cp >= 0x0430 && cp <= 0x044F) return cp;
  return 0;
}

// Returns the literals a case-insensitive regex made only of plain characters and optional
// ones (`c5 ?\+ ?1`) matches, or nothing when the regex is anything else or has more than 16
// spellings. Matched over folded text, those literals find exactly the regex's matches: the
// regex database and its scan per field are then not needed.
std::optional<std::vector<std::string>> ExpandSimpleRegex(std::string_view regex) {
  constexpr size_t kMaxSpellings = 16;
  std::vector<std::string> out = {""};
  size_t i = 0;
  while (i < regex.size()) {
    char32_t cp;
    const unsigned char c = static_cast<unsigned char>(regex[i]);
    if (c == '\\') {
      if (i + 1 >= regex.size()) return std::nullopt;
      const unsigned char e = static_cast<unsigned char>(regex[i + 1]);
      // Only an escaped ASCII punctuation character is a plain character.
      if (e >= 0x80 || kAsciiAlnum[e] || e <= 0x20) return std::nullopt;
      cp = e;
      i += 2;
    } else if (std::string_view("^$.|?*+()[]{}").find(static_cast<char>(c)) !=
               std::string_view::npos) {
      return std::nullopt;
    } else {
      const normalise::CodePoint d = normalise::DecodeAt(regex, i);
      if (d.length == 0) return std::nullopt;
      cp = d.cp;
      i += d.length;
    }
    const char32_t folded = SimpleFoldedAtom(cp);
    if (folded == 0) return std::nullopt;
    std::string atom;
    if (folded < 0x80) {
      atom.push_back(static_cast<char>(folded));
    } else {  // U+0430..U+044F: two bytes
      atom.push_back(static_cast<char>(0xC0 | (folded >> 6)));
      atom.push_back(static_cast<char>(0x80 | (folded & 0x3F)));
    }
    const bool optional = i < regex.size() && regex[i] == '?';
    if (optional) {
      ++i;
      // `x??` (lazy) and `x?+` are not this idiom.
      if (i < regex.size() && (regex[i] == '?' || regex[i] == '+')) return std::nullopt;
    }
    const size_t n = out.size();
    if (optional) {
      if (2 * n > kMaxSpellings) return std::nullopt;
      for (size_t k = 0; k < n; ++k) out.push_back(out[k]);
    }
    for (size_t k = 0; k < n; ++k) out[k] += atom;
  }
  for (const std::string& spelling : out) {
    // Folded text has no space runs and no space at a field's edges; a spelling that needs them
    // (or is empty) would behave unlike the regex.
    if (spelling.empty() || spelling.front() == ' ' || spelling.back() == ' ' ||
        spelling.find("  ") != std::string::npos || normalise::FoldToString(spelling) != spelling) {
      return std::nullopt;
    }
  }
  return out;
}

// Appends the canonical serialization of everything that decides the compiled databases: the
// cache key. Length-prefixed, so no two term lists serialize alike.
void AppendKey(const std::vector<TermSpec>& terms, const MatcherOptions& options,
               std::string* key) {
  // Bump when the fold, the pattern grouping or the flags change: old cache files then miss.
  // v2: whole-field length regexes are no longer compiled.
  // v3: case-sensitive literals and simple regexes join the folded literal database.
  key->append("steppewatch-match-v3;");
  key->append(normalise::FoldToString("Unicode fold sentinel: İ’—ё"));
  key->push_back(options.regex_start_offsets ? 'S' : 's');
  for (const TermSpec& t : terms) {
    const uint64_t n = t.text.size();
    key->append(reinterpret_cast<const char*>(&n), sizeof(n));
    key->append(t.text);
    key->push_back(static_cast<char>('0' + static_cast<int>(t.kind)));
    key->push_back(t.case_sensitive ? 'C' : 'c');
    key->push_back(t.whole_word ? 'W' : 'w');
  }
}

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
  const std::vector<Target>& targets(size_t db) const { return targets_[db]; }
  const hs_scratch_t* scratch() const { return scratch_; }
  // Case-insensitive whole-field length regexes (ParseLengthIdiom), checked without Hyperscan.
  struct LengthTerm {
    LengthRange range;
    Target target;
  };
  const std::vector<LengthTerm>& length_terms() const { return length_terms_; }
  const std::string& exact_text(uint32_t exact) const { return exact_texts_[exact - 1]; }
  const MatcherOptions& options() const { return options_; }

 private:
  absl::Status GroupPatterns();
  absl::Status Compile(size_t db, const hs_platform_info_t& platform);

  std::vector<TermSpec> terms_;
  MatcherOptions options_;
  MatcherStats stats_;
  std::array<std::vector<Pattern>, kDatabaseCount> patterns_;  // freed after Build()
  std::array<std::vector<PatternInfo>, kDatabaseCount> infos_;
  std::array<std::vector<Target>, kDatabaseCount> targets_;
  std::vector<LengthTerm> length_terms_;
  std::vector<std::string> exact_texts_;  // of case-sensitive literals, see Target::exact
  DatabaseSet dbs_{};
  hs_scratch_t* scratch_ = nullptr;  // prototype, cloned per MatchContext
};

absl::Status HyperscanMatcher::GroupPatterns() {
  std::array<absl::flat_hash_map<std::string, uint32_t>, kDatabaseCount> index;
  for (TermId id = 0; id < terms_.size(); ++id) {
    const TermSpec& t = terms_[id];
    size_t db;
    std::string expression;
    Target target{id, false, false};
    if (t.kind == TermSpec::Kind::kRegex) {
      db = t.case_sensitive ? kOriginalRegexes : kFoldedRegexes;
      if (TrimSpaces(t.text).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(TermName(id, t), ": empty or whitespace-only regex"));
      }
      expression = t.text;
      // The start is known only with SOM; the end is checked when the match ends on a letter.
      target.check_start = t.whole_word && options_.regex_start_offsets;
      target.check_end = t.whole_word;
      ++stats_.regex_terms;
      if (db == kFoldedRegexes) {
        if (const std::optional<LengthRange> range = ParseLengthIdiom(t.text)) {
          length_terms_.push_back(LengthTerm{*range, target});
          continue;
        }
        std::optional<std::vector<std::string>> spellings;
        if (!options_.regex_start_offsets) spellings = ExpandSimpleRegex(t.text);
        if (spellings) {
          // Each spelling is its own pattern (not shared, as regexes are not): the hit's start
          // is the regex's, and the end is checked when the spelling ends on a letter or digit.
          for (std::string& spelling : *spellings) {
            Target spelled{id, false, false, true, 0};
            spelled.check_end =
                t.whole_word &&
                NeedsBoundary(normalise::DecodeBefore(spelling, spelling.size()).cp);
            Pattern p;
            p.expression = std::move(spelling);
            p.length = static_cast<uint32_t>(p.expression.size());
            p.regex_start = true;
            p.targets.push_back(spelled);
            patterns_[kFoldedLiterals].push_back(std::move(p));
          }
          continue;
        }
      }
    } else {
      db = t.case_sensitive ? kOriginalLiterals : kFoldedLiterals;
      std::string_view text = t.text;
      // The rule syntax marks a prefix with a trailing '*'; accept the term with or without it.
      if (t.kind == TermSpec::Kind::kPrefix && !text.empty() && text.back() == '*') {
        text.remove_suffix(1);
      }
      expression = t.case_sensitive ? std::string(TrimSpaces(text))
                                    : std::string(TrimSpaces(normalise::FoldToString(text)));
      if (expression.empty()) {
        // Empty literals crash hs_compile_lit_multi in Hyperscan 5.4.0 (fixed in 5.4.1).
        return absl::InvalidArgumentError(
            absl::StrCat(TermName(id, t), ": empty or whitespace-only term"));
      }
      target.check_start = t.whole_word && NeedsBoundary(normalise::DecodeAt(expression, 0).cp);
      target.check_end = t.whole_word && t.kind == TermSpec::Kind::kLiteral &&
                         NeedsBoundary(normalise::DecodeBefore(expression, expression.size()).cp);
      if (t.case_sensitive) {
        // Found through its folded form in the one folded scan, then compared byte for byte with
        // the original at the hit. Folding maps characters one to one (and a white-space run to
        // one space), so every occurrence of the exact text in the original is an occurrence of
        // its fold in the folded text, and the comparison rejects the other spellings.
        std::string folded = std::string(TrimSpaces(normalise::FoldToString(expression)));
        if (!folded.empty()) {
          exact_texts_.push_back(std::move(expression));
          target.exact = static_cast<uint32_t>(exact_texts_.size());
          expression = std::move(folded);
          db = kFoldedLiterals;
        }
      }
      ++stats_.literal_terms;
    }
    // Regexes are not shared: their whole-word checks differ by how the match ends.
    auto [it, inserted] = index[db].try_emplace(expression, patterns_[db].size());
    if (inserted || IsRegexDb(db)) {
      if (!inserted) it->second = patterns_[db].size();
      Pattern p;
      p.expression = std::move(expression);
      p.length = static_cast<uint32_t>(p.expression.size());
      patterns_[db].push_back(std::move(p));
    }
    patterns_[db][it->second].targets.push_back(target);
  }
  return absl::OkStatus();
}

absl::Status HyperscanMatcher::Compile(size_t db, const hs_platform_info_t& platform) {
  const std::vector<Pattern>& patterns = patterns_[db];
  if (patterns.empty()) return absl::OkStatus();
  std::vector<const char*> expressions;
  std::vector<size_t> lengths;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (size_t i = 0; i < patterns.size(); ++i) {
    expressions.push_back(patterns[i].expression.c_str());
    lengths.push_back(patterns[i].expression.size());
    unsigned f = 0;
    if (IsRegexDb(db)) {
      f = HS_FLAG_UTF8;
      if (db == kFoldedRegexes) f |= HS_FLAG_CASELESS;
      if (options_.regex_start_offsets) f |= HS_FLAG_SOM_LEFTMOST;
    }
    flags.push_back(f);
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* error = nullptr;
  const unsigned count = static_cast<unsigned>(patterns.size());
  const hs_error_t err =
      IsRegexDb(db)
          ? hs_compile_multi(expressions.data(), flags.data(), ids.data(), count, HS_MODE_BLOCK,
                             &platform, &dbs_[db], &error)
          : hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                                 count, HS_MODE_BLOCK, &platform, &dbs_[db], &error);
  if (err == HS_SUCCESS) return absl::OkStatus();
  std::string message = absl::StrCat("Hyperscan compile error ", err);
  if (error != nullptr) {
    if (error->expression >= 0 && static_cast<size_t>(error->expression) < patterns.size()) {
      const TermId id = patterns[error->expression].targets.front().term;
      message = absl::StrCat(TermName(id, terms_[id]), ": ", error->message);
    } else {
      message = absl::StrCat("Hyperscan: ", error->message);
    }
    hs_free_compile_error(error);
  }
  return absl::InvalidArgumentError(message);
}

absl::Status HyperscanMatcher::Build() {
  const auto started = std::chrono::steady_clock::now();
  SW_RETURN_IF_ERROR(GroupPatterns());
  auto env = internal::CurrentEnvironment();
  if (!env.ok()) return env.status();
  std::string key;
  const bool use_cache = !options_.cache_dir.empty();
  if (use_cache) {
    AppendKey(terms_, options_, &key);
    auto loaded = internal::LoadDatabases(options_.cache_dir, key, *env);
    if (loaded.ok()) {
      // Trust but verify: the cached set must have a database exactly where terms need one.
      bool consistent = true;
      for (size_t db = 0; db < kDatabaseCount; ++db) {
        consistent &= ((*loaded)[db] != nullptr) == !patterns_[db].empty();
      }
      if (consistent) {
        dbs_ = *loaded;
        stats_.from_cache = true;
      } else {
        for (hs_database_t* db : *loaded) hs_free_database(db);
      }
    }
  }
  if (!stats_.from_cache) {
    for (size_t db = 0; db < kDatabaseCount; ++db) SW_RETURN_IF_ERROR(Compile(db, env->platform));
  }
  for (hs_database_t* db : dbs_) {
    if (db == nullptr) continue;
    size_t size = 0;
    if (hs_database_size(db, &size) == HS_SUCCESS) stats_.database_bytes += size;
    // One scratch sized for every database, so one clone per context serves all four scans.
    if (hs_alloc_scratch(db, &scratch_) != HS_SUCCESS) {
      return absl::ResourceExhaustedError("hs_alloc_scratch failed");
    }
  }
  if (use_cache && !stats_.from_cache) {
    // A cache that cannot be written costs the next start a compile; it must not fail this one.
    (void)internal::StoreDatabases(options_.cache_dir, key, *env, dbs_);
  }
  for (size_t db = 0; db < kDatabaseCount; ++db) {
    for (Pattern& p : patterns_[db]) {
      infos_[db].push_back(PatternInfo{p.length, static_cast<uint32_t>(targets_[db].size()),
                                       static_cast<uint32_t>(p.targets.size()), p.regex_start});
      targets_[db].insert(targets_[db].end(), p.targets.begin(), p.targets.end());
    }
    std::vector<Pattern>().swap(patterns_[db]);  // the expressions are compiled in by now
  }
  stats_.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return absl::OkStatus();
}

// Per-scan state the Hyperscan callback sees.
struct ScanState {
  const PatternInfo* infos;
  const Target* targets;
  std::string_view scanned;             // the text Hyperscan scans (folded or original)
  const normalise::FoldedText* folded;  // nullptr when the database scans the original text
  std::string_view original;
  bool regex;
  bool exact_start;  // regex database compiled with SOM
  uint8_t field;
  uint32_t max_hits;
  std::vector<Hit>* hits;
  bool truncated;
  const HyperscanMatcher* matcher;
  // The folded literal database scans every field's folded text at once, joined by '\n' (which
  // folded text never holds: white space folds to ' '): field f is
  // joined[segment_starts[f], segment_starts[f] + folded f size).
  std::string_view joined;
  const uint32_t* segment_starts = nullptr;
  uint32_t segments = 0;
  const std::string_view* fields = nullptr;
  const std::unique_ptr<normalise::FoldedText>* folded_fields = nullptr;
};

// Returns the start of the run of non-CJK word characters that ends at `end`, or `end`.
uint32_t WordRunStart(std::string_view text, uint32_t end) {
  uint32_t start = end;
  while (start > 0) {
    const normalise::CodePoint c = normalise::DecodeBefore(text, start);
    if (!NeedsBoundary(c.cp)) break;
    start -= c.length;
  }
  return start;
}

// Appends a hit [start, end) (original offsets) for each of the targets [first, last) whose word
// checks pass. Returns 1 (stop the scan) when the item reached max_hits.
int EmitHits(ScanState* s, const Target* first, const Target* last, uint32_t start, uint32_t end) {
  for (const Target* t = first; t != last; ++t) {
    if (t->exact != 0) {
      // A case-sensitive literal found through its fold: the original must hold it exactly.
      const std::string& exact = s->matcher->exact_text(t->exact);
      if (end - start != exact.size() ||
          std::memcmp(s->original.data() + start, exact.data(), exact.size()) != 0) {
        continue;
      }
    }
    if (t->check_start && !normalise::IsBoundaryBefore(s->original, start)) continue;
    if (t->check_end) {
      // For regexes the pattern's last character is unknown: check when the match ends on a
      // non-CJK letter or digit (as a literal ending in one would).
      const bool applies = !s->regex || NeedsBoundary(normalise::DecodeBefore(s->original, end).cp);
      if (applies && !normalise::IsBoundaryAfter(s->original, end)) continue;
    }
    if (s->hits->size() >= s->max_hits) {
      s->truncated = true;
      return 1;  // stop the scan: HS_SCAN_TERMINATED
    }
    s->hits->push_back(Hit{t->term, s->field, start, end});
  }
  return 0;
}

// The hits of the whole-field length terms on one field, as Hyperscan would report them: one
// match ending at the end of the folded field (start 0 with SOM, else the word run's start).
void EmitLengthHits(ScanState* s, const std::vector<HyperscanMatcher::LengthTerm>& terms) {
  const uint32_t folded_end = static_cast<uint32_t>(s->scanned.size());
  for (const HyperscanMatcher::LengthTerm& term : terms) {
    if (s->truncated) return;
    if (!CharCountInRange(s->scanned, term.range)) continue;
    const uint32_t end = s->folded->ToOriginal(folded_end);
    const uint32_t start =
        s->exact_start ? s->folded->ToOriginal(0) : WordRunStart(s->original, end);
    EmitHits(s, &term.target, &term.target + 1, start, end);
  }
}

int OnMatch(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
            void* context) {
  auto* s = static_cast<ScanState*>(context);
  const PatternInfo& p = s->infos[id];
  const Target* const first = s->targets + p.first;
  const Target* const last = first + p.count;
  const auto* scanned = reinterpret_cast<const uint8_t*>(s->scanned.data());
  uint32_t start;
  uint32_t end;
  if (s->regex) {
    end = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(to)) : static_cast<uint32_t>(to);
    if (s->exact_start) {
      start = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(from))
                        : static_cast<uint32_t>(from);
    } else {
      start = WordRunStart(s->original, end);
    }
  } else {
    const uint32_t fstart = static_cast<uint32_t>(to) - p.length;
    // Most rejected candidates are a term inside a longer word ("port" in "report"): reject
    // them on the scanned bytes before mapping offsets or decoding.
    const bool letter_before = fstart > 0 && kAsciiAlnum[scanned[fstart - 1]];
    const bool letter_after = to < s->scanned.size() && kAsciiAlnum[scanned[to]];
    if (letter_before || letter_after) {
      bool any = false;
      for (const Target* t = first; t != last; ++t) {
        any |= !(t->check_start && letter_before) && !(t->check_end && letter_after);
      }
      if (!any) return 0;
    }
    start = s->folded ? s->folded->ToOriginal(fstart) : fstart;
    end = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(to)) : static_cast<uint32_t>(to);
  }
  return EmitHits(s, first, last, start, end);
}

// The callback of the folded literal database over the joined fields: finds the hit's field,
// then proceeds as OnMatch does on that field alone.
int OnJoinedMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                  void* context) {
  auto* s = static_cast<ScanState*>(context);
  const PatternInfo& p = s->infos[id];
  const Target* const first = s->targets + p.first;
  const Target* const last = first + p.count;
  const auto* joined = reinterpret_cast<const uint8_t*>(s->joined.data());
  const uint32_t jend = static_cast<uint32_t>(to);
  const uint32_t jstart = jend - p.length;
  // No pattern holds '\n', so a match lies within one field; the separators and the text's ends
  // are not letters, as a field's ends are not.
  const bool letter_before = jstart > 0 && kAsciiAlnum[joined[jstart - 1]];
  const bool letter_after = jend < s->joined.size() && kAsciiAlnum[joined[jend]];
  if (letter_before || letter_after) {
    bool any = false;
    for (const Target* t = first; t != last; ++t) {
      any |= !(t->check_start && letter_before) && !(t->check_end && letter_after);
    }
    if (!any) return 0;
  }
  uint32_t f = 0;
  while (f + 1 < s->segments && s->segment_starts[f + 1] <= jstart) ++f;
  const uint32_t base = s->segment_starts[f];
  const normalise::FoldedText* folded = s->folded_fields[f].get();
  s->field = static_cast<uint8_t>(f);
  s->original = s->fields[f];
  s->regex = p.regex_start;  // a simple regex's spelling: the end check applies as a regex's
  const uint32_t end = folded->ToOriginal(jend - base);
  const uint32_t start =
      p.regex_start ? WordRunStart(s->original, end) : folded->ToOriginal(jstart - base);
  return EmitHits(s, first, last, start, end);
}

class HyperscanMatchContext final : public MatchContext {
 public:
  explicit HyperscanMatchContext(std::shared_ptr<const HyperscanMatcher> matcher)
      : matcher_(std::move(matcher)) {}
  ~HyperscanMatchContext() override { hs_free_scratch(scratch_); }

  absl::Status Init() {
    if (matcher_->scratch() == nullptr) return absl::OkStatus();  // no terms
    if (hs_clone_scratch(matcher_->scratch(), &scratch_) != HS_SUCCESS) {
      return absl::ResourceExhaustedError("hs_clone_scratch failed");
    }
    return absl::OkStatus();
  }

  absl::Status Scan(absl::Span<const std::string_view> fields, std::vector<Hit>* hits) override;
  bool truncated() const override { return truncated_; }
  std::string_view folded(size_t field) const override {
    return field < folded_fields_ ? folded_[field]->text() : std::string_view();
  }

 private:
  std::shared_ptr<const HyperscanMatcher> matcher_;
  hs_scratch_t* scratch_ = nullptr;
  // One fold buffer per field, kept after the scan for folded(); grows only when an item has
  // more fields than any before (two: title and body).
  std::vector<std::unique_ptr<normalise::FoldedText>> folded_;
  size_t folded_fields_ = 0;  // fields folded by the last Scan
  // The folded fields joined by '\n' for the one scan of the folded literals, and where each
  // field starts in it; grow to the largest item and stay.
  std::string joined_;
  std::vector<uint32_t> segment_starts_;
  bool truncated_ = false;
};

absl::Status HyperscanMatchContext::Scan(absl::Span<const std::string_view> fields,
                                         std::vector<Hit>* hits) {
  hits->clear();
  truncated_ = false;
  folded_fields_ = 0;
  // Hit::field is a uint8_t.
  if (fields.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat("too many fields: ", fields.size()));
  }
  const DatabaseSet& dbs = matcher_->dbs();
  const std::vector<HyperscanMatcher::LengthTerm>& length_terms = matcher_->length_terms();
  const bool any_folded =
      dbs[kFoldedLiterals] != nullptr || dbs[kFoldedRegexes] != nullptr || !length_terms.empty();
  ScanState state{};
  state.max_hits = matcher_->options().max_hits_per_item;
  state.exact_start = matcher_->options().regex_start_offsets;
  state.hits = hits;
  state.matcher = matcher_.get();
  uint64_t total = 0;
  for (size_t f = 0; f < fields.size(); ++f) {
    if (fields[f].size() > UINT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("field ", f, " larger than 4 GiB"));
    }
    total += fields[f].size() + 1;
  }
  if (any_folded) {
    while (folded_.size() < fields.size()) {
      folded_.push_back(std::make_unique<normalise::FoldedText>());
    }
    for (size_t f = 0; f < fields.size(); ++f) normalise::Fold(fields[f], folded_[f].get());
    folded_fields_ = fields.size();
  }
  // The folded literals, the bulk of the terms: one scan of every field's folded text joined
  // by '\n', instead of one scan per field (each hs_scan has a fixed cost).
  if (dbs[kFoldedLiterals] != nullptr && total <= UINT32_MAX) {
    joined_.clear();
    segment_starts_.clear();
    for (size_t f = 0; f < fields.size(); ++f) {
      segment_starts_.push_back(static_cast<uint32_t>(joined_.size()));
      joined_.append(folded_[f]->text());
      joined_.push_back('\n');
    }
    joined_.pop_back();  // an empty item scans nothing
    if (!joined_.empty()) {
      state.infos = matcher_->infos(kFoldedLiterals).data();
      state.targets = matcher_->targets(kFoldedLiterals).data();
      state.joined = joined_;
      state.segment_starts = segment_starts_.data();
      state.segments = static_cast<uint32_t>(fields.size());
      state.fields = fields.data();
      state.folded_fields = folded_.data();
      const hs_error_t err =
          hs_scan(dbs[kFoldedLiterals], joined_.data(), static_cast<unsigned>(joined_.size()), 0,
                  scratch_, OnJoinedMatch, &state);
      if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
        hits->clear();
        return absl::InternalError(
            absl::StrCat("Hyperscan scan of the folded fields failed with code ", err));
      }
    }
  }
  for (size_t f = 0; f < fields.size() && !state.truncated; ++f) {
    const std::string_view field = fields[f];
    if (field.empty()) continue;
    // Set whenever a folded database or a length term exists (any_folded).
    normalise::FoldedText* const folded_text = any_folded ? folded_[f].get() : nullptr;
    state.field = static_cast<uint8_t>(f);
    state.original = field;
    for (size_t db = kFoldedRegexes; db < kDatabaseCount && !state.truncated; ++db) {
      if (db == kFoldedRegexes + 1 && !length_terms.empty() && !folded_text->text().empty()) {
        // After the regex database's scan of this field: where its end-of-field matches were.
        state.scanned = folded_text->text();
        state.folded = folded_text;
        state.regex = true;
        EmitLengthHits(&state, length_terms);
        if (state.truncated) break;
      }
      if (dbs[db] == nullptr) continue;
      std::string_view text = field;
      if (ScansFolded(db)) {
        text = folded_text->text();
      } else if (db == kOriginalRegexes && !normalise::ValidateUtf8(field)) {
        // Hyperscan's UTF-8 mode does not check its input: invalid UTF-8 is undefined
        // behaviour.
        return absl::InvalidArgumentError(absl::StrCat("field ", f, " is not valid UTF-8"));
      }
      if (text.empty()) continue;
      state.infos = matcher_->infos(db).data();
      state.targets = matcher_->targets(db).data();
      state.scanned = text;
      state.folded = ScansFolded(db) ? folded_text : nullptr;
      state.regex = IsRegexDb(db);
      const hs_error_t err = hs_scan(dbs[db], text.data(), static_cast<unsigned>(text.size()), 0,
                                     scratch_, OnMatch, &state);
      if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
        hits->clear();
        return absl::InternalError(
            absl::StrCat("Hyperscan scan of field ", f, " failed with code ", err));
      }
    }
  }
  truncated_ = state.truncated;
  auto less = [](const Hit& a, const Hit& b) {
    if (a.field != b.field) return a.field < b.field;
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end < b.end;
    return a.term < b.term;
  };
  // Hyperscan reports in order of end offset, so the hits are nearly sorted already (out of
  // order only where terms overlap): an insertion sort is linear on them, where std::sort was 6%
  // of the item path. Many hits (a hostile item) still go to std::sort.
  if (hits->size() <= 256) {
    for (size_t i = 1; i < hits->size(); ++i) {
      const Hit h = (*hits)[i];
      size_t j = i;
      for (; j > 0 && less(h, (*hits)[j - 1]); --j) (*hits)[j] = (*hits)[j - 1];
      (*hits)[j] = h;
    }
  } else {
    std::sort(hits->begin(), hits->end(), less);
  }
  hits->erase(std::unique(hits->begin(), hits->end(),
                          [](const Hit& a, const Hit& b) {
                            return a.field == b.field && a.start == b.start && a.end == b.end &&
                                   a.term == b.term;
                          }),
              hits->end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Matcher>> Matcher::Create(std::vector<TermSpec> terms,
                                                               const MatcherOptions& options) {
  if (terms.size() > UINT32_MAX) return absl::InvalidArgumentError("too many terms");
  auto matcher = std::make_shared<HyperscanMatcher>(std::move(terms), options);
  SW_RETURN_IF_ERROR(matcher->Build());
  return std::shared_ptr<const Matcher>(std::move(matcher));
}

absl::StatusOr<std::unique_ptr<MatchContext>> MatchContext::Create(
    std::shared_ptr<const Matcher> matcher) {
  auto hs = std::dynamic_pointer_cast<const HyperscanMatcher>(matcher);
  if (hs == nullptr)
    return absl::InvalidArgumentError("MatchContext needs a Matcher::Create() matcher");
  auto context = std::make_unique<HyperscanMatchContext>(std::move(hs));
  SW_RETURN_IF_ERROR(context->Init());
  return std::unique_ptr<MatchContext>(std::move(context));
}

}  // namespace steppewatch::match
