// The story index's bucket scan (story_index.cc): its versions for each instruction set, apart
// so that a test can hold every version the machine runs against the portable one.
//
// A bucket entry is a 64-bit word: the key's 32-bit filter (low half) and the story's sequence
// number (high half, mod 2^32). A scan writes the sequence numbers of the live entries whose
// filter is within `k` bits of `q` to `out`, in bucket order, at most kMaxHits of them, and
// returns how many. An entry is live when its sequence number minus `head` (mod 2^32) is below
// `live`.
//
// Thread-safe: functions of their arguments only.
#pragma once

#include <cstdint>

namespace steppewatch::stories::bucket_scan {

// Near-duplicates of one item in one bucket; more is pathological.
constexpr int kMaxHits = 64;

using ScanFn = int (*)(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head,
                       uint32_t live, uint32_t* out);

// The portable version (x86-64 without POPCNT: __builtin_popcount is a library call there).
int ScanGeneric(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head,
                uint32_t live, uint32_t* out);
// The same loop compiled with POPCNT. Only where HasPopcnt().
int ScanPopcnt(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head, uint32_t live,
               uint32_t* out);
// Eight entries per step with AVX2. Only where HasAvx2().
int ScanAvx2(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head, uint32_t live,
             uint32_t* out);
// Eight entries per instruction with AVX-512 VPOPCNTQ. Only where HasAvx512().
int ScanAvx512(const uint64_t* entries, uint32_t n, uint32_t q, int k, uint32_t head, uint32_t live,
               uint32_t* out);

bool HasPopcnt();
bool HasAvx2();
bool HasAvx512();

// The fastest version this machine runs: AVX-512, else AVX2, else POPCNT, else the portable one.
ScanFn Choose();

}  // namespace steppewatch::stories::bucket_scan
