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
      const Evaluator::Trace trace = evaluator.Explain(r, item, hits);
      if (!got) score = trace.score;
      failure.score = score;
      failure.why = DescribeTestOutcome(rule, trace, test.lang);
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

namespace {

using K = ProgramNode::Kind;

// Returns the source text of program node `k`, shortened for one line of a message.
std::string ClauseText(const Rule& rule, uint32_t k) {
  const ProgramNode& n = rule.program[k];
  auto child = [&](uint32_t i) { return rule.child_index[n.children_begin + i]; };
  const uint32_t count = n.children_end - n.children_begin;
  std::string out;
  switch (n.kind) {
    case K::kAnd:
    case K::kOr:
      for (uint32_t i = 0; i < count; ++i) {
        if (i > 0) out += n.kind == K::kAnd ? " AND " : " OR ";
        out += ClauseText(rule, child(i));
      }
      out = "(" + out + ")";
      break;
    case K::kNot:
      out = "NOT " + ClauseText(rule, child(0));
      break;
    case K::kNear:
      out = ClauseText(rule, child(0)) + " " + n.label + " " + ClauseText(rule, child(1));
      break;
    case K::kAtLeast:
    case K::kAtLeastDistinct:
      out = n.label.substr(0, n.label.size() - 1) + ", " + ClauseText(rule, child(0)) + ")";
      break;
    default:
      out = n.label;
      if (n.kind == K::kTerms && n.fields != kAllFields) {
        out = (n.fields == kTitleMask ? "title:" : "body:") + out;
      }
  }
  // Eighty bytes say which clause; a whole query would bury it.
  if (out.size() > 80) {
    size_t cut = 77;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

// Appends the clauses under `k` (false in the trace) that made it false: the false operands of
// an AND, a NEAR whose sides both held but too far apart, the leaf or OR itself otherwise.
void FalseClauses(const Rule& rule, const Evaluator::Trace& trace, uint32_t k,
                  std::string_view lang, std::vector<std::string>* out) {
  const ProgramNode& n = rule.program[k];
  if (trace.value[k] != 0) return;
  auto child = [&](uint32_t i) { return rule.child_index[n.children_begin + i]; };
  switch (n.kind) {
    case K::kAnd:
      for (uint32_t i = 0; i < n.children_end - n.children_begin; ++i) {
        FalseClauses(rule, trace, child(i), lang, out);
      }
      return;
    case K::kNear:
      if (trace.value[child(0)] == 1 && trace.value[child(1)] == 1) {
        out->push_back(log::Cat(ClauseText(rule, k), " (both sides hit, but not within ",
                                n.distance, " words", n.ordered ? " in that order" : "", ")"));
        return;
      }
      FalseClauses(rule, trace, child(0), lang, out);
      FalseClauses(rule, trace, child(1), lang, out);
      return;
    case K::kNot:
      out->push_back(log::Cat(ClauseText(rule, k), " (", ClauseText(rule, child(0)),
                              " hit: it vetoes the rule)"));
      return;
    case K::kLang:
      out->push_back(log::Cat(ClauseText(rule, k), " (", DescribeTestLanguage(lang), ")"));
      return;
    case K::kAtLeast:
    case K::kAtLeastDistinct:
      out->push_back(log::Cat(ClauseText(rule, k),
                              trace.value[child(0)] == 1 ? " (it hit, but not often enough)" : ""));
      return;
    default:
      out->push_back(ClauseText(rule, k));
  }
}

}  // namespace

std::string DescribeTestLanguage(std::string_view lang) {
  if (!lang.empty()) return log::Cat("the test's lang is ", lang);
  return "the test has no lang: a test given as a plain string has no language, so lang: "
         "clauses are false on it; write it as {body: ..., lang: ru}";
}

std::string DescribeTestOutcome(const Rule& rule, const Evaluator::Trace& trace,
                                std::string_view lang) {
  std::string out;
  if (!trace.fired) {
    if (!rule.program.empty() && !trace.query_true) {
      std::vector<std::string> clauses;
      FalseClauses(rule, trace, 0, lang, &clauses);
      for (const std::string& c : clauses) out += (out.empty() ? "false: " : "; ") + c;
      return out;
    }
    return log::Cat("the query held, but the score ", trace.score, " is under the threshold ",
                    rule.threshold);
  }
  if (rule.program.empty()) {
    return log::Cat("the score ", trace.score, " reached the threshold ", rule.threshold);
  }
  // Fired: the top-level clauses that held, and the NOTs among them that did not veto it.
  const ProgramNode& root = rule.program[0];
  std::vector<uint32_t> top;
  if (root.kind == K::kAnd) {
    for (uint32_t i = root.children_begin; i < root.children_end; ++i) {
      top.push_back(rule.child_index[i]);
    }
  } else {
    top.push_back(0);
  }
  for (uint32_t k : top) {
    out += (out.empty() ? "true: " : "; ") + ClauseText(rule, k);
    if (rule.program[k].kind == K::kNot) out += " (nothing it names hit)";
  }
  if (rule.has_threshold) out += log::Cat("; score ", trace.score, " >= ", rule.threshold);
  return out;
}

}  // namespace steppewatch::rules
