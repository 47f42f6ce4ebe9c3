# neurolens report rendered in headless Chromium for every demo study (Debian chromium,
# python3-pil); tests/report/check_reports.py.
add_test(NAME report_chromium
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_reports.py
                 $<TARGET_FILE:neurolens> ${PROJECT_SOURCE_DIR})
set_tests_properties(report_chromium PROPERTIES LABELS "report" TIMEOUT 600
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
# neurolens site opened from file:// in headless Chromium: no console errors, the index's sort and
# search (URL hash) give the expected row order, neuron links resolve, collapsed windows expand;
# screenshots under build/site-chromium (tests/report/check_site.py).
add_test(NAME site_chromium
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_site.py
                 $<TARGET_FILE:neurolens> ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/site-chromium)
set_tests_properties(site_chromium PROPERTIES LABELS "report" TIMEOUT 600
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
