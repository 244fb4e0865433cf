// Paths that tests need: the source tree, the build tree and a fresh temporary directory per
// test.
#pragma once

#include <filesystem>
#include <string>

namespace steppewatch::testing {

// Returns the project's source directory (where CMakeLists.txt is).
std::filesystem::path SourceDir();

// Returns the CMake build directory the test was built in.
std::filesystem::path BinaryDir();

// Creates and returns a new empty directory under the system temp dir, unique per call.
std::filesystem::path MakeTempDir(const std::string& prefix = "steppewatch-test");

}  // namespace steppewatch::testing
