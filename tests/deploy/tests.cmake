# Deployment artefacts (deploy/): offline checks of the systemd unit, the install layout and
# package, the Kubernetes manifests and the container files. Exit code 77 means "tool missing
# here": reported as skipped, never as passed.
set(_deploy_dir ${PROJECT_SOURCE_DIR}/tests/deploy)

add_test(NAME deploy.systemd_unit
         COMMAND bash ${_deploy_dir}/systemd_unit_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.systemd_unit PROPERTIES LABELS "unit;deploy" SKIP_RETURN_CODE 77
                     TIMEOUT 60)

add_test(NAME deploy.kubernetes
         COMMAND bash ${_deploy_dir}/kubernetes_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
# Renders and type-checks 3 kustomizations: a few seconds of CPU (more on a loaded machine).
# Both npm-based checks install into deploy/kubernetes/validate/node_modules: two `npm ci` at once
# in one folder fail with ENOTEMPTY, so they hold one lock.
set_tests_properties(deploy.kubernetes PROPERTIES LABELS "unit;deploy" SKIP_RETURN_CODE 77
                     TIMEOUT 300 RESOURCE_LOCK npm_validate_dir)

add_test(NAME deploy.prometheusrule_matches_alerts
         COMMAND /usr/bin/python3 ${_deploy_dir}/prometheusrule.py ${PROJECT_SOURCE_DIR} --check)
set_tests_properties(deploy.prometheusrule_matches_alerts PROPERTIES LABELS "unit;deploy"
                     TIMEOUT 60)

add_test(NAME deploy.docker_and_compose
         COMMAND bash ${_deploy_dir}/docker_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.docker_and_compose PROPERTIES LABELS "unit;deploy" SKIP_RETURN_CODE 77
                     TIMEOUT 120 RESOURCE_LOCK npm_validate_dir)

# Needs the built binaries; cpack adds a few seconds. Not in sanitizer builds: their binaries
# link the sanitizer runtimes, which no release package depends on.
if(NOT STEPPEWATCH_SANITIZE)
  add_test(NAME deploy.packaging
           COMMAND bash ${_deploy_dir}/packaging_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  set_tests_properties(deploy.packaging PROPERTIES LABELS "packaging;deploy" SKIP_RETURN_CODE 77
                       TIMEOUT 300)
endif()

# The real daemon against a stand-in notify socket: READY, WATCHDOG, RELOADING/READY on SIGHUP
# and on a rules change, STOPPING on SIGTERM (embedded broker; a few seconds).
add_test(NAME deploy.systemd_notify_e2e
         COMMAND /usr/bin/python3 ${_deploy_dir}/systemd_notify_e2e_test.py ${PROJECT_SOURCE_DIR}
                 ${PROJECT_BINARY_DIR})
set_tests_properties(deploy.systemd_notify_e2e PROPERTIES LABELS "integration;deploy" TIMEOUT 300)

# strace of the real daemon against the unit's SystemCallFilter (a few seconds). Not in sanitizer
# builds: their runtimes make calls (e.g. personality) that a release binary does not.
if(NOT STEPPEWATCH_SANITIZE)
  add_test(NAME deploy.syscall_filter
           COMMAND bash ${_deploy_dir}/syscall_filter_test.sh ${PROJECT_SOURCE_DIR}
                   ${PROJECT_BINARY_DIR})
  set_tests_properties(deploy.syscall_filter PROPERTIES LABELS "integration;deploy"
                       SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# The stop budget is kept by the supervisors (TimeoutStopSec, terminationGracePeriodSeconds,
# stop_grace_period above the largest shipped pipeline.shutdown_budget_seconds), the startup
# probe means "ready to work", ExecReload waits for the reload verdict.
add_test(NAME deploy.stop_budget_and_probes
         COMMAND /usr/bin/python3 ${_deploy_dir}/stop_budget_test.py ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.stop_budget_and_probes PROPERTIES LABELS "unit;deploy" TIMEOUT 60)
