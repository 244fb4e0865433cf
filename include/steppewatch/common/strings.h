// Small string helpers shared by the stages (configuration, command-line tools): trimming,
// splitting a comma-separated list, joining. For concatenation use log::Cat (common/log.h),
// which also takes numbers and Statuses.
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::strings {

// `s` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view s);

// Splits at `separator`, trims each part, drops empty parts: "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(std::string_view s, char separator = ',');

// The parts with `separator` between them.
std::string Join(const std::vector<std::string>& parts, std::string_view separator);

// The candidate nearest to `name` by edit distance (Levenshtein) when at most `max_edits` away
// (a likely typo), else empty. For "did you mean" hints.
std::string_view Nearest(std::string_view name, const std::vector<std::string_view>& candidates,
                         size_t max_edits = 3);

}  // namespace steppewatch::strings
