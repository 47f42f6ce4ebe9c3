# Python readers of the results file (docs/python.md): h5py and xarray (Debian python3-h5py,
# python3-xarray, python3-h5netcdf, python3-netcdf4), with /usr/bin/python3 (not a pyenv one).
add_test(NAME python_results_xarray
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_results_python.py
                 $<TARGET_FILE:neurolens> ${PROJECT_SOURCE_DIR})
set_tests_properties(python_results_xarray PROPERTIES LABELS "python" TIMEOUT 300
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
# neurolens export (both formats) loaded back field by field: OpenAI NeuronRecord dataclasses,
# Neuronpedia feature / activation rows (h5py, numpy); tests/python/test_examples_export.py.
add_test(NAME python_examples_export
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_examples_export.py
                 $<TARGET_FILE:neurolens> ${PROJECT_SOURCE_DIR})
set_tests_properties(python_examples_export PROPERTIES LABELS "python" TIMEOUT 300
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
