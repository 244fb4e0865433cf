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
