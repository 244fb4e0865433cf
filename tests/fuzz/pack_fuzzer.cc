// Fuzzes the pack loader (YAML, keys, sets, includes, queries, reachability checks) without the
// Hyperscan compile: any input loads or yields diagnostics, never a crash, and every diagnostic
// has a message and a position inside the file.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "steppewatch/rules/pack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // yaml-cpp recurses per nesting level; 64 KiB bounds the depth a fuzz input can reach, and
  // real pack files are far smaller.
  if (size > 64 * 1024) return 0;
  std::string content(reinterpret_cast<const char*>(data), size);
  steppewatch::rules::PackOptions options;
  options.compile_matcher = false;
  std::vector<steppewatch::rules::Diagnostic> diags;
  auto pack =
      steppewatch::rules::CompiledPack::LoadFromFiles({{"fuzz.yaml", content}}, options, &diags);
  if (pack.ok() != diags.empty()) std::abort();
  for (const auto& d : diags) {
    if (d.message.empty() || d.line < 0 || d.column < 0) std::abort();
  }
  return 0;
}
