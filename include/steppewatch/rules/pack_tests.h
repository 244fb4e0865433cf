// Runs the embedded tests of a rule pack (each rule's `tests: match / no_match`) through the
// real matcher and evaluator, as `steppewatch rules test` and the daemon's reload check do: a
// pack is swapped in only when its tests pass.
//
// Thread-safe: each call builds its own MatchContext and Evaluator.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::rules {

struct TestFailure {
  uint32_t rule = 0;  // index into CompiledPack::rules()
  size_t test = 0;    // index into Rule::tests
  bool got_match = false;
  double score = 0;
  // What hit, for people: "Kazakhstan (body 4-14), Tokayev (title 0-7)"; empty when nothing.
  std::string hits;
};

struct TestReport {
  size_t rules_with_tests = 0;
  size_t run = 0;
  size_t passed = 0;
  size_t skipped_disabled = 0;  // tests of disabled rules (not run: the rule cannot fire)
  std::vector<TestFailure> failures;
  bool ok() const { return failures.empty(); }
};

// Runs the tests of every enabled rule (or only of rule `only_rule` when not empty). Fails only
// when the pack has no matcher or a scan fails; test failures are in the report.
absl::StatusOr<TestReport> RunPackTests(const std::shared_ptr<const CompiledPack>& pack,
                                        std::string_view only_rule = {});

}  // namespace steppewatch::rules
