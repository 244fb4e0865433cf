// The story index's bucket scan: every version this machine runs (AVX2, AVX-512, POPCNT) against
// the portable one on random buckets, with near filters, stale and wrapped sequence numbers, every
// length that ends a vector step part-way and buckets with more hits than a scan keeps.
#include "stories/bucket_scan.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace steppewatch::stories::bucket_scan {
namespace {

struct Version {
  std::string name;
  ScanFn scan;
};

std::vector<Version> Available() {
  std::vector<Version> v;
  if (HasPopcnt()) v.push_back({"popcnt", &ScanPopcnt});
  if (HasAvx2()) v.push_back({"avx2", &ScanAvx2});
  if (HasAvx512()) v.push_back({"avx512", &ScanAvx512});
  return v;
}

// A filter `flips` random bits away from `q`.
uint32_t Near(uint32_t q, int flips, std::mt19937_64& rng) {
  for (int f = 0; f < flips; ++f) q ^= 1u << (rng() % 32);
  return q;
}

TEST(BucketScan, EveryVersionAgreesWithThePortableOneOnRandomBuckets) {
  const std::vector<Version> versions = Available();
  std::printf("versions on this machine:");
  for (const Version& v : versions) std::printf(" %s", v.name.c_str());
  std::printf("\n");
  std::mt19937_64 rng(13);
  size_t compared = 0, with_hits = 0, full = 0;
  for (int round = 0; round < 40000; ++round) {
    // Lengths 0-40 mostly (every remainder of a step of 8), sometimes a crowded bucket.
    const uint32_t n =
        round % 50 == 0 ? static_cast<uint32_t>(rng() % 600) : static_cast<uint32_t>(rng() % 41);
    // Sometimes a query of few bits, which the zeros a masked load gives for the lanes past the
    // bucket's end would match.
    const uint32_t q =
        round % 4 == 0 ? Near(0, static_cast<int>(rng() % 4), rng) : static_cast<uint32_t>(rng());
    const int k = static_cast<int>(rng() % 6);  // 0-3 as the index asks, 4-5 the fallback
    // The window: head anywhere (wrapping past 2^32 too), entries in sequence order from a few
    // before the head (stale) to past the live count.
    const uint32_t head = static_cast<uint32_t>(rng());
    const uint32_t live = 1 + static_cast<uint32_t>(rng() % 2000);
    // The words past the arrays' ends hold live entries whose filter equals the query: a
    // version that reads them as entries reports them.
    auto filter_storage = std::make_unique<uint32_t[]>(n + 16);
    auto seq_storage = std::make_unique<uint32_t[]>(n + 16);
    uint32_t* filters = filter_storage.get();
    uint32_t* seqs = seq_storage.get();
    for (uint32_t i = n; i < n + 16; ++i) {
      filters[i] = q;
      seqs[i] = head;
    }
    uint32_t seq = head - static_cast<uint32_t>(rng() % 20);
    const int near_share = static_cast<int>(rng() % 4);  // 0: few near filters, 3: most
    for (uint32_t i = 0; i < n; ++i) {
      seq += static_cast<uint32_t>(1 + rng() % 3);
      const uint32_t filter = static_cast<int>(rng() % 4) < near_share
                                  ? Near(q, static_cast<int>(rng() % 6), rng)
                                  : static_cast<uint32_t>(rng());
      filters[i] = filter;
      seqs[i] = seq;
    }
    uint32_t expected[kMaxHits];
    const int expected_n = ScanGeneric(filters, seqs, n, q, k, head, live, expected);
    with_hits += expected_n > 0;
    full += expected_n == kMaxHits;
    for (const Version& v : versions) {
      uint32_t got[kMaxHits];
      const int got_n = v.scan(filters, seqs, n, q, k, head, live, got);
      ASSERT_EQ(got_n, expected_n) << v.name << " n=" << n << " k=" << k << " round " << round;
      for (int h = 0; h < got_n; ++h) {
        ASSERT_EQ(got[h], expected[h]) << v.name << " hit " << h << " round " << round;
      }
      ++compared;
    }
  }
  // The rounds reach what they are meant to: hits, and buckets past kMaxHits.
  EXPECT_GT(with_hits, 10000u);
  EXPECT_GT(full, 10u);
  if (!versions.empty()) {
    EXPECT_GT(compared, 40000u);
  }
}

TEST(BucketScan, ChoosesAVersionThisMachineRuns) {
  const ScanFn chosen = Choose();
  if (HasAvx512()) {
    EXPECT_EQ(chosen, &ScanAvx512);
  } else if (HasAvx2()) {
    EXPECT_EQ(chosen, &ScanAvx2);
  } else if (HasPopcnt()) {
    EXPECT_EQ(chosen, &ScanPopcnt);
  } else {
    EXPECT_EQ(chosen, &ScanGeneric);
  }
}

}  // namespace
}  // namespace steppewatch::stories::bucket_scan
