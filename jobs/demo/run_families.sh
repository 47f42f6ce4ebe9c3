#!/usr/bin/env bash
# Every demo job (contrast, paired, logistic, length, sampling, examples) on the three demo models: the
# GPT-2-shaped build/demo/model, the Llama-shaped build/demo/model-llama and the Pythia-shaped
# build/demo/model-neox (written by .ci/setup; docs/demo_model.md), through --model= and
# --output= overrides. Each run prints where its planted neuron ranks ("planted ... rank 1 of").
# examples runs at mlp.hook_pre, the planted site on every family (Llama's hook_post is the gate's
# activation times the unplanted up projection, which blurs the planted concepts there).
# usage: jobs/demo/run_families.sh NEUROLENS_BINARY [STUDY ...]
set -euo pipefail
bin=$1
shift
studies=("$@")
[[ ${#studies[@]} -gt 0 ]] || studies=(contrast paired logistic length sampling examples)
ranks=${NEUROLENS_DEMO_RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
for model in model model-llama model-neox; do
  if [[ ! -f build/demo/$model/planted.json ]]; then
    echo "run_families: build/demo/$model is missing; run bash .ci/setup build first" >&2
    exit 1
  fi
  for study in "${studies[@]}"; do
    echo "== $study on build/demo/$model"
    log=build/demo/$study-$model.log
    extra=()
    [[ $study != examples ]] || extra=(--hooks=mlp.hook_pre)
    if ! mpirun --oversubscribe -n "$ranks" "$bin" run "jobs/demo/$study.ini" \
      "--model=build/demo/$model" "--output=build/demo/$study-$model.h5" --overwrite \
      "${extra[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      exit 1
    fi
    grep "planted" "$log" || true
  done
done
