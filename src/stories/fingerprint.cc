// The near-duplicate fingerprint: the features of the folded title and body (words, word pairs,
// CJK characters and character pairs, found 16 bytes at a time where the text allows) go into a
// one-permutation MinHash of 64 one-bit bins (MinHashBins below). SimHash over the same features
// is kept for the evaluation that chose between them (internal::Method::kSimHash): a portable
// bit-sliced counter kernel and an AVX-512BW one picked at run time, which count exactly, so
// they give the same fingerprint.
#include "steppewatch/stories/fingerprint.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "steppewatch/normalise/fold.h"

namespace steppewatch::stories {
namespace internal {
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

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;

inline uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Reads the n (1..8) bytes at p as a little-endian integer. One 8-byte load, masked, whenever it
// stays inside the text (a memcpy of a variable length is a library call).
inline uint64_t LoadTail(const char* p, size_t n, const char* end) {
  if (end - p >= 8) {
    const uint64_t v = Load8(p);
    return n >= 8 ? v : v & ((uint64_t{1} << (8 * n)) - 1);
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// Derives a feature hash from a token hash (already well mixed by HashToken): one multiply and a
// fold of the high half into the low half, so every bit depends on the whole input (both
// sketches need fair, independent bits: MinHash takes its bin from the top 6 and its minimum
// from the rest, SimHash counts each bit).
inline uint64_t Feature(uint64_t x) {
  x *= 0xD6E8FEB86659FD93ull;
  return x ^ (x >> 32);
}

// Hashes a token's bytes 8 at a time (tokens are short: no per-byte loop, no allocation).
inline uint64_t HashToken(const char* p, size_t n, const char* end) {
  uint64_t h = n * kMul1;
  while (n > 8) {
    h = (h ^ Load8(p)) * kMul2;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  h = (h ^ LoadTail(p, n, end)) * kMul2;
  return h ^ (h >> 29);
}

// Finds the end of a bracketed span opened at p[i] within `limit` bytes, or returns 0.
inline size_t SpanEnd(const char* p, size_t i, size_t n, size_t limit, const char* close,
                      size_t close_len) {
  const size_t end = std::min(n, i + limit);
  for (size_t j = i + 1; j + close_len <= end; ++j) {
    if (std::memcmp(p + j, close, close_len) == 0) return j + close_len;
  }
  return 0;
}

// Returns the position where the last sentence of p[i, n) starts (after its '.', '!', '?' or
// 。), or 0 when no such cut keeps min_kept bytes after i and drops at most max_dropped bytes (0:
// any). Out of line: it runs once per body, and keeping it out of Features keeps the word loop's
// code as it was.
__attribute__((noinline)) size_t LastSentenceStart(const char* p, size_t i, size_t n,
                                                   size_t min_kept, size_t max_dropped) {
  auto ends_sentence = [p](size_t j) {
    const unsigned char c = static_cast<unsigned char>(p[j]);
    return c == '.' || c == '!' || c == '?' ||
           (c == 0x82 && j >= 2 && p[j - 2] == '\xE3' && p[j - 1] == '\x80');  // 。
  };
  size_t e = n;
  while (e > i && (p[e - 1] == ' ' || ends_sentence(e - 1))) --e;
  // Only a sentence end at or above `lo` can give a cut that keeps min_kept_bytes and drops at
  // most max_dropped_bytes: the scan stops there (a one-line item is not read twice).
  size_t lo = i;
  if (min_kept > 0) lo = std::max(lo, i + min_kept - 1);
  if (max_dropped != 0 && n > max_dropped + 1) {
    lo = std::max(lo, n - max_dropped - 1);
  }
  size_t cut = 0;
  auto is_cut = [&](size_t j) { return ends_sentence(j) && (p[j + 1] == ' ' || p[j] == '\x82'); };
  // 16 bytes at a time from the end: a mask of the bytes that can end a sentence.
  size_t j = e;
  while (cut == 0 && j >= lo + 16) {
    const size_t at = j - 16;
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')), _mm_cmpeq_epi8(x, _mm_set1_epi8('!'))),
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')),
                     _mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0x82)))));
    for (uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(hit)); m != 0;) {
      const int b = 31 - __builtin_clz(m);
      m &= ~(1u << b);
      if (is_cut(at + b)) {
        cut = at + b + 1;
        break;
      }
    }
    j = at;
  }
  for (; cut == 0 && j > lo; --j) {
    if (is_cut(j - 1)) cut = j;
  }
  return cut;
}

}  // namespace

// Calls emit(hash) once per unit of weight of each feature of `text`.
inline constexpr FingerprintOptions kDefaultOptions{};

// kDefault: use kDefaultOptions (constants the compiler folds: Fingerprinter's path), else
// `runtime` (the evaluation tool's).
// `first_line`: the length of the body's first line in the folded text (0: no line break known).
template <bool kDefault, class Emit>
inline bool Features(std::string_view text, bool is_title, const FingerprintOptions& runtime,
                     Emit&& emit, size_t first_line = 0) {
  const FingerprintOptions& o = kDefault ? kDefaultOptions : runtime;
  const char* p = text.data();
  size_t n = std::min(text.size(), is_title ? o.max_title_bytes : o.max_body_bytes);
  const int field_weight = is_title ? o.title_weight : 1;
  if (field_weight <= 0) return true;
  size_t i = 0;
  if (is_title && o.title_suffix_bytes != 0) {
    // Only the title's tail can hold a tag short enough: the last separator there, byte by byte
    // (string_view::rfind compares at every position through a library call).
    const size_t from = n > o.title_suffix_bytes + 3 ? n - o.title_suffix_bytes - 3 : 1;
    for (size_t k = n; k-- > from;) {
      size_t sep = 0;
      if (p[k] == '_') {
        sep = 1;
      } else if (p[k] == ' ' && k + 2 < n && (p[k + 1] == '-' || p[k + 1] == '|') &&
                 p[k + 2] == ' ') {
        sep = 3;
      }
      if (sep != 0) {
        if (n - k - sep <= o.title_suffix_bytes) n = k;
        break;
      }
    }
  }
  if (is_title && o.title_prefix_bytes != 0) {
    const std::string_view head(p, std::min(n, o.title_prefix_bytes + 2));
    size_t at = head.find(": ");
    size_t len = 2;
    if (at == std::string_view::npos) {
      at = head.find("\xEF\xBC\x9A");  // ：
      len = 3;
    }
    if (at != std::string_view::npos && at > 0 && at + len < n) i = at + len;
  }
  if (o.strip_dateline && !is_title) {
    // A wire dateline ("almaty, nov 20 (reuters) - ", "астана. kazinform - ") is a short
    // leading segment that ends with a dash between spaces (Fold turns – and — into -).
    // Repeated: a copy of a copy carries two datelines, and a copy's dateline stands before
    // the original's own first dash (a Kazakh copula, "оның бірі - дәрігер"), which the
    // original loses too, so both keep the same text.
    for (int round = 0; round < o.dateline_rounds; ++round) {
      const size_t limit = std::min(n, i + o.dateline_bytes);
      bool found = false;
      for (size_t j = i + 1; j + 1 < limit; ++j) {
        if (p[j] == '-' && p[j - 1] == ' ' && (p[j + 1] == ' ' || p[j + 1] == '-')) {
          size_t e = j + 1;
          while (e < n && (p[e] == '-' || p[e] == ' ')) ++e;
          i = e;
          found = true;
          break;
        }
      }
      if (!found) break;
    }
    // Chinese wire datelines end with 日电 ("dispatch of day ...": "新华社阿斯塔纳11月20日电").
    for (int round = 0; round < o.dateline_rounds && o.strip_cjk_dateline; ++round) {
      const std::string_view head(p + i, std::min(n - i, o.dateline_bytes));
      const size_t at = head.find("\xE6\x97\xA5\xE7\x94\xB5");
      if (at == std::string_view::npos) break;
      i += at + 6;
    }
  }
  if (!is_title && o.byline_bytes != 0 && first_line > i && first_line < n) {
    // What stays of the first line after the dateline: a byline when it is short, ends without
    // punctuation (a wrapped sentence ends in a word or a comma, a short lead-in in a colon)
    // and the rest of the body is longer.
    size_t e = first_line;
    while (e > i && p[e - 1] == ' ') --e;
    const char last = e > i ? p[e - 1] : '\0';
    const bool punctuated = last == '.' || last == '!' || last == '?' || last == ':' ||
                            last == ';' || last == ',' ||
                            (e >= i + 3 && std::string_view(p + e - 3, 3) == "\xE3\x80\x82");  // 。
    if (e > i && e - i <= o.byline_bytes && !punctuated && n - first_line > e - i) {
      i = first_line;
    }
  }
  if (!is_title && o.drop_last_sentence) {
    // After the dateline: a dateline is no sentence of the story, and what stays must be story.
    // The last sentence starts after the last '.', '!' or '?' followed by a space, or after the
    // last 。 (Chinese has no space after it), not counting the body's own final punctuation.
    const size_t cut = LastSentenceStart(p, i, n, o.min_kept_bytes, o.max_dropped_bytes);
    const bool drop = cut != 0 && cut - i >= o.min_kept_bytes &&
                      (o.max_dropped_bytes == 0 || n - cut <= o.max_dropped_bytes);
    if (drop) {
      n = cut;
    } else if (!o.drop_last_or_whole) {
      return false;
    }
  }
  uint64_t prev1 = 0, prev2 = 0;
  bool prev_cjk = false;
  int have = 0;
  const bool limit_tokens = !is_title && o.max_body_tokens != 0;
  size_t tokens_left = o.max_body_tokens;
  auto token = [&](uint64_t th, bool cjk) {
    if (limit_tokens) {
      if (tokens_left == 0) return;
      --tokens_left;
    }
    if constexpr (kDefault) {
      // Every weight of the defaults is 1 (and no triples): one feature each, no loops.
      static_assert(kDefaultOptions.unigram_weight == 1 && kDefaultOptions.bigram_weight == 1 &&
                    kDefaultOptions.trigram_weight == 0 &&
                    kDefaultOptions.cjk_unigram_weight == 1 &&
                    kDefaultOptions.cjk_bigram_weight == 1 && kDefaultOptions.title_weight == 1);
      emit(Feature(th + 0x1111));
      if (have) emit(Feature(prev1 * kMul1 + th + 0x2222));
      prev1 = th;
      have = 1;
      return;
    }
    const int uw = field_weight * (cjk ? o.cjk_unigram_weight : o.unigram_weight);
    for (int r = 0; r < uw; ++r) emit(Feature(th + 0x1111 + r * kMul2));
    if (have >= 1) {
      const int bw = field_weight * (cjk && prev_cjk ? o.cjk_bigram_weight : o.bigram_weight);
      for (int r = 0; r < bw; ++r) emit(Feature(prev1 * kMul1 + th + 0x2222 + r * kMul2));
    }
    if (have >= 2) {
      const int tw = field_weight * o.trigram_weight;
      for (int r = 0; r < tw; ++r) {
        emit(Feature((prev2 * kMul1 + prev1) * kMul1 + th + 0x3333 + r * kMul2));
      }
    }
    prev2 = prev1;
    prev1 = th;
    prev_cjk = cjk;
    if (have < 2) ++have;
  };
  // A word is a run of word bytes: ASCII letters and digits, and the bytes of 2-, 3- and 4-byte
  // letters outside CJK. `open` says whether a word runs up to i, from `start`.
  bool open = false;
  size_t start = 0;
  auto close = [&](size_t e) {
    open = false;
    e = std::min(e, n);  // a sequence cut by max_*_bytes
    if (e - start >= o.min_token_bytes) token(HashToken(p + start, e - start, p + n), false);
  };
  // Handles the one character at i (or a bracketed span it opens).
  auto scalar_step = [&] {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    const uint8_t k = kClasses[c];
    if (k == kWord1 || (c >= 0x80 && c < 0xC0) || k == kWord2 || k == kWord3 || k == kWord4) {
      // A continuation byte here is the tail of a letter whose lead the 16-byte path took.
      if (!open) {
        open = true;
        start = i;
      }
      i += k == kWord2 ? 2 : k == kWord3 ? 3 : k == kWord4 ? 4 : 1;
      return;
    }
    if (open) close(i);
    if (k == kSep1) {
      // Credits and agency names in brackets ("(reuters)", "(reporting by ...; editing by
      // ...)", "[video]") are skipped when the bracket closes soon.
      if (o.skip_brackets && (c == '(' || c == '[')) {
        const char closing = c == '(' ? ')' : ']';
        if (size_t e = SpanEnd(p, i, n, o.bracket_bytes, &closing, 1)) {
          i = e;
          return;
        }
      }
      // An agency between slashes ("/тасс/", "/trend/"): one short word.
      if (o.skip_slashes && c == '/') {
        size_t e = i + 1;
        while (e < n && e < i + 24 && p[e] != '/' && p[e] != ' ') ++e;
        if (e < n && p[e] == '/' && e > i + 1) {
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
          i = e;
          return;
        }
      }
    } else if (k == kCjk3) {
      cjk = true;
    } else if (k == kEF) {
      cjk = c1 >= 0xA4 && c1 <= 0xAB;                     // U+F900..U+FAFF compatibility ideographs
      if (o.skip_brackets && c1 == 0xBC && c2 == 0x88) {  // （ ... ）
        if (size_t e = SpanEnd(p, i, n, o.bracket_bytes, "\xEF\xBC\x89", 3)) {
          i = e;
          return;
        }
      }
    } else if (k == kF0) {
      len = 4;
      cjk = c1 >= 0xA0 && c1 <= 0xAF;  // U+20000..U+2FFFF CJK extensions
    }
    // Each CJK character is a token of its own: Chinese has no spaces, so its "words" are the
    // character pairs (bigrams) the shingles make.
    if (cjk && i + len <= n) token(HashToken(p + i, len, p + n), true);
    i += len;
  };
  // 16 bytes at a time while they hold only ASCII, Latin/Cyrillic/Greek 2-byte letters and no
  // bracket (the bulk of English and Russian text): word starts and ends come from a bit mask,
  // with no branch per byte. Anything else goes through scalar_step, which classifies the same
  // bytes the same way, so the tokens do not depend on where the 16-byte blocks fall.
  const __m128i kZero = _mm_setzero_si128();
  while (i + 16 <= n) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed bytes: 0x80..0xBF are -128..-65, 0xC0..0xC2 -64..-62, 0xC3..0xDF -61..-33,
    // 0xE0..0xFF -32..-1.
    const __m128i high_lead =
        _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(-33)), _mm_cmplt_epi8(x, kZero));
    const __m128i c0_c2 =
        _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(-65)), _mm_cmplt_epi8(x, _mm_set1_epi8(-61)));
    __m128i special = _mm_or_si128(high_lead, c0_c2);
    if (o.skip_brackets) {
      special = _mm_or_si128(special, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('(')),
                                                   _mm_cmpeq_epi8(x, _mm_set1_epi8('['))));
    }
    if (o.skip_slashes) special = _mm_or_si128(special, _mm_cmpeq_epi8(x, _mm_set1_epi8('/')));
    const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const __m128i word =
        _mm_or_si128(_mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                                _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1))),
                                  _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                                _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)))),
                     _mm_cmplt_epi8(x, kZero));
    const uint32_t special_mask = static_cast<uint32_t>(_mm_movemask_epi8(special));
    // Bytes before the first special one (all 16 when there is none).
    const int take = special_mask ? __builtin_ctz(special_mask) : 16;
    const uint32_t valid = (1u << take) - 1;
    const uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(word)) & valid;
    const uint32_t before = (m << 1) | (open ? 1u : 0u);  // bit j: byte j-1 is a word byte
    uint32_t events = ((m & ~before) | (~m & before)) & valid;
    while (events != 0) {
      const int j = __builtin_ctz(events);
      events &= events - 1;
      if (!open) {
        open = true;
        start = i + j;
      } else {
        close(i + j);
      }
    }
    i += take;
    if (take < 16) scalar_step();
  }
  while (i < n) scalar_step();
  if (open) close(n);
  return true;
}

namespace {

// Returns the fingerprint of a finished count: bit b set when more than half the features set it.
inline Fingerprint Threshold(const uint32_t* counts, size_t n) {
  Fingerprint fp = 0;
  for (int b = 0; b < 64; ++b) {
    if (2 * static_cast<uint64_t>(counts[b]) > n) fp |= uint64_t{1} << b;
  }
  return fp;
}

// Portable kernel: 8 bit-sliced 64-lane counters (plane j holds bit j of each lane's count), so
// adding a feature is a ripple of AND/XOR over the planes (two steps on average) instead of 64
// counter updates; flushed into 32-bit counts every 255 features.
Fingerprint AccumulatePortable(const uint64_t* features, size_t n) {
  uint32_t counts[64] = {0};
  size_t done = 0;
  while (done < n) {
    const size_t block = std::min<size_t>(255, n - done);
    uint64_t planes[8] = {0};
    for (size_t f = done; f < done + block; ++f) {
      uint64_t carry = features[f];
      for (int j = 0; carry != 0; ++j) {
        const uint64_t next = planes[j] & carry;
        planes[j] ^= carry;
        carry = next;
      }
    }
    for (int j = 0; j < 8; ++j) {
      for (uint64_t m = planes[j]; m != 0; m &= m - 1) counts[__builtin_ctzll(m)] += 1u << j;
    }
    done += block;
  }
  return Threshold(counts, n);
}

// AVX-512BW kernel: the 64 bits of a feature are a mask register, and one masked byte add counts
// them into 64 byte counters; flushed into 32-bit counts every 255 features.
__attribute__((target("avx512f,avx512bw"))) Fingerprint AccumulateAvx512(const uint64_t* features,
                                                                         size_t n) {
  alignas(64) uint32_t counts[64] = {0};
  const __m512i one = _mm512_set1_epi8(1);
  size_t done = 0;
  while (done < n) {
    const size_t block = std::min<size_t>(255, n - done);
    __m512i bytes = _mm512_setzero_si512();
    for (size_t f = done; f < done + block; ++f) {
      bytes = _mm512_mask_add_epi8(bytes, _cvtu64_mask64(features[f]), bytes, one);
    }
    alignas(64) uint8_t lanes[64];
    _mm512_store_si512(lanes, bytes);
    for (int q = 0; q < 4; ++q) {
      // The zero-masked form: GCC 12 warns about the unmasked one's undefined pass-through.
      const __m512i wide = _mm512_maskz_cvtepu8_epi32(
          0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(lanes + 16 * q)));
      __m512i* dst = reinterpret_cast<__m512i*>(counts + 16 * q);
      _mm512_store_si512(dst, _mm512_add_epi32(_mm512_load_si512(dst), wide));
    }
    done += block;
  }
  return Threshold(counts, n);
}

}  // namespace

bool KernelSupported(Kernel kernel) {
  switch (kernel) {
    case Kernel::kPortable:
      return true;
    case Kernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  }
  return false;
}

Kernel BestKernel() {
  static const Kernel best = KernelSupported(Kernel::kAvx512) ? Kernel::kAvx512 : Kernel::kPortable;
  return best;
}

Fingerprint Accumulate(Kernel kernel, const uint64_t* features, size_t n) {
  if (n == 0) return 0;
  if (kernel == Kernel::kAvx512 && KernelSupported(Kernel::kAvx512)) {
    return AccumulateAvx512(features, n);
  }
  return AccumulatePortable(features, n);
}

namespace {

// A fixed pseudo-random order of the 64 bins for each bin: where an empty bin borrows its
// minimum from (densification). The same for every item, so two items with the same features
// borrow the same way.
struct ProbeTable {
  std::array<std::array<uint8_t, 64>, 64> order{};
};

constexpr ProbeTable MakeProbeTable() {
  ProbeTable t;
  uint64_t state = 0x5EED5EED5EED5EEDull;
  for (int b = 0; b < 64; ++b) {
    for (int j = 0; j < 64; ++j) t.order[b][j] = static_cast<uint8_t>(j);
    for (int j = 63; j > 0; --j) {  // Fisher-Yates with splitmix64
      state += 0x9E3779B97F4A7C15ull;
      uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const int k = static_cast<int>(z % static_cast<uint64_t>(j + 1));
      const uint8_t tmp = t.order[b][j];
      t.order[b][j] = t.order[b][k];
      t.order[b][k] = tmp;
    }
  }
  return t;
}

constexpr ProbeTable kProbes = MakeProbeTable();

constexpr uint64_t kEmptyBin = ~uint64_t{0};
constexpr uint64_t kValueMask = (uint64_t{1} << 58) - 1;

}  // namespace

// The 64 bins of a one-permutation MinHash: the Fingerprinter's scratch.
struct MinHashBins {
  uint64_t bins[64];  // kEmptyBin: no feature fell into the bin
  void Reset();
  // Adds one feature hash: its top 6 bits pick the bin, the bin keeps the smallest low 58 bits
  // (branch-free: whether a feature lowers its bin's minimum is unpredictable early on).
  void Add(uint64_t h) {
    const unsigned bin = static_cast<unsigned>(h >> 58);
    const uint64_t value = h & kValueMask;
    bins[bin] = value < bins[bin] ? value : bins[bin];
  }
  // Returns the fingerprint (0 when no feature was added).
  Fingerprint Finish() const;
};

// One-permutation MinHash (Li, Owen and Zhang, NIPS 2012) with one bit per bin (b-bit minwise
// hashing, Li and König, WWW 2010): the top 6 bits of a feature hash pick one of 64 bins, each
// bin keeps the smallest of the other 58 bits, and bit b of the fingerprint is a hash bit of
// bin b's minimum. Two items agree on a bin's bit with probability (1 + J) / 2, J the Jaccard
// resemblance of their feature sets, so their expected distance is 32 (1 - J): linear in the
// share of features an edit changes, where SimHash's grows with its square root (measured:
// benchmarks/README.md, "Stories: fingerprint"). Bins no feature fell into (short items)
// borrow the minimum of another bin in kProbes order.
void MinHashBins::Reset() { std::fill(std::begin(bins), std::end(bins), kEmptyBin); }

Fingerprint MinHashBins::Finish() const {
  uint64_t occupied = 0;  // bit b: bin b has a minimum of its own
  for (int b = 0; b < 64; ++b) occupied |= static_cast<uint64_t>(bins[b] != kEmptyBin) << b;
  if (occupied == 0) return 0;
  uint64_t values[64];
  std::memcpy(values, bins, sizeof values);
  // Only the empty bins probe (a short item has many), and they test eight probe positions at
  // a time against the occupancy bits: the first occupied bin in kProbes order, with one branch
  // per eight positions instead of one per position (their outcome is unpredictable, and a
  // mispredicted branch per empty bin was most of a one-line item's time).
  for (uint64_t empty = ~occupied; empty != 0; empty &= empty - 1) {
    const int b = __builtin_ctzll(empty);
    const uint8_t* order = kProbes.order[b].data();
    for (int j = 0;; j += 8) {  // ends within 64 positions: order is a permutation of all bins
      uint32_t hit = 0;
      for (int k = 0; k < 8; ++k) hit |= static_cast<uint32_t>((occupied >> order[j + k]) & 1) << k;
      if (hit != 0) {
        values[b] = bins[order[j + __builtin_ctz(hit)]];
        break;
      }
    }
  }
  Fingerprint fp = 0;
  for (int b = 0; b < 64; ++b) {
    // One well-mixed bit of (minimum, bin): bins that borrowed the same minimum still differ.
    fp |= (((values[b] ^ (static_cast<uint64_t>(b) * kMul1)) * kMul2) >> 63) << b;
  }
  return fp;
}

// Returns the length in `folded_body` of the body's first line (the original body up to its
// first line break, folded), or 0 when there is none within reach of the byline rule or the
// folded body does not start with it.
size_t FirstLine(std::string_view folded_body, std::string_view original_body,
                 const FingerprintOptions& o, normalise::FoldedText* scratch) {
  if (o.byline_bytes == 0 || original_body.empty()) return 0;
  // Folding can shorten text (a dash of 3 bytes folds to 1): look a few times further.
  const size_t reach = std::min(original_body.size(), 4 * (o.dateline_bytes + o.byline_bytes));
  const size_t nl = original_body.substr(0, reach).find('\n');
  if (nl == std::string_view::npos || nl == 0) return 0;
  // A line that ends in punctuation is no byline: not worth folding (the rule checks the folded
  // line again, which ends in the same punctuation).
  size_t e = nl;
  while (e > 0 && (original_body[e - 1] == ' ' || original_body[e - 1] == '\r' ||
                   original_body[e - 1] == '\t')) {
    --e;
  }
  if (e == 0) return 0;
  const char last = original_body[e - 1];
  if (last == '.' || last == '!' || last == '?' || last == ':' || last == ';' || last == ',') {
    return 0;
  }
  normalise::Fold(original_body.substr(0, nl), scratch);
  const std::string_view line = scratch->text();
  if (line.size() >= folded_body.size() || folded_body.substr(0, line.size()) != line) return 0;
  return line.size();
}

Fingerprint ComputeWithOptions(std::string_view folded_title, std::string_view folded_body,
                               const FingerprintOptions& options, Kernel kernel,
                               std::string_view original_body) {
  normalise::FoldedText line_scratch;
  const size_t first_line = FirstLine(folded_body, original_body, options, &line_scratch);
  if (options.method == Method::kSimHash) {
    std::vector<uint64_t> features;
    auto emit = [&](uint64_t h) { features.push_back(h); };
    Features<false>(folded_title, true, options, emit);
    if (!Features<false>(folded_body, false, options, emit, first_line)) return 0;
    return Accumulate(kernel, features.data(), features.size());
  }
  MinHashBins bins;
  bins.Reset();
  auto emit = [&bins](uint64_t h) { bins.Add(h); };
  Features<false>(folded_title, true, options, emit);
  if (!Features<false>(folded_body, false, options, emit, first_line)) return 0;
  return bins.Finish();
}

}  // namespace internal

struct Fingerprinter::Scratch {
  internal::MinHashBins bins;
  normalise::FoldedText first_line;  // the body's first line, folded (the byline rule)
};

Fingerprinter::Fingerprinter() : scratch_(new Scratch) {}

Fingerprinter::~Fingerprinter() { delete scratch_; }

Fingerprint Fingerprinter::Compute(std::string_view folded_title, std::string_view folded_body,
                                   std::string_view original_body) {
  internal::MinHashBins& bins = scratch_->bins;
  bins.Reset();
  auto emit = [&bins](uint64_t h) { bins.Add(h); };
  const size_t first_line = internal::FirstLine(folded_body, original_body,
                                                internal::kDefaultOptions, &scratch_->first_line);
  internal::Features<true>(folded_title, true, internal::kDefaultOptions, emit);
  internal::Features<true>(folded_body, false, internal::kDefaultOptions, emit, first_line);
  return bins.Finish();
}

void AppendFingerprint(Fingerprint fp, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[fp & 0xF];
    fp >>= 4;
  }
  out->append(buf, 16);
}

bool ParseFingerprint(std::string_view text, Fingerprint* fp) {
  if (text.size() != 16) return false;
  Fingerprint v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = v << 4 | static_cast<Fingerprint>(d);
  }
  *fp = v;
  return true;
}

}  // namespace steppewatch::stories
