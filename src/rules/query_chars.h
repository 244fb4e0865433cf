// The characters of the query language (private to the rules stage): its white space and what
// ends a bare word, shared by the lexer (query.cc) and the term strings and printer
// (query_text.cc), so that what one writes the other reads back.
//
// Thread-safe: pure functions.
#pragma once

#include <string_view>

#include "steppewatch/common/strings.h"

namespace steppewatch::rules::internal {

// ASCII white space as the query language counts it (a rule file's line ends included).
inline constexpr std::string_view kQuerySpace = " \t\n\r";

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// `s` without leading and trailing query white space.
inline std::string_view StripWs(std::string_view s) { return strings::Trim(s, kQuerySpace); }

// Whether `c` ends a bare word (a term, a set name, a lang:/source: value).
inline bool IsWordStop(char c) {
  return IsSpace(c) || c == '(' || c == ')' || c == '"' || c == ',';
}

}  // namespace steppewatch::rules::internal
