# Script integration tests (Python, real kcat and confluent-kafka against `steppewatch broker` and
# steppewatchd as separate processes). Debian's confluent-kafka is visible only to
# /usr/bin/python3. Each test method is one ctest test so that failures are reported by name.
foreach(method
    test_kcat_in_kcat_and_python_out
    test_malformed_items_dead_lettered_and_later_items_processed
    test_alerts_are_exactly_the_offline_matches
    test_sigterm_mid_stream_then_restart_loses_nothing
    test_readme_main_command
    test_demo_waits_for_the_stories_role_before_it_ends)
  add_test(NAME integration.external_clients.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/external_clients_test.py
                   ExternalClientsTest.${method})
  set_tests_properties(integration.external_clients.${method} PROPERTIES
      LABELS "integration;external" TIMEOUT 300 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()
