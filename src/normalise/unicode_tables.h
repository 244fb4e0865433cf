// The generated Unicode tables of the normalise stage (see gen_unicode_tables.py): one packed
// uint32 per code point, two-level. Private to src/normalise; the public API is utf8.h / fold.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace steppewatch::normalise::internal {

// Flag bits (entry >> 24).
inline constexpr uint32_t kFlagWord = 1;    // letter, digit or combining mark
inline constexpr uint32_t kFlagCjk = 2;     // Han, kana, hangul letter: one word per character
inline constexpr uint32_t kFlagSpace = 4;   // white space: folds to ' '
inline constexpr uint32_t kFlagJoiner = 8;  // apostrophe or hyphen: joins a word for NEAR
// Soft hyphen and zero-width characters (U+00AD U+200B U+200C U+200D U+2060 U+FEFF): Fold drops
// them, and word boundaries are looked for past them.
inline constexpr uint32_t kFlagIgnore = 16;

extern const char kUnicodeVersion[];

// The named HTML character references Fold decodes, sorted by name (byte order).
struct HtmlEntity {
  const char* name;
  uint32_t cp;
};
extern const HtmlEntity kHtmlEntities[];
extern const size_t kHtmlEntityCount;
// Code points of the numeric references &#128;..&#159; (Windows-1252, as HTML 5 reads them);
// 0 where Windows-1252 has no character.
extern const uint16_t kWindows1252[32];
extern const uint16_t kStage1[0x110000 >> 8];
extern const uint32_t kStage2[][256];

// Returns the packed entry of `cp` (< 0x110000).
inline uint32_t Entry(uint32_t cp) { return kStage2[kStage1[cp >> 8]][cp & 0xFF]; }

inline uint32_t EntryFlags(uint32_t entry) { return entry >> 24; }

// Returns the folded code point of `cp` given its entry.
inline uint32_t EntryFold(uint32_t cp, uint32_t entry) {
  // Sign-extend the 24-bit delta.
  int32_t delta = static_cast<int32_t>(entry << 8) >> 8;
  return static_cast<uint32_t>(static_cast<int32_t>(cp) + delta);
}

}  // namespace steppewatch::normalise::internal
