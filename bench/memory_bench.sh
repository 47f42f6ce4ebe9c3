#!/usr/bin/env bash
# memory_bench.sh — peak memory per rank of `neurolens run`, split into shared and private pages.
# Polls /proc/<pid>/smaps_rollup of every neurolens rank every 0.1 s and keeps the maxima of Rss,
# Pss, Shared_Clean + Shared_Dirty and Private_Clean + Private_Dirty; the run's own
# /run/peak_rss_bytes (getrusage ru_maxrss) is printed beside. The memory-mapped F32 weights are
# file-backed pages: they count in every rank's Rss once touched, but are the same page-cache
# pages on a node (Shared_*, and Pss charges each rank 1/R of them).
# Bound checked: weights + 2 x one batch's working set, where the working set is the forward
# pass's private memory (workspace and GEMM scratch: ForwardPass::private_bytes_for) plus the
# captures (4 B x T x K, K = the analysed neurons), as `neurolens run --dry-run` computes it
# ("memory/rank" line).
# usage: bench/memory_bench.sh BUILD_DIR JOB.ini RANKS [--key=value ...]   (appends to bench/results/memory.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 job=$2 ranks=$3; shift 3
bin=$build/runner/neurolens
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
tmp=${TMPDIR:-/tmp}/neurolens_memory_bench
mkdir -p "$tmp"
plan=$("$bin" run "$job" "$@" --dry-run 2>&1 | grep -E "memory/rank|site|windows" | sed 's/^ *//')
mpirun --oversubscribe --bind-to none -n "$ranks" "$bin" run "$job" "$@" --output="$tmp/out.h5" --overwrite > "$tmp/run.log" 2>&1 &
mp=$!
declare -A rss pss shr prv
while kill -0 "$mp" 2>/dev/null; do
  for pid in $(pgrep -P "$mp" -f "runner/neurolens run" 2>/dev/null; pgrep -f "^$bin run $job" 2>/dev/null); do
    f=/proc/$pid/smaps_rollup
    [ -r "$f" ] || continue
    read -r r p s v < <(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Shared_(Clean|Dirty):/{s+=$2} /^Private_(Clean|Dirty):/{v+=$2} END{print r+0, p+0, s+0, v+0}' "$f" 2>/dev/null || echo "0 0 0 0")
    [ "${rss[$pid]:-0}" -lt "$r" ] && rss[$pid]=$r
    [ "${pss[$pid]:-0}" -lt "$p" ] && pss[$pid]=$p
    [ "${shr[$pid]:-0}" -lt "$s" ] && shr[$pid]=$s
    [ "${prv[$pid]:-0}" -lt "$v" ] && prv[$pid]=$v
  done
  sleep 0.1
done
wait "$mp"
ru=$(/usr/bin/python3 -c "import h5py,sys; print(' '.join('%.0f' % (x / 1e6) for x in h5py.File(sys.argv[1])['/run/peak_rss_bytes'][:]))" "$tmp/out.h5")
{
  echo "### $job on $ranks rank(s) $*"
  echo
  echo '```'
  echo "$plan"
  echo '```'
  echo
  echo "run summary peak RSS per rank (MB, getrusage): $ru"
  echo
  echo "| rank pid | max Rss MB | max Pss MB | max Shared MB | max Private MB |"
  echo "|---|---|---|---|---|"
  for pid in "${!rss[@]}"; do
    echo "| $pid | $((rss[$pid] / 1000)) | $((pss[$pid] / 1000)) | $((shr[$pid] / 1000)) | $((prv[$pid] / 1000)) |"
  done
  echo
} | tee -a bench/results/memory.md
