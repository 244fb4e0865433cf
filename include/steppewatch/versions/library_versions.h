// The versions of the third-party libraries steppewatch links for its data path (librdkafka,
// Hyperscan, simdjson), for `--version`, the start-up log line and the build-info metric.
//
// A library of its own (sw_versions) so that only what prints them links all three: the common
// library stays free of third-party dependencies, and each stage links what it includes.
// Thread-safe: a pure function.
#pragma once

#include <string>

namespace steppewatch {

// Returns "librdkafka 2.0.2, Hyperscan 5.4.0 ..., simdjson 3.0.1", as read at run time where
// the library can tell (simdjson is header-only: its version is the one compiled in).
std::string LibraryVersions();

}  // namespace steppewatch
