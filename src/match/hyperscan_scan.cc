// HyperscanMatchContext: one item's scan with a HyperscanMatcher's databases (see
// hyperscan_matcher.h): the callbacks, the word-boundary checks on the UTF-8 text, the
// whole-field length terms, the hits in order.
#include <emmintrin.h>  // SSE2: part of the x86-64 baseline
#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "match/hyperscan_matcher.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/normalise/fold.h"

namespace steppewatch::match::internal {
namespace {

// Returns true when valid UTF-8 `text` has between range.min_chars and range.max_chars code
// points; stops counting past the maximum.
bool CharCountInRange(std::string_view text, LengthRange range) {
  // A code point is 1 to 4 bytes, so the byte count alone often decides (a short title, a long
  // body) without counting: counting was ~40% of this check's cost on the corpus (callgrind).
  const uint64_t bytes = text.size();
  if (bytes < range.min_chars || bytes > uint64_t{4} * range.max_chars) return false;
  if (bytes <= range.max_chars && bytes >= uint64_t{4} * range.min_chars) return true;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  uint64_t chars = 0;
  size_t i = 0;
  // A byte starts a code point unless it is a continuation byte 10xxxxxx (-128..-65 as int8).
  // Counted per byte lane (a compare gives -1 per start byte), summed every 16 blocks:
  // __builtin_popcount is a libgcc call on the x86-64 baseline (~20 instructions a block).
  // After each sum the rest of the field (1 to 4 bytes a code point) often decides already: a
  // field of 400-1600 bytes against a maximum of 400 was counted to its end (1% of the item
  // path's CPU samples), now to about its middle.
  constexpr int kBlocksPerSum = 16;
  const __m128i last_continuation = _mm_set1_epi8(static_cast<char>(0xBF));
  while (i + 16 <= n) {
    __m128i lanes = _mm_setzero_si128();
    for (int blocks = 0; blocks < kBlocksPerSum && i + 16 <= n; ++blocks, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      lanes = _mm_sub_epi8(lanes, _mm_cmpgt_epi8(v, last_continuation));
    }
    const __m128i sums = _mm_sad_epu8(lanes, _mm_setzero_si128());
    chars += static_cast<uint64_t>(_mm_cvtsi128_si32(sums)) +
             static_cast<uint64_t>(_mm_cvtsi128_si32(_mm_unpackhi_epi64(sums, sums)));
    // The rest holds at most `rest` code points, and at least rest / 4: it may start with up to
    // three continuation bytes of a character counted here, then whole characters of 1 to 4
    // bytes.
    const uint64_t rest = n - i;
    if (chars + rest / 4 > range.max_chars || chars + rest < range.min_chars) return false;
    if (chars >= range.min_chars && chars + rest <= range.max_chars) return true;
  }
  for (; i < n && chars <= range.max_chars; ++i) chars += (s[i] & 0xC0) != 0x80;
  return chars >= range.min_chars && chars <= range.max_chars;
}

// A hit of a WordTable pattern in the joined folded text: from the start of a maximal run that
// is the pattern's first word to the end of its rest.
struct WordMatch {
  uint32_t jstart;
  uint32_t jend;
  uint32_t targets;  // the pattern's targets: WordTable::targets_at(targets), `count` of them
  uint32_t count;
};

// A run of the text that passed the word table's filter, waiting for its slot and record
// (FindWords looks runs up in batches).
struct PendingRun {
  uint32_t start;
  uint32_t length;
  uint64_t hash;
  uint64_t slot;
  uint32_t record;  // WordTable::kNone: not in the table
};

// Per-scan state the Hyperscan callback sees.
struct ScanState {
  const PatternInfo* infos;
  const Target* targets;
  std::string_view scanned;             // the text Hyperscan scans (folded or original)
  const normalise::FoldedText* folded;  // nullptr when the database scans the original text
  std::string_view original;
  bool regex;
  bool exact_start;  // regex database compiled with SOM
  uint8_t field;
  uint32_t max_hits;
  std::vector<Hit>* hits;
  bool truncated;
  const HyperscanMatcher* matcher;
  // The folded literal database scans every field's folded text at once, joined by '\n' (which
  // folded text never holds: white space folds to ' '): field f is
  // joined[segment_starts[f], segment_starts[f] + folded f size).
  std::string_view joined;
  const uint32_t* segment_starts = nullptr;
  uint32_t segments = 0;
  const std::string_view* fields = nullptr;
  const std::unique_ptr<normalise::FoldedText>* folded_fields = nullptr;
  // The joined scan's ids: direct when direct_bit is set in them, else index << id_shift | hint
  // (kIdHintBits).
  uint32_t direct_bit = 0;
  unsigned id_shift = 0;
  uint32_t hint_mask = 0;
  // FoldedText::ToOriginal's cursor into the map of field cursor_field (matches come in order
  // of their ends, so each offset is found from the last one's entry).
  uint32_t map_cursor = 0;
  uint32_t cursor_field = UINT32_MAX;
  // The word lookup's matches (WordTable) in the joined text, in order of their ends: emitted
  // among Hyperscan's matches by end offset (EmitWordsUpTo), so that a scan stopped at max_hits
  // keeps the hits it kept when Hyperscan found these words.
  const WordTable* word_table = nullptr;
  const WordMatch* words = nullptr;
  size_t word_count = 0;
  size_t word_next = 0;
};

// Whether each character of U+0000..U+07FF needs a boundary (NeedsBoundary): the characters of
// folded text the word walk meets most, without decoding or a flag lookup.
struct WordCharTables {
  std::array<bool, 0x800> needs{};
  // Whether the ASCII characters that need a boundary are exactly [0-9A-Za-z], and every
  // character of U+0400..U+047F (lead bytes D0 and D1: the Cyrillic alphabets) needs one: what
  // the 16-byte blocks of FindWords assume (else it classifies every character one by one).
  bool blocks = true;
};

const WordCharTables& WordChars() {
  static const WordCharTables tables = [] {
    WordCharTables t;
    for (char32_t c = 0; c < 0x800; ++c) t.needs[c] = NeedsBoundary(c);
    for (char32_t c = 0; c < 0x80; ++c) {
      t.blocks = t.blocks && t.needs[c] == static_cast<bool>(kAsciiAlnum[c]);
    }
    for (char32_t c = 0x400; c < 0x480; ++c) t.blocks = t.blocks && t.needs[c];
    return t;
  }();
  return tables;
}

// Returns the bits of the 64 bytes at `p` (valid UTF-8 but for characters cut at either end)
// that are ASCII letters or digits, in *word, that are D0 or D1 lead bytes or follow one, in
// *cyrillic, and the other non-ASCII lead bytes (not 10xxxxxx), in *other_leads.
inline void ClassifyBlock(const uint8_t* p, uint64_t* word, uint64_t* cyrillic,
                          uint64_t* other_leads) {
  const __m128i k_slash = _mm_set1_epi8('0' - 1);
  const __m128i k_colon = _mm_set1_epi8('9' + 1);
  const __m128i k_at = _mm_set1_epi8('A' - 1);
  const __m128i k_bracket = _mm_set1_epi8('Z' + 1);
  const __m128i k_case = _mm_set1_epi8(0x20);
  const __m128i k_d0 = _mm_set1_epi8(static_cast<char>(0xD0));
  const __m128i k_d1 = _mm_set1_epi8(static_cast<char>(0xD1));
  const __m128i k_first_lead = _mm_set1_epi8(static_cast<char>(0xC0));
  uint64_t w = 0, d = 0, high = 0, cont = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    // Bytes >= 0x80 are negative as int8: never in these ASCII ranges.
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, k_slash), _mm_cmplt_epi8(v, k_colon));
    const __m128i upper = _mm_or_si128(v, k_case);  // a-z and A-Z both to a-z
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(upper, _mm_or_si128(k_at, k_case)),
                                         _mm_cmplt_epi8(upper, _mm_or_si128(k_bracket, k_case)));
    const __m128i lead01 = _mm_or_si128(_mm_cmpeq_epi8(v, k_d0), _mm_cmpeq_epi8(v, k_d1));
    const unsigned shift = 16 * k;
    w |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_or_si128(digit, letter)))} << shift;
    d |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(lead01))} << shift;
    high |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(v))} << shift;
    cont |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmplt_epi8(v, k_first_lead)))}
            << shift;
  }
  *word = w;
  *cyrillic = d;
  *other_leads = high & ~cont & ~d;
}

// Appends to *out every maximal run of characters that need a boundary in `joined` (folded
// text: valid UTF-8) that `table` holds, in order. 64 bytes at a time: a bit per byte that
// belongs to such a character (ASCII letters and digits, and D0/D1 Cyrillic, by SIMD compares;
// other non-ASCII characters by their lead byte, one by one), then the runs are the spans
// between the mask's transitions.
//
// With tens of thousands of words the table's slots and records are cold, and a lookup per run
// waited for each in turn (slot, then record: two misses per word). The runs that pass the
// filter are looked up in batches of kBatch instead: their slots are prefetched as the walk
// finds them, then read, which prefetches their records, then the records are compared, so the
// misses of a batch overlap. *pending is scratch (kept to avoid an allocation per item).
void FindWords(std::string_view joined, const WordTable& table, std::vector<PendingRun>* pending,
               std::vector<WordMatch>* out) {
  // Runs per batch: enough misses in flight, few enough that the prefetched lines stay in L1.
  constexpr size_t kBatch = 32;
  const WordCharTables& t = WordChars();
  const auto* s = reinterpret_cast<const uint8_t*>(joined.data());
  const size_t n = joined.size();
  const uint32_t min_length = table.min_length();
  const uint32_t max_length = table.max_length();
  const uint64_t* const records = table.records();
  // Whether the matches so far are in order of their ends (a pattern of several words ends
  // after its first word's run, perhaps after a later match's end).
  bool ordered = true;
  pending->clear();
  // Looks the pending runs up and appends their matches, in the runs' order.
  auto flush = [&] {
    for (PendingRun& r : *pending) {
      r.record = table.Probe(r.hash, &r.slot);
      if (r.record != WordTable::kNone) __builtin_prefetch(records + r.record);
    }
    for (const PendingRun& r : *pending) {
      uint32_t record = r.record;
      if (record == WordTable::kNone) continue;
      const char* const word = joined.data() + r.start;
      uint64_t slot = r.slot;
      while (!table.KeyEquals(record, word, r.length, n - r.start)) {
        // Another word with the same tag (rare): probe on.
        slot = table.NextSlot(slot);
        record = table.Probe(r.hash, &slot);
        if (record == WordTable::kNone) break;
      }
      if (record == WordTable::kNone) continue;
      const size_t end = r.start + r.length;
      const uint32_t tails = static_cast<uint32_t>(records[record] >> 32);
      const uint64_t* tail = records + record + 1 + (r.length + 7) / 8;
      for (uint32_t k = 0; k < tails; ++k) {
        const uint32_t rest_length = static_cast<uint32_t>(tail[0]);
        const uint32_t count = static_cast<uint32_t>(tail[0] >> 32);
        const uint64_t head = tail[1];
        const uint64_t* const targets = tail + 2 + (rest_length > 8 ? (rest_length - 1) / 8 : 0);
        const uint64_t* const rest_past_head = tail + 2;
        tail = targets + 2 * count;
        if (rest_length != 0) {
          // Most rests are rejected by their first 8 bytes, one load and a compare.
          if (n - end < rest_length) continue;
          const size_t head_length = std::min<size_t>(rest_length, 8);
          if (WordTable::LoadTail(joined.data() + end, head_length, n - end) != head) continue;
          if (rest_length > 8 &&
              std::memcmp(joined.data() + end + 8, rest_past_head, rest_length - 8) != 0) {
            continue;
          }
        }
        const uint32_t jend = static_cast<uint32_t>(end + rest_length);
        ordered = ordered && (out->empty() || out->back().jend <= jend);
        out->push_back(WordMatch{r.start, jend, static_cast<uint32_t>(targets - records), count});
      }
    }
    pending->clear();
  };
  // Inlined in the block loop: a call per run (~170 per item) was ~20 instructions each.
  auto run = [&](size_t start, size_t end) __attribute__((always_inline)) {
    const size_t length = end - start;
    if (length < min_length || length > max_length) return;
    const uint64_t h = WordTable::Hash(joined.data() + start, length, n - start);
    if (!table.MayHold(h)) return;
    const uint64_t slot = table.FirstSlot(h);
    __builtin_prefetch(table.slot_address(slot));
    pending->push_back(PendingRun{static_cast<uint32_t>(start), static_cast<uint32_t>(length), h,
                                  slot, WordTable::kNone});
    if (pending->size() == kBatch) flush();
  };
  // Emitted among Hyperscan's matches by end (EmitWordsUpTo).
  auto sort = [&] {
    flush();
    if (ordered) return;
    std::sort(out->begin(), out->end(),
              [](const WordMatch& a, const WordMatch& b) { return a.jend < b.jend; });
  };
  if (!t.blocks) {
    // Character by character (a Unicode table unlike the one the blocks assume).
    size_t i = 0;
    size_t start = SIZE_MAX;
    while (i < n) {
      const normalise::CodePoint c = normalise::DecodeAt(joined, i);
      const bool word = NeedsBoundary(c.cp);
      if (word && start == SIZE_MAX) start = i;
      if (!word && start != SIZE_MAX) {
        run(start, i);
        start = SIZE_MAX;
      }
      i += c.length;
    }
    if (start != SIZE_MAX) run(start, n);
    sort();
    return;
  }
  alignas(16) uint8_t tail[64];
  uint64_t carry = 0;     // bits of the next block's bytes that continue a word character
  uint64_t previous = 0;  // the word bit of the last byte of the previous block
  size_t start = 0;       // of the open run
  for (size_t base = 0; base < n; base += 64) {
    const uint8_t* p = s + base;
    const size_t len = std::min<size_t>(64, n - base);
    if (len < 64) {
      // The last block, padded with zeros (not word characters).
      std::memset(tail, 0, sizeof(tail));
      std::memcpy(tail, p, len);
      p = tail;
    }
    uint64_t word, cyrillic, leads;
    ClassifyBlock(p, &word, &cyrillic, &leads);
    word |= carry | cyrillic | cyrillic << 1;
    carry = cyrillic >> 63;
    while (leads != 0) {
      const unsigned k = static_cast<unsigned>(__builtin_ctzll(leads));
      leads &= leads - 1;
      const size_t i = base + k;
      uint32_t length;
      bool needs;
      if (s[i] < 0xE0) {
        length = 2;
        needs = i + 1 < n && t.needs[(uint32_t{s[i]} & 0x1F) << 6 | (s[i + 1] & 0x3F)];
      } else {
        const normalise::CodePoint c = normalise::DecodeAt(joined, i);
        length = c.length;
        needs = NeedsBoundary(c.cp);
      }
      if (!needs) continue;
      const uint64_t bits = (uint64_t{1} << length) - 1;
      word |= bits << k;
      if (k + length > 64) carry |= bits >> (64 - k);
    }
    if (len < 64) word &= (uint64_t{1} << len) - 1;
    uint64_t transitions = word ^ (word << 1 | previous);
    previous = word >> 63;
    while (transitions != 0) {
      const unsigned k = static_cast<unsigned>(__builtin_ctzll(transitions));
      transitions &= transitions - 1;
      if ((word >> k) & 1) {
        start = base + k;
      } else {
        run(start, base + k);
      }
    }
  }
  if (previous != 0) run(start, n);
  sort();
}

// Returns the start of the run of non-CJK word characters that ends at `end`, or `end`. The
// characters Fold drops do not end the run (the folded text has no trace of them), so the run of
// "Kazakh\u00ADstan" starts at its 'K'.
uint32_t WordRunStart(std::string_view text, uint32_t end) {
  // NeedsBoundary of each ASCII character, so that an ASCII word is walked without decoding.
  static const std::array<bool, 128> kAsciiWord = [] {
    std::array<bool, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = NeedsBoundary(c);
    return t;
  }();
  uint32_t start = end;
  uint32_t at = end;  // walks ahead of `start` over dropped characters
  while (at > 0) {
    const auto b = static_cast<unsigned char>(text[at - 1]);
    if (b < 0x80) {
      if (!kAsciiWord[b]) break;
      start = --at;
      continue;
    }
    const normalise::CodePoint c = normalise::DecodeBefore(text, at);
    if (NeedsBoundary(c.cp)) {
      at -= c.length;
      start = at;
    } else if (normalise::IsIgnorable(c.cp)) {
      at -= c.length;
    } else {
      break;
    }
  }
  return start;
}

// normalise::IsBoundaryBefore and IsBoundaryAfter without the call and the decoding when the
// neighbour is ASCII, as most are (the two calls were ~0.5k instructions per alerting item):
// whether an ASCII character blocks a boundary, asked once of IsBoundaryAfter itself.
const std::array<bool, 128>& AsciiBlocksBoundary() {
  static const std::array<bool, 128> table = [] {
    std::array<bool, 128> t{};
    for (int c = 0; c < 128; ++c) {
      const char ch = static_cast<char>(c);
      t[c] = !normalise::IsBoundaryAfter(std::string_view(&ch, 1), 0);
    }
    return t;
  }();
  return table;
}

bool BoundaryBefore(std::string_view text, uint32_t offset) {
  if (offset > 0 && offset <= text.size()) {
    const auto b = static_cast<unsigned char>(text[offset - 1]);
    if (b < 0x80) return !AsciiBlocksBoundary()[b];
  }
  return normalise::IsBoundaryBefore(text, offset);
}

bool BoundaryAfter(std::string_view text, uint32_t offset) {
  if (offset < text.size()) {
    const auto b = static_cast<unsigned char>(text[offset]);
    if (b < 0x80) return !AsciiBlocksBoundary()[b];
  }
  return normalise::IsBoundaryAfter(text, offset);
}

// Appends a hit [start, end) (original offsets) for each of the targets [first, last) whose word
// checks pass. Returns 1 (stop the scan) when the item reached max_hits.
int EmitHits(ScanState* s, const Target* first, const Target* last, uint32_t start, uint32_t end) {
  for (const Target* t = first; t != last; ++t) {
    if (t->exact != 0) {
      // A case-sensitive literal found through its fold: the original must hold it exactly.
      const std::string& exact = s->matcher->exact_text(t->exact);
      if (end - start != exact.size() ||
          std::memcmp(s->original.data() + start, exact.data(), exact.size()) != 0) {
        continue;
      }
    }
    if (t->check_start && !BoundaryBefore(s->original, start)) continue;
    if (t->check_end) {
      // For regexes the pattern's last character is unknown: check when the match ends on a
      // non-CJK letter or digit (as a literal ending in one would).
      const bool applies = !s->regex || NeedsBoundary(normalise::DecodeBefore(s->original, end).cp);
      if (applies && !BoundaryAfter(s->original, end)) continue;
    }
    if (s->hits->size() >= s->max_hits) {
      s->truncated = true;
      return 1;  // stop the scan: HS_SCAN_TERMINATED
    }
    s->hits->push_back(Hit{t->term, s->field, start, end});
  }
  return 0;
}

// The hits of the whole-field length terms on one field, as Hyperscan would report them: one
// match ending at the end of the folded field (start 0 with SOM, else the word run's start).
void EmitLengthHits(ScanState* s, const std::vector<HyperscanMatcher::LengthTerm>& terms) {
  const uint32_t folded_end = static_cast<uint32_t>(s->scanned.size());
  // Every term's hit on the field has the same span: found once, for the first term in range.
  uint32_t start = 0;
  uint32_t end = 0;
  bool span = false;
  for (const HyperscanMatcher::LengthTerm& term : terms) {
    if (s->truncated) return;
    if (!CharCountInRange(s->scanned, term.range)) continue;
    if (!span) {
      span = true;
      end = s->folded->ToOriginal(folded_end);
      start = s->exact_start ? s->folded->ToOriginal(0) : WordRunStart(s->original, end);
    }
    EmitHits(s, &term.target, &term.target + 1, start, end);
  }
}

int OnMatch(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
            void* context) {
  auto* s = static_cast<ScanState*>(context);
  const PatternInfo& p = s->infos[id];
  const Target* const first = s->targets + p.first;
  const Target* const last = first + p.count;
  const auto* scanned = reinterpret_cast<const uint8_t*>(s->scanned.data());
  uint32_t start;
  uint32_t end;
  if (s->regex) {
    end = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(to)) : static_cast<uint32_t>(to);
    if (s->exact_start) {
      start = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(from))
                        : static_cast<uint32_t>(from);
    } else {
      start = WordRunStart(s->original, end);
    }
  } else {
    const uint32_t fstart = static_cast<uint32_t>(to) - p.length;
    // Most rejected candidates are a term inside a longer word ("port" in "report"): reject
    // them on the scanned bytes before mapping offsets or decoding.
    const bool letter_before = fstart > 0 && kAsciiAlnum[scanned[fstart - 1]];
    const bool letter_after = to < s->scanned.size() && kAsciiAlnum[scanned[to]];
    if (letter_before || letter_after) {
      // Does some target accept a letter on the side(s) where there is one?
      const bool any = letter_before && letter_after ? p.free_both
                       : letter_before               ? p.free_start
                                                     : p.free_end;
      if (!any) return 0;
    }
    start = s->folded ? s->folded->ToOriginal(fstart) : fstart;
    end = s->folded ? s->folded->ToOriginal(static_cast<uint32_t>(to)) : static_cast<uint32_t>(to);
  }
  return EmitHits(s, first, last, start, end);
}

// Emits the hits of word phrase `phrase` whose first chunk ends at `jend` of the joined text
// (field at `base`), as the regex's scan of that field would: each end where the regex matches
// from this start, the start of the word run before it, the end checked as a regex's.
int EmitPhraseHits(ScanState* s, const WordPhrase& phrase, uint32_t jend, uint32_t base) {
  const auto* joined = reinterpret_cast<const uint8_t*>(s->joined.data());
  const size_t n = s->joined.size();
  // Returns the end of the rest of `kind` that starts at `from`.
  auto skip = [&](RestKind kind, size_t from) {
    const std::array<bool, 256>& bytes = RestBytes(kind);
    while (from < n && bytes[joined[from]]) ++from;
    return from;
  };
  size_t p = jend;
  for (size_t c = 1; c < phrase.chunks.size(); ++c) {
    const RestKind kind = phrase.rests[c - 1];
    const size_t q = skip(kind, p);
    if (q == p && kind == kRestNonSpace) return 0;  // one character at least
    p = q;
    const std::string& chunk = phrase.chunks[c];
    if (n - p < chunk.size() || std::memcmp(joined + p, chunk.data(), chunk.size()) != 0) return 0;
    p += chunk.size();
  }
  size_t last = p;
  if (phrase.final_rest) {
    const RestKind kind = phrase.rests.back();
    last = skip(kind, p);
    if (kind == kRestNonSpace) {
      if (last == p) return 0;
      ++p;  // the first end is after the first character (the loop below skips to it)
    }
  }
  const normalise::FoldedText* folded = s->folded_fields[s->field].get();
  s->regex = true;
  for (size_t e = p; e <= last; ++e) {
    if (e < last && (joined[e] & 0xC0) == 0x80) continue;  // inside a character
    const uint32_t end = folded->ToOriginal(static_cast<uint32_t>(e) - base, &s->map_cursor);
    const uint32_t start = WordRunStart(s->original, end);
    if (EmitHits(s, &phrase.target, &phrase.target + 1, start, end) != 0) return 1;
  }
  return 0;
}

// Makes the field that holds joined offset `jstart` the scan state's current one; returns its
// start in the joined text.
inline uint32_t SelectField(ScanState* s, uint32_t jstart) {
  uint32_t f = 0;
  while (f + 1 < s->segments && s->segment_starts[f + 1] <= jstart) ++f;
  s->field = static_cast<uint8_t>(f);
  s->original = s->fields[f];
  if (f != s->cursor_field) {
    s->cursor_field = f;
    s->map_cursor = 0;
  }
  return s->segment_starts[f];
}

// Emits the hits of the word lookup's matches that end at or before joined offset `to`. Returns
// 1 (stop the scan) when the item reached max_hits.
__attribute__((noinline)) int EmitWordsUpTo(ScanState* s, uint64_t to) {
  while (s->word_next < s->word_count && s->words[s->word_next].jend <= to) {
    const WordMatch& w = s->words[s->word_next++];
    const uint32_t base = SelectField(s, w.jstart);
    const normalise::FoldedText* folded = s->folded_fields[s->field].get();
    s->regex = false;
    const uint32_t start = folded->ToOriginal(w.jstart - base, &s->map_cursor);
    const uint32_t end = folded->ToOriginal(w.jend - base, &s->map_cursor);
    const Target* first = s->word_table->targets_at(w.targets);
    if (EmitHits(s, first, first + w.count, start, end) != 0) return 1;
  }
  return 0;
}

// The callback of the folded literal database over the joined fields: finds the hit's field,
// then proceeds as OnMatch does on that field alone.
int OnJoinedMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                  void* context) {
  auto* s = static_cast<ScanState*>(context);
  // The word lookup's matches that end first (or at the same offset) go first.
  if (s->word_next < s->word_count && s->words[s->word_next].jend <= to &&
      EmitWordsUpTo(s, to) != 0) {
    return 1;
  }
  // The id names the target itself (direct) or holds a hint; either decides a match next to a
  // letter without the PatternInfo (cold with many literals).
  const PatternInfo* info = nullptr;
  const uint32_t hint = id & s->hint_mask;
  uint32_t length = hint & kHintLengthMask;
  uint32_t free = hint >> kHintFreeShift;
  if (length == 0) {  // never for a direct id
    info = &s->infos[id >> s->id_shift];
    length = info->length;
    free = FreeBits(*info);
  }
  const auto* joined = reinterpret_cast<const uint8_t*>(s->joined.data());
  const uint32_t jend = static_cast<uint32_t>(to);
  const uint32_t jstart = jend - length;
  // No pattern holds '\n', so a match lies within one field; the separators and the text's ends
  // are not letters, as a field's ends are not.
  const bool letter_before = jstart > 0 && kAsciiAlnum[joined[jstart - 1]];
  const bool letter_after = jend < s->joined.size() && kAsciiAlnum[joined[jend]];
  if (letter_before || letter_after) {
    // Does some target accept a letter on the side(s) where there is one?
    const uint32_t need = letter_before && letter_after ? kHintFreeBoth
                          : letter_before               ? kHintFreeStart
                                                        : kHintFreeEnd;
    if ((free & need) == 0) return 0;
  }
  Target direct{0, false, false};
  const Target* first = &direct;
  const Target* last = &direct + 1;
  bool regex_start = false;
  if ((id & s->direct_bit) != 0) {
    direct.term = (id & ~kDirectId) >> kIdHintBits;
    direct.check_start = (free & kHintFreeStart) == 0;
    direct.check_end = (free & kHintFreeEnd) == 0;
  } else {
    if (info == nullptr) info = &s->infos[id >> s->id_shift];
    first = s->targets + info->first;
    last = first + info->count;
    regex_start = info->regex_start;
  }
  const uint32_t base = SelectField(s, jstart);
  const normalise::FoldedText* folded = s->folded_fields[s->field].get();
  s->regex = regex_start;  // a simple regex's spelling: the end check applies as a regex's
  if (first->phrase != 0) return EmitPhraseHits(s, s->matcher->phrase(first->phrase), jend, base);
  // The start first: both then move the cursor forward.
  uint32_t start = regex_start ? 0 : folded->ToOriginal(jstart - base, &s->map_cursor);
  const uint32_t end = folded->ToOriginal(jend - base, &s->map_cursor);
  if (regex_start) start = WordRunStart(s->original, end);
  return EmitHits(s, first, last, start, end);
}

// Sorts hits by (field, start, end, term): by insertion while that stays near linear (up to
// kSortMovesPerHit moves per hit), else by std::sort.
void SortHits(std::vector<Hit>* hits) {
  constexpr size_t kSortMovesPerHit = 8;
  auto less = [](const Hit& a, const Hit& b) {
    if (a.field != b.field) return a.field < b.field;
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end < b.end;
    return a.term < b.term;
  };
  Hit* const h = hits->data();
  const size_t n = hits->size();
  size_t budget = kSortMovesPerHit * n;
  for (size_t i = 1; i < n; ++i) {
    const Hit x = h[i];
    size_t j = i;
    for (; j > 0 && less(x, h[j - 1]); --j) h[j] = h[j - 1];
    h[j] = x;
    const size_t moves = i - j;
    if (moves > budget) {
      std::sort(hits->begin(), hits->end(), less);
      return;
    }
    budget -= moves;
  }
}

class HyperscanMatchContext final : public MatchContext {
 public:
  explicit HyperscanMatchContext(std::shared_ptr<const HyperscanMatcher> matcher)
      : matcher_(std::move(matcher)) {}
  ~HyperscanMatchContext() override { hs_free_scratch(scratch_); }

  absl::Status Init() {
    if (matcher_->full() != nullptr) {
      full_ = std::make_unique<HyperscanMatchContext>(matcher_->full());
      SW_RETURN_IF_ERROR(full_->Init());
    }
    // No database: no terms, or every pattern in the word table.
    if (matcher_->scratch() == nullptr) return absl::OkStatus();
    if (hs_clone_scratch(matcher_->scratch(), &scratch_) != HS_SUCCESS) {
      return absl::ResourceExhaustedError("hs_clone_scratch failed");
    }
    return absl::OkStatus();
  }

  absl::Status Scan(absl::Span<const std::string_view> fields, std::vector<Hit>* hits) override;
  bool truncated() const override { return truncated_; }
  std::string_view folded(size_t field) const override {
    if (rescanned_) return full_->folded(field);
    return field < folded_fields_ ? folded_[field]->text() : std::string_view();
  }

 private:
  std::shared_ptr<const HyperscanMatcher> matcher_;
  hs_scratch_t* scratch_ = nullptr;
  // One fold buffer per field, kept after the scan for folded(); grows only when an item has
  // more fields than any before (two: title and body).
  std::vector<std::unique_ptr<normalise::FoldedText>> folded_;
  size_t folded_fields_ = 0;  // fields folded by the last Scan
  // The folded fields joined by '\n' for the one scan of the folded literals, and where each
  // field starts in it; grow to the largest item and stay.
  std::string joined_;
  std::vector<uint32_t> segment_starts_;
  std::vector<WordMatch> words_;     // the word lookup's matches of the last Scan
  std::vector<PendingRun> pending_;  // FindWords' scratch
  // With a word lookup, the context of the Hyperscan-only path (HyperscanMatcher::full), which
  // scans again an item whose scan stopped at max_hits; rescanned_ when it did for the last.
  std::unique_ptr<HyperscanMatchContext> full_;
  bool rescanned_ = false;
  bool truncated_ = false;
};

absl::Status HyperscanMatchContext::Scan(absl::Span<const std::string_view> fields,
                                         std::vector<Hit>* hits) {
  hits->clear();
  truncated_ = false;
  rescanned_ = false;
  folded_fields_ = 0;
  // Hit::field is a uint8_t.
  if (fields.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat("too many fields: ", fields.size()));
  }
  const DatabaseSet& dbs = matcher_->dbs();
  const std::vector<HyperscanMatcher::LengthTerm>& length_terms = matcher_->length_terms();
  const bool any_folded = dbs[kFoldedLiterals] != nullptr || dbs[kFoldedRegexes] != nullptr ||
                          !length_terms.empty() || !matcher_->words().empty();
  ScanState state{};
  state.max_hits = matcher_->options().max_hits_per_item;
  state.exact_start = matcher_->options().regex_start_offsets;
  state.hits = hits;
  state.matcher = matcher_.get();
  uint64_t total = 0;
  for (size_t f = 0; f < fields.size(); ++f) {
    if (fields[f].size() > UINT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("field ", f, " larger than 4 GiB"));
    }
    total += fields[f].size() + 1;
  }
  if (any_folded) {
    while (folded_.size() < fields.size()) {
      folded_.push_back(std::make_unique<normalise::FoldedText>());
    }
    for (size_t f = 0; f < fields.size(); ++f) normalise::Fold(fields[f], folded_[f].get());
    folded_fields_ = fields.size();
  }
  // The folded literals, the bulk of the terms: one scan of every field's folded text joined
  // by '\n', instead of one scan per field (each hs_scan has a fixed cost).
  const WordTable& word_table = matcher_->words();
  if ((dbs[kFoldedLiterals] != nullptr || !word_table.empty()) && total <= UINT32_MAX) {
    joined_.clear();
    segment_starts_.clear();
    for (size_t f = 0; f < fields.size(); ++f) {
      segment_starts_.push_back(static_cast<uint32_t>(joined_.size()));
      joined_.append(folded_[f]->text());
      joined_.push_back('\n');
    }
    joined_.pop_back();  // an empty item scans nothing
    if (!joined_.empty()) {
      words_.clear();
      if (!word_table.empty()) FindWords(joined_, word_table, &pending_, &words_);
      state.word_table = &word_table;
      state.words = words_.data();
      state.word_count = words_.size();
      state.infos = matcher_->infos(kFoldedLiterals).data();
      state.targets = matcher_->targets(kFoldedLiterals).data();
      state.joined = joined_;
      state.segment_starts = segment_starts_.data();
      state.segments = static_cast<uint32_t>(fields.size());
      state.fields = fields.data();
      state.folded_fields = folded_.data();
      state.direct_bit = matcher_->direct_bit(kFoldedLiterals);
      state.id_shift = matcher_->id_shift(kFoldedLiterals);
      state.hint_mask = matcher_->hint_mask(kFoldedLiterals);
      if (dbs[kFoldedLiterals] != nullptr) {
        const hs_error_t err =
            hs_scan(dbs[kFoldedLiterals], joined_.data(), static_cast<unsigned>(joined_.size()), 0,
                    scratch_, OnJoinedMatch, &state);
        if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
          hits->clear();
          return absl::InternalError(
              absl::StrCat("Hyperscan scan of the folded fields failed with code ", err));
        }
      }
      // The word matches after Hyperscan's last match.
      if (!state.truncated) EmitWordsUpTo(&state, UINT64_MAX);
    }
  }
  for (size_t f = 0; f < fields.size() && !state.truncated; ++f) {
    const std::string_view field = fields[f];
    if (field.empty()) continue;
    // Set whenever a folded database or a length term exists (any_folded).
    normalise::FoldedText* const folded_text = any_folded ? folded_[f].get() : nullptr;
    state.field = static_cast<uint8_t>(f);
    state.original = field;
    for (size_t db = kFoldedRegexes; db < kDatabaseCount && !state.truncated; ++db) {
      if (db == kFoldedRegexes + 1 && !length_terms.empty() && !folded_text->text().empty()) {
        // After the regex database's scan of this field: where its end-of-field matches were.
        state.scanned = folded_text->text();
        state.folded = folded_text;
        state.regex = true;
        EmitLengthHits(&state, length_terms);
        if (state.truncated) break;
      }
      if (dbs[db] == nullptr) continue;
      std::string_view text = field;
      if (ScansFolded(db)) {
        text = folded_text->text();
      } else if (db == kOriginalRegexes && !normalise::ValidateUtf8(field)) {
        // Hyperscan's UTF-8 mode does not check its input: invalid UTF-8 is undefined
        // behaviour.
        return absl::InvalidArgumentError(absl::StrCat("field ", f, " is not valid UTF-8"));
      }
      if (text.empty()) continue;
      state.infos = matcher_->infos(db).data();
      state.targets = matcher_->targets(db).data();
      state.scanned = text;
      state.folded = ScansFolded(db) ? folded_text : nullptr;
      state.regex = IsRegexDb(db);
      const hs_error_t err = hs_scan(dbs[db], text.data(), static_cast<unsigned>(text.size()), 0,
                                     scratch_, OnMatch, &state);
      if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
        hits->clear();
        return absl::InternalError(
            absl::StrCat("Hyperscan scan of field ", f, " failed with code ", err));
      }
    }
  }
  truncated_ = state.truncated;
  if (truncated_ && full_ != nullptr) {
    // Which hits a stopped scan keeps depends on the order of the matches (by end, and among
    // those that end at the same byte, Hyperscan's own order): the Hyperscan-only path keeps
    // exactly the hits it kept before the word lookup. Only items of max_hits hits come here.
    rescanned_ = true;
    return full_->Scan(fields, hits);
  }
  // Hyperscan reports in order of end offset, so the hits are nearly sorted already (out of
  // order only where terms overlap): an insertion sort is linear on them, where std::sort was 6%
  // of the item path (and 2% for the long items of more than 256 hits). A hostile item, whose
  // hits are far out of order, runs out of the moves budget and goes to std::sort. The order is
  // total (equal hits are identical), so either sort gives the same result.
  SortHits(hits);
  hits->erase(std::unique(hits->begin(), hits->end(),
                          [](const Hit& a, const Hit& b) {
                            return a.field == b.field && a.start == b.start && a.end == b.end &&
                                   a.term == b.term;
                          }),
              hits->end());
  return absl::OkStatus();
}

}  // namespace
}  // namespace steppewatch::match::internal

namespace steppewatch::match {

absl::StatusOr<std::unique_ptr<MatchContext>> MatchContext::Create(
    std::shared_ptr<const Matcher> matcher) {
  auto hs = std::dynamic_pointer_cast<const internal::HyperscanMatcher>(matcher);
  if (hs == nullptr)
    return absl::InvalidArgumentError("MatchContext needs a Matcher::Create() matcher");
  auto context = std::make_unique<internal::HyperscanMatchContext>(std::move(hs));
  SW_RETURN_IF_ERROR(context->Init());
  return std::unique_ptr<MatchContext>(std::move(context));
}

}  // namespace steppewatch::match
