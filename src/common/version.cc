#include "steppewatch/common/version.h"

#include "steppewatch/build_info.h"
#include "steppewatch/git_revision.h"

namespace steppewatch {

const char* Version() { return kVersion; }

const char* Revision() { return kGitRevision; }

}  // namespace steppewatch
