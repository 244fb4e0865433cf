// Event times of alerts: parsing the published_at forms the corpus and the feeds use, and the
// RFC 3339 form the stage writes. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace steppewatch::stories {

// Parses `text` into milliseconds since the Unix epoch (UTC). Accepted:
//   RFC 3339 / ISO 8601: 2022-11-20T08:00:00Z, with 'T' or ' ', optional seconds and fraction,
//     Z, +HH:MM, +HHMM or no zone (UTC);
//   the Reuters-21578 form: 26-FEB-1987 15:01:01.79 (UTC);
//   a bare date 2024-12-21 (00:00 UTC; *has_time_of_day is then false).
// Returns false on anything else (an out-of-range field included).
bool ParseEventTime(std::string_view text, int64_t* ms, bool* has_time_of_day);

// Appends `ms` as RFC 3339 UTC with milliseconds: 1987-02-26T15:01:01.790Z.
void AppendRfc3339(int64_t ms, std::string* out);

}  // namespace steppewatch::stories
