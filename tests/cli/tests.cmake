# Golden-file tests of the steppewatch CLI (tests/cli/golden_test.sh, tests/cli/golden/).
set(steppewatch_cli_golden_cases
    help no-command unknown-command rules-help rules-no-subcommand rules-bad-option
    rules-check-good rules-check-bad-syntax rules-check-missing-dir rules-test-good
    rules-test-failing rules-test-one-rule rules-test-two-rules rules-test-unknown-rule
    rules-check-warnings rules-check-strict rules-check-strict-clean rules-check-undefined-set
    rules-check-bad-regex typo-command match-typo-option match-repeated-option
    feed-repeated-property match-help
    match-no-rules match-bad-threads match-ordered match-stdin match-demo match-demo-threads
    match-invalid-pack match-summary match-compact match-cache explain explain-unknown-rule stories-help
    stories-backtest stories-max-keys stories-bad-input stories-bad-flag stories-hole
    match-threads-agree)
foreach(case ${steppewatch_cli_golden_cases})
  add_test(NAME cli.golden.${case}
           COMMAND ${PROJECT_SOURCE_DIR}/tests/cli/golden_test.sh $<TARGET_FILE:steppewatch> ${case})
  set_tests_properties(cli.golden.${case} PROPERTIES LABELS unit)
endforeach()

# `steppewatch tail` against `steppewatch broker` in its own process, with kcat as the producer.
foreach(method test_shows_url_language_and_marks_the_matched_words
               test_warns_about_a_topic_that_does_not_exist)
  add_test(NAME cli.tail.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/tail_test.py TailTest.${method})
  set_tests_properties(cli.tail.${method} PROPERTIES
      LABELS unit TIMEOUT 120
      ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()
