# Fault-injection scenarios (issue 8, tests/RELIABILITY.md): steppewatchd and `steppewatch broker`
# as separate processes, faults through the broker's control FIFO, results checked against
# `steppewatch match` with confluent-kafka (Debian's, only visible to /usr/bin/python3).
# SW_SEED picks the random kill points; SW_ITEMS the input size.
set(sw_rel_env "STEPPEWATCH_BUILD_DIR=${PROJECT_BINARY_DIR};STEPPEWATCH_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
foreach(method
    test_broker_down_then_up
    test_request_errors_on_produce_fetch_and_commit
    test_high_broker_latency
    test_sigkill_at_seeded_random_points_then_restart
    test_sigterm_under_load_drains_and_restart_has_no_duplicates
    test_group_of_three_one_killed_one_added
    test_alert_topic_unavailable_then_back
    test_rule_reload_during_load_good_then_broken_pack)
  add_test(NAME reliability.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fault_test.py FaultTest.${method})
  set_tests_properties(reliability.${method} PROPERTIES
      LABELS "integration;reliability" TIMEOUT 400 ENVIRONMENT "${sw_rel_env}")
endforeach()
