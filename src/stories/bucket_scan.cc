#include "stories/bucket_scan.h"

#include <immintrin.h>

namespace steppewatch::stories::bucket_scan {
namespace {

// Inlined into both scalar versions below, so each is compiled for its own target.
__attribute__((always_inline)) inline int ScanScalar(const uint64_t* entries, uint32_t n,
                                                     uint32_t q, int k, uint32_t head,
                                                     uint32_t live, uint32_t* out) {
  int hits = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t e = entries[i];
    const uint32_t seq = static_cast<uint32_t>(e >> 32);
    if (seq - head >= live) continue;
    if (hits < kMaxHits && __builtin_popcount(static_cast<uint32_t>(e) ^ q) <= k) {
      out[hits++] = seq;
    }
  }
  return hits;
}

// Which of entries[0..8) (`a` the first four, `b` the next) have a filter within K bits of `q`,
// as a mask in entry order. A popcount is a table lookup per nibble in AVX2; instead each lane
// clears its lowest set bit K times (x & (x - 1)) and is then zero exactly when it had at most K
// bits: 2K + 3 operations for eight filters.
template <int K>
__attribute__((target("avx2"), always_inline)) inline uint32_t Within8(__m256i a, __m256i b,
                                                                       __m256i query) {
  // The low halves: [e0 e1 e4 e5 | e2 e3 e6 e7] (shufps works within 128-bit lanes).
  __m256i x = _mm256_xor_si256(
      _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b),
                                            _MM_SHUFFLE(2, 0, 2, 0))),
      query);
  const __m256i all_ones = _mm256_set1_epi32(-1);
  for (int j = 0; j < K; ++j) x = _mm256_and_si256(x, _mm256_add_epi32(x, all_ones));
  const uint32_t m = static_cast<uint32_t>(
      _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(x, _mm256_setzero_si256()))));
  // Back to entry order: bits 2-3 hold e4-e5, bits 4-5 e2-e3.
  return (m & 0xc3u) | ((m << 2) & 0x30u) | ((m >> 2) & 0x0cu);
}

// Adds the live entries among entries[i + bit] for each bit of `m` to `out`, in order.
__attribute__((always_inline)) inline void TakeHits(const uint64_t* entries, uint32_t i, uint32_t m,
                                                    uint32_t head, uint32_t live, uint32_t* out,
                                                    int* hits) {
  while (m != 0) {  // rare: a near-duplicate (or a filter alike by chance)
    const uint32_t seq = static_cast<uint32_t>(entries[i + __builtin_ctz(m)] >> 32);
    m &= m - 1;
    if (seq - head < live && *hits < kMaxHits) out[(*hits)++] = seq;
  }
}

template <int K>
__attribute__((target("avx2"))) int ScanAvx2K(const uint64_t* entries, uint32_t n, uint32_t q,
                                              uint32_t head, uint32_t live, uint32_t* out) {
  const __m256i query = _mm256_set1_epi32(static_cast<int>(q));
  int hits = 0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(entries + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(entries + i + 4));
    const uint32_t m = Within8<K>(a, b, query);
    if (m != 0) TakeHits(entries, i, m, head, live, out, &hits);
  }
  if (i < n) {
    // The last 1-7 entries through masked loads (nothing read past the bucket's end).
    const long long left = n - i;
    const __m256i count = _mm256_set1_epi64x(left);
    const __m256i mask_a = _mm256_cmpgt_epi64(count, _mm256_setr_epi64x(0, 1, 2, 3));
    const __m256i mask_b = _mm256_cmpgt_epi64(count, _mm256_setr_epi64x(4, 5, 6, 7));
    const auto* p = reinterpret_cast<const long long*>(entries + i);
    const __m256i a = _mm256_maskload_epi64(p, mask_a);
    const __m256i b = _mm256_maskload_epi64(p + 4, mask_b);
    const uint32_t m = Within8<K>(a, b, query) & ((1u << left) - 1);
    if (m != 0) TakeHits(entries, i, m, head, live, out, &hits);
  }
  return hits;
}

}  // namespace

int ScanGeneric(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head,
                uint32_t live, uint32_t* out) {
  return ScanScalar(entries, n, q, k, head, live, out);
}

__attribute__((target("popcnt"))) int ScanPopcnt(const uint64_t* entries, uint32_t n, uint32_t q,
                                                 int k, uint32_t head, uint32_t live,
                                                 uint32_t* out) {
  return ScanScalar(entries, n, q, k, head, live, out);
}

int ScanAvx2(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head, uint32_t live,
             uint32_t* out) {
  // The index's distances are 0-3 (StoryIndex clamps max_distance; the lead and sentence tables
  // look up with 0); any other the portable loop answers.
  switch (k) {
    case 0:
      return ScanAvx2K<0>(entries, n, q, head, live, out);
    case 1:
      return ScanAvx2K<1>(entries, n, q, head, live, out);
    case 2:
      return ScanAvx2K<2>(entries, n, q, head, live, out);
    case 3:
      return ScanAvx2K<3>(entries, n, q, head, live, out);
    default:
      return ScanScalar(entries, n, q, k, head, live, out);
  }
}

__attribute__((target("avx512f,avx512vpopcntdq"))) int ScanAvx512(const uint64_t* entries,
                                                                  uint32_t n, uint32_t q, int k,
                                                                  uint32_t head, uint32_t live,
                                                                  uint32_t* out) {
  const __m512i query = _mm512_set1_epi64(q);
  const __m512i low_half = _mm512_set1_epi64(0xffffffff);
  const __m512i head_high = _mm512_set1_epi64(static_cast<long long>(uint64_t{head} << 32));
  const __m512i live_count = _mm512_set1_epi64(live);
  const __m512i limit = _mm512_set1_epi64(k);
  int hits = 0;
  for (uint32_t i = 0; i < n; i += 8) {
    __mmask8 valid = n - i >= 8 ? 0xff : static_cast<__mmask8>((1u << (n - i)) - 1);
    __m512i v = _mm512_maskz_loadu_epi64(valid, entries + i);
    // The high halves minus the window's first sequence number, per 32-bit lane (no borrow into
    // the filter), shifted down: the story's position in the window, or >= live when stale.
    // (The maskz form: GCC 12 warns about the undefined source of the plain one.)
    __m512i rel = _mm512_maskz_srli_epi64(valid, _mm512_sub_epi32(v, head_high), 32);
    __mmask8 is_live = _mm512_mask_cmplt_epu64_mask(valid, rel, live_count);
    __m512i d = _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(v, query), low_half));
    __mmask8 m = _mm512_mask_cmple_epu64_mask(is_live, d, limit);
    while (m != 0 && hits < kMaxHits) {  // rare: a near-duplicate
      out[hits++] =
          static_cast<uint32_t>(entries[i + static_cast<uint32_t>(__builtin_ctz(m))] >> 32);
      m &= m - 1;
    }
  }
  return hits;
}

bool HasPopcnt() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("popcnt");
}

bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

bool HasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
}

ScanFn Choose() {
  if (HasAvx512()) return &ScanAvx512;
  if (HasAvx2()) return &ScanAvx2;
  if (HasPopcnt()) return &ScanPopcnt;
  return &ScanGeneric;
}

}  // namespace steppewatch::stories::bucket_scan
