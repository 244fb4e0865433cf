// "Did you mean ...?" for names people type: commands, flags, set names, topics, field scopes.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steppewatch {

// Returns the edit distance between `a` and `b` (insertions, deletions, substitutions and swaps
// of two adjacent bytes each cost 1; ASCII case is ignored).
size_t EditDistance(std::string_view a, std::string_view b);

// Returns the candidate closest to `typed` when it is close enough to be a typo: at most one
// edit for names up to 4 bytes, two up to 8, three beyond (a third of a name is a different
// name, not a typo). Ties go to the first candidate. Never returns `typed` itself.
std::optional<std::string> ClosestName(std::string_view typed,
                                       const std::vector<std::string>& candidates);

// Returns the candidate nearest to `name` when at most `max_edits` away, else empty; ties go to
// the first candidate. For hints where the caller knows how far a typo may go.
std::string_view Nearest(std::string_view name, const std::vector<std::string_view>& candidates,
                         size_t max_edits);

// Returns " (did you mean 'X'?)" for ClosestName(typed, candidates), or "" when none is close.
std::string DidYouMean(std::string_view typed, const std::vector<std::string>& candidates);

}  // namespace steppewatch
