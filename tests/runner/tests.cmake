# No study, engine or subcommand source sees <mpi.h> (preprocessed with its compile flags).
add_test(NAME runner_no_mpi_in_studies
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/no_mpi_in_studies_test.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR})
set_tests_properties(runner_no_mpi_in_studies PROPERTIES LABELS "runner_studies;runner_engine;runner_cli")
