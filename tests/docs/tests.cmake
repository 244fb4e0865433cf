# Every steppewatch / steppewatchd command quoted in the docs and runbooks parses
# (tests/docs/docs_commands_test.py).
add_test(NAME docs.quoted_commands_parse
         COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/docs/docs_commands_test.py
                 ${PROJECT_SOURCE_DIR} $<TARGET_FILE:steppewatch> $<TARGET_FILE:steppewatchd>)
set_tests_properties(docs.quoted_commands_parse PROPERTIES LABELS unit TIMEOUT 300)
