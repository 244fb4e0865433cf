// A synthetic alert for the stories benchmarks (the stage's and the role's): what the item
// processor writes for an item with two matches of three hits each and their snippets (~1.3
// KB), so the stage parses, validates and re-renders an alert of realistic size and shape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::bench {

// The alert of item `item_id` (number `i`: its URL and source), with fingerprint `fp`,
// published at `t_ms` (Unix milliseconds), matching rules `rule` and `rule + 7` (mod 50), with
// lead key `lead` (item.lead_fingerprint; none when 0) and sentence keys `sentence` and
// `sentence2` (item.fingerprint_sentence and item.fingerprint_sentence2; none when 0).
std::string SyntheticStoriesAlert(std::string_view item_id, uint64_t i, stories::Fingerprint fp,
                                  int64_t t_ms, int rule, stories::Fingerprint lead = 0,
                                  stories::Fingerprint sentence = 0,
                                  stories::Fingerprint sentence2 = 0);

}  // namespace steppewatch::bench
