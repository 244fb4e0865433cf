#include "steppewatch/rules/pack_tests.h"

#include <string_view>

#include "steppewatch/common/log.h"
#include "steppewatch/normalise/utf8.h"
#include "steppewatch/rules/evaluator.h"

namespace steppewatch::rules {

absl::StatusOr<TestReport> RunPackTests(const std::shared_ptr<const CompiledPack>& pack,
                                        std::string_view only_rule) {
  if (!pack->matcher())
    return absl::FailedPreconditionError("the pack was loaded without a matcher");
  auto context = match::MatchContext::Create(pack->matcher());
  if (!context.ok()) return context.status();
  Evaluator evaluator(pack);
  std::vector<match::Hit> hits;
  TestReport report;
  const std::vector<Rule>& rules = pack->rules();
  for (uint32_t r = 0; r < rules.size(); ++r) {
    const Rule& rule = rules[r];
    if (rule.tests.empty() || (!only_rule.empty() && rule.id != only_rule)) continue;
    if (!rule.enabled) {
      report.skipped_disabled += rule.tests.size();
      continue;
    }
    ++report.rules_with_tests;
    for (size_t t = 0; t < rule.tests.size(); ++t) {
      const RuleTest& test = rule.tests[t];
      ++report.run;
      std::string_view fields[2] = {test.title, test.body};
      absl::Status scanned = (*context)->Scan(fields, &hits);
      if (!scanned.ok()) {
        return absl::InternalError(
            log::Cat("rule ", rule.id, " test ", t + 1, ": scan failed: ", scanned));
      }
      ItemView item;
      item.fields[0] = test.title;
      item.fields[1] = test.body;
      item.lang = test.lang;
      item.source = test.source;
      const std::vector<FiredRule>& fired = evaluator.Evaluate(item, hits);
      bool got = false;
      double score = 0;
      for (const FiredRule& f : fired) {
        if (f.rule == r) {
          got = true;
          score = f.score;
        }
      }
      if (got == test.expect_match) {
        ++report.passed;
        continue;
      }
      TestFailure failure;
      failure.rule = r;
      failure.test = t;
      failure.got_match = got;
      failure.score = score;
      if (!got) score = evaluator.Explain(r, item, hits).score;
      failure.score = score;
      size_t listed = 0;
      for (const match::Hit& h : hits) {
        // Twenty hits show what the matcher saw; a long test text would print hundreds.
        if (++listed > 20) {
          failure.hits.append(log::Cat(", ... ", hits.size() - 20, " more"));
          break;
        }
        if (!failure.hits.empty()) failure.hits.append(", ");
        std::string_view text = fields[h.field].substr(h.start, h.end - h.start);
        failure.hits.append(log::Cat("'", text, "' as ", pack->term_display(h.term), " (",
                                     h.field == 0 ? "title" : "body", " ", h.start, "-", h.end,
                                     ")"));
      }
      report.failures.push_back(std::move(failure));
    }
  }
  return report;
}

}  // namespace steppewatch::rules
