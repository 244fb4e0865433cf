// Version strings of steppewatch and of the libraries it was linked against, for `--version`,
// logs and the build-info metric.
#pragma once

#include <string>

namespace steppewatch {

// Returns steppewatch's own version, e.g. "0.1.0".
const char* Version();

// Returns the source's `git describe --always --dirty --tags` at build time (e.g.
// "294d026-dirty"), or "unknown" when built without git.
const char* Revision();

// Returns "librdkafka 2.0.2, Hyperscan 5.4.0 ..., simdjson 3.0.1, ..." as read at run time
// where the library can tell.
std::string LibraryVersions();

}  // namespace steppewatch
