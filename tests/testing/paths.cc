#include "testing/paths.h"

#include <stdlib.h>

#include <cstdlib>
#include <string>

namespace steppewatch::testing {

std::filesystem::path SourceDir() { return STEPPEWATCH_SOURCE_DIR; }

std::filesystem::path BinaryDir() { return STEPPEWATCH_BINARY_DIR; }

std::filesystem::path MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();  // Cannot happen outside a broken /tmp.
  return tmpl;
}

}  // namespace steppewatch::testing
