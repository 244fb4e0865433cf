# Fault-injection scenarios (tests/RELIABILITY.md): steppewatchd and `steppewatch broker`
# as separate processes, faults through the broker's control FIFO, results checked against
# `steppewatch match` with confluent-kafka (Debian's, only visible to /usr/bin/python3).
# SW_SEED picks the random kill points; SW_ITEMS the input size.
foreach(method
    test_broker_down_then_up
    test_request_errors_on_produce_fetch_and_commit
    test_high_broker_latency
    test_sigkill_at_seeded_random_points_then_restart
    test_sigterm_under_load_drains_and_restart_has_no_duplicates
    test_group_of_three_one_killed_one_added
    test_produce_errors_stall_commits_then_recover
    test_group_of_three_one_killed_recovery_time
    test_rule_reload_during_load_good_then_broken_pack)
  add_test(NAME reliability.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fault_test.py FaultTest.${method})
  set_tests_properties(reliability.${method} PROPERTIES
      LABELS "integration;reliability" TIMEOUT 400 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()

# Kafka TLS, mTLS and SASL settings reach librdkafka (RELIABILITY.md, Security): the real steppewatchd
# against a TLS listener on loopback with throw-away certificates made by `openssl`.
foreach(method
    test_tls_with_the_right_ca_completes_the_handshake_then_kafka_requests
    test_wrong_ca_logs_verification_error_keeps_retrying_and_stays_live
    test_mtls_presents_the_client_certificate_with_an_encrypted_key
    test_sasl_plain_over_tls_sends_the_password_from_its_file_and_never_logs_it
    test_sasl_scram_sha512_over_tls_with_the_password_file_from_the_environment
    test_oauthbearer_oidc_is_refused_at_start_by_this_librdkafka_build)
  add_test(NAME reliability.security.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/kafka_security_test.py
                   KafkaSecurityTest.${method})
  set_tests_properties(reliability.security.${method} PROPERTIES
      LABELS "integration;reliability" TIMEOUT 300 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()

# The soak run: steady load plus periodic faults for 30 minutes (tests/RELIABILITY.md). On
# demand only: -DSTEPPEWATCH_SOAK=ON, then `ctest -L soak`; the default suite never sees it.
option(STEPPEWATCH_SOAK "Register the 30-minute soak run as ctest test reliability.soak" OFF)
if(STEPPEWATCH_SOAK)
  add_test(NAME reliability.soak
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/soak.py --minutes 30 --rate 2000)
  # 30 minutes of load, plus the catch-up and final check.
  set_tests_properties(reliability.soak PROPERTIES
      LABELS "soak" TIMEOUT 3000 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endif()

# Hostile input through the daemon (tests/RELIABILITY.md "Hostile input"): one ctest
# test per row. The 100 MB and zip-bomb rows move 100-200 MB through the mock broker (slow on a
# shared 2-core runner, hence the timeout; peak memory stays below 1 GB per process).
foreach(method
    test_01_deeply_nested_json
    test_02_100_mb_payload_is_dead_lettered_as_too_large
    test_03_nul_bytes
    test_04_overlong_utf8
    test_05_lone_surrogates
    test_06_utf8_bom
    test_07_one_million_matching_words
    test_07b_pipeline_max_hits_per_item_is_honoured
    test_08_pathological_rules_are_refused_on_reload_and_the_running_pack_stays
    test_08b_pack_over_200k_distinct_terms_is_refused
    test_09_zip_bomb_gzip
    test_09_zip_bomb_zstd
    test_09b_zstd_bomb_above_receive_message_max_bytes_is_dead_lettered
    test_10_matching_item_with_a_1_mb_title_does_not_stall)
  add_test(NAME reliability.hostile.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/hostile_test.py HostileTest.${method})
  set_tests_properties(reliability.hostile.${method} PROPERTIES
      LABELS "integration;reliability" TIMEOUT 600 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()

# The daemon's lifecycle (tests/RELIABILITY.md, "Lifecycle"): signals before ready at 0/1/5/20 ms,
# a closed log pipe, readiness against unreachable brokers, --reload-and-wait on a refused pack,
# SIGTERM during a broker outage within the stop budget.
foreach(method
    SignalsBeforeReadyTest.test_no_thread_before_main
    SignalsBeforeReadyTest.test_sigterm
    SignalsBeforeReadyTest.test_sigint
    SignalsBeforeReadyTest.test_sighup
    SignalsBeforeReadyTest.test_sigpipe
    LogPipeTest.test_log_pipe_closed_daemon_survives_and_counts_write_errors
    ReadinessTest.test_unresolvable_broker_is_not_ready
    ReadinessTest.test_closed_broker_port_is_not_ready
    ReadinessTest.test_ready_once_the_group_assigned_partitions_and_not_during_an_outage
    ReloadAndWaitTest.test_refused_pack_fails_the_reload_and_the_gauge_says_so
    StopBudgetTest.test_sigterm_during_broker_outage_exits_within_the_budget_and_loses_nothing)
  add_test(NAME reliability.lifecycle.${method}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/lifecycle_test.py ${method})
  set_tests_properties(reliability.lifecycle.${method} PROPERTIES
      LABELS "integration;reliability" TIMEOUT 400 ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
endforeach()
