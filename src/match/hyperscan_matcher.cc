// HyperscanMatcher and HyperscanMatchContext: the implementation of match/matcher.h. The design
// follows what Hyperscan 5.4.0 does well and badly (UTF-8 caseless patterns compile slowly and
// scan 2x slower, \b and lookarounds fail on Cyrillic): fold the text ourselves so almost every
// term is a plain literal for hs_compile_lit_multi, check word boundaries in the callback on the
// UTF-8 text, keep regexes in their own database, share one immutable database set and give
// every MatchContext its own scratch.
#include "match/hyperscan_matcher.h"

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "steppewatch/common/files.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/normalise/fold.h"

namespace steppewatch::match::internal {
namespace {

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

// Reads the regex character at regex[*i] when it is a plain one (a literal character, or an
// escaped ASCII punctuation character) into *cp and moves *i past it; false for anything else
// (a metacharacter, an escaped letter or digit, invalid UTF-8).
bool ReadPlainCharacter(std::string_view regex, size_t* i, char32_t* cp) {
  const unsigned char c = static_cast<unsigned char>(regex[*i]);
  if (c == '\\') {
    if (*i + 1 >= regex.size()) return false;
    const unsigned char e = static_cast<unsigned char>(regex[*i + 1]);
    // Only an escaped ASCII punctuation character is a plain character.
    if (e >= 0x80 || kAsciiAlnum[e] || e <= 0x20) return false;
    *cp = e;
    *i += 2;
    return true;
  }
  if (std::string_view("^$.|?*+()[]{}").find(static_cast<char>(c)) != std::string_view::npos) {
    return false;
  }
  const normalise::CodePoint d = normalise::DecodeAt(regex, *i);
  if (d.length == 0) return false;
  *cp = d.cp;
  *i += d.length;
  return true;
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
    if (!ReadPlainCharacter(regex, &i, &cp)) return std::nullopt;
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

// Returns the folded code point a case-insensitive regex atom `cp` matches in folded text, as
// SimpleFoldedAtom, or also for the Cyrillic letters of U+0450..U+045F and U+048A..U+04BF (Kazakh
// ғ қ ң ү ұ һ, Tajik ҷ ...), whose case pairs are one upper and one lower letter that Fold maps
// to the lower: the only one of the pair folded text holds. ё (U+0451) folds to е, so it is not
// one of them. Returns 0 when that is not certain.
char32_t FoldedRegexAtom(char32_t cp) {
  if (const char32_t simple = SimpleFoldedAtom(cp)) return simple;
  char32_t lower = 0;
  if (cp >= 0x0400 && cp <= 0x040F) lower = cp + 0x50;
  if (cp >= 0x0450 && cp <= 0x045F) lower = cp;
  if (cp >= 0x048A && cp <= 0x04BF) lower = cp | 1;
  if (lower == 0 || lower == 0x0451) return 0;
  const char32_t upper = lower >= 0x0450 && lower <= 0x045F ? lower - 0x50 : lower - 1;
  auto encode = [](char32_t c) {
    std::string out;
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    return out;
  };
  const std::string folded = encode(lower);
  if (normalise::FoldToString(encode(upper)) != folded ||
      normalise::FoldToString(folded) != folded) {
    return 0;
  }
  return lower;
}

// Returns the word phrase of a case-insensitive regex of literal chunks and kWordRest runs, or
// nothing when the regex is anything else (or is one chunk: ExpandSimpleRegex's case). A rest
// must follow a chunk and be followed by the end or by a character a rest cannot hold, so the
// regex matches in one way only from a given start; the chunks' characters must be ones whose
// folded form is certain (FoldedRegexAtom).
std::optional<WordPhrase> ParseWordPhrase(std::string_view regex) {
  WordPhrase out;
  out.chunks.emplace_back();
  bool rest = false;  // a rest was just read
  size_t i = 0;
  while (i < regex.size()) {
    const bool word_rest = regex.substr(i, kWordRest.size()) == kWordRest;
    if (word_rest || regex.substr(i, kNonSpaceRest.size()) == kNonSpaceRest) {
      if (rest || out.chunks.back().empty()) return std::nullopt;
      rest = true;
      out.rests.push_back(word_rest ? kRestOfWord : kRestNonSpace);
      i += word_rest ? kWordRest.size() : kNonSpaceRest.size();
      continue;
    }
    char32_t cp;
    if (!ReadPlainCharacter(regex, &i, &cp)) return std::nullopt;
    const char32_t folded = FoldedRegexAtom(cp);
    if (folded == 0) return std::nullopt;
    if (rest) {
      // The rest stops only where the next chunk starts.
      if (folded >= 0x80 || RestBytes(out.rests.back())[folded]) return std::nullopt;
      out.chunks.emplace_back();
      rest = false;
    }
    std::string& chunk = out.chunks.back();
    if (folded < 0x80) {
      chunk.push_back(static_cast<char>(folded));
    } else {  // below U+0800: two bytes
      chunk.push_back(static_cast<char>(0xC0 | (folded >> 6)));
      chunk.push_back(static_cast<char>(0x80 | (folded & 0x3F)));
    }
  }
  out.final_rest = rest;
  if (out.chunks.size() == 1 && !out.final_rest) return std::nullopt;
  return out;
}

// Appends the canonical serialization of everything that decides the compiled databases: the
// cache key. Length-prefixed, so no two term lists serialize alike.
void AppendKey(const std::vector<TermSpec>& terms, const MatcherOptions& options,
               std::string* key) {
  // Bump when the meaning of what is compiled changes (how an id is read, what a database
  // scans): old cache files then miss. A change of the fold, the grouping, the ids or the flags
  // changes the compile inputs, which the key also names (AppendCompileDigest).
  // v2: whole-field length regexes are no longer compiled.
  // v3: case-sensitive literals and simple regexes join the folded literal database.
  // v4-v6: the folded literal database's ids carry a hint, and name the target directly where
  // they can (kIdHintBits).
  // v7, v8: word phrases join the folded literal database by their first chunk (WordPhrase).
  key->append("steppewatch-match-v8;");
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

// Returns what the match callback needs of pattern `p` (PatternInfo::first left 0).
PatternInfo InfoOf(const Pattern& p) {
  PatternInfo info{p.length, 0, static_cast<uint32_t>(p.targets.size()), p.regex_start};
  for (const Target& t : p.targets) {
    info.free_start |= !t.check_start;
    info.free_end |= !t.check_end;
    info.free_both |= !t.check_start && !t.check_end;
  }
  return info;
}

// Returns the id Hyperscan reports for pattern `index` of a database whose ids are shifted by
// `id_shift` (0 or kIdHintBits; hyperscan_matcher.h says how the id is built).
unsigned PatternId(const Pattern& p, size_t index, unsigned id_shift) {
  if (id_shift == 0) return static_cast<unsigned>(index);
  const PatternInfo info = InfoOf(p);
  const unsigned length = info.length <= kHintLengthMask ? info.length : 0;
  const unsigned hint = length | FreeBits(info) << kHintFreeShift;
  if (p.targets.size() == 1 && !p.regex_start && length != 0) {
    const Target& t = p.targets[0];
    if (t.exact == 0 && !t.regex_start && t.term <= kMaxDirectTerm) {
      return kDirectId | t.term << kIdHintBits | hint;
    }
  }
  return static_cast<unsigned>(index << id_shift) | hint;
}

// Hyperscan's compile flags of every pattern of database `db`.
unsigned PatternFlags(size_t db, const MatcherOptions& options) {
  if (!IsRegexDb(db)) return 0;
  unsigned f = HS_FLAG_UTF8;
  if (db == kFoldedRegexes) f |= HS_FLAG_CASELESS;
  if (options.regex_start_offsets) f |= HS_FLAG_SOM_LEFTMOST;
  return f;
}

// Appends a digest of exactly what Compile() hands Hyperscan (every database's expressions,
// flags and ids) to the cache key. The key's own serialization of the terms and options decides
// which file is read; this makes a file whose databases were grouped by other code (a release
// that moved patterns between databases, or changed their ids, without bumping the key's
// version) miss instead of being scanned with the wrong pattern list, which reads out of bounds.
void AppendCompileDigest(const std::array<std::vector<Pattern>, kDatabaseCount>& patterns,
                         const std::array<unsigned, kDatabaseCount>& id_shift,
                         const MatcherOptions& options, std::string* key) {
  std::string inputs;
  for (size_t db = 0; db < kDatabaseCount; ++db) {
    const uint64_t count = patterns[db].size();
    inputs.append(reinterpret_cast<const char*>(&count), sizeof(count));
    const unsigned flags = PatternFlags(db, options);
    for (size_t i = 0; i < patterns[db].size(); ++i) {
      const Pattern& p = patterns[db][i];
      const uint64_t n = p.expression.size();
      const unsigned fields[2] = {flags, PatternId(p, i, id_shift[db])};
      inputs.append(reinterpret_cast<const char*>(&n), sizeof(n));
      inputs.append(p.expression);
      inputs.append(reinterpret_cast<const char*>(fields), sizeof(fields));
    }
    absl::StrAppend(key, ";db", db, "=", count);
  }
  absl::StrAppend(key, ";inputs=", absl::Hex(files::Hash64(inputs), absl::kZeroPad16));
}

}  // namespace

std::string DatabaseCacheKey(const std::vector<TermSpec>& terms, const MatcherOptions& options,
                             bool word_lookup,
                             const std::array<std::vector<Pattern>, kDatabaseCount>& patterns,
                             const std::array<unsigned, kDatabaseCount>& id_shift) {
  std::string key;
  AppendKey(terms, options, &key);
  // The whole-word patterns left the folded literal database (SplitWords): another database.
  // Packs below the threshold keep their key, and their cache files.
  if (word_lookup) key.append(";word-lookup-v2");  // v2: patterns of several words too
  AppendCompileDigest(patterns, id_shift, options, &key);
  return key;
}

size_t FirstWordLength(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const normalise::CodePoint c = normalise::DecodeAt(text, i);
    if (c.length == 0 || !NeedsBoundary(c.cp)) break;  // U+FFFD is not a word character
    i += c.length;
  }
  return i;
}

void WordTable::Build(const std::vector<Pattern>& words) {
  static_assert(sizeof(Target) == 16 && alignof(Target) <= 8 &&
                std::is_trivially_copyable_v<Target>);
  // Patterns by their first word, in the order of their first appearance.
  absl::flat_hash_map<std::string_view, uint32_t> index;
  std::vector<std::vector<const Pattern*>> groups;
  for (const Pattern& p : words) {
    const std::string_view first(p.expression.data(), FirstWordLength(p.expression));
    auto [it, inserted] = index.try_emplace(first, static_cast<uint32_t>(groups.size()));
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(&p);
  }
  size_t slots = 16;
  while (slots < 2 * groups.size()) slots *= 2;
  slots_.assign(slots, 0);
  mask_ = slots - 1;
  filter_.assign((size_t{1} << kFilterLog2) / 64, 0);
  words_ = groups.size();
  // The records (see the class comment), each padded to the next 64-byte line when it would
  // cross one and fits in one.
  std::vector<uint64_t> records;
  auto append_bytes = [&](std::string_view bytes) {
    for (size_t i = 0; i < bytes.size(); i += 8) {
      uint64_t v = 0;
      std::memcpy(&v, bytes.data() + i, std::min<size_t>(8, bytes.size() - i));
      records.push_back(v);
    }
  };
  for (const std::vector<const Pattern*>& group : groups) {
    const size_t length = FirstWordLength(group.front()->expression);
    const std::string_view key(group.front()->expression.data(), length);
    size_t units = 1 + (length + 7) / 8;
    for (const Pattern* p : group) {
      const size_t rest = p->expression.size() - length;
      units += 2 + (rest > 8 ? (rest - 8 + 7) / 8 : 0) + 2 * p->targets.size();
    }
    if (units <= 8 && records.size() % 8 + units > 8) records.resize((records.size() + 7) / 8 * 8);
    const uint64_t offset = records.size();
    records.push_back(length | uint64_t{group.size()} << 32);
    append_bytes(key);
    for (const Pattern* p : group) {
      const std::string_view rest = std::string_view(p->expression).substr(length);
      records.push_back(rest.size() | uint64_t{p->targets.size()} << 32);
      uint64_t head = 0;
      std::memcpy(&head, rest.data(), std::min<size_t>(rest.size(), 8));
      records.push_back(head);
      if (rest.size() > 8) append_bytes(rest.substr(8));
      for (const Target& t : p->targets) {
        uint64_t units_of_target[2];
        std::memcpy(units_of_target, &t, sizeof(t));
        records.push_back(units_of_target[0]);
        records.push_back(units_of_target[1]);
      }
    }
    min_length_ = std::min(min_length_, static_cast<uint32_t>(length));
    max_length_ = std::max(max_length_, static_cast<uint32_t>(length));
    const uint64_t h = Hash(key.data(), key.size(), key.size());
    const uint64_t bit = h >> (64 - kFilterLog2);
    filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
    const uint64_t tag = static_cast<uint32_t>(h >> 32) | 1;
    uint64_t i = h & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = tag << 32 | offset;
  }
  if (records.size() > UINT32_MAX - 1) {
    // Offsets are 32-bit (kNone is the largest): tens of GB of patterns, never a real pack.
    std::abort();
  }
  records_.reset(new (std::align_val_t{64}) uint64_t[std::max<size_t>(records.size(), 1)]);
  std::memcpy(records_.get(), records.data(), records.size() * sizeof(uint64_t));
}

bool HyperscanMatcher::SplitWords() {
  std::vector<Pattern>& patterns = patterns_[kFoldedLiterals];
  if (patterns.size() < options_.word_lookup_min_literals) return false;
  std::vector<Pattern> kept;
  std::vector<Pattern> words;
  for (Pattern& p : patterns) {
    // A pattern that starts with a word and whose every target checks its start can only hit
    // where a maximal run of the folded text is that word (the start check needs the run to
    // start there; the word ends with the run, or before a character that ends the run). One
    // that is a word alone hits only where the run is the word if also every target checks its
    // end (a prefix would hit inside longer runs).
    const size_t first = FirstWordLength(p.expression);
    bool word = !p.regex_start && first > 0;
    for (const Target& t : p.targets) {
      word = word && t.check_start && !t.regex_start && t.phrase == 0 &&
             (first < p.expression.size() || t.check_end);
    }
    (word ? words : kept).push_back(std::move(p));
  }
  patterns = std::move(kept);
  stats_.word_lookup_patterns = words.size();
  words_.Build(words);
  return !words.empty();
}

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
        std::optional<WordPhrase> phrase;
        if (!options_.regex_start_offsets) phrase = ParseWordPhrase(t.text);
        if (phrase) {
          // Its own pattern, as a regex's spellings: the first chunk, accepted next to anything
          // (the regex has no start check, and a rest or the next chunk follows it).
          phrase->target = target;
          phrase->target.regex_start = true;
          phrases_.push_back(*std::move(phrase));
          Pattern p;
          p.expression = phrases_.back().chunks[0];
          p.length = static_cast<uint32_t>(p.expression.size());
          p.regex_start = true;
          p.targets.push_back(
              Target{id, false, false, true, 0, static_cast<uint32_t>(phrases_.size())});
          patterns_[kFoldedLiterals].push_back(std::move(p));
          ++stats_.word_phrase_terms;
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
    flags.push_back(PatternFlags(db, options_));
    ids.push_back(PatternId(patterns[i], i, id_shift_[db]));
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
  const bool split = SplitWords();
  // Decided by the patterns alone, so that databases loaded from the cache agree.
  if (patterns_[kFoldedLiterals].size() < kMaxHintedPatterns)
    id_shift_[kFoldedLiterals] = kIdHintBits;
  auto env = internal::CurrentEnvironment();
  if (!env.ok()) return env.status();
  std::string key;
  const bool use_cache = !options_.cache_dir.empty();
  if (use_cache) {
    key = DatabaseCacheKey(terms_, options_, split, patterns_, id_shift_);
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
      PatternInfo info = InfoOf(p);
      info.first = static_cast<uint32_t>(targets_[db].size());
      infos_[db].push_back(info);
      targets_[db].insert(targets_[db].end(), p.targets.begin(), p.targets.end());
    }
    std::vector<Pattern>().swap(patterns_[db]);  // the expressions are compiled in by now
  }
  stats_.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return absl::OkStatus();
}

}  // namespace steppewatch::match::internal

namespace steppewatch::match {

absl::StatusOr<std::shared_ptr<const Matcher>> Matcher::Create(std::vector<TermSpec> terms,
                                                               const MatcherOptions& options) {
  if (terms.size() > UINT32_MAX) return absl::InvalidArgumentError("too many terms");
  auto matcher = std::make_shared<internal::HyperscanMatcher>(std::move(terms), options);
  SW_RETURN_IF_ERROR(matcher->Build());
  if (matcher->stats().word_lookup_patterns > 0) {
    // The Hyperscan-only path for scans stopped at max_hits (HyperscanMatcher::full): its cache
    // key is the one of the same pack without the word lookup.
    MatcherOptions full_options = options;
    full_options.word_lookup_min_literals = UINT32_MAX;
    auto full = std::make_shared<internal::HyperscanMatcher>(matcher->terms(), full_options);
    SW_RETURN_IF_ERROR(full->Build());
    matcher->set_full(std::move(full));
  }
  return std::shared_ptr<const Matcher>(std::move(matcher));
}

}  // namespace steppewatch::match
