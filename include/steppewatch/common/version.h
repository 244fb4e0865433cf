// Version strings of steppewatch itself, for `--version`, logs and the build-info metric (the
// libraries' versions: steppewatch/versions/library_versions.h).
#pragma once

namespace steppewatch {

// Returns steppewatch's own version, e.g. "0.1.0".
const char* Version();

// Returns the source's `git describe --always --dirty --tags` at build time (e.g.
// "294d026-dirty"), or "unknown" when built without git.
const char* Revision();

}  // namespace steppewatch
