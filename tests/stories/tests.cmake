# The output of `steppewatch stories` (the stage's enriched alerts and spike events) validated
# against config/schema/alert.v1.schema.json and spike.v1.schema.json by Debian's
# python3-jsonschema.
add_test(NAME stories.output_schema
         COMMAND bash -c "set -e; '$<TARGET_FILE:steppewatch>' stories --warmup-days 1 \
--now 2026-01-01T00:00:00Z --output '${PROJECT_BINARY_DIR}/tests/stories-output.ndjson' \
'${PROJECT_SOURCE_DIR}/tests/cli/data/stories-alerts.jsonl'; /usr/bin/python3 \
'${PROJECT_SOURCE_DIR}/tests/stories/validate_stories.py' '${PROJECT_SOURCE_DIR}/config/schema' \
'${PROJECT_BINARY_DIR}/tests/stories-output.ndjson' 70 6")
set_tests_properties(stories.output_schema PROPERTIES LABELS unit)

# The alert parser's differential test reads the parser's private header.
target_include_directories(stories_stage_alert_fields_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(stories_stage_alert_fields_test PRIVATE simdjson::simdjson)

# The batch test reads the enriched alerts back with simdjson's DOM parser.
target_link_libraries(stories_stage_batch_test PRIVATE simdjson::simdjson)

# The fingerprint test checks the sentence key's options path (a private header).
target_include_directories(stories_fingerprint_test PRIVATE ${PROJECT_SOURCE_DIR}/src)

# The bucket scan's test reads the index's private header.
target_include_directories(stories_bucket_scan_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
