# Alerts rendered by the real CLI (`steppewatch match`, the same ItemProcessor as the daemon)
# validated against config/schema/alert.v1.schema.json by Debian's python3-jsonschema.
add_test(NAME alert.schema
         COMMAND ${CMAKE_COMMAND}
                 -DSTEPPEWATCH=$<TARGET_FILE:steppewatch>
                 -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -DWORK_DIR=${PROJECT_BINARY_DIR}/tests/alert
                 -P ${PROJECT_SOURCE_DIR}/tests/alert/alert_schema_test.cmake)
set_tests_properties(alert.schema PROPERTIES LABELS unit)
