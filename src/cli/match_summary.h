// The backtest's counts and its report (`steppewatch match --summary / --summary-json`,
// private to the cli stage): alerting items per rule, tag, source and language, dead letters by
// reason, and the enabled rules that never fired.
//
// Thread-compatible: each worker fills its own MatchCounts; they are merged after the run.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "steppewatch/rules/pack.h"

namespace steppewatch::cli {

// What one worker counted; merged at the end.
struct MatchCounts {
  std::vector<uint64_t> rules;  // items each rule fired on, by rule index
  std::map<std::string, uint64_t> reasons;
  // Only with --summary / --summary-json.
  uint64_t alerting_items = 0;
  std::map<std::string, uint64_t> tags;  // alerting items per tag
  // Items and alerting items per source and per language ("" = the item has none).
  std::map<std::string, std::pair<uint64_t, uint64_t>> sources, languages;
  std::vector<std::string_view> item_tags;  // scratch of one item's tags
};

// Prints the --summary tables to stderr when `tables`, and writes the --summary-json object to
// `json_out` when it is not null; `items`, `alerts` and `dead` are the run's totals.
void PrintMatchSummary(const rules::CompiledPack& pack, const MatchCounts& total, uint64_t items,
                       uint64_t alerts, uint64_t dead, bool tables, std::FILE* json_out);

}  // namespace steppewatch::cli
