# Writes OUT (a C++ header) with the source tree's `git describe` as steppewatch::kGitRevision,
# or REVISION when given (a build without .git that knows it: the Docker build's
# --build-arg STEPPEWATCH_REVISION), or "unknown" without either (a source tarball). Run at every
# build by the sw_git_revision target; OUT is rewritten only when the revision changed, so an
# unchanged tree recompiles nothing.
# Usage: cmake -DSOURCE_DIR=... -DOUT=... [-DREVISION=...] -P git_revision.cmake
set(revision "unknown")
find_program(GIT_EXECUTABLE git)
if(REVISION)
  set(revision "${REVISION}")
elseif(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} describe --always --dirty --tags
                  OUTPUT_VARIABLE described RESULT_VARIABLE rc ERROR_QUIET
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND NOT described STREQUAL "")
    set(revision "${described}")
  endif()
endif()
set(content "// Generated at build time by cmake/git_revision.cmake: do not edit.\n#pragma once\nnamespace steppewatch {\ninline constexpr char kGitRevision[] = \"${revision}\";\n}  // namespace steppewatch\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUT} "${content}")
endif()
