// The one runner of a rule pack's embedded tests (each rule's `tests: match / no_match`)
// through the real matcher and evaluator. `steppewatch rules test`, the daemon's start-up,
// every reload and `steppewatchd --check-config` all call it, so they agree on every pack.
//
// Disabled rules (`enabled: false`): their tests are skipped and counted (TestReport::
// skipped_disabled), never run. A disabled rule cannot fire, so its examples protect no alert,
// and disabling a rule whose examples broke (e.g. after a shared set changed) must be a way to
// ship the rest of the pack.
//
// Thread-safe: each call builds its own MatchContext and Evaluator.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::rules {

struct TestFailure {
  uint32_t rule = 0;  // index into CompiledPack::rules()
  size_t test = 0;    // index into Rule::tests
  bool got_match = false;
  double score = 0;
  // What hit, for people: "'Kazakhstan' as kazakhstan (body 4-14)"; empty when nothing.
  std::string hits;
  // Set when the example could not be run at all (e.g. not valid UTF-8); got_match is then
  // meaningless.
  std::string error;

  // Why, for people (DescribeTestOutcome): the clauses of the query that were false when the
  // rule did not fire, or true when it did, and the score against the threshold.
  std::string why;
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

// RunPackTests as a gate: OK when every test ran passed; otherwise FailedPrecondition with one
// line per failure, "FILE:LINE:COLUMN: rule ID: expected match, did not fire: "<excerpt>"", then
// "N of M embedded rule tests failed". For logs and systemd's status line (the first line says
// where to look). `report`, when not null, receives the counts.
absl::Status CheckPackTests(const std::shared_ptr<const CompiledPack>& pack,
                            TestReport* report = nullptr);

// "N embedded tests passed" plus ", M skipped (disabled rules)" when some were: for summaries.
std::string DescribeTestCounts(const TestReport& report);

// Returns why `rule` gave `trace` (Evaluator::Explain over a test item whose language is
// `lang`), for a failing test's message: when the rule did not fire, the clauses of its query
// that were false ("false: lang:(ru OR kk) (the test has no lang: ...)", "false: @a NEAR/5 @b
// (both hit, not within 5 words)") or the score under the threshold; when it fired, the clauses
// that made it true and the NOTs that did not veto it. A test given as a plain string has no
// language, so its lang: clauses are false, and the message says so.
std::string DescribeTestOutcome(const Rule& rule, const Evaluator::Trace& trace,
                                std::string_view lang);

// Returns the test item's language for a failure message: the code, or a note that a plain-
// string test has none (so lang: clauses are false on it).
std::string DescribeTestLanguage(std::string_view lang);

}  // namespace steppewatch::rules
