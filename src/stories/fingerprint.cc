// The near-duplicate fingerprint: the text rules pick the bytes of the folded title and body
// that count (fingerprint_text.cc), the token scan finds their words and CJK characters
// (fingerprint_scan.cc), and here each token's hash gives its features (the token, and the pair
// of it and the token before), which go into a one-permutation MinHash of 64 one-bit bins
// (fingerprint_sketch.cc). Fingerprinter is the product's path, with the default settings as
// constants; ComputeWithOptions reads them at run time, for the evaluation and the tests, and
// gives the same fingerprint with the defaults.
#include "steppewatch/stories/fingerprint.h"

#include <algorithm>
#include <vector>

#include "stories/fingerprint_internal.h"

namespace steppewatch::stories {
namespace internal {
namespace {

// Calls emit(hash) once per unit of weight of each feature of the tokens of one field.
template <class Emit>
void EmitFeatures(std::string_view text, bool is_title, const FingerprintOptions& o,
                  const uint32_t* starts, const uint32_t* ends, size_t count, Emit&& emit) {
  const char* end = text.data() + text.size();
  const int field_weight = is_title ? o.title_weight : 1;
  uint64_t prev1 = 0, prev2 = 0;
  bool prev_cjk = false;
  int have = 0;
  const bool limit_tokens = !is_title && o.max_body_tokens != 0;
  size_t tokens_left = o.max_body_tokens;
  for (size_t k = 0; k < count; ++k) {
    const bool cjk = (ends[k] & kCjkToken) != 0;
    const size_t len = (ends[k] & kEndMask) - starts[k];
    if (!cjk && len < o.min_token_bytes) continue;
    if (limit_tokens) {
      if (tokens_left == 0) return;
      --tokens_left;
    }
    const uint64_t th = HashToken(text.data() + starts[k], len, end);
    const int uw = field_weight * (cjk ? o.cjk_unigram_weight : o.unigram_weight);
    for (int r = 0; r < uw; ++r) emit(Feature(th + 0x1111 + r * kMul2));
    if (have >= 1) {
      const int bw = field_weight * (cjk && prev_cjk ? o.cjk_bigram_weight : o.bigram_weight);
      for (int r = 0; r < bw; ++r) emit(Feature(prev1 * kMul1 + th + 0x2222 + r * kMul2));
    }
    if (have >= 2) {
      const int tw = field_weight * o.trigram_weight;
      for (int r = 0; r < tw; ++r) {
        emit(Feature((prev2 * kMul1 + prev1) * kMul1 + th + 0x3333 + r * kMul2));
      }
    }
    prev2 = prev1;
    prev1 = th;
    prev_cjk = cjk;
    if (have < 2) ++have;
  }
}

}  // namespace

Fingerprint ComputeWithOptions(std::string_view folded_title, std::string_view folded_body,
                               const FingerprintOptions& options, Kernel kernel,
                               std::string_view original_body) {
  if (!KernelSupported(kernel)) kernel = Kernel::kPortable;
  normalise::FoldedText line_scratch;
  const size_t first_line = FirstLine(folded_body, original_body, options, &line_scratch);
  TailLines tail;
  FindTailLines(folded_body, original_body, options, &tail);
  std::vector<uint32_t> starts, ends;
  auto field = [&](std::string_view text, bool is_title, size_t line, auto&& emit) {
    TextSpan span;
    if (!SelectText(text, is_title, options, line, &span, kernel, is_title ? nullptr : &tail,
                    is_title ? std::string_view() : original_body)) {
      return false;
    }
    const size_t capacity = MaxTokens(span.end - span.begin);
    if (starts.size() < capacity) {
      starts.resize(capacity);
      ends.resize(capacity);
    }
    const size_t count = ScanTokens<false>(kernel, text, span, options, starts.data(), ends.data());
    EmitFeatures(text, is_title, options, starts.data(), ends.data(), count, emit);
    return true;
  };
  if (options.method == Method::kSimHash) {
    std::vector<uint64_t> features;
    auto emit = [&](uint64_t h) { features.push_back(h); };
    field(folded_title, true, 0, emit);
    if (!field(folded_body, false, first_line, emit)) return 0;
    return Accumulate(kernel, features.data(), features.size());
  }
  MinHashBins bins;
  bins.Reset();
  auto emit = [&bins](uint64_t h) { bins.Add(h); };
  field(folded_title, true, 0, emit);
  if (!field(folded_body, false, first_line, emit)) return 0;
  return bins.Finish();
}

Fingerprint SentenceKeyWithOptions(std::string_view folded_body, std::string_view original_body,
                                   const SentenceOptions& so, std::vector<Fingerprint>* all) {
  const FingerprintOptions& o = kDefaultOptions;
  normalise::FoldedText scratch;
  const size_t first_line = FirstLine(folded_body, original_body, o, &scratch);
  TailLines tail;
  FindTailLines(folded_body, original_body, o, &tail);
  TextSpan span;
  SelectText(folded_body, false, o, first_line, &span, Kernel::kPortable, &tail, original_body);
  const size_t max = MaxTokens(span.end - span.begin);
  std::vector<uint32_t> starts(max), ends(max);
  const size_t count =
      ScanTokens<false>(Kernel::kPortable, folded_body, span, o, starts.data(), ends.data());
  std::vector<uint64_t> unigrams(RoundUp8(count)), bigrams(RoundUp8(count));
  TokenFeatures(Kernel::kPortable, folded_body, starts.data(), ends.data(), count, unigrams.data(),
                bigrams.data());
  return SentenceKeyOf(folded_body, starts.data(), ends.data(), count, unigrams.data(),
                       bigrams.data(), so, [all](Fingerprint key) {
                         if (all != nullptr) all->push_back(key);
                       });
}

}  // namespace internal

namespace {
constexpr const internal::FingerprintOptions& kDefaults = internal::kDefaultOptions;
// Every weight of the defaults is 1 (and no triples, no token limit): one feature per token and
// one per pair, no loops.
static_assert(kDefaults.unigram_weight == 1 && kDefaults.bigram_weight == 1 &&
              kDefaults.trigram_weight == 0 && kDefaults.cjk_unigram_weight == 1 &&
              kDefaults.cjk_bigram_weight == 1 && kDefaults.title_weight == 1 &&
              kDefaults.min_token_bytes <= 1 && kDefaults.max_body_tokens == 0 &&
              kDefaults.drop_last_or_whole &&
              kDefaults.max_title_bytes <= kDefaults.max_body_bytes);
constexpr size_t kMaxTokens = internal::MaxTokens(kDefaults.max_body_bytes);
}  // namespace

struct Fingerprinter::Scratch {
  internal::Kernel kernel;
  internal::MinHashBins bins;
  normalise::FoldedText first_line;  // the body's first line, folded (the byline rule)
  uint32_t starts[kMaxTokens];       // the tokens of one field (internal::ScanTokens)
  uint32_t ends[kMaxTokens];
  uint64_t unigrams[internal::RoundUp8(kMaxTokens)];  // their features (internal::TokenFeatures)
  uint64_t bigrams[internal::RoundUp8(kMaxTokens)];
  uint32_t sentence_ends[kMaxTokens];  // where the body's sentences end (ScanTokensWithEnds)

  internal::MinHashBins lead_bins;  // the sketch after the body's first kLeadTokens tokens
  size_t tokens = 0;                // of the fields added since the last Reset
  // Whether the item is computed with MinHashBins::Add (exact for every feature) instead of
  // AddKey, and whether a feature AddKey cannot take was seen (then the item is computed again
  // with Add; a 64-bit hash of all ones: not seen in practice, but not impossible). The
  // portable kernel always adds with Add (its TokenFeatures does not look for that hash).
  bool exact = false;
  bool saw_empty_bin = false;

  // Adds the features of tokens [from, to) of the field scanned last with MinHashBins::Add (the
  // portable kernel, or an item computed exactly).
  void AddTokens(size_t from, size_t to) {
    if (from == 0 && to > 0) bins.Add(unigrams[from++]);
      // Unrolled: a quarter of the loop's instructions were its own compare and branch.
#pragma GCC unroll 4
    for (size_t k = from; k < to; ++k) {
      bins.Add(unigrams[k]);
      bins.Add(bigrams[k]);
    }
  }

  // Adds the features of one field: the scan, then the token hashes and features, then the bins
  // (each step a loop without unpredictable branches; with AVX-512 the last two are one loop,
  // internal::AddTokenFeatures, so the scalar bin updates overlap the vector hashes). With `lead`
  // (the body) the sketch is also copied after kLeadTokens tokens when there are more; returns
  // whether it was.
  // `sentence` (the body, when not null; two entries) is set to the sentence key and the second
  // sentence key.
  bool AddField(std::string_view text, bool is_title, size_t first_line_bytes, bool lead,
                const internal::TailLines* tail = nullptr, Fingerprint* sentence = nullptr,
                std::string_view original_body = {}) {
    internal::TextSpan span;
    internal::SelectText(text, is_title, kDefaults, first_line_bytes, &span, kernel, tail,
                         original_body);
    const bool fast = !exact && kernel == internal::Kernel::kAvx512;
    // With AVX-512 the scan finds the sentence ends too (from the bytes it classifies anyway).
    size_t sentence_count = 0;
    const size_t count =
        fast && sentence != nullptr
            ? internal::ScanTokensWithEnds(text, span, starts, ends, sentence_ends, &sentence_count)
            : internal::ScanTokens<true>(kernel, text, span, kDefaults, starts, ends);
    tokens += count;
    if (sentence != nullptr) sentence[0] = sentence[1] = 0;
    if (count == 0) return false;
    const bool copy_lead = lead && count > kLeadTokens;
    if (fast) [[likely]] {
      static_assert(kLeadTokens % 8 == 0, "AddTokenFeatures copies the lead at a multiple of 8");
      saw_empty_bin |= internal::AddTokenFeatures(text, starts, ends, count, &bins,
                                                  copy_lead ? kLeadTokens : count, &lead_bins,
                                                  sentence, sentence_ends, sentence_count);
      return copy_lead;
    }
    saw_empty_bin |= internal::TokenFeatures(kernel, text, starts, ends, count, unigrams, bigrams);
    if (sentence != nullptr) {
      sentence[0] = internal::SentenceKeyOf(
          text, starts, ends, count, unigrams, bigrams, internal::kDefaultSentenceOptions,
          [](Fingerprint) {}, sentence + 1);
    }
    if (!lead || count <= kLeadTokens) {
      AddTokens(0, count);
      return false;
    }
    AddTokens(0, kLeadTokens);
    internal::CopyBins(kernel, bins, &lead_bins);
    AddTokens(kLeadTokens, count);
    return true;
  }

  // Computes the item's fields into the bins (Fingerprinter::Compute, once or twice).
  Fingerprint ComputeFields(std::string_view folded_title, std::string_view folded_body,
                            std::string_view original_body, Fingerprint* lead,
                            uint32_t* token_count, Fingerprint* sentence) {
    bins.Reset();
    tokens = 0;
    const size_t first_line_bytes =
        internal::FirstLine(folded_body, original_body, kDefaults, &first_line);
    internal::TailLines tail;
    internal::FindTailLines(folded_body, original_body, kDefaults, &tail);
    AddField(folded_title, true, 0, false);
    const bool has_lead = AddField(folded_body, false, first_line_bytes, lead != nullptr, &tail,
                                   sentence, original_body);
    if (lead != nullptr) *lead = has_lead ? lead_bins.Finish(kernel) : 0;
    if (token_count != nullptr) {
      *token_count = static_cast<uint32_t>(std::min<size_t>(tokens, kMaxFingerprintTokens));
    }
    return bins.Finish(kernel);
  }
};

Fingerprinter::Fingerprinter() : Fingerprinter(internal::BestKernel()) {}

Fingerprinter::Fingerprinter(internal::Kernel kernel) : scratch_(new Scratch) {
  scratch_->kernel = internal::KernelSupported(kernel) ? kernel : internal::Kernel::kPortable;
}

Fingerprinter::~Fingerprinter() { delete scratch_; }

Fingerprint Fingerprinter::Compute(std::string_view folded_title, std::string_view folded_body,
                                   std::string_view original_body) {
  return Compute(folded_title, folded_body, original_body, nullptr);
}

Fingerprint Fingerprinter::Compute(std::string_view folded_title, std::string_view folded_body,
                                   std::string_view original_body, Fingerprint* lead,
                                   uint32_t* tokens, Fingerprint* sentence,
                                   Fingerprint* sentence2) {
  Scratch& s = *scratch_;
  // The two sentence keys come out of one pass; either pointer alone asks for it.
  Fingerprint keys[2];
  Fingerprint* const sentences = sentence != nullptr || sentence2 != nullptr ? keys : nullptr;
  // The body's bytes that count are asked for at once, so their cache misses overlap (the scan
  // itself asks for them one block at a time).
  // First what the text rules read before the scan, each a miss of its own when the item comes
  // from L3: the title, the original body's first line (FirstLine), the last footer_bytes of the
  // original (FindTailLines) and of the folded body (the footer and last-sentence rules, past
  // the 2 KB that count).
  const auto prefetch_tail = [](std::string_view text, size_t bytes) {
    if (text.empty()) return;
    const char* end = text.data() + text.size();
    for (const char* at = end - std::min(text.size(), bytes); at < end; at += 64) {
      __builtin_prefetch(at);
    }
    __builtin_prefetch(end - 1);
  };
  __builtin_prefetch(folded_title.data());
  if (!original_body.empty()) {
    __builtin_prefetch(original_body.data());
    if (original_body.size() > 64) __builtin_prefetch(original_body.data() + 64);
  }
  prefetch_tail(original_body, kDefaults.footer_bytes);
  prefetch_tail(folded_body, kDefaults.footer_bytes);
  const size_t body_bytes = std::min(folded_body.size(), kDefaults.max_body_bytes);
  for (size_t at = 0; at < body_bytes; at += 64) __builtin_prefetch(folded_body.data() + at);
  s.exact = false;
  s.saw_empty_bin = false;
  Fingerprint fp =
      s.ComputeFields(folded_title, folded_body, original_body, lead, tokens, sentences);
  if (s.saw_empty_bin) [[unlikely]] {
    s.exact = true;
    fp = s.ComputeFields(folded_title, folded_body, original_body, lead, tokens, sentences);
  }
  if (sentence != nullptr) *sentence = keys[0];
  if (sentence2 != nullptr) *sentence2 = keys[1];
  return fp;
}

void AppendFingerprint(Fingerprint fp, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[fp & 0xF];
    fp >>= 4;
  }
  out->append(buf, 16);
}

bool ParseFingerprint(std::string_view text, Fingerprint* fp) {
  if (text.size() != 16) return false;
  Fingerprint v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = v << 4 | static_cast<Fingerprint>(d);
  }
  *fp = v;
  return true;
}

}  // namespace steppewatch::stories
