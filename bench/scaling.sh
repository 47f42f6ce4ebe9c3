#!/usr/bin/env bash
# scaling.sh — strong and weak scaling of `neurolens run` over MPI ranks on this node.
# Study: the demo contrast job (jobs/demo/contrast.ini: negation vs affirmation, Brown corpus,
# windows 90 + target + 10, forward stopped at the target) on a GPT-2-small-shaped synthetic
# checkpoint (12 layers, d 768, F 3072: 36,864 neurons; F32, one file, memory-mapped), so the
# forward dominates as it does on real models.
#   strong: fixed corpus budget (max_tokens = STRONG_TOKENS) on 1, 2, ... ranks
#   weak:   max_tokens = WEAK_TOKENS_PER_RANK x ranks (the plan stops at document boundaries:
#           Brown documents are ~2,300 tokens, so use multiples of that; the table shows windows)
# Ranks beyond the cores (nproc) are oversubscribed and labelled so. REPEATS runs each.
# The time split comes from the results file's root attributes (time_load, time_plan,
# time_forward, time_reduce, time_write, wall_time; rank 0's view). Peak: the GEMM-bound
# tokens/s of one core for this model at the job's window length (bench/forward_bench, same
# calls, measured here first). Writes bench/results/scaling.md, scaling.csv, scaling.svg.
# mpirun --bind-to none: Open MPI 4 binds rank 0 of every job to core 0, and on a shared machine
# concurrent jobs then all compete for core 0 (measured: 1 -> 2 ranks gave no speedup bound).
# MPI_EXTRA (default "--mca mpi_yield_when_idle 1"): a rank waiting in a collective yields the
# core instead of spinning; on a shared machine a spinning rank steals CPU from its partner.
# usage: bench/scaling.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-perf}
bin=$build/runner/neurolens
py=/usr/bin/python3
ranks_list=${RANKS_LIST:-1 2 3 4}
repeats=${REPEATS:-3}
strong_tokens=${STRONG_TOKENS:-40000}
weak_tokens=${WEAK_TOKENS_PER_RANK:-20000}
batch=${BATCH:-4}
model=${MODEL:-${TMPDIR:-/tmp}/neurolens_forward_bench_gpt2-small_L12}
tmp=${TMPDIR:-/tmp}/neurolens_scaling
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$tmp" bench/results
# The GEMM-bound limit (gemm_f32) per core at the stopped window length (91 tokens), batch x 91 rows;
# this also writes the checkpoint when absent.
"$build/bench/forward_bench" --shape gpt2-small --tokens "${batch}x91" --repeats 3 --no-torch --dir "$model" \
  > "$tmp/peak.log"
peak=$(sed -n 's/^GEMM-bound limit (gemm_f32): \([0-9]*\) tokens\/s.*/\1/p' "$tmp/peak.log")
echo "GEMM-bound peak per core: $peak tokens/s ($(grep -o '[0-9.]* GFLOP/s) -> ' "$tmp/peak.log" | head -1))"
cores=$(nproc)
csv=$tmp/scaling.csv
echo "mode,ranks,repeat,tokens,windows,wall,load,plan,forward,reduce,write,process,rss_max,cpu" > "$csv"
for mode in strong weak; do
  for r in $ranks_list; do
    if [ "$mode" = strong ]; then mt=$strong_tokens; else mt=$((weak_tokens * r)); fi
    for i in $(seq "$repeats"); do
      # shellcheck disable=SC2086
      read -r wall cpu < <($py bench/timed.py "$tmp/$mode.$r.$i.log" mpirun --oversubscribe --bind-to none \
        ${MPI_EXTRA---mca mpi_yield_when_idle 1} -n "$r" "$bin" run jobs/demo/contrast.ini --model="$model" \
        --batch_size="$batch" --max_tokens="$mt" --output="$tmp/out.h5" --overwrite)
      $py - "$tmp/out.h5" "$mode" "$r" "$i" "$wall" "$cpu" >> "$csv" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1]); a = f["/"].attrs
print(",".join([sys.argv[2], sys.argv[3], sys.argv[4], str(int(a["tokens_processed"])), str(int(a["n_windows"]))] +
               ["%.4f" % float(a[k]) for k in ("wall_time", "time_load", "time_plan", "time_forward", "time_reduce", "time_write")] +
               [sys.argv[5], "%.0f" % max(f["/run/peak_rss_bytes"][:]), sys.argv[6]]))
PY
      tail -1 "$csv"
    done
  done
done
cp "$csv" bench/results/scaling.csv
$py bench/scaling_plot.py "$csv" "$peak" "$cores" "$(cut -d' ' -f1-3 /proc/loadavg)" bench/results/scaling.md bench/results/scaling.svg
