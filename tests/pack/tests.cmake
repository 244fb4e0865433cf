# The default rule pack (config/rules/central-asia): its embedded tests, and the acceptance
# check that the article the product was conceived from gets exactly its expected tags. The
# seed-article test needs ../shared/corpus and exits 77 (reported as skipped) without it.
set(_pack_dir ${PROJECT_SOURCE_DIR}/config/rules/central-asia)

add_test(NAME pack.central_asia.rules_test
         COMMAND $<TARGET_FILE:steppewatch> rules test ${_pack_dir})
set_tests_properties(pack.central_asia.rules_test PROPERTIES LABELS "unit;pack" TIMEOUT 120)

add_test(NAME pack.central_asia.seed_article
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/seed_article_test.py
                 --steppewatch $<TARGET_FILE:steppewatch> --pack ${_pack_dir}
                 --source-dir ${PROJECT_SOURCE_DIR})
set_tests_properties(pack.central_asia.seed_article PROPERTIES
    LABELS "unit;pack" TIMEOUT 120 SKIP_RETURN_CODE 77)

# Severity: an event reported as news pages (a high match, an alert on the urgent topic); a
# mention of one (an opinion column, an anniversary, an accident) does not.
add_test(NAME pack.central_asia.severity
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/severity_test.py
                 --steppewatch $<TARGET_FILE:steppewatch> --pack ${_pack_dir}
                 --source-dir ${PROJECT_SOURCE_DIR})
set_tests_properties(pack.central_asia.severity PROPERTIES LABELS "unit;pack" TIMEOUT 120)
