// The story index's bucket scan (story_index.cc): its versions for each instruction set, apart
// so that a test can hold every version the machine runs against the portable one.
//
// A bucket holds two arrays of n 32-bit words: the entries' filters (the key's 32 filter bits),
// which a scan reads whole, and their stories' sequence numbers (mod 2^32), which it reads only
// for the entries whose filter passes. A scan writes the sequence numbers of the live entries
// whose filter is within `k` bits of `q` to `out`, in bucket order, at most kMaxHits of them, and
// returns how many. An entry is live when its sequence number minus `head` (mod 2^32) is below
// `live`.
//
// Thread-safe: functions of their arguments only.
#pragma once

#include <cstdint>

namespace steppewatch::stories::bucket_scan {

// Near-duplicates of one item in one bucket; more is pathological.
constexpr int kMaxHits = 64;

using ScanFn = int (*)(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
                       uint32_t head, uint32_t live, uint32_t* out);

// The portable version (x86-64 without POPCNT: __builtin_popcount is a library call there).
int ScanGeneric(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
                uint32_t head, uint32_t live, uint32_t* out);
// The same loop compiled with POPCNT. Only where HasPopcnt().
int ScanPopcnt(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
               uint32_t head, uint32_t live, uint32_t* out);
// Eight filters per step with AVX2. Only where HasAvx2().
int ScanAvx2(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
             uint32_t head, uint32_t live, uint32_t* out);
// Sixteen filters per step with AVX-512 VPOPCNTD. Only where HasAvx512().
int ScanAvx512(const uint32_t* filters, const uint32_t* seqs, uint32_t n, uint32_t q, int k,
               uint32_t head, uint32_t live, uint32_t* out);

bool HasPopcnt();
bool HasAvx2();
bool HasAvx512();

// The fastest version this machine runs: AVX-512, else AVX2, else POPCNT, else the portable one.
ScanFn Choose();

}  // namespace steppewatch::stories::bucket_scan
