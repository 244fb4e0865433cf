#include "steppewatch/rules/pack_tests.h"

#include <string_view>

#include "steppewatch/common/log.h"
#include "steppewatch/normalise/utf8.h"
#include "steppewatch/rules/evaluator.h"

namespace steppewatch::rules {
namespace {

// Bytes of an example quoted in a failure line: enough to recognise it.
constexpr size_t kExcerptBytes = 60;

std::string Excerpt(const RuleTest& test) {
  std::string_view text = test.body.empty() ? std::string_view(test.title) : test.body;
  if (text.size() <= kExcerptBytes) return std::string(text);
  size_t cut = kExcerptBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return log::Cat(text.substr(0, cut), "...");
}

}  // namespace

absl::StatusOr<TestReport> RunPackTests(const std::shared_ptr<const CompiledPack>& pack,
                                        std::string_view only_rule) {
  if (pack == nullptr || !pack->matcher()) {
    return absl::FailedPreconditionError("the pack was loaded without a matcher");
  }
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
      if (!normalise::ValidateUtf8(fields[0]) || !normalise::ValidateUtf8(fields[1])) {
        TestFailure failure;
        failure.rule = r;
        failure.test = t;
        failure.error = "example is not valid UTF-8";
        report.failures.push_back(std::move(failure));
        continue;
      }
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

absl::Status CheckPackTests(const std::shared_ptr<const CompiledPack>& pack, TestReport* out) {
  absl::StatusOr<TestReport> report = RunPackTests(pack);
  if (!report.ok()) return report.status();
  if (out != nullptr) *out = *report;
  if (report->ok()) return absl::OkStatus();
  std::string text;
  for (const TestFailure& f : report->failures) {
    const Rule& rule = pack->rules()[f.rule];
    const RuleTest& test = rule.tests[f.test];
    const std::string_view problem = !f.error.empty()    ? std::string_view(f.error)
                                     : test.expect_match ? "expected match, did not fire"
                                                         : "expected no match, fired";
    log::AppendPiece(&text, log::Cat(rule.file, ":", test.line, ":", test.column, ": rule ",
                                     rule.id, ": ", problem, ": \"", Excerpt(test), "\"\n"));
  }
  return absl::FailedPreconditionError(
      log::Cat(text, report->failures.size(), " of ", report->run, " embedded rule tests failed"));
}

std::string DescribeTestCounts(const TestReport& report) {
  std::string out = log::Cat(report.passed, " embedded tests passed");
  if (report.skipped_disabled > 0) {
    out += log::Cat(", ", report.skipped_disabled, " skipped (disabled rules)");
  }
  return out;
}

}  // namespace steppewatch::rules
