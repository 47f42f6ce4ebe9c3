# File-system faults of `neurolens run` (tests/faults/fs_faults_test.sh; docs/reliability.md):
#  - faults_output_dir: output directory missing or not writable -> one-line error before any
#    compute (read-only tmpfs as root, chmod 555 otherwise);
#  - faults_disk_full: the output file system fills while the results are written -> one-line
#    error, no file at the output path, the checkpoint written before intact; after freeing
#    space, --resume gives the same results as an uninterrupted run. Needs root (mounts a small
#    tmpfs); skipped (77) with a message otherwise.
foreach(mode output_dir disk_full)
  add_test(NAME faults_${mode}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/fs_faults_test.sh ${mode}
                   $<TARGET_FILE:neurolens> ${PROJECT_SOURCE_DIR})
  set_tests_properties(faults_${mode} PROPERTIES LABELS "faults" TIMEOUT 300 SKIP_RETURN_CODE 77
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
endforeach()
