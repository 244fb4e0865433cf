// `steppewatch explain`: why one rule fired or did not on each item of a file: the terms that
// hit (with field, offsets and snippet), the query as a tree with the value of every
// sub-expression, the NOTs that vetoed it, and the score.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "cli/builtin.h"
#include "cli/flags.h"
#include "steppewatch/alert/alert.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/decode/news_item.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/evaluator.h"

namespace steppewatch::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: steppewatch explain --rules DIR --rule ID [FILE|-]\n"
    "\n"
    "For each news item (one JSON object per line) of FILE or stdin, shows whether rule ID of\n"
    "the pack in DIR fires and why: every hit of the rule's terms (field, byte offsets,\n"
    "snippet), the query as a tree with the value of each sub-expression, the NOTs that vetoed\n"
    "it, and the score against the threshold. Disabled rules are explained too.\n"
    "\n"
    "exit: 0 explained, 1 invalid pack or unreadable input, 2 usage error (also: no rule ID)\n";

using rules::ProgramNode;

// Writes the hits of `node` (a kTerms leaf) as "field start-end 'text' (term)".
void PrintLeafHits(const rules::CompiledPack& pack, const rules::Rule& rule,
                   const ProgramNode& node, const decode::NewsItem& item,
                   const std::vector<match::Hit>& hits, const std::string& indent) {
  int shown = 0;
  for (const match::Hit& h : hits) {
    if (!(node.fields & (1u << h.field))) continue;
    if (!std::binary_search(rule.terms.begin() + node.terms_begin,
                            rule.terms.begin() + node.terms_end, h.term)) {
      continue;
    }
    // The first few hits say where; the rest would only repeat them.
    if (++shown > 5) continue;
    std::string_view text = h.field == 0 ? item.title : item.body;
    std::printf("%s  hit %s %u-%u '%.*s' (term %s)\n", indent.c_str(),
                h.field == 0 ? "title" : "body", h.start, h.end, static_cast<int>(h.end - h.start),
                text.data() + h.start, std::string(pack.term_display(h.term)).c_str());
  }
  if (shown > 5) std::printf("%s  ... %d more hits\n", indent.c_str(), shown - 5);
}

void PrintTree(const rules::CompiledPack& pack, const rules::Rule& rule,
               const rules::Evaluator::Trace& trace, uint32_t k, int depth,
               const decode::NewsItem& item, const std::vector<match::Hit>& hits,
               std::vector<std::string>* vetoes) {
  const ProgramNode& n = rule.program[k];
  std::string indent(2 * depth + 2, ' ');
  int8_t v = trace.value[k];
  const char* mark = v == 1 ? "true " : v == 0 ? "false" : "  -  ";
  std::string scope;
  if (n.kind == ProgramNode::Kind::kTerms && n.fields != rules::kAllFields) {
    scope = n.fields == rules::kTitleMask ? "  [title only]" : "  [body only]";
  }
  std::printf("%s[%s] %s%s", indent.c_str(), mark, n.label.c_str(), scope.c_str());
  if (n.kind == ProgramNode::Kind::kNot && v == 0) {
    std::printf("   <- VETO");
    vetoes->push_back(rule.program[rule.child_index[n.children_begin]].label);
  }
  std::printf("\n");
  if (n.kind == ProgramNode::Kind::kTerms) {
    PrintLeafHits(pack, rule, n, item, hits, indent);
    return;
  }
  for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
    PrintTree(pack, rule, trace, rule.child_index[i], depth + 1, item, hits, vetoes);
  }
}

}  // namespace

int RunExplainCommand(int argc, char** argv) {
  Flags flags({"rules", "rule"}, {});
  if (!flags.Parse(argc, argv)) return UsageError("explain", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  if (!flags.Has("rules") || !flags.Has("rule")) {
    return UsageError("explain", "--rules DIR and --rule ID are required", kUsage);
  }
  if (flags.positional().size() > 1) {
    return UsageError("explain", "give at most one input file", kUsage);
  }
  auto pack = LoadPackOrPrint(*flags.Get("rules"));
  if (!pack) return kExitFailure;
  std::string id = *flags.Get("rule");
  int r = pack->FindRule(id);
  if (r < 0) {
    return UsageError("explain", "no rule '" + id + "' in " + *flags.Get("rules"), kUsage);
  }
  const rules::Rule& rule = pack->rules()[r];

  std::string input = flags.positional().empty() ? "-" : flags.positional()[0];
  std::ifstream file;
  std::istream* in = &std::cin;
  if (input != "-") {
    file.open(input, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "steppewatch explain: cannot open %s: %s\n", input.c_str(),
                   std::strerror(errno));
      return kExitFailure;
    }
    in = &file;
  }
  auto decoder = decode::ItemDecoder::Create(decode::DecoderOptions());
  auto context = match::MatchContext::Create(pack->matcher());
  if (!decoder.ok() || !context.ok()) {
    std::fprintf(
        stderr, "steppewatch explain: %s\n",
        std::string((decoder.ok() ? context.status() : decoder.status()).message()).c_str());
    return kExitFailure;
  }
  rules::Evaluator evaluator(pack);
  std::vector<match::Hit> hits;
  std::printf("rule %s: %s\n  query: %s\n", rule.id.c_str(), rule.title.c_str(),
              rule.query.empty() ? "(none: fires on the score)" : rule.query.c_str());
  if (rule.has_threshold) std::printf("  score threshold: %g\n", rule.threshold);
  if (!rule.enabled) std::printf("  (disabled: the daemon does not evaluate it)\n");
  std::string line;
  int64_t line_no = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    decode::NewsItem item;
    std::string detail;
    decode::DecodeError error = (*decoder)->Decode(line, &item, &detail);
    if (error != decode::DecodeError::kOk) {
      std::printf("\nline %lld: not an item (%s: %s)\n", static_cast<long long>(line_no),
                  std::string(decode::DecodeErrorName(error)).c_str(), detail.c_str());
      continue;
    }
    std::string_view fields[2] = {item.title, item.body};
    absl::Status scanned = (*context)->Scan(fields, &hits);
    if (!scanned.ok()) {
      std::printf("\nline %lld: scan failed: %s\n", static_cast<long long>(line_no),
                  std::string(scanned.message()).c_str());
      continue;
    }
    rules::ItemView view;
    view.fields[0] = item.title;
    view.fields[1] = item.body;
    view.lang = item.lang;
    view.source = item.source;
    rules::Evaluator::Trace trace = evaluator.Explain(static_cast<uint32_t>(r), view, hits);
    std::printf("\nline %lld, item %.*s: %s (score %g", static_cast<long long>(line_no),
                static_cast<int>(item.id.size()), item.id.data(),
                trace.fired ? "FIRES" : "does not fire", trace.score);
    if (rule.has_threshold) {
      std::printf(" %s threshold %g", trace.score >= rule.threshold ? ">=" : "<", rule.threshold);
    }
    std::printf(")\n");
    if (!item.title.empty()) {
      std::printf("  title: %.*s\n", static_cast<int>(item.title.size()), item.title.data());
    }
    std::vector<std::string> vetoes;
    if (!rule.program.empty()) {
      std::printf("  query tree:\n");
      PrintTree(*pack, rule, trace, 0, 0, item, hits, &vetoes);
    }
    std::printf("  hits of the rule's terms:\n");
    int shown = 0;
    std::string snippet;
    for (const match::Hit& h : hits) {
      auto it = std::lower_bound(
          rule.weights.begin(), rule.weights.end(), h.term,
          [](const std::pair<match::TermId, float>& p, match::TermId t) { return p.first < t; });
      if (it == rule.weights.end() || it->first != h.term) continue;
      ++shown;
      std::string_view text = h.field == 0 ? item.title : item.body;
      snippet.clear();
      alert::AppendSnippet(text, h.start, h.end, 40, &snippet);
      std::printf("    %-5s %u-%u  %s (weight %g): %s\n", h.field == 0 ? "title" : "body", h.start,
                  h.end, std::string(pack->term_display(h.term)).c_str(), it->second,
                  snippet.c_str());
    }
    if (shown == 0) std::printf("    (none)\n");
    for (const std::string& v : vetoes) std::printf("  vetoed by NOT %s\n", v.c_str());
  }
  return kExitOk;
}

}  // namespace steppewatch::cli
