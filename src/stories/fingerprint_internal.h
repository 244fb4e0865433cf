// The parts of the near-duplicate fingerprint (include/steppewatch/stories/fingerprint.h), in
// the order an item goes through them:
//   1. text rules (fingerprint_text.cc): which bytes of the title and body count (datelines,
//      bylines, a short last sentence, an outlet tag and the byte limits are cut off);
//   2. the token scan (fingerprint_scan.cc): the words and CJK characters of those bytes, as
//      positions, 32 bytes at a time (SSE2, any x86-64; or AVX2, whose 32-byte compares and
//      whole-block path make the AVX2 kernel) or 64 at a time (AVX-512BW), the kernel picked at
//      run time, with identical tokens on any valid UTF-8 (what Fold writes);
//   3. token hashes and features (the hash functions here; eight tokens at a time with AVX-512
//      in fingerprint_hash.cc), which go into
//   4. a one-permutation MinHash of 64 one-bit bins, or SimHash's counters for the evaluation
//      (fingerprint_sketch.cc).
// Private to src/stories. Everything here is stateless and thread-safe.
#pragma once

#include <emmintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "steppewatch/normalise/fold.h"
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories::internal {

// What Fingerprinter uses; a constant, so the fast path's settings fold away.
inline constexpr FingerprintOptions kDefaultOptions{};

inline constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;
inline constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;

// ---- 1. Text rules --------------------------------------------------------------------------

// Returns the length in `folded_body` of the body's first line (the original body up to its
// first line break, folded into `scratch`), or 0 when there is none within reach of the byline
// rule or the folded body does not start with it.
size_t FirstLine(std::string_view folded_body, std::string_view original_body,
                 const FingerprintOptions& o, normalise::FoldedText* scratch);

// Whether a line of the original (unfolded) body reads as a name or a byline without its
// marker: two to kNameWords words, no digit, each opening with a capital letter (Latin,
// Cyrillic, Kazakh) or one of a few joining words ("David Chen in Frankfurt", "Нұрлан Әбенов").
// FirstLine takes such a line as a byline when it is a paragraph of its own (o.name_lines).
inline constexpr int kNameWords = 6;
bool ReadsAsName(std::string_view line);

// Where the body's last lines start in `folded_body`: the line breaks of the original body within
// its last o.footer_bytes, mapped to the folded body by their distance from its end (exact where
// folding keeps the tail's length; the footer rule checks that a space, the folded line break,
// stands before each). Lets a footer that opens a line follow a sentence cut short (an item whose
// text ends mid-sentence, then "\nFollow us on ..."). Earliest first.
struct TailLines {
  static constexpr int kMax = 4;
  uint32_t start[kMax];
  int count = 0;
};
void FindTailLines(std::string_view folded_body, std::string_view original_body,
                   const FingerprintOptions& o, TailLines* lines);

// Whether `segment` (a leading segment of the folded body before a dash, with its last space:
// "hong kong ") is a dateline of two or three capitalised words in the original body, at a
// word's start within its first 128 bytes (at its start, after a byline line or after another
// dateline): "Hong Kong - ", "New York – ". With
// no dateline's marks the rule cannot tell it from a sentence's subject before a dash in the
// folded text (dateline_marks), the original's capitals can. ASCII words only (the cities that
// need two words in the pack's languages are Latin-script; Cyrillic ones are one word or
// hyphenated).
inline constexpr size_t kCapitalDatelineBytes = 32;
bool IsCapitalDateline(std::string_view original_body, std::string_view segment);

// The bytes of a field whose features count: [begin, end) of the field's text.
struct TextSpan {
  size_t begin = 0;
  size_t end = 0;
};

// Applies the text rules of `o` to a title or a body (`first_line`: FirstLine's result, for the
// byline rule). Returns false when the item gets no fingerprint (the last-sentence rule found
// no cut and `o.drop_last_or_whole` is off).
// `kernel` picks the vector width of the footer scan only (kAvx512 must be supported); the span
// is the same with either.
// `tail` (FindTailLines' result, or null) adds footer starts at the body's last line breaks.
// `original_body` (the body only; empty: unknown) is read when a dateline without marks may be
// one in capitals (o.capital_datelines, IsCapitalDateline).
bool SelectText(std::string_view text, bool is_title, const FingerprintOptions& o,
                size_t first_line, TextSpan* span, Kernel kernel = Kernel::kPortable,
                const TailLines* tail = nullptr, std::string_view original_body = {});

// ---- 2. Token scan --------------------------------------------------------------------------

// Tokens of one span as two arrays: token k is text[starts[k], ends[k] & kEndMask), a CJK
// character when ends[k] has kCjkToken set, else a word. Words are runs of ASCII letters and
// digits and of the bytes of non-CJK letters; each CJK character is a token of its own; short
// bracketed spans and /slashed/ words are skipped.
inline constexpr uint32_t kCjkToken = 0x80000000u;
inline constexpr uint32_t kEndMask = ~kCjkToken;

// How many entries ScanTokens may write for a span of `bytes` bytes: the most tokens such a span
// has (a token and a separator take two bytes at least), plus kScanSlack (the 64-byte kernel
// writes 32 entries per block whatever their count).
inline constexpr size_t kScanSlack = 32;
inline constexpr size_t MaxTokens(size_t bytes) { return bytes / 2 + 2 + kScanSlack; }

// Scans text[span.begin, span.end) with `kernel` (kAvx512 or kAvx2: must be supported) into
// `starts` and `ends` (MaxTokens(span.end - span.begin) entries each) and returns the token
// count. Reads only inside `text`; only its first 2 GB count (positions are 31 bits). kDefault:
// o is kDefaultOptions (Fingerprinter's path).
template <bool kDefault>
size_t ScanTokens(Kernel kernel, std::string_view text, TextSpan span, const FingerprintOptions& o,
                  uint32_t* starts, uint32_t* ends);

// ScanTokens<true> with the AVX-512 kernel (which must be supported), which also finds where the
// body's sentences end (SentenceEndsIn's patterns, section 5) from the bytes it reads anyway:
// writes to `sentence_ends` (MaxTokens(span.end - span.begin) entries), in order, for every
// pattern it finds in the span, how many tokens end before it, and sets *sentence_count to how
// many it wrote. On valid UTF-8 (what Fold writes) the values v with 0 < v < count (the token
// count returned) are exactly the k + 1 of the gaps after token k that SentenceEndsIn finds a
// sentence end in; a value may repeat (more than one pattern in a gap), and 0 and count stand
// for patterns before the first token or after the last.
size_t ScanTokensWithEnds(std::string_view text, TextSpan span, uint32_t* starts, uint32_t* ends,
                          uint32_t* sentence_ends, size_t* sentence_count);

// ---- 3. Hashes ------------------------------------------------------------------------------

inline uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The low n (1..8) bytes of v: an AND with a mask from a table (a shift by a computed count took
// five more instructions per token).
alignas(128) inline constexpr std::array<uint64_t, 9> kLowBytesMask = [] {
  std::array<uint64_t, 9> t{};
  for (size_t n = 1; n <= 8; ++n) t[n] = ~uint64_t{0} >> (64 - 8 * n);
  return t;
}();
inline uint64_t LowBytes(uint64_t v, size_t n) { return v & kLowBytesMask[n]; }

// Hashes a token's n >= 1 bytes 8 at a time (tokens are short: no per-byte loop, no
// allocation). Reads only inside [p, end).
inline uint64_t HashToken(const char* p, size_t n, const char* end) {
  uint64_t h = n * kMul1;
  while (n > 8) {
    h = (h ^ Load8(p)) * kMul2;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  if (end - p >= 8) {
    tail = LowBytes(Load8(p), n);
  } else {
    for (size_t i = 0; i < n; ++i) tail |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  h = (h ^ tail) * kMul2;
  return h ^ (h >> 29);
}

// The same value as HashToken, without a branch for tokens of up to 16 bytes that have 16
// readable bytes (most words: whether a word is longer than 8 bytes is a coin toss in Russian
// and one word in five in English, and a mispredicted branch per such word cost more than
// hashing both ways).
// HashTokenFast's common case: 1 <= n <= 16, and 16 bytes readable at p.
inline uint64_t HashToken16(const char* p, size_t n) {
  const uint64_t a = Load8(p), b = Load8(p + 8);
  const bool two = n > 8;
  uint64_t h = n * kMul1;
  uint64_t h8 = (h ^ a) * kMul2;
  h8 ^= h8 >> 31;
  h = two ? h8 : h;
  h = (h ^ LowBytes(two ? b : a, two ? n - 8 : n)) * kMul2;
  return h ^ (h >> 29);
}
inline uint64_t HashTokenFast(const char* p, size_t n, const char* end) {
  if (n > 16 || end - p < 16) [[unlikely]] {
    return HashToken(p, n, end);
  }
  return HashToken16(p, n);
}

// Derives a feature hash from a token hash (already well mixed by HashToken): one multiply and a
// fold of the high half into the low half, so every bit depends on the whole input (both
// sketches need fair, independent bits: MinHash takes its bin from the top 6 and its minimum
// from the rest, SimHash counts each bit).
inline uint64_t Feature(uint64_t x) {
  x *= 0xD6E8FEB86659FD93ull;
  return x ^ (x >> 32);
}
// The features of a token with hash th after a token with hash prev (the defaults: weights 1).
inline uint64_t UnigramFeature(uint64_t th) { return Feature(th + 0x1111); }
inline uint64_t BigramFeature(uint64_t prev, uint64_t th) {
  return Feature(prev * kMul1 + th + 0x2222);
}

// Writes the default features (weights 1) of tokens 0..count-1 of `text`: unigrams[k] =
// UnigramFeature(hash of token k), bigrams[k] = BigramFeature(hash of token k-1, hash of token
// k) for k >= 1 (bigrams[0] is no feature). Both arrays need RoundUp8(count) entries; `starts`
// and `ends` as ScanTokens writes them. kAvx512 must be supported. With kAvx512, returns
// whether a feature written (bigrams[0] included) equals kEmptyBin, which MinHashBins::AddKey
// cannot add; with kPortable, false (not looked for: add its features with MinHashBins::Add).
inline constexpr size_t RoundUp8(size_t n) { return (n + 7) / 8 * 8; }
bool TokenFeatures(Kernel kernel, std::string_view text, const uint32_t* starts,
                   const uint32_t* ends, size_t count, uint64_t* unigrams, uint64_t* bigrams);

// ---- 4. Sketches ----------------------------------------------------------------------------

inline constexpr uint64_t kEmptyBin = ~uint64_t{0};
inline constexpr uint64_t kValueMask = (uint64_t{1} << 58) - 1;

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
  // The same with the feature hash kept whole: within a bin its top 6 bits are the bin's, so the
  // smallest hash has the smallest low 58 bits, and Finish reads the same minimum (one
  // instruction less per feature than Add, of eight). Not for h == kEmptyBin (it would read as
  // an empty bin; Add keeps it), and not mixed with Add in one sketch (their minimums do not
  // compare).
  void AddKey(uint64_t h) {
    const unsigned bin = static_cast<unsigned>(h >> 58);
    bins[bin] = h < bins[bin] ? h : bins[bin];
  }
  // Returns the fingerprint (0 when no feature was added), the same with either kernel (kAvx512
  // must be supported) and with Add or AddKey.
  Fingerprint Finish(Kernel kernel = Kernel::kPortable) const;
};

// The AVX-512 kernel's TokenFeatures and bin adds in one loop: adds the default features of
// tokens 0..count-1 of `text` (the pairs from token 1) to `bins` with MinHashBins::AddKey, and
// copies `bins` to `lead` once the features of tokens [0, lead_at) are in (`lead_at` a multiple
// of 8 below `count`; any value >= `count`: no copy). `count` is at most
// MaxTokens(kDefaultOptions.max_body_bytes) (its buffers are on the stack). kAvx512 must be
// supported. Returns whether a feature equals kEmptyBin (AddKey leaves it out: the caller
// computes the item again with TokenFeatures and MinHashBins::Add).
// `sentence`, when not null, is set to the sentence key of the tokens (SentenceKeyOf with the
// defaults, over the features this computes), and `sentence[1]` to the second sentence key,
// given the `sentence_count` sentence ends that ScanTokensWithEnds wrote to `sentence_ends` for
// them.
bool AddTokenFeatures(std::string_view text, const uint32_t* starts, const uint32_t* ends,
                      size_t count, MinHashBins* bins, size_t lead_at, MinHashBins* lead,
                      Fingerprint* sentence = nullptr, const uint32_t* sentence_ends = nullptr,
                      size_t sentence_count = 0);

// Copies `from` to `to` (64 bins; kAvx512 must be supported): a plain struct copy compiles to
// `rep movsq`, whose start-up cost was ~1% of a 3 KB item's time with its lead key.
void CopyBins(Kernel kernel, const MinHashBins& from, MinHashBins* to);

// ---- 5. The sentence key ---------------------------------------------------------------------

// The sentence key (fingerprint.h): the least hash of the body's sentences of at least
// min_tokens tokens, over the body's tokens as the text rules select them. The evaluation tool
// varies the settings (benchmarks/README.md, "Stories: recall round" and "Stories: sentence
// key"); the product uses the defaults.
struct SentenceOptions {
  size_t min_tokens = kSentenceTokens;
  bool skip_first = false;  // the body's first sentence is no candidate (measured, not taken)
  // How a sentence is hashed. kFeatures (the product): the sum of its first token's feature and
  // its pairs' features (UnigramFeature, BigramFeature: what the fingerprint computes anyway),
  // so the key costs a pass of adds. kChained: its tokens' hashes through a multiply chain (the
  // recall round's definition, ~1 us per 3 KB item: as much again as the fingerprint). kCheap:
  // the chain over its first token's hash and its other tokens' lengths (measured, not taken).
  enum class Hash : uint8_t { kFeatures, kChained, kCheap };
  Hash hash = Hash::kFeatures;
};
inline constexpr SentenceOptions kDefaultSentenceOptions{};

// Whether a sentence ends in the gap between two tokens: '.', '!' or '?' followed by a space, or
// a CJK full stop, exclamation or question mark (U+3002, U+FF01, U+FF1F). A gap of one byte (a
// space, most gaps) holds none of them.
inline bool SentenceEndsIn(const char* gap, size_t n) {
  if (n == 2) {
    // Most wide gaps (", ", ". "): one compare of each byte, no branch on what the first is
    // (whether a gap ends a sentence is a coin toss to the branch predictor).
    const unsigned char c = static_cast<unsigned char>(gap[0]);
    const bool mark = c < 64 && ((uint64_t{1} << c) & ((uint64_t{1} << '.') | (uint64_t{1} << '!') |
                                                       (uint64_t{1} << '?'))) != 0;
    return mark & (gap[1] == ' ');
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(gap[i]);
    const unsigned char c1 = static_cast<unsigned char>(gap[i + 1]);
    if ((c == '.' || c == '!' || c == '?') && c1 == ' ') return true;
    if (i + 2 < n) {
      const unsigned char c2 = static_cast<unsigned char>(gap[i + 2]);
      if (c == 0xE3 && c1 == 0x80 && c2 == 0x82) return true;                  // U+3002
      if (c == 0xEF && c1 == 0xBC && (c2 == 0x81 || c2 == 0x9F)) return true;  // U+FF01, U+FF1F
    }
  }
  return false;
}

// The features' sum of the sentence of tokens [from, to): the first token's unigram feature and
// the pairs' (bigrams[k] pairs token k - 1 with token k), four sums at a time.
inline uint64_t SentenceFeatureSum(const uint64_t* unigrams, const uint64_t* bigrams, size_t from,
                                   size_t to) {
  uint64_t s0 = unigrams[from], s1 = 0, s2 = 0, s3 = 0;
  size_t k = from + 1;
  for (; k + 4 <= to; k += 4) {
    s0 += bigrams[k];
    s1 += bigrams[k + 1];
    s2 += bigrams[k + 2];
    s3 += bigrams[k + 3];
  }
  for (; k < to; ++k) s0 += bigrams[k];
  return (s0 + s1) + (s2 + s3);
}

// Bit j set when the gap between tokens j and j + 1 is wider than one byte, for j < n (n <= 64),
// four gaps at a time (SSE2). Reads starts[1 .. n + 8] and ends[0 .. n + 7]: inside what
// ScanTokens may write for the n + 1 tokens (MaxTokens has kScanSlack entries to spare); the
// lanes past n are masked off.
inline uint64_t WideGaps(const uint32_t* starts, const uint32_t* ends, size_t n) {
  auto four = [&](size_t j) {
    const __m128i e = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ends + j)),
                                    _mm_set1_epi32(static_cast<int>(kEndMask)));
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(starts + j + 1));
    const __m128i wider = _mm_cmpgt_epi32(_mm_sub_epi32(s, e), _mm_set1_epi32(1));
    return static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(wider)));
  };
  uint64_t wide = 0;
  for (size_t j = 0; j < n; j += 8) wide |= uint64_t{four(j) | four(j + 4) << 4} << j;
  return n < 64 ? wide & ((uint64_t{1} << n) - 1) : wide;
}

// The sentence key of the `count` tokens ScanTokens found in `text` (the body's span), with the
// features TokenFeatures writes for them (`unigrams`, `bigrams`; only for Hash::kFeatures): a
// sentence runs to a SentenceEndsIn gap or to the last token; the key is the least over the
// sentences of at least o.min_tokens tokens of a mix of their hash, 0 when there is none.
// Typography (which Fold removes) and re-wrapping (which only moves spaces) leave it alone.
// Calls on_key(key) for every such sentence (the evaluation's further keys). Each gap of more
// than one byte is checked with SentenceEndsIn. (The AVX-512 kernel has its own copy of this,
// SentenceKeyAvx512 in fingerprint_hash.cc, with no unpredictable branch, over the ends its scan
// found, ScanTokensWithEnds; the tests and the stories fuzzer compare the two.)
// `second`, when not null, is set to the second sentence key: the least key above the least (0
// when there is none).
template <class OnKey>
inline Fingerprint SentenceKeyOf(std::string_view text, const uint32_t* starts,
                                 const uint32_t* ends, size_t count, const uint64_t* unigrams,
                                 const uint64_t* bigrams, const SentenceOptions& o, OnKey&& on_key,
                                 Fingerprint* second = nullptr) {
  const char* data = text.data();
  const char* end = data + text.size();
  Fingerprint best = 0;
  Fingerprint next = 0;  // the least key above `best`
  bool first = true;
  size_t from = 0;
  auto sentence = [&](size_t to) {
    if (to - from >= o.min_tokens && !(first && o.skip_first)) {
      uint64_t h;
      if (o.hash == SentenceOptions::Hash::kFeatures) {
        h = SentenceFeatureSum(unigrams, bigrams, from, to);
        h ^= h >> 32;
      } else {
        h = 0;
        for (size_t k = from; k < to; ++k) {
          const uint32_t e = ends[k] & kEndMask;
          h = (h ^ (o.hash == SentenceOptions::Hash::kCheap && k > from
                        ? e - starts[k]
                        : HashToken(data + starts[k], e - starts[k], end))) *
              kMul2;
          h ^= h >> 31;
        }
      }
      const Fingerprint key = (h * kMul1) | 1;
      if (best == 0 || key < best) {
        next = best;
        best = key;
      } else if (key != best && (next == 0 || key < next)) {
        next = key;
      }
      on_key(key);
    }
    first = false;
    from = to;
  };
  // Gaps after tokens 0..count-2, 64 at a time.
  for (size_t base = 0; base + 1 < count; base += 64) {
    const size_t n = count - 1 - base < 64 ? count - 1 - base : 64;
    uint64_t wide = WideGaps(starts + base, ends + base, n);
    // The sentences' last tokens in this block, listed without a branch per gap.
    uint8_t last[64];
    size_t found = 0;
    for (; wide != 0; wide &= wide - 1) {
      const size_t j = static_cast<size_t>(__builtin_ctzll(wide));
      const size_t k = base + j;
      const uint32_t e = ends[k] & kEndMask;
      const uint32_t gap = starts[k + 1] - e;
      const bool ends_here = SentenceEndsIn(data + e, gap);
      last[found] = static_cast<uint8_t>(j);
      found += ends_here;
    }
    for (size_t i = 0; i < found; ++i) sentence(base + last[i] + 1);
  }
  if (from < count) sentence(count);
  if (second != nullptr) *second = next;
  return best;
}

// The sentence key of an item's folded body (the original body for the byline and footer rules,
// as Compute takes them), with `o` (allocates; for the evaluation tool and tests). With the
// defaults it equals Fingerprinter::Compute's. `all`, when not null, gets every candidate
// sentence's key (unsorted).
Fingerprint SentenceKeyWithOptions(std::string_view folded_body, std::string_view original_body,
                                   const SentenceOptions& o = kDefaultSentenceOptions,
                                   std::vector<Fingerprint>* all = nullptr);

}  // namespace steppewatch::stories::internal
