// Inline UTF-8 decoding shared by fold.cc and utf8.cc (private to the normalise stage).
#pragma once

#include <cstddef>
#include <cstdint>

namespace steppewatch::normalise::internal {

// Decodes the sequence at s[0..avail) strictly (no overlongs, surrogates or values past
// U+10FFFF). Returns its length (1-4) and sets *cp, or returns 0 when the sequence is invalid or
// truncated. Requires avail >= 1 and s[0] >= 0x80.
inline uint32_t DecodeMultiByte(const uint8_t* s, size_t avail, uint32_t* cp) {
  const uint8_t b0 = s[0];
  if (b0 < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (b0 < 0xE0) {
    if (avail < 2 || (s[1] & 0xC0) != 0x80) return 0;
    *cp = (uint32_t{b0} & 0x1F) << 6 | (s[1] & 0x3F);
    return 2;
  }
  if (b0 < 0xF0) {
    if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (b0 == 0xE0 && s[1] < 0xA0) return 0;   // overlong
    if (b0 == 0xED && s[1] >= 0xA0) return 0;  // surrogate
    *cp = (uint32_t{b0} & 0x0F) << 12 | (uint32_t{s[1]} & 0x3F) << 6 | (s[2] & 0x3F);
    return 3;
  }
  if (b0 > 0xF4 || avail < 4) return 0;
  if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
  if (b0 == 0xF0 && s[1] < 0x90) return 0;   // overlong
  if (b0 == 0xF4 && s[1] >= 0x90) return 0;  // past U+10FFFF
  *cp = (uint32_t{b0} & 0x07) << 18 | (uint32_t{s[1]} & 0x3F) << 12 | (uint32_t{s[2]} & 0x3F) << 6 |
        (s[3] & 0x3F);
  return 4;
}

// Encodes `cp` (a valid scalar value) at `out`; returns the byte count.
inline uint32_t EncodeUtf8(uint32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

// The length of the HTML character reference at s[at] (an '&') that Fold reads as a character,
// and that character in *cp; 0 when Fold leaves it as text (fold.h says which; defined in
// fold.cc). For the word index, which reads the original text as Fold does.
uint32_t ReferenceAt(const uint8_t* s, size_t n, size_t at, uint32_t* cp);

}  // namespace steppewatch::normalise::internal
