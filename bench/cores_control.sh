#!/usr/bin/env bash
# cores_control.sh — how many cores does this (shared) machine actually give us right now?
# Runs the same 1-rank job alone, then two independent copies at once (no MPI coupling between
# them). If two copies take twice as long as one, the second core is busy with other work and no
# MPI run can scale past 1 here; if they take as long as one, 2 cores are free and any
# shortfall of a 2-rank run is neurolens' own.
# usage: bench/cores_control.sh [BUILD_DIR] [MODEL]   (appends to bench/results/scaling.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-perf}
model=${2:-${TMPDIR:-/tmp}/neurolens_forward_bench_gpt2-small_L12}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
tmp=${TMPDIR:-/tmp}/neurolens_cores_control
mkdir -p "$tmp"
job() { /usr/bin/python3 bench/timed.py "$tmp/$1.log" "$build/runner/neurolens" run jobs/demo/contrast.ini \
  --model="$model" --batch_size=4 --max_tokens=700 --output="$tmp/$1.h5" --overwrite; }
l0=$(cut -d' ' -f1-3 /proc/loadavg)
read -r w1 c1 < <(job alone)
job a > "$tmp/a.t" & job b > "$tmp/b.t"; wait
read -r wa ca < "$tmp/a.t"; read -r wb cb < "$tmp/b.t"
{
  echo
  echo "### Control: are 2 cores available? (bench/cores_control.sh)"
  echo
  echo "Same 1-rank contrast job (max_tokens = 700), no MPI between copies; load average before: $l0."
  echo
  echo "| run | wall s | CPU s |"
  echo "|---|---|---|"
  echo "| one copy alone | $w1 | $c1 |"
  echo "| two copies at once: a | $wa | $ca |"
  echo "| two copies at once: b | $wb | $cb |"
  echo
  echo "Cores effectively available = 2 x (wall alone) / (mean wall of the pair): $(echo "scale=2; 2 * $w1 / (($wa + $wb) / 2)" | bc -l)"
} | tee -a bench/results/scaling.md
