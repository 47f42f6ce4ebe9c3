#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on), MPI tests
# included, in the clang sanitizer tree that the fuzzers share (tests/sanitize/sanitizer_tree.sh,
# default build-san: one sanitizer compile for both). Runs every test that can find memory or
# undefined-behaviour bugs in our code: the unit tests of io, stats, model and runner, the MPI
# tests at 1-4 ranks, the fuzz seed and regression replays, and the end-to-end runs of every
# study and command. Not repeated here (already run in the normal tree, and slow or not ours):
# the Slurm cluster test, the Python / browser tests (uninstrumented interpreters), and the long
# end-to-end repetitions whose code paths the shorter runs already cover:
#   StopAtCheckpointThenResumeEqualsUninterrupted (a whole run, stopped, resumed, run again;
#   RunFaults' other tests and the resume-state tests cover its code), SameResultsOnOneToFourRanks
#   (every study at 1-4 ranks; each study's own test compares 1 and 3 ranks),
#   ExamplesStudy's OneTwoAndThreeRanksGiveTheSameFile and MatchesTheNumpyReferenceOnCaptured-
#   Activations (its other tests run the same code on 1 and 2 ranks under the sanitizers).
#   bash tests/sanitize/run_sanitized_suite.sh            # build + test
#   NEUROLENS_ASAN_DIR=build-san NEUROLENS_JOBS=2 bash tests/sanitize/run_sanitized_suite.sh
# Needs the packages of .ci/setup (clang, libclang-rt-14-dev). Exit status: ctest's (77 when clang
# is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build_dir=${NEUROLENS_ASAN_DIR:-build-san}
jobs=${NEUROLENS_JOBS:-$(nproc)}
ctest_jobs=${NEUROLENS_CTEST_JOBS:-$jobs}

source tests/sanitize/sanitizer_tree.sh
configure_sanitizer_tree "$build_dir"
echo "[sanitize] building $build_dir ($jobs jobs)"
cmake --build "$build_dir" -j "$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^-- ' || true
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "[sanitize] error: build failed" >&2; exit 1; }

# Tests that use the embedded demo model or the npm data need .ci/setup to have run once.
# LeakSanitizer is on by default for every test executable; the neurolens binary and the MPI
# test main turn it off by default (__asan_default_options): Open MPI's plugins leak inside
# dlclose()d modules at exit, which no suppression can name. So ASAN_OPTIONS must not force
# detect_leaks=1 here.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitize/lsan.supp:print_suppressions=0}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# Open MPI's shared-memory transport maps segments that ASan cannot track; vader is fine, but
# its single-copy mechanism (CMA) is not needed here.
export OMPI_MCA_btl_vader_single_copy_mechanism=none

echo "[sanitize] running ctest in $build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j "$ctest_jobs" --timeout 1800 \
      -LE '^(slurm|python|report|format)$' \
      -E 'StopAtCheckpointThenResumeEqualsUninterrupted|SameResultsOnOneToFourRanks|OneTwoAndThreeRanksGiveTheSameFile|MatchesTheNumpyReferenceOnCapturedActivations' "$@"
