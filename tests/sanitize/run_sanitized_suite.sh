#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on),
# MPI tests included. Builds a separate tree (default build-asan) with NEUROLENS_SANITIZE=ON and
# no benchmarks, then runs its ctest. Excluded: the Slurm cluster test, the fuzz campaign
# fuzz_parsers (its own clang sanitizer build, tests/fuzz/run_fuzzers.sh; the seed and regression
# replays FuzzSeeds.* / FuzzRegressions.* do run here) and the Python / browser tests (they run
# an interpreter that is not built with ASan).
#   bash tests/sanitize/run_sanitized_suite.sh            # build + test
#   NEUROLENS_ASAN_DIR=build-asan NEUROLENS_JOBS=2 bash tests/sanitize/run_sanitized_suite.sh
# Needs the packages of .ci/setup (g++ ships libasan / libubsan). Exit status: ctest's.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build_dir=${NEUROLENS_ASAN_DIR:-build-asan}
jobs=${NEUROLENS_JOBS:-$(nproc)}
ctest_jobs=${NEUROLENS_CTEST_JOBS:-$jobs}

if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEUROLENS_SANITIZE=ON \
        -DNEUROLENS_BUILD_BENCH=OFF >/dev/null
fi
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
      -LE 'slurm|python|chromium|browser' -E '^fuzz_parsers$' "$@"
