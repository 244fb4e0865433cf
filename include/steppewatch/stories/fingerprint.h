// The near-duplicate fingerprint of an alerted item: a 64-bit SimHash of the item's folded text,
// computed by the item processor (daemon and `steppewatch match` alike) for items that alert
// only, and carried in the alert as "item.fingerprint" (16 lower-case hex digits). The stories
// stage groups alerts whose fingerprints are within kNearDuplicateDistance bits of each other
// into one story; it never sees the text.
//
// Threading: Fingerprinter is one per worker thread (it reuses scratch buffers); the free
// functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace steppewatch::stories {

using Fingerprint = uint64_t;

// Two items are near-duplicates (copies of one story) when the Hamming distance of their
// fingerprints is at most this. Chosen by measurement (benchmarks/README.md, "Stories").
inline constexpr int kNearDuplicateDistance = 3;

// Returns the Hamming distance of two fingerprints.
inline int Distance(Fingerprint a, Fingerprint b) { return __builtin_popcountll(a ^ b); }

class Fingerprinter {
 public:
  Fingerprinter();
  ~Fingerprinter();
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;

  // Computes the fingerprint of an item from its folded title and body (normalise::Fold output,
  // as match::MatchContext::folded() returns them). Never fails; an empty item has fingerprint 0.
  Fingerprint Compute(std::string_view folded_title, std::string_view folded_body);

 private:
  struct Scratch;
  Scratch* scratch_;
};

// Appends the 16-hex-digit form of `fp` to `*out`.
void AppendFingerprint(Fingerprint fp, std::string* out);
// Parses the 16-hex-digit form; false on anything else.
bool ParseFingerprint(std::string_view text, Fingerprint* fp);

}  // namespace steppewatch::stories
