# Observability script tests: the real promtool and Prometheus against the real daemon
# and the files in deploy/. Labels: "observability", plus "integration" for those that start
# steppewatchd. Exit code 77 = skipped (daemon without --embedded, or prometheus not installed).
set(obs_dir ${PROJECT_SOURCE_DIR}/tests/observability)

add_test(NAME observability.promtool_test_rules
         COMMAND /usr/bin/promtool test rules
                 ${PROJECT_SOURCE_DIR}/deploy/prometheus/steppewatch-alerts.test.yaml)
add_test(NAME observability.promtool_check_rules
         COMMAND /usr/bin/promtool check rules
                 ${PROJECT_SOURCE_DIR}/deploy/prometheus/steppewatch-alerts.yaml)
add_test(NAME observability.promtool_check_config
         COMMAND /usr/bin/promtool check config
                 ${PROJECT_SOURCE_DIR}/deploy/prometheus/prometheus.yml)
add_test(NAME observability.dashboard_structure
         COMMAND /usr/bin/python3 ${obs_dir}/check_dashboard.py
                 ${PROJECT_SOURCE_DIR}/deploy/grafana/steppewatch.json)
# The stories role's alert rules and the analysts' Situation dashboard.
add_test(NAME observability.promtool_test_stories_rules
         COMMAND /usr/bin/promtool test rules
                 ${PROJECT_SOURCE_DIR}/deploy/prometheus/steppewatch-stories-alerts.test.yaml)
add_test(NAME observability.promtool_check_stories_rules
         COMMAND /usr/bin/promtool check rules
                 ${PROJECT_SOURCE_DIR}/deploy/prometheus/steppewatch-stories-alerts.yaml)
add_test(NAME observability.situation_dashboard_structure
         COMMAND /usr/bin/python3 ${obs_dir}/check_dashboard.py
                 ${PROJECT_SOURCE_DIR}/deploy/grafana/situation.json)
set_tests_properties(observability.promtool_test_rules observability.promtool_check_rules
                     observability.promtool_check_config observability.dashboard_structure
                     observability.promtool_test_stories_rules
                     observability.promtool_check_stories_rules
                     observability.situation_dashboard_structure
                     PROPERTIES LABELS "unit;observability" TIMEOUT 60)

add_test(NAME observability.promtool_check_metrics_daemon
         COMMAND /usr/bin/python3 ${obs_dir}/check_exposition_test.py
                 $<TARGET_FILE:steppewatchd> ${PROJECT_SOURCE_DIR})
add_test(NAME observability.prometheus_scrapes_daemon
         COMMAND /usr/bin/python3 ${obs_dir}/prometheus_integration_test.py
                 $<TARGET_FILE:steppewatchd> ${PROJECT_SOURCE_DIR})
set_tests_properties(observability.promtool_check_metrics_daemon
                     observability.prometheus_scrapes_daemon
                     PROPERTIES LABELS "integration;observability" TIMEOUT 300
                                SKIP_RETURN_CODE 77
                                ENVIRONMENT "${STEPPEWATCH_SCRIPT_ENV}")
