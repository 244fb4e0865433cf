// Fuzz target for normalise::Fold: on any bytes, the fold must
//   - produce valid UTF-8 (Hyperscan UTF-8 databases scan it),
//   - be idempotent (folding folded text changes nothing: terms and text fold the same way),
//   - map every folded character boundary back into the original, monotonically, with the end
//     of the folded text mapping to the end of the original,
//   - agree with a fresh buffer when a buffer is reused.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "steppewatch/normalise/fold.h"
#include "steppewatch/normalise/utf8.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using steppewatch::normalise::DecodeAt;
  using steppewatch::normalise::FoldedText;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static FoldedText reused;
  FoldedText fresh;
  steppewatch::normalise::Fold(input, &fresh);
  steppewatch::normalise::Fold(input, &reused);
  const std::string_view folded = fresh.text();
  Check(reused.text() == folded);
  Check(steppewatch::normalise::ValidateUtf8(folded));
  Check(steppewatch::normalise::FoldToString(folded) == folded);
  uint32_t previous = 0;
  size_t i = 0;
  while (i <= folded.size()) {
    const uint32_t original = fresh.ToOriginal(static_cast<uint32_t>(i));
    Check(original >= previous && original <= input.size());
    previous = original;
    if (i == folded.size()) break;
    i += DecodeAt(folded, i).length;
  }
  Check(fresh.ToOriginal(static_cast<uint32_t>(folded.size())) == input.size());
  return 0;
}
