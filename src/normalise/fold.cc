#include "steppewatch/normalise/fold.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline, so no runtime dispatch is needed

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "normalise/unicode_tables.h"
#include "normalise/utf8_internal.h"

namespace steppewatch::normalise {
namespace {

// Bytes of headroom past the folded text so the 16-byte SIMD store never needs a bounds check.
constexpr size_t kStoreSlack = 16;

// Per ASCII byte: its fold, and whether it is white space.
struct AsciiTable {
  std::array<char, 128> fold;
  std::array<bool, 128> space;
};

constexpr AsciiTable MakeAsciiTable() {
  AsciiTable t{};
  for (int c = 0; c < 128; ++c) {
    const bool ws = c == ' ' || (c >= '\t' && c <= '\r');
    t.space[c] = ws;
    t.fold[c] = ws                       ? ' '
                : (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32)
                                         : static_cast<char>(c);
  }
  return t;
}

constexpr AsciiTable kAscii = MakeAsciiTable();

}  // namespace

void FoldedText::Reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  // Grow geometrically so a slowly growing field size does not reallocate every time.
  capacity_ = std::max(bytes, capacity_ + capacity_ / 2);
  data_ = std::make_unique<char[]>(capacity_);
}

uint32_t FoldedText::ToOriginal(uint32_t folded_offset) const {
  if (map_.empty()) return folded_offset;
  auto it = std::upper_bound(map_.begin(), map_.end(), folded_offset,
                             [](uint32_t f, const MapEntry& e) { return f < e.folded; });
  if (it == map_.begin()) return folded_offset;
  --it;
  return folded_offset - it->folded + it->original;
}

uint32_t FoldedText::MappedToOriginal(uint32_t folded_offset, uint32_t* cursor) const {
  // The entry that applies is the last one whose `folded` is at most the offset (entries are
  // strictly increasing). From the cursor's entry, a few steps forward cover the next match.
  constexpr int kMaxSteps = 4;
  const size_t n = map_.size();
  size_t i = *cursor < n ? *cursor : 0;
  if (map_[i].folded <= folded_offset) {
    for (int step = 0; step < kMaxSteps && i + 1 < n && map_[i + 1].folded <= folded_offset;
         ++step) {
      ++i;
    }
    if (i + 1 == n || folded_offset < map_[i + 1].folded) {
      *cursor = static_cast<uint32_t>(i);
      return folded_offset - map_[i].folded + map_[i].original;
    }
  }
  auto it = std::upper_bound(map_.begin(), map_.end(), folded_offset,
                             [](uint32_t f, const MapEntry& e) { return f < e.folded; });
  if (it == map_.begin()) return folded_offset;
  --it;
  *cursor = static_cast<uint32_t>(it - map_.begin());
  return folded_offset - it->folded + it->original;
}

namespace {

#define SW_FOLD_INLINE inline __attribute__((always_inline))

// Folds of the two-byte code points U+0080..U+07FF (Latin-1, Latin Extended, Greek, Cyrillic,
// ...), precomputed so the common non-ASCII case is one load: low 24 bits the folded UTF-8
// bytes, bits 24-25 their count, bit 31 set for white space, bit 30 for a character that folds
// to nothing (the soft hyphen). Both special bits are above every ordinary entry, so one
// compare sends both out of the common path.
constexpr uint32_t kTwoByteSpace = 1u << 31;
constexpr uint32_t kTwoByteIgnore = 1u << 30;

std::array<uint32_t, 0x800> MakeTwoByteTable() {
  std::array<uint32_t, 0x800> t{};
  for (uint32_t cp = 0x80; cp < 0x800; ++cp) {
    const uint32_t entry = internal::Entry(cp);
    if (internal::EntryFlags(entry) & internal::kFlagSpace) {
      t[cp] = kTwoByteSpace;
      continue;
    }
    if (internal::EntryFlags(entry) & internal::kFlagIgnore) {
      t[cp] = kTwoByteIgnore;
      continue;
    }
    char bytes[4] = {};
    const uint32_t len = internal::EncodeUtf8(internal::EntryFold(cp, entry), bytes);
    uint32_t packed = 0;
    std::memcpy(&packed, bytes, 3);
    t[cp] = packed | (len << 24);
  }
  return t;
}

const std::array<uint32_t, 0x800>& TwoByteTable() {
  static const std::array<uint32_t, 0x800> table = MakeTwoByteTable();
  return table;
}

// Reads the original text as Fold will write it, a code point at a time: folded, dropped
// characters skipped, white space as ' ', an invalid byte as '?'. A character reference is read
// through it, so that Fold decodes a reference exactly when its folded text would show one
// ("&AMP;", "&am\u00ADp;"): folding folded text then changes nothing.
struct FoldedReader {
  const uint8_t* s;
  size_t n;
  size_t i;  // the next original byte

  // The next folded code point; 0 at the end.
  uint32_t Next() {
    while (i < n) {
      uint32_t cp = s[i];
      uint32_t len = 1;
      if (cp >= 0x80) {
        len = internal::DecodeMultiByte(s + i, n - i, &cp);
        if (len == 0) {
          ++i;
          return '?';
        }
      }
      i += len;
      const uint32_t entry = internal::Entry(cp);
      if (internal::EntryFlags(entry) & internal::kFlagIgnore) continue;
      if (internal::EntryFlags(entry) & internal::kFlagSpace) return ' ';
      return internal::EntryFold(cp, entry);
    }
    return 0;
  }
};

// Reads the rest of a character reference after its '&' from `r`: name; (a name of
// kHtmlEntities, in any case), #digits; (1-7 decimal digits) or #xhex; (1-6 hex digits), always
// with its ';'. Returns whether it is one Fold decodes and sets *cp; not for an unknown name, a
// missing ';', a code point that is 0, a surrogate, past U+10FFFF, a control other than tab,
// line feed and carriage return, a word character or a dropped one (left as text: the
// word-boundary checks read the original, where the reference is not a letter), '#' or ';'
// (decoded, they could complete another reference). &#128;..&#159; are read as Windows-1252
// (&#146; is ’), as HTML 5 does.
bool ReadReference(FoldedReader* r, uint32_t* cp) {
  uint32_t c = r->Next();
  uint32_t value = 0;
  if (c == '#') {
    c = r->Next();
    const bool hex = c == 'x';
    if (hex) c = r->Next();
    uint32_t digits = 0;
    for (;; c = r->Next(), ++digits) {
      uint32_t d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (hex && c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        break;
      }
      if (digits == (hex ? 6u : 7u)) return false;
      value = value * (hex ? 16 : 10) + d;
    }
    if (digits == 0 || c != ';') return false;
    if (value >= 0x80 && value < 0xA0) value = internal::kWindows1252[value - 0x80];
  } else {
    char name[8];
    size_t length = 0;
    for (; (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); c = r->Next()) {
      if (length == sizeof(name)) return false;
      name[length++] = static_cast<char>(c);
    }
    if (length == 0 || c != ';') return false;
    const std::string_view key(name, length);
    const internal::HtmlEntity* const begin = internal::kHtmlEntities;
    const internal::HtmlEntity* const end = begin + internal::kHtmlEntityCount;
    const internal::HtmlEntity* it = std::lower_bound(
        begin, end, key,
        [](const internal::HtmlEntity& e, std::string_view x) { return e.name < x; });
    if (it == end || it->name != key) return false;
    value = it->cp;
  }
  if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) ||
      (value < 0x20 && value != '\t' && value != '\n' && value != '\r') || value == 0x7F ||
      value == '#' || value == ';') {
    return false;
  }
  if (internal::EntryFlags(internal::Entry(value)) &
      (internal::kFlagWord | internal::kFlagIgnore)) {
    return false;
  }
  *cp = value;
  return true;
}

}  // namespace

uint32_t internal::ReferenceAt(const uint8_t* s, size_t n, size_t at, uint32_t* cp) {
  FoldedReader r{s, n, at + 1};
  if (!ReadReference(&r, cp)) return 0;
  // Escaped twice ("&amp;lt;", "&amp;quot;": a common fault of feeds), read on: the '&' a
  // reference names starts the next one.
  while (*cp == '&') {
    FoldedReader more = r;
    if (!ReadReference(&more, cp)) {
      *cp = '&';
      break;
    }
    r = more;
  }
  return static_cast<uint32_t>(r.i - at);
}

namespace {

// The fold loop's state, kept in registers: every helper is force-inlined.
struct FoldState {
  const uint8_t* s;
  size_t n;
  char* dst;
  std::vector<FoldedText::MapEntry>* map;
  const uint32_t* two_byte;
  size_t i = 0;
  size_t o = 0;
  bool prev_space = false;

  // Records that from output offset `o` on, original = o + (i - o). Rare: only after a length
  // change, so it is kept out of line.
  __attribute__((noinline)) void Note() {
    if (!map->empty() && map->back().folded == o) {
      map->back().original = static_cast<uint32_t>(i);
    } else {
      map->push_back({static_cast<uint32_t>(o), static_cast<uint32_t>(i)});
    }
  }

  // Emits the fold of one white-space character of `len` input bytes.
  SW_FOLD_INLINE void Space(uint32_t len) {
    i += len;
    if (!prev_space) {
      dst[o++] = ' ';
      prev_space = true;
      if (len != 1) Note();
    } else {
      Note();
    }
  }

  // Drops one character of `len` input bytes that folds to nothing. A white-space run stays one
  // run across it (prev_space is kept), so "a \u00AD b" folds to "a b".
  SW_FOLD_INLINE void Ignore(uint32_t len) {
    i += len;
    Note();
  }

  // Folds the one code point at s[i] (an '&' may start a character reference).
  SW_FOLD_INLINE void Step() {
    const uint8_t b = s[i];
    if (b < 0x80) {
      if (kAscii.space[b]) {
        Space(1);
        return;
      }
      if (b == '&' && Reference()) return;
      prev_space = false;
      dst[o++] = kAscii.fold[b];
      ++i;
      return;
    }
    if (b >= 0xC2 && b < 0xE0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      const uint32_t cp = (uint32_t{b} & 0x1F) << 6 | (s[i + 1] & 0x3F);
      const uint32_t packed = two_byte[cp];
      if (packed >= kTwoByteIgnore) {  // white space or ignorable: rare
        if (packed & kTwoByteSpace) {
          Space(2);
        } else {
          Ignore(2);
        }
        return;
      }
      prev_space = false;
      const uint32_t olen = (packed >> 24) & 3;
      // Writes 4 bytes and advances by olen: the slack after the output absorbs the excess.
      std::memcpy(dst + o, &packed, 4);
      i += 2;
      o += olen;
      if (olen != 2) Note();
      return;
    }
    if (b >= 0xE1 && b < 0xF0 && b != 0xED && i + 2 < n && (s[i + 1] & 0xC0) == 0x80 &&
        (s[i + 2] & 0xC0) == 0x80) {
      // A three-byte character without overlong/surrogate forms (E0 and ED are excluded): if it
      // neither folds nor is white space nor is dropped (CJK, most symbols), it is copied.
      const uint32_t cp =
          (uint32_t{b} & 0x0F) << 12 | (uint32_t{s[i + 1]} & 0x3F) << 6 | (s[i + 2] & 0x3F);
      const uint32_t entry = internal::Entry(cp);
      if ((entry & 0xFFFFFFu) == 0 &&
          !(internal::EntryFlags(entry) & (internal::kFlagSpace | internal::kFlagIgnore))) {
        prev_space = false;
        std::memcpy(dst + o, s + i, 3);
        i += 3;
        o += 3;
        return;
      }
    }
    StepGeneric();
  }

  // Folds the HTML character reference at s[i] (internal::ReferenceAt) as the character it
  // names: one map entry, as for any change of length (a reference is longer than its
  // character). Returns false, changing nothing, when there is none to decode.
  __attribute__((noinline)) bool Reference() {
    uint32_t cp = 0;
    const uint32_t len = internal::ReferenceAt(s, n, i, &cp);
    if (len == 0) return false;
    const uint32_t entry = internal::Entry(cp);
    if (internal::EntryFlags(entry) & internal::kFlagSpace) {
      Space(len);
      return true;
    }
    prev_space = false;
    i += len;
    o += internal::EncodeUtf8(internal::EntryFold(cp, entry), dst + o);
    Note();
    return true;
  }

  __attribute__((noinline)) void StepGeneric() {
    uint32_t cp = 0;
    const uint32_t len = internal::DecodeMultiByte(s + i, n - i, &cp);
    if (len == 0) {
      prev_space = false;
      dst[o++] = '?';
      ++i;
      return;
    }
    const uint32_t entry = internal::Entry(cp);
    if (internal::EntryFlags(entry) & internal::kFlagSpace) {
      Space(len);
      return;
    }
    if (internal::EntryFlags(entry) & internal::kFlagIgnore) {
      Ignore(len);
      return;
    }
    prev_space = false;
    i += len;
    const uint32_t olen = internal::EncodeUtf8(internal::EntryFold(cp, entry), dst + o);
    o += olen;
    if (olen != len) Note();
  }
};

}  // namespace

// A block with an '&' goes one code point at a time, where Step reads the character reference
// that may start there. (Searching each field for an '&' first with memchr, and running the loop
// without these checks when it has none, was slower on this project's VM: the memchr pass cost
// more than the two compares per block; benchmarks/README.md, "HTML character references".)
void Fold(std::string_view text, FoldedText* out) {
  const size_t n = text.size();
  // A folded character is at most one byte longer than the original, and only for originals of
  // two or more bytes (checked by the table generator), so 1.5x bounds the output.
  out->Reserve(n + n / 2 + kStoreSlack);
  out->map_.clear();
  FoldState st{reinterpret_cast<const uint8_t*>(text.data()), n, out->data_.get(), &out->map_,
               TwoByteTable().data()};
  const uint8_t* const s = st.s;

  const __m128i k_a_minus_1 = _mm_set1_epi8('A' - 1);
  const __m128i k_z_plus_1 = _mm_set1_epi8('Z' + 1);
  const __m128i k_case_bit = _mm_set1_epi8(0x20);
  const __m128i k_space = _mm_set1_epi8(' ');
  const __m128i k_tab_minus_1 = _mm_set1_epi8('\t' - 1);
  const __m128i k_cr_plus_1 = _mm_set1_epi8('\r' + 1);
  // Bytes compared as signed: 0x80..0xBF (continuations) are < (int8)0xC0.
  const __m128i k_first_lead = _mm_set1_epi8(static_cast<char>(0xC0));
  const __m128i k_d0 = _mm_set1_epi8(static_cast<char>(0xD0));
  const __m128i k_d1 = _mm_set1_epi8(static_cast<char>(0xD1));
  const __m128i k_af = _mm_set1_epi8(static_cast<char>(0xAF));
  const __m128i k_90 = _mm_set1_epi8(static_cast<char>(0x90));
  const __m128i k_d2 = _mm_set1_epi8(static_cast<char>(0xD2));
  const __m128i k_d3 = _mm_set1_epi8(static_cast<char>(0xD3));
  const __m128i k_a0 = _mm_set1_epi8(static_cast<char>(0xA0));
  const __m128i k_91 = _mm_set1_epi8(static_cast<char>(0x91));
  const __m128i k_8f = _mm_set1_epi8(static_cast<char>(0x8F));
  const __m128i k_one = _mm_set1_epi8(1);
  // Two-byte lead bytes C2..DF, compared as signed: greater than C1 and less than E0.
  const __m128i k_c1 = _mm_set1_epi8(static_cast<char>(0xC1));
  const __m128i k_e0 = _mm_set1_epi8(static_cast<char>(0xE0));
  const __m128i k_amp = _mm_set1_epi8('&');

  while (st.i < n) {
    // Blocks of ASCII without a run of white space (most English text) in a loop of their own:
    // the general block code below spent ~70 instructions on such a block deciding its path.
    while (n - st.i >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + st.i));
      // Non-ASCII, or an '&' (a character reference?): decided at once.
      if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, k_amp))) != 0) break;
      const __m128i ws = _mm_or_si128(
          _mm_cmpeq_epi8(v, k_space),
          _mm_and_si128(_mm_cmpgt_epi8(v, k_tab_minus_1), _mm_cmplt_epi8(v, k_cr_plus_1)));
      const unsigned wm = static_cast<unsigned>(_mm_movemask_epi8(ws));
      if ((wm & ((wm << 1) | (st.prev_space ? 1u : 0u))) != 0) break;
      const __m128i upper =
          _mm_and_si128(_mm_cmpgt_epi8(v, k_a_minus_1), _mm_cmplt_epi8(v, k_z_plus_1));
      const __m128i lower = _mm_or_si128(v, _mm_and_si128(upper, k_case_bit));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(st.dst + st.o),
                       _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, k_space)));
      st.i += 16;
      st.o += 16;
      st.prev_space = (wm >> 15) != 0;
    }
    if (st.i >= n) break;
    if (n - st.i >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + st.i));
      if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, k_amp)) != 0) {
        // An '&': the block goes one code point at a time, where Step reads any character
        // reference (one may run past the block's end: Step finishes it).
        const size_t block_end = st.i + 16;
        while (st.i < block_end) st.Step();
        continue;
      }
      const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(v));
      // Bytes >= 0x80 are negative as int8, so they are never in 'A'..'Z' or '\t'..'\r'.
      const __m128i upper =
          _mm_and_si128(_mm_cmpgt_epi8(v, k_a_minus_1), _mm_cmplt_epi8(v, k_z_plus_1));
      const __m128i ws = _mm_or_si128(
          _mm_cmpeq_epi8(v, k_space),
          _mm_and_si128(_mm_cmpgt_epi8(v, k_tab_minus_1), _mm_cmplt_epi8(v, k_cr_plus_1)));
      const unsigned wm = static_cast<unsigned>(_mm_movemask_epi8(ws));
      // A space after a space collapses (the output gets shorter): not for the fast paths.
      const bool runs = (wm & ((wm << 1) | (st.prev_space ? 1u : 0u))) != 0;
      size_t advance = 16;
      bool fast = !runs;
      if (fast && high != 0) {
        // Cyrillic fast path: a block of ASCII and lowercase Russian letters (two-byte
        // sequences led by D0/D1 that fold to themselves) is copied with ASCII lowercased.
        const unsigned d0 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, k_d0)));
        const unsigned d1 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, k_d1)));
        const unsigned cont =
            static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, k_first_lead)));
        const unsigned leads = d0 | d1;
        // After D0 only B0..BF (а..п) folds to itself, after D1 only 80..8F (р..я); other
        // Cyrillic (capitals, Ё/ё, Kazakh letters under D2/D3) takes the scalar path.
        const unsigned ge_b0 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpgt_epi8(v, k_af)));
        const unsigned le_8f = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, k_90)));
        const unsigned bad_next = (((d0 << 1) & ~ge_b0) | ((d1 << 1) & ~le_8f)) & 0xFFFFu;
        fast = (high & ~cont & ~leads) == 0 &&      // no other lead bytes
               cont == ((leads << 1) & 0xFFFFu) &&  // continuations follow leads only
               bad_next == 0;
        // A lead in the last byte: store 16 bytes but advance 15; the next block redoes it.
        advance = 16 - (leads >> 15);
      }
      if (!fast && !runs && high != 0) {
        // Two-byte block path: every non-ASCII character of the block is two bytes long (Kazakh
        // letters, Russian capitals, Latin-1, Greek ...) and folds to two bytes that are not
        // white space. The block is stored with its ASCII folded, then each two-byte character
        // is overwritten with its fold from the table; any other character sends the block to
        // the scalar path, which rewrites it. Kazakh text left the Cyrillic path at every letter
        // under D2/D3 and every capital.
        const unsigned cont =
            static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, k_first_lead)));
        const unsigned leads = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, k_c1), _mm_cmplt_epi8(v, k_e0))));
        if ((high & ~cont) == leads && cont == ((leads << 1) & 0xFFFFu)) {
          // A lead in the last byte: its character is left to the next block.
          const size_t block_advance = 16 - (leads >> 15);
          const __m128i lower = _mm_or_si128(v, _mm_and_si128(upper, k_case_bit));
          const __m128i res = _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, k_space));
          char* const block_out = st.dst + st.o;
          _mm_storeu_si128(reinterpret_cast<__m128i*>(block_out), res);
          const uint8_t* const in = s + st.i;
          // Letters that fold to themselves need no lookup, told by their two bytes (bit p of
          // a `next` mask is the condition on byte p + 1): after D0 B0..BF (а..п); after D1
          // 80..9F but 91 (р..я, ѐ..џ with Kazakh і; ё folds to е); after D2 an odd byte
          // (U+0481..U+04BF: lowercase letters and combining marks, with Kazakh ғ қ ң ү ұ һ);
          // after D3 an odd byte from 90 (U+04D1..U+04FF lowercase, Kazakh ә ө). Checked
          // against the table for every two-byte code point by the tests.
          const auto mask = [](__m128i m) { return static_cast<unsigned>(_mm_movemask_epi8(m)); };
          const unsigned next_b0_bf = mask(_mm_cmpgt_epi8(v, k_af)) >> 1;
          const unsigned next_80_9f = mask(_mm_cmplt_epi8(v, k_a0)) >> 1;
          const unsigned next_91 = mask(_mm_cmpeq_epi8(v, k_91)) >> 1;
          const unsigned next_odd = mask(_mm_cmpeq_epi8(_mm_and_si128(v, k_one), k_one)) >> 1;
          const unsigned next_90_bf = mask(_mm_cmpgt_epi8(v, k_8f)) >> 1;
          const unsigned self = (mask(_mm_cmpeq_epi8(v, k_d0)) & next_b0_bf) |
                                (mask(_mm_cmpeq_epi8(v, k_d1)) & next_80_9f & ~next_91) |
                                (mask(_mm_cmpeq_epi8(v, k_d2)) & next_odd) |
                                (mask(_mm_cmpeq_epi8(v, k_d3)) & next_odd & next_90_bf);
          unsigned todo = leads & ~self & 0x7FFFu;
          bool folded = true;
          while (todo != 0) {
            const unsigned p = static_cast<unsigned>(__builtin_ctz(todo));
            todo &= todo - 1;
            const uint32_t cp = (uint32_t{in[p]} & 0x1F) << 6 | (in[p + 1] & 0x3F);
            const uint32_t packed = st.two_byte[cp];
            // Bits 30-31 (white space, dropped) clear and a length of two bytes.
            if ((packed >> 24) != 2) {
              folded = false;
              break;
            }
            std::memcpy(block_out + p, &packed, 2);
          }
          if (folded) {
            st.i += block_advance;
            st.o += block_advance;
            st.prev_space = (wm >> (block_advance - 1)) & 1;
            continue;
          }
        }
      }
      if (fast) {
        const __m128i lower = _mm_or_si128(v, _mm_and_si128(upper, k_case_bit));
        const __m128i res = _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, k_space));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(st.dst + st.o), res);
        st.i += advance;
        st.o += advance;
        st.prev_space = (wm >> (advance - 1)) & 1;
        continue;
      }
      if (high == 0) {
        // ASCII with space runs (hard-wrapped, indented news text): fold the block with SIMD,
        // then copy it around the bytes that collapse.
        // 32 bytes: the copies below read 16 bytes from any offset of the first 16.
        alignas(16) char tmp[32];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp + 16), _mm_setzero_si128());
        const __m128i lower = _mm_or_si128(v, _mm_and_si128(upper, k_case_bit));
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp),
                        _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, k_space)));
        const size_t block = st.i;
        unsigned drop = wm & ((wm << 1) | (st.prev_space ? 1u : 0u));
        unsigned j = 0;
        while (drop != 0) {
          const unsigned k = static_cast<unsigned>(__builtin_ctz(drop));
          // Copies 16 bytes, keeps k - j: fixed-size moves instead of a memcpy call.
          _mm_storeu_si128(reinterpret_cast<__m128i*>(st.dst + st.o),
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp + j)));
          st.o += k - j;
          const unsigned run_end = k + static_cast<unsigned>(__builtin_ctz(~(drop >> k)));
          st.i = block + run_end;
          st.Note();
          j = run_end;
          drop &= run_end >= 16 ? 0u : ~((1u << run_end) - 1);
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(st.dst + st.o),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp + j)));
        st.o += 16 - j;
        st.i = block + 16;
        st.prev_space = (wm >> 15) & 1;
        continue;
      }
      // Fold up to the end of this block one code point at a time (a character that straddles
      // the block end is finished too).
      const size_t block_end = st.i + 16;
      while (st.i < block_end) st.Step();
      continue;
    }
    st.Step();
  }
  out->size_ = st.o;
}

std::string FoldToString(std::string_view text) {
  FoldedText folded;
  Fold(text, &folded);
  return std::string(folded.text());
}

}  // namespace steppewatch::normalise
