// libFuzzer target for the stories stage: arbitrary bytes as an alert read from the alert
// topics (anything may be written there), through StoriesStage::Process, live and in replay,
// with the clock moved by Tick between calls. Checks, beyond "no crash and no sanitizer report":
// a message is either rejected with a reason or republished as valid JSON (what subscribers of
// the stories topic parse), and every spike event is valid JSON; the stage's fast alert parser
// and simdjson's DOM parser give one verdict and the same fields (src/stories/alert_fields.h).
// The same bytes are also an item's text for the fingerprint (title: the first line, body: the
// rest, also as the original body): folded, the CPU's best kernel (AVX-512 or AVX2), the AVX2
// kernel, the portable kernel and the settings-at-run-time path must give one fingerprint, lead
// key and sentence key (the AVX2 kernel: every output, and its scan the portable scan's tokens);
// unfolded (bytes Fold never writes, sequences cut anywhere), each kernel must only stay inside
// the text.
//
// Run: the `fuzz` preset builds it (`cmake --build --preset fuzz --target stories_fuzzer`);
//   build/fuzz/tests/stories_fuzzer -max_total_time=60 WORK_DIR tests/fuzz/corpus/stories
// Every crash it finds becomes a file in tests/fuzz/corpus/stories/ (regression-*).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/stories/fingerprint.h"
#include "steppewatch/stories/stage.h"
#include "stories/alert_fields.h"
#include "stories/fingerprint_internal.h"

namespace {

using steppewatch::stories::StageOptions;
using steppewatch::stories::StageOutput;
using steppewatch::stories::StoriesStage;

bool ValidJson(std::string_view text) {
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  return parser.parse(padded).get(root) == simdjson::SUCCESS;
}

void Check(const StageOutput& out) {
  if (!out.alert.empty() && !out.rejected.empty()) std::abort();  // one or the other
  if (!out.alert.empty() && !ValidJson(out.alert)) std::abort();
  for (const StageOutput::Event& e : out.spikes) {
    if (!ValidJson(e.json)) std::abort();
  }
}

// The stage's fast alert parser against simdjson's DOM parser (the reference it replaced): one
// verdict (the same error) and the same fields for any bytes. The DOM parse goes first, and the
// parser then parses another alert before the fields are compared, so the fast path's views
// must point into the input or the fields' own arena, never into the parser's buffers.
void CheckAlertParser(std::string_view alert) {
  using steppewatch::stories::AlertFieldParser;
  using steppewatch::stories::AlertFields;
  static AlertFieldParser parser;
  static AlertFields dom, fast, other;
  parser.ParseWithDom(alert, &dom);
  const std::string expected = steppewatch::stories::Describe(dom);
  std::string input(alert);
  parser.Parse(input, &fast);
  parser.Parse(R"({"schema":"x","item":{"id":"overwrite"}})", &other);
  if (steppewatch::stories::Describe(fast) != expected) std::abort();
}

// The AVX2 kernel (the best kernel where the CPU lacks AVX-512; checked on any CPU with AVX2):
// every output of Compute equals the portable kernel's, and its scan writes the portable scan's
// tokens with the defaults and with brackets and slashes not special.
void CheckAvx2Kernel(const std::string& title, const std::string& body,
                     std::string_view original_body) {
  using steppewatch::stories::Fingerprint;
  using steppewatch::stories::Fingerprinter;
  namespace internal = steppewatch::stories::internal;
  using internal::Kernel;
  if (!internal::KernelSupported(Kernel::kAvx2)) return;
  static Fingerprinter avx2(Kernel::kAvx2), portable(Kernel::kPortable);
  Fingerprint out[2][4] = {};
  uint32_t tokens[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    Fingerprinter& f = k == 0 ? avx2 : portable;
    out[k][0] =
        f.Compute(title, body, original_body, &out[k][1], &tokens[k], &out[k][2], &out[k][3]);
  }
  if (!std::equal(out[0], out[0] + 4, out[1]) || tokens[0] != tokens[1]) std::abort();
  internal::FingerprintOptions defaults, no_rules;
  no_rules.skip_brackets = false;
  no_rules.skip_slashes = false;
  internal::TextSpan span;
  span.end = body.size();
  const size_t capacity = internal::MaxTokens(body.size());
  std::vector<uint32_t> starts[2], ends[2];
  for (const internal::FingerprintOptions* o : {&defaults, &no_rules}) {
    size_t count[2];
    for (int k = 0; k < 2; ++k) {
      starts[k].assign(capacity, 0);
      ends[k].assign(capacity, 0);
      const Kernel kernel = k == 0 ? Kernel::kAvx2 : Kernel::kPortable;
      count[k] = o == &defaults ? internal::ScanTokens<true>(kernel, body, span, *o,
                                                             starts[k].data(), ends[k].data())
                                : internal::ScanTokens<false>(kernel, body, span, *o,
                                                              starts[k].data(), ends[k].data());
    }
    if (count[0] != count[1] ||
        !std::equal(starts[0].begin(), starts[0].begin() + count[0], starts[1].begin()) ||
        !std::equal(ends[0].begin(), ends[0].begin() + count[0], ends[1].begin())) {
      std::abort();
    }
  }
}

void CheckFingerprints(std::string_view text) {
  using steppewatch::stories::Fingerprinter;
  using steppewatch::stories::internal::Kernel;
  static Fingerprinter best, portable(Kernel::kPortable);
  const size_t nl = text.find('\n');
  const std::string_view title = text.substr(0, nl == std::string_view::npos ? 0 : nl);
  const std::string_view body =
      nl == std::string_view::npos ? text : text.substr(nl + 1);  // an original body
  // Exactly sized copies: ASan reports a read past the end of the text.
  const std::string folded_title = steppewatch::normalise::FoldToString(title);
  const std::string folded_body = steppewatch::normalise::FoldToString(body);
  const auto fp = best.Compute(folded_title, folded_body, body);
  if (portable.Compute(folded_title, folded_body, body) != fp) std::abort();
  if (steppewatch::stories::internal::ComputeWithOptions(folded_title, folded_body, {},
                                                         Kernel::kPortable, body) != fp) {
    std::abort();
  }
  // The lead key: the same on both kernels, the options path over the first kLeadTokens body
  // tokens, and 0 exactly when that is the whole fingerprint.
  steppewatch::stories::Fingerprint lead = 0, lead_portable = 0;
  if (best.Compute(folded_title, folded_body, body, &lead) != fp) std::abort();
  if (portable.Compute(folded_title, folded_body, body, &lead_portable) != fp) std::abort();
  if (lead != lead_portable) std::abort();
  steppewatch::stories::internal::FingerprintOptions lead_only;
  lead_only.max_body_tokens = steppewatch::stories::kLeadTokens;
  const auto expected = steppewatch::stories::internal::ComputeWithOptions(
      folded_title, folded_body, lead_only, Kernel::kPortable, body);
  if (lead != 0 ? lead != expected : expected != fp) std::abort();
  // The sentence key: the same on both kernels (the AVX-512 one finds sentence ends a block at
  // a time and sums the features it kept) and the options path (a byte loop per gap).
  // And the second sentence key: the next least of every sentence's key, on both kernels.
  steppewatch::stories::Fingerprint sentence = 1, sentence_portable = 1, second = 1,
                                    second_portable = 1;
  if (best.Compute(folded_title, folded_body, body, &lead, nullptr, &sentence, &second) != fp) {
    std::abort();
  }
  portable.Compute(folded_title, folded_body, body, &lead_portable, nullptr, &sentence_portable,
                   &second_portable);
  if (sentence != sentence_portable || second != second_portable) std::abort();
  std::vector<steppewatch::stories::Fingerprint> all;
  if (steppewatch::stories::internal::SentenceKeyWithOptions(
          folded_body, body, steppewatch::stories::internal::kDefaultSentenceOptions, &all) !=
      sentence) {
    std::abort();
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (second != (all.size() < 2 ? 0 : all[1])) std::abort();
  const std::string raw_title(title), raw_body(body);
  best.Compute(raw_title, raw_body, raw_body, &lead, nullptr, &sentence);
  portable.Compute(raw_title, raw_body, raw_body, &lead, nullptr, &sentence);
  CheckAvx2Kernel(folded_title, folded_body, body);
  CheckAvx2Kernel(raw_title, raw_body, raw_body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One stage for the whole run: state accumulates over inputs, as it does over a stream.
  static std::unique_ptr<StoriesStage> stage = [] {
    StageOptions options;
    options.warmup_days = 0;  // spikes reachable from the first inputs
    options.min_stories = 2;
    options.fixed_now = "2026-01-01T00:00:00Z";
    auto made = StoriesStage::Create(options);
    if (!made.ok()) std::abort();
    return std::move(made).value();
  }();
  static int64_t kafka_ms = 1767225600000;  // 2026-01-01
  const std::string_view alert(reinterpret_cast<const char*>(data), size);
  CheckFingerprints(alert);
  CheckAlertParser(alert);
  // The first byte picks the timestamp's behaviour: steady, a jump forward, one back, none.
  const uint8_t mode = size > 0 ? data[0] % 4 : 0;
  kafka_ms += mode == 1 ? 3600000 : mode == 2 ? -600000 : 60000;
  Check(stage->Process(alert, mode == 3 ? -1 : kafka_ms, /*replay=*/false));
  Check(stage->Process(alert, kafka_ms, /*replay=*/true));
  Check(stage->Tick(kafka_ms + 60000));
  return 0;
}
