// The fingerprint's token scan: the words and CJK characters of a span of folded text, as
// positions. Most text (ASCII, and 2-byte letters: Latin, Cyrillic, Greek) is classified a block
// at a time into a mask of word bytes, and word starts and ends come out of that mask with no
// branch per byte or per word; anything else (3- and 4-byte characters, brackets, slashes) goes
// through ScalarStep, which classifies the same bytes the same way, so the tokens do not depend
// on where the blocks fall or how wide they are (on valid UTF-8, what Fold writes).
//
// Three block kernels: 32 bytes with SSE2 (two 16-byte compares; any x86-64: the portable path),
// whose word starts and ends come from a table per byte of the masks; the same with AVX2 (one
// 32-byte compare set, and a path of its own for a block with no special byte); and 64 bytes with
// AVX-512BW, whose masked loads also take an item's last partial block (a title is one block),
// and whose VBMI2 byte compress writes a block's word starts and ends with no loop.
#include <immintrin.h>

#include <algorithm>
#include <array>

#include "stories/fingerprint_internal.h"

namespace steppewatch::stories::internal {
namespace {

enum ByteClass : uint8_t {
  kSep1,   // one byte, not part of a word (ASCII punctuation, space, stray continuation byte)
  kWord1,  // ASCII letter or digit
  kWord2,  // lead of a 2-byte letter (Latin, Cyrillic, Greek, Armenian, Hebrew, Arabic, ...)
  kSep2,   // lead 0xC2: U+0080..U+00BF, Latin-1 punctuation and symbols (« » © ° ...)
  kWord3,  // lead of a 3-byte letter outside CJK (Indic, Thai, Georgian, Hangul, ...)
  kSep3,   // U+2000..U+2FFF punctuation, symbols, arrows; U+E000..U+EFFF private use
  kE3,     // U+3000..U+3FFF: CJK punctuation (U+3000..U+303F), kana, CJK extension A
  kCjk3,   // U+4000..U+9FFF: CJK ideographs
  kEF,     // U+F000..U+FFFF: CJK compatibility ideographs, or fullwidth/compatibility punctuation
  kF0,     // 4-byte, plane 1-2: emoji and symbols (separators) or CJK extension ideographs
  kWord4,  // other 4-byte sequences
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t k = kSep1;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      k = kWord1;
    } else if (c == 0xC2) {
      k = kSep2;
    } else if (c >= 0xC3 && c <= 0xDF) {
      k = kWord2;
    } else if (c == 0xE2 || c == 0xEE) {
      k = kSep3;
    } else if (c == 0xE3) {
      k = kE3;
    } else if (c >= 0xE4 && c <= 0xE9) {
      k = kCjk3;
    } else if (c == 0xEF) {
      k = kEF;
    } else if (c == 0xE0 || c == 0xE1 || (c >= 0xEA && c <= 0xED)) {
      k = kWord3;
    } else if (c == 0xF0) {
      k = kF0;
    } else if (c >= 0xF1 && c <= 0xF4) {
      k = kWord4;
    }
    t[c] = k;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

// Finds the end of a bracketed span opened at p[i] within `limit` bytes, or returns 0.
inline size_t SpanEnd(const char* p, size_t i, size_t n, size_t limit, const char* close,
                      size_t close_len) {
  const size_t end = std::min(n, i + limit);
  for (size_t j = i + 1; j + close_len <= end; ++j) {
    if (std::memcmp(p + j, close, close_len) == 0) return j + close_len;
  }
  return 0;
}

// Where a scan is: tokens 0..ne-1 are complete; a word is open (from starts[ne]) when ns > ne.
struct ScanState {
  const char* p;
  size_t n;  // the span's end
  size_t i;
  uint32_t* starts;
  uint32_t* ends;
  size_t ns = 0, ne = 0;
  // With kEnds (ScanTokensWithEnds): where sentences end, as token counts (see there).
  uint32_t* sentence_ends = nullptr;
  size_t nsentence = 0;
  // kEnds: the bytes [skip_begin, skip_end) that the last ScalarStep skipped (a bracket or a
  // slashed word), for the caller to look for sentence ends in; skip_end 0: none.
  size_t skip_begin = 0, skip_end = 0;
};

// Records a sentence end after the tokens completed so far (kEnds).
inline void SentenceEndHere(ScanState& s) {
  s.sentence_ends[s.nsentence++] = static_cast<uint32_t>(s.ne);
}
// Notes a span [begin, end) skipped whole (kEnds).
inline void Skipped(ScanState& s, size_t begin, size_t end) {
  s.skip_begin = begin;
  s.skip_end = end;
}

// Handles the one character at s.i (or a bracketed span it opens). kEnds: also records the
// sentence ends that are SentenceEndsIn patterns starting at this character (a CJK full stop,
// exclamation or question mark), and notes a span it skips (Skipped): the caller looks for
// patterns inside it (a bracket or a slashed word lies inside the gap between two tokens, and
// no pattern crosses its edges: its first byte is no pattern's last, its last byte no
// pattern's first).
template <bool kDefault, bool kEnds = false>
inline void ScalarStep(ScanState& s, const FingerprintOptions& runtime) {
  const FingerprintOptions& o = kDefault ? kDefaultOptions : runtime;
  const char* p = s.p;
  const size_t n = s.n;
  size_t& i = s.i;
  const unsigned char c = static_cast<unsigned char>(p[i]);
  const uint8_t k = kClasses[c];
  if (k == kWord1 || (c >= 0x80 && c < 0xC0) || k == kWord2 || k == kWord3 || k == kWord4) {
    // A continuation byte here is the tail of a letter whose lead a block took.
    if (s.ns == s.ne) s.starts[s.ns++] = static_cast<uint32_t>(i);
    i += k == kWord2 ? 2 : k == kWord3 ? 3 : k == kWord4 ? 4 : 1;
    return;
  }
  if (s.ns != s.ne) s.ends[s.ne++] = static_cast<uint32_t>(i);
  if (k == kSep1) {
    // Credits and agency names in brackets ("(reuters)", "(reporting by ...; editing by
    // ...)", "[video]") are skipped when the bracket closes soon.
    if (o.skip_brackets && (c == '(' || c == '[')) {
      const char closing = c == '(' ? ')' : ']';
      if (size_t e = SpanEnd(p, i, n, o.bracket_bytes, &closing, 1)) {
        if (kEnds) Skipped(s, i, e);
        i = e;
        return;
      }
    }
    // An agency between slashes ("/тасс/", "/trend/"): one short word.
    if (o.skip_slashes && c == '/') {
      size_t e = i + 1;
      while (e < n && e < i + 24 && p[e] != '/' && p[e] != ' ') ++e;
      if (e < n && p[e] == '/' && e > i + 1) {
        if (kEnds) Skipped(s, i, e + 1);
        i = e + 1;
        return;
      }
    }
    ++i;
    return;
  }
  if (k == kSep2) {
    i += 2;
    return;
  }
  const unsigned char c1 = i + 1 < n ? static_cast<unsigned char>(p[i + 1]) : 0;
  const unsigned char c2 = i + 2 < n ? static_cast<unsigned char>(p[i + 2]) : 0;
  bool cjk = false;
  size_t len = 3;
  if (k == kE3) {
    cjk = c1 != 0x80;                                   // U+3000..U+303F is CJK punctuation
    if (o.skip_brackets && c1 == 0x80 && c2 == 0x90) {  // 【 ... 】
      if (size_t e = SpanEnd(p, i, n, o.bracket_bytes, "\xE3\x80\x91", 3)) {
        if (kEnds) Skipped(s, i, e);
        i = e;
        return;
      }
    }
    if (kEnds && c1 == 0x80 && c2 == 0x82) SentenceEndHere(s);  // U+3002
  } else if (k == kCjk3) {
    cjk = true;
  } else if (k == kEF) {
    cjk = c1 >= 0xA4 && c1 <= 0xAB;                     // U+F900..U+FAFF compatibility ideographs
    if (o.skip_brackets && c1 == 0xBC && c2 == 0x88) {  // （ ... ）
      if (size_t e = SpanEnd(p, i, n, o.bracket_bytes, "\xEF\xBC\x89", 3)) {
        if (kEnds) Skipped(s, i, e);
        i = e;
        return;
      }
    }
    if (kEnds && c1 == 0xBC && (c2 == 0x81 || c2 == 0x9F)) SentenceEndHere(s);  // U+FF01, U+FF1F
  } else if (k == kF0) {
    len = 4;
    cjk = c1 >= 0xA0 && c1 <= 0xAF;  // U+20000..U+2FFFF CJK extensions
  }
  // Each CJK character is a token of its own: Chinese has no spaces, so its "words" are the
  // character pairs (bigrams) the shingles make.
  if (cjk && i + len <= n) {
    s.starts[s.ns++] = static_cast<uint32_t>(i);
    s.ends[s.ne++] = static_cast<uint32_t>(i + len) | kCjkToken;
  }
  i += len;
}

// The positions of the set bits of each byte value, as four 32-bit lanes, and their count: a
// byte of a start or end mask has at most four (two starts, or two ends, are never adjacent: a
// start needs a separator before it, an end a word byte before it).
struct BytePositions {
  alignas(16) uint32_t pos[256][4];
  uint8_t count[256];
};
constexpr BytePositions MakeBytePositions() {
  BytePositions t{};
  for (int v = 0; v < 256; ++v) {
    int n = 0;
    for (int b = 0; b < 8; ++b) {
      if ((v >> b) & 1) {
        if (n < 4) t.pos[v][n] = static_cast<uint32_t>(b);
        ++n;
      }
    }
    t.count[v] = static_cast<uint8_t>(n);
  }
  return t;
}
inline constexpr BytePositions kBytePositions = MakeBytePositions();

// Writes the positions base + b of the set bits b of `bits` (32 bits, no two adjacent) at `out`
// with no branch, and returns the entry after the last: four entries per byte of the mask from
// kBytePositions, whatever its count (the arrays have kScanSlack entries to spare). A loop per
// set bit mispredicted its exit about once per mask (most of the portable scan's time).
inline uint32_t* AppendBits32(uint32_t bits, size_t base, uint32_t* out) {
  __m128i b = _mm_set1_epi32(static_cast<int>(base));
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const uint32_t byte = (bits >> (8 * q)) & 0xFF;
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(out),
        _mm_add_epi32(b,
                      _mm_load_si128(reinterpret_cast<const __m128i*>(kBytePositions.pos[byte]))));
    out += kBytePositions.count[byte];
    b = _mm_add_epi32(b, _mm_set1_epi32(8));
  }
  return out;
}

// Whether each byte of x lies in [lo, hi] (0 <= hi - lo < 255): x - lo as an unsigned byte is
// at most hi - lo, compared signed after moving 0 to -128. Two instructions instead of three.
inline __m128i InRange(__m128i x, int lo, int hi) {
  const __m128i t = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
  return _mm_cmplt_epi8(t, _mm_set1_epi8(static_cast<char>(hi - lo + 1 - 128)));
}

// The special and word bytes of the 16 bytes at q, as bit masks. Special: 0xC0..0xC2 and
// 0xE0..0xFF (bytes ScalarStep takes), and the skipped brackets and slashes. Word: ASCII letters
// and digits, and every byte >= 0x80 (its top bit, which the byte's own top bit gives movemask).
struct Masks16 {
  uint32_t special, word;
};
inline Masks16 Classify16(const char* q, bool brackets, bool slashes) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  __m128i special = _mm_or_si128(InRange(x, 0xE0, 0xFF), InRange(x, 0xC0, 0xC2));
  if (brackets) {
    special = _mm_or_si128(special, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('(')),
                                                 _mm_cmpeq_epi8(x, _mm_set1_epi8('['))));
  }
  if (slashes) special = _mm_or_si128(special, _mm_cmpeq_epi8(x, _mm_set1_epi8('/')));
  const __m128i word = _mm_or_si128(
      _mm_or_si128(InRange(x, '0', '9'), InRange(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z')),
      x);
  return {static_cast<uint32_t>(_mm_movemask_epi8(special)),
          static_cast<uint32_t>(_mm_movemask_epi8(word))};
}

// 32 bytes at a time (two 16-byte classifications, one set of 32-bit masks) while they hold
// only ASCII, 2-byte letters and no bracket or slash. The span's last partial block is read as
// the 32 (or, in a span shorter than 32 bytes, 16) bytes that end the span, its masks shifted
// down, so only a span shorter than 16 bytes goes a character at a time.
template <bool kDefault>
size_t ScanPortable(std::string_view text, TextSpan span, const FingerprintOptions& runtime,
                    uint32_t* starts, uint32_t* ends) {
  const FingerprintOptions& o = kDefault ? kDefaultOptions : runtime;
  ScanState s{text.data(), span.end, span.begin, starts, ends};
  const char* p = s.p;
  const size_t n = s.n;
  // The scan's position and ends in registers, written back to `s` only around ScalarStep
  // (in `s`, which ScalarStep takes by reference, they were loaded and stored every block, a
  // chain through memory from each block to the next; as counts, GCC 12 kept the two in one
  // vector register, moved out and back every block).
  size_t i = s.i;
  uint32_t* starts_end = starts;
  uint32_t* ends_end = ends;
  auto scalar_step = [&] {
    s.i = i;
    s.ns = static_cast<size_t>(starts_end - starts);
    s.ne = static_cast<size_t>(ends_end - ends);
    ScalarStep<kDefault>(s, o);
    i = s.i;
    starts_end = starts + s.ns;
    ends_end = ends + s.ne;
  };
  // Adds the word starts and ends of the `len` bytes at i whose masks are `special` and
  // `word`, up to the first special byte, which ScalarStep then takes.
  auto block = [&](uint32_t special, uint32_t word, unsigned len) __attribute__((always_inline)) {
    // Bytes before the first special one (all `len` when there is none).
    const unsigned take = special != 0 ? __builtin_ctz(special) : len;
    const uint32_t valid = static_cast<uint32_t>((uint64_t{1} << take) - 1);
    const uint32_t m = word & valid;
    // Bit j: byte j-1 is a word byte (a word is open when more have started than ended).
    const uint32_t before = (m << 1) | (starts_end - starts != ends_end - ends ? 1u : 0u);
    starts_end = AppendBits32(m & ~before, i, starts_end);
    ends_end = AppendBits32(~m & before & valid, i, ends_end);
    i += take;
    if (take < len) {
      // A special character, then a run of 3- and 4-byte characters (Chinese: all of it) one
      // character at a time, without a block per character (as the AVX-512 scan does; with a
      // 32-byte block per character, Chinese items took half as long again as with 16).
      do {
        scalar_step();
      } while (i < n && static_cast<unsigned char>(p[i]) >= 0xE0);
    }
  };
  while (i < n) {
    const size_t rest = n - i;
    if (rest >= 32) [[likely]] {
      const Masks16 a = Classify16(p + i, o.skip_brackets, o.skip_slashes);
      const Masks16 b = Classify16(p + i + 16, o.skip_brackets, o.skip_slashes);
      block(a.special | b.special << 16, a.word | b.word << 16, 32);
    } else if (n >= 32) {
      // The 32 bytes that end the span, of which the first `shift` are before i.
      const unsigned shift = static_cast<unsigned>(32 - rest);
      const Masks16 a = Classify16(p + n - 32, o.skip_brackets, o.skip_slashes);
      const Masks16 b = Classify16(p + n - 16, o.skip_brackets, o.skip_slashes);
      block((a.special | b.special << 16) >> shift, (a.word | b.word << 16) >> shift,
            static_cast<unsigned>(rest));
    } else if (n >= 16) {
      // The 16 bytes at i, or the 16 that end the span, of which the first `shift` are before i.
      const unsigned shift = rest >= 16 ? 0 : static_cast<unsigned>(16 - rest);
      const Masks16 a = Classify16(p + i - shift, o.skip_brackets, o.skip_slashes);
      block(a.special >> shift, a.word >> shift, 16 - shift);
    } else {
      scalar_step();
    }
  }
  if (starts_end - starts != ends_end - ends) *ends_end++ = static_cast<uint32_t>(n);
  return static_cast<size_t>(ends_end - ends);
}

#define STEPPEWATCH_AVX512_SCAN \
  __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi,bmi2")))

// The AVX-512 scan's byte classes, from one VBMI byte permute of the block (which reads the low
// 7 bits of each byte): entry j has kAsciiWord when byte j is an ASCII letter or digit,
// kAsciiSpecial when byte j is a bracket or slash the options skip, and kHighSpecial when byte
// j + 0x80 is special (0xC0..0xC2, 0xE0..0xFF). Bytes >= 0x80 are word bytes (2-byte letters)
// unless special; which half of an entry counts is picked by the byte's top bit. The same
// classes as the compares they replace, in 6 instructions instead of ~14 and no mask moves
// (benchmarks/README.md, "Round fp1us, 2026-12-04 night").
// kAsciiMark: '.', '!' and '?' (the first byte of an ASCII sentence end, SentenceEndsIn; only for
// bytes < 0x80).
inline constexpr uint8_t kAsciiWord = 1, kAsciiSpecial = 2, kHighSpecial = 4, kAsciiMark = 8;
struct ScanClasses {
  alignas(64) uint8_t entry[128];
};
constexpr ScanClasses MakeScanClasses(bool brackets, bool slashes) {
  ScanClasses t{};
  for (int j = 0; j < 128; ++j) {
    uint8_t k = 0;
    if ((j >= '0' && j <= '9') || (j >= 'a' && j <= 'z') || (j >= 'A' && j <= 'Z')) k |= kAsciiWord;
    if ((brackets && (j == '(' || j == '[')) || (slashes && j == '/')) k |= kAsciiSpecial;
    if (j + 0x80 >= 0xE0 || (j + 0x80 >= 0xC0 && j + 0x80 <= 0xC2)) k |= kHighSpecial;
    if (j == '.' || j == '!' || j == '?') k |= kAsciiMark;
    t.entry[j] = k;
  }
  return t;
}
// Indexed by skip_brackets * 2 + skip_slashes.
inline constexpr ScanClasses kScanClasses[4] = {
    MakeScanClasses(false, false), MakeScanClasses(false, true), MakeScanClasses(true, false),
    MakeScanClasses(true, true)};

alignas(64) inline constexpr std::array<uint8_t, 64> kIota = [] {
  std::array<uint8_t, 64> t{};
  for (int j = 0; j < 64; ++j) t[j] = static_cast<uint8_t>(j);
  return t;
}();

// Writes the positions base + b of the set bits b of `bits` (at most 32) to out[*count...],
// with no loop: VBMI2 compresses the bit indexes into bytes, which widen to 32 bits. Writes 32
// entries whatever the count (the arrays have kScanSlack entries to spare).
STEPPEWATCH_AVX512_SCAN inline void CompressBits(uint64_t bits, size_t base, uint32_t* out,
                                                 size_t* count) {
  const __m512i packed = _mm512_maskz_compress_epi8(
      bits, _mm512_load_si512(reinterpret_cast<const void*>(kIota.data())));
  const __m512i b = _mm512_set1_epi32(static_cast<int>(base));
  // The zero-masked forms: GCC 12 warns about the unmasked ones' undefined pass-through.
  const __m128i low = _mm512_maskz_extracti32x4_epi32(0xF, packed, 0);
  uint32_t* dst = out + *count;
  _mm512_storeu_si512(dst, _mm512_add_epi32(b, _mm512_maskz_cvtepu8_epi32(0xFFFF, low)));
  const int found = __builtin_popcountll(bits);
  if (found > 16) [[unlikely]] {  // more than 16 words start in 64 bytes: rare in any language
    const __m128i high = _mm512_maskz_extracti32x4_epi32(0xF, packed, 1);
    _mm512_storeu_si512(dst + 16, _mm512_add_epi32(b, _mm512_maskz_cvtepu8_epi32(0xFFFF, high)));
  }
  *count += static_cast<size_t>(found);
}

// kEnds: records the sentence ends among a block's bytes: `stop` has bit j set when byte j is
// the space of a ". ", "! " or "? " (its mark in this block or, for j = 0, the last byte of the
// block before), `ended` bit j when a token ends at byte j, and `ne` is how many tokens ended
// before the block. A stop follows those tokens and the ones whose end bit is below its own.
// The first two stops with no branch (a block has none or one most of the time), in general
// registers beside the vector work; a third or more in a loop. Writes two entries whatever the
// count.
STEPPEWATCH_AVX512_SCAN inline void BlockSentenceEnds(ScanState& s, uint64_t stop, uint64_t ended,
                                                      size_t ne) {
  uint32_t* out = s.sentence_ends;
  size_t n = s.nsentence;
  auto before = [&](uint64_t at) STEPPEWATCH_AVX512_SCAN {
    return static_cast<uint32_t>(ne + __builtin_popcountll(_bzhi_u64(ended, _tzcnt_u64(at))));
  };
  out[n] = before(stop);
  n += stop != 0;
  stop = _blsr_u64(stop);
  out[n] = before(stop);
  n += stop != 0;
  for (stop = _blsr_u64(stop); stop != 0; stop = _blsr_u64(stop)) out[n++] = before(stop);
  s.nsentence = n;
}

// Whether a SentenceEndsIn pattern lies inside p[0, len), by byte compares on at most two
// 64-byte blocks (bytes past len read as 0, which no pattern has) instead of a loop per byte.
STEPPEWATCH_AVX512_SCAN inline bool PatternInside(const char* p, size_t len) {
  if (len > 128) [[unlikely]] {
    return SentenceEndsIn(p, len);
  }
  const uint64_t load0 =
      len >= 64 ? ~uint64_t{0} : _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(len));
  const uint64_t load1 = len <= 64 ? 0 : _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(len - 64));
  const __m512i x0 = _mm512_maskz_loadu_epi8(load0, p);
  const __m512i x1 = _mm512_maskz_loadu_epi8(load1, p + 64);
  // Byte masks of the 128 bytes as two halves, and the same moved down by one and two bytes.
  struct Bits {
    uint64_t lo, hi;
  };
  auto eq = [&](int c) STEPPEWATCH_AVX512_SCAN {
    const __m512i v = _mm512_set1_epi8(static_cast<char>(c));
    return Bits{_mm512_cmpeq_epi8_mask(x0, v), _mm512_cmpeq_epi8_mask(x1, v)};
  };
  auto next = [](Bits b, int k) { return Bits{(b.lo >> k) | (b.hi << (64 - k)), b.hi >> k}; };
  auto both = [](Bits a, Bits b) { return Bits{a.lo & b.lo, a.hi & b.hi}; };
  auto either = [](Bits a, Bits b) { return Bits{a.lo | b.lo, a.hi | b.hi}; };
  const Bits ascii = both(either(either(eq('.'), eq('!')), eq('?')), next(eq(' '), 1));
  const Bits stop = both(both(eq(0xE3), next(eq(0x80), 1)), next(eq(0x82), 2));
  const Bits full = both(both(eq(0xEF), next(eq(0xBC), 1)), next(either(eq(0x81), eq(0x9F)), 2));
  const Bits any = either(either(ascii, stop), full);
  return (any.lo | any.hi) != 0;
}

template <bool kDefault, bool kEnds = false>
STEPPEWATCH_AVX512_SCAN size_t ScanAvx512(std::string_view text, TextSpan span,
                                          const FingerprintOptions& runtime, uint32_t* starts,
                                          uint32_t* ends, uint32_t* sentence_ends = nullptr,
                                          size_t* sentence_count = nullptr) {
  const FingerprintOptions& o = kDefault ? kDefaultOptions : runtime;
  ScanState s{text.data(), span.end, span.begin, starts, ends};
  s.sentence_ends = sentence_ends;
  const char* p = s.p;
  const size_t n = s.n;
  const ScanClasses& classes = kScanClasses[(o.skip_brackets ? 2 : 0) + (o.skip_slashes ? 1 : 0)];
  const __m512i classes_lo = _mm512_load_si512(classes.entry);
  const __m512i classes_hi = _mm512_load_si512(classes.entry + 64);
  // A block's word and special bytes (from one byte permute: kScanClasses) and the bytes it
  // has (`load`; bytes past the span read as 0, a separator, and fault nowhere).
  struct Block {
    uint64_t word, special, load;
    uint64_t mark, space;  // kEnds: its '.', '!', '?' and ' ' bytes
  };
  auto classify = [&](size_t at) STEPPEWATCH_AVX512_SCAN {
    const size_t avail = n - at;
    Block b;
    b.load = avail >= 64 ? ~uint64_t{0} : _bzhi_u64(~uint64_t{0}, avail);
    const __m512i x = _mm512_maskz_loadu_epi8(b.load, p + at);
    const __m512i cls = _mm512_permutex2var_epi8(classes_lo, x, classes_hi);
    const __mmask64 high = _mm512_movepi8_mask(x);
    b.special =
        _mm512_test_epi8_mask(cls, _mm512_mask_blend_epi8(high, _mm512_set1_epi8(kAsciiSpecial),
                                                          _mm512_set1_epi8(kHighSpecial)));
    b.word = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(kAsciiWord)) | high;
    if constexpr (kEnds) {
      b.mark = _mm512_mask_test_epi8_mask(~high, cls, _mm512_set1_epi8(kAsciiMark));
      b.space = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(' '));
    }
    return b;
  };
  Block next{};
  if (s.i < n) next = classify(s.i);
  uint64_t mark_before = 0;  // kEnds: whether the byte before the block is a mark (bit 0)
  while (s.i < n) {
    const Block cur = next;
    const uint64_t word = cur.word;
    if (cur.special == 0) [[likely]] {
      // The next block is classified before this one's positions are written, so its load
      // and permute are issued ahead of this block's compresses (the same software pipelining
      // as the feature loop's).
      if (s.i + 64 < n) next = classify(s.i + 64);
      // The whole block (or the rest of the span), on a path of its own: where the next block
      // starts does not wait for this block's bytes, so its load is not serialised behind
      // this one's (as one path with `take` from the special mask, the loads waited on each
      // other: two thirds of the scan's time).
      const uint64_t m = word;  // zero past the span
      const uint64_t before = (m << 1) | (s.ns != s.ne ? 1u : 0u);
      const uint64_t ended = ~m & before & cur.load;
      const size_t ne = s.ne;
      CompressBits(m & ~before, s.i, s.starts, &s.ns);
      CompressBits(ended, s.i, s.ends, &s.ne);
      if constexpr (kEnds) {
        BlockSentenceEnds(s, ((cur.mark << 1) | mark_before) & cur.space, ended, ne);
        mark_before = cur.mark >> 63;  // the next block starts right after this one
      }
      s.i += 64;  // past n only after the span's last block
      continue;
    }
    // The bytes before the first special one, then the special character.
    const size_t take = _tzcnt_u64(cur.special);
    const uint64_t valid = _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(take));
    const uint64_t m = word & valid;
    const uint64_t before = (m << 1) | (s.ns != s.ne ? 1u : 0u);
    const uint64_t ended = ~m & before & valid;
    const size_t ne = s.ne;
    CompressBits(m & ~before, s.i, s.starts, &s.ns);
    CompressBits(ended, s.i, s.ends, &s.ne);
    if constexpr (kEnds) {
      BlockSentenceEnds(s, ((cur.mark << 1) | mark_before) & cur.space & valid, ended, ne);
      // What ScalarStep takes ends in no mark (a special character, a bracket's or slash's
      // close), so the next block starts after none.
      mark_before = 0;
    }
    s.i += take;
    // A special character, then a run of 3- and 4-byte characters (Chinese: all of it) one
    // character at a time, without a 64-byte block per character.
    do {
      ScalarStep<kDefault, kEnds>(s, o);
      if constexpr (kEnds) {
        if (s.skip_end != 0) [[unlikely]] {
          s.sentence_ends[s.nsentence] = static_cast<uint32_t>(s.ne);
          s.nsentence += PatternInside(p + s.skip_begin, s.skip_end - s.skip_begin);
          s.skip_end = 0;
        }
      }
    } while (s.i < n && static_cast<unsigned char>(p[s.i]) >= 0xE0);
    if (s.i < n) next = classify(s.i);
  }
  if (s.ns != s.ne) s.ends[s.ne++] = static_cast<uint32_t>(n);
  if constexpr (kEnds) *sentence_count = s.nsentence;
  return s.ne;
}

// ---- The AVX2 kernel (machines without AVX-512) ----------------------------------------------
// The portable scan's blocks, tables and ScalarStep, with a block's 32 bytes classified by one
// set of 256-bit compares instead of two of 128 bits (half the vector instructions; Zen 1 runs
// each as two 128-bit operations), and a whole block with no special byte on a path of its own
// (ScanAvx2). The rest of the AVX2 kernel is the portable one's code (benchmarks/README.md,
// "Round avx2": what was tried for the hashes and the bins, and lost on Zen 1).
// Every function of the kernel is compiled for AVX2 (clang's pragma where the build uses clang:
// the thread-safety analysis and the fuzz targets).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,bmi,bmi2,popcnt"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2,popcnt")
// Without this GCC 12 keeps the two output pointers in one vector register for AVX2, moved out
// and back every block (the hottest instructions of the scan).
#pragma GCC optimize("no-tree-slp-vectorize")
#endif

// InRange on 32 bytes.
inline __m256i InRange32(__m256i x, int lo, int hi) {
  const __m256i t = _mm256_add_epi8(x, _mm256_set1_epi8(static_cast<char>(0x80 - lo)));
  return _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(hi - lo + 1 - 128)), t);
}

// Classify16 on 32 bytes (the same masks).
struct Masks32 {
  uint32_t special, word;
};
inline Masks32 Classify32(const char* q, bool brackets, bool slashes) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  __m256i special = _mm256_or_si256(InRange32(x, 0xE0, 0xFF), InRange32(x, 0xC0, 0xC2));
  if (brackets) {
    special =
        _mm256_or_si256(special, _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('(')),
                                                 _mm256_cmpeq_epi8(x, _mm256_set1_epi8('['))));
  }
  if (slashes) special = _mm256_or_si256(special, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('/')));
  const __m256i word = _mm256_or_si256(
      _mm256_or_si256(InRange32(x, '0', '9'),
                      InRange32(_mm256_or_si256(x, _mm256_set1_epi8(0x20)), 'a', 'z')),
      x);
  return {static_cast<uint32_t>(_mm256_movemask_epi8(special)),
          static_cast<uint32_t>(_mm256_movemask_epi8(word))};
}

// ScanPortable with Classify32 and a path of its own for a whole block without a special byte
// (the same tokens: the same masks and ScalarStep). In the portable scan the next block's
// position waits for this block's bytes (i += take, take from the special mask) and whether a
// word is open for the output counts: a chain of ~20 cycles per block. Here a block with no
// special byte (most of any text but Chinese) moves on by 32 under a predicted branch, and the
// open word is the block's last word bit, so the next block's load and compares start at once.
template <bool kDefault>
size_t ScanAvx2(std::string_view text, TextSpan span, const FingerprintOptions& runtime,
                uint32_t* starts, uint32_t* ends) {
  const FingerprintOptions& o = kDefault ? kDefaultOptions : runtime;
  ScanState s{text.data(), span.end, span.begin, starts, ends};
  const char* p = s.p;
  const size_t n = s.n;
  size_t i = s.i;
  uint32_t* starts_end = starts;
  uint32_t* ends_end = ends;
  uint32_t open = 0;  // 1 when a word is open at i (more starts than ends so far)
  auto scalar_step = [&] {
    s.i = i;
    s.ns = static_cast<size_t>(starts_end - starts);
    s.ne = static_cast<size_t>(ends_end - ends);
    ScalarStep<kDefault>(s, o);
    i = s.i;
    starts_end = starts + s.ns;
    ends_end = ends + s.ne;
  };
  auto block = [&](uint32_t special, uint32_t word, unsigned len) __attribute__((always_inline)) {
    const unsigned take = special != 0 ? _tzcnt_u32(special) : len;
    const uint32_t valid = static_cast<uint32_t>(_bzhi_u64(~uint64_t{0}, take));
    const uint32_t m = word & valid;
    const uint32_t before = (m << 1) | open;
    starts_end = AppendBits32(m & ~before, i, starts_end);
    ends_end = AppendBits32(~m & before & valid, i, ends_end);
    i += take;
    if (take < len) {
      do {
        scalar_step();
      } while (i < n && static_cast<unsigned char>(p[i]) >= 0xE0);
    }
    open = starts_end - starts != ends_end - ends ? 1u : 0u;
  };
  while (i < n) {
    const size_t rest = n - i;
    if (rest >= 32) [[likely]] {
      const Masks32 a = Classify32(p + i, o.skip_brackets, o.skip_slashes);
      if (a.special == 0) [[likely]] {
        const uint32_t m = a.word;
        const uint32_t before = (m << 1) | open;
        starts_end = AppendBits32(m & ~before, i, starts_end);
        ends_end = AppendBits32(~m & before, i, ends_end);
        open = m >> 31;
        i += 32;
        continue;
      }
      block(a.special, a.word, 32);
    } else if (n >= 32) {
      const unsigned shift = static_cast<unsigned>(32 - rest);
      const Masks32 a = Classify32(p + n - 32, o.skip_brackets, o.skip_slashes);
      block(a.special >> shift, a.word >> shift, static_cast<unsigned>(rest));
    } else if (n >= 16) {
      const unsigned shift = rest >= 16 ? 0 : static_cast<unsigned>(16 - rest);
      const Masks16 a = Classify16(p + i - shift, o.skip_brackets, o.skip_slashes);
      block(a.special >> shift, a.word >> shift, 16 - shift);
    } else {
      scalar_step();
      open = starts_end - starts != ends_end - ends ? 1u : 0u;
    }
  }
  if (open) *ends_end++ = static_cast<uint32_t>(n);
  return static_cast<size_t>(ends_end - ends);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

}  // namespace

template <bool kDefault>
size_t ScanTokens(Kernel kernel, std::string_view text, TextSpan span, const FingerprintOptions& o,
                  uint32_t* starts, uint32_t* ends) {
  span.end = std::min<size_t>(span.end, kEndMask);  // positions and the CJK flag share 32 bits
  if (span.begin >= span.end) return 0;
  if (kernel == Kernel::kAvx512) return ScanAvx512<kDefault>(text, span, o, starts, ends);
  if (kernel == Kernel::kAvx2) return ScanAvx2<kDefault>(text, span, o, starts, ends);
  return ScanPortable<kDefault>(text, span, o, starts, ends);
}

size_t ScanTokensWithEnds(std::string_view text, TextSpan span, uint32_t* starts, uint32_t* ends,
                          uint32_t* sentence_ends, size_t* sentence_count) {
  *sentence_count = 0;
  span.end = std::min<size_t>(span.end, kEndMask);
  if (span.begin >= span.end) return 0;
  return ScanAvx512<true, true>(text, span, kDefaultOptions, starts, ends, sentence_ends,
                                sentence_count);
}

template size_t ScanTokens<true>(Kernel, std::string_view, TextSpan, const FingerprintOptions&,
                                 uint32_t*, uint32_t*);
template size_t ScanTokens<false>(Kernel, std::string_view, TextSpan, const FingerprintOptions&,
                                  uint32_t*, uint32_t*);

}  // namespace steppewatch::stories::internal
