#include "steppewatch/normalise/utf8.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline

#include <algorithm>
#include <array>

#include "normalise/unicode_tables.h"
#include "normalise/utf8_internal.h"
#include "simdjson.h"

namespace steppewatch::normalise {
namespace {

using internal::Entry;
using internal::EntryFlags;

inline uint32_t Flags(char32_t cp) {
  if (cp >= 0x110000) return 0;
  return EntryFlags(Entry(static_cast<uint32_t>(cp)));
}

// The replacement for undecodable bytes: not a word character, so garbage separates words.
constexpr char32_t kReplacement = 0xFFFD;

}  // namespace

bool ValidateUtf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

CodePoint DecodeAt(std::string_view text, size_t offset) {
  if (offset >= text.size()) return {};
  const auto* s = reinterpret_cast<const uint8_t*>(text.data()) + offset;
  if (s[0] < 0x80) return {s[0], 1};
  uint32_t cp = 0;
  const uint32_t len = internal::DecodeMultiByte(s, text.size() - offset, &cp);
  if (len == 0) return {kReplacement, 1};
  return {cp, len};
}

CodePoint DecodeBefore(std::string_view text, size_t offset) {
  if (offset == 0 || offset > text.size()) return {};
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  if (s[offset - 1] < 0x80) return {s[offset - 1], 1};
  // Walk back over at most three continuation bytes to the lead byte.
  size_t lead = offset - 1;
  while (lead > 0 && offset - lead < 4 && (s[lead] & 0xC0) == 0x80) --lead;
  CodePoint c = DecodeAt(text, lead);
  if (c.length == offset - lead && c.cp != kReplacement) return c;
  return {kReplacement, 1};
}

bool IsWordChar(char32_t cp) { return Flags(cp) & internal::kFlagWord; }
bool IsCjk(char32_t cp) { return Flags(cp) & internal::kFlagCjk; }
bool IsJoiner(char32_t cp) { return Flags(cp) & internal::kFlagJoiner; }
bool IsSpace(char32_t cp) { return Flags(cp) & internal::kFlagSpace; }
bool IsIgnorable(char32_t cp) { return Flags(cp) & internal::kFlagIgnore; }

namespace {
inline bool BlocksBoundary(CodePoint c) {
  if (c.length == 0) return false;
  const uint32_t f = Flags(c.cp);
  return (f & internal::kFlagWord) && !(f & internal::kFlagCjk);
}

// Whether Fold drops `c` (soft hyphen, zero-width characters).
inline bool Ignored(CodePoint c) { return c.length != 0 && (Flags(c.cp) & internal::kFlagIgnore); }
}  // namespace

// Both look past the characters Fold drops: the matcher finds terms in folded text, where
// "Kazakh\u00ADstan" is one word, and checks their boundaries in the original, where "stan"
// must not pass for a whole word after the soft hyphen.
bool IsBoundaryBefore(std::string_view text, size_t offset) {
  CodePoint c = DecodeBefore(text, offset);
  while (Ignored(c)) {
    offset -= c.length;
    c = DecodeBefore(text, offset);
  }
  return !BlocksBoundary(c);
}

// Out of line also inside this file: the word index calls it once per joiner or dropped
// character at a word's end, off its scan's common path (inlined there it cost NEAR's word index
// a few percent on Russian text).
__attribute__((noinline)) bool IsBoundaryAfter(std::string_view text, size_t offset) {
  CodePoint c = DecodeAt(text, offset);
  while (Ignored(c)) {
    offset += c.length;
    c = DecodeAt(text, offset);
  }
  return !BlocksBoundary(c);
}

void WordIndex::Reset(std::string_view text) {
  text_ = text;
  scanned_ = false;
  starts_.clear();
  ends_.clear();
}

namespace {
// What the word index's scan looks up once: the flags of the ASCII characters, and whether
// every character of U+0400..U+047F (lead bytes D0 and D1: the Cyrillic alphabets) is a word
// character outside CJK, so a word can skip them two bytes at a time. Most text the index scans
// is ASCII or Cyrillic, and the general decode-and-lookup per character was most of the scan.
struct ScanTables {
  std::array<uint8_t, 128> ascii{};
  bool cyrillic_words = true;
  // Whether the ASCII word characters are exactly [0-9A-Za-z], the joiners exactly '\'' and
  // '-', and no ASCII character is CJK: what the 16-byte blocks of the scan assume.
  bool ascii_alnum_words = true;
};

const ScanTables& WordScanTables() {
  static const ScanTables tables = [] {
    ScanTables t;
    for (char32_t c = 0; c < 128; ++c) {
      t.ascii[c] = static_cast<uint8_t>(Flags(c));
      const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      t.ascii_alnum_words =
          t.ascii_alnum_words && ((t.ascii[c] & internal::kFlagWord) != 0) == alnum &&
          ((t.ascii[c] & internal::kFlagJoiner) != 0) == (c == '\'' || c == '-') &&
          (t.ascii[c] & internal::kFlagCjk) == 0;
    }
    for (char32_t c = 0x400; c < 0x480; ++c) {
      const uint32_t f = Flags(c);
      t.cyrillic_words = t.cyrillic_words && (f & internal::kFlagWord) && !(f & internal::kFlagCjk);
    }
    return t;
  }();
  return tables;
}
}  // namespace

void WordIndex::Scan() {
  scanned_ = true;
  starts_.clear();
  ends_.clear();
  const ScanTables& tables = WordScanTables();
  const std::array<uint8_t, 128>& ascii = tables.ascii;
  const auto* s = reinterpret_cast<const uint8_t*>(text_.data());
  const size_t n = text_.size();
  // Either outside a word or inside a non-CJK word. A joiner continues a word only when the
  // next character is a non-CJK word character too.
  bool in_word = false;
  size_t i = 0;
  // 16 bytes of ASCII without a joiner at a time: a word starts at a word character after a
  // non-word one and ends at a non-word character after a word one, found for the whole block
  // from its mask of word characters. Prose has a word boundary every few bytes, each of which
  // cost the byte loop below a decode and a lookup; a block with a joiner or a non-ASCII byte
  // takes that loop.
  const __m128i c0 = _mm_set1_epi8('0' - 1), c9 = _mm_set1_epi8('9' + 1);
  const __m128i ca = _mm_set1_epi8('a' - 1), cz = _mm_set1_epi8('z' + 1);
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i apostrophe = _mm_set1_epi8('\''), hyphen = _mm_set1_epi8('-');
  const __m128i ampersand = _mm_set1_epi8('&');
  // After a block that cannot be taken whole the byte loop goes past it before the next try,
  // 64 bytes past it when it held a non-ASCII byte: in Chinese, Kazakh or Russian text a try per
  // step cost more than it saved (with tries every 64 bytes those scans read ~3% more
  // instructions than without any, English ~60% fewer: BM_NormaliseWordIndex under callgrind).
  while (i < n) {
    size_t bytes_until = n;
    if (tables.ascii_alnum_words && i + 16 <= n) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      if (_mm_movemask_epi8(v) != 0) {
        bytes_until = i + 64;
      } else {
        const __m128i lower = _mm_or_si128(v, case_bit);  // 'A'-'Z' to 'a'-'z'
        const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, c0), _mm_cmplt_epi8(v, c9));
        const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, ca), _mm_cmplt_epi8(lower, cz));
        // Joiners, and an '&' (it may start a character reference), go to the byte loop.
        const unsigned stops = static_cast<unsigned>(_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, apostrophe), _mm_cmpeq_epi8(v, hyphen)),
                         _mm_cmpeq_epi8(v, ampersand))));
        if (stops == 0) {
          const unsigned word =
              static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(digit, letter)));
          const unsigned before = (word << 1 | (in_word ? 1u : 0u)) & 0xFFFFu;
          for (unsigned m = word & ~before; m != 0; m &= m - 1) {
            starts_.push_back(static_cast<uint32_t>(i + __builtin_ctz(m)));
          }
          for (unsigned m = ~word & before & 0xFFFFu; m != 0; m &= m - 1) {
            ends_.push_back(static_cast<uint32_t>(i + __builtin_ctz(m)));
          }
          in_word = (word >> 15) != 0;
          i += 16;
          continue;
        }
        bytes_until = i + 16;
      }
    }
    // The byte loop, one step a run and a code point, up to bytes_until.
    do {
      // Runs of ASCII that change nothing: word characters inside a word, and characters that
      // are neither word characters nor CJK outside one (a joiner there starts nothing).
      if (in_word) {
        while (i < n) {
          if (s[i] < 0x80 && (ascii[s[i]] & internal::kFlagWord)) {
            ++i;
          } else if ((s[i] | 1) == 0xD1 && tables.cyrillic_words && i + 1 < n &&
                     (s[i + 1] & 0xC0) == 0x80) {
            i += 2;
          } else {
            break;
          }
        }
      } else {
        while (i < n && s[i] < 0x80 && !(ascii[s[i]] & internal::kFlagWord) && s[i] != '&') ++i;
      }
      if (i >= n) break;
      CodePoint c = DecodeAt(text_, i);
      // A character reference Fold reads as a character is that character here too:
      // "Kazakhstan&rsquo;s" is one word, as "Kazakhstan’s" is, and "lt" in "&lt;" none.
      if (s[i] == '&') {
        uint32_t cp = 0;
        if (const uint32_t length = internal::ReferenceAt(s, n, i, &cp)) {
          c = {static_cast<char32_t>(cp), length};
        }
      }
      const uint32_t f = c.cp < 0x80 ? ascii[c.cp] : Flags(c.cp);
      const bool cjk = f & internal::kFlagCjk;
      const bool word = (f & internal::kFlagWord) && !cjk;
      bool continues = word;
      // The characters Fold drops join as joiners do: the matcher sees "Kazakh\u200Bstan" as
      // one word, so NEAR counts it as one.
      if (in_word && !word && (f & (internal::kFlagJoiner | internal::kFlagIgnore))) {
        // A word character past any dropped ones: no boundary there (IsBoundaryAfter).
        continues = !IsBoundaryAfter(text_, i + c.length);
      }
      if (in_word && !continues) {
        ends_.push_back(static_cast<uint32_t>(i));
        in_word = false;
      }
      if (cjk) {
        starts_.push_back(static_cast<uint32_t>(i));
        ends_.push_back(static_cast<uint32_t>(i + c.length));
      } else if (word && !in_word) {
        starts_.push_back(static_cast<uint32_t>(i));
        in_word = true;
      }
      i += c.length;
    } while (i < bytes_until);
  }
  if (in_word) ends_.push_back(static_cast<uint32_t>(n));
}

uint32_t WordIndex::WordIndexAt(size_t offset) {
  if (!scanned_) Scan();
  // The candidate is the last word starting at or before `offset`; if `offset` lies past its
  // end, it is between words and belongs to the next one.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  if (it == starts_.begin()) return 0;
  const uint32_t last = static_cast<uint32_t>(it - starts_.begin()) - 1;
  return offset < ends_[last] ? last : last + 1;
}

uint32_t WordIndex::word_count() {
  if (!scanned_) Scan();
  return static_cast<uint32_t>(starts_.size());
}

const std::vector<uint32_t>& WordIndex::word_starts() {
  if (!scanned_) Scan();
  return starts_;
}

}  // namespace steppewatch::normalise
