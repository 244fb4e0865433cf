# steppewatchd and fatal Kafka errors / crash recovery (Python, the real daemon against
# `steppewatch broker` in its own process; Debian's confluent-kafka is visible only to
# /usr/bin/python3). One ctest test per method, so failures are reported by name.
foreach(method
    test_repeated_fatal_producer_errors_exit_3_then_nothing_lost
    test_sigkill_then_restart_recovery_time)
  add_test(NAME kafka.daemon_recovery.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/daemon_recovery_test.py
                   DaemonRecoveryTest.${method})
  set_tests_properties(kafka.daemon_recovery.${method} PROPERTIES
      LABELS "integration;external" TIMEOUT 300 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()
