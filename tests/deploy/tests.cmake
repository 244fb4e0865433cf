# Deployment artefacts (deploy/): offline checks of the systemd unit, the install layout and
# package, the Kubernetes manifests and the container files. Exit code 77 means "tool missing
# here": reported as skipped, never as passed.
set(_deploy_dir ${PROJECT_SOURCE_DIR}/tests/deploy)

add_test(NAME deploy.systemd_unit
         COMMAND bash ${_deploy_dir}/systemd_unit_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.systemd_unit PROPERTIES LABELS "unit;deploy" SKIP_RETURN_CODE 77
                     TIMEOUT 60)
