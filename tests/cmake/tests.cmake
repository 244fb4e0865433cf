# The build's own options, as a user sets them on the cmake command line.
# STEPPEWATCH_SANITIZE=ON must stop the configure with a message that says what to write, not
# reach the compiler as -fsanitize=ON.
add_test(NAME build.sanitize_option_rejects_on
         COMMAND ${CMAKE_COMMAND} -S ${PROJECT_SOURCE_DIR}
                 -B ${PROJECT_BINARY_DIR}/tests/cmake/sanitize-on -G Ninja
                 -DSTEPPEWATCH_SANITIZE=ON -DSTEPPEWATCH_TESTS=OFF -DSTEPPEWATCH_BENCHMARKS=OFF)
set_tests_properties(build.sanitize_option_rejects_on PROPERTIES
    LABELS unit TIMEOUT 120 WILL_FAIL FALSE
    PASS_REGULAR_EXPRESSION "STEPPEWATCH_SANITIZE lists sanitizers")

# The thread-safety annotations (include/steppewatch/common/mutex.h) are checked by clang's
# -Wthread-safety in the `tsa` preset. These two compile a probe with the same flags: correct uses
# must compile, and reading or writing a guarded field without its lock (or under a reader lock)
# must be an error naming the mutex, so the check cannot silently stop working (e.g. a wrapper
# that loses its ABSL_LOCKABLE). Only where clang is installed (.ci/install-deps installs it).
find_program(STEPPEWATCH_CLANGXX clang++)
if(STEPPEWATCH_CLANGXX)
  set(_tsa_probe ${STEPPEWATCH_CLANGXX} -std=c++20 -fsyntax-only -Wthread-safety
      -Werror=thread-safety -I${PROJECT_SOURCE_DIR}/include
      ${PROJECT_SOURCE_DIR}/tests/cmake/thread_safety_probe.cc)
  add_test(NAME build.thread_safety_accepts_guarded_access COMMAND ${_tsa_probe})
  add_test(NAME build.thread_safety_rejects_unguarded_access
           COMMAND ${_tsa_probe} -DSW_PROBE_UNGUARDED)
  set_tests_properties(build.thread_safety_accepts_guarded_access PROPERTIES LABELS unit TIMEOUT 60)
  # All three misuses must be reported: each regular expression must match.
  set_tests_properties(build.thread_safety_rejects_unguarded_access PROPERTIES
      LABELS unit TIMEOUT 60 WILL_FAIL FALSE
      PASS_REGULAR_EXPRESSION "reading variable 'value_' requires holding mutex 'mu_'.*calling function 'AddLocked' requires holding mutex 'mu_' exclusively.*writing variable 'shared_value_' requires holding mutex 'shared_mu_' exclusively")
endif()
