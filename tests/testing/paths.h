// Paths that tests need: the source tree, the build tree, the shared corpus (optional), and a
// fresh temporary directory per test.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace steppewatch::testing {

// Returns the project's source directory (where CMakeLists.txt is).
std::filesystem::path SourceDir();

// Returns the CMake build directory the test was built in.
std::filesystem::path BinaryDir();

// Returns ../shared/corpus relative to the source dir (or $STEPPEWATCH_CORPUS_DIR) when it
// exists. Tests that need it call GTEST_SKIP() with a message when this is nullopt: a user who
// clones the repository alone has no ../shared.
std::optional<std::filesystem::path> SharedCorpusDir();

// Creates and returns a new empty directory under the system temp dir, unique per call.
std::filesystem::path MakeTempDir(const std::string& prefix = "steppewatch-test");

}  // namespace steppewatch::testing
