// Case folding for matching, with an exact map from folded byte offsets back to the original.
//
// What Fold() does to UTF-8 text, code point by code point:
//   - Unicode simple case folding (one code point to one code point) for every script:
//     Latin incl. Latin-1 and Latin Extended A/B (Kazakh Latin, Uzbek, Turkish), Cyrillic incl.
//     Kazakh Ә Ғ Қ Ң Ө Ұ Ү Һ І, Uzbek Ў, Tajik Ҷ Ӣ Ҳ, Greek (final ς folds to σ), Armenian, ...
//     Full foldings that change the number of code points (ß -> ss) are not applied.
//   - Turkish i: I, i, İ (U+0130) and ı (U+0131) all fold to ASCII 'i'. Chosen for recall: news
//     in English, Russian and Kazakh transliterate Turkish names with and without dots, so
//     "Istanbul", "İstanbul" and "ISTANBUL" match one term. The cost is that Turkish ılık/ilik
//     collide, which a media monitor can accept.
//   - Russian ё: Ё and ё fold to е, because Russian news mostly omits the diaeresis (Горбачёв /
//     Горбачев must match one term).
//   - Apostrophes ’ ‘ ‛ ʼ ʻ ′ ＇ fold to ASCII ' (so "Xi Jinping’s", "Oʻzbekiston" and
//     "O‘zbekiston" match terms written with '); dashes ‐ ‑ ‒ – — ― − fold to ASCII '-'
//     (so "Nur‑Sultan" matches "Nur-Sultan").
//   - White space (tabs, line breaks, no-break, thin and ideographic spaces) folds to ' ', and a
//     run of white space folds to one ' ' (hard-wrapped news lines break no phrase).
//   - The soft hyphen U+00AD (HTML &shy;), zero-width space U+200B, zero-width non-joiner and
//     joiner U+200C U+200D, word joiner U+2060 and BOM / zero-width no-break space U+FEFF fold
//     to nothing: scraped pages leave them inside words, and "Kazakh\u00ADstan" must match
//     "Kazakhstan" (and give the fingerprint the same token). A white-space run stays one ' '
//     across them ("a \u00AD b" -> "a b").
//   - HTML character references of punctuation, symbols and white space are read as their
//     characters and folded as those are: "AT&amp;T" folds to "at&t", "Kazakhstan&rsquo;s" to
//     "kazakhstan's", "&nbsp;" to ' ' (feeds and scraped pages leave them in the text, and a copy
//     with them must keep its original's tokens). Named (the HTML 4 names and &apos;, in any
//     case), decimal (&#39;) and hex (&#x27;) references, always with their ';'; &#128;..&#159;
//     as Windows-1252 (&#146; is ’), as HTML 5 reads them; escaped twice ("&amp;quot;") read
//     through. Left as text: references to letters and digits (&eacute;, &#233;: the
//     word-boundary checks read the original text, where a reference is no letter, so a term
//     "caf" would match in "caf&eacute;"), to '#', ';' and the characters dropped below, unknown
//     names, references without ';'. A reference is read as its folded text shows it ("&AMP;",
//     "&am\u00ADp;"), so folding folded text changes nothing.
//   - An invalid UTF-8 byte becomes '?' (same length), so the output is always valid UTF-8 and
//     safe for a Hyperscan UTF-8 database.
// Not done: Unicode normalisation (NFC/NFKC), diacritic stripping, fullwidth-to-ASCII.
//
// Offsets: most folds keep the byte length. Where they do not (İ -> i, ’ -> ', a space run, a
// dropped character, a character reference, U+023A -> U+2C65 grows by one byte), FoldedText
// records one map entry, so a folded offset that lies on a character boundary maps back to the
// exact original offset in O(log entries), and in O(1) when the field had no length change (the
// common case). A folded offset where characters were dropped maps to the original offset after
// them, so a hit's start and end both lie past them ("Kazakhstan" in "\u2060Kazakhstan\uFEFF x" is
// "Kazakhstan\uFEFF"); the word checks on the original text look past them too
// (IsBoundaryBefore/After in utf8.h).
//
// Threading: FoldedText is a per-thread reusable buffer (not thread-safe); Fold() allocates only
// when the input is larger than any seen before by that buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::normalise {

class FoldedText {
 public:
  FoldedText() = default;
  FoldedText(const FoldedText&) = delete;
  FoldedText& operator=(const FoldedText&) = delete;

  // The folded text of the last Fold(); valid until the next Fold() on this buffer.
  std::string_view text() const { return {data_.get(), size_}; }

  // Maps a byte offset of text() that lies on a character boundary (any hit of a UTF-8 pattern
  // does) to the byte offset of the original text at the same character boundary.
  uint32_t ToOriginal(uint32_t folded_offset) const;

  // Maps as ToOriginal(folded_offset), faster for offsets asked in about increasing order (the
  // ends of a scan's matches): `*cursor`, owned by the caller and 0 before its first call on
  // this fold, remembers the map entry of the last call, and the next call walks on from it
  // instead of searching the map (a binary search with unpredictable branches per hit, ~2% of
  // the item path's CPU over the bench corpus, whose hard-wrapped text gives a map entry per
  // line).
  uint32_t ToOriginal(uint32_t folded_offset, uint32_t* cursor) const {
    return map_.empty() ? folded_offset : MappedToOriginal(folded_offset, cursor);
  }

  // True when the fold kept every byte offset (then ToOriginal is the identity).
  bool identity() const { return map_.empty(); }

  // Number of map entries of the last fold (one per length change; for tests and benchmarks).
  size_t map_entries() const { return map_.size(); }

  // One map entry: from folded offset `folded` on (up to the next entry), the original offset is
  // folded - this.folded + this.original. Public only so the fold loop can name it.
  struct MapEntry {
    uint32_t folded;
    uint32_t original;
  };

 private:
  friend void Fold(std::string_view, FoldedText*);

  void Reserve(size_t bytes);
  uint32_t MappedToOriginal(uint32_t folded_offset, uint32_t* cursor) const;

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  std::vector<MapEntry> map_;
};

// Folds `text` (any bytes; see above for invalid UTF-8) into `*out`. Inputs longer than 4 GiB
// are not supported (offsets are 32-bit; callers cap items far below, 1 MiB by default).
void Fold(std::string_view text, FoldedText* out);

// Returns the folded form of `text` as a new string: for terms at compile time and for tests.
std::string FoldToString(std::string_view text);

}  // namespace steppewatch::normalise
