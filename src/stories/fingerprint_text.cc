// The fingerprint's text rules: which bytes of the folded title and body count. Boilerplate a
// syndicated copy adds (a wire dateline, a byline line, a footer as the last sentence, an outlet
// tag after the headline) is cut off, so the copy and its original keep the same text; the byte
// limits bound the cost of huge items (the lead of an article is what its copies keep).
#include <immintrin.h>

#include <algorithm>

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

// Returns where the first occurrence of 日电 in p[i, limit) starts, or limit. Byte by byte for
// its rare first byte (string_view::find called memchr and memcmp: 8% of a 3 KB item's time).
inline size_t FindCjkDispatch(const char* p, size_t i, size_t limit) {
  for (size_t j = i; j + 6 <= limit; ++j) {
    if (p[j] == '\xE6' && std::memcmp(p + j, "\xE6\x97\xA5\xE7\x94\xB5", 6) == 0) return j;
  }
  return limit;
}

// The length of a byline marker at p[i, n) (the folded text), or 0: the words a byline starts
// with in the languages of the pack ("by ", "автор: ", "тілші: ", "корреспондент: ").
inline size_t BylineMarker(const char* p, size_t i, size_t n) {
  static constexpr std::string_view kMarkers[] = {
      "by ",
      "\xD0\xB0\xD0\xB2\xD1\x82\xD0\xBE\xD1\x80: ",  // автор:
      "\xD1\x82\xD1\x96\xD0\xBB\xD1\x88\xD1\x96: ",  // тілші:
      "\xD0\xBA\xD0\xBE\xD1\x80\xD1\x80\xD0\xB5\xD1\x81\xD0\xBF\xD0\xBE\xD0\xBD\xD0\xB4"
      "\xD0\xB5\xD0\xBD\xD1\x82: ",  // корреспондент:
  };
  const std::string_view rest(p + i, n - i);
  for (std::string_view m : kMarkers) {
    if (rest.size() > m.size() && rest.substr(0, m.size()) == m) return m.size();
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

// A dateline that ends with a wire agency between slashes and a '.' or ':' ("астана, 20 ноября.
// /тасс/. ", "new york, oct 15 /trend/: "): returns where the text after it starts, or i.
inline size_t SkipSlashCredit(const char* p, size_t i, size_t limit, size_t n) {
  for (size_t j = i + 1; j < limit; ++j) {
    if (p[j] != '/' || p[j - 1] != ' ') continue;
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

}  // namespace

bool SelectText(std::string_view text, bool is_title, const FingerprintOptions& o,
                size_t first_line, TextSpan* span) {
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
  if (o.strip_dateline && !is_title) {
    // A wire dateline ("almaty, nov 20 (reuters) - ", "астана. kazinform - ") is a short
    // leading segment that ends with a dash between spaces (Fold turns – and — into -).
    // Repeated: a copy of a copy carries two datelines, and a copy's dateline stands before
    // the original's own first dash (a Kazakh copula, "оның бірі - дәрігер"), which the
    // original loses too, so both keep the same text.
    for (int round = 0; round < o.dateline_rounds; ++round) {
      const size_t limit = std::min(n, i + o.dateline_bytes);
      const size_t j = FindDatelineDash(p, i + 1, limit);
      if (j == limit) {
        // Or one that ends with an agency between slashes ("/тасс/. ", "/trend/: ").
        if (o.wire_credits) i = SkipSlashCredit(p, i, limit, n);
        break;
      }
      size_t e = j + 1;
      while (e < n && (p[e] == '-' || p[e] == ' ')) ++e;
      // The agency after the dash ("астана, 9 маусым - kazinform. ").
      i = o.wire_credits ? SkipCreditAfterDash(p, e, n) : e;
    }
    // Chinese wire datelines end with 日电 ("dispatch of day ...": "新华社阿斯塔纳11月20日电").
    for (int round = 0; round < o.dateline_rounds && o.strip_cjk_dateline; ++round) {
      const size_t limit = i + std::min(n - i, o.dateline_bytes);
      const size_t at = FindCjkDispatch(p, i, limit);
      if (at == limit) break;
      i = at + 6;
    }
  }
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
      if (n - e >= o.min_kept_bytes) i = e;
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
  normalise::Fold(original_body.substr(0, nl), scratch);
  const std::string_view line = scratch->text();
  if (line.size() >= folded_body.size() || folded_body.substr(0, line.size()) != line) return 0;
  return line.size();
}

}  // namespace steppewatch::stories::internal
