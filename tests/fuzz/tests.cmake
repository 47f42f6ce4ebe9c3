# Fuzz targets (libFuzzer) for every parser of outside input; see docs/reliability.md.
#  - In the normal tree: one ctest entry, fuzz_parsers, runs tests/fuzz/run_fuzzers.sh, which
#    builds a second tree with clang (-DNEUROLENS_FUZZ=ON) and runs each target for
#    NEUROLENS_FUZZ_SECONDS (default 30) on a copy of its seed corpus tests/fuzz/corpus/<name>.
#    Skipped (77) when clang or the libFuzzer runtime is missing.
#  - In the fuzz tree (NEUROLENS_FUZZ=ON, clang): the fuzz executables <name>_fuzz.
#  - Both: fuzz_regressions (a gtest, tests/fuzz/regressions_test.cpp, built by tests/CMakeLists)
#    replays every input in tests/fuzz/regressions/ through the real parsers.
set(NEUROLENS_FUZZ_TARGETS safetensors config checkpoint vocab tokenizer tokenizer_json job corpus
                            brown tokens compressed)

if(NEUROLENS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NEUROLENS_FUZZ=ON needs clang (libFuzzer): configure with CXX=clang++")
  endif()
  foreach(name ${NEUROLENS_FUZZ_TARGETS})
    add_executable(${name}_fuzz ${CMAKE_CURRENT_LIST_DIR}/${name}_fuzz.cpp)
    if(name STREQUAL "job")
      target_link_libraries(${name}_fuzz PRIVATE neurolens_runner)
    else()
      target_link_libraries(${name}_fuzz PRIVATE neurolens_model)  # io + model only: quicker build
    endif()
    target_compile_options(${name}_fuzz PRIVATE -fsanitize=fuzzer)
    target_link_options(${name}_fuzz PRIVATE -fsanitize=fuzzer)
    target_compile_definitions(${name}_fuzz PRIVATE NEUROLENS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  endforeach()
  add_custom_target(neurolens_fuzzers)
  foreach(name ${NEUROLENS_FUZZ_TARGETS})
    add_dependencies(neurolens_fuzzers ${name}_fuzz)
  endforeach()
else()
  add_test(NAME fuzz_parsers
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzzers.sh)
  set_tests_properties(fuzz_parsers PROPERTIES LABELS "fuzz" TIMEOUT 2400 RUN_SERIAL TRUE
                       SKIP_RETURN_CODE 77)
endif()
