#include "testing/paths.h"

#include <stdlib.h>

#include <cstdlib>

namespace steppewatch::testing {

std::filesystem::path SourceDir() { return STEPPEWATCH_SOURCE_DIR; }

std::filesystem::path BinaryDir() { return STEPPEWATCH_BINARY_DIR; }

std::optional<std::filesystem::path> SharedCorpusDir() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("STEPPEWATCH_CORPUS_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = SourceDir().parent_path() / "shared" / "corpus";
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return dir;
}

std::filesystem::path MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();  // Cannot happen outside a broken /tmp.
  return tmpl;
}

}  // namespace steppewatch::testing
