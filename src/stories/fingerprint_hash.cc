// The fingerprint's token hashes and default features, for Fingerprinter's path: the feature of
// each token and of each pair of consecutive tokens, written to two arrays that the caller adds
// to its MinHash bins (with AVX-512, AddTokenFeatures adds them itself). The AVX-512 kernel
// hashes eight tokens at a time (64-bit lanes: the same multiplies and shifts as HashToken, so
// the same values); tokens it cannot take whole (longer than 16 bytes, or within 16 bytes of the
// text's end) are hashed again one at a time.
// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source of their
// unmasked forms, and its -Wmaybe-uninitialized reports that inside its own headers once they
// are inlined here (no value of this file is uninitialised).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "stories/fingerprint_internal.h"

namespace steppewatch::stories::internal {
namespace {

bool TokenFeaturesPortable(std::string_view text, const uint32_t* starts, const uint32_t* ends,
                           size_t count, uint64_t* unigrams, uint64_t* bigrams) {
  const char* p = text.data();
  const char* end = p + text.size();
  uint64_t prev = 0;
  // The tokens with 16 readable bytes from their start (all but the last few: the starts
  // ascend) without HashTokenFast's check of that per token.
  size_t near_end = count;
  while (near_end > 0 && text.size() - starts[near_end - 1] < 16) --near_end;
  size_t k = 0;
  for (; k < near_end; ++k) {
    const size_t n = (ends[k] & kEndMask) - starts[k];
    const uint64_t th = __builtin_expect(n > 16, 0) ? HashToken(p + starts[k], n, end)
                                                    : HashToken16(p + starts[k], n);
    unigrams[k] = UnigramFeature(th);
    bigrams[k] = BigramFeature(prev, th);  // [0] is no pair: the caller skips it
    prev = th;
  }
  for (; k < count; ++k) {
    const uint64_t th = HashTokenFast(p + starts[k], (ends[k] & kEndMask) - starts[k], end);
    unigrams[k] = UnigramFeature(th);
    bigrams[k] = BigramFeature(prev, th);
    prev = th;
  }
  // Not looked for: the portable kernel's caller adds with MinHashBins::Add (a compare per
  // feature here cost 5% of this kernel's item).
  return false;
}

#define STEPPEWATCH_AVX512_HASH \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vbmi,bmi2")))

// MinHashBins::AddKey in general registers: in a function built for AVX-512, GCC does the
// minimum with vpminuq (a move to and from a vector register each, on the ports the hashes need);
// this was 1-2 us faster per 64 items in the same alternated runs (benchmarks/README.md, "Round
// fpfuse").
inline void AddKeyScalar(MinHashBins* bins, uint64_t h) {
  uint64_t* bin = &bins->bins[h >> 58];
  uint64_t value = *bin;
  __asm__("cmpq %[value], %[h]\n\tcmovbq %[h], %[value]" : [value] "+r"(value) : [h] "r"(h) : "cc");
  *bin = value;
}

// Feature() of eight hashes.
STEPPEWATCH_AVX512_HASH inline __m512i Feature8(__m512i x) {
  x = _mm512_mullo_epi64(x, _mm512_set1_epi64(static_cast<long long>(0xD6E8FEB86659FD93ull)));
  return _mm512_xor_si512(x, _mm512_srli_epi64(x, 32));
}

// What the hash of eight tokens starting at token k needs from memory: their lengths, and
// their first and second 8 bytes (whole in `a` and `b` for the `fast` lanes: tokens of at most
// 16 bytes whose 16 bytes lie in the window; the others are hashed one at a time).
struct Front {
  __m512i len, a, b;
  __mmask8 live, fast;
};

STEPPEWATCH_AVX512_HASH __attribute__((always_inline)) inline Front LoadFront(
    std::string_view text, const uint32_t* starts, const uint32_t* ends, size_t count, size_t k) {
  Front f;
  const char* p = text.data();
  f.live = count - k >= 8 ? 0xFF : static_cast<__mmask8>((1u << (count - k)) - 1);
  // (The zero-masked forms: GCC 12 warns about the unmasked ones' undefined pass-through.)
  const __m512i st =
      _mm512_maskz_cvtepu32_epi64(f.live, _mm256_maskz_loadu_epi32(f.live, starts + k));
  const __m512i en = _mm512_and_si512(
      _mm512_maskz_cvtepu32_epi64(f.live, _mm256_maskz_loadu_epi32(f.live, ends + k)),
      _mm512_set1_epi64(kEndMask));
  f.len = _mm512_sub_epi64(en, st);
  // The eight tokens' first 16 bytes come from a 128-byte window at the first token's start,
  // through byte permutes (gathers took a third of the time): whole in the vector are the
  // tokens of at most 16 bytes whose 16 bytes lie in the window. Bytes past the text read as
  // 0 and fault nowhere; only a token's own bytes count.
  const size_t base = starts[k];
  const size_t rest_bytes = text.size() - base;
  const __m512i w0 = _mm512_maskz_loadu_epi8(
      rest_bytes >= 64 ? ~__mmask64{0} : _bzhi_u64(~uint64_t{0}, rest_bytes), p + base);
  const __m512i w1 =
      _mm512_maskz_loadu_epi8(rest_bytes >= 128  ? ~__mmask64{0}
                              : rest_bytes <= 64 ? 0
                                                 : _bzhi_u64(~uint64_t{0}, rest_bytes - 64),
                              p + base + 64);
  const __m512i off = _mm512_sub_epi64(st, _mm512_set1_epi64(static_cast<long long>(base)));
  f.fast = f.live & _mm512_cmple_epu64_mask(f.len, _mm512_set1_epi64(16)) &
           _mm512_cmple_epu64_mask(off, _mm512_set1_epi64(112));
  // Byte i of lane j indexes the window at off[j] + i.
  const __m512i idx =
      _mm512_add_epi8(_mm512_shuffle_epi8(off, _mm512_set4_epi32(0x08080808, 0x08080808, 0, 0)),
                      _mm512_set1_epi64(0x0706050403020100));
  f.a = _mm512_permutex2var_epi8(w0, idx, w1);
  f.b = _mm512_permutex2var_epi8(w0, _mm512_add_epi8(idx, _mm512_set1_epi8(8)), w1);
  return f;
}

// kFuse: AddTokenFeatures (the arrays are its buffer, with kEmptyBin for the lanes that are no
// feature; RoundUp8(count) entries each); else TokenFeatures (`bins`, `lead_at`, `lead` unused).
// kTotals (with kFuse): totals[8 + k .. 8 + k + 7] is also set to the lane-wise sum of the
// bigram features of tokens 1 .. k + 7 (each lane j the tokens = j mod 8; totals[0 .. 7] zero):
// one vector add per eight tokens, a chain of one add (a running sum across the lanes cost
// 0.15-0.2 us per 3 KB item). BigramsBefore reads a sentence's sum from it.
template <bool kFuse, bool kTotals = false>
STEPPEWATCH_AVX512_HASH bool TokenFeaturesAvx512(std::string_view text, const uint32_t* starts,
                                                 const uint32_t* ends, size_t count,
                                                 uint64_t* unigrams, uint64_t* bigrams,
                                                 MinHashBins* bins, size_t lead_at,
                                                 MinHashBins* lead, uint64_t* totals = nullptr) {
  // The largest feature of each lane: all ones when a feature equals kEmptyBin (a maximum, not
  // a compare per group: the compare's mask, moved to a general register each time, cost 5% of
  // the item).
  __m512i largest = _mm512_setzero_si512();
  const char* p = text.data();
  const char* end = p + text.size();
  const __m512i mul1 = _mm512_set1_epi64(static_cast<long long>(kMul1));
  const __m512i mul2 = _mm512_set1_epi64(static_cast<long long>(kMul2));
  const __m512i ones = _mm512_set1_epi64(-1);
  const __m512i eight = _mm512_set1_epi64(8);
  __m512i prev = _mm512_setzero_si512();
  __m512i total = _mm512_setzero_si512();  // kTotals: the lane-wise sum so far
  if constexpr (kTotals) _mm512_store_si512(totals, total);
  // With kFuse, the features of eight tokens go to the bins two groups (16 tokens) after they
  // were stored: the scalar bin updates then run beside the vector multiplies of later groups.
  // Read back at once they cost ~15% more than two loops (on this AMD EPYC a 64-bit load from a
  // 512-bit store still in flight waits for it); one group later: even with two loops; two or
  // four groups later: ~5% less (benchmarks/README.md, "Round fpfuse"). With the next group's
  // loads one group ahead (LoadFront), four groups (32 tokens) were 1-2% faster than two, and
  // one group slower again (round fp1us, night).
  constexpr size_t kLag = 32;
  auto add_group = [&](size_t g) STEPPEWATCH_AVX512_HASH {
    if (g == lead_at) CopyBins(Kernel::kAvx512, *bins, lead);
#pragma GCC unroll 8
    for (size_t j = g; j < g + 8; ++j) {
      AddKeyScalar(bins, unigrams[j]);
      AddKeyScalar(bins, bigrams[j]);
    }
  };
  // Software-pipelined: the loads, the window and its byte permutes of the next eight tokens
  // (`next`) come before this eight's hashes and features in the loop body, so they are
  // issued while this eight's multiplies are waited on (in program order after them, the
  // next eight's loads waited for scheduler room behind this eight's chain).
  Front next = LoadFront(text, starts, ends, count, 0);
  for (size_t k = 0; k < count; k += 8) {
    const Front f = next;
    if (k + 8 < count) next = LoadFront(text, starts, ends, count, k + 8);
    const __mmask8 live = f.live;
    const __m512i len = f.len;
    const __m512i a = f.a;
    const __m512i b = f.b;
    __m512i h = _mm512_mullo_epi64(len, mul1);
    __m512i h8 = _mm512_mullo_epi64(_mm512_xor_si512(h, a), mul2);
    h8 = _mm512_xor_si512(h8, _mm512_srli_epi64(h8, 31));
    const __mmask8 two = _mm512_cmpgt_epu64_mask(len, eight);
    h = _mm512_mask_blend_epi64(two, h, h8);
    const __m512i last = _mm512_mask_blend_epi64(two, a, b);
    const __m512i rest = _mm512_mask_sub_epi64(len, two, len, eight);
    const __m512i keep = _mm512_srlv_epi64(
        ones, _mm512_sub_epi64(_mm512_set1_epi64(64), _mm512_slli_epi64(rest, 3)));
    h = _mm512_mullo_epi64(_mm512_xor_si512(h, _mm512_and_si512(last, keep)), mul2);
    h = _mm512_xor_si512(h, _mm512_srli_epi64(h, 29));
    if (const __mmask8 slow = live & ~f.fast; slow != 0) [[unlikely]] {
      alignas(64) uint64_t lanes[8];
      _mm512_store_si512(lanes, h);
      for (unsigned m = slow; m != 0; m &= m - 1) {
        const size_t j = k + __builtin_ctz(m);
        lanes[j - k] = HashToken(p + starts[j], (ends[j] & kEndMask) - starts[j], end);
      }
      h = _mm512_load_si512(lanes);
    }
    // The token before each: the last lane of the previous eight, then this eight's.
    const __m512i before = _mm512_alignr_epi64(h, prev, 7);
    prev = h;
    const __m512i uni = Feature8(_mm512_add_epi64(h, _mm512_set1_epi64(0x1111)));
    const __m512i bi = Feature8(_mm512_add_epi64(
        _mm512_add_epi64(_mm512_mullo_epi64(before, mul1), h), _mm512_set1_epi64(0x2222)));
    if constexpr (kFuse) {
      // Lanes that are no feature (past the count; the first token's pair) read as kEmptyBin,
      // which AddKey leaves out (no bin is above it).
      _mm512_storeu_si512(unigrams + k, _mm512_mask_mov_epi64(ones, live, uni));
      const __mmask8 pairs = k == 0 ? live & 0xFE : live;
      _mm512_storeu_si512(bigrams + k, _mm512_mask_mov_epi64(ones, pairs, bi));
      if constexpr (kTotals) {
        total = _mm512_add_epi64(total, _mm512_maskz_mov_epi64(pairs, bi));
        _mm512_store_si512(totals + 8 + k, total);
      }
      if (k >= kLag) add_group(k - kLag);
    } else {
      _mm512_storeu_si512(unigrams + k, uni);
      _mm512_storeu_si512(bigrams + k, bi);
    }
    largest = _mm512_mask_max_epu64(largest, live, largest, _mm512_max_epu64(uni, bi));
  }
  if constexpr (kFuse) {
    for (size_t g = count > kLag ? RoundUp8(count) - kLag : 0; g < count; g += 8) add_group(g);
  }
  return _mm512_cmpeq_epu64_mask(largest, ones) != 0;
}

// The sum of bigrams[1 .. b - 1] (b <= count; bigrams[0] is no pair) from TokenFeaturesAvx512's
// `totals`: the lanes of the totals before b's group of eight plus the group's features before
// b, added in unsigned arithmetic (GCC's _mm512_reduce_add_epi64 adds signed lanes, and a sum
// of hashes overflows them: UBSan reports it).
STEPPEWATCH_AVX512_HASH inline uint64_t BigramsBefore(const uint64_t* bigrams,
                                                      const uint64_t* totals, size_t b) {
  const size_t g = b & ~size_t{7};
  __mmask8 m = static_cast<__mmask8>((1u << (b & 7)) - 1);
  if (g == 0) m &= 0xFE;
  const __m512i v =
      _mm512_add_epi64(_mm512_load_si512(totals + g), _mm512_maskz_load_epi64(m, bigrams + g));
  // (The zero-masked forms: GCC 12 warns about the unmasked ones' undefined pass-through.)
  const __m256i x = _mm256_add_epi64(_mm512_maskz_extracti64x4_epi64(0xF, v, 0),
                                     _mm512_maskz_extracti64x4_epi64(0xF, v, 1));
  const __m128i y = _mm_add_epi64(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(y)) +
         static_cast<uint64_t>(_mm_extract_epi64(y, 1));
}

// SentenceKeyOf with the defaults, from the sentence ends the scan found (ScanTokensWithEnds:
// `sentence_ends`, `n` entries) and the feature loop's `totals`, with no unpredictable branch:
// every sentence is hashed and its key kept or not by conditional moves (a branch per sentence
// on its length, and a call per sentence, mispredicted: with a branch per wide gap ~0.3 us per
// 3 KB item from L3). A sentence's sum is its first token's unigram feature plus
// BigramsBefore(to) - BigramsBefore(from + 1), the latter BigramsBefore(from) + bigrams[from]
// (from > 0): one BigramsBefore per sentence end. The scan's values below `count` are the
// sentences' ends in order; a repeated one (two patterns in one gap) or a 0 (a pattern before
// the first token) is a sentence of no tokens, which does not count.
// Writes the key to keys[0] and the second key (the least above it; 0: none) to keys[1].
STEPPEWATCH_AVX512_HASH void SentenceKeyAvx512(const uint32_t* sentence_ends, size_t n,
                                               size_t count, const uint64_t* unigrams,
                                               const uint64_t* bigrams, const uint64_t* totals,
                                               Fingerprint* keys) {
  // The values count (patterns after the last token) can only come last.
  while (n > 0 && sentence_ends[n - 1] >= count) --n;
  uint64_t best = ~uint64_t{0};
  uint64_t next = ~uint64_t{0};  // the least key above `best`
  bool any = false;
  size_t from = 0;
  uint64_t before_from = 0;  // BigramsBefore(from)
  for (size_t i = 0; i <= n; ++i) {
    const size_t to = i < n ? sentence_ends[i] : count;  // the last sentence (empty if one ended)
    const uint64_t before_to = BigramsBefore(bigrams, totals, to);
    const uint64_t pair = from != 0 ? bigrams[from] : 0;  // bigrams[0] is no pair
    uint64_t h = unigrams[from] + (before_to - before_from - pair);
    h ^= h >> 32;
    const uint64_t key = (h * kMul1) | 1;
    const bool counts = to - from >= kDefaultSentenceOptions.min_tokens;
    any |= counts;
    const uint64_t k = counts ? key : ~uint64_t{0};
    const uint64_t low = std::min(best, k);
    const uint64_t high = std::max(best, k);
    next = high != low ? std::min(next, high) : next;  // a key equal to the least is no second
    best = low;
    from = to;
    before_from = before_to;
  }
  keys[0] = any ? best : 0;
  keys[1] = next != ~uint64_t{0} ? next : 0;
}

}  // namespace

bool TokenFeatures(Kernel kernel, std::string_view text, const uint32_t* starts,
                   const uint32_t* ends, size_t count, uint64_t* unigrams, uint64_t* bigrams) {
  if (kernel == Kernel::kAvx512) {
    return TokenFeaturesAvx512<false>(text, starts, ends, count, unigrams, bigrams, nullptr, 0,
                                      nullptr);
  }
  return TokenFeaturesPortable(text, starts, ends, count, unigrams, bigrams);
}

bool AddTokenFeatures(std::string_view text, const uint32_t* starts, const uint32_t* ends,
                      size_t count, MinHashBins* bins, size_t lead_at, MinHashBins* lead,
                      Fingerprint* sentence, const uint32_t* sentence_ends, size_t sentence_count) {
  // On the stack, not the caller's scratch arrays: ~5% faster on a 3 KB item (the stack is in L1
  // and the compiler knows the bins are not in it).
  alignas(64) uint64_t unigrams[RoundUp8(MaxTokens(kDefaultOptions.max_body_bytes))];
  alignas(64) uint64_t bigrams[RoundUp8(MaxTokens(kDefaultOptions.max_body_bytes))];
  if (sentence == nullptr) {
    return TokenFeaturesAvx512<true>(text, starts, ends, count, unigrams, bigrams, bins, lead_at,
                                     lead);
  }
  alignas(64) uint64_t totals[8 + RoundUp8(MaxTokens(kDefaultOptions.max_body_bytes))];
  const bool empty = TokenFeaturesAvx512<true, true>(text, starts, ends, count, unigrams, bigrams,
                                                     bins, lead_at, lead, totals);
  // The first token's feature of every sentence is in `unigrams` (kEmptyBin only past the
  // count, which no sentence reads), its pairs' sums in `totals` and `bigrams`.
  SentenceKeyAvx512(sentence_ends, sentence_count, count, unigrams, bigrams, totals, sentence);
  return empty;
}

}  // namespace steppewatch::stories::internal
