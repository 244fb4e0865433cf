// Fuzzes the query parser: any input either parses or yields an error with an offset inside the
// query; a parsed query prints to a canonical form that parses again to the same form.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "steppewatch/rules/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view query(reinterpret_cast<const char*>(data), size);
  steppewatch::rules::ParsedQuery parsed = steppewatch::rules::ParseQuery(query);
  if (!parsed.ok()) {
    if (parsed.error.offset > size || parsed.error.message.empty()) std::abort();
    (void)steppewatch::rules::ColumnOf(query, parsed.error.offset);
    return 0;
  }
  std::string canonical = steppewatch::rules::QueryToString(*parsed.root);
  steppewatch::rules::ParsedQuery again = steppewatch::rules::ParseQuery(canonical);
  if (!again.ok() || steppewatch::rules::QueryToString(*again.root) != canonical) std::abort();
  return 0;
}
