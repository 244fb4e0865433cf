# Golden-file tests of the steppewatch CLI (tests/cli/golden_test.sh, tests/cli/golden/).
set(steppewatch_cli_golden_cases
    help no-command unknown-command rules-help rules-no-subcommand rules-bad-option
    rules-check-good rules-check-bad-syntax rules-check-missing-dir rules-test-good
    rules-test-failing rules-test-one-rule match-help match-no-rules match-bad-threads
    match-ordered match-stdin match-demo match-demo-threads match-invalid-pack explain
    explain-unknown-rule stories-help stories-backtest stories-bad-input stories-bad-flag)
foreach(case ${steppewatch_cli_golden_cases})
  add_test(NAME cli.golden.${case}
           COMMAND ${PROJECT_SOURCE_DIR}/tests/cli/golden_test.sh $<TARGET_FILE:steppewatch> ${case})
  set_tests_properties(cli.golden.${case} PROPERTIES LABELS unit)
endforeach()
