// `steppewatch rules check DIR` and `steppewatch rules test DIR`.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/builtin.h"
#include "cli/flags.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: steppewatch rules check DIR [--strict]\n"
    "       steppewatch rules test DIR [--rule ID]... [--verbose]\n"
    "\n"
    "check  Loads and compiles the rule pack in DIR (every *.yaml below it) and prints its\n"
    "       counts: sets, terms, rules, database size, compile time, test coverage. Lists\n"
    "       every error as FILE:LINE:COLUMN: error: REASON, and what loads but is almost\n"
    "       surely wrong as FILE:LINE:COLUMN: warning: REASON (a term that looks like a\n"
    "       misspelt field scope, an unknown lang: code, a one-letter prefix, a set no rule\n"
    "       uses, a rule without tests). --strict makes warnings errors.\n"
    "test   Also runs every rule's embedded tests (tests: match / no_match) through the real\n"
    "       matcher and evaluator and prints each failure with the rule, the text, the\n"
    "       expectation, what hit and which clause of the query was false. --rule ID runs one\n"
    "       rule's tests (give it again for more rules); --verbose lists passes.\n"
    "       Tests of disabled rules are skipped (and counted), as the daemon does at start-up\n"
    "       and on reload: the same runner decides both.\n"
    "\n"
    "exit: 0 valid (and all tests passed), 1 errors, warnings with --strict, or failed tests,\n"
    "2 usage error\n";

void PrintCounts(const std::string& dir, const rules::CompiledPack& pack) {
  const rules::PackStats& s = pack.stats();
  std::printf("pack %s %s (%s)\n", pack.info().name.c_str(), pack.info().version.c_str(),
              pack.info().hash.c_str());
  std::printf(
      "  files %zu, sets %zu, terms %zu (%zu literal/prefix, %zu regex), rules %zu "
      "(%zu enabled), tests %zu, topics %zu\n",
      s.files, s.sets, s.terms, s.matcher.literal_terms, s.matcher.regex_terms, s.rules,
      s.enabled_rules, s.tests, pack.topics().size());
  std::printf("  database %s%s, compile %.3f s, load %.3f s\n",
              HumanBytes(s.matcher.database_bytes).c_str(),
              s.matcher.from_cache ? " (from cache)" : "", s.matcher.compile_seconds,
              s.load_seconds);
  (void)dir;
}

// Returns `s` in double quotes, newlines escaped, cut after `max` bytes at a code point boundary.
std::string Quote(std::string_view s, size_t max = 160) {
  bool cut = s.size() > max;
  if (cut) {
    size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    s = s.substr(0, end);
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
  return out + (cut ? "...\"" : "\"");
}

// Prints the pack's warnings to stderr as FILE:LINE:COLUMN: warning: MESSAGE (or, with
// `strict`, as errors). Returns how many there were.
size_t PrintWarnings(const std::string& dir, const rules::CompiledPack& pack, bool strict) {
  for (const rules::Diagnostic& d : pack.warnings()) {
    PrintDiagnostic(dir, d, strict ? "error" : "warning");
  }
  return pack.warnings().size();
}

// Prints which enabled rules have tests: a pack whose rules are not tested can change meaning
// without `rules test` noticing.
void PrintCoverage(const rules::CompiledPack& pack) {
  size_t enabled = 0, tested = 0, with_no_match = 0;
  for (const rules::Rule& rule : pack.rules()) {
    if (!rule.enabled) continue;
    ++enabled;
    if (rule.tests.empty()) continue;
    ++tested;
    if (std::any_of(rule.tests.begin(), rule.tests.end(),
                    [](const rules::RuleTest& t) { return !t.expect_match; })) {
      ++with_no_match;
    }
  }
  std::printf(
      "  test coverage: %zu of %zu enabled rules have tests (%.0f%%), %zu a no_match test\n",
      tested, enabled, enabled ? 100.0 * tested / enabled : 100.0, with_no_match);
}

int Check(const std::string& dir, bool strict) {
  auto pack = LoadPackOrPrint(dir);
  if (!pack) return kExitFailure;
  const size_t warnings = PrintWarnings(dir, *pack, strict);
  PrintCounts(dir, *pack);
  PrintCoverage(*pack);
  if (warnings > 0 && strict) {
    std::fprintf(stderr, "%s: %zu warning%s, errors with --strict\n", dir.c_str(), warnings,
                 warnings == 1 ? "" : "s");
    return kExitFailure;
  }
  if (warnings > 0) {
    std::printf("OK, %zu warning%s\n", warnings, warnings == 1 ? "" : "s");
  } else {
    std::printf("OK\n");
  }
  return kExitOk;
}

int Test(const std::string& dir, const std::vector<std::string>& only_ids, bool verbose) {
  auto pack = LoadPackOrPrint(dir);
  if (!pack) return kExitFailure;
  // Each --rule, in pack order, once; an unknown id is an error that names the closest one.
  std::vector<uint32_t> only;
  std::vector<std::string> ids;
  for (const rules::Rule& rule : pack->rules()) ids.push_back(rule.id);
  for (const std::string& id : only_ids) {
    const int r = pack->FindRule(id);
    if (r < 0) {
      std::fprintf(stderr, "steppewatch rules test: no rule '%s' in %s%s\n", id.c_str(),
                   dir.c_str(), DidYouMean(id, ids).c_str());
      return kExitFailure;
    }
    only.push_back(static_cast<uint32_t>(r));
  }
  std::sort(only.begin(), only.end());
  only.erase(std::unique(only.begin(), only.end()), only.end());
  auto selected = [&](uint32_t r) {
    return only.empty() || std::binary_search(only.begin(), only.end(), r);
  };
  absl::StatusOr<rules::TestReport> report;
  if (only.empty()) {
    report = rules::RunPackTests(pack);
  } else {
    // One run per selected rule, merged in rule order (the failures are listed per rule).
    report = rules::TestReport();
    for (uint32_t r : only) {
      auto one = rules::RunPackTests(pack, pack->rules()[r].id);
      if (!one.ok()) {
        report = one.status();
        break;
      }
      report->rules_with_tests += one->rules_with_tests;
      report->run += one->run;
      report->passed += one->passed;
      report->skipped_disabled += one->skipped_disabled;
      for (rules::TestFailure& f : one->failures) report->failures.push_back(std::move(f));
    }
  }
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(report.status().message()).c_str());
    return kExitFailure;
  }
  std::string prefix = dir;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  size_t next_failure = 0;
  for (uint32_t r = 0; r < pack->rules().size(); ++r) {
    const rules::Rule& rule = pack->rules()[r];
    if (!rule.enabled || rule.tests.empty() || !selected(r)) continue;
    size_t failed = 0;
    for (size_t k = next_failure; k < report->failures.size(); ++k) {
      if (report->failures[k].rule == r) ++failed;
    }
    if (failed == 0) {
      if (verbose) std::printf("PASS  %s (%zu tests)\n", rule.id.c_str(), rule.tests.size());
      continue;
    }
    for (; next_failure < report->failures.size() && report->failures[next_failure].rule == r;
         ++next_failure) {
      const rules::TestFailure& f = report->failures[next_failure];
      const rules::RuleTest& t = rule.tests[f.test];
      std::printf("FAIL  %s  %s[%zu]  %s%s:%d:%d\n", rule.id.c_str(),
                  t.expect_match ? "match" : "no_match", f.test + 1, prefix.c_str(),
                  rule.file.c_str(), t.line, t.column);
      if (!t.title.empty()) std::printf("      title:    %s\n", Quote(t.title).c_str());
      if (!t.body.empty()) std::printf("      body:     %s\n", Quote(t.body).c_str());
      std::printf("      lang:     %s\n",
                  t.lang.empty() ? "(none: a plain-string test has no language, so lang: "
                                   "clauses are false on it)"
                                 : t.lang.c_str());
      if (!t.source.empty()) std::printf("      source:   %s\n", t.source.c_str());
      std::printf("      expected: %s\n",
                  t.expect_match ? "the rule fires" : "the rule does not fire");
      if (!f.error.empty()) {
        std::printf("      got:      not run: %s\n", f.error.c_str());
        continue;
      }
      std::printf("      got:      %s (score %g", f.got_match ? "it fired" : "it did not fire",
                  f.score);
      if (rule.has_threshold) std::printf(", threshold %g", rule.threshold);
      std::printf(")\n");
      if (!f.why.empty()) std::printf("      why:      %s\n", f.why.c_str());
      std::printf("      hits:     %s\n",
                  f.hits.empty() ? "(no term of the pack hit)" : f.hits.c_str());
    }
  }
  std::printf("%zu tests of %zu rules: %zu passed, %zu failed", report->run,
              report->rules_with_tests, report->passed, report->failures.size());
  if (report->skipped_disabled)
    std::printf(", %zu skipped (disabled rules)", report->skipped_disabled);
  std::printf("\n");
  return report->ok() ? kExitOk : kExitFailure;
}

}  // namespace

int RunRulesCommand(int argc, char** argv) {
  Flags flags({"rule"}, {"verbose", "strict"}, /*repeatable=*/{"rule"});
  if (!flags.Parse(argc, argv)) return UsageError("rules", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  const auto& pos = flags.positional();
  if (pos.empty()) return UsageError("rules", "missing subcommand: check or test", kUsage);
  if (pos[0] != "check" && pos[0] != "test") {
    return UsageError("rules",
                      "unknown subcommand '" + pos[0] + "': use check or test" +
                          DidYouMean(pos[0], {"check", "test"}),
                      kUsage);
  }
  if (pos.size() != 2) return UsageError("rules", "give exactly one pack directory", kUsage);
  if (pos[0] == "check") {
    if (flags.Has("rule") || flags.Has("verbose")) {
      return UsageError("rules", "--rule and --verbose are options of 'rules test'", kUsage);
    }
    return Check(pos[1], flags.Has("strict"));
  }
  if (flags.Has("strict")) {
    return UsageError("rules", "--strict is an option of 'rules check'", kUsage);
  }
  return Test(pos[1], flags.GetAll("rule"), flags.Has("verbose"));
}

}  // namespace steppewatch::cli
