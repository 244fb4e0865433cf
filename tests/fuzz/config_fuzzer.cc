// libFuzzer target for configuration loading: arbitrary bytes as the YAML file. Checks, beyond
// "no crash, no uncaught exception, no sanitizer report": an accepted config passes
// ValidateConfig, and its rendering (when it holds no secret to redact) parses back to an equal
// config.
// Inputs naming `_file` keys are skipped: they would make the loader read arbitrary paths of the
// fuzzing machine (such as /dev/stdin, which blocks); the tests cover *_file handling.
//
// Run (what was done for the report; the `fuzz` preset builds it too, with the whole core):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude
//     tests/fuzz/config_fuzzer.cc src/config/*.cc src/decode/*.cc -lsimdjson -lyaml-cpp
//     -labsl_statusor -labsl_status -labsl_strings -labsl_cord ...
//     -o build/decode-fuzz/config_fuzzer
//   build/decode-fuzz/config_fuzzer -max_total_time=60 WORK_DIR tests/fuzz/corpus/config
// Every crash it finds becomes a file in tests/fuzz/corpus/config/ (regression-*).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "steppewatch/config/daemon_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  if (yaml.find("_file") != std::string_view::npos) return 0;
  auto config = steppewatch::config::ParseConfig(yaml, "fuzz.yaml");
  if (!config.ok()) return 0;
  if (!steppewatch::config::ValidateConfig(*config).ok()) std::abort();
  const std::string rendered = steppewatch::config::RenderRedacted(*config);
  if (rendered.find("<redacted>") != std::string::npos) return 0;
  auto back = steppewatch::config::ParseConfig(rendered, "rendered.yaml");
  if (!back.ok() || !(*back == *config)) std::abort();
  return 0;
}
