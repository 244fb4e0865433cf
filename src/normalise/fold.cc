#include "steppewatch/normalise/fold.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline, so no runtime dispatch is needed

#include <algorithm>
#include <array>

#include "normalise/unicode_tables.h"
#include "normalise/utf8_internal.h"

namespace steppewatch::normalise {
namespace {

// Bytes of headroom past the folded text so the 16-byte SIMD store never needs a bounds check.
constexpr size_t kStoreSlack = 16;

// Per ASCII byte: its fold, and whether it is white space.
struct AsciiTable {
  std::array<char, 128> fold;
  std::array<bool, 128> space;
};

constexpr AsciiTable MakeAsciiTable() {
  AsciiTable t{};
  for (int c = 0; c < 128; ++c) {
    const bool ws = c == ' ' || (c >= '\t' && c <= '\r');
    t.space[c] = ws;
    t.fold[c] = ws ? ' ' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
  }
  return t;
}

constexpr AsciiTable kAscii = MakeAsciiTable();

}  // namespace

void FoldedText::Reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  // Grow geometrically so a slowly growing field size does not reallocate every time.
  capacity_ = std::max(bytes, capacity_ + capacity_ / 2);
  data_ = std::make_unique<char[]>(capacity_);
}

uint32_t FoldedText::ToOriginal(uint32_t folded_offset) const {
  if (map_.empty()) return folded_offset;
  auto it = std::upper_bound(
      map_.begin(), map_.end(), folded_offset,
      [](uint32_t f, const MapEntry& e) { return f < e.folded; });
  if (it == map_.begin()) return folded_offset;
  --it;
  return folded_offset - it->folded + it->original;
}

void Fold(std::string_view text, FoldedText* out) {
  const size_t n = text.size();
  // A folded character is at most one byte longer than the original, and only for originals of
  // two or more bytes (checked by the table generator), so 1.5x bounds the output.
  out->Reserve(n + n / 2 + kStoreSlack);
  out->map_.clear();
  char* const dst = out->data_.get();
  const auto* const s = reinterpret_cast<const uint8_t*>(text.data());
  auto& map = out->map_;

  size_t i = 0;  // input position
  size_t o = 0;  // output position
  bool prev_space = false;

  // Records that from output offset `o` on, original = o + (i - o).
  auto note = [&]() {
    if (!map.empty() && map.back().folded == o) {
      map.back().original = static_cast<uint32_t>(i);
    } else {
      map.push_back({static_cast<uint32_t>(o), static_cast<uint32_t>(i)});
    }
  };

  // Folds the one code point at s[i].
  auto step = [&]() {
    const uint8_t b = s[i];
    if (b < 0x80) {
      if (kAscii.space[b]) {
        ++i;
        if (prev_space) {
          note();
          return;
        }
        prev_space = true;
        dst[o++] = ' ';
        return;
      }
      prev_space = false;
      dst[o++] = kAscii.fold[b];
      ++i;
      return;
    }
    uint32_t cp = 0;
    const uint32_t len = internal::DecodeMultiByte(s + i, n - i, &cp);
    if (len == 0) {
      prev_space = false;
      dst[o++] = '?';
      ++i;
      return;
    }
    const uint32_t entry = internal::Entry(cp);
    i += len;
    if (internal::EntryFlags(entry) & internal::kFlagSpace) {
      if (!prev_space) dst[o++] = ' ';
      prev_space = true;
      note();
      return;
    }
    prev_space = false;
    const uint32_t olen = internal::EncodeUtf8(internal::EntryFold(cp, entry), dst + o);
    o += olen;
    if (olen != len) note();
  };

  const __m128i k_a_minus_1 = _mm_set1_epi8('A' - 1);
  const __m128i k_z_plus_1 = _mm_set1_epi8('Z' + 1);
  const __m128i k_case_bit = _mm_set1_epi8(0x20);
  const __m128i k_space = _mm_set1_epi8(' ');
  const __m128i k_tab_minus_1 = _mm_set1_epi8('\t' - 1);
  const __m128i k_cr_plus_1 = _mm_set1_epi8('\r' + 1);

  while (i < n) {
    if (n - i >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      const int high = _mm_movemask_epi8(v);
      if (high == 0) {
        // 16 ASCII bytes. Signed compares are right: all bytes are < 0x80 here.
        const __m128i upper =
            _mm_and_si128(_mm_cmpgt_epi8(v, k_a_minus_1), _mm_cmplt_epi8(v, k_z_plus_1));
        const __m128i ws = _mm_or_si128(
            _mm_cmpeq_epi8(v, k_space),
            _mm_and_si128(_mm_cmpgt_epi8(v, k_tab_minus_1), _mm_cmplt_epi8(v, k_cr_plus_1)));
        const unsigned wm = static_cast<unsigned>(_mm_movemask_epi8(ws));
        // A space that follows a space collapses: the output gets shorter, take the slow path.
        if ((wm & ((wm << 1) | (prev_space ? 1u : 0u))) == 0) {
          const __m128i lower = _mm_or_si128(v, _mm_and_si128(upper, k_case_bit));
          const __m128i res = _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, k_space));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + o), res);
          i += 16;
          o += 16;
          prev_space = (wm >> 15) & 1;
          continue;
        }
        const size_t block_end = i + 16;
        while (i < block_end) step();
        continue;
      }
      // Fold the ASCII bytes before the first non-ASCII byte, then the non-ASCII run.
      const size_t block_end = i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(high)));
      while (i < block_end) step();
      while (i < n && s[i] >= 0x80) step();
      continue;
    }
    step();
  }
  out->size_ = o;
}

std::string FoldToString(std::string_view text) {
  FoldedText folded;
  Fold(text, &folded);
  return std::string(folded.text());
}

}  // namespace steppewatch::normalise
