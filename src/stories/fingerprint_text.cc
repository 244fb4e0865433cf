// The fingerprint's text rules: which bytes of the folded title and body count. Boilerplate a
// syndicated copy adds (a wire dateline, a byline line, a footer as the last sentence, an outlet
// tag after the headline) is cut off, so the copy and its original keep the same text; the byte
// limits bound the cost of huge items (the lead of an article is what its copies keep).
#include <immintrin.h>

#include <algorithm>
#include <array>

#include "stories/fingerprint_internal.h"

namespace steppewatch::stories::internal {
namespace {

// Returns the position where the last sentence of p[i, n) starts (after its '.', '!', '?' or
// 。), or 0 when no such cut keeps min_kept bytes after i and drops at most max_dropped bytes (0:
// any). Out of line: it runs once per body.
__attribute__((noinline)) size_t LastSentenceStart(const char* p, size_t i, size_t n,
                                                   size_t min_kept, size_t max_dropped) {
  auto ends_sentence = [p](size_t j) {
    const unsigned char c = static_cast<unsigned char>(p[j]);
    return c == '.' || c == '!' || c == '?' ||
           (c == 0x82 && j >= 2 && p[j - 2] == '\xE3' && p[j - 1] == '\x80');  // 。
  };
  size_t e = n;
  while (e > i && (p[e - 1] == ' ' || ends_sentence(e - 1))) --e;
  // Only a sentence end at or above `lo` can give a cut that keeps min_kept_bytes and drops at
  // most max_dropped_bytes: the scan stops there (a one-line item is not read twice).
  size_t lo = i;
  if (min_kept > 0) lo = std::max(lo, i + min_kept - 1);
  if (max_dropped != 0 && n > max_dropped + 1) {
    lo = std::max(lo, n - max_dropped - 1);
  }
  size_t cut = 0;
  auto is_cut = [&](size_t j) { return ends_sentence(j) && (p[j + 1] == ' ' || p[j] == '\x82'); };
  // 16 bytes at a time from the end: a mask of the bytes that can end a sentence.
  size_t j = e;
  while (cut == 0 && j >= lo + 16) {
    const size_t at = j - 16;
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')), _mm_cmpeq_epi8(x, _mm_set1_epi8('!'))),
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')),
                     _mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0x82)))));
    for (uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(hit)); m != 0;) {
      const int b = 31 - __builtin_clz(m);
      m &= ~(1u << b);
      if (is_cut(at + b)) {
        cut = at + b + 1;
        break;
      }
    }
    j = at;
  }
  for (; cut == 0 && j > lo; --j) {
    if (is_cut(j - 1)) cut = j;
  }
  return cut;
}

// Returns the first j in [from, limit - 1) where p[j - 1..j + 1] is " - " or " --" (a dash between
// spaces), or limit. 16 positions at a time (a byte loop was 4% of a 3 KB item's time).
inline size_t FindDatelineDash(const char* p, size_t from, size_t limit) {
  size_t j = from;
  for (; j + 17 <= limit; j += 16) {  // reads p[j - 1, j + 17): inside [from - 1, limit)
    const __m128i before = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j - 1));
    const __m128i at = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j));
    const __m128i after = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j + 1));
    const __m128i dash = _mm_set1_epi8('-'), space = _mm_set1_epi8(' ');
    const __m128i hit =
        _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(at, dash), _mm_cmpeq_epi8(before, space)),
                      _mm_or_si128(_mm_cmpeq_epi8(after, space), _mm_cmpeq_epi8(after, dash)));
    if (const int m = _mm_movemask_epi8(hit); m != 0) return j + __builtin_ctz(m);
  }
  for (; j + 1 < limit; ++j) {
    if (p[j] == '-' && p[j - 1] == ' ' && (p[j + 1] == ' ' || p[j + 1] == '-')) return j;
  }
  return limit;
}

// Whether p[i, j) (a leading segment before a dash, its last byte a space) can be a dateline:
// one word, or a comma, period, bracket, slash or digit in it (FingerprintOptions::
// dateline_marks).
inline bool LooksLikeDateline(const char* p, size_t i, size_t j) {
  bool space = false;
  for (size_t k = i; k + 1 < j; ++k) {
    const char c = p[k];
    if (c == ',' || c == '.' || c == '(' || c == ')' || c == '/' || (c >= '0' && c <= '9')) {
      return true;
    }
    space |= c == ' ' && k > i;
  }
  return !space;
}

// Returns where the first occurrence of 日电 in p[i, limit) starts, or limit. Its rare first
// byte 16 positions at a time (string_view::find called memchr and memcmp: 8% of a 3 KB item's
// time; a byte loop over the 64-byte window, in every body, ~1.5% of it).
inline size_t FindCjkDispatch(const char* p, size_t i, size_t limit) {
  auto at = [p](size_t j) { return std::memcmp(p + j, "\xE6\x97\xA5\xE7\x94\xB5", 6) == 0; };
  size_t j = i;
  for (; j + 16 <= limit; j += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j));
    for (uint32_t m = static_cast<uint32_t>(
             _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0xE6)))));
         m != 0; m &= m - 1) {
      const size_t k = j + static_cast<size_t>(__builtin_ctz(m));
      if (k + 6 <= limit && at(k)) return k;
    }
  }
  for (; j + 6 <= limit; ++j) {
    if (p[j] == '\xE6' && at(j)) return j;
  }
  return limit;
}

// The length of a byline marker at p[i, n) (the folded text), or 0: the words a byline starts
// with in the languages of the pack ("by ", "автор: ", "тілші: ", "корреспондент: ").
inline size_t BylineMarker(const char* p, size_t i, size_t n) {
  static constexpr std::string_view kMarkers[] = {"by ", "автор: ", "тілші: ", "корреспондент: "};
  // A marker starts with 'b' or with the first byte of а, к (D0) or т (D1); most items do not.
  if (i >= n || (p[i] != 'b' && p[i] != '\xD0' && p[i] != '\xD1')) return 0;
  for (std::string_view m : kMarkers) {
    if (n - i > m.size() && std::memcmp(p + i, m.data(), m.size()) == 0) return m.size();
  }
  return 0;
}

// The end of a byline that names its writer's agency or role after a comma, at p[i, n) (the
// folded text): up to four words of letters (a name; initials may end in '.') then ", " and one
// of the words in kRoles ("olzhas auyezov, reuters", "иван петров, корреспондент"), followed
// by a space or the end; or 0. Within `limit` bytes of i.
inline size_t BylineWithRole(const char* p, size_t i, size_t n, size_t limit) {
  if (limit == 64 && n - i >= 64) {
    // The default window, 16 bytes at a time: no comma, or four spaces before the first one,
    // and the byte loop below returns 0 (it ran in every body: a quarter of SelectText's time).
    uint64_t commas = 0, spaces = 0;
    for (int b = 0; b < 4; ++b) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16 * b));
      commas |=
          uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(','))))}
          << (16 * b);
      spaces |=
          uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' '))))}
          << (16 * b);
    }
    if (commas == 0 || __builtin_popcountll(spaces & ((commas & -commas) - 1)) >= 4) return 0;
  }
  static constexpr std::string_view kRoles[] = {
      "reuters",   "ap",      "afp",           "bloomberg", "xinhua", "tass",      "interfax",
      "kazinform", "sputnik", "correspondent", "тасс",      "риа",    "интерфакс", "корреспондент",
      "тілші",     "хабар"};
  const size_t end = std::min(n, i + limit);
  int words = 1;
  for (size_t j = i; j < end; ++j) {
    const unsigned char c = static_cast<unsigned char>(p[j]);
    if (c == ' ') {
      if (j == i || p[j - 1] == ' ' || ++words > 4) return 0;
      continue;
    }
    if (c == ',') {
      if (j == i || j + 1 >= n || p[j + 1] != ' ') return 0;
      const size_t r = j + 2;
      for (std::string_view role : kRoles) {
        if (n - r >= role.size() && std::memcmp(p + r, role.data(), role.size()) == 0 &&
            (r + role.size() == n || p[r + role.size()] == ' ')) {
          return r + role.size();
        }
      }
      return 0;
    }
    // Letters (and UTF-8 bytes of letters), a hyphen, an initial's dot: nothing else in a name.
    if (c < 0x80 && !(c >= 'a' && c <= 'z') && c != '-' && c != '.' && c != '\'') return 0;
  }
  return 0;
}

// Where the word starting at or after p[i] ends (the next ' ' or n), skipping leading spaces.
inline size_t SkipWord(const char* p, size_t i, size_t n) {
  while (i < n && p[i] == ' ') ++i;
  while (i < n && p[i] != ' ') ++i;
  return i;
}

// A wire credit right after a dateline's dash, ending in ". " within 24 bytes, of at most three
// words with no other punctuation ("- риа новости. ", "- kazinform. ", "- sputnik. ",
// "- интерфакс. "): returns where the text after it starts, or i.
inline size_t SkipCreditAfterDash(const char* p, size_t i, size_t n) {
  int spaces = 0;
  for (size_t j = i; j + 1 < n && j < i + 24; ++j) {
    const char c = p[j];
    if (c == '.' && j > i && p[j + 1] == ' ') return j + 2;
    if (c == ' ' && ++spaces > 2) return i;
    if (c == ',' || c == ':' || c == ';' || c == '!' || c == '?' || c == '-' || c == '.' ||
        c == '(' || c == '"') {
      return i;
    }
  }
  return i;
}

// A credit that ends the body after a dash ("... record march 20 - reuters", a table's last row
// with the outlet's credit; "... rose. - kazinform.") or between slashes ("... дня. /тасс/."):
// one to three words of letters within 32 bytes after " - " or " /", the body's last bytes. Returns
// where the body ends without it (spaces trimmed), or n when it has none or less than min_kept
// bytes would stay. With a final '.' only after a sentence end before the dash: "оның бірі -
// дәрігер." is a sentence whose copula is a dash (Kazakh, Russian). Before the last-sentence rule,
// which then sees the copy as it sees the original (it took the credit for the copy's last sentence
// and kept the real one, and a one-liner under min_kept_bytes kept the credit's word).
inline size_t CutEndCredit(const char* p, size_t i, size_t n, size_t min_kept) {
  size_t e = n;
  while (e > i && p[e - 1] == ' ') --e;
  const bool period = e > i && p[e - 1] == '.';
  if (period) --e;
  // The body without the credit that starts at `at` (its spaces before trimmed), when min_kept
  // bytes stay.
  auto cut_before = [&](size_t at) {
    while (at > i && p[at - 1] == ' ') --at;
    return at - i >= min_kept ? at : n;
  };
  if (e > i && p[e - 1] == '/') {
    // An agency between slashes (" /тасс/.", " /новости-грузия/"), as regional outlets credit
    // what they reprint: after a space, letters, hyphens and up to two spaces.
    int inner = 0;
    for (size_t j = e - 1; j-- > i && j + 32 > e;) {
      const char c = p[j];
      if (c == '/') return j == e - 2 || j == i || p[j - 1] != ' ' ? n : cut_before(j);
      if (c == ' ' && ++inner > 2) return n;
      const auto u = static_cast<unsigned char>(c);
      if (!(u >= 0x80 || (c >= 'a' && c <= 'z') || c == '-' || c == ' ')) return n;
    }
    return n;
  }
  int spaces = 0;
  for (size_t j = e; j-- > i && j + 32 > e;) {
    const char c = p[j];
    if (c == ' ') {
      if (j >= i + 2 && p[j - 1] == '-' && p[j - 2] == ' ') {
        if (j == e - 1) return n;  // nothing after the dash
        const size_t cut = cut_before(j - 2);
        // With a final '.', a sentence end must stand before the dash, else it is a copula's
        // sentence ("бірі - дәрігер."), not a credit.
        if (cut != n && period &&
            (cut == i || (p[cut - 1] != '.' && p[cut - 1] != '!' && p[cut - 1] != '?'))) {
          return n;  // (cut == i: nothing before the dash, possible only with min_kept 0)
        }
        return cut;
      }
      if (++spaces > 2) return n;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    // Letters only: ASCII ones and the bytes of non-ASCII ones (Fold leaves no other
    // punctuation above 0x7F that a credit would carry).
    if (!(u >= 0x80 || (c >= 'a' && c <= 'z'))) return n;
  }
  return n;
}

// The most a credit between a dash and a footer takes ("- reuters ", "- риа новости ").
inline constexpr size_t kCreditBytes = 24;

// A dateline that ends with a wire agency between slashes and a '.' or ':' ("астана, 20 ноября.
// /тасс/. ", "new york, oct 15 /trend/: "): returns where the text after it starts, or i.
inline size_t SkipSlashCredit(const char* p, size_t i, size_t limit, size_t n) {
  for (size_t j = i + 1; j < limit; ++j) {
    const void* slash = std::memchr(p + j, '/', limit - j);
    if (slash == nullptr) return i;
    j = static_cast<size_t>(static_cast<const char*>(slash) - p);
    if (p[j - 1] != ' ') continue;
    size_t k = j + 1;
    while (k < n && k < j + 32 && p[k] != '/' && p[k] != ' ') ++k;
    if (k >= n || p[k] != '/' || k == j + 1) return i;
    ++k;
    if (k < n && (p[k] == '.' || p[k] == ':')) ++k;
    if (k < n && p[k] == ' ') return k + 1;
    return i;
  }
  return i;
}

// The bytes of p[at, at + len) (len <= 64) that can precede a sentence start ('.', '!', '?',
// '(', ')', '"' and the last byte of 。), as a mask: 64 at a time, a masked load for the last
// block (it reads nothing past the text).
__attribute__((target("avx512f,avx512bw"))) uint64_t SentenceMarksAvx512(const char* p, size_t at,
                                                                         size_t len) {
  const __mmask64 valid = len >= 64 ? ~__mmask64{0} : (__mmask64{1} << len) - 1;
  const __m512i x = _mm512_maskz_loadu_epi8(valid, p + at);
  const __mmask64 hit = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('.')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('!')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('?')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('(')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(')')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"')) |
                        _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(static_cast<char>(0x82)));
  return hit & valid;
}

// Where a footer starts in p[from, n): the first sentence start (after ". ", "! ", "? ", a
// bracket, a 。 or a line break folded to a space after one of those) at or after `from` that
// opens with a marker outlets' boilerplate starts with (credits, copyright, "subscribe" and
// "read more" lines, editor lines, in the languages of the pack), or n. The earliest wins: a
// footer of several sentences ("© 2022 The Associated Press. All rights reserved. ...") goes
// whole.
size_t FooterStart(const char* p, size_t from, size_t n, Kernel kernel, const TailLines* tail) {
  static constexpr std::string_view kMarkers[] = {"reporting by ",
                                                  "editing by ",
                                                  "writing by ",
                                                  "our standards:",
                                                  "©",
                                                  "copyright ",
                                                  "all rights reserved",
                                                  "follow us on ",
                                                  "subscribe to our ",
                                                  "click here",
                                                  "read more:",
                                                  "подписывайтесь на ",
                                                  "при использовании материалов",
                                                  "при цитировании",
                                                  "все новости по теме",
                                                  "читайте также",
                                                  "редактор:",
                                                  "толығырақ:",
                                                  "жаңалықтарды telegram",
                                                  "责任编辑",
                                                  "来源：",
                                                  "本文来源",
                                                  "【编辑",
                                                  "编辑：",
                                                  "（来源",
                                                  "（责任编辑",
                                                  "（编辑"};
  // Every marker's first two bytes, compared with a candidate's in four 8-lane compares
  // (Cyrillic words share their first byte, so one byte filters nothing in Russian and Kazakh;
  // a loop over the markers cost ~80 instructions per candidate). Padding: 0xFFFF (which Fold
  // never writes, but the text need not come from Fold: a padding lane is checked too).
  static constexpr size_t kCount = std::size(kMarkers);
  static_assert(kCount <= 32);
  alignas(16) static constexpr auto kHeads = [] {
    std::array<uint16_t, 32> heads{};
    heads.fill(0xFFFF);
    for (size_t k = 0; k < kCount; ++k) {
      heads[k] = static_cast<uint16_t>(static_cast<unsigned char>(kMarkers[k][0]) |
                                       static_cast<unsigned char>(kMarkers[k][1]) << 8);
    }
    return heads;
  }();
  auto marker_at = [p, n](size_t j) {
    if (n - j < 2) return false;
    uint16_t head;
    std::memcpy(&head, p + j, 2);
    const __m128i h = _mm_set1_epi16(static_cast<short>(head));
    const auto* heads = reinterpret_cast<const __m128i*>(kHeads.data());
    for (int v = 0; v < 4; ++v) {
      // Two mask bits per 16-bit lane: keep the low one.
      uint32_t m =
          static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_load_si128(heads + v), h))) &
          0x5555u;
      for (; m != 0; m &= m - 1) {
        const size_t k = static_cast<size_t>(v) * 8 + static_cast<size_t>(__builtin_ctz(m)) / 2;
        if (k < kCount && n - j >= kMarkers[k].size() &&
            std::memcmp(p + j, kMarkers[k].data(), kMarkers[k].size()) == 0) {
          return true;
        }
      }
    }
    return false;
  };
  // The bytes a sentence start follows: '.', '!', '?', ')', '"' (then a space), '(' and the last
  // byte of 。 (then a space or not), 16 at a time: a byte loop over the window cost as much as
  // the rest of the text rules.
  auto candidate = [&](size_t q) -> size_t {  // the sentence start after p[q], or 0
    const char c = p[q];
    if (c == '(') return q + 1;
    if (c == '\x82') {
      if (q < 2 || p[q - 1] != '\x80' || p[q - 2] != '\xE3') return 0;
      return q + 1 < n && p[q + 1] == ' ' ? q + 2 : q + 1;
    }
    return q + 1 < n && p[q + 1] == ' ' ? q + 2 : 0;
  };
  auto hits = [p](size_t at) {  // bit k: p[at + k] can precede a sentence start
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')),
                                               _mm_cmpeq_epi8(x, _mm_set1_epi8('!'))),
                                  _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')),
                                               _mm_cmpeq_epi8(x, _mm_set1_epi8('(')))),
                     _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(')')),
                                               _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))),
                                  _mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0x82)))));
    return static_cast<uint32_t>(_mm_movemask_epi8(hit));
  };
  // The footer's start among the candidates of the block at q (bit k: p[q + k]), or n.
  auto footer_in = [&](size_t q, uint64_t mask) {
    for (; mask != 0; mask &= mask - 1) {
      const size_t j = candidate(q + static_cast<size_t>(__builtin_ctzll(mask)));
      if (j < from || j >= n) continue;
      if (marker_at(j)) return p[j - 1] == '(' ? j - 1 : j;
    }
    return n;
  };
  // The earliest footer start found without the sentence scan below (which stops there): a
  // marker that opens one of the original's last lines, after a space (the folded line break),
  // or a copyright sign.
  size_t known = n;
  for (int k = 0; tail != nullptr && k < tail->count; ++k) {
    const size_t j = tail->start[k];
    if (j >= from && j < n && p[j - 1] == ' ' && marker_at(j)) {
      known = j;
      break;
    }
  }
  // A copyright sign starts the footer wherever it stands in the window, also inside a sentence:
  // an outlet appends "© 2022 The Associated Press. ..." to a story cut mid-sentence, and news
  // prose does not use the sign.
  if (from < n) {
    const size_t sign = std::string_view(p + from, n - from).find("\xC2\xA9");
    if (sign != std::string_view::npos) known = std::min(known, from + sign);
  }
  if (kernel == Kernel::kAvx512) {
    // A 200-byte window is four blocks here, thirteen with 16-byte vectors: the vector scan was
    // most of the footer rule's cost.
    for (size_t q = from >= 2 ? from - 2 : 0; q < std::min(n, known); q += 64) {
      const size_t at = footer_in(q, SentenceMarksAvx512(p, q, std::min<size_t>(64, n - q)));
      if (at != n) return std::min(at, known);
    }
    return known;
  }
  for (size_t q = from >= 2 ? from - 2 : 0; q < n; q += 16) {
    if (q >= known) break;
    uint32_t mask;
    if (q + 16 <= n) {
      mask = hits(q);
    } else if (n >= 16) {
      // The last, partial block: the 16 bytes that end the text, without the ones before q.
      mask = hits(n - 16) >> (q + 16 - n);
    } else {
      mask = 0;
      for (size_t k = q; k < n; ++k) {
        const char c = p[k];
        if (c == '.' || c == '!' || c == '?' || c == '(' || c == ')' || c == '"' || c == '\x82') {
          mask |= 1u << (k - q);
        }
      }
    }
    if (const size_t at = footer_in(q, mask); at != n) return std::min(at, known);
  }
  return known;
}

}  // namespace

bool SelectText(std::string_view text, bool is_title, const FingerprintOptions& o,
                size_t first_line, TextSpan* span, Kernel kernel, const TailLines* tail,
                std::string_view original_body) {
  const char* p = text.data();
  size_t n = std::min(text.size(), is_title ? o.max_title_bytes : o.max_body_bytes);
  size_t i = 0;
  *span = TextSpan{};
  if (is_title && o.title_weight <= 0) return true;
  if (is_title && o.title_suffix_bytes != 0) {
    // Only the title's tail can hold a tag short enough: the last separator there, byte by byte
    // (string_view::rfind compares at every position through a library call).
    const size_t from = n > o.title_suffix_bytes + 3 ? n - o.title_suffix_bytes - 3 : 1;
    for (size_t k = n; k-- > from;) {
      size_t sep = 0;
      if (p[k] == '_') {
        sep = 1;
      } else if (p[k] == ' ' && k + 2 < n && (p[k + 1] == '-' || p[k + 1] == '|') &&
                 p[k + 2] == ' ') {
        sep = 3;
      }
      if (sep != 0) {
        if (n - k - sep <= o.title_suffix_bytes) n = k;
        break;
      }
    }
  }
  if (is_title && o.title_prefix_bytes != 0) {
    const std::string_view head(p, std::min(n, o.title_prefix_bytes + 2));
    size_t at = head.find(": ");
    size_t len = 2;
    if (at == std::string_view::npos) {
      at = head.find("\xEF\xBC\x9A");  // ：
      len = 3;
    }
    if (at != std::string_view::npos && at > 0 && at + len < n) i = at + len;
  }
  // A wire dateline ("almaty, nov 20 (reuters) - ", "астана. kazinform - ") is a short
  // leading segment that ends with a dash between spaces (Fold turns – and — into -).
  // Repeated: a copy of a copy carries two datelines, and a copy's dateline stands before the
  // original's own first dash (a clause, a Kazakh copula: "оның бірі - дәрігер"), which the
  // original loses too, so both keep the same text. Run again after a byline.
  auto strip_datelines = [&] {
    if (!o.strip_dateline || is_title) return;
    for (int round = 0; round < o.dateline_rounds; ++round) {
      const size_t limit = std::min(n, i + o.dateline_bytes);
      const size_t j = FindDatelineDash(p, i + 1, limit);
      if (j == limit) {
        // Or one that ends with an agency between slashes ("/тасс/. ", "/trend/: "); then the
        // next round, as after a dash (a copy's "москва, 2 марта. /тасс/. " before the
        // original's own "бишкек, 5 августа /новости-грузия/. ").
        const size_t k = o.wire_credits ? SkipSlashCredit(p, i, limit, n) : i;
        if (k == i) break;
        i = k;
        continue;
      }
      if (o.dateline_marks && !LooksLikeDateline(p, i, j) &&
          !(o.capital_datelines && IsCapitalDateline(original_body, {p + i, j - i}))) {
        break;
      }
      size_t e = j + 1;
      while (e < n && (p[e] == '-' || p[e] == ' ')) ++e;
      // The agency after the dash ("астана, 9 маусым - kazinform. ").
      e = o.wire_credits ? SkipCreditAfterDash(p, e, n) : e;
      // A dateline, not the item: something must stay ("profits rose. - kazinform." is a
      // sentence and a credit, not a dateline and nothing).
      if (n - e < o.boilerplate_min_kept) break;
      // Nor a credit and a footer only ("... record may eight - reuters\nour standards: ..."):
      // the dash ends the item's text, it opens none.
      if (o.footer_markers && n - e <= o.footer_bytes) {
        const size_t footer =
            FooterStart(p, e, n, kernel, o.footer_lines && n == text.size() ? tail : nullptr);
        if (footer < n && footer <= e + kCreditBytes) break;
      }
      i = e;
    }
    // Chinese wire datelines end with 日电 ("dispatch of day ...": "新华社阿斯塔纳11月20日电").
    for (int round = 0; round < o.dateline_rounds && o.strip_cjk_dateline; ++round) {
      const size_t limit = i + std::min(n - i, o.dateline_bytes);
      const size_t at = FindCjkDispatch(p, i, limit);
      if (at == limit) break;
      i = at + 6;
    }
  };
  strip_datelines();
  const size_t after_dateline = i;
  if (!is_title && o.byline_markers) {
    // A byline that starts with its marker ("by olzhas auyezov", "автор: нұрлан омаров"),
    // on a line of its own or run into the text when a copy re-wraps its paragraphs: the first
    // line when it ends within byline_bytes, else the marker and two words (a name and a
    // surname), and two more after "and" / "и" / "және" (two authors).
    if (const size_t m = BylineMarker(p, i, n); m != 0) {
      size_t e = SkipWord(p, SkipWord(p, i + m, n), n);
      const std::string_view next(p + e, std::min<size_t>(n - e, 12));
      if (next.starts_with(" and ") || next.starts_with(" \xD0\xB8 ") ||
          next.starts_with(" \xD0\xB6\xD3\x99\xD0\xBD\xD0\xB5 ")) {  // и, және
        e = SkipWord(p, SkipWord(p, SkipWord(p, e, n), n), n);
      }
      if (first_line > i && first_line - i <= o.byline_bytes) e = first_line;
      while (e < n && p[e] == ' ') ++e;
      // A byline, not the item: something must stay.
      if (n - e >= o.boilerplate_min_kept) i = e;
    } else if (size_t e = o.byline_roles ? BylineWithRole(p, i, n, o.byline_bytes) : 0; e != 0) {
      // Or one that ends with the writer's agency or role ("jonathan nguyen, reuters"), on a line
      // of its own or run into the text.
      while (e < n && p[e] == ' ') ++e;
      if (n - e >= o.boilerplate_min_kept) i = e;
    }
  }
  if (!is_title && o.byline_bytes != 0 && first_line > i && first_line < n) {
    // What stays of the first line after the dateline: a byline when it is short, ends without
    // punctuation (a wrapped sentence ends in a word or a comma, a short lead-in in a colon)
    // and the rest of the body is longer.
    size_t e = first_line;
    while (e > i && p[e - 1] == ' ') --e;
    const char last = e > i ? p[e - 1] : '\0';
    const bool punctuated = last == '.' || last == '!' || last == '?' || last == ':' ||
                            last == ';' || last == ',' ||
                            (e >= i + 3 && std::string_view(p + e - 3, 3) == "\xE3\x80\x82");  // 。
    if (e > i && e - i <= o.byline_bytes && !punctuated && n - first_line > e - i) {
      i = first_line;
    }
  }
  // A byline before the dateline ("by jane doe almaty (reuters) - "): the dateline after it.
  if (o.dateline_after_byline && i != after_dateline) strip_datelines();
  if (!is_title && o.wire_credits) {
    // The wire's sign-off as the body's last word ("... the company said.\n REUTER", most
    // Reuters items): boilerplate that outlets drop when they republish. Without this, the
    // last-sentence rule below dropped the sign-off from the original and a real sentence from
    // a copy without it. Only "reuter" alone (the sign-off's form; "told reuters." is a
    // sentence's end), when boilerplate_min_kept bytes stay.
    constexpr std::string_view kSignOff = "reuter";
    size_t e = n;
    while (e > i && p[e - 1] == ' ') --e;
    if (e - i >= kSignOff.size() + 1 + o.boilerplate_min_kept &&
        std::string_view(p + e - kSignOff.size(), kSignOff.size()) == kSignOff &&
        p[e - kSignOff.size() - 1] == ' ') {
      e -= kSignOff.size();
      while (e > i && p[e - 1] == ' ') --e;
      n = e;
    }
  }
  if (!is_title && o.footer_markers && n > i + o.boilerplate_min_kept) {
    // A footer that opens with an outlets' boilerplate marker goes first, within the body's last
    // footer_bytes, when boilerplate_min_kept bytes stay: then the last-sentence rule below sees
    // the copy as it sees the original (without it, a copy's footer took the place of the
    // original's short last sentence, and the copy kept that sentence while the original lost it).
    const size_t from =
        std::max(i + o.boilerplate_min_kept, n > o.footer_bytes ? n - o.footer_bytes : 0);
    size_t cut =
        FooterStart(p, from, n, kernel, o.footer_lines && n == text.size() ? tail : nullptr);
    while (cut > i && p[cut - 1] == ' ') --cut;
    if (cut < n) n = cut;
  }
  // Not in a body cut at max_body_bytes: its end is not the item's.
  if (!is_title && o.end_credits && text.size() <= o.max_body_bytes) {
    n = CutEndCredit(p, i, n, o.boilerplate_min_kept);
  }
  if (!is_title && o.drop_last_sentence) {
    // After the dateline: a dateline is no sentence of the story, and what stays must be story.
    // The last sentence starts after the last '.', '!' or '?' followed by a space, or after the
    // last 。 (Chinese has no space after it), not counting the body's own final punctuation.
    const size_t cut = LastSentenceStart(p, i, n, o.min_kept_bytes, o.max_dropped_bytes);
    const bool drop = cut != 0 && cut - i >= o.min_kept_bytes &&
                      (o.max_dropped_bytes == 0 || n - cut <= o.max_dropped_bytes);
    if (drop) {
      n = cut;
    } else if (!o.drop_last_or_whole) {
      return false;
    }
  }
  span->begin = i;
  span->end = n;
  return true;
}

void FindTailLines(std::string_view folded_body, std::string_view original_body,
                   const FingerprintOptions& o, TailLines* lines) {
  lines->count = 0;
  // A body past max_body_bytes is hashed without its end: no footer to look for.
  if (!o.footer_lines || original_body.empty() || folded_body.size() > o.max_body_bytes) return;
  const size_t reach = std::min(original_body.size(), o.footer_bytes);
  const char* tail = original_body.data() + original_body.size() - reach;
  size_t found[TailLines::kMax];
  int count = 0;
  // Backwards from the end: the last kMax line breaks, then in order (earliest first).
  for (size_t k = reach; k > 0 && count < TailLines::kMax;) {
    const void* nl = memrchr(tail, '\n', k);
    if (nl == nullptr) break;
    k = static_cast<size_t>(static_cast<const char*>(nl) - tail);
    const size_t rest = reach - k - 1;  // the original's bytes after the line break
    if (rest > 0 && rest < folded_body.size()) found[count++] = folded_body.size() - rest;
  }
  for (int c = count; c-- > 0;) lines->start[lines->count++] = static_cast<uint32_t>(found[c]);
}

namespace {

// Whether a word (of the original, unfolded text) opens with a capital letter: Latin, Latin-1,
// Cyrillic, or one of Kazakh's own (Ә Ғ Қ Ң Ө Ұ Ү Һ).
bool OpensWithCapital(std::string_view w) {
  const auto c0 = static_cast<unsigned char>(w[0]);
  if (c0 >= 'A' && c0 <= 'Z') return true;
  if (w.size() < 2) return false;
  const auto c1 = static_cast<unsigned char>(w[1]);
  switch (c0) {
    case 0xC3:
      return c1 >= 0x80 && c1 <= 0x9E && c1 != 0x97;  // À-Þ but ×
    case 0xD0:
      return c1 >= 0x80 && c1 <= 0xAF;  // Ѐ-Я
    case 0xD2:
      return c1 == 0x92 || c1 == 0x9A || c1 == 0xA2 || c1 == 0xAE || c1 == 0xB0 || c1 == 0xBA;
    case 0xD3:
      return c1 == 0x98 || c1 == 0xA8;
    default:
      return false;
  }
}

}  // namespace

bool ReadsAsName(std::string_view line) {
  // The lower-case words a name or a byline joins its parts with ("David Chen in Frankfurt",
  // "Jean de la Fontaine", "Иван Петров и Анна Смирнова", "Нұрлан Әбенов мен Дана Қасымова").
  static constexpr std::string_view kJoining[] = {"in",
                                                  "and",
                                                  "at",
                                                  "of",
                                                  "de",
                                                  "la",
                                                  "van",
                                                  "von",
                                                  "der",
                                                  "da",
                                                  "del",
                                                  "bin",
                                                  "al",
                                                  "\xD0\xB8",                           // и
                                                  "\xD0\xB2",                           // в
                                                  "\xD0\xB8\xD0\xB7",                   // из
                                                  "\xD0\xBC\xD0\xB5\xD0\xBD",           // мен
                                                  "\xD0\xB6\xD3\x99\xD0\xBD\xD0\xB5"};  // және
  int words = 0;
  int capitals = 0;
  size_t k = 0;
  while (k < line.size()) {
    if (line[k] == ' ' || line[k] == '\t') {
      ++k;
      continue;
    }
    size_t e = k;
    while (e < line.size() && line[e] != ' ' && line[e] != '\t') {
      if (line[e] >= '0' && line[e] <= '9') return false;
      ++e;
    }
    const std::string_view w = line.substr(k, e - k);
    if (++words > kNameWords) return false;
    if (OpensWithCapital(w)) {
      ++capitals;
    } else if (std::find(std::begin(kJoining), std::end(kJoining), w) == std::end(kJoining)) {
      return false;
    }
    k = e;
  }
  return capitals >= 2;
}

bool IsCapitalDateline(std::string_view original_body, std::string_view segment) {
  // After a byline line the segment starts at the folded line break.
  while (!segment.empty() && segment.front() == ' ') segment.remove_prefix(1);
  if (segment.empty() || segment.size() > kCapitalDatelineBytes) return false;
  // At `at`: two or three words of ASCII letters, each capitalised, one space apart, then a
  // space and a dash (-, – or —), and the words lower-cased are the segment.
  auto at = [&](size_t from) {
    const std::string_view s = original_body.substr(from);
    if (s.size() < segment.size() + 2) return false;
    int words = 0;
    bool word_start = true;
    for (size_t k = 0; k < segment.size(); ++k) {
      const char c = s[k];
      if (word_start) {
        if (c < 'A' || c > 'Z' || ++words > 3) return false;
        word_start = false;
      } else if (c == ' ') {
        word_start = true;
      } else if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')) {
        return false;
      }
      const char folded = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      if (folded != segment[k]) return false;
    }
    const std::string_view rest = s.substr(segment.size());
    return words >= 2 && segment.back() == ' ' &&
           (rest.starts_with("- ") || rest.starts_with("\xE2\x80\x93 ") ||  // –
            rest.starts_with("\xE2\x80\x94 "));                             // —
  };
  // At any word's start within the original's first 128 bytes: after a byline line (at most
  // byline_bytes) or another dateline (at most dateline_bytes), as the rule meets it.
  const size_t reach = std::min<size_t>(original_body.size(), 128);
  for (size_t k = 0; k < reach; ++k) {
    if ((k == 0 || original_body[k - 1] == ' ' || original_body[k - 1] == '\n') && at(k)) {
      return true;
    }
  }
  return false;
}

size_t FirstLine(std::string_view folded_body, std::string_view original_body,
                 const FingerprintOptions& o, normalise::FoldedText* scratch) {
  if (o.byline_bytes == 0 || original_body.empty()) return 0;
  // Folding can shorten text (a dash of 3 bytes folds to 1): look a few times further.
  const size_t reach = std::min(original_body.size(), 4 * (o.dateline_bytes + o.byline_bytes));
  const void* found = std::memchr(original_body.data(), '\n', reach);
  if (found == nullptr) return 0;
  const size_t nl = static_cast<const char*>(found) - original_body.data();
  if (nl == 0) return 0;
  // A line that ends in punctuation is no byline: not worth folding (the rule checks the folded
  // line again, which ends in the same punctuation).
  size_t e = nl;
  while (e > 0 && (original_body[e - 1] == ' ' || original_body[e - 1] == '\r' ||
                   original_body[e - 1] == '\t')) {
    --e;
  }
  if (e == 0) return 0;
  const char last = original_body[e - 1];
  if (last == '.' || last == '!' || last == '?' || last == ':' || last == ';' || last == ',') {
    return 0;
  }
  if (o.wrap_bytes != 0) {
    size_t b = nl + 1;
    while (b < original_body.size() &&
           (original_body[b] == ' ' || original_body[b] == '\t' || original_body[b] == '\r')) {
      ++b;
    }
    if (b < original_body.size() && original_body[b] == '\n') {
      // A paragraph of its own (a blank line follows): a byline when it reads as a name ("David
      // Chen in Frankfurt"), not when it is a table's first row or a lead-in.
      if (!o.name_lines || !ReadsAsName(original_body.substr(0, e))) return 0;
    } else {
      // A hard-wrapped body: the next line (its indent skipped) also ends within wrap_bytes.
      const size_t look = std::min(original_body.size() - b, o.wrap_bytes + 1);
      if (look > 0 && std::memchr(original_body.data() + b, '\n', look) != nullptr) return 0;
    }
  }
  normalise::Fold(original_body.substr(0, nl), scratch);
  const std::string_view line = scratch->text();
  if (line.size() >= folded_body.size() || folded_body.substr(0, line.size()) != line) return 0;
  return line.size();
}

}  // namespace steppewatch::stories::internal
