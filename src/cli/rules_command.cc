// `steppewatch rules check DIR` and `steppewatch rules test DIR`.
#include <cstdio>
#include <string>

#include "cli/builtin.h"
#include "cli/flags.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/rules/pack_tests.h"

namespace steppewatch::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: steppewatch rules check DIR\n"
    "       steppewatch rules test DIR [--rule ID] [--verbose]\n"
    "\n"
    "check  Loads and compiles the rule pack in DIR (every *.yaml below it) and prints its\n"
    "       counts: sets, terms, rules, database size, compile time. Lists every error as\n"
    "       FILE:LINE:COLUMN: error: REASON.\n"
    "test   Also runs every rule's embedded tests (tests: match / no_match) through the real\n"
    "       matcher and evaluator and prints each failure with the rule, the text, the\n"
    "       expectation and what hit. --rule ID runs one rule's tests; --verbose lists passes.\n"
    "       Tests of disabled rules are skipped (and counted), as the daemon does at start-up\n"
    "       and on reload: the same runner decides both.\n"
    "\n"
    "exit: 0 valid (and all tests passed), 1 errors or failed tests, 2 usage error\n";

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

int Check(const std::string& dir) {
  auto pack = LoadPackOrPrint(dir);
  if (!pack) return kExitFailure;
  PrintCounts(dir, *pack);
  std::printf("OK\n");
  return kExitOk;
}

int Test(const std::string& dir, const std::string& only, bool verbose) {
  auto pack = LoadPackOrPrint(dir);
  if (!pack) return kExitFailure;
  if (!only.empty() && pack->FindRule(only) < 0) {
    std::fprintf(stderr, "steppewatch rules test: no rule '%s' in %s\n", only.c_str(), dir.c_str());
    return kExitFailure;
  }
  auto report = rules::RunPackTests(pack, only);
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(report.status().message()).c_str());
    return kExitFailure;
  }
  std::string prefix = dir;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  size_t next_failure = 0;
  for (uint32_t r = 0; r < pack->rules().size(); ++r) {
    const rules::Rule& rule = pack->rules()[r];
    if (!rule.enabled || rule.tests.empty() || (!only.empty() && rule.id != only)) continue;
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
      if (!t.lang.empty()) std::printf("      lang:     %s\n", t.lang.c_str());
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
  Flags flags({"rule"}, {"verbose"});
  if (!flags.Parse(argc, argv)) return UsageError("rules", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  const auto& pos = flags.positional();
  if (pos.empty()) return UsageError("rules", "missing subcommand: check or test", kUsage);
  if (pos[0] != "check" && pos[0] != "test") {
    return UsageError("rules", "unknown subcommand '" + pos[0] + "': use check or test", kUsage);
  }
  if (pos.size() != 2) return UsageError("rules", "give exactly one pack directory", kUsage);
  if (pos[0] == "check") {
    if (flags.Has("rule") || flags.Has("verbose")) {
      return UsageError("rules", "--rule and --verbose are options of 'rules test'", kUsage);
    }
    return Check(pos[1]);
  }
  return Test(pos[1], flags.Get("rule").value_or(""), flags.Has("verbose"));
}

}  // namespace steppewatch::cli
