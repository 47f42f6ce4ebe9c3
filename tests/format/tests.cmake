# clang-format check of every tracked C++ file (tests/format/check_format.sh); skipped (77) when
# clang-format is missing.
add_test(NAME format_clang_format
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_format.sh)
set_tests_properties(format_clang_format PROPERTIES LABELS "format" TIMEOUT 300
                     SKIP_RETURN_CODE 77)
