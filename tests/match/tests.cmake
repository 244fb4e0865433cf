# The database cache key's test reads the matcher's private header (src/match).
target_include_directories(match_database_key_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(match_database_key_test PRIVATE PkgConfig::HS)
