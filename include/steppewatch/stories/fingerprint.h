// The near-duplicate fingerprint of an alerted item: 64 bits computed from the item's folded text
// by the item processor (daemon and `steppewatch match` alike) for items that alert only, and
// carried in the alert as "item.fingerprint" (16 lower-case hex digits). The stories stage groups
// alerts whose fingerprints are within kNearDuplicateDistance bits of each other into one story;
// it never sees the text.
//
// What it is: a one-permutation MinHash with one bit per bin over the item's words, word pairs,
// CJK characters and CJK character pairs (title and the first 2 KB of the body; up to two
// leading wire datelines (with a dateline's marks, one word, or two or three words the original
// writes capitalised), before or after a byline, short bracketed credits, a byline (by its
// marker, by the writer's agency or role after a comma, as a short first line when the body
// is not hard-wrapped, or as a name on a paragraph of its own), a footer by its marker (after a
// sentence end, or opening one of the original's last lines), a credit after a dash ending the
// body, the body's last sentence when it is short, where copies put footers, and an outlet tag
// after the headline skipped). Copies that share a
// fraction J of these features differ in about 32 (1 - J) bits; unrelated items in about 32. It was
// chosen over a 64-bit SimHash of the same features by measurement (benchmarks/README.md, "Stories:
// fingerprint": the same precision, more recall, because SimHash's distance grows with the square
// root of the share of changed features).
//
// Speed: with AVX-512 where the CPU has it (picked at run time) the token scan reads 64 bytes at
// a time and the token hashes take eight tokens at a time; elsewhere the portable kernel (SSE2,
// 32 bytes at a time, one token at a time) gives the same fingerprint.
//
// Threading: Fingerprinter is one per worker thread (it reuses scratch buffers); the free
// functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace steppewatch::stories {

using Fingerprint = uint64_t;

// Two items are near-duplicates (copies of one story) when the Hamming distance of their
// fingerprints is at most this. Chosen by measurement (benchmarks/README.md, "Stories:
// fingerprint": precision >= 0.98 in every language at 3; larger values buy little recall, lose
// English precision and slow an index that needs distance + 1 blocks).
inline constexpr int kNearDuplicateDistance = 3;

// The lead key: a second fingerprint over the title and the first kLeadTokens tokens (words, CJK
// characters) of the body, with the same text rules. Truncated copies and copies that dropped
// or moved later sentences keep their lead while their whole text moves by more than
// kNearDuplicateDistance bits. The stage lets an item join a story whose lead is within
// kLeadDistance bits of its own when their whole fingerprints are also within kLeadGate bits:
// leads alone are too alike among follow-ups of one agency (they share the lead's boilerplate),
// the gate keeps those apart. Chosen by measurement (benchmarks/README.md, "Stories: lead key").
// The lead keys must be equal (kLeadDistance 0: one exact index table; within 1 bit needed two,
// and the exact key beside the sentence key below keeps English precision: benchmarks/README.md,
// "Stories: recall round" and "Stories: sentence key").
inline constexpr size_t kLeadTokens = 40;
inline constexpr int kLeadDistance = 0;
inline constexpr int kLeadGate = 8;

// The sentence key: the least hash of the body's sentences of at least kSentenceTokens tokens
// (the body as the text rules select it: no dateline, byline or footer; a sentence ends at '.',
// '!' or '?' before a space, or at a CJK full stop; its hash is over its tokens, so typography
// and re-wrapping leave it alone), 0 when the body has no such sentence. It survives what breaks
// the lead key: a rewritten headline always, a dropped or moved sentence unless it was the
// least. When neither the fingerprint nor the lead key finds a story, the stage lets an item join
// a story whose first copy has its sentence key when their fingerprints are within
// kSentenceGate bits, or when the fingerprints and token counts say that the shorter text is
// mostly contained in the longer (SentenceContained). Chosen by measurement
// (benchmarks/README.md, "Stories: recall round", "Stories: sentence key" and "Stories:
// sentence containment").
// The second sentence key: the next least hash of those sentences (0 when the body has fewer
// than two distinct ones). A story is indexed by both of its first copy's keys, and an item
// looks up both of its own, with the same check: a copy that was cut, or lost a sentence, loses
// its least sentence with the chance that sentence was among those cut, and with two keys it
// must lose both. Measured on four generators of copies, pairwise as stories: recall +0.015 to
// +0.020 on the project's and the blind sets, precision -0.002 to -0.003, the pairs it adds
// almost all one wire story issued twice (benchmarks/README.md, "Stories: the second sentence
// key").
inline constexpr size_t kSentenceTokens = 15;
inline constexpr int kSentenceGate = 6;
// Containment through the sentence key. Two items that share a sentence of kSentenceTokens
// tokens word for word are one story when the share of the shorter one's features that the
// longer one holds, estimated from the fingerprints' distance d and the two token counts, is at
// least kSentenceContainmentPercent: the fingerprint's 64 one-bit MinHash bins estimate the
// resemblance J = 1 - d / 32, and a resemblance J of sets of sizes a and b means a containment
// J (a + b) / ((1 + J) min(a, b)). That takes the copies the fixed gate misses (a rewritten
// headline with the story cut short or a sentence dropped: 10-25 bits away, yet all of their text
// is the original's). Not when the shorter has less than kSentenceContainmentFloorPercent of the
// longer's tokens (the estimate is noise there) or either count is unknown. What it lets in
// besides: an original one of whose reissues is a cut or extended version of it (the
// evaluation's strict labels count those as distinct stories). Not LeadGate's linear widening:
// measured on this path it reached 0.933 recall against this estimate's 0.950, because its
// 50% floor and slack were fitted to the lead key, whose match is weaker evidence than a shared
// sentence of 15 tokens (benchmarks/README.md, "Stories: recall round", "containment widening").
// The lead path uses it too, with a higher floor (LeadJoins).
inline constexpr uint32_t kSentenceContainmentPercent = 80;
inline constexpr uint32_t kSentenceContainmentFloorPercent = 25;
inline bool SentenceContained(int distance, uint32_t tokens_a, uint32_t tokens_b,
                              uint32_t percent = kSentenceContainmentPercent,
                              uint32_t floor_percent = kSentenceContainmentFloorPercent) {
  if (tokens_a == 0 || tokens_b == 0 || distance < 0 || distance >= 32) return false;
  const uint64_t shorter = tokens_a < tokens_b ? tokens_a : tokens_b;
  const uint64_t longer = tokens_a < tokens_b ? tokens_b : tokens_a;
  if (shorter * 100 < uint64_t{floor_percent} * longer) return false;
  // J (a + b) / ((1 + J) shorter) >= percent / 100 with J = (32 - d) / 32, in integers.
  const uint64_t d = static_cast<uint64_t>(distance);
  return (32 - d) * (shorter + longer) * 100 >= uint64_t{percent} * (64 - d) * shorter;
}

// The containment gate. A copy cut short (or missing sentences) holds a share r of its
// original's features and nothing else, so its fingerprint (64 one-bit MinHash bins) differs in
// about 32 (1 - r) bits: more than kLeadGate once r < 3/4. When both items say how many tokens
// their fingerprints cover (item.fingerprint_tokens), a lead match is taken up to
// 32 (1 - shorter / longer) + kContainmentSlack bits instead, and never less than kLeadGate. Two
// different stories that share a lead are told apart by it as before: their shared share is
// small against the shorter item, so their distance is well beyond what their lengths allow.
// Only while the shorter has at least kContainmentFloorPercent of the longer's tokens: below
// half, a true containment's expected distance (> 16 bits) comes too close to two unrelated
// texts' 32 +- 4 for the fingerprint to confirm anything, and the lead alone would decide (a
// brief that is a longer report's first paragraph stays apart, as before). Chosen by
// measurement (benchmarks/README.md, "Stories: containment gate").
inline constexpr int kContainmentSlack = 4;
inline constexpr uint32_t kContainmentFloorPercent = 50;
// Token counts saturate here (what alerts carry and the stage keeps; 2 KB of body is far less).
inline constexpr uint32_t kMaxFingerprintTokens = 65535;

// The largest fingerprint distance at which an item whose lead key matches a story's is one of
// its copies, given the tokens each fingerprint covers (0: unknown, the fixed gate). The other
// parameters are the product's constants; the evaluation tool varies them.
inline int LeadGate(uint32_t tokens_a, uint32_t tokens_b, int fixed_gate = kLeadGate,
                    int slack = kContainmentSlack,
                    uint32_t floor_percent = kContainmentFloorPercent) {
  if (tokens_a == 0 || tokens_b == 0) return fixed_gate;
  const uint32_t shorter = tokens_a < tokens_b ? tokens_a : tokens_b;
  const uint32_t longer = tokens_a < tokens_b ? tokens_b : tokens_a;
  if (uint64_t{shorter} * 100 < uint64_t{floor_percent} * longer) return fixed_gate;
  // 32 (1 - shorter / longer), rounded down, in integers.
  const int allowed = static_cast<int>(32 * (longer - shorter) / longer) + slack;
  return allowed > fixed_gate ? allowed : fixed_gate;
}

// Whether an item whose lead key matches a story's is one of its copies: its fingerprint within
// LeadGate, or the same containment estimate as the sentence key's (SentenceContained) while the
// shorter has at least kLeadContainmentFloorPercent of the longer's tokens. The estimate takes
// what LeadGate's linear widening refuses between 40% and 100% of the length (at equal lengths
// it allows 10 bits against 8; at three quarters 15 against 12; at 40%, 22). Its floor is higher
// than the sentence path's 25%: a lead match is weaker evidence (follow-ups of one agency share
// a lead's boilerplate). Measured on the project's and the blind near-duplicate sets: recall
// +0.002 to +0.004, precision -0.0003 at most (floor 25%: precision -0.004 on one blind set; 50%:
// half the gain); benchmarks/README.md, "Stories: containment on the lead path".
inline constexpr uint32_t kLeadContainmentFloorPercent = 40;
inline bool LeadJoins(int distance, uint32_t tokens_a, uint32_t tokens_b,
                      uint32_t floor_percent = kLeadContainmentFloorPercent) {
  return distance <= LeadGate(tokens_a, tokens_b) ||
         (floor_percent <= 100 && SentenceContained(distance, tokens_a, tokens_b,
                                                    kSentenceContainmentPercent, floor_percent));
}

// Returns the Hamming distance of two fingerprints.
inline int Distance(Fingerprint a, Fingerprint b) { return __builtin_popcountll(a ^ b); }

namespace internal {
// The kernels of the token scan, the token hashes, the MinHash finish and SimHash's counters:
// kPortable (SSE2, any x86-64), kAvx512 (AVX-512 F, BW, DQ, VL, VBMI and VBMI2, and BMI2) and
// kAvx2 (AVX2, BMI1, BMI2 and POPCNT: the machines without AVX-512, most of the cloud's).
// All give the same fingerprint, lead key, token count and sentence keys (tests compare them).
enum class Kernel : uint8_t { kPortable, kAvx512, kAvx2 };
}  // namespace internal

class Fingerprinter {
 public:
  // Uses the best kernel this CPU runs (internal::BestKernel()).
  Fingerprinter();
  // Uses `kernel` if this CPU runs it, else the portable one (for tests and benchmarks).
  explicit Fingerprinter(internal::Kernel kernel);
  ~Fingerprinter();
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;

  // Computes the fingerprint of an item from its folded title and body (normalise::Fold output,
  // as match::MatchContext::folded() returns them), and the original body, whose line breaks
  // (which Fold turns into spaces) show where a byline line ends; without it (empty) no byline
  // is skipped. Never fails; an empty item has fingerprint 0.
  Fingerprint Compute(std::string_view folded_title, std::string_view folded_body,
                      std::string_view original_body = {});
  // The same, and sets *lead to the lead key: the fingerprint of the title and the body's first
  // kLeadTokens tokens, or 0 when the body has no more tokens than that (the whole text is the
  // lead, and the fingerprint is the lead key). Costs a copy of the sketch and a second finish,
  // only for longer items. `lead` may be null (no lead key: the three-argument form).
  // `tokens`, when not null, is set to the number of tokens (words, CJK characters) of the title
  // and body the fingerprint covers, after the text rules (at most kMaxFingerprintTokens): the
  // stage's containment gate compares two items' counts (LeadGate).
  // `sentence`, when not null, is set to the sentence key (0: none): a pass over the body's
  // tokens. `sentence2`, when not null, is set to the second sentence key (0: none), from the
  // same pass.
  Fingerprint Compute(std::string_view folded_title, std::string_view folded_body,
                      std::string_view original_body, Fingerprint* lead, uint32_t* tokens = nullptr,
                      Fingerprint* sentence = nullptr, Fingerprint* sentence2 = nullptr);

 private:
  struct Scratch;
  Scratch* scratch_;
};

// Appends the 16-hex-digit form of `fp` to `*out`.
void AppendFingerprint(Fingerprint fp, std::string* out);
// Parses the 16-hex-digit form; false on anything else.
bool ParseFingerprint(std::string_view text, Fingerprint* fp);

namespace internal {

enum class Method : uint8_t { kMinHash, kSimHash };

// Feature settings. The defaults are what Fingerprinter uses; the evaluation tool
// (benchmarks/stories) sets others to compare them (benchmarks/README.md, "Stories").
struct FingerprintOptions {
  // MinHash (the product) or SimHash (the measured alternative).
  Method method = Method::kMinHash;
  // Weight of each word (and each CJK character), of each pair of consecutive words (CJK:
  // character pair), and of each triple. MinHash sees a set: a weight w > 1 adds w salted
  // copies of the feature.
  int unigram_weight = 1;
  int bigram_weight = 1;
  int trigram_weight = 0;
  int cjk_unigram_weight = 1;
  int cjk_bigram_weight = 1;
  // Multiplies the weights of the title's features (0: the title is ignored).
  int title_weight = 1;
  // Skip bracketed spans that close within bracket_bytes: "(Reuters)", "(Reporting by ...)".
  bool skip_brackets = true;
  size_t bracket_bytes = 120;
  // Skip a leading body segment of at most dateline_bytes that ends with " - " (a dateline).
  bool strip_dateline = true;
  size_t dateline_bytes = 64;
  // How many datelines in a row are skipped (each within dateline_bytes of the last): a copy's
  // dateline before the original's own (or before a dash of the original's first sentence,
  // which the original loses to the rule too).
  int dateline_rounds = 2;
  // The dateline rule runs again after a byline: copies put a byline before the dateline
  // ("By Jane Doe\nALMATY (Reuters) - ...") as often as after it.
  bool dateline_after_byline = true;
  // A dateline is one word ("almaty - ") or carries a dateline's punctuation: a comma, a period,
  // a bracket, a slash or a digit ("almaty, nov 20 (reuters) - ", "астана. kazinform - "). Two
  // words or more without any ("олардың сексені - студент.", a Kazakh or Russian copula) are
  // the sentence's subject, not a dateline.
  bool dateline_marks = true;
  // Two or three words without those marks are a dateline when the original body writes them
  // capitalised before the dash ("Hong Kong - ", "New York – ") at a word's start within its
  // first 128 bytes: at its start, after a byline line or after another dateline
  // (internal::IsCapitalDateline).
  bool capital_datelines = true;
  // Also a leading segment ending with 日电 within dateline_bytes (Chinese wire datelines).
  bool strip_cjk_dateline = true;
  // Skip one short word between slashes ("/ТАСС/", "/Trend/").
  bool skip_slashes = true;
  // Only the first bytes of each field count: bounds the cost of huge items; the lead of an
  // article is what its copies keep.
  size_t max_title_bytes = 1024;
  size_t max_body_bytes = 2048;
  // Tokens shorter than this many bytes are skipped.
  size_t min_token_bytes = 1;
  // Only the first max_body_tokens tokens (words, CJK characters) of the body count; 0: all.
  size_t max_body_tokens = 0;
  // The body's last sentence (after the last '.', '!', '?' or 。 followed by more text) is left
  // out when it is at most max_dropped_bytes long (0: any length) and at least min_kept_bytes of
  // the body stay: a footer, a credit or a "subscribe" line is the last sentence of a copy, and
  // the last sentence is the one that truncation and dropped sentences change first. Otherwise
  // the body counts whole (drop_last_or_whole), or the item gets no fingerprint (0; for the
  // evaluation of the rule as a view of its own).
  bool drop_last_sentence = true;
  size_t min_kept_bytes = 40;
  size_t max_dropped_bytes = 100;
  bool drop_last_or_whole = true;
  // What must stay of the body when a byline or a footer is skipped: a one-line item ("15 үй
  // зардап шеккен.") loses its byline too.
  size_t boilerplate_min_kept = 16;
  // A byline: the body's first line (up to the first line break of the original body), after
  // the dateline, is skipped when it has at most byline_bytes (0: never), ends without
  // punctuation and is followed by a longer rest ("By Olzhas Auyezov", "Автор: ...").
  size_t byline_bytes = 64;
  // A byline that starts with a marker word ("by ", "автор: ", "тілші: ", "корреспондент: ")
  // is skipped with or without its line break (a re-wrapped copy has none): the marker and a
  // two-word name (four after "and").
  bool byline_markers = true;
  // And a byline of a name and the writer's agency or role after a comma ("olzhas auyezov,
  // reuters", "иван петров, корреспондент"), with or without its line break.
  bool byline_roles = true;
  // The byline-line rule (byline_bytes) is not applied to a hard-wrapped body: one whose line
  // after the first is also a line of at most wrap_bytes (text wrapped at a fixed width, as wire
  // archives are, where the first line is a piece of a sentence, and a copy that re-wraps the
  // text has no line there). 0: no such check.
  size_t wrap_bytes = 80;
  // A first line that is a paragraph of its own (a blank line follows it in the original body)
  // is a byline when it reads as a name (internal::ReadsAsName: "David Chen in Frankfurt",
  // "Иван Петров"), whatever follows: the byline of an outlet that puts the writer on a line of
  // its own above a table or a list. Other such lines stay (a table's first row, a lead-in).
  bool name_lines = true;
  // A wire credit after a dateline's dash ("- kazinform. ", "- риа новости. ") and a dateline
  // ending in an agency between slashes ("/тасс/. ", "/trend/: ") are skipped with it.
  bool wire_credits = true;
  // A credit that ends the body after a dash ("... record march 20 - reuters": a table's last
  // row with the outlet's credit, where no sentence end lets the last-sentence rule take it).
  bool end_credits = true;
  // A footer that opens with a boilerplate marker ("(Reporting by", "©", "Our Standards:",
  // "Follow us on", "Подписывайтесь на", "Редактор:", "Толығырақ:", "（责任编辑", ...) after a
  // sentence end within the body's last footer_bytes is cut, before the last-sentence rule; a
  // copyright sign opens it wherever it stands in that window, also inside a sentence (a story
  // cut mid-sentence with "© 2022 The Associated Press. ..." on the same line).
  bool footer_markers = true;
  size_t footer_bytes = 200;
  // A footer marker may also open one of the original body's last lines (footer_bytes) after a
  // sentence left unfinished ("... a taste of their own\nFollow us on Twitter ...").
  bool footer_lines = true;
  // A headline's outlet tag: the title's last segment after " - ", " | " or "_" when it has at
  // most title_suffix_bytes (" - reuters", " | ap news", "_新华网": how outlets tag the titles
  // they republish), and a leading segment ending in ": " or "：" of at most title_prefix_bytes
  // ("breaking: ", "срочно: "; measured without gain, so off) are skipped; 0: never.
  size_t title_suffix_bytes = 24;
  size_t title_prefix_bytes = 0;
};

// Computes a fingerprint with `options` (allocates; for the evaluation tool and tests) with
// `kernel` for the scan and SimHash's counters (the portable one when the CPU lacks it). With
// the default options it equals Fingerprinter::Compute.
Fingerprint ComputeWithOptions(std::string_view folded_title, std::string_view folded_body,
                               const FingerprintOptions& options, Kernel kernel = Kernel::kPortable,
                               std::string_view original_body = {});

// Returns whether this CPU can run `kernel`, and the best kernel it can run.
bool KernelSupported(Kernel kernel);
Kernel BestKernel();

// Returns the SimHash of `n` unit-weight feature hashes: bit b set when more than half of them
// have bit b set; 0 when n is 0.
Fingerprint Accumulate(Kernel kernel, const uint64_t* features, size_t n);

}  // namespace internal
}  // namespace steppewatch::stories
