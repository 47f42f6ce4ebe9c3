#!/usr/bin/env bash
# Configures the one sanitizer build tree shared by the fuzzers (tests/fuzz/run_fuzzers.sh) and
# the ASan + UBSan test suite (tests/sanitize/run_sanitized_suite.sh): clang, AddressSanitizer +
# UndefinedBehaviorSanitizer (+ LeakSanitizer), libFuzzer coverage on every object
# (-fsanitize=fuzzer-no-link) and the fuzz targets (NEUROLENS_FUZZ=ON), no benchmarks, -O1 with
# line tables. One tree instead of two halves the sanitizer compile time of CI.
#   source tests/sanitize/sanitizer_tree.sh && configure_sanitizer_tree build-san
# Exits 77 (ctest: skipped) when clang or its libFuzzer runtime is missing.
configure_sanitizer_tree() {
  local dir=$1
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "[sanitize] skipped: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 77
  fi
  local probe
  probe=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe/p.cpp"
  if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "[sanitize] skipped: clang++ cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev)" >&2
    exit 77
  fi
  rm -rf "$probe"
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    echo "[sanitize] configuring $dir (clang, ASan + UBSan + libFuzzer coverage)"
    CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
      -DNEUROLENS_FUZZ=ON -DNEUROLENS_SANITIZE=ON -DNEUROLENS_NATIVE=OFF \
      -DNEUROLENS_BUILD_BENCH=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
      -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
  fi
}
