# Runs `steppewatch match` over tests/cli/data/items.jsonl with the good test pack, then
# validates every alert with tests/alert/validate_alerts.py (real jsonschema).
file(MAKE_DIRECTORY ${WORK_DIR})
set(alerts ${WORK_DIR}/schema-alerts.ndjson)
execute_process(
  COMMAND ${STEPPEWATCH} match --rules ${SOURCE_DIR}/tests/data/rules/good --threads 2
          --output ${alerts} --dead-letters ${WORK_DIR}/schema-dead.ndjson
          ${SOURCE_DIR}/tests/cli/data/items.jsonl
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "steppewatch match exited ${rc}")
endif()
execute_process(
  COMMAND /usr/bin/python3 ${SOURCE_DIR}/tests/alert/validate_alerts.py
          ${SOURCE_DIR}/config/schema/alert.v1.schema.json ${alerts}
          ${SOURCE_DIR}/tests/cli/data/items.jsonl 5
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "alerts do not validate against the schema")
endif()
