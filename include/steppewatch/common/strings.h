// Small string helpers shared by the stages (configuration, decoding, command-line tools):
// trimming, splitting, joining, ASCII case, integers. For concatenation use log::Cat
// (common/log.h), which also takes numbers and Statuses; for "did you mean" hints,
// common/did_you_mean.h.
//
// They take and return std::string_view: Debian's abseil (20220623) has its own
// absl::string_view, distinct from std::string_view, so callers of absl's string functions
// would otherwise convert at every call.
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace steppewatch::strings {

// JSON's insignificant whitespace (RFC 8259, section 2), for Trim(s, kJsonWhitespace) on a raw
// JSON token.
inline constexpr std::string_view kJsonWhitespace = " \t\n\r";

// `s` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view s);

// `s` without leading and trailing bytes that occur in `chars`.
std::string_view Trim(std::string_view s, std::string_view chars);

// Splits at `separator`, trims each part, drops empty parts: "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(std::string_view s, char separator = ',');

// Splits at every `separator`, keeping the parts as they are: "a..b" -> {"a", "", "b"}. With
// `skip_blank`, parts that are empty or only whitespace are dropped (the others keep theirs).
std::vector<std::string_view> Split(std::string_view s, char separator, bool skip_blank = false);

// Splits at the first `separator`: {before, after}; `after` is empty when there is none.
std::pair<std::string_view, std::string_view> SplitOnce(std::string_view s, char separator);

// The parts with `separator` between them.
std::string Join(const std::vector<std::string>& parts, std::string_view separator);

// `c` with A-Z mapped to a-z; every other byte (UTF-8 included) unchanged.
constexpr char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether `a` and `b` are equal but for ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Parses a whole decimal integer into a 32- or 64-bit `T` (absl::SimpleAtoi: optional sign,
// surrounding whitespace allowed, no overflow); false and `*out` unspecified otherwise.
template <typename T>
bool ParseInt(std::string_view s, T* out) {
  return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), out);
}

}  // namespace steppewatch::strings
