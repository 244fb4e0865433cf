// The fingerprint's sketches: the one-permutation MinHash of 64 one-bit bins that the product
// uses, and SimHash's counters over the same features, kept for the evaluation that chose
// between them: a portable bit-sliced counter kernel and an AVX-512BW one picked at run time,
// which count exactly, so they give the same fingerprint.
#include <immintrin.h>

#include <algorithm>
#include <array>

#include "stories/fingerprint_internal.h"

namespace steppewatch::stories::internal {
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

}  // namespace

// One-permutation MinHash (Li, Owen and Zhang, NIPS 2012) with one bit per bin (b-bit minwise
// hashing, Li and König, WWW 2010): the top 6 bits of a feature hash pick one of 64 bins, each
// bin keeps the smallest of the other 58 bits, and bit b of the fingerprint is a hash bit of
// bin b's minimum. Two items agree on a bin's bit with probability (1 + J) / 2, J the Jaccard
// resemblance of their feature sets, so their expected distance is 32 (1 - J): linear in the
// share of features an edit changes, where SimHash's grows with its square root (measured:
// benchmarks/README.md, "Stories: fingerprint"). Bins no feature fell into (short items)
// borrow the minimum of another bin in kProbes order.
void MinHashBins::Reset() { std::fill(std::begin(bins), std::end(bins), kEmptyBin); }

namespace {

// b * kMul1 for each bin b: what bin b's bit mixes in (below).
alignas(64) constexpr std::array<uint64_t, 64> kBinSalts = [] {
  std::array<uint64_t, 64> t{};
  for (int b = 0; b < 64; ++b) t[b] = static_cast<uint64_t>(b) * kMul1;
  return t;
}();

#define STEPPEWATCH_AVX512_BINS __attribute__((target("avx512f,avx512dq")))

// Finish with the AVX-512 kernel (the same value): the bins are read once, eight at a time, for
// their occupancy and their bits; an empty bin's bit is then computed on its own from the
// minimum it borrows. The previous form (the bins copied to a second array, the borrowed
// minimums written into it and the array read again for the bits: a memcpy, and 64-byte loads
// after 8-byte stores) had 6.3% of a profile of 3 KB items with their lead key; this one 5.1%.
// For each empty bin, the occupancy bits in its probe order come from one byte permute (VBMI),
// so the first occupied bin is a count of trailing zeros, with no branch per eight positions
// (those mispredict: most of a short sketch's finish).
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vbmi"))) Fingerprint FinishAvx512(
    const uint64_t* bins) {
  uint64_t occupied = 0;  // bit b: bin b has a minimum of its own
  Fingerprint fp = 0;
  const __m512i mul2 = _mm512_set1_epi64(static_cast<long long>(kMul2));
  for (int q = 0; q < 8; ++q) {
    const __m512i v = _mm512_loadu_si512(bins + 8 * q);
    occupied |= uint64_t{_mm512_cmpneq_epu64_mask(v, _mm512_set1_epi64(-1))}  // kEmptyBin
                << (8 * q);
    const __m512i value = _mm512_and_si512(v, _mm512_set1_epi64(kValueMask));  // AddKey's too
    const __m512i mixed = _mm512_mullo_epi64(
        _mm512_xor_si512(value, _mm512_load_si512(kBinSalts.data() + 8 * q)), mul2);
    fp |= uint64_t{_mm512_movepi64_mask(mixed)} << (8 * q);  // bit 63 of each
  }
  if (occupied == 0) return 0;
  fp &= occupied;
  const __m512i occupied_bytes = _mm512_movm_epi8(_cvtu64_mask64(occupied));
  for (uint64_t empty = ~occupied; empty != 0; empty &= empty - 1) {
    const int b = __builtin_ctzll(empty);
    const __m512i order = _mm512_loadu_si512(kProbes.order[b].data());
    // The zero-masked form: GCC 12 warns about the unmasked one's undefined pass-through.
    const uint64_t in_order = _cvtmask64_u64(_mm512_movepi8_mask(
        _mm512_maskz_permutexvar_epi8(_cvtu64_mask64(~uint64_t{0}), order, occupied_bytes)));
    const uint64_t value = bins[kProbes.order[b][__builtin_ctzll(in_order)]] & kValueMask;
    fp |= (((value ^ kBinSalts[b]) * kMul2) >> 63) << b;
  }
  return fp;
}

STEPPEWATCH_AVX512_BINS void CopyBinsAvx512(const uint64_t* from, uint64_t* to) {
  for (int q = 0; q < 8; ++q) _mm512_storeu_si512(to + 8 * q, _mm512_loadu_si512(from + 8 * q));
}
}  // namespace

void CopyBins(Kernel kernel, const MinHashBins& from, MinHashBins* to) {
  if (kernel == Kernel::kAvx512) {
    CopyBinsAvx512(from.bins, to->bins);
  } else {
    std::memcpy(to->bins, from.bins, sizeof from.bins);
  }
}

namespace {
// Returns `bin` when its bit of `occupied` is set, else `from`: a bit test and a conditional
// move (GCC 12 compiled the plain select to a branch, which mispredicts).
inline uint64_t FirstIfOccupied(uint64_t occupied, uint64_t bin, uint64_t from) {
  __asm__("btq %[bin], %[occupied]\n\tcmovcq %[bin], %[from]"
          : [from] "+r"(from)
          : [bin] "r"(bin), [occupied] "r"(occupied)
          : "cc");
  return from;
}
}  // namespace

Fingerprint MinHashBins::Finish(Kernel kernel) const {
  if (kernel == Kernel::kAvx512) return FinishAvx512(bins);
  // One pass over the bins for their occupancy and their bits, from bin 63 down so that each
  // bit shifts in at the bottom (no shift by a variable count); an empty bin's bit is then
  // computed on its own from the minimum it borrows (the previous form copied the bins to a
  // second array first, a `rep movsq` that had 12% of this function's time, and read them
  // twice).
  uint64_t occupied = 0;  // bit b: bin b has a minimum of its own
  Fingerprint fp = 0;
#pragma GCC unroll 8
  for (int b = 63; b >= 0; --b) {
    const uint64_t v = bins[b];
    occupied = occupied * 2 + (v != kEmptyBin);
    // One well-mixed bit of (minimum, bin): bins that borrowed the same minimum still differ.
    fp = fp * 2 + ((((v & kValueMask) ^ kBinSalts[b]) * kMul2) >> 63);
  }
  if (occupied == 0) return 0;
  fp &= occupied;
  // Only the empty bins probe (a short item has many, a 3 KB item's lead key ~13): the first
  // occupied bin in kProbes order. Among the first four probes it is picked with conditional
  // moves, no branch (whether a probe is occupied is unpredictable, and a mispredicted branch
  // per empty bin was most of a one-line item's time); when all four are empty (with 20% of the
  // bins empty, one time in 600), eight probe positions at a time, with one branch per eight.
  for (uint64_t empty = ~occupied; empty != 0; empty &= empty - 1) {
    const int b = __builtin_ctzll(empty);
    const uint8_t* order = kProbes.order[b].data();
    uint64_t from = 64;  // none
#pragma GCC unroll 4
    for (int k = 3; k >= 0; --k) from = FirstIfOccupied(occupied, order[k], from);
    if (from == 64) [[unlikely]] {
      for (int j = 4;; j += 8) {  // ends within 64 positions: order is a permutation of all bins
        uint32_t hit = 0;
        for (int k = 0; k < 8; ++k) {
          hit |= static_cast<uint32_t>((occupied >> order[(j + k) & 63]) & 1) << k;
        }
        if (hit != 0) {
          from = order[(j + __builtin_ctz(hit)) & 63];
          break;
        }
      }
    }
    const uint64_t value = bins[from];
    fp |= ((((value & kValueMask) ^ kBinSalts[b]) * kMul2) >> 63) << b;
  }
  return fp;
}

bool KernelSupported(Kernel kernel) {
  switch (kernel) {
    case Kernel::kPortable:
      return true;
    case Kernel::kAvx512:
      // The token scan's byte compress is VBMI2's, the token hashes' byte permutes VBMI's and
      // 64-bit multiplies DQ's; the SimHash counters need only BW.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") &&
             __builtin_cpu_supports("bmi2");
    case Kernel::kAvx2:
      // The AVX2 token scan is compiled for these: its 32-byte compares are AVX2's, its block
      // masks use TZCNT (BMI1) and BZHI (BMI2). The hashes and bins are the portable code.
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
  }
  return false;
}

Kernel BestKernel() {
  static const Kernel best = KernelSupported(Kernel::kAvx512) ? Kernel::kAvx512
                             : KernelSupported(Kernel::kAvx2) ? Kernel::kAvx2
                                                              : Kernel::kPortable;
  return best;
}

}  // namespace steppewatch::stories::internal
