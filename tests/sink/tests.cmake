# Alerts rendered by the real CLI (`steppewatch match`, the same ItemProcessor as the daemon)
# validated against config/schema/alert.v1.schema.json by Debian's python3-jsonschema.
add_test(NAME sink.alert_schema
         COMMAND ${CMAKE_COMMAND}
                 -DSTEPPEWATCH=$<TARGET_FILE:steppewatch>
                 -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -DWORK_DIR=${PROJECT_BINARY_DIR}/tests/sink
                 -P ${PROJECT_SOURCE_DIR}/tests/sink/alert_schema_test.cmake)
set_tests_properties(sink.alert_schema PROPERTIES LABELS unit)
