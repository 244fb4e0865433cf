#include "stories/bucket_scan.h"

#include <immintrin.h>

namespace steppewatch::stories::bucket_scan {
namespace {

// Adds the live entries among [i + bit] for each bit of `m` to `out`, in order.
__attribute__((always_inline)) inline void TakeHits(const uint32_t* seqs, uint32_t i, uint32_t m,
                                                    uint32_t head, uint32_t live, uint32_t* out,
                                                    int* hits) {
  while (m != 0) {  // rare: a near-duplicate (or a filter alike by chance)
    const uint32_t seq = seqs[i + static_cast<uint32_t>(__builtin_ctz(m))];
    m &= m - 1;
    if (seq - head < live && *hits < kMaxHits) out[(*hits)++] = seq;
  }
}

// Inlined into both scalar versions below, so each is compiled for its own target.
__attribute__((always_inline)) inline int ScanScalar(const uint32_t* filters, const uint32_t* seqs,
                                                     uint32_t n, uint32_t q, int k, uint32_t head,
                                                     uint32_t live, uint32_t* out) {
  int hits = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (__builtin_popcount(filters[i] ^ q) <= k) TakeHits(seqs, i, 1, head, live, out, &hits);
  }
  return hits;
}

// Which of eight filters `f` are within K bits of `query`, as a mask in bucket order. A popcount
// is a table lookup per nibble in AVX2; instead each lane clears its lowest set bit K times
// (x & (x - 1)) and is then zero exactly when it had at most K bits: 2K + 3 operations for
// eight filters.
template <int K>
__attribute__((target("avx2"), always_inline)) inline uint32_t Within8(__m256i f, __m256i query) {
  __m256i x = _mm256_xor_si256(f, query);
  const __m256i all_ones = _mm256_set1_epi32(-1);
  for (int j = 0; j < K; ++j) x = _mm256_and_si256(x, _mm256_add_epi32(x, all_ones));
  return static_cast<uint32_t>(
      _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(x, _mm256_setzero_si256()))));
}

template <int K>
__attribute__((target("avx2"))) int ScanAvx2K(const uint32_t* filters, const uint32_t* seqs,
                                              uint32_t n, uint32_t q, uint32_t head, uint32_t live,
                                              uint32_t* out) {
  const __m256i query = _mm256_set1_epi32(static_cast<int>(q));
  int hits = 0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i f = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(filters + i));
    const uint32_t m = Within8<K>(f, query);
    if (m != 0) TakeHits(seqs, i, m, head, live, out, &hits);
  }
  if (i < n) {
    // The last 1-7 filters through a masked load (nothing read past the array's end).
    const int left = static_cast<int>(n - i);
    const __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i f = _mm256_maskload_epi32(reinterpret_cast<const int*>(filters + i), mask);
    const uint32_t m = Within8<K>(f, query) & ((1u << left) - 1);
    if (m != 0) TakeHits(seqs, i, m, head, live, out, &hits);
  }
  return hits;
}

}  // namespace

int ScanGeneric(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
                uint32_t head, uint32_t live, uint32_t* out) {
  return ScanScalar(filters, seqs, n, q, k, head, live, out);
}

__attribute__((target("popcnt"))) int ScanPopcnt(const uint32_t* filters, const uint32_t* seqs,
                                                 uint32_t n, uint32_t q, int k, uint32_t head,
                                                 uint32_t live, uint32_t* out) {
  return ScanScalar(filters, seqs, n, q, k, head, live, out);
}

int ScanAvx2(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
             uint32_t head, uint32_t live, uint32_t* out) {
  // The index's distances are 0-3 (StoryIndex clamps max_distance; the lead and sentence tables
  // look up with 0); any other the portable loop answers.
  switch (k) {
    case 0:
      return ScanAvx2K<0>(filters, seqs, n, q, head, live, out);
    case 1:
      return ScanAvx2K<1>(filters, seqs, n, q, head, live, out);
    case 2:
      return ScanAvx2K<2>(filters, seqs, n, q, head, live, out);
    case 3:
      return ScanAvx2K<3>(filters, seqs, n, q, head, live, out);
    default:
      return ScanScalar(filters, seqs, n, q, k, head, live, out);
  }
}

__attribute__((target("avx512f,avx512vpopcntdq"))) int ScanAvx512(const uint32_t* filters,
                                                                  const uint32_t* seqs, uint32_t n,
                                                                  uint32_t q, int k, uint32_t head,
                                                                  uint32_t live, uint32_t* out) {
  if (k < 0) return 0;  // no filter is within a negative distance (the portable loop agrees)
  const __m512i query = _mm512_set1_epi32(static_cast<int>(q));
  const __m512i limit = _mm512_set1_epi32(k);
  int hits = 0;
  for (uint32_t i = 0; i < n; i += 16) {
    const __mmask16 valid =
        n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i f = _mm512_maskz_loadu_epi32(valid, filters + i);
    const __m512i d = _mm512_popcnt_epi32(_mm512_xor_si512(f, query));
    const uint32_t m = _mm512_mask_cmple_epu32_mask(valid, d, limit);
    if (m != 0) TakeHits(seqs, i, m, head, live, out, &hits);
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
