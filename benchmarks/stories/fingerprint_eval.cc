// Pairwise precision and recall of "fingerprint distance <= k" as the near-duplicate test, over
// the evaluation set that make_copies.py writes (every bench-corpus item as an original plus
// edited syndicated copies of a sample; "story" is the ground truth).
//
// Every item is folded with the real normalise::Fold and fingerprinted with the real
// stories::Fingerprinter, as the item processor does. A pair is positive when both items have
// the same story. Positive pairs are enumerated per story; negative pairs within distance
// kMaxK are found with the pigeonhole index of Manku et al. (7 blocks of the 64 bits: two
// fingerprints within 6 bits agree on at least one block), so every one of the ~3e9 pairs is
// accounted for without comparing them all.
//
// Classes: all pairs; pairs of two items of one language (en, ru, kk, zh); short pairs (both
// originals < 200 bytes). Recall is also broken down by edit (original-copy pairs whose copy
// had that edit).
//
// --stories also runs the items through the stage's real StoryIndex, as the stories stage
// assigns them (each item joins the story of the nearest open first-copy fingerprint within 3
// bits, or starts one), and reports pairwise precision and recall of "same story": the
// grouping a subscriber sees. Items arrive in a simulated order: originals 5 s apart in set
// order, each copy 1 min to 4 h after its original (a fixed pseudo-random offset per copy).
//
// The product's lead key (fingerprint.h) counts by default, as the stage uses it: a pair also
// matches when the two lead keys (an item without one: its fingerprint) are within
// kLeadDistance bits, one of the two items has a lead key, and their fingerprints are within
// kLeadGate bits. It is reported in the k = 3 column (the product's distance): a lead match is
// counted as distance kLeadDistance + 2. --no-lead leaves it out. The gate is the product's:
// kLeadGate, widened by the containment gate (stories::LeadGate of the two items' token counts);
// containment=0 leaves the widening out (the stage's gate for alerts without
// item.fingerprint_tokens); floor=P and slack=S change its floor (percent) and slack for the
// pairwise figures only (--stories uses the stage's constants).
//
// usage: stories_fingerprint_eval EVAL.jsonl [--examples N] [--k K] [--fingerprints OUT]
//                                 [option=value ...] [vN.option=value ...] [vN.penalty=P]
//                                 [cross=1] [gate=T] [--stories] [--no-lead]
//                                 [lead_title=W] [lead_gate=T] [lead2=N gate2=G] [containment=0]
//                                 [lead_cont=P]
//                                 [tail=N tail_gate=T tail_min=M] [--dump OUT]
//                                 [sent=S sent_gate=T sent_cont=0 sent_first=0] [lead_d=D]
//                                 [--sim] [--why] [sent_keys=K] [body_gate=G] [sent_two=G]
//                                 [oracle=1] [exact_j=P] [exact_c=P] [--assignments OUT]
//   --fingerprints OUT writes "id fingerprint" per item (16 hex digits), so two builds can be
//   compared item by item (a change meant to keep the fingerprint must give the same file).
//   option=value overrides a feature setting (internal::FingerprintOptions), for comparing
//   variants (see SetOption for the names). vN.option=value (N = 1..3) adds a second (third,
//   fourth) fingerprint per item, a "view" computed with those settings over the defaults; a
//   pair's distance is then the smallest over its views (a view's fingerprint 0 never matches),
//   plus P for view N (so it matches within k - P); cross=1 also compares different views of
//   the two items (as one index holding every view would); gate=T lets another view match only
//   when the two items' first views are within T bits (a second key checked against the
//   first fingerprint, which the stage keeps per story anyway).
//   Variants of the lead key, measured and not taken (benchmarks/README.md, "Stories: text rules,
//   night round"): lead_title=W its title weight (0: the body's lead only); lead_gate=T its gate;
//   lead2=N gate2=G a second gate, the first N body tokens' fingerprints within G bits.
//   tail=N tail_gate=T tail_min=M: a tail key (a second key the stage would need to index), the
//   fingerprint of the folded body's last N words with no title and no dateline rule, for bodies
//   of at least M words (default 2N); a pair matches when the tail keys are within
//   kLeadDistance bits and the fingerprints within T bits (default 6). Negative pairs are also
//   looked up by its halves. Measured and not taken (benchmarks/README.md, "Stories:
//   containment gate").
//   --dump OUT writes "id story lang copy fingerprint lead" per item, for analyses in a script.
//   --assignments OUT (with --stories or --sim) writes "id story" per item: the id of the first
//   item of the story it was put in (the false pairs and misses of two variants, compared).
//   sent=S sent_gate=T [sent_cont=1] [sent_first=0] [sent_chain=1]: the sentence key
//   (stories::internal::SentenceKeyOf, the product's; benchmarks/README.md, "Stories: recall
//   round" and "Stories: sentence key"), the least hash of the body's sentences of at least S
//   tokens (the body as the text rules select it; a sentence's hash is of its tokens, so
//   typography does not change it), matching exactly when the fingerprints are within T bits
//   (widened by the containment gate with sent_cont=1; sent_first=0: the first sentence is no
//   candidate; sent_chain=1: the recall round's chained token hashes instead of the product's
//   feature sum). The defaults are the product's (sent=15 sent_gate=6, fixed gate; sent=0: no
//   sentence key). Negative pairs are also looked up by it. lead_d=D: the lead key's distance
//   (default the product's kLeadDistance, 0 since 2026-12-05; 1 before).
//   With --sim only: sent_keys=K indexes and looks up the K least sentence hashes (default 2, the
//   product's two sentence keys; 1: the sentence key alone, as before 2026-12-05 evening; 100:
//   every sentence, the bound of such keys); sent2_gate=G and sent2_c=P take a match through a
//   key other than both items' least within G bits or contained at P% (default: as the least);
//   sent_cheap=1 hashes a sentence by its first token and its tokens' lengths only (what a
//   fingerprint could afford); body_gate=G verifies a sentence match by the bodies' fingerprints
//   (no title) within G bits instead of the whole fingerprints; sent_two=G lets a match through at
//   G bits when the two least sentence hashes agree; oracle=1 accepts a sentence match by the
//   labels, exact_j=P by the exact resemblance of the two items' features (words and word pairs of
//   the selected text) >= P%, exact_c=P by their exact containment |A n B| / min(|A|, |B|) >= P%:
//   the bounds of the candidates and of any sketch. sk=N skc=P skd=D skf=F: the sentence match's
//   containment check. Default sk=-1: the product's SentenceContained on the fingerprints and token
//   counts (skc, skf its percent and floor; skd an extra bound on the distance); sk=0: the fixed
//   gate alone (before 2026-12-05 midday); sk=1 or 2: the same estimate from one or two independent
//   64-bin sketches of the exact features instead (what a second 64-bit word per story would buy).
//   members=M: a copy that joins a story other than as an exact twin of the member it matched
//   adds its own keys (fingerprint, lead, sentence) to the story, up to M such copies per story,
//   so later copies may join through them (the stage indexes a story's first copy only).
//   numbers=N [numbers_min=M]: --sim refuses a join when both items' leads (the selected body up
//   to its N-th token with a letter) hold at least M digits (default 3) and their digits differ:
//   recurring reports on one template (a daily price table, a central bank's operation) are one
//   story's text with other figures. Measured and not taken (benchmarks/README.md, "Stories: a
//   veto on the lead's digits").
//   --sim: stories (as --stories) by the eval's own emulation of the stage's assignment rule,
//   which takes sent= and lead_d= and the variants above (the StoryIndex has the product's
//   constants only); with the defaults it gives the StoryIndex's figures to the pair (checked
//   on the five sets of "Stories: sentence key").
//   --why (with --stories or --sim): each copy against its original, joined or why not (no lead
//   key, lead broken, gate refused), by edit and language, with the fingerprint distances.
//   Negative pairs are also looked up by the two halves of the lead key (a lead match may be up
//   to the gate apart in its fingerprints, beyond the seven blocks' reach).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../../src/stories/fingerprint_internal.h"
#include "simdjson.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/stories/fingerprint.h"
#include "steppewatch/stories/story_index.h"

namespace {

using steppewatch::stories::Fingerprint;

constexpr int kMaxK = 6;
constexpr size_t kShortBytes = 200;

struct Item {
  uint32_t story;
  uint32_t group;  // stories of one group that differ are neither positive nor negative
  uint8_t lang;    // index into kLangs
  bool short_item;
  bool copy;
  uint32_t edits;     // bit per edit name
  Fingerprint fp[4];  // one per view: [0] the product's (or option=value), [1..] vN.option=value
  Fingerprint lead;   // the lead key of view 0 (0: none)
  Fingerprint lead2;  // lead2=N: the fingerprint of the first N body tokens (0: none)
  Fingerprint tail;   // tail=N: the fingerprint of the body's last N words (0: none)
  Fingerprint sent;   // sent=S: the least hash of the body's sentences of >= S tokens (0: none)
  std::vector<Fingerprint> sents;
  std::vector<uint64_t> features;  // exact_j=P
  Fingerprint bodyfp;  // body_gate=G: the fingerprint of the body alone (no title)  // sent_keys=K:
                       // the K least (the bound of the family: K large)
  uint32_t tokens;     // the tokens the product's fingerprint covers (its containment gate)
  uint64_t digits = 0;  // numbers=N: a hash of the digits of the body's lead (0: too few digits)
  uint64_t sketch[2] = {0, 0};  // sk=N: two 64-bin one-bit MinHash sketches of the features
  uint32_t nfeat = 0;           // sk=N: how many distinct features
  std::string id, title, body;
};

constexpr const char* kLangs[] = {"en", "ru", "kk", "zh", "other"};
constexpr int kLangCount = 5;
constexpr const char* kEdits[] = {"dateline", "byline",   "footer",     "truncate",  "drop",
                                  "move",     "headline", "substitute", "typography"};
constexpr int kEditCount = 9;

// Class of a pair: bit 0 all, 1..4 language, 5 short.
constexpr int kClassAll = 0, kClassShort = 5, kClassCount = 6;
const char* ClassName(int c) {
  static const char* names[] = {"all", "en", "ru", "kk", "zh", "short (<200 B)"};
  return names[c];
}
uint32_t PairClasses(const Item& a, const Item& b) {
  uint32_t m = 1u << kClassAll;
  if (a.lang == b.lang && a.lang < 4) m |= 1u << (1 + a.lang);
  if (a.short_item && b.short_item) m |= 1u << kClassShort;
  return m;
}

struct Counts {
  uint64_t pairs = 0;
  uint64_t within[kMaxK + 1] = {0};  // pairs with distance <= k
};

int Distance(Fingerprint a, Fingerprint b) { return __builtin_popcountll(a ^ b); }

int g_views = 1;
int g_penalty[4] = {0};  // vN.penalty=p: view N matches at distance <= k - p

// The distance of two items: the smallest over the views (a pair matches when any view is within
// k). A view other than the first never matches on fingerprint 0 (no text in that view), as the
// stage never matches 0.
bool g_cross = false;
int g_gate = 0;  // cross=1: view v of one item is also compared with view w != v of the other
bool g_lead = true;
int g_lead_title = -1;  // lead_title=W: the lead key's title weight (default: the fingerprint's)
size_t g_lead2 = 0;     // lead2=N: a second gate, the first N body tokens' fingerprint...
int g_gate2 = 0;        // gate2=G: ...within G bits lets a lead match through (beside kLeadGate)
int g_lead_gate = steppewatch::stories::kLeadGate;  // lead_gate=T
size_t g_tail = 0;      // tail=N: a tail key, the body's last N words, no title...
int g_tail_gate = 6;    // tail_gate=T: ...within kLeadDistance bits when the fingerprints are
size_t g_tail_min = 0;  // tail_min=M: only bodies of at least M words have one (default 2N)
size_t g_sent = steppewatch::stories::kSentenceTokens;  // sent=S: a sentence key over sentences of
                                                        // at least S tokens...
int g_sent_gate = steppewatch::stories::kSentenceGate;  // sent_gate=T: ...matching when the
                                                        // fingerprints are within the gate
bool g_sent_skip_first = false;
bool g_sent_containment = false;  // sent_cont=0: the sentence key's gate is fixed  // sent_first=0:
                                  // the body's first sentence is not a candidate
int g_lead_distance = steppewatch::stories::kLeadDistance;  // lead_d=D
bool g_why = false;
// --assignments OUT (with --stories or --sim): "id story" per item, the story it was put in (its
// first item's id), for the analyses of false pairs and misses in a script.
const char* g_assignments = nullptr;
bool g_sim = false;  // --sim: stories by the eval's emulation of the stage (with sent=, lead_d=) //
                     // --why: why each copy missed its original (with --stories)
bool g_containment = true;  // containment=0: the fixed gate only (as alerts without a count)
int g_slack = steppewatch::stories::kContainmentSlack;  // slack=S (pairs only, not --stories)
// floor=P: no widening when the shorter has under P% of the longer's tokens.
uint32_t g_floor = steppewatch::stories::kContainmentFloorPercent;
// lead_cont=P: the lead path's containment estimate (stories::LeadJoins) from P% of the longer's
// tokens; the product's kLeadContainmentFloorPercent by default, lead_cont=101 leaves it out (the
// gate before 2026-12-05 afternoon). The pairwise figures and --sim; --stories uses the product's.
uint32_t g_lead_cont_floor = steppewatch::stories::kLeadContainmentFloorPercent;
// The product's gate (stories::LeadGate), with lead_gate=T, slack=S and floor=P.
int LeadGate(const Item& a, const Item& b) {
  if (!g_containment) return g_lead_gate;
  return steppewatch::stories::LeadGate(a.tokens, b.tokens, g_lead_gate, g_slack, g_floor);
}
// Whether a lead match at fingerprint distance d joins: LeadGate, or (with the containment gate)
// the lead path's containment estimate (stories::LeadJoins, from lead_cont=P%).
bool LeadGateAllows(const Item& a, const Item& b, int d) {
  return d <= LeadGate(a, b) ||
         (g_containment && g_lead_cont_floor <= 100 &&
          steppewatch::stories::SentenceContained(d, a.tokens, b.tokens,
                                                  steppewatch::stories::kSentenceContainmentPercent,
                                                  g_lead_cont_floor));
}
int Distance(const Item& a, const Item& b) {
  int d = Distance(a.fp[0], b.fp[0]);
  if (g_sent > 0 && a.sent != 0 && a.sent == b.sent && a.fp[0] != 0 && b.fp[0] != 0 &&
      d <= (g_containment && g_sent_containment
                ? steppewatch::stories::LeadGate(a.tokens, b.tokens, g_sent_gate, g_slack, g_floor)
                : g_sent_gate)) {
    d = std::min(d, 2);
  }
  bool gate = LeadGateAllows(a, b, d);
  if (!gate && g_lead2 > 0 && a.fp[0] != 0 && b.fp[0] != 0) {
    gate = Distance(a.lead2 != 0 ? a.lead2 : a.fp[0], b.lead2 != 0 ? b.lead2 : b.fp[0]) <= g_gate2;
  }
  if (g_lead && (a.lead != 0 || b.lead != 0) && a.fp[0] != 0 && b.fp[0] != 0 && gate) {
    const int lead_d = Distance(a.lead != 0 ? a.lead : a.fp[0], b.lead != 0 ? b.lead : b.fp[0]);
    if (lead_d <= g_lead_distance) d = std::min(d, lead_d + 2);
  }
  if (g_tail > 0 && a.tail != 0 && b.tail != 0 && Distance(a.fp[0], b.fp[0]) <= g_tail_gate) {
    const int tail_d = Distance(a.tail, b.tail);
    if (tail_d <= steppewatch::stories::kLeadDistance) d = std::min(d, tail_d + 2);
  }
  for (int v = 0; v < g_views; ++v) {
    for (int w = g_cross ? 0 : v; w < (g_cross ? g_views : v + 1); ++w) {
      if (v == 0 && w == 0) continue;
      if (a.fp[v] == 0 || b.fp[w] == 0) continue;
      // gate=T: another view counts only when the first views are within T bits.
      if (g_gate > 0 && Distance(a.fp[0], b.fp[0]) > g_gate) continue;
      d = std::min(d, Distance(a.fp[v], b.fp[w]) + std::max(g_penalty[v], g_penalty[w]));
    }
  }
  return d;
}

// The sentence key: the least hash of the body's sentences (as the text rules select the body)
// of at least g_sent tokens; a sentence's hash is of its tokens in order, so typography and
// re-wrapping do not change it. 0: no such sentence.
size_t g_sent_keys = 2;     // the product's: the sentence key and the second
bool g_sent_cheap = false;  // sent_cheap=1: a sentence hashed by its first token and the lengths
bool g_sent_chain = false;  // sent_chain=1: the recall round's chained token hashes
int g_body_gate = -1;
bool g_oracle = false;
int g_exact_j = 0;      // exact_j=P: --sim verifies sentence matches by exact resemblance >= P%
int g_numbers = 0;      // numbers=N: --sim vetoes a join when the leads' digits differ (N words)
int g_numbers_min = 3;  // numbers_min=M: digits a lead needs for its digits to count
int g_members = 0;      // members=M: --sim indexes up to M copies' keys per story besides its first
int g_sent_two = 0;  // sent_two=G: two shared least sentence hashes let a match through at G bits
                     // // oracle=1: --sim verifies sentence matches by the labels  // body_gate=G:
                     // --sim verifies a sentence match by the body's fingerprint  // sent_keys=K:
                     // --sim indexes the K least sentence hashes
Fingerprint SentenceKey(std::string_view folded_body, std::string_view original_body,
                        std::vector<Fingerprint>* all = nullptr) {
  // The product's definition (stories::internal::SentenceKeyOf), with the eval's settings.
  steppewatch::stories::internal::SentenceOptions so;
  so.min_tokens = g_sent;
  so.skip_first = g_sent_skip_first;
  so.hash = g_sent_cheap   ? steppewatch::stories::internal::SentenceOptions::Hash::kCheap
            : g_sent_chain ? steppewatch::stories::internal::SentenceOptions::Hash::kChained
                           : steppewatch::stories::internal::SentenceOptions::Hash::kFeatures;
  const Fingerprint best =
      steppewatch::stories::internal::SentenceKeyWithOptions(folded_body, original_body, so, all);
  if (all != nullptr) {
    std::sort(all->begin(), all->end());
    all->erase(std::unique(all->begin(), all->end()), all->end());
    // Two at least: sent_two=G checks the second.
    if (all->size() > std::max<size_t>(g_sent_keys, 2))
      all->resize(std::max<size_t>(g_sent_keys, 2));
  }
  return best;
}

// The tokens of a field as the product's text rules select them (the portable scan): their
// starts and ends (the ends with flags, see kEndMask) in *starts and *ends; returns how many.
size_t SelectedTokens(std::string_view text, bool is_title, std::string_view original_body,
                      std::vector<uint32_t>* starts, std::vector<uint32_t>* ends) {
  namespace in = steppewatch::stories::internal;
  const in::FingerprintOptions& o = in::kDefaultOptions;
  in::TextSpan span;
  if (is_title) {
    in::SelectText(text, true, o, 0, &span);
  } else {
    steppewatch::normalise::FoldedText scratch;
    const size_t first_line = in::FirstLine(text, original_body, o, &scratch);
    in::TailLines tail;
    in::FindTailLines(text, original_body, o, &tail);
    in::SelectText(text, false, o, first_line, &span, in::Kernel::kPortable, &tail, original_body);
  }
  const size_t max = in::MaxTokens(span.end - span.begin);
  starts->resize(max);
  ends->resize(max);
  return in::ScanTokens<false>(in::Kernel::kPortable, text, span, o, starts->data(), ends->data());
}

// numbers=N: the digits of the selected body's tokens up to its N-th token that holds a letter
// (digit-only tokens do not count, so "1,000" against "1000" moves no boundary), hashed; 0 when
// fewer than g_numbers_min digits. Separators are not kept ("1,000", "1 000" and "1000" agree).
uint64_t LeadDigits(std::string_view folded_body, std::string_view original_body) {
  namespace in = steppewatch::stories::internal;
  std::vector<uint32_t> starts, ends;
  const size_t count = SelectedTokens(folded_body, false, original_body, &starts, &ends);
  std::string digits;
  int words = 0;
  for (size_t k = 0; k < count && words < g_numbers; ++k) {
    const uint32_t e = ends[k] & in::kEndMask;
    bool letter = false;
    for (uint32_t c = starts[k]; c < e; ++c) {
      const char ch = folded_body[c];
      if (ch >= '0' && ch <= '9') {
        digits.push_back(ch);
      } else {
        letter = true;
      }
    }
    words += letter;
  }
  if (digits.size() < static_cast<size_t>(g_numbers_min)) return 0;
  return std::hash<std::string>()(digits) | 1;
}

// exact_j=P: the item's features (words and word pairs of the selected title and body, as token
// hashes), sorted, for an exact resemblance in --sim: the bound of any sketch as a verifier.
std::vector<uint64_t> Features(std::string_view folded_title, std::string_view folded_body,
                               std::string_view original_body) {
  namespace in = steppewatch::stories::internal;
  std::vector<uint64_t> out;
  std::vector<uint32_t> starts, ends;
  for (int field = 0; field < 2; ++field) {
    const std::string_view text = field == 0 ? folded_title : folded_body;
    const size_t count = SelectedTokens(text, field == 0, original_body, &starts, &ends);
    uint64_t prev = 0;
    for (size_t k = 0; k < count; ++k) {
      const uint32_t e = ends[k] & in::kEndMask;
      const uint64_t h =
          in::HashToken(text.data() + starts[k], e - starts[k], text.data() + text.size()) ^
          (field == 0 ? 0x5bd1e995ull : 0);
      out.push_back(h);
      if (k > 0) out.push_back((prev * in::kMul1) ^ h ^ 0x27d4eb2full);
      prev = h;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// sk=N skc=P: --sim verifies a sentence match by the containment estimated from N (1 or 2)
// 64-bin one-bit MinHash sketches of the exact features and the two feature counts,
// C = J (|A| + |B|) / ((1 + J) min(|A|, |B|)), J = 1 - 2 d / (64 N): what a second 64-bit word per
// story (the 8 bytes of Story::lead, which the exact lead key no longer needs) would buy.
// The defaults: the product's (sk=-1: SentenceContained on the fingerprints and token counts;
// sk=0: the fixed gate alone, the rule before 2026-12-05 midday).
int g_sk = -1, g_skd = 64;
// sent2_gate=G sent2_c=P: a match through a key that is not both items' least (sent_keys >= 2)
// is taken within G bits or contained at P% (defaults: as the least key's).
int g_sent2_gate = -1, g_sent2_c = -1;
int g_skc = steppewatch::stories::kSentenceContainmentPercent;
int g_skf =
    steppewatch::stories::kSentenceContainmentFloorPercent;  // skf=P: the shorter >= P%  // skd=D:
                                                             // and the fingerprints within D bits
void Sketch(const std::vector<uint64_t>& features, uint64_t out[2]) {
  for (int s = 0; s < 2; ++s) {
    uint64_t bins[64];
    for (auto& b : bins) b = ~uint64_t{0};
    for (uint64_t f : features) {
      uint64_t h =
          (f ^ (s == 0 ? 0x243F6A8885A308D3ull : 0x13198A2E03707344ull)) * 0xD6E8FEB86659FD93ull;
      h ^= h >> 32;
      h *= 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
      uint64_t& b = bins[h >> 58];
      b = std::min(b, h & ((uint64_t{1} << 58) - 1));
    }
    uint64_t v = 0;
    for (int i = 0; i < 64; ++i) v |= (bins[i] & 1) << i;
    out[s] = v;
  }
}
double EstimatedContainment(const uint64_t a[2], uint32_t na, const uint64_t b[2], uint32_t nb) {
  int d = 0;
  const int n = g_sk;
  for (int s = 0; s < n; ++s) d += __builtin_popcountll(a[s] ^ b[s]);
  const double j = std::max(0.0, 1.0 - 2.0 * d / (64.0 * n));
  const double fewer = std::max<uint32_t>(1, std::min(na, nb));
  if (fewer * 100 < g_skf * static_cast<double>(std::max(na, nb))) return 0;
  return j * (na + nb) / ((1 + j) * fewer);
}

bool g_exact_containment = false;
double Resemblance(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  size_t i = 0, j = 0, both = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++both, ++i, ++j;
    }
  }
  if (g_exact_containment) {  // exact_c=P: |A n B| / min(|A|, |B|) instead
    const size_t fewer = std::min(a.size(), b.size());
    return fewer == 0 ? 0 : double(both) / double(fewer);
  }
  const size_t either = a.size() + b.size() - both;
  return either == 0 ? 0 : double(both) / double(either);
}

bool SetOption(steppewatch::stories::internal::FingerprintOptions* o, std::string_view key,
               long v) {
  // One entry per setting: name -> field.
  struct Int {
    const char* name;
    int steppewatch::stories::internal::FingerprintOptions::*field;
  };
  struct Bool {
    const char* name;
    bool steppewatch::stories::internal::FingerprintOptions::*field;
  };
  struct Size {
    const char* name;
    size_t steppewatch::stories::internal::FingerprintOptions::*field;
  };
  using O = steppewatch::stories::internal::FingerprintOptions;
  static constexpr Int kInts[] = {
      {"uni", &O::unigram_weight},       {"bi", &O::bigram_weight},
      {"tri", &O::trigram_weight},       {"cjk_uni", &O::cjk_unigram_weight},
      {"cjk_bi", &O::cjk_bigram_weight}, {"dateline_rounds", &O::dateline_rounds},
      {"title", &O::title_weight}};
  static constexpr Bool kBools[] = {
      {"brackets", &O::skip_brackets},
      {"dateline", &O::strip_dateline},
      {"cjk_dateline", &O::strip_cjk_dateline},
      {"drop_last", &O::drop_last_sentence},
      {"or_whole", &O::drop_last_or_whole},
      {"slashes", &O::skip_slashes},
      {"byline_markers", &O::byline_markers},
      {"byline_roles", &O::byline_roles},
      {"wire_credits", &O::wire_credits},
      {"footer_markers", &O::footer_markers},
      {"dateline_after_byline", &O::dateline_after_byline},
      {"footer_lines", &O::footer_lines},
      {"dateline_marks", &O::dateline_marks},
      {"name_lines", &O::name_lines},
      {"end_credits", &O::end_credits},
      {"capital_datelines", &O::capital_datelines},
  };
  static constexpr Size kSizes[] = {{"min_token", &O::min_token_bytes},
                                    {"lead", &O::max_body_tokens},
                                    {"min_kept", &O::min_kept_bytes},
                                    {"max_dropped", &O::max_dropped_bytes},
                                    {"max_body", &O::max_body_bytes},
                                    {"dateline_bytes", &O::dateline_bytes},
                                    {"boilerplate_min_kept", &O::boilerplate_min_kept},
                                    {"byline", &O::byline_bytes},
                                    {"wrap", &O::wrap_bytes},
                                    {"footer_bytes", &O::footer_bytes},
                                    {"title_prefix", &O::title_prefix_bytes},
                                    {"title_suffix", &O::title_suffix_bytes}};
  if (key == "simhash") {
    o->method = v != 0 ? steppewatch::stories::internal::Method::kSimHash
                       : steppewatch::stories::internal::Method::kMinHash;
    return true;
  }
  for (const Int& e : kInts) {
    if (key == e.name) return o->*e.field = static_cast<int>(v), true;
  }
  for (const Bool& e : kBools) {
    if (key == e.name) return o->*e.field = v != 0, true;
  }
  for (const Size& e : kSizes) {
    if (key == e.name) return o->*e.field = static_cast<size_t>(v), true;
  }
  return false;
}

// Pairwise precision and recall of the stories the real StoryIndex forms (see --stories).
void StoryLevel(const std::vector<Item>& items) {
  const size_t n = items.size();
  std::vector<int64_t> time(n);
  std::unordered_map<std::string_view, int64_t> original_time;
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  int64_t clock = 0;
  for (size_t i = 0; i < n; ++i) {
    const Item& it = items[i];
    if (!it.copy) {
      clock += 5000;
      time[i] = clock;
      original_time[it.id] = clock;
      continue;
    }
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    const std::string_view original = std::string_view(it.id).substr(0, it.id.find('~'));
    const auto found = original_time.find(original);
    time[i] = (found != original_time.end() ? found->second : clock) + 60'000 +
              static_cast<int64_t>(rng % (4 * 3600 * 1000));
  }
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return time[a] < time[b]; });
  steppewatch::stories::StoryIndex index(72 * 3600 * 1000LL);
  std::vector<uint64_t> story_of(n);
  if (g_sim) {
    // --sim: the stage's assignment rule emulated here (exact tables in hash maps), so keys the
    // StoryIndex does not have (sent=S, lead_d=D) can be measured as stories. With neither it
    // must give the StoryIndex's figures (checked when it was written).
    struct SimStory {
      Fingerprint fp, lead, sent, bodyfp;
      uint32_t tokens, first_item;
      Fingerprint sent2;  // the second least sentence hash (sent_two=G)
      int64_t first_seen;
      uint32_t story = 0;   // members=M: the story this member's keys lead to (its first member)
      uint64_t digits = 0;  // numbers=N
    };
    std::vector<uint32_t> members_of;  // members=M: per story (by its first member), how many
    std::vector<SimStory> sim;
    std::unordered_map<uint64_t, std::vector<uint32_t>> blocks[4], halves[2], sents;
    const int64_t window = 72 * 3600 * 1000LL;
    for (uint32_t i : order) {
      const Item& it = items[i];
      const Fingerprint fp = it.fp[0];
      const int64_t oldest_open = time[i] - window;
      const uint32_t tokens = g_containment ? std::min<uint32_t>(it.tokens, 65535) : 0;
      int64_t best = -1;
      int best_d = 99;
      auto consider = [&](uint32_t seq, int d) {
        if (sim[seq].first_seen < oldest_open) return;
        // numbers=N: two leads with their own, different digits are different reports.
        if (g_numbers > 0 && it.digits != 0 && sim[seq].digits != 0 &&
            it.digits != sim[seq].digits) {
          return;
        }
        if (d < best_d || (d == best_d && seq < best)) best_d = d, best = seq;
      };
      if (fp != 0) {
        for (int t = 0; t < 4; ++t) {
          const auto f = blocks[t].find(t * 65536 + (fp >> (16 * t) & 0xffff));
          if (f == blocks[t].end()) continue;
          for (uint32_t seq : f->second) {
            const int d = Distance(sim[seq].fp, fp);
            if (d <= 3) consider(seq, d);
          }
        }
        const Fingerprint key = g_lead && it.lead != 0 ? it.lead : fp;
        if (best < 0 && g_lead) {
          for (int t = 0; t < 2; ++t) {
            const auto f = halves[t].find(key >> (32 * t) & 0xffffffffu);
            if (f == halves[t].end()) continue;
            for (uint32_t seq : f->second) {
              const int d = Distance(sim[seq].lead, key);
              if (d > g_lead_distance) continue;
              if (!steppewatch::stories::LeadJoins(Distance(sim[seq].fp, fp), tokens,
                                                   sim[seq].tokens, g_lead_cont_floor)) {
                continue;
              }
              consider(seq, d);
            }
          }
        }
        const size_t looked_up = std::min(it.sents.size(), g_sent_keys);
        for (size_t q = 0; best < 0 && g_sent > 0 && q < looked_up; ++q) {
          const auto f = sents.find(it.sents[q]);
          if (f != sents.end()) {
            for (uint32_t seq_rank : f->second) {
              const uint32_t seq = seq_rank >> 1;
              const bool second = q > 0 || (seq_rank & 1) != 0;
              const int sgate = second && g_sent2_gate >= 0 ? g_sent2_gate : g_sent_gate;
              const int skc = second && g_sent2_c >= 0 ? g_sent2_c : g_skc;
              const int d = Distance(sim[seq].fp, fp);
              const int gate = g_containment && g_sent_containment
                                   ? steppewatch::stories::LeadGate(tokens, sim[seq].tokens, sgate)
                                   : sgate;
              // oracle=1: the labels verify (the bound of the candidates alone).
              if (g_oracle   ? items[sim[seq].first_item].story == it.story
                  : g_sk > 0 ? EstimatedContainment(items[sim[seq].first_item].sketch,
                                                    items[sim[seq].first_item].nfeat, it.sketch,
                                                    it.nfeat) *
                                           100 >=
                                       g_skc &&
                                   d <= g_skd
                  : g_exact_j > 0
                      ? Resemblance(items[sim[seq].first_item].features, it.features) * 100 >=
                            g_exact_j
                  : g_body_gate >= 0 ? Distance(sim[seq].bodyfp, it.bodyfp) <= g_body_gate
                                     : d <= gate ||
                                           (g_sk < 0 && d <= g_skd &&
                                            steppewatch::stories::SentenceContained(
                                                d, tokens, sim[seq].tokens, skc, g_skf)) ||
                                           (g_sent_two > 0 && it.sents.size() > 1 &&
                                            sim[seq].sent2 == it.sents[1] &&
                                            sim[seq].sent == it.sents[0] && d <= g_sent_two)) {
                consider(seq, d);
              }
            }
          }
        }
      }
      const uint32_t seq = static_cast<uint32_t>(sim.size());
      const Fingerprint lead = g_lead && fp != 0 ? it.lead : 0;
      if (best >= 0) {
        const uint32_t story = sim[best].story;
        story_of[i] = story;
        // members=M: a copy that is not its member's exact twin adds its keys to the story
        // (at most M copies per story), so later copies may join through it.
        if (members_of[story] >= static_cast<uint32_t>(1 + g_members) || best_d == 0) continue;
        ++members_of[story];
        sim.push_back({fp, lead, fp != 0 && g_sent > 0 ? it.sent : 0, it.bodyfp, tokens,
                       sim[best].first_item, it.sents.size() > 1 ? it.sents[1] : 0,
                       sim[best].first_seen, story, it.digits});
      } else {
        sim.push_back({fp, lead, fp != 0 && g_sent > 0 ? it.sent : 0, it.bodyfp, tokens, i,
                       it.sents.size() > 1 ? it.sents[1] : 0, time[i], seq, it.digits});
        members_of.resize(seq + 1);
        members_of[seq] = 1;
        story_of[i] = seq;
      }
      if (fp == 0) continue;
      for (int t = 0; t < 4; ++t) blocks[t][t * 65536 + (fp >> (16 * t) & 0xffff)].push_back(seq);
      if (lead != 0) {
        for (int t = 0; t < 2; ++t) halves[t][lead >> (32 * t) & 0xffffffffu].push_back(seq);
      }
      if (sim.back().sent != 0) {
        for (size_t q = 0; q < std::min(it.sents.size(), g_sent_keys); ++q) {
          sents[it.sents[q]].push_back(seq << 1 | (q > 0 ? 1u : 0u));
        }
      }
    }
  }
  for (uint32_t i : order) {
    if (g_sim) break;
    index.Expire(time[i]);
    story_of[i] =
        index
            .Assign(items[i].fp[0], items[i].id, time[i], std::hash<std::string>()(items[i].id),
                    items[i].lang, g_lead ? items[i].lead : 0, g_containment ? items[i].tokens : 0,
                    items[i].sent, items[i].sents.size() > 1 ? items[i].sents[1] : 0)
            .seq;
  }
  // Positives per true story; predicted pairs per assigned story (pairs of one KazNERD group but
  // different stories are left out, as above).
  double tp[kClassCount] = {}, pos[kClassCount] = {}, fp[kClassCount] = {};
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_truth;
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_story;
  for (uint32_t i = 0; i < n; ++i) {
    by_truth[items[i].story].push_back(i);
    by_story[story_of[i]].push_back(i);
  }
  for (const auto& [story, members] : by_truth) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const uint32_t classes = PairClasses(items[members[x]], items[members[y]]);
        const bool same = story_of[members[x]] == story_of[members[y]];
        for (int c = 0; c < kClassCount; ++c) {
          if (classes >> c & 1) pos[c]++, tp[c] += same;
        }
      }
    }
  }
  for (const auto& [story, members] : by_story) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const Item& a = items[members[x]];
        const Item& b = items[members[y]];
        if (a.story == b.story || a.group == b.group) continue;
        const uint32_t classes = PairClasses(a, b);
        for (int c = 0; c < kClassCount; ++c) fp[c] += classes >> c & 1;
      }
    }
  }
  if (g_assignments != nullptr) {
    std::FILE* out = std::fopen(g_assignments, "w");
    if (out != nullptr) {
      std::unordered_map<uint64_t, uint32_t> first_of;
      for (uint32_t i : order) first_of.emplace(story_of[i], i);
      for (uint32_t i = 0; i < n; ++i) {
        std::fprintf(out, "%s %s\n", items[i].id.c_str(), items[first_of[story_of[i]]].id.c_str());
      }
      std::fclose(out);
    }
  }
  if (g_why) {
    // --why: each copy against its original, as the stage saw it: joined, or why not.
    std::unordered_map<std::string_view, uint32_t> index_of;
    for (uint32_t i = 0; i < n; ++i) {
      if (!items[i].copy) index_of[items[i].id] = i;
    }
    enum { kJoined, kNoKey, kLeadBroke, kGateRefused, kOther, kWhyCount };
    static const char* why_names[] = {"joined", "no lead key, fp > 3", "lead broke (> 1 bit)",
                                      "lead ok, gate refused", "other"};
    // [lang 0..4 or 5 = all][edit 0..8 or 9 = all][why]
    uint64_t why[6][kEditCount + 1][kWhyCount] = {};
    uint64_t dist[6][kWhyCount][4] = {};  // fp distance 4-6, 7-10, 11-16, > 16
    for (uint32_t i = 0; i < n; ++i) {
      const Item& c = items[i];
      if (!c.copy) continue;
      const auto found = index_of.find(std::string_view(c.id).substr(0, c.id.find('~')));
      if (found == index_of.end()) continue;
      const Item& o = items[found->second];
      int w = kOther;
      const int d = Distance(c.fp[0], o.fp[0]);
      if (story_of[i] == story_of[found->second]) {
        w = kJoined;
      } else if (d > 3) {
        if (c.lead == 0 && o.lead == 0) {
          w = kNoKey;
        } else if (Distance(c.lead != 0 ? c.lead : c.fp[0], o.lead != 0 ? o.lead : o.fp[0]) >
                   steppewatch::stories::kLeadDistance) {
          w = kLeadBroke;
        } else if (!LeadGateAllows(c, o, d)) {
          w = kGateRefused;
        }
      }
      const int band = d <= 6 ? 0 : d <= 10 ? 1 : d <= 16 ? 2 : 3;
      for (int l : {int{c.lang}, 5}) {
        dist[l][w][band]++;
        why[l][kEditCount][w]++;
        for (int e = 0; e < kEditCount; ++e) {
          if (c.edits >> e & 1) why[l][e][w]++;
        }
      }
    }
    static const char* lang_names[] = {"en", "ru", "kk", "zh", "other", "all"};
    for (int l : {5, 0, 1, 2, 3}) {
      std::printf("\nCopies against their original, %s (by edit of the copy):\n| edit |",
                  lang_names[l]);
      for (int w = 0; w < kWhyCount; ++w) std::printf(" %s |", why_names[w]);
      std::printf("\n|---|---|---|---|---|---|\n");
      for (int e = 0; e <= kEditCount; ++e) {
        uint64_t total = 0;
        for (int w = 0; w < kWhyCount; ++w) total += why[l][e][w];
        if (total == 0) continue;
        std::printf("| %s (%llu) |", e < kEditCount ? kEdits[e] : "any", (unsigned long long)total);
        for (int w = 0; w < kWhyCount; ++w) std::printf(" %.3f |", double(why[l][e][w]) / total);
        std::printf("\n");
      }
      std::printf("fp distance of the misses (4-6 / 7-10 / 11-16 / >16):");
      for (int w = 1; w < kWhyCount; ++w) {
        std::printf(" %s %llu/%llu/%llu/%llu;", why_names[w], (unsigned long long)dist[l][w][0],
                    (unsigned long long)dist[l][w][1], (unsigned long long)dist[l][w][2],
                    (unsigned long long)dist[l][w][3]);
      }
      std::printf("\n");
    }
  }
  std::printf(g_sim ? "\nStories as the stage's rule forms them (--sim, the eval's emulation; "
                      "pairwise, same story):\n"
                    : "\nStories as the stage's StoryIndex forms them (pairwise, same story):\n");
  std::printf(
      "| class | positive pairs | grouped | false pairs | precision / recall |\n"
      "|---|---|---|---|---|\n");
  for (int c = 0; c < kClassCount; ++c) {
    std::printf("| %s | %.0f | %.0f | %.0f | %.4f / %.3f |\n", ClassName(c), pos[c], tp[c], fp[c],
                tp[c] + fp[c] > 0 ? tp[c] / (tp[c] + fp[c]) : 1.0,
                pos[c] > 0 ? tp[c] / pos[c] : 1.0);
  }
}

// The eval's own settings (name=value; the fingerprint's options are SetOption's), tried before
// them. `options`: the setting changes the fingerprints, so the items are fingerprinted again.
struct EvalSetting {
  std::string_view name;
  void (*set)(long v);
  bool options;
};
constexpr EvalSetting kEvalSettings[] = {
    {"lead_title", [](long v) { g_lead_title = static_cast<int>(v); }, true},
    {"lead2", [](long v) { g_lead2 = v; }, true},
    {"gate2", [](long v) { g_gate2 = static_cast<int>(v); }, false},
    {"floor", [](long v) { g_floor = static_cast<int>(v); }, false},
    {"lead_cont", [](long v) { g_lead_cont_floor = static_cast<uint32_t>(v); }, false},
    {"slack", [](long v) { g_slack = static_cast<int>(v); }, false},
    {"containment", [](long v) { g_containment = static_cast<int>(v) != 0; }, false},
    {"sent", [](long v) { g_sent = v; }, false},
    {"sent_two", [](long v) { g_sent_two = static_cast<int>(v); }, false},
    {"exact_c",
     [](long v) {
       g_exact_j = static_cast<int>(v);
       g_exact_containment = true;
     },
     false},
    {"exact_j", [](long v) { g_exact_j = static_cast<int>(v); }, false},
    {"oracle", [](long v) { g_oracle = v != 0; }, false},
    {"sk", [](long v) { g_sk = static_cast<int>(v); }, false},
    {"skc", [](long v) { g_skc = static_cast<int>(v); }, false},
    {"skf", [](long v) { g_skf = static_cast<int>(v); }, false},
    {"skd", [](long v) { g_skd = static_cast<int>(v); }, false},
    {"members", [](long v) { g_members = static_cast<int>(v); }, false},
    {"numbers", [](long v) { g_numbers = static_cast<int>(v); }, false},
    {"numbers_min", [](long v) { g_numbers_min = static_cast<int>(v); }, false},
    {"body_gate", [](long v) { g_body_gate = static_cast<int>(v); }, false},
    {"sent_cheap", [](long v) { g_sent_cheap = static_cast<int>(v) != 0; }, false},
    {"sent_chain", [](long v) { g_sent_chain = static_cast<int>(v) != 0; }, false},
    {"sent_keys", [](long v) { g_sent_keys = v; }, false},
    {"sent2_gate", [](long v) { g_sent2_gate = static_cast<int>(v); }, false},
    {"sent2_c", [](long v) { g_sent2_c = static_cast<int>(v); }, false},
    {"sent_gate", [](long v) { g_sent_gate = static_cast<int>(v); }, false},
    {"sent_cont", [](long v) { g_sent_containment = static_cast<int>(v) != 0; }, false},
    {"sent_first", [](long v) { g_sent_skip_first = static_cast<int>(v) == 0; }, false},
    {"lead_d", [](long v) { g_lead_distance = static_cast<int>(v); }, false},
    {"tail", [](long v) { g_tail = v; }, false},
    {"tail_gate", [](long v) { g_tail_gate = static_cast<int>(v); }, false},
    {"tail_min", [](long v) { g_tail_min = v; }, false},
    {"lead_gate", [](long v) { g_lead_gate = static_cast<int>(v); }, false},
    {"gate", [](long v) { g_gate = static_cast<int>(v); }, false},
    {"cross", [](long v) { g_cross = v != 0; }, false},
};

const EvalSetting* FindEvalSetting(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) return nullptr;
  for (const EvalSetting& s : kEvalSettings) {
    if (arg.substr(0, eq) == s.name) return &s;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s EVAL.jsonl [--examples N] [--fingerprints OUT] [option=value ...]\n",
                 argv[0]);
    return 2;
  }
  int examples = 0;
  int example_k = 3;
  const char* fingerprints_path = nullptr;
  const char* dump_path = nullptr;  // --dump OUT: "id story lang copy fp lead" per item
  bool use_options = false;
  bool stories_level = false;
  steppewatch::stories::internal::FingerprintOptions options;
  steppewatch::stories::internal::FingerprintOptions view_options[4];
  for (int a = 2; a < argc; ++a) {
    std::string_view arg = argv[a];
    if (arg == "--examples" && a + 1 < argc) {
      examples = std::atoi(argv[++a]);
    } else if (arg == "--dump" && a + 1 < argc) {
      dump_path = argv[++a];
    } else if (arg == "--fingerprints" && a + 1 < argc) {
      fingerprints_path = argv[++a];
    } else if (arg == "--k" && a + 1 < argc) {
      example_k = std::atoi(argv[++a]);
    } else if (arg == "--stories") {
      stories_level = true;
    } else if (arg == "--sim") {
      g_sim = true;
      stories_level = true;
    } else if (arg == "--assignments" && a + 1 < argc) {
      g_assignments = argv[++a];
    } else if (arg == "--why") {
      g_why = true;
    } else if (arg == "--no-lead") {
      g_lead = false;
    } else if (const EvalSetting* s = FindEvalSetting(arg); s != nullptr) {
      s->set(std::atol(argv[a] + s->name.size() + 1));
      use_options |= s->options;
    } else if (size_t eq = arg.find('='); eq != std::string_view::npos && arg[0] == 'v' &&
                                          arg.size() > 3 && arg[1] >= '1' && arg[1] <= '3' &&
                                          arg[2] == '.') {
      const int v = arg[1] - '0';
      g_views = std::max(g_views, v + 1);
      if (arg.substr(3, eq - 3) == "penalty") {
        g_penalty[v] = std::atoi(argv[a] + eq + 1);
        continue;
      }
      if (!SetOption(&view_options[v], arg.substr(3, eq - 3), std::atol(argv[a] + eq + 1))) {
        std::fprintf(stderr, "unknown option %s\n", argv[a]);
        return 2;
      }
      g_views = std::max(g_views, v + 1);
    } else if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      if (!SetOption(&options, arg.substr(0, eq), std::atol(argv[a] + eq + 1))) {
        std::fprintf(stderr, "unknown option %s\n", argv[a]);
        return 2;
      }
      use_options = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[a]);
      return 2;
    }
  }

  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "cannot read %s (make it with benchmarks/stories/make_copies.py)\n",
                 argv[1]);
    return 1;
  }
  simdjson::ondemand::parser parser;
  std::unordered_map<std::string, uint32_t> story_ids, group_ids;
  std::vector<Item> items;
  steppewatch::normalise::FoldedText ftitle, fbody;
  steppewatch::stories::Fingerprinter fingerprinter;
  std::string line;
  while (std::getline(in, line)) {
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc = parser.iterate(padded);
    Item item{};
    std::string_view story = doc["story"].get_string().value();
    std::string_view id = doc["id"].get_string().value();
    std::string_view lang = doc["lang"].get_string().value();
    std::string_view kind = doc["kind"].get_string().value();
    item.edits = 0;
    for (auto e : doc["edits"].get_array()) {
      std::string_view name = e.get_string().value();
      for (int k = 0; k < kEditCount; ++k) {
        if (name == kEdits[k]) item.edits |= 1u << k;
      }
    }
    uint64_t original_bytes = doc["original_bytes"].get_uint64().value();
    std::string_view title = doc["title"].get_string().value();
    item.title = std::string(title);
    std::string_view body = doc["body"].get_string().value();
    item.body = std::string(body);
    item.id = std::string(id);
    item.story = story_ids.emplace(std::string(story), story_ids.size()).first->second;
    std::string_view group = doc["group"].get_string().value();
    item.group = group_ids.emplace(std::string(group), group_ids.size()).first->second;
    item.lang = 4;
    for (int l = 0; l < 4; ++l) {
      if (lang == kLangs[l]) item.lang = l;
    }
    item.short_item = original_bytes < kShortBytes;
    item.copy = kind == "copy";
    steppewatch::normalise::Fold(item.title, &ftitle);
    steppewatch::normalise::Fold(item.body, &fbody);
    {
      Fingerprint lead;
      fingerprinter.Compute(ftitle.text(), fbody.text(), item.body, &lead, &item.tokens);
    }
    if (use_options) {
      item.fp[0] = steppewatch::stories::internal::ComputeWithOptions(
          ftitle.text(), fbody.text(), options, steppewatch::stories::internal::Kernel::kPortable,
          item.body);
      // The lead key under these settings: the same text rules over the first kLeadTokens body
      // tokens (equal to the fingerprint when the body has no more: then no lead key).
      auto lead_options = options;
      lead_options.max_body_tokens = steppewatch::stories::kLeadTokens;
      if (g_lead_title >= 0) lead_options.title_weight = g_lead_title;
      item.lead = steppewatch::stories::internal::ComputeWithOptions(
          ftitle.text(), fbody.text(), lead_options,
          steppewatch::stories::internal::Kernel::kPortable, item.body);
      if (item.lead == item.fp[0]) item.lead = 0;
      if (g_lead_title >= 0) {
        // Present only when the body has more than the lead's tokens, as the product's.
        auto whole = lead_options;
        whole.max_body_tokens = 0;
        if (item.lead == steppewatch::stories::internal::ComputeWithOptions(
                             ftitle.text(), fbody.text(), whole,
                             steppewatch::stories::internal::Kernel::kPortable, item.body)) {
          item.lead = 0;
        }
      }
      if (g_lead2 > 0) {
        auto lead2_options = options;
        lead2_options.max_body_tokens = g_lead2;
        item.lead2 = steppewatch::stories::internal::ComputeWithOptions(
            ftitle.text(), fbody.text(), lead2_options,
            steppewatch::stories::internal::Kernel::kPortable, item.body);
        if (item.lead2 == item.fp[0]) item.lead2 = 0;
      }
    } else {
      item.fp[0] = fingerprinter.Compute(ftitle.text(), fbody.text(), item.body, &item.lead);
    }
    if (g_tail > 0) {
      // The body's last g_tail words (split at spaces of the folded body), no title.
      const std::string_view fb = fbody.text();
      size_t words = 0, at = fb.size(), cut = 0;
      bool found = false;
      for (size_t i = fb.size(); i > 0; --i) {
        if (fb[i - 1] == ' ' && i < at) {
          if (++words == g_tail) {
            cut = i;
            found = true;
          }
          at = i - 1;
        }
      }
      const size_t total_words = words + 1;
      const size_t min_words = g_tail_min > 0 ? g_tail_min : 2 * g_tail;
      if (found && total_words >= min_words) {
        auto tail_options = steppewatch::stories::internal::FingerprintOptions();
        tail_options.title_weight = 0;
        tail_options.strip_dateline = false;
        tail_options.max_body_bytes = 1 << 20;
        const std::string_view tb = fb.substr(cut);
        item.tail = steppewatch::stories::internal::ComputeWithOptions(
            "", tb, tail_options, steppewatch::stories::internal::Kernel::kPortable, tb);
      }
    }
    if (g_sent > 0) item.sent = SentenceKey(fbody.text(), item.body, &item.sents);
    if (g_numbers > 0) item.digits = LeadDigits(fbody.text(), item.body);
    if (g_exact_j > 0 || g_sk > 0) item.features = Features(ftitle.text(), fbody.text(), item.body);
    if (g_sk > 0) {
      Sketch(item.features, item.sketch);
      item.nfeat = static_cast<uint32_t>(item.features.size());
    }
    if (g_body_gate >= 0) {
      auto body_options = steppewatch::stories::internal::FingerprintOptions();
      body_options.title_weight = 0;
      item.bodyfp = steppewatch::stories::internal::ComputeWithOptions(
          ftitle.text(), fbody.text(), body_options,
          steppewatch::stories::internal::Kernel::kPortable, item.body);
    }
    for (int v = 1; v < g_views; ++v) {
      item.fp[v] = steppewatch::stories::internal::ComputeWithOptions(
          ftitle.text(), fbody.text(), view_options[v],
          steppewatch::stories::internal::Kernel::kPortable, item.body);
    }
    items.push_back(std::move(item));
  }
  const size_t n = items.size();
  if (fingerprints_path != nullptr) {
    std::FILE* out = std::fopen(fingerprints_path, "w");
    if (out == nullptr) {
      std::fprintf(stderr, "cannot write %s\n", fingerprints_path);
      return 1;
    }
    std::string hex;
    for (const Item& it : items) {
      hex.clear();
      steppewatch::stories::AppendFingerprint(it.fp[0], &hex);
      std::fprintf(out, "%s %s\n", it.id.c_str(), hex.c_str());
    }
    std::fclose(out);
  }

  if (dump_path != nullptr) {
    std::FILE* out = std::fopen(dump_path, "w");
    if (out == nullptr) return 1;
    for (const Item& it : items) {
      std::fprintf(out, "%s %u %s %d %016llx %016llx\n", it.id.c_str(), it.story, kLangs[it.lang],
                   it.copy ? 1 : 0, static_cast<unsigned long long>(it.fp[0]),
                   static_cast<unsigned long long>(it.lead));
    }
    std::fclose(out);
  }
  // Items per class, to count all pairs of a class.
  uint64_t class_items[kClassCount] = {0};
  for (const Item& it : items) {
    class_items[kClassAll]++;
    if (it.lang < 4) class_items[1 + it.lang]++;
    if (it.short_item) class_items[kClassShort]++;
  }

  // Positive pairs: all pairs of each story.
  Counts pos[kClassCount], neg[kClassCount];
  Counts edit_pos[kEditCount];
  std::vector<std::vector<uint32_t>> stories(story_ids.size());
  for (uint32_t i = 0; i < n; ++i) stories[items[i].story].push_back(i);
  std::vector<std::pair<uint32_t, uint32_t>> missed;
  for (const auto& s : stories) {
    for (size_t x = 0; x < s.size(); ++x) {
      for (size_t y = x + 1; y < s.size(); ++y) {
        const Item& a = items[s[x]];
        const Item& b = items[s[y]];
        int d = Distance(a, b);
        uint32_t classes = PairClasses(a, b);
        for (int c = 0; c < kClassCount; ++c) {
          if (!(classes >> c & 1)) continue;
          pos[c].pairs++;
          for (int k = d; k <= kMaxK; ++k) pos[c].within[k]++;
        }
        if (!a.copy && b.copy) {
          for (int e = 0; e < kEditCount; ++e) {
            if (!(b.edits >> e & 1)) continue;
            edit_pos[e].pairs++;
            for (int k = d; k <= kMaxK; ++k) edit_pos[e].within[k]++;
          }
        }
        if (d > example_k) missed.emplace_back(s[x], s[y]);
      }
    }
  }

  // Negative pairs within kMaxK: pigeonhole blocks.
  constexpr int kBlocks = kMaxK + 1;
  int block_start[kBlocks + 1];
  for (int b = 0; b <= kBlocks; ++b) block_start[b] = b * 64 / kBlocks;
  auto block = [&](Fingerprint fp, int b) {
    int width = block_start[b + 1] - block_start[b];
    return (fp >> block_start[b]) & ((uint64_t{1} << width) - 1);
  };
  std::vector<std::pair<uint32_t, uint32_t>> false_pairs;
  std::vector<uint8_t> has_false(n, 0);
  // Every (item, view) with a fingerprint, grouped by each block in turn; a pair of items is
  // counted once (the set of pairs counted), at its smallest distance over the views.
  std::vector<std::pair<uint32_t, uint8_t>> entries;
  for (uint32_t i = 0; i < n; ++i) {
    for (int v = 0; v < g_views; ++v) {
      if (v == 0 || items[i].fp[v] != 0) entries.emplace_back(i, static_cast<uint8_t>(v));
    }
  }
  std::unordered_set<uint64_t> counted;
  // Then the two 32-bit halves of the lead key (the fingerprint when an item has none): a lead
  // match within kLeadDistance = 1 bit agrees on one, and its fingerprints may be up to the
  // gate (8 bits) apart, past the seven blocks' reach.
  for (int b = 0; b < kBlocks + 5; ++b) {
    if (b >= kBlocks && b < kBlocks + 2 && !g_lead) continue;
    if (b >= kBlocks + 2 && b < kBlocks + 4 && g_tail == 0) continue;
    if (b == kBlocks + 4 && g_sent == 0) continue;
    auto key = [&](const std::pair<uint32_t, uint8_t>& e) -> uint64_t {
      if (b == kBlocks + 4) {  // the sentence key, exact
        const Item& it = items[e.first];
        if (e.second != 0 || it.sent == 0) return ~uint64_t{0};
        return it.sent;
      }
      if (b >= kBlocks + 2) {  // the halves of the tail key
        const Item& it = items[e.first];
        if (e.second != 0 || it.tail == 0) return ~uint64_t{0};
        return b == kBlocks + 2 ? it.tail & 0xffffffffu : it.tail >> 32;
      }
      if (b >= kBlocks) {
        const Item& it = items[e.first];
        if (e.second != 0) return ~uint64_t{0};  // a lead block holds view 0 only
        const Fingerprint l = it.lead != 0 ? it.lead : it.fp[0];
        return b == kBlocks ? l & 0xffffffffu : l >> 32;
      }
      return block(items[e.first].fp[e.second], b);
    };
    std::sort(entries.begin(), entries.end(),
              [&](const auto& x, const auto& y) { return key(x) < key(y); });
    const size_t m = entries.size();
    for (size_t g = 0; g < m;) {
      size_t h = g;
      const uint64_t value = key(entries[g]);
      while (h < m && key(entries[h]) == value) ++h;
      if (b >= kBlocks && value == ~uint64_t{0}) {
        g = h;
        continue;
      }
      for (size_t x = g; x < h; ++x) {
        for (size_t y = x + 1; y < h; ++y) {
          uint32_t ia = entries[x].first, ic = entries[y].first;
          if (ia == ic) continue;
          if (ia > ic) std::swap(ia, ic);
          const Item& a = items[ia];
          const Item& c = items[ic];
          if (a.story == c.story) continue;
          if (!g_cross && g_views > 1 && entries[x].second != entries[y].second) continue;
          int d = Distance(a, c);
          if (d > kMaxK) continue;
          if (a.group == c.group) continue;  // counted below with all pairs of the group
          if (!counted.insert(uint64_t{ia} << 32 | ic).second) continue;
          const uint32_t order_x = ia, order_y = ic;
          uint32_t classes = PairClasses(a, c);
          for (int cl = 0; cl < kClassCount; ++cl) {
            if (!(classes >> cl & 1)) continue;
            for (int k = d; k <= kMaxK; ++k) neg[cl].within[k]++;
          }
          if (d <= example_k) {
            false_pairs.emplace_back(order_x, order_y);
            has_false[order_x] = has_false[order_y] = 1;
          }
        }
      }
      g = h;
    }
  }
  // Pairs of one group but different stories (KazNERD transcriptions, and originals one of
  // which is contained in the other: make_copies.py): left out.
  std::vector<std::vector<uint32_t>> groups(group_ids.size());
  for (uint32_t i = 0; i < n; ++i) groups[items[i].group].push_back(i);
  std::vector<bool> kaznerd_group(group_ids.size());
  for (const auto& [name, g] : group_ids) kaznerd_group[g] = name.starts_with("kaznerd-");
  Counts variant[kClassCount];
  Counts left_out[2];  // [0] KazNERD, [1] containment, all classes
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& g = groups[gi];
    for (size_t x = 0; x < g.size(); ++x) {
      for (size_t y = x + 1; y < g.size(); ++y) {
        const Item& a = items[g[x]];
        const Item& b = items[g[y]];
        if (a.story == b.story) continue;
        int d = Distance(a, b);
        Counts& kind = left_out[kaznerd_group[gi] ? 0 : 1];
        kind.pairs++;
        for (int k = d; k <= kMaxK; ++k) kind.within[k]++;
        uint32_t classes = PairClasses(a, b);
        for (int c = 0; c < kClassCount; ++c) {
          if (!(classes >> c & 1)) continue;
          variant[c].pairs++;
          for (int k = d; k <= kMaxK; ++k) variant[c].within[k]++;
        }
      }
    }
  }
  for (int c = 0; c < kClassCount; ++c) {
    neg[c].pairs = class_items[c] * (class_items[c] - 1) / 2 - pos[c].pairs - variant[c].pairs;
  }

  std::printf("%zu items, %zu stories\n\n", n, stories.size());
  std::printf("| class | positive pairs | negative pairs |");
  for (int k = 0; k <= kMaxK; ++k) std::printf(" k=%d P / R |", k);
  std::printf("\n|---|---|---|");
  for (int k = 0; k <= kMaxK; ++k) std::printf("---|");
  std::printf("\n");
  for (int c = 0; c < kClassCount; ++c) {
    std::printf("| %s | %llu | %.3g |", ClassName(c), static_cast<unsigned long long>(pos[c].pairs),
                static_cast<double>(neg[c].pairs));
    for (int k = 0; k <= kMaxK; ++k) {
      double tp = pos[c].within[k], fp = neg[c].within[k];
      double precision = tp + fp > 0 ? tp / (tp + fp) : 1.0;
      double recall = pos[c].pairs ? tp / pos[c].pairs : 1.0;
      std::printf(" %.3f / %.3f |", precision, recall);
    }
    std::printf("\n");
  }
  std::printf("\nFalse pairs (distinct stories within k) per class:\n| class |");
  for (int k = 0; k <= kMaxK; ++k) std::printf(" k=%d |", k);
  std::printf("\n|---|");
  for (int k = 0; k <= kMaxK; ++k) std::printf("---|");
  std::printf("\n");
  for (int c = 0; c < kClassCount; ++c) {
    std::printf("| %s |", ClassName(c));
    for (int k = 0; k <= kMaxK; ++k) {
      std::printf(" %llu |", static_cast<unsigned long long>(neg[c].within[k]));
    }
    std::printf("\n");
  }
  for (int kind = 0; kind < 2; ++kind) {
    std::printf(kind == 0 ? "\nLeft out: %llu pairs of KazNERD transcriptions of one sentence "
                            "(numbers in words or digits); share within k:"
                          : "\nLeft out: %llu pairs of originals of which one is contained in "
                            "the other (or in its copies); share within k:",
                static_cast<unsigned long long>(left_out[kind].pairs));
    for (int k = 0; k <= kMaxK; ++k) {
      std::printf(
          " %d: %.3f", k,
          left_out[kind].pairs ? double(left_out[kind].within[k]) / left_out[kind].pairs : 0.0);
    }
    std::printf("\n");
  }
  size_t with_false = 0;
  for (uint8_t f : has_false) with_false += f;
  std::printf("\nItems with at least one false neighbour within k=%d: %zu of %zu (%.3f%%)\n",
              example_k, with_false, n, 100.0 * with_false / n);
  std::printf("\nRecall of original-copy pairs by edit of the copy:\n| edit | pairs |");
  for (int k = 0; k <= kMaxK; ++k) std::printf(" k=%d |", k);
  std::printf("\n|---|---|");
  for (int k = 0; k <= kMaxK; ++k) std::printf("---|");
  std::printf("\n");
  for (int e = 0; e < kEditCount; ++e) {
    std::printf("| %s | %llu |", kEdits[e], static_cast<unsigned long long>(edit_pos[e].pairs));
    for (int k = 0; k <= kMaxK; ++k) {
      std::printf(" %.3f |",
                  edit_pos[e].pairs ? double(edit_pos[e].within[k]) / edit_pos[e].pairs : 1.0);
    }
    std::printf("\n");
  }
  if (examples > 0) {
    auto show = [&](const char* what, const std::vector<std::pair<uint32_t, uint32_t>>& pairs) {
      std::printf("\n%s (k=%d), %zu, first %d:\n", what, example_k, pairs.size(), examples);
      size_t step = std::max<size_t>(1, pairs.size() / examples);
      for (size_t p = 0, shown = 0; p < pairs.size() && shown < size_t(examples); p += step) {
        ++shown;
        const Item& a = items[pairs[p].first];
        const Item& b = items[pairs[p].second];
        std::printf("- d=%d %s | %s\n    A: %.100s || %.200s\n    B: %.100s || %.200s\n",
                    Distance(a, b), a.id.c_str(), b.id.c_str(), a.title.c_str(), a.body.c_str(),
                    b.title.c_str(), b.body.c_str());
      }
    };
    show("False pairs", false_pairs);
    show("Missed pairs", missed);
  }
  if (stories_level) StoryLevel(items);
  return 0;
}
